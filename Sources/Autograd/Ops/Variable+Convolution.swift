// 2-D convolution on variables. Forward: `conv2d`; backward: the input gradient is the
// transposed convolution of the output gradient (`conv2dBackwardInput`), the weight gradient is
// the correlation of the input with the output gradient (`conv2dBackwardWeight`), both through
// the GEMM; the bias gradient is the output gradient summed over batch and space.

import Tensor

extension Variable {
    /// Cross-correlation of `input` [N, C, H, W] with `weight` [O, C/groups, kH, kW] plus `bias`
    /// [O] (as `torch.nn.functional.conv2d`).
    public static func conv2d(_ input: Variable, weight: Variable, bias: Variable? = nil,
                              stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Variable {
        let x = input.value, w = weight.value
        let y = tensorConv2d(x, w, bias?.value, stride, padding, dilation, groups)
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        return Variable(result: y, parents: parents) { gradient in
            let g = gradient.contiguous()  // once, for all three consumers
            if input.requiresGrad {
                input.accumulateGradient(conv2dBackwardInput(g, weight: w, inputShape: x.shape, stride: stride,
                                                             padding: padding, dilation: dilation, groups: groups))
            }
            if weight.requiresGrad {
                weight.accumulateGradient(conv2dBackwardWeight(g, input: x, weightShape: w.shape, stride: stride,
                                                               padding: padding, dilation: dilation, groups: groups))
            }
            if let bias, bias.requiresGrad {
                bias.accumulateGradient(channelSums(g))
            }
        }
    }
}

/// Σ over batch and space of g [N, C, H, W], per channel: the bias gradient, in one pass over
/// the contiguous gradient (each image's plane summed in 16 Float lanes, the planes added in
/// Double accumulators per channel).
private func channelSums(_ g: Tensor) -> Tensor {
    let n = g.shape[0], c = g.shape[1], plane = g.shape[2] * g.shape[3]
    var sums = [Double](repeating: 0, count: c)
    g.withUnsafeBufferPointer { gs in
        guard let start = gs.baseAddress else { return }
        for image in 0..<n {
            for channel in 0..<c {
                let base = start + (image * c + channel) * plane
                var lanes = SIMD16<Float>()
                var i = 0
                while i + 16 <= plane {
                    lanes += UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self)
                    i += 16
                }
                var partial = lanes.laneSum()
                while i < plane { partial += base[i]; i += 1 }
                sums[channel] += Double(partial)
            }
        }
    }
    return Tensor(shape: [c], scalars: sums.map { Float($0) })
}

/// The Tensor module's `conv2d` (a free function here, where `Variable.conv2d` does not shadow it).
private func tensorConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ stride: Int, _ padding: Int,
                          _ dilation: Int, _ groups: Int) -> Tensor {
    conv2d(x, weight: w, bias: b, stride: stride, padding: padding, dilation: dilation, groups: groups)
}
