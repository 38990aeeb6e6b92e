// 2-D convolution layer, as `torch.nn.Conv2d` (NCHW, square kernel, zero padding).
// A weight held in 16 bits (`weight.halfPrecisionValue`) is widened into a transient Float32
// tensor at each call (reading `weight.value`), used by the same kernels and released when the
// call returns (inference) or with the graph: one layer's weight at a time, so results equal the
// Float32 weight's bit for bit. With no gradient recorded (`withoutGradients`), the Winograd
// paths skip that copy and widen inside their weight transform (`conv2d(_:halfPrecisionWeight:)`). The convolution kernels (direct, phase-split, Winograd, whole
// image) each lay out or transform the weight their own way, so widening once up front is the
// one change that serves them all. Its cost is a small fraction of the convolution it feeds
// (`bench --filter widen-f16`; figures in docs/benchmarks.md, "Design measurements").

import Tensor

/// A 2-D convolution with weight [out, in/groups, k, k] and bias [out].
public final class Conv2d: Layer {
    /// The kernel, [outputChannels, inputChannels/groups, k, k].
    public let weight: Variable
    /// The bias, [outputChannels], when present.
    public let bias: Variable?
    /// Step between kernel applications.
    public let stride: Int
    /// Zero padding added on each side.
    public let padding: Int
    /// Spacing between kernel taps.
    public let dilation: Int
    /// Number of channel groups.
    public let groups: Int

    /// Creates the layer with PyTorch's default initialization drawn from `generator`.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias hasBias: Bool = true, generator: inout some RandomTensorGenerator) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "Conv2d: channels must divide into \(groups) groups")
        let fanIn = inputChannels / groups * kernelSize * kernelSize
        weight = Variable(Initialization.kaimingUniform([outputChannels, inputChannels / groups, kernelSize, kernelSize],
                                                        fanIn: fanIn, generator: &generator), requiresGrad: true)
        bias = hasBias ? Variable(Initialization.biasUniform([outputChannels], fanIn: fanIn, generator: &generator),
                                  requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// `weight` and, when present, `bias`.
    public var ownParameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// x: [N, in, H, W] → [N, out, H', W']. A 16-bit weight is widened for the call.
    public func callAsFunction(_ x: Variable) -> Variable {
        if !GradientRecording.isEnabled, let half = weight.halfPrecisionValue {
            return Variable(conv2d(x.value, halfPrecisionWeight: half, bias: bias?.value, stride: stride, padding: padding,
                                   dilation: dilation, groups: groups))
        }
        return Variable.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}
