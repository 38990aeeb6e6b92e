// The reference scaled dot-product attention: the whole score matrix, a softmax per row, the
// weighted sum of values.
//
// Contract: the semantics of `scaledDotProductAttention` (Kernels/Attention.swift; Vaswani et
// al., "Attention Is All You Need", 2017, eq. 1):
//   out[i, :] = Σ_j softmax_j(scale · q_i · k_j) · v_j,   scale = 1/sqrt(D) unless given,
// for query [..., Tq, D], key [..., Tk, D], value [..., Tk, Dv] with broadcast leading axes;
// `causal` keeps only keys j <= i. The softmax subtracts the row's largest logit before `exp`
// (which changes nothing mathematically and keeps exp from overflowing); everything runs in
// Double. The fast kernel never stores the Tq x Tk score matrix: it walks it in tiles with an
// online softmax (Milakov & Gimelshein 2018; Dao et al., FlashAttention, 2022).

import Foundation

extension Reference {
    /// Attention `softmax(scale · Q Kᵀ) V` over the last two axes, with the full score matrix of
    /// each batch entry (same semantics as `scaledDotProductAttention`).
    ///
    /// - Parameters:
    ///   - query: [..., Tq, D]. - key: [..., Tk, D]. - value: [..., Tk, Dv]. Leading axes broadcast.
    ///   - scale: the logit scale; nil means 1/sqrt(D).
    ///   - causal: when true, query i attends only to keys j <= i.
    /// - Returns: [broadcast(...), Tq, Dv].
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, scale: Float? = nil,
                                                 causal: Bool = false) -> Tensor {
        let plan = AttentionPlan(query: query, key: key, value: value)
        let (tq, tk, d, dv) = (plan.queryCount, plan.keyCount, plan.depth, plan.valueDepth)
        let s = Double(scale ?? 1 / Float(d).squareRoot())
        let qp = query.storage.pointer, kp = key.storage.pointer, vp = value.storage.pointer
        var out = [Float](repeating: 0, count: plan.batchOffsets.count * tq * dv)
        for (batch, offsets) in plan.batchOffsets.enumerated() {
            for i in 0..<tq {
                // The logits of query i against every key it may see.
                var logits = [Double](repeating: -.infinity, count: tk)
                for j in 0..<tk where !causal || j <= i {
                    var dot = 0.0
                    for c in 0..<d {
                        dot += Double(qp[offsets.query + i * plan.queryStrides.row + c * plan.queryStrides.column])
                            * Double(kp[offsets.key + j * plan.keyStrides.row + c * plan.keyStrides.column])
                    }
                    logits[j] = s * dot
                }
                // Softmax over the keys, then the weighted sum of the value rows.
                let maximum = logits.max() ?? 0
                let weights = logits.map { Foundation.exp($0 - maximum) }
                let total = weights.reduce(0, +)
                for c in 0..<dv {
                    var sum = 0.0
                    for j in 0..<tk {
                        sum += weights[j] * Double(vp[offsets.value + j * plan.valueStrides.row + c * plan.valueStrides.column])
                    }
                    out[(batch * tq + i) * dv + c] = Float(sum / total)
                }
            }
        }
        return withExtendedLifetime((query, key, value)) { Tensor(shape: plan.resultShape, scalars: out) }
    }
}
