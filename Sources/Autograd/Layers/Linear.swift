// Linear (fully connected) layer: y = x·Wᵀ + b over the last axis, as `torch.nn.Linear`.
// A weight held in 16 bits (`weight.halfPrecisionValue`, loaded for inference) is multiplied as
// stored, widened block by block inside the GEMM's packing (`Tensor.matmul(transposed:)`), with
// results equal bit for bit to the Float32 weight's, whenever no gradient is recorded for it
// (inside `withoutGradients`, or when it does not require a gradient). Training it records the
// Float32 product on a transient widened copy, as any other reader of `value` gets.

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
    /// gradient is one matrix product, not a batch of them). A 16-bit weight is read as stored
    /// unless its gradient is being recorded (see the file comment).
    public func callAsFunction(_ x: Variable) -> Variable {
        let inputFeatures = weight.shape[1], outputFeatures = weight.shape[0]
        precondition(x.shape.last == inputFeatures, "Linear: input \(x.shape) does not end in \(inputFeatures) features")
        let leading = Array(x.shape.dropLast())
        let rows = x.reshaped([-1, inputFeatures])
        var y: Variable
        if let half = weight.halfPrecisionValue, !(GradientRecording.isEnabled && weight.requiresGrad) {
            y = rows.matmul(transposed: half)
        } else {
            y = rows.matmul(weight.transposed())
        }
        if let bias { y = y + bias }
        return y.reshaped(leading + [outputFeatures])
    }
}
