// Embedding: a learned lookup table, as `torch.nn.Embedding`. A table held in 16 bits
// (`weight.halfPrecisionValue`) widens only the rows it looks up when no gradient is recorded for
// it (CLIP's 49408 x 768 token table is not widened whole for a 77-token prompt).

import Tensor

/// A lookup table of vectors, as `torch.nn.Embedding` (weight initialized from N(0, 1)).
public final class Embedding: Module {
    /// The table, [count, dimension].
    public let weight: Variable

    /// Creates a table of `count` vectors of size `dimension` drawn from N(0, 1).
    public init(count: Int, dimension: Int, generator: inout some RandomTensorGenerator) {
        weight = Variable(generator.randn([count, dimension]), requiresGrad: true)
    }

    /// `weight`.
    public var ownParameters: [(name: String, variable: Variable)] { [("weight", weight)] }

    /// The rows for `indices`, shaped `shape + [dimension]` (`shape` defaults to [indices.count]).
    public func callAsFunction(_ indices: [Int], shape: [Int]? = nil) -> Variable {
        if let half = weight.halfPrecisionValue, !(GradientRecording.isEnabled && weight.requiresGrad) {
            precondition(half.rank == 2, "embedding: weight must be [V, D], got \(half.shape)")
            return Variable(half.widenedRows(at: indices).reshaped((shape ?? [indices.count]) + [half.shape[1]]))
        }
        return Variable.embedding(weight, indices: indices, indexShape: shape)
    }
}
