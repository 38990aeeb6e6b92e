// Multi-head attention with diffusers' `Attention` parameter names (to_q, to_k, to_v,
// to_out.0, optional group_norm), for self-attention over image positions or tokens and for
// cross-attention to a context (text embeddings). The computation follows diffusers'
// `AttnProcessor2_0`:
//   [B, C, H, W] → [B, HW, C] (4-D inputs), optional group norm over channels,
//   Q = to_q(x), K = to_k(c), V = to_v(c) with c = context or x, split into heads,
//   O = softmax(Q·Kᵀ/√d)·V per head (Vaswani et al. 2017, eq. 1), heads merged, to_out.0,
//   back to [B, C, H, W], + residual (when enabled), ÷ rescaleOutputFactor.

import Tensor

/// Multi-head (self or cross) attention with diffusers' state-dict names.
public final class Attention: Module {
    /// The number of heads.
    public let heads: Int
    /// The size of each head.
    public let headDimension: Int
    /// Group normalization of the input channels (the UNet's attention blocks), if any.
    public let groupNorm: GroupNorm?
    /// Query projection, query dimension → heads·headDimension.
    public let toQ: Linear
    /// Key projection, context dimension → heads·headDimension.
    public let toK: Linear
    /// Value projection, context dimension → heads·headDimension.
    public let toV: Linear
    /// Output projection and dropout (`to_out.0`, `to_out.1`).
    public let toOut: Sequential
    /// Whether the input is added to the output.
    public let residualConnection: Bool
    /// The output is divided by this factor.
    public let rescaleOutputFactor: Float

    /// Creates the block. `bias` applies to to_q/to_k/to_v (diffusers' default is false);
    /// to_out.0 always has a bias. `contextDimension` nil means self-attention.
    public init(queryDimension: Int, contextDimension: Int? = nil, heads: Int, headDimension: Int,
                bias: Bool = false, groupNormGroups: Int? = nil, epsilon: Float = 1e-5,
                residualConnection: Bool = false, rescaleOutputFactor: Float = 1, dropout: Float = 0,
                generator: inout some RandomTensorGenerator) {
        let inner = heads * headDimension
        self.heads = heads
        self.headDimension = headDimension
        self.residualConnection = residualConnection
        self.rescaleOutputFactor = rescaleOutputFactor
        // Construction order = diffusers' order of module creation (group_norm has no random init).
        groupNorm = groupNormGroups.map { GroupNorm(groups: $0, channels: queryDimension, epsilon: epsilon) }
        toQ = Linear(inputFeatures: queryDimension, outputFeatures: inner, bias: bias, generator: &generator)
        toK = Linear(inputFeatures: contextDimension ?? queryDimension, outputFeatures: inner, bias: bias, generator: &generator)
        toV = Linear(inputFeatures: contextDimension ?? queryDimension, outputFeatures: inner, bias: bias, generator: &generator)
        toOut = Sequential([Linear(inputFeatures: inner, outputFeatures: queryDimension, generator: &generator),
                            Dropout(probability: dropout)])
    }

    /// group_norm (if any), to_q, to_k, to_v, to_out — diffusers' names.
    public var children: [(name: String, module: any Module)] {
        (groupNorm.map { [("group_norm", $0 as any Module)] } ?? [])
            + [("to_q", toQ), ("to_k", toK), ("to_v", toV), ("to_out", toOut)]
    }

    /// Attention of `x` ([B, C, H, W] or [B, T, C]) over itself or over `context` [B, S, Dc].
    public func callAsFunction(_ x: Variable, context: Variable? = nil) -> Variable {
        let residual = x
        let inputShape = x.shape
        var h = x
        if x.rank == 4 {
            h = x.reshaped([inputShape[0], inputShape[1], -1]).transposed(1, 2)   // [B, HW, C]
        }
        precondition(h.rank == 3, "Attention: expects [B, C, H, W] or [B, T, C], got \(inputShape)")
        let batch = h.shape[0]
        if let groupNorm { h = groupNorm(h.transposed(1, 2)).transposed(1, 2) }
        let source = context ?? h
        func splitHeads(_ t: Variable) -> Variable {                 // [B, T, h·d] → [B, h, T, d]
            t.reshaped([batch, -1, heads, headDimension]).transposed(1, 2)
        }
        let q = splitHeads(toQ(h)), k = splitHeads(toK(source)), v = splitHeads(toV(source))
        var o = Variable.scaledDotProductAttention(query: q, key: k, value: v)
        o = o.transposed(1, 2).reshaped([batch, -1, heads * headDimension])
        o = toOut(o)
        if x.rank == 4 { o = o.transposed(-1, -2).reshaped(inputShape) }
        if residualConnection { o = o + residual }
        return rescaleOutputFactor == 1 ? o : o / rescaleOutputFactor
    }
}
