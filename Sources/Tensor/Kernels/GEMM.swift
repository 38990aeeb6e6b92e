// GEMM: single-precision matrix multiply C = alpha * A·B + beta * C for row-major matrices.
//
// Contract: `GEMM.sgemm` follows BLAS `sgemm` with row-major storage; `transposeA`/`transposeB`
// are handled by the packing routines (the operands are read in place, never copied whole).
// Results agree with the naive triple loop up to Float32 rounding (the summation order differs).
//
// Algorithm (Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS
// 2008; the loop nest of BLIS, Van Zee & van de Geijn 2015):
//   for each block of `depthBlock` steps of k                       (pc)
//     for each block of `rowBlock` rows of A and C                  (ic)  pack A block  -> L3
//       for each block of `columnBlock` columns of B and C          (jc)  pack B block  -> L2/L3
//         for each panel of 12 rows                                 (ir)  A panel       -> L1/L2
//           for each panel of 32 columns                            (jr)  B panel streams in
//             micro-kernel: 12x32 tile of C in 24 AVX-512 registers, k FMAs deep.
// The blocks are deeper and wider than the caches: the micro-kernel hides L2 and L3 latency on
// its own (see `depthBlock`), so the blocking is chosen to pass over C and pack operands rarely.
// Usually all the columns fit one block (`packedBBudget`); then there is one row block, B is
// packed once per depth block, and each A panel is packed just before its sweep over B.
// Packing lays each panel out in the order the micro-kernel reads it (12 A values, then 32 B
// values per step of k) and pads edge panels with zeros, so the micro-kernel never branches.
// Threads split C into disjoint column (or row) ranges; each thread packs its own operands.

/// Row-major single-precision matrix multiply built from packed, register-blocked SIMD kernels.
public enum GEMM {
    /// Rows of A per packed panel (the micro-kernel's tile height).
    static let panelRows = 12
    /// Columns of B per packed panel (the micro-kernel's tile width: two SIMD16 vectors).
    static let panelColumns = 32
    /// Steps of k per packed block. Deep blocks pay off because the 12 x 32 micro-kernel needs
    /// only 176 bytes of operands per 24 FMAs: it runs at the core's FMA peak with its B panels in
    /// L3 as in L1 (`bench --filter kernel-`: 91-114 GFLOP/s at every level in four runs, 95-113
    /// for FMAs alone), so what a block costs is the pass over C that ends it (C is read, added
    /// to and written back once per block). See docs/benchmarks.md for the measured effect.
    static let depthBlock = 2048
    /// Floats of packed B per block: columns per block are this over the depth (all 1280 columns
    /// of 320x1280, 512 at depth 2048), 4 MiB, read from L3. When all the columns fit one block,
    /// A is packed one panel at a time just before its sweep over B, into L1, and B is packed
    /// once for all the rows. Larger B blocks lost (2048³ in one 16 MiB sweep ran ~30% slower).
    static let packedBBudget = 1 << 20
    /// Floats of packed A per block when the columns take several blocks: rows per block are
    /// this over the depth (at most 2496), so the buffer stays at 10 MiB. A is packed once per
    /// depth block and B once per row block.
    static let packedABudget = 2496 * 1024

    /// Rows of A per packed block at depth `kc` when the columns take several blocks: the
    /// packed-A budget over the depth, a whole number of panels, at most 2496.
    static func rowBlock(depth kc: Int) -> Int {
        Swift.max(panelRows, Swift.min(2496, packedABudget / Swift.max(kc, 1) / panelRows * panelRows))
    }

    /// Columns of B per packed block at depth `kc`: the packed-B budget over the depth, a whole
    /// number of panels.
    static func columnBlock(depth kc: Int) -> Int {
        Swift.max(panelColumns, packedBBudget / Swift.max(kc, 1) / panelColumns * panelColumns)
    }
    /// Multiply-adds below which a product runs on one thread (thread start-up costs ~10 µs).
    static let parallelThreshold = 1 << 20

