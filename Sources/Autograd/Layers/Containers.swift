// Containers and parameter-free layers: Sequential, Dropout, activations, Flatten.

import Tensor

/// Layers applied in order; children are named "0", "1", ... as in `torch.nn.Sequential`.
public final class Sequential: Layer {
    /// The layers, in order.
    public let layers: [any Layer]

    /// Chains `layers`.
    public init(_ layers: [any Layer]) { self.layers = layers }

    /// The layers under their indices.
    public var children: [(name: String, module: any Module)] {
        layers.enumerated().map { (String($0.offset), $0.element as any Module) }
    }

    /// Applies each layer to the previous one's output.
    public func callAsFunction(_ x: Variable) -> Variable {
        layers.reduce(x) { $1($0) }
    }
}

/// Dropout (Srivastava et al. 2014): in training, zeroes each element with probability p and
/// scales the rest by 1/(1 − p); the identity in evaluation mode.
public final class Dropout: Layer {
    /// The drop probability.
    public let probability: Float
    /// Whether the layer is in training mode (set through `train(_:)`).
    public private(set) var isTraining = true
    /// The mask generator (its state is part of a checkpoint's RNG state).
    public var generator: SplitMix64

    /// Creates the layer with a seeded mask generator.
    public init(probability: Float = 0.5, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "Dropout: probability must be in [0, 1)")
        self.probability = probability
        generator = SplitMix64(seed: seed)
    }

    /// Records the mode.
    public func setTrainingMode(_ training: Bool) { isTraining = training }

    /// x·mask/(1 − p) in training, x otherwise.
    public func callAsFunction(_ x: Variable) -> Variable {
        guard isTraining && probability > 0 else { return x }
        let keep = 1 - probability
        let mask = generator.uniform(x.shape).map { $0 < keep ? 1 / keep : 0 }
        return x * Variable(mask)
    }
}

/// SiLU as a layer (`torch.nn.SiLU`).
public final class SiLU: Layer {
    /// Creates the layer.
    public init() {}
    /// x·σ(x).
    public func callAsFunction(_ x: Variable) -> Variable { x.silu() }
}

/// ReLU as a layer (`torch.nn.ReLU`).
public final class ReLU: Layer {
    /// Creates the layer.
    public init() {}
    /// max(x, 0).
    public func callAsFunction(_ x: Variable) -> Variable { x.relu() }
}

/// Flattens all axes after the first (`torch.nn.Flatten`).
public final class Flatten: Layer {
    /// Creates the layer.
    public init() {}
    /// [N, ...] → [N, prod(...)].
    public func callAsFunction(_ x: Variable) -> Variable { x.flattened(startAxis: 1) }
}
