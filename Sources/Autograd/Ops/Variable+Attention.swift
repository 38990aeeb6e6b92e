// Scaled dot-product attention on variables (Vaswani et al. 2017, eq. 1):
// O = softmax(Q·Kᵀ·s + M)·V with s = 1/√D by default and M = −∞ above the diagonal when causal.
//
// Backward (the recomputation used by FlashAttention, Dao et al. 2022, Alg. 2 in matrix form):
//   P = softmax(Q·Kᵀ·s + M), dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P·(dP − rowsum(dP·P)),
//   dQ = s·dS·K, dK = s·dSᵀ·Q.
// Memory: the forward keeps only Q, K, V; the backward recomputes P, so the [..., Tq, Tk] score
// matrix exists only for the duration of one backward rule (fine for the small sequence lengths
// training uses here: 8×8 = 64 tokens at the lowest UNet level).

import Foundation
import Tensor

/// The Tensor module's `scaledDotProductAttention` (free function, not shadowed by `Variable`'s).
private func tensorAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float?, causal: Bool) -> Tensor {
    scaledDotProductAttention(query: q, key: k, value: v, scale: scale, causal: causal)
}

extension Variable {
    /// Scaled dot-product attention of `query` [..., Tq, D] over `key` [..., Tk, D] and
    /// `value` [..., Tk, Dv] (as `torch.nn.functional.scaled_dot_product_attention`).
    public static func scaledDotProductAttention(query: Variable, key: Variable, value: Variable,
                                                 scale: Float? = nil, causal: Bool = false) -> Variable {
        let q = query.value, k = key.value, v = value.value
        let s = scale ?? 1 / Float(q.shape[q.rank - 1]).squareRoot()
        let out = tensorAttention(q, k, v, scale: scale, causal: causal)
        return Variable(result: out, parents: [query, key, value]) { dO in
            var scores = q.matmul(k.transposed(-2, -1)) * s                 // [..., Tq, Tk]
            if causal {
                let tq = q.shape[q.rank - 2], tk = k.shape[k.rank - 2]
                let mask = Tensor(shape: [tq, tk]) { m in
                    for i in 0..<tq { for j in (i + 1)..<Swift.max(i + 1, tk) { m[i * tk + j] = -Float.infinity } }
                }
                scores = scores + mask
            }
            let p = scores.softmax(axis: -1)
            if value.requiresGrad { value.accumulateGradient(p.transposed(-2, -1).matmul(dO).summedToShape(v.shape)) }
            guard query.requiresGrad || key.requiresGrad else { return }
            let dP = dO.matmul(v.transposed(-2, -1))
            let dS = p * (dP - (dP * p).sum(axes: [-1], keepingDims: true))
            if query.requiresGrad { query.accumulateGradient((dS.matmul(k) * s).summedToShape(q.shape)) }
            if key.requiresGrad { key.accumulateGradient((dS.transposed(-2, -1).matmul(q) * s).summedToShape(k.shape)) }
        }
    }
}
