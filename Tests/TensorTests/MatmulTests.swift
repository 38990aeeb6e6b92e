import Dispatch
import Synchronization
import Testing
import Tensor

/// A tensor of uniform values in [-1, 1) drawn from a seeded generator.
func kernelTestTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SplitMix64(seed: seed)
    return Tensor(shape: shape) { buffer in
        for i in buffer.indices { buffer[i] = Float.random(in: -1..<1, using: &rng) }
    }
}

/// Checks two tensors have equal shapes and agree elementwise within `tolerance * (1 + |expected|)`.
///
/// Tolerance guide: a Float32 dot product of length k with inputs in [-1, 1] has rounding error
/// about `k * 2^-24` in the worst case and `sqrt(k) * 2^-24` typically; `1e-5 * sqrt(k)`-scale
/// bounds catch any indexing mistake (which produces O(1) errors) without failing on rounding.
func expectKernelClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let x = actual.scalars, y = expected.scalars
    var worst: Float = 0, worstIndex = 0
    for i in x.indices {
        let error = Swift.abs(x[i] - y[i]) / (1 + Swift.abs(y[i]))
        if !(error <= worst) { worst = error; worstIndex = i }
    }
    #expect(worst <= tolerance, "worst relative error \(worst) at \(worstIndex): \(x.isEmpty ? 0 : x[worstIndex]) vs \(y.isEmpty ? 0 : y[worstIndex])",
            sourceLocation: sourceLocation)
}

/// A product for `MatmulTests.blockBoundaries`: its size and the rows and columns whose entries
/// are checked (nil: every entry).
struct BlockCase: CustomTestStringConvertible, Sendable {
    let m: Int, n: Int, k: Int
    let rows: [Int]?, columns: [Int]?
    var testDescription: String {
        "\(m)x\(k)·\(k)x\(n), " + (rows.map { "rows \($0) and columns \(columns ?? [])" } ?? "every entry")
    }
}

