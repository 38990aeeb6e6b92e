// MatmulLadder: the rungs of lesson 01, from three nested loops to a blocked, packed,
// register-tiled, multithreaded SIMD kernel.
//
// Contract: every rung computes C = A·B for a row-major A [M, K] and B [K, N] (any tensor
// layout is accepted: inputs are made contiguous first) and returns a contiguous C [M, N].
// The rungs differ only in how they walk memory and use the CPU, so they agree up to the
// rounding of Float32 sums taken in a different order (see `MatmulLadder.errorBound`).
// Each rung is written to be read: the lesson explains what it changes from the previous one.
//
// Place in the reading path: rung 1 is `Reference.matmul` (Sources/Tensor/Reference) on plain
// matrices; rung 5 has the structure of the library's GEMM (Sources/Tensor/Kernels/GEMM.swift),
// whose header lists what it adds over rung 5. The tiles agree in width (32 columns, two SIMD16
// vectors) and differ in height on purpose: 6 x 32 here (12 accumulators, short enough to read
// line by line), 12 x 32 there (24 accumulators, half the operand loads per FMA).

import Tensor

/// The matrix-multiply ladder: one function per rung, slowest first.
public enum MatmulLadder {
    /// Cache block sizes for the blocked rungs (Goto & van de Geijn, "Anatomy of High-Performance
    /// Matrix Multiplication", ACM TOMS 2008: a KC x NC panel of B stays in L3/L2, an MC x KC
    /// block of A in L2, and an MR x NR tile of C in registers).
    public struct BlockSizes: Sendable, Hashable {
        /// Rows of A packed per block (a multiple of `MatmulLadder.tileRows`).
        public var mc: Int
        /// Depth (shared dimension K) of a block.
        public var kc: Int
        /// Columns of B packed per block (a multiple of `MatmulLadder.tileColumns`).
        public var nc: Int

        /// Creates block sizes; `mc` and `nc` are rounded up to whole register tiles.
        public init(mc: Int = 96, kc: Int = 256, nc: Int = 2048) {
            precondition(mc > 0 && kc > 0 && nc > 0, "BlockSizes: sizes must be positive, got \(mc), \(kc), \(nc)")
            self.mc = (mc + MatmulLadder.tileRows - 1) / MatmulLadder.tileRows * MatmulLadder.tileRows
            self.kc = kc
            self.nc = (nc + MatmulLadder.tileColumns - 1) / MatmulLadder.tileColumns * MatmulLadder.tileColumns
        }
    }

    /// Rows of C computed at once by the register-tiled micro-kernel.
    public static let tileRows = 6
    /// Columns of C computed at once by the micro-kernel (two 16-wide SIMD vectors).
    public static let tileColumns = 32

    /// Floating-point operations of one M x K by K x N product: one multiply and one add per
    /// term, 2·M·N·K.
    public static func flops(m: Int, k: Int, n: Int) -> Double { 2 * Double(m) * Double(n) * Double(k) }

    /// A matrix [rows, columns] of uniform values in [-1, 1) from a seeded SplitMix64 stream
    /// (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).
    public static func randomMatrix(rows: Int, columns: Int, seed: UInt64) -> Tensor {
        var random = SplitMix64(seed: seed)
        return Tensor(shape: [rows, columns]) { buffer in
            for i in buffer.indices {
                let z = random.next()
                // The top 24 bits give every Float in [0, 1) with spacing 2^-24, exactly.
                buffer[i] = Float(z >> 40) * 0x1p-24 * 2 - 1
            }
        }
    }

