// Spatial resampling of NCHW images: nearest-neighbour upsampling by 2 and average pooling.
//
// Contract: inputs are rank-4 `[N, C, H, W]` (any layout); results are new contiguous tensors.
// `upsampledNearest2x` repeats every pixel into a 2×2 block (`F.interpolate(scale_factor=2,
// mode="nearest")`, the Stable Diffusion UNet/VAE upsampler). `averagePooled2d` averages
// k×k windows with no padding (`F.avg_pool2d(kernel, stride)`, floor mode). Large tensors split
// rows (or planes) across threads.

extension Tensor {
    /// `[N, C, H, W]` → `[N, C, 2H, 2W]`, each pixel repeated into a 2×2 block.
    public func upsampledNearest2x() -> Tensor {
        precondition(rank == 4, "upsampledNearest2x: expected [N, C, H, W], got \(shape)")
        let (h, w) = (shape[2], shape[3])
        let outShape = [shape[0], shape[1], 2 * h, 2 * w]
        let rows = shape[0] * shape[1] * h
        let out = TensorStorage(uninitializedCount: Tensor.elementCount(outShape))
        let source = contiguous()
        withExtendedLifetime(source) {
            // Input row r writes output rows 2r and 2r + 1 only.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            let body: @Sendable (Range<Int>) -> Void = { range in
                for r in range {
                    let s = src + r * w, d = dst + 2 * r * 2 * w
                    // Each output pair (v, v) is written as one 64-bit word, which vectorizes.
                    UnsafeMutableRawPointer(d).withMemoryRebound(to: UInt64.self, capacity: w) { pairs in
                        UnsafeRawPointer(s).withMemoryRebound(to: UInt32.self, capacity: w) { bits in
                            for x in 0..<w { pairs[x] = UInt64(bits[x]) &* 0x1_0000_0001 }
                        }
                    }
                    (d + 2 * w).update(from: d, count: 2 * w)
                }
            }
            if 4 * count < parallelElementThreshold { body(0..<rows) } else {
                parallelFor(chunking: rows, minimumChunk: Swift.max(1, parallelElementThreshold / 8 / Swift.max(w, 1)), body)
            }
        }
        return Tensor(storage: out, shape: outShape, strides: Tensor.contiguousStrides(outShape))
    }

    /// The mean of every `kernel`×`kernel` window taken every `stride` pixels (default: `kernel`)
    /// of an `[N, C, H, W]` tensor: `[N, C, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1]`.
    public func averagePooled2d(kernel: Int, stride: Int? = nil) -> Tensor {
        precondition(rank == 4, "averagePooled2d: expected [N, C, H, W], got \(shape)")
        let s = stride ?? kernel
        precondition(kernel > 0 && s > 0, "averagePooled2d: kernel \(kernel) and stride \(s) must be positive")
        let (h, w) = (shape[2], shape[3])
        precondition(kernel <= h && kernel <= w, "averagePooled2d: kernel \(kernel) larger than the \(h)×\(w) image")
        let (oh, ow) = ((h - kernel) / s + 1, (w - kernel) / s + 1)
        let outShape = [shape[0], shape[1], oh, ow]
        let planes = shape[0] * shape[1]
        let out = TensorStorage(uninitializedCount: Tensor.elementCount(outShape))
        let source = contiguous()
        let scale = 1 / Float(kernel * kernel)
        withExtendedLifetime(source) {
            // Each plane writes only its own output plane.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            let body: @Sendable (Range<Int>) -> Void = { range in
                for p in range {
                    let plane = src + p * h * w, target = dst + p * oh * ow
                    for y in 0..<oh {
                        for x in 0..<ow {
                            var sum: Float = 0
                            for i in 0..<kernel {
                                let row = plane + (y * s + i) * w + x * s
                                for j in 0..<kernel { sum += row[j] }
                            }
                            target[y * ow + x] = sum * scale
                        }
                    }
                }
            }
            if count < parallelElementThreshold { body(0..<planes) } else {
                parallelFor(chunking: planes, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / Swift.max(h * w, 1)), body)
            }
        }
        return Tensor(storage: out, shape: outShape, strides: Tensor.contiguousStrides(outShape))
    }
}
