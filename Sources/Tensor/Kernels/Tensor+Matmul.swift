// Matrix multiply on tensors with `torch.matmul` semantics, through the packed GEMM.
//
// Contract (torch.matmul): 1-D · 1-D is a dot product (rank 0); 2-D · 2-D a matrix product;
// a 1-D left operand is a row vector [1, k] and a 1-D right operand a column vector [k, 1], the
// added axis removed from the result; higher ranks are stacks of matrices whose leading (batch)
// axes broadcast under NumPy's rules. Operands are read through their strides: transposed,
// sliced or broadcast views reach the GEMM kernel without being copied. The result is a new
// contiguous tensor.
//
// Reference: `Reference.matmul` (Reference/Reference+Matmul.swift), the triple loop with the same
// semantics (it shares `MatmulPlan`); in `Kernels.mode == .reference` this function returns it.

extension Tensor {
    /// The matrix product with `torch.matmul` semantics (vectors, matrices, broadcast batches).
    ///
    /// Shapes: `[..., m, k] · [..., k, n] -> [broadcast(...), m, n]`; a rank-1 operand is
    /// treated as a row (left) or column (right) vector and that axis is dropped from the result.
    public func matmul(_ other: Tensor) -> Tensor {
        if Kernels.useReference { return Reference.matmul(self, other) }
        let plan = MatmulPlan(self, other)
        let result = TensorStorage(uninitializedCount: Swift.max(plan.count, 1))
        // The operands are only read; `withExtendedLifetime` below keeps their storage alive.
        nonisolated(unsafe) let a = storage.pointer
        nonisolated(unsafe) let b = other.storage.pointer
        let (m, n, k) = (plan.m, plan.n, plan.k)
        let batches = plan.batchOffsets()
        let threads = Parallel.threadCount
        // Many small products: one thread per product; otherwise each product uses every thread.
        let perProductWork = m * n * k
        if batches.count >= threads && threads > 1 && perProductWork < 32 * GEMM.parallelThreshold {
            // Each batch writes its own m x n slice of the result.
            nonisolated(unsafe) let out = result.pointer
            parallelFor(batches.count) { index in
                let (offsetA, offsetB) = batches[index]
                GEMM.multiply(m: m, n: n, k: k, alpha: 1,
                              a: StridedMatrix(a + offsetA, rowStride: plan.aStrides.row, columnStride: plan.aStrides.column),
                              b: StridedMatrix(b + offsetB, rowStride: plan.bStrides.row, columnStride: plan.bStrides.column),
                              beta: 0, c: out + index * m * n, ldc: n, threads: 1)
            }
        } else {
            for (index, (offsetA, offsetB)) in batches.enumerated() {
                GEMM.multiply(m: m, n: n, k: k, alpha: 1,
                              a: StridedMatrix(a + offsetA, rowStride: plan.aStrides.row, columnStride: plan.aStrides.column),
                              b: StridedMatrix(b + offsetB, rowStride: plan.bStrides.row, columnStride: plan.bStrides.column),
                              beta: 0, c: result.pointer + index * m * n, ldc: n, threads: threads)
            }
        }
        return withExtendedLifetime((self, other)) {
            Tensor(storage: result, shape: plan.resultShape, strides: Tensor.contiguousStrides(plan.resultShape))
        }
    }
}

/// Shapes and strides of a `matmul` call: operands promoted to matrices and batch axes broadcast.
struct MatmulPlan {
    /// Rows of each product, columns of each product, and the summed dimension.
    let m: Int, n: Int, k: Int
    /// The broadcast batch shape.
    let batchShape: [Int]
    /// Strides of the left operand: batch axes (broadcast), then its matrix row and column.
    let aBatchStrides: [Int], aStrides: (row: Int, column: Int), aOffset: Int
    /// Strides of the right operand, as for the left.
    let bBatchStrides: [Int], bStrides: (row: Int, column: Int), bOffset: Int
    /// The shape `torch.matmul` returns.
    let resultShape: [Int]

    /// The number of result elements.
    var count: Int { batchShape.reduce(1, *) * m * n }

    init(_ left: Tensor, _ right: Tensor) {
        precondition(left.rank >= 1 && right.rank >= 1,
                     "matmul: operands must have rank >= 1, got shapes \(left.shape) and \(right.shape)")
        let a = left.rank == 1 ? left.unsqueezed(axis: 0) : left
        let b = right.rank == 1 ? right.unsqueezed(axis: 1) : right
        m = a.shape[a.rank - 2]
        k = a.shape[a.rank - 1]
        n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k,
                     "matmul: shapes \(left.shape) and \(right.shape) do not agree on the summed axis")
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        guard let batch = Tensor.broadcastShape(aBatch, bBatch) else {
            preconditionFailure("matmul: batch shapes \(aBatch) and \(bBatch) of \(left.shape) and \(right.shape) do not broadcast")
        }
        batchShape = batch
        let ae = a.expanded(to: batch + [m, k]), be = b.expanded(to: batch + [k, n])
        aBatchStrides = Array(ae.strides.dropLast(2))
        bBatchStrides = Array(be.strides.dropLast(2))
        aStrides = (ae.strides[ae.rank - 2], ae.strides[ae.rank - 1])
        bStrides = (be.strides[be.rank - 2], be.strides[be.rank - 1])
        aOffset = ae.offset
        bOffset = be.offset
        var shape = batch
        if left.rank > 1 { shape.append(m) }
        if right.rank > 1 { shape.append(n) }
        resultShape = shape
    }

    /// Storage offsets of the left and right matrix of each batch entry, in row-major batch order.
    func batchOffsets() -> [(Int, Int)] {
        var offsets = [(Int, Int)]()
        offsets.reserveCapacity(batchShape.reduce(1, *))
        Tensor.forEachOffset(shape: batchShape, aBatchStrides, aOffset, bBatchStrides, bOffset) { _, x, y in
            offsets.append((x, y))
        }
        return offsets
    }
}
