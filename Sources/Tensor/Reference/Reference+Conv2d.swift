// The reference 2-D convolution and its two backward passes: the defining sum, one element at a
// time.
//
// Contract: the semantics of `conv2d`, `conv2dBackwardInput` and `conv2dBackwardWeight`
// (Kernels/Conv2d.swift; PyTorch's `F.conv2d`, a cross-correlation, NCHW, zero padding) for
// input x [N, C, H, W] and weight w [O, C/groups, kH, kW], stride s, padding p, dilation d:
//   y[n, o, i, j] = b[o] + Σ_{c, u, v} x[n, g·Cg + c, i·s − p + u·d, j·s − p + v·d] · w[o, c, u, v]
// where g = o / (O/groups) is o's group, Cg = C/groups, and input positions outside the image
// count as 0. The backward passes are the same sum read the other way round, for a loss L with
// gradient dy = ∂L/∂y:
//   ∂L/∂x[n, g·Cg + c, ·, ·] += dy[n, o, i, j] · w[o, c, u, v]    (each term of y scattered back)
//   ∂L/∂w[o, c, u, v]        = Σ_{n, i, j} dy[n, o, i, j] · x[n, g·Cg + c, i·s − p + u·d, j·s − p + v·d]
// All sums run in Double. The fast kernels compute the same three sums as matrix products
// (implicit im2col GEMM, stacked padded images, phases, Winograd F(2x2, 3x3)); the header of
// Kernels/Conv2d.swift lists the paths and which shapes take them.
//
// The three functions repeat the same loop nest on purpose: each reads as its own formula above,
// the forward pass gathering into y, the input gradient scattering into ∂L/∂x, the weight
// gradient summing over images and positions.