    /// Computes `C = alpha * op(A) · op(B) + beta * C` for row-major matrices, like BLAS `sgemm`.
    ///
    /// - Parameters:
    ///   - transposeA: when true, `op(A) = Aᵀ` and `a` holds a k x m matrix; otherwise m x k.
    ///   - transposeB: when true, `op(B) = Bᵀ` and `b` holds an n x k matrix; otherwise k x n.
    ///   - m: rows of C. - n: columns of C. - k: the summed dimension.
    ///   - lda, ldb, ldc: row strides (leading dimensions) of the stored A, B and C.
    ///   - beta: scale of the old C; when 0, C is not read (it may hold NaNs).
    ///   - threads: the most threads to use (default `Parallel.threadCount`).
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threadCount
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
        let aMatrix = StridedMatrix(a, rowStride: transposeA ? 1 : lda, columnStride: transposeA ? lda : 1)
        let bMatrix = StridedMatrix(b, rowStride: transposeB ? 1 : ldb, columnStride: transposeB ? ldb : 1)
        multiply(m: m, n: n, k: k, alpha: alpha, a: aMatrix, b: bMatrix, beta: beta, c: c, ldc: ldc,
                 threads: threads)
    }

    /// The general driver: `C = alpha * A·B + beta * C` where A (m x k) and B (k x n) are any
    /// operands that can pack themselves, on up to `threads` threads.
    static func multiply<A: GEMMPackableA, B: GEMMPackableB>(
        m: Int, n: Int, k: Int, alpha: Float, a: A, b: B, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        let rowPanels = (m + panelRows - 1) / panelRows
        let columnPanels = (n + panelColumns - 1) / panelColumns
        let work = m * n * k
        // Split the longer side of C so each thread gets a balanced number of whole panels.
        let splitRows = rowPanels * panelRows >= columnPanels * panelColumns
        let panels = splitRows ? rowPanels : columnPanels
        let parts = Swift.max(1, Swift.min(threads, panels, work / parallelThreshold))
        if parts == 1 {
            multiplyBlock(rows: 0..<m, columns: 0..<n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c, ldc: ldc)
            return
        }
        // Each part writes a disjoint range of rows (or columns) of C.
        nonisolated(unsafe) let out = c
        parallelFor(parts) { part in
            let first = part * panels / parts, last = (part + 1) * panels / parts
            if splitRows {
                let rows = (first * panelRows)..<Swift.min(m, last * panelRows)
                multiplyBlock(rows: rows, columns: 0..<n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: out, ldc: ldc)
            } else {
                let columns = (first * panelColumns)..<Swift.min(n, last * panelColumns)
                multiplyBlock(rows: 0..<m, columns: columns, k: k, alpha: alpha, a: a, b: b, beta: beta, c: out, ldc: ldc)
            }
        }
    }

    /// One thread's share: the block `rows` x `columns` of C, through the packed loop nest.
    static func multiplyBlock<A: GEMMPackableA, B: GEMMPackableB>(
        rows: Range<Int>, columns: Range<Int>, k: Int, alpha: Float, a: A, b: B, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // Equal blocks (1280 = 4 x 320 rather than 3 x 384 + 128) keep every block efficient.
        let depthStep = balancedBlock(k, limit: depthBlock, multiple: 1)
        let maxDepth = Swift.min(k, depthStep)
        // A B stored packed is read in place, whatever its size: all its columns make one block.
        let bInPlace = b.packedPanelsB(depth: 0..<maxDepth, columns: columns) != nil
        let columnStep = bInPlace ? columns.count
            : balancedBlock(columns.count, limit: columnBlock(depth: maxDepth), multiple: panelColumns)
        let maxColumns = roundUp(Swift.min(columns.count, columnStep), to: panelColumns)
        // One sweep over all the columns: each A panel is packed just before it (one panel of
        // buffer), and a row block can be every row, so B is packed once per depth block.
        let singleSweep = columns.count <= columnStep
        let rowStep = singleSweep ? rows.count : rowBlock(depth: maxDepth)
        let maxRows = singleSweep ? panelRows : roundUp(Swift.min(rows.count, rowStep), to: panelRows)
        // No buffer for an operand read in place. The buffers come from a workspace kept between
        // products (see GEMM+Workspace.swift), each 64-byte aligned.
        let aInPlace = a.packedPanelsA(rows: rows, depth: 0..<maxDepth) != nil
        let packedACount = aInPlace ? 0 : roundUp(maxRows * maxDepth, to: 16)
        let packedBCount = bInPlace ? 0 : roundUp(maxDepth * maxColumns, to: 16)
        GEMMWorkspace.with(floats: packedACount + packedBCount + panelRows * panelColumns) { workspace in
            multiplyBlock(rows: rows, columns: columns, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c, ldc: ldc,
                          depthStep: depthStep, columnStep: columnStep, rowStep: rowStep,
                          packedA: workspace, packedB: workspace + packedACount,
                          scratch: workspace + packedACount + packedBCount)
        }
    }

    /// The loop nest of `multiplyBlock` with its blocking chosen and its buffers provided.
    static func multiplyBlock<A: GEMMPackableA, B: GEMMPackableB>(
        rows: Range<Int>, columns: Range<Int>, k: Int, alpha: Float, a: A, b: B, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, depthStep: Int, columnStep: Int, rowStep: Int,
        packedA: UnsafeMutablePointer<Float>, packedB: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let singleSweep = columns.count <= columnStep
        var pc = 0
        while pc < k {
            let kc = Swift.min(depthStep, k - pc)
            let blockBeta: Float = pc == 0 ? beta : 1
            var ic = rows.lowerBound
            while ic < rows.upperBound {
                let mc = Swift.min(rowStep, rows.upperBound - ic)
                // Panels of an operand that is already packed are read in place (their step count
                // is the whole depth k); the others are packed here (kc steps per panel).
                // In a single sweep each A panel is packed just before its sweep over B, into the
                // buffer's only panel, where it stays in L1 (instead of writing the whole block out
                // and reading it back).
                let (panelsA, stepsA): (UnsafePointer<Float>, Int)
                var packPanels = false
                if let prepacked = a.packedPanelsA(rows: ic..<(ic + mc), depth: pc..<(pc + kc)) {
                    (panelsA, stepsA) = (prepacked, k)
                } else {
                    packPanels = singleSweep
                    if !packPanels { a.packA(rows: ic..<(ic + mc), depth: pc..<(pc + kc), into: packedA) }
                    (panelsA, stepsA) = (UnsafePointer(packedA), kc)
                }
                var jc = columns.lowerBound
                while jc < columns.upperBound {
                    let nc = Swift.min(columnStep, columns.upperBound - jc)
                    let (panelsB, stepsB): (UnsafePointer<Float>, Int)
                    if let prepacked = b.packedPanelsB(depth: pc..<(pc + kc), columns: jc..<(jc + nc)) {
                        (panelsB, stepsB) = (prepacked, k)
                    } else {
                        b.packB(depth: pc..<(pc + kc), columns: jc..<(jc + nc), into: packedB)
                        (panelsB, stepsB) = (UnsafePointer(packedB), kc)
                    }
                    var ir = 0
                    while ir < mc {
                        let mr = Swift.min(panelRows, mc - ir)
                        let panelA: UnsafePointer<Float>
                        if packPanels {
                            a.packA(rows: (ic + ir)..<(ic + ir + mr), depth: pc..<(pc + kc), into: packedA)
                            panelA = panelsA
                        } else {
                            panelA = panelsA + ir * stepsA
                        }
                        let cRow = c + (ic + ir) * ldc + jc
                        var jr = 0
                        while jr < nc {
                            tile(rows: mr, columns: Swift.min(panelColumns, nc - jr), kc: kc, a: panelA,
                                 b: panelsB + jr * stepsB, c: cRow + jr, ldc: ldc,
                                 alpha: alpha, beta: blockBeta, scratch: scratch)
                            jr += panelColumns
                        }
                        ir += panelRows
                    }
                    jc += nc
                }
                ic += mc
            }
            pc += kc
        }
    }

    /// Computes one `rows` x `columns` tile of C (at most 12 x 32) with the smallest micro-kernel
    /// that covers it; a tile smaller than its kernel goes through `scratch` and is merged.
    @inline(__always)
    static func tile(
        rows: Int, columns: Int, kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
    ) {
        if rows == panelRows && columns == panelColumns {
            microKernel12x32(kc, a, b, c, ldc, alpha, beta)
            return
        }
        let kernelRows = rows <= 4 ? 4 : (rows <= 8 ? 8 : 12)
        let wide = columns > 16
        let exact = rows == kernelRows && columns == (wide ? 32 : 16)
        let target = exact ? c : scratch
        let ld = exact ? ldc : panelColumns
        let tileAlpha: Float = exact ? alpha : 1
        let tileBeta: Float = exact ? beta : 0
        switch (kernelRows, wide) {
        case (4, false): microKernel4x16(kc, a, b, target, ld, tileAlpha, tileBeta)
        case (4, true): microKernel4x32(kc, a, b, target, ld, tileAlpha, tileBeta)
        case (8, false): microKernel8x16(kc, a, b, target, ld, tileAlpha, tileBeta)
        case (8, true): microKernel8x32(kc, a, b, target, ld, tileAlpha, tileBeta)
        case (_, false): microKernel12x16(kc, a, b, target, ld, tileAlpha, tileBeta)
        default: microKernel12x32(kc, a, b, target, ld, tileAlpha, tileBeta)
        }
        if exact { return }
        for i in 0..<rows {
            let source = scratch + i * panelColumns, row = c + i * ldc
            if beta == 0 {
                for j in 0..<columns { row[j] = alpha * source[j] }
            } else {
                for j in 0..<columns { row[j] = alpha * source[j] + beta * row[j] }
            }
        }
    }

    /// The block length that splits `count` into the fewest blocks of at most `limit`, as equal
    /// as possible and rounded up to a multiple of `multiple`.
    static func balancedBlock(_ count: Int, limit: Int, multiple: Int) -> Int {
        let blocks = Swift.max(1, (count + limit - 1) / limit)
        return Swift.min(limit, roundUp((count + blocks - 1) / blocks, to: multiple))
    }

    /// `value` rounded up to a multiple of `multiple`.
    @inline(__always)
    static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
}

