// Matrix products on variables, with `torch.matmul` semantics (1-D operands promoted, batch
// axes broadcast). For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC, each summed over the batch axes
// that broadcasting stretched. The transposes are views, so the GEMM reads them without copies.

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
                let db = a2.transposed(-2, -1).matmul(g2)            // [..., k, m]
                other.accumulateGradient(db.summedToShape(b2.shape).reshaped(b.shape))
            }
        }
    }
}