extension Reference {
    /// 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, kH, kW] and an
    /// optional `bias` [O], by the defining sum (same semantics as `conv2d`).
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
                              padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weight.shape, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups)
        if let bias { precondition(bias.shape == [g.outChannels], "conv2d: bias must be [\(g.outChannels)], got \(bias.shape)") }
        let x = input.contiguous().scalars, w = weight.contiguous().scalars
        let b = bias?.contiguous().scalars
        var y = [Float](repeating: 0, count: Tensor.elementCount(g.outputShape))
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let group = o / g.groupOutChannels
                for i in 0..<g.outHeight {
                    for j in 0..<g.outWidth {
                        var sum = Double(b?[o] ?? 0)
                        for c in 0..<g.groupChannels {
                            for u in 0..<g.kernelHeight {
                                let row = i * stride - padding + u * dilation
                                if row < 0 || row >= g.height { continue }
                                for v in 0..<g.kernelWidth {
                                    let column = j * stride - padding + v * dilation
                                    if column < 0 || column >= g.width { continue }
                                    let xValue = x[g.inputIndex(n, group * g.groupChannels + c, row, column)]
                                    sum += Double(xValue) * Double(w[g.weightIndex(o, c, u, v)])
                                }
                            }
                        }
                        y[g.outputIndex(n, o, i, j)] = Float(sum)
                    }
                }
            }
        }
        return Tensor(shape: g.outputShape, scalars: y)
    }

    /// ∂L/∂input of `conv2d` (same semantics as `conv2dBackwardInput`): every term of every
    /// output sum sends `dy · w` back to the input element it read.
    ///
    /// - Parameters:
    ///   - gradOutput: ∂L/∂out, [N, O, Ho, Wo].
    ///   - weight: the convolution's weight [O, C/groups, kH, kW].
    ///   - inputShape: the forward input's shape [N, C, H, W].
    public static func conv2dBackwardInput(_ gradOutput: Tensor, weight: Tensor, inputShape: [Int], stride: Int = 1,
                                           padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        let g = ConvolutionGeometry(inputShape: inputShape, weightShape: weight.shape, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups)
        precondition(gradOutput.shape == g.outputShape,
                     "conv2dBackwardInput: gradOutput \(gradOutput.shape) should be \(g.outputShape)")
        let dy = gradOutput.contiguous().scalars, w = weight.contiguous().scalars
        var dx = [Double](repeating: 0, count: Tensor.elementCount(inputShape))
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let group = o / g.groupOutChannels
                for i in 0..<g.outHeight {
                    for j in 0..<g.outWidth {
                        let dyValue = Double(dy[g.outputIndex(n, o, i, j)])
                        for c in 0..<g.groupChannels {
                            for u in 0..<g.kernelHeight {
                                let row = i * stride - padding + u * dilation
                                if row < 0 || row >= g.height { continue }
                                for v in 0..<g.kernelWidth {
                                    let column = j * stride - padding + v * dilation
                                    if column < 0 || column >= g.width { continue }
                                    dx[g.inputIndex(n, group * g.groupChannels + c, row, column)] +=
                                        dyValue * Double(w[g.weightIndex(o, c, u, v)])
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: inputShape, scalars: dx.map { Float($0) })
    }

    /// ∂L/∂weight of `conv2d` (same semantics as `conv2dBackwardWeight`): for each weight, the
    /// sum over every output it contributed to of `dy` times the input it multiplied.
    ///
    /// - Parameters:
    ///   - gradOutput: ∂L/∂out, [N, O, Ho, Wo].
    ///   - input: the forward input [N, C, H, W].
    ///   - weightShape: the weight's shape [O, C/groups, kH, kW].
    public static func conv2dBackwardWeight(_ gradOutput: Tensor, input: Tensor, weightShape: [Int], stride: Int = 1,
                                            padding: Int = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
        let g = ConvolutionGeometry(inputShape: input.shape, weightShape: weightShape, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups)
        precondition(gradOutput.shape == g.outputShape,
                     "conv2dBackwardWeight: gradOutput \(gradOutput.shape) should be \(g.outputShape)")
        let dy = gradOutput.contiguous().scalars, x = input.contiguous().scalars
        var dw = [Float](repeating: 0, count: Tensor.elementCount(weightShape))
        for o in 0..<g.outChannels {
            let group = o / g.groupOutChannels
            for c in 0..<g.groupChannels {
                for u in 0..<g.kernelHeight {
                    for v in 0..<g.kernelWidth {
                        var sum = 0.0
                        for n in 0..<g.batch {
                            for i in 0..<g.outHeight {
                                let row = i * stride - padding + u * dilation
                                if row < 0 || row >= g.height { continue }
                                for j in 0..<g.outWidth {
                                    let column = j * stride - padding + v * dilation
                                    if column < 0 || column >= g.width { continue }
                                    let xValue = x[g.inputIndex(n, group * g.groupChannels + c, row, column)]
                                    sum += Double(dy[g.outputIndex(n, o, i, j)]) * Double(xValue)
                                }
                            }
                        }
                        dw[g.weightIndex(o, c, u, v)] = Float(sum)
                    }
                }
            }
        }
        return Tensor(shape: weightShape, scalars: dw)
    }
}

extension ConvolutionGeometry {
    /// The flat index of x[n, c, row, column] in a contiguous input [N, C, H, W].
    @inline(__always)
    func inputIndex(_ n: Int, _ c: Int, _ row: Int, _ column: Int) -> Int {
        ((n * channels + c) * height + row) * width + column
    }

    /// The flat index of y[n, o, i, j] in a contiguous output [N, O, Ho, Wo].
    @inline(__always)
    func outputIndex(_ n: Int, _ o: Int, _ i: Int, _ j: Int) -> Int {
        ((n * outChannels + o) * outHeight + i) * outWidth + j
    }

    /// The flat index of w[o, c, u, v] in a contiguous weight [O, C/groups, kH, kW].
    @inline(__always)
    func weightIndex(_ o: Int, _ c: Int, _ u: Int, _ v: Int) -> Int {
        ((o * groupChannels + c) * kernelHeight + u) * kernelWidth + v
    }
}