extension GEMM {
    /// For `bench`: a closure that runs the 12 x 32 micro-kernel `calls` times over `depth` steps
    /// on one packed A panel and `bPanels` packed B panels taken in turn (B's footprint,
    /// 128 · depth · bPanels bytes, decides whether it streams from L1, L2 or L3), into a 12 x 32
    /// tile of C that stays in L1. Nothing else is done: no packing and no traffic to a large C,
    /// so its speed is the kernel's alone, `2 · 12 · 32 · depth · calls` flops per run.
    public static func microKernelWorkload(depth: Int, bPanels: Int, calls: Int) -> @Sendable () -> Void {
        precondition(depth > 0 && bPanels > 0 && calls > 0, "microKernelWorkload: sizes must be positive")
        let buffers = MicroKernelBuffers(depth: depth, bPanels: bPanels)
        return {
            for call in 0..<calls {
                microKernel12x32(depth, buffers.a, buffers.b + (call % bPanels) * panelColumns * depth,
                                 buffers.c, panelColumns, 1, 0)
            }
        }
    }
}

/// The operands of `GEMM.microKernelWorkload`, freed with the closure that holds them.
private final class MicroKernelBuffers: @unchecked Sendable {
    // @unchecked: the closure that owns these buffers is run by one thread at a time.
    let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>

    init(depth: Int, bPanels: Int) {
        a = .allocate(capacity: GEMM.panelRows * depth)
        b = .allocate(capacity: GEMM.panelColumns * depth * bPanels)
        c = .allocate(capacity: GEMM.panelRows * GEMM.panelColumns)
        // Small values, so the sums stay finite however many calls run.
        for i in 0..<(GEMM.panelRows * depth) { a[i] = Float(i % 7) * 0.01 }
        for i in 0..<(GEMM.panelColumns * depth * bPanels) { b[i] = Float(i % 5) * 0.01 }
    }

    deinit { a.deallocate(); b.deallocate(); c.deallocate() }
}
