// Embedding: a learned lookup table, as `torch.nn.Embedding`.

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
        Variable.embedding(weight, indices: indices, indexShape: shape)
    }
}
