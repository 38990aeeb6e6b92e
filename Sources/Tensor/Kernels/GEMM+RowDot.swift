// Products of two matrices stored with their summed dimension contiguous: C = A · Bᵀ where every
// row of A and every row of B is a contiguous run of k floats.
//
// Contract: `GEMM.multiplyRowsByRows` sets C[i, j] = Σ_{p < k} A_i[p] · B_j[p] (or adds it to
// C[i, j]) for row pointers A_i = a + i * lda and B_j = b + bStarts[j]. k must be a multiple of 16:
// callers pad A's rows with zeros and keep 15 floats readable past every B row.
//
// Why: the packed GEMM wants its operands laid out with k as the slow axis, so operands whose k
// axis is the contiguous one (a convolution's weight gradient: k runs over image positions) must be
// transposed while packing, and with few rows on the other side (16-64 output channels) each packed
// element serves only a handful of multiply-adds. Here nothing is packed: a 4 x 6 tile of C keeps
// 24 vector accumulators, each step loads 16 consecutive values of 4 rows of A and 6 rows of B
// (10 loads for 24 fused multiply-adds), and each accumulator is reduced to its sum once at the end.

extension GEMM {
    /// C = A · Bᵀ (or C += A · Bᵀ when `accumulate`) for `m` rows of A (`a`, stride `lda`) and
    /// `n` rows of B (`b + bStarts[j]`), each `k` floats long, k a multiple of 16; C is m x n with
    /// row stride `ldc`.
    static func multiplyRowsByRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                   b: UnsafePointer<Float>, bStarts: UnsafePointer<Int>,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        precondition(k % 16 == 0, "multiplyRowsByRows: k = \(k) must be a multiple of 16")
        let fullRows = m - m % 4, fullColumns = n - n % 6
        var j = 0
        while j < fullColumns {
            var i = 0
            while i < fullRows {
                rowDotTile4x6(k: k, a: a + i * lda, lda: lda, b: b, bStarts: bStarts + j,
                              c: c + i * ldc + j, ldc: ldc, accumulate: accumulate)
                i += 4
            }
            j += 6
        }
        // Edges: single dot products.
        for i in 0..<m {
            for j in (i < fullRows ? fullColumns : 0)..<n {
                let rowA = UnsafeRawPointer(a + i * lda), rowB = UnsafeRawPointer(b + bStarts[j])
                var sum = SIMD16<Float>()
                var p = 0
                while p < k {
                    sum.addProduct(rowA.loadUnaligned(fromByteOffset: 4 * p, as: SIMD16<Float>.self),
                                   rowB.loadUnaligned(fromByteOffset: 4 * p, as: SIMD16<Float>.self))
                    p += 16
                }
                c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum.laneSum()
            }
        }
    }
}

/// One 4 x 6 tile of `GEMM.multiplyRowsByRows`.
@inline(never)
private func rowDotTile4x6(k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                          bStarts: UnsafePointer<Int>, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    let a0 = UnsafeRawPointer(a), a1 = UnsafeRawPointer(a + lda)
    let a2 = UnsafeRawPointer(a + 2 * lda), a3 = UnsafeRawPointer(a + 3 * lda)
    let b0 = UnsafeRawPointer(b + bStarts[0]), b1 = UnsafeRawPointer(b + bStarts[1])
    let b2 = UnsafeRawPointer(b + bStarts[2]), b3 = UnsafeRawPointer(b + bStarts[3])
    let b4 = UnsafeRawPointer(b + bStarts[4]), b5 = UnsafeRawPointer(b + bStarts[5])
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c02 = SIMD16<Float>(), c03 = SIMD16<Float>(), c04 = SIMD16<Float>(), c05 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c12 = SIMD16<Float>(), c13 = SIMD16<Float>(), c14 = SIMD16<Float>(), c15 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c22 = SIMD16<Float>(), c23 = SIMD16<Float>(), c24 = SIMD16<Float>(), c25 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c32 = SIMD16<Float>(), c33 = SIMD16<Float>(), c34 = SIMD16<Float>(), c35 = SIMD16<Float>()
    var offset = 0
    let end = 4 * k
    while offset < end {
        let x0 = a0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let x1 = a1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let x2 = a2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let x3 = a3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        var y = b0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c00.addProduct(x0, y); c10.addProduct(x1, y); c20.addProduct(x2, y); c30.addProduct(x3, y)
        y = b1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c01.addProduct(x0, y); c11.addProduct(x1, y); c21.addProduct(x2, y); c31.addProduct(x3, y)
        y = b2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c02.addProduct(x0, y); c12.addProduct(x1, y); c22.addProduct(x2, y); c32.addProduct(x3, y)
        y = b3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c03.addProduct(x0, y); c13.addProduct(x1, y); c23.addProduct(x2, y); c33.addProduct(x3, y)
        y = b4.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c04.addProduct(x0, y); c14.addProduct(x1, y); c24.addProduct(x2, y); c34.addProduct(x3, y)
        y = b5.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        c05.addProduct(x0, y); c15.addProduct(x1, y); c25.addProduct(x2, y); c35.addProduct(x3, y)
        offset += 64
    }
    @inline(__always) func put(_ sum: SIMD16<Float>, _ i: Int, _ j: Int) {
        let target = c + i * ldc + j
        target.pointee = (accumulate ? target.pointee : 0) + sum.laneSum()
    }
    put(c00, 0, 0); put(c01, 0, 1); put(c02, 0, 2); put(c03, 0, 3); put(c04, 0, 4); put(c05, 0, 5)
    put(c10, 1, 0); put(c11, 1, 1); put(c12, 1, 2); put(c13, 1, 3); put(c14, 1, 4); put(c15, 1, 5)
    put(c20, 2, 0); put(c21, 2, 1); put(c22, 2, 2); put(c23, 2, 3); put(c24, 2, 4); put(c25, 2, 5)
    put(c30, 3, 0); put(c31, 3, 1); put(c32, 3, 2); put(c33, 3, 3); put(c34, 3, 4); put(c35, 3, 5)
}