    /// How far a Float32 product may lie from the exact one, per element:
    /// |fl(A·B) − A·B| ≤ γ_K (|A|·|B|) with γ_K = K·u / (1 − K·u) and u = 2⁻²⁴ (Higham,
    /// "Accuracy and Stability of Numerical Algorithms", 2nd ed., eq. 3.13). Two rungs that
    /// each satisfy it differ by at most twice that; this returns 2·γ_K·(|A|·|B|), shape [M, N].
    public static func errorBound(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = dimensions(a, b)
        let u = 0x1p-24 as Double
        let gamma = Double(k) * u / (1 - Double(k) * u)
        let absA = a.scalars.map { Double(Swift.abs($0)) }, absB = b.scalars.map { Double(Swift.abs($0)) }
        var bound = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let aip = absA[i * k + p]
                for j in 0..<n { bound[i * n + j] += Float(aip * absB[p * n + j]) }
            }
        }
        return Tensor(shape: [m, n], scalars: bound.map { Float(2 * gamma) * $0 })
    }

    /// The largest |x − y| over all elements of two tensors of the same shape.
    public static func maxAbsDifference(_ x: Tensor, _ y: Tensor) -> Float {
        precondition(x.shape == y.shape, "maxAbsDifference: shapes \(x.shape) and \(y.shape) differ")
        return zip(x.scalars, y.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
    }

    // MARK: - Rung 1: three nested loops

    /// Rung 1, the definition: C[i, j] = Σ_p A[i, p]·B[p, j]. The inner loop walks down a
    /// column of B, jumping N floats between reads, so almost every read misses the cache.
    public static func naive(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = dimensions(a, b)
        let x = a.scalars, y = b.scalars
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k { sum += x[i * k + p] * y[p * n + j] }
                c[i * n + j] = sum
            }
        }
        return Tensor(shape: [m, n], scalars: c)
    }

    // MARK: - Rung 2: loops in memory order

    /// Rung 2, the same sums with the loops swapped to i-p-j: the inner loop now reads a row of
    /// B and updates a row of C, both contiguous, so every cache line fetched is used in full.
    public static func reordered(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = dimensions(a, b)
        let x = a.scalars, y = b.scalars
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let aip = x[i * k + p]
                for j in 0..<n { c[i * n + j] += aip * y[p * n + j] }
            }
        }
        return Tensor(shape: [m, n], scalars: c)
    }

    // MARK: - Rung 3: SIMD

    /// Rung 3, rung 2 with the inner loop written 16 floats at a time: one `SIMD16<Float>`
    /// fused multiply-add (one AVX-512 instruction) updates 16 elements of a row of C. Pointers
    /// replace array indexing, so there are no bounds checks in the loop.
    public static func simd(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = dimensions(a, b)
        var c = Tensor(shape: [m, n], repeating: 0)
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                c.withUnsafeMutableBufferPointer { z in
                    let x = x.baseAddress!, y = y.baseAddress!, z = z.baseAddress!
                    for i in 0..<m {
                        let row = z + i * n
                        for p in 0..<k {
                            let aip = x[i * k + p]
                            let broadcast = SIMD16<Float>(repeating: aip)
                            let bRow = y + p * n
                            var j = 0
                            while j + 16 <= n {
                                var acc = load16(row + j)
                                acc.addProduct(broadcast, load16(bRow + j))
                                store16(acc, row + j)
                                j += 16
                            }
                            while j < n { row[j] += aip * bRow[j]; j += 1 }
                        }
                    }
                }
            }
        }
        return c
    }

    // MARK: - Rungs 4 and 5: blocking, packing, register tiles, threads

    /// Rung 4, the structure of a BLAS kernel (Goto & van de Geijn 2008), on one thread:
    /// 1. split K and N into blocks so a KC x NC panel of B is copied ("packed") once into a
    ///    buffer laid out exactly in the order the kernel reads it;
    /// 2. pack an MC x KC block of A the same way;
    /// 3. a micro-kernel keeps a 6 x 32 tile of C in 12 SIMD registers for the whole depth KC,
    ///    so each loaded value of A and B feeds many multiply-adds and C is touched once per block.
    public static func blocked(_ a: Tensor, _ b: Tensor, blockSizes: BlockSizes = BlockSizes()) -> Tensor {
        blockedProduct(a, b, blockSizes: blockSizes, threaded: false)
    }

    /// Rung 5, rung 4 with the row blocks shared among threads through `parallelFor`: each
    /// thread packs its own rows of A and writes its own rows of C; the packed B is shared.
    public static func threaded(_ a: Tensor, _ b: Tensor, blockSizes: BlockSizes = BlockSizes()) -> Tensor {
        blockedProduct(a, b, blockSizes: blockSizes, threaded: true)
    }

    private static func blockedProduct(_ a: Tensor, _ b: Tensor, blockSizes: BlockSizes, threaded: Bool) -> Tensor {
        let (m, k, n) = dimensions(a, b)
        let (mr, nr) = (tileRows, tileColumns)
        let (mc, kc, nc) = (blockSizes.mc, blockSizes.kc, blockSizes.nc)
        var c = Tensor(shape: [m, n], repeating: 0)
        let a = a.contiguous(), b = b.contiguous()
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                c.withUnsafeMutableBufferPointer { z in
                    // Read-only inputs and the output, shared with the worker threads; each
                    // worker writes only the rows of C in its own range of row panels.
                    nonisolated(unsafe) let x = x.baseAddress!, y = y.baseAddress!, z = z.baseAddress!
                    let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kc * nc)
                    defer { packedB.deallocate() }
                    nonisolated(unsafe) let bPanel = UnsafePointer(packedB)
                    for jc in stride(from: 0, to: n, by: nc) {
                        let ncb = Swift.min(nc, n - jc)
                        for pc in stride(from: 0, to: k, by: kc) {
                            let kcb = Swift.min(kc, k - pc)
                            packB(y + pc * n + jc, ldb: n, depth: kcb, columns: ncb, into: packedB)
                            // Rows of C handled as whole 6-row panels, so threads never share a row.
                            let rowPanels = (m + mr - 1) / mr
                            let work: @Sendable (Range<Int>) -> Void = { panels in
                                let packedA = UnsafeMutablePointer<Float>.allocate(capacity: mc * kcb)
                                defer { packedA.deallocate() }
                                let firstRow = panels.lowerBound * mr
                                let endRow = Swift.min(m, panels.upperBound * mr)
                                for ic in stride(from: firstRow, to: endRow, by: mc) {
                                    let mcb = Swift.min(mc, endRow - ic)
                                    packA(x + ic * k + pc, lda: k, rows: mcb, depth: kcb, into: packedA)
                                    for jr in stride(from: 0, to: ncb, by: nr) {
                                        for ir in stride(from: 0, to: mcb, by: mr) {
                                            microKernel(
                                                depth: kcb, a: packedA + ir * kcb, b: bPanel + jr * kcb,
                                                c: z + (ic + ir) * n + jc + jr, ldc: n,
                                                rows: Swift.min(mr, mcb - ir), columns: Swift.min(nr, ncb - jr))
                                        }
                                    }
                                }
                            }
                            if threaded {
                                parallelFor(chunking: rowPanels, minimumChunk: 1, work)
                            } else {
                                work(0..<rowPanels)
                            }
                        }
                    }
                }
            }
        }
        return c
    }

    /// Copies rows x depth of A into panels of 6 rows: for each p, the 6 values A[i..i+5, p]
    /// side by side (zeros past the last row), panel after panel.
    private static func packA(_ a: UnsafePointer<Float>, lda: Int, rows: Int, depth: Int, into out: UnsafeMutablePointer<Float>) {
        var o = out
        for i0 in stride(from: 0, to: rows, by: tileRows) {
            let valid = Swift.min(tileRows, rows - i0)
            for p in 0..<depth {
                for r in 0..<tileRows { o[r] = r < valid ? a[(i0 + r) * lda + p] : 0 }
                o += tileRows
            }
        }
    }

    /// Copies depth x columns of B into panels of 32 columns: for each p, the 32 values
    /// B[p, j..j+31] contiguous (zeros past the last column), panel after panel.
    private static func packB(_ b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        var o = out
        for j0 in stride(from: 0, to: columns, by: tileColumns) {
            let valid = Swift.min(tileColumns, columns - j0)
            for p in 0..<depth {
                let row = b + p * ldb + j0
                if valid == tileColumns {
                    store16(load16(row), o)
                    store16(load16(row + 16), o + 16)
                } else {
                    for j in 0..<tileColumns { o[j] = j < valid ? row[j] : 0 }
                }
                o += tileColumns
            }
        }
    }

    /// C[0..<rows, 0..<columns] += (packed A panel)·(packed B panel) over `depth`, with the
    /// 6 x 32 tile held in twelve SIMD16 accumulators.
    @inline(__always)
    private static func microKernel(
        depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
        rows: Int, columns: Int
    ) {
        var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
        var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
        var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
        var pa = a, pb = b
        for _ in 0..<depth {
            let b0 = load16(pb), b1 = load16(pb + 16)
            var s = SIMD16<Float>(repeating: pa[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            pa += tileRows
            pb += tileColumns
        }
        if rows == tileRows && columns == tileColumns {
            addRow(c00, c01, to: c)
            addRow(c10, c11, to: c + ldc)
            addRow(c20, c21, to: c + 2 * ldc)
            addRow(c30, c31, to: c + 3 * ldc)
            addRow(c40, c41, to: c + 4 * ldc)
            addRow(c50, c51, to: c + 5 * ldc)
        } else {
            // An edge tile: spill the accumulators, then add only the part inside C.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tileRows * tileColumns) { buffer in
                let t = buffer.baseAddress!
                for (r, pair) in [(c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51)].enumerated() {
                    store16(pair.0, t + r * tileColumns)
                    store16(pair.1, t + r * tileColumns + 16)
                }
                for r in 0..<rows {
                    for j in 0..<columns { c[r * ldc + j] += t[r * tileColumns + j] }
                }
            }
        }
    }

    /// Adds two accumulators to 32 consecutive elements of a row of C.
    @inline(__always)
    private static func addRow(_ left: SIMD16<Float>, _ right: SIMD16<Float>, to row: UnsafeMutablePointer<Float>) {
        store16(load16(row) + left, row)
        store16(load16(row + 16) + right, row + 16)
    }

    // MARK: - Helpers

    /// (M, K, N) of A [M, K] · B [K, N]; stops with the shapes if they do not fit.
    static func dimensions(_ a: Tensor, _ b: Tensor) -> (Int, Int, Int) {
        precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0],
                     "matmul: cannot multiply \(a.shape) by \(b.shape)")
        return (a.shape[0], a.shape[1], b.shape[1])
    }

    @inline(__always)
    private static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    private static func load16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    private static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
