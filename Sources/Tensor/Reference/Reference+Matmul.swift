// The reference matrix product: three nested loops.
//
// Contract: `Reference.matmul(a, b)` has `Tensor.matmul`'s semantics (`torch.matmul`: vectors,
// matrices, broadcast batches; see Kernels/Tensor+Matmul.swift, whose `MatmulPlan` gives both
// the same shapes and strides) and computes every element as the defining sum
//   C[i, j] = Σ_p A[i, p] · B[p, j]
// in Double. The fast path is the packed, blocked GEMM (Kernels/GEMM.swift); lesson 01's ladder
// (Sources/Lessons/LessonKit/MatmulLadder.swift) walks from this loop to it.

extension Reference {
    /// The matrix product with `torch.matmul` semantics, by the textbook triple loop.
    ///
    /// Shapes: `[..., m, k] · [..., k, n] -> [broadcast(...), m, n]`; a rank-1 operand is a row
    /// (left) or column (right) vector and that axis is dropped from the result.
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let plan = MatmulPlan(a, b)
        let (m, n, k) = (plan.m, plan.n, plan.k)
        let pa = a.storage.pointer, pb = b.storage.pointer
        var c = [Float](repeating: 0, count: plan.count)
        // One matrix product per entry of the broadcast batch, each operand read through its strides.
        for (index, (offsetA, offsetB)) in plan.batchOffsets().enumerated() {
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0
                    for p in 0..<k {
                        let x = pa[offsetA + i * plan.aStrides.row + p * plan.aStrides.column]
                        let y = pb[offsetB + p * plan.bStrides.row + j * plan.bStrides.column]
                        sum += Double(x) * Double(y)
                    }
                    c[index * m * n + i * n + j] = Float(sum)
                }
            }
        }
        return withExtendedLifetime((a, b)) { Tensor(shape: plan.resultShape, scalars: c) }
    }

    /// `x · wᵀ` for a 16-bit weight `w` [n, k]: the weight widened (exactly), then `matmul`.
    public static func matmul(_ x: Tensor, transposed weight: HalfPrecisionTensor) -> Tensor {
        let k = x.shape[x.rank - 1]
        let rows = matmul(x.reshaped([-1, k]), weight.widened().transposed())
        return rows.reshaped(Array(x.shape.dropLast()) + [weight.shape[0]])
    }

    /// `x · w` for a 16-bit weight `w` [k, n]: the weight widened (exactly), then `matmul`.
    public static func matmul(_ x: Tensor, _ weight: HalfPrecisionTensor) -> Tensor {
        let k = x.shape[x.rank - 1]
        let rows = matmul(x.reshaped([-1, k]), weight.widened())
        return rows.reshaped(Array(x.shape.dropLast()) + [weight.shape[1]])
    }
}
