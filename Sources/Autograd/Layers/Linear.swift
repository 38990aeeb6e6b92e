// Linear (fully connected) layer: y = x·Wᵀ + b over the last axis, as `torch.nn.Linear`.

import Tensor

/// y = x·Wᵀ + b with W: [out, in] and b: [out] (state-dict names `weight`, `bias`).
public final class Linear: Layer {
    /// The weight W, [outputFeatures, inputFeatures].
    public let weight: Variable
    /// The bias b, [outputFeatures], when present.
    public let bias: Variable?

    /// Creates the layer with PyTorch's default initialization drawn from `generator`.
    public init(inputFeatures: Int, outputFeatures: Int, bias hasBias: Bool = true,
                generator: inout some RandomTensorGenerator) {
        weight = Variable(Initialization.kaimingUniform([outputFeatures, inputFeatures], fanIn: inputFeatures, generator: &generator),
                          requiresGrad: true)
        bias = hasBias ? Variable(Initialization.biasUniform([outputFeatures], fanIn: inputFeatures, generator: &generator),
                                  requiresGrad: true) : nil
    }

    /// `weight` and, when present, `bias`.
    public var ownParameters: [(name: String, variable: Variable)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// x: [..., in] → [..., out]. Leading axes are flattened into one GEMM (so the weight
    /// gradient is one matrix product, not a batch of them).
    public func callAsFunction(_ x: Variable) -> Variable {
        let inputFeatures = weight.shape[1], outputFeatures = weight.shape[0]
        precondition(x.shape.last == inputFeatures, "Linear: input \(x.shape) does not end in \(inputFeatures) features")
        let leading = Array(x.shape.dropLast())
        var y = x.reshaped([-1, inputFeatures]).matmul(weight.transposed())
        if let bias { y = y + bias }
        return y.reshaped(leading + [outputFeatures])
    }
}
