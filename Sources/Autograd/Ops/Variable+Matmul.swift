// Matrix products on variables, with `torch.matmul` semantics (1-D operands promoted, batch
// axes broadcast). For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC, each summed over the batch axes
// that broadcasting stretched. The transposes are views, so the GEMM reads them without copies.
// A constant 16-bit matrix W (a weight kept in Float16/BFloat16) multiplies through the GEMM
// that widens while packing: y = x·Wᵀ, dx = dy·W, no gradient for W.

import Tensor

extension Variable {
    /// The matrix product `self · other` (`torch.matmul`).
    public func matmul(_ other: Variable) -> Variable {
        let a = value, b = other.value
        precondition(a.rank >= 1 && b.rank >= 1, "matmul: operands must have rank ≥ 1, got \(a.shape) and \(b.shape)")
        // Promote 1-D operands to matrices as torch does; the extra axis is removed afterwards.
        let a2 = a.rank == 1 ? a.unsqueezed(axis: 0) : a
        let b2 = b.rank == 1 ? b.unsqueezed(axis: 1) : b
        var product = a2.matmul(b2)
        if a.rank == 1 { product = product.squeezed(axis: -2) }
        if b.rank == 1 { product = product.squeezed(axis: -1) }
        return Variable(result: product, parents: [self, other]) { g in
            // Bring the gradient back to the promoted (matrix) form.
            var g2 = g
            if a.rank == 1 && b.rank == 1 { g2 = g.reshaped([1, 1]) }
            else if a.rank == 1 { g2 = g.unsqueezed(axis: -2) }
            else if b.rank == 1 { g2 = g.unsqueezed(axis: -1) }
            if self.requiresGrad {
                let da = g2.matmul(b2.transposed(-2, -1))           // [..., n, k]
                self.accumulateGradient(da.summedToShape(a2.shape).reshaped(a.shape))
            }
            if other.requiresGrad {
                if b2.rank == 2 && a2.rank > 2 {
                    // A shared matrix: fold the batch axes into one product, Σ_batch Aᵀ·dC = A'ᵀ·dC'.
                    let k = a2.shape[a2.rank - 1], m = g2.shape[g2.rank - 1]
                    let db = a2.reshaped([-1, k]).transposed(-2, -1).matmul(g2.reshaped([-1, m]))
                    other.accumulateGradient(db.reshaped(b.shape))
                } else {
                    let db = a2.transposed(-2, -1).matmul(g2)        // [..., k, m]
                    other.accumulateGradient(db.summedToShape(b2.shape).reshaped(b.shape))
                }
            }
        }
    }
}

extension Variable {
    /// `self · weightᵀ` for a constant 16-bit `weight` [n, k]: self [..., k] → [..., n], bit for
    /// bit the product with the widened weight. The gradient reaches `self` only
    /// (dSelf = dY · W, also without widening the weight); the weight is not a variable here.
    public func matmul(transposed weight: HalfPrecisionTensor) -> Variable {
        let x = value
        return Variable(result: x.matmul(transposed: weight), parents: [self]) { g in
            self.accumulateGradient(g.matmul(weight).reshaped(x.shape))
        }
    }
}