@Suite("Matmul: packed SIMD GEMM against the reference triple loop")
struct MatmulTests {
    static let edgeSizes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 1), (7, 1, 7), (1, 33, 65), (12, 32, 16), (13, 33, 17),
        (33, 65, 7), (65, 33, 129), (24, 64, 385), (100, 70, 400), (7, 200, 33), (197, 45, 12), (20, 530, 10),
    ]

    @Test(arguments: edgeSizes)
    func matrixTimesMatrix(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let a = kernelTestTensor([m, k], seed: 1), b = kernelTestTensor([k, n], seed: 2)
        expectKernelClose(a.matmul(b), Reference.matmul(a, b), tolerance: 1e-5)
    }

    @Test(arguments: edgeSizes)
    func transposedViewsNeedNoCopy(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let at = kernelTestTensor([k, m], seed: 3).transposed(), bt = kernelTestTensor([n, k], seed: 4).transposed()
        let a = at.contiguous(), b = bt.contiguous()
        let reference = Reference.matmul(a, b)
        expectKernelClose(at.matmul(b), reference, tolerance: 1e-5)
        expectKernelClose(a.matmul(bt), reference, tolerance: 1e-5)
        expectKernelClose(at.matmul(bt), reference, tolerance: 1e-5)
    }

    /// Products past the driver's block boundaries, on one thread (so the rows are not first
    /// split between threads) and through `matmul` (on every thread). k = 2100 makes two depth
    /// blocks of 1050 (the second adds into C). At that depth 1000 columns exceed one packed-B
    /// block, so they take two (0..<512, 512..<1000), and rows are then blocked by the packed-A
    /// budget: 2424 rows, so 2430 rows take two row blocks, the second a partial panel of 6.
    /// 545 columns fit one block: a single sweep, A packed panel by panel. Both layouts of each
    /// operand are used: row-major A and column-major B are packed by the in-register transpose,
    /// the other two by plain copies. Entries on the boundary rows and columns are checked (all
    /// entries for the small product) against sums in Double.
    @Test(arguments: [
        BlockCase(m: 2430, n: 1000, k: 2100, rows: [0, 1, 11, 12, 1211, 2423, 2424, 2425, 2429],
                  columns: [0, 31, 32, 500, 511, 512, 513, 999]),
        BlockCase(m: 30, n: 545, k: 2100, rows: nil, columns: nil),
    ])
    func blockBoundaries(_ shape: BlockCase) {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        let a = kernelTestTensor([m, k], seed: 21), b = kernelTestTensor([k, n], seed: 22)
        let x = a.scalars, y = b.scalars
        let rowSet = Set(shape.rows ?? []), columnSet = Set(shape.columns ?? [])
        let entries = (0..<m).flatMap { i in
            (0..<n).filter { j in shape.rows == nil || rowSet.contains(i) || columnSet.contains(j) }.map { (i, $0) }
        }
        // The error is measured against Σ|terms| (about 525 here): Float rounding in the kernel
        // measures ~1e-7, a single misplaced term would cost ~5e-4 and a lost depth block ~3e-2.
        var exact = [Float](), magnitudes = [Double]()
        for (i, j) in entries {
            var sum = 0.0, magnitude = 0.0
            for p in 0..<k {
                let term = Double(x[i * k + p]) * Double(y[p * n + j])
                sum += term
                magnitude += Swift.abs(term)
            }
            exact.append(Float(sum))
            magnitudes.append(magnitude)
        }
        let reference = Tensor(shape: [entries.count], scalars: exact)
        func checked(_ c: Tensor) -> Tensor {
            let values = c.scalars
            return Tensor(shape: [entries.count], scalars: entries.map { values[$0.0 * n + $0.1] })
        }
        expectSumsClose(checked(a.matmul(b)), reference, magnitudes: magnitudes, tolerance: 1e-6, "matmul")
        let storedA = [a, a.transposed().contiguous()], storedB = [b, b.transposed().contiguous()]
        for (ta, tb) in [(false, false), (true, true)] {
            var c = Tensor(shape: [m, n])
            storedA[ta ? 1 : 0].withUnsafeBufferPointer { pa in
                storedB[tb ? 1 : 0].withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        GEMM.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 1,
                                   a: pa.baseAddress!, lda: ta ? m : k, b: pb.baseAddress!, ldb: tb ? k : n,
                                   beta: 0, c: pc.baseAddress!, ldc: n, threads: 1)
                    }
                }
            }
            expectSumsClose(checked(c), reference, magnitudes: magnitudes, tolerance: 1e-6,
                            "one thread, transposeA \(ta), transposeB \(tb)")
        }
    }

    /// Products started from several threads at once each borrow their own packing workspace
    /// (`GEMMWorkspace`): sharing one would mix their packed panels. The shapes differ, so
    /// workspaces are also regrown while others are in use.
    @Test func concurrentProductsUseSeparateWorkspaces() {
        let shapes = (0..<8).map { (24 + 12 * $0, 40 + 32 * ($0 % 3), 64 + 48 * $0) }
        let inputs = shapes.enumerated().map { index, shape in
            (kernelTestTensor([shape.0, shape.2], seed: UInt64(30 + index)),
             kernelTestTensor([shape.2, shape.1], seed: UInt64(40 + index)))
        }
        let references = inputs.map { Reference.matmul($0.0, $0.1) }
        // Errors are gathered and checked on the test's own thread (an expectation recorded on a
        // Dispatch thread loses track of its test).
        let worst = Mutex([Float](repeating: 0, count: 32 * shapes.count))
        DispatchQueue.concurrentPerform(iterations: 32 * shapes.count) { task in
            let index = task % shapes.count
            let x = inputs[index].0.matmul(inputs[index].1).scalars, y = references[index].scalars
            let error = zip(x, y).map { Swift.abs($0 - $1) / (1 + Swift.abs($1)) }.max() ?? .infinity
            worst.withLock { $0[task] = x.count == y.count ? error : .infinity }
        }
        let errors = worst.withLock { $0 }
        #expect(errors.allSatisfy { $0 <= 1e-5 }, "worst relative error \(errors.max() ?? 0)")
    }

    @Test func stridedSlicesAndSteps() {
        let big = kernelTestTensor([40, 50], seed: 5)
        let a = big.sliced(axis: 0, start: 3, end: 30, step: 2).sliced(axis: 1, start: 1, end: 41)  // [14, 40]
        let b = big.sliced(axis: 1, start: 0, end: 50, step: 3).sliced(axis: 0, 0..<40)             // [40, 17]
        expectKernelClose(a.matmul(b), Reference.matmul(a.contiguous(), b.contiguous()), tolerance: 1e-5)
    }

    @Test func vectorCases() {
        let v = kernelTestTensor([9], seed: 6), w = kernelTestTensor([9], seed: 7), m = kernelTestTensor([9, 5], seed: 8)
        let dot = v.matmul(w)
        #expect(dot.shape == [])
        var expected = 0.0
        for i in 0..<9 { expected += Double(v[i]) * Double(w[i]) }
        #expect(Swift.abs(dot.item - Float(expected)) < 1e-5)
        let vm = v.matmul(m)
        #expect(vm.shape == [5])
        expectKernelClose(vm, Reference.matmul(v.unsqueezed(axis: 0), m).squeezed(axis: 0), tolerance: 1e-5)
        let mv = m.transposed().matmul(v)
        #expect(mv.shape == [5])
        expectKernelClose(mv, Reference.matmul(m.transposed().contiguous(), v.unsqueezed(axis: 1)).squeezed(axis: 1), tolerance: 1e-5)
        let batchedVector = kernelTestTensor([3, 4, 9], seed: 9).matmul(v)
        #expect(batchedVector.shape == [3, 4])
        let vectorBatched = v.matmul(kernelTestTensor([2, 9, 6], seed: 10))
        #expect(vectorBatched.shape == [2, 6])
    }

    @Test(arguments: [
        ([2, 3, 5, 7], [2, 3, 7, 4]), ([2, 1, 5, 7], [3, 7, 4]), ([5, 7], [4, 7, 13]),
        ([4, 33, 20], [20, 40]), ([1, 6, 8], [3, 1, 8, 35]),
    ])
    func batchedBroadcast(shapes: ([Int], [Int])) {
        let a = kernelTestTensor(shapes.0, seed: 11), b = kernelTestTensor(shapes.1, seed: 12)
        let product = a.matmul(b)
        let reference = Reference.matmul(a, b)
        expectKernelClose(product, reference, tolerance: 1e-5)
        // Independent check of the broadcasting rule on one batch entry: the last entry.
        let batch = Array(product.shape.dropLast(2))
        #expect(batch == Tensor.broadcastShape(Array(shapes.0.dropLast(2)), Array(shapes.1.dropLast(2))))
    }

    @Test func batchedTransposedViewsUseEveryThreadPath() {
        // Many small products (one thread per product) and one large product (threads inside it).
        let q = kernelTestTensor([16, 20, 8], seed: 13), k = kernelTestTensor([16, 24, 8], seed: 14)
        expectKernelClose(q.matmul(k.transposed()), Reference.matmul(q, k.transposed().contiguous()), tolerance: 1e-5)
        let a = kernelTestTensor([150, 130], seed: 15), b = kernelTestTensor([140, 130], seed: 16)
        expectKernelClose(a.matmul(b.transposed()), Reference.matmul(a, b.transposed().contiguous()), tolerance: 2e-5)
    }

    @Test func emptyDimensions() {
        #expect(kernelTestTensor([0, 4], seed: 1).matmul(kernelTestTensor([4, 3], seed: 2)).shape == [0, 3])
        let zeroDepth = Tensor(shape: [3, 0]).matmul(Tensor(shape: [0, 2]))
        #expect(zeroDepth.shape == [3, 2])
        #expect(zeroDepth.scalars == [Float](repeating: 0, count: 6))
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sgemmAlphaBetaAndLeadingDimensions(transposes: (Bool, Bool)) {
        let (ta, tb) = transposes
        let m = 29, n = 37, k = 45, lda = 50, ldb = 51, ldc = 40
        let aStored = kernelTestTensor([ta ? k : m, lda], seed: 17)
        let bStored = kernelTestTensor([tb ? n : k, ldb], seed: 18)
        let c0 = kernelTestTensor([m, ldc], seed: 19)
        for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
            var c = c0
            aStored.withUnsafeBufferPointer { pa in
                bStored.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        GEMM.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha,
                                   a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: beta,
                                   c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
            var a = aStored.sliced(axis: 1, 0..<(ta ? m : k))
            if ta { a = a.transposed() }
            var b = bStored.sliced(axis: 1, 0..<(tb ? k : n))
            if tb { b = b.transposed() }
            let product = Reference.matmul(a.contiguous(), b.contiguous())
            for i in 0..<m {
                for j in 0..<ldc {
                    let expected = j < n ? alpha * product[i, j] + beta * c0[i, j] : c0[i, j]
                    #expect(Swift.abs(c[i, j] - expected) <= 1e-5 * (1 + Swift.abs(expected)), "C[\(i), \(j)]")
                }
            }
        }
    }
}
