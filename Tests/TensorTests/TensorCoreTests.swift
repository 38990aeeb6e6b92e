import Testing
import Tensor

/// Naive reference: the element at a multi-index computed from shape alone (row-major).
private func rowMajor(_ shape: [Int], _ index: [Int]) -> Int {
    var position = 0
    for (size, i) in zip(shape, index) { position = position * size + i }
    return position
}

@Suite("Tensor core: storage, views, broadcasting")
struct TensorCoreTests {
    @Test func contiguousStridesAndCount() {
        let t = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        #expect(t.strides == [12, 4, 1])
        #expect(t.count == 24)
        #expect(t.isContiguous)
        #expect(t[1, 2, 3] == 23)
    }

    @Test func copyOnWriteKeepsValueSemantics() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        var b = a
        b[0] = 10
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [10, 2, 3])
        // A view shares storage; writing to it must not change the original either.
        var view = a.transposed(0, 0)
        view[2] = -1
        #expect(a.scalars == [1, 2, 3])
    }

    @Test func permuteMatchesNaiveIndexing() {
        let shape = [2, 3, 4]
        let t = Tensor(shape: shape, scalars: (0..<24).map(Float.init))
        let p = t.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(!p.isContiguous)
        for i in 0..<4 { for j in 0..<2 { for k in 0..<3 {
            #expect(p[i, j, k] == Float(rowMajor(shape, [j, k, i])))
        } } }
        #expect(p.contiguous().scalars == p.scalars)
    }

    /// A copy large enough to be split between threads (75,600 elements, runs of 70 strided
    /// reads), and a sliced one with contiguous runs, against the index formula.
    @Test func largeNonContiguousCopiesMatchIndexing() {
        let shape = [3, 70, 40, 9]
        let t = Tensor(shape: shape, scalars: (0..<(3 * 70 * 40 * 9)).map(Float.init))
        let p = t.permuted([0, 2, 3, 1]).contiguous()
        #expect(p.shape == [3, 40, 9, 70])
        var expected = [Float]()
        for n in 0..<3 { for y in 0..<40 { for x in 0..<9 { for c in 0..<70 {
            expected.append(Float(rowMajor(shape, [n, c, y, x])))
        } } } }
        #expect(p.scalars == expected)
        let s = t.sliced(axis: 2, 5..<37).contiguous()
        var slice = [Float]()
        for n in 0..<3 { for c in 0..<70 { for y in 5..<37 { for x in 0..<9 { slice.append(Float(rowMajor(shape, [n, c, y, x]))) } } } }
        #expect(s.scalars == slice)
    }

    @Test func slicesWithStepAndNegativeBounds() {
        let t = Tensor(shape: [10], scalars: (0..<10).map(Float.init))
        #expect(t.sliced(axis: 0, start: 1, end: 8, step: 3).scalars == [1, 4, 7])
        #expect(t.sliced(axis: 0, start: -3).scalars == [7, 8, 9])
        let m = Tensor(shape: [3, 4], scalars: (0..<12).map(Float.init))
        #expect(m.sliced(axis: 1, 1..<3).scalars == [1, 2, 5, 6, 9, 10])
        #expect(m[index: 2].scalars == [8, 9, 10, 11])
    }

    @Test func reshapeOfNonContiguousCopies() {
        let m = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        let r = m.transposed().reshaped([-1])
        #expect(r.scalars == [0, 3, 1, 4, 2, 5])
        #expect(m.reshaped([3, -1]).shape == [3, 2])
    }

    @Test func squeezeUnsqueezeExpand() {
        let v = Tensor(shape: [3], scalars: [1, 2, 3])
        let col = v.unsqueezed(axis: 1)
        #expect(col.shape == [3, 1])
        let e = col.expanded(to: [2, 3, 4])
        #expect(e.shape == [2, 3, 4])
        #expect(e[1, 2, 3] == 3)
        #expect(e.strides[0] == 0 && e.strides[2] == 0)
        #expect(col.squeezed().shape == [3])
    }

    @Test(arguments: [
        ([2, 3], [3], [2, 3]), ([4, 1, 5], [3, 1], [4, 3, 5]), ([1], [7, 2], [7, 2]), ([], [2, 2], [2, 2]),
    ])
    func broadcastShapes(a: [Int], b: [Int], expected: [Int]) {
        #expect(Tensor.broadcastShape(a, b) == expected)
    }

    @Test func incompatibleShapesDoNotBroadcast() {
        #expect(Tensor.broadcastShape([2, 3], [4]) == nil)
    }

    @Test func broadcastArithmeticMatchesNaiveLoops() {
        let a = Tensor(shape: [4, 1, 5], scalars: (0..<20).map { Float($0) * 0.5 })
        let b = Tensor(shape: [3, 1], scalars: [1, -2, 3])
        let c = a * b + 1
        #expect(c.shape == [4, 3, 5])
        for i in 0..<4 { for j in 0..<3 { for k in 0..<5 {
            #expect(c[i, j, k] == a[i, 0, k] * b[j, 0] + 1)
        } } }
        // Non-contiguous operands take the strided path.
        let t = a.reshaped([4, 5]).transposed()
        let d = t - t
        #expect(d.scalars.allSatisfy { $0 == 0 })
    }

    @Test func vectorizedArithmeticMatchesScalarLoops() {
        // Large enough for several threads and a ragged 16-lane tail.
        let n = 3 * (1 << 16) + 5
        let a = Tensor(shape: [n], scalars: (0..<n).map { Float($0 % 97) * 0.25 - 7 })
        let b = Tensor(shape: [n], scalars: (0..<n).map { Float($0 % 89) * 0.5 + 1 })
        let av = a.scalars, bv = b.scalars
        #expect((a + b).scalars == zip(av, bv).map { $0 + $1 })
        #expect((a - b).scalars == zip(av, bv).map { $0 - $1 })
        #expect((a * b).scalars == zip(av, bv).map { $0 * $1 })
        #expect((a / b).scalars == zip(av, bv).map { $0 / $1 })
        #expect((2 - a).scalars == av.map { 2 - $0 })
        #expect((a / 3).scalars == av.map { $0 / 3 })
        #expect((Tensor(shape: [1, 1], scalars: [2]) * Tensor(4)).shape == [1, 1])
    }

    /// A per-channel operand broadcast over trailing axes ([N, C, 1, 1] or [C, 1, 1] against
    /// [N, C, H, W], on either side, runs of 16 lanes plus a tail) against scalar loops.
    @Test(arguments: [[2, 3, 1, 1], [3, 1, 1], [2, 3, 5, 1], [1, 3, 1, 1]])
    func trailingBroadcastMatchesScalarLoops(smallShape: [Int]) {
        let shape = [2, 3, 5, 7]
        let full = Tensor(shape: shape, scalars: (0..<210).map { Float($0 % 23) * 0.75 - 4 })
        let count = smallShape.reduce(1, *)
        let small = Tensor(shape: smallShape, scalars: (0..<count).map { Float($0) * 1.5 + 0.5 })
        // The small operand's element for a full index (n, c, y, x), by its own shape.
        let padded = [Int](repeating: 1, count: 4 - smallShape.count) + smallShape
        func value(_ index: [Int]) -> Float {
            var position = 0
            for (size, i) in zip(padded, index) { position = position * size + (size == 1 ? 0 : i) }
            return small.scalars[position]
        }
        let sums = (full + small).scalars, differences = (small - full).scalars
        let products = (full * small).scalars, quotients = (small / full).scalars
        var k = 0
        for n in 0..<2 { for c in 0..<3 { for y in 0..<5 { for x in 0..<7 {
            let f = full.scalars[k], v = value([n, c, y, x])
            #expect(sums[k] == f + v && differences[k] == v - f && products[k] == f * v && quotients[k] == v / f)
            k += 1
        } } } }
    }

    @Test func parallelForVisitsEveryIndexOnce() {
        let n = 1000
        let flags = TensorStorage(count: n, repeating: 0)
        nonisolated(unsafe) let p = flags.pointer  // each index writes only its own element
        parallelFor(n) { p[$0] += 1 }
        parallelFor(chunking: n, minimumChunk: 7) { range in for i in range { p[i] += 1 } }
        #expect((0..<n).allSatisfy { flags.pointer[$0] == 2 })
    }
}
