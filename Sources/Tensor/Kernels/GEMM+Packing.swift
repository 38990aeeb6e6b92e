// GEMM packing: copying blocks of the operands into the panel order the micro-kernels read.
//
// Contract: `packA` writes rows `rows` x steps `depth` of A as consecutive panels of
// `GEMM.panelRows` rows, each stored step by step (12 values per step of k), rows past the end
// padded with zeros. `packB` writes steps `depth` x columns `columns` of B as panels of
// `GEMM.panelColumns` columns, each stored step by step (32 values per step), padded with zeros.
// Any operand that can do this (a strided matrix, an implicit im2col matrix) feeds the same driver.

/// An operand that can play A (m x k) in `GEMM.multiply`.
protocol GEMMPackableA: Sendable {
    /// Packs rows `rows` and steps `depth` into 12-row panels at `destination`.
    func packA(rows: Range<Int>, depth: Range<Int>, into destination: UnsafeMutablePointer<Float>)
}

/// An operand that can play B (k x n) in `GEMM.multiply`.
protocol GEMMPackableB: Sendable {
    /// Packs steps `depth` and columns `columns` into 32-column panels at `destination`.
    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>)
}

/// A matrix read in place through a base pointer and two strides: element (i, j) is
/// `base[i * rowStride + j * columnStride]`. A transposed matrix is the same memory with the
/// strides swapped, so transposes cost nothing.
struct StridedMatrix: GEMMPackableA, GEMMPackableB, @unchecked Sendable {
    // @unchecked: the pointer is only read, and the caller keeps the memory alive for the call.
    /// The element (0, 0).
    let base: UnsafePointer<Float>
    /// Elements between vertically adjacent entries.
    let rowStride: Int
    /// Elements between horizontally adjacent entries.
    let columnStride: Int

    /// A strided view of the matrix at `base`.
    init(_ base: UnsafePointer<Float>, rowStride: Int, columnStride: Int) {
        self.base = base
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    func packA(rows: Range<Int>, depth: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, height = GEMM.panelRows
        var panel = destination
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let mr = Swift.min(height, rows.upperBound - r0)
            let source = base + r0 * rowStride + depth.lowerBound * columnStride
            if rowStride == 1 {
                // Aᵀ stored row-major: the 12 values of one step are adjacent.
                for p in 0..<kc {
                    let s = source + p * columnStride, d = panel + p * height
                    for i in 0..<mr { d[i] = s[i] }
                    for i in mr..<height { d[i] = 0 }
                }
            } else {
                // Row-major A: gather the 12 rows' values of each step. The writes stay contiguous
                // on purpose: a loop writing with stride 12 vectorizes into AVX-512 scatters,
                // which are microcoded and many times slower on AMD Zen 4.
                for p in 0..<kc {
                    let s = source + p * columnStride, d = panel + p * height
                    for i in 0..<mr { d[i] = s[i * rowStride] }
                    for i in mr..<height { d[i] = 0 }
                }
            }
            panel += height * kc
            r0 += height
        }
    }

    func packB(depth: Range<Int>, columns: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let kc = depth.count, width = GEMM.panelColumns
        var panel = destination
        var c0 = columns.lowerBound
        while c0 < columns.upperBound {
            let nr = Swift.min(width, columns.upperBound - c0)
            let source = base + depth.lowerBound * rowStride + c0 * columnStride
            if columnStride == 1 && nr == width {
                // Row-major B: each step is 32 adjacent values, two vector copies.
                for p in 0..<kc {
                    let s = UnsafeRawPointer(source + p * rowStride)
                    let d = UnsafeMutableRawPointer(panel + p * width)
                    d.storeBytes(of: s.loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                    d.storeBytes(of: s.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self),
                                 toByteOffset: 64, as: SIMD16<Float>.self)
                }
            } else if columnStride == 1 {
                for p in 0..<kc {
                    let s = source + p * rowStride, d = panel + p * width
                    for j in 0..<nr { d[j] = s[j] }
                    for j in nr..<width { d[j] = 0 }
                }
            } else {
                // Bᵀ stored row-major (or any strides): gather the 32 columns' values of each step,
                // writing contiguously (see packA on why not column by column).
                for p in 0..<kc {
                    let s = source + p * rowStride, d = panel + p * width
                    for j in 0..<nr { d[j] = s[j * columnStride] }
                    for j in nr..<width { d[j] = 0 }
                }
            }
            panel += width * kc
            c0 += width
        }
    }
}
