// Normalization layers, as `torch.nn.GroupNorm` and `torch.nn.LayerNorm` (affine, weight = 1,
// bias = 0 at initialization).

import Tensor

/// Group normalization (Wu & He 2018) of [N, C, ...] with per-channel affine weight and bias.
public final class GroupNorm: Layer {
    /// The number of groups the channels are split into.
    public let groups: Int
    /// ε added to the variance.
    public let epsilon: Float
    /// The scale γ, [C].
    public let weight: Variable
    /// The shift β, [C].
    public let bias: Variable

    /// Creates the layer (γ = 1, β = 0).
    public init(groups: Int, channels: Int, epsilon: Float = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels do not split into \(groups) groups")
        self.groups = groups
        self.epsilon = epsilon
        weight = Variable(Tensor.ones([channels]), requiresGrad: true)
        bias = Variable(Tensor.zeros([channels]), requiresGrad: true)
    }

    /// `weight` and `bias`.
    public var ownParameters: [(name: String, variable: Variable)] { [("weight", weight), ("bias", bias)] }

    /// Normalizes x: [N, C, ...].
    public func callAsFunction(_ x: Variable) -> Variable {
        x.groupNorm(groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }

    /// SiLU(self(x)), fused into one pass when no gradient is recorded.
    public func thenSiLU(_ x: Variable) -> Variable {
        x.groupNormSiLU(groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Layer normalization (Ba et al. 2016) over the last axis with affine weight and bias.
public final class LayerNorm: Layer {
    /// ε added to the variance.
    public let epsilon: Float
    /// The scale γ, [D].
    public let weight: Variable
    /// The shift β, [D].
    public let bias: Variable

    /// Creates the layer for features of size `dimension` (γ = 1, β = 0).
    public init(dimension: Int, epsilon: Float = 1e-5) {
        self.epsilon = epsilon
        weight = Variable(Tensor.ones([dimension]), requiresGrad: true)
        bias = Variable(Tensor.zeros([dimension]), requiresGrad: true)
    }

    /// `weight` and `bias`.
    public var ownParameters: [(name: String, variable: Variable)] { [("weight", weight), ("bias", bias)] }

    /// Normalizes x: [..., D].
    public func callAsFunction(_ x: Variable) -> Variable {
        x.layerNorm(weight: weight, bias: bias, epsilon: epsilon)
    }
}
