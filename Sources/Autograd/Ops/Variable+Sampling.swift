// Embedding lookup, nearest upsampling and average pooling on variables.
// Their backward rules send each output gradient back to the input elements it was read from,
// adding where several outputs read the same input (repeated indices, overlapping windows).

import Tensor

extension Variable {
    /// Rows of `weight` [V, D] picked by `indices` (each in 0..<V), shaped `indexShape + [D]`
    /// (as `torch.nn.functional.embedding`). Backward: each gradient row is added to its row.
    public static func embedding(_ weight: Variable, indices: [Int], indexShape: [Int]? = nil) -> Variable {
        let w = weight.value
        precondition(w.rank == 2, "embedding: weight must be [V, D], got \(w.shape)")
        let vocabulary = w.shape[0], d = w.shape[1]
        precondition(indices.allSatisfy { $0 >= 0 && $0 < vocabulary }, "embedding: an index is outside 0..<\(vocabulary)")
        let shape = (indexShape ?? [indices.count]) + [d]
        let rows = w.indexSelect(axis: 0, indices: indices).reshaped(shape)
        return Variable(result: rows, parents: [weight]) { g in
            let gRows = g.reshaped([indices.count, d]).contiguous()
            let dw = Tensor(shape: [vocabulary, d]) { dst in
                gRows.withUnsafeBufferPointer { src in
                    for (row, index) in indices.enumerated() {
                        for j in 0..<d { dst[index * d + j] += src[row * d + j] }
                    }
                }
            }
            weight.accumulateGradient(dw)
        }
    }

    /// Nearest-neighbour upsampling by 2 of [N, C, H, W] to [N, C, 2H, 2W]. Backward: each input
    /// pixel receives the sum of its 2×2 block, i.e. 4 × the 2×2 average pool of the gradient.
    public func upsampledNearest2x() -> Variable {
        precondition(rank == 4, "upsampledNearest2x: expects [N, C, H, W], got \(shape)")
        return Variable(result: value.upsampledNearest2x(), parents: [self]) { g in
            self.accumulateGradient(g.averagePooled2d(kernel: 2) * 4)
        }
    }

    /// Average pooling of [N, C, H, W] over `kernel`×`kernel` windows every `stride` pixels
    /// (default `kernel`), no padding (as `torch.nn.functional.avg_pool2d`). Backward: each
    /// window's gradient, divided by kernel², is added to every pixel of the window.
    public func averagePooled2d(kernel: Int, stride: Int? = nil) -> Variable {
        precondition(rank == 4, "averagePooled2d: expects [N, C, H, W], got \(shape)")
        let s = stride ?? kernel
        let inputShape = shape
        return Variable(result: value.averagePooled2d(kernel: kernel, stride: s), parents: [self]) { g in
            let h = inputShape[2], w = inputShape[3]
            let planes = inputShape[0] * inputShape[1]
            let oh = g.shape[2], ow = g.shape[3]
            let scale = 1 / Float(kernel * kernel)
            let gc = g.contiguous()
            let dx = Tensor(shape: inputShape) { dst in
                gc.withUnsafeBufferPointer { src in
                    for plane in 0..<planes {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let v = src[(plane * oh + oy) * ow + ox] * scale
                                for ky in 0..<kernel {
                                    let row = (plane * h + oy * s + ky) * w + ox * s
                                    for kx in 0..<kernel { dst[row + kx] += v }
                                }
                            }
                        }
                    }
                }
            }
            self.accumulateGradient(dx)
        }
    }
}
