import Foundation
import Testing
import Tensor

/// Axis sets covering: all axes (nil), none, the last axis (row path), the first axis (column
/// path), a middle axis, two non-adjacent axes (permute path), and negative axes.
let reductionAxisSets: [[Int]?] = [nil, [], [0], [-1], [1], [0, 2], [1, 2], [0, 1, 2], [-3, -2]]

@Suite("Ops: reductions")
struct OpsReductionTests {
    static let shape = [3, 5, 17]
    static var values: [Float] { var r = OpsTestRandom(seed: 21); return r.uniforms(3 * 5 * 17, -2, 3) }

    /// Sums of up to 255 values of order 1 in Float blocks: relative 1e-6 plus absolute 1e-5
    /// (the result may be near zero after cancellation; ~255 · ε · 3).
    @Test(arguments: reductionAxisSets)
    func sumAndMeanMatchNaiveLoops(axes: [Int]?) {
        for (name, t) in layouts(Self.values, shape: Self.shape) {
            for keep in [false, true] {
                let expected = naiveReduce(t, axes: axes, keepingDims: keep, initial: 0, +)
                let s = t.sum(axes: axes, keepingDims: keep)
                #expect(s.shape == expected.shape, "\(name)")
                expectClose(s.scalars, expected.values, relative: 1e-6, absolute: 1e-5, "sum \(name)")
                let n = Double(t.count / Swift.max(expected.values.count, 1))
                let m = t.mean(axes: axes, keepingDims: keep)
                #expect(m.shape == expected.shape)
                expectClose(m.scalars, expected.values.map { $0 / n }, relative: 1e-6, absolute: 1e-6, "mean \(name)")
            }
        }
    }

    /// max and min are exact.
    @Test(arguments: reductionAxisSets)
    func maxAndMinMatchNaiveLoops(axes: [Int]?) {
        for (name, t) in layouts(Self.values, shape: Self.shape) {
            for keep in [false, true] {
                let maxRef = naiveReduce(t, axes: axes, keepingDims: keep, initial: -.infinity) { Swift.max($0, $1) }
                let minRef = naiveReduce(t, axes: axes, keepingDims: keep, initial: .infinity) { Swift.min($0, $1) }
                let mx = t.max(axes: axes, keepingDims: keep), mn = t.min(axes: axes, keepingDims: keep)
                #expect(mx.shape == maxRef.shape && mn.shape == minRef.shape)
                #expect(mx.scalars.map(Double.init) == maxRef.values, "max \(name)")
                #expect(mn.scalars.map(Double.init) == minRef.values, "min \(name)")
            }
        }
    }

    /// Two-pass Double reference; values of order 1, so absolute 1e-6 covers Float rounding.
    @Test(arguments: reductionAxisSets.filter { $0 != [] }, [0, 1])
    func varianceMatchesTwoPassReference(axes: [Int]?, correction: Int) {
        for (name, t) in layouts(Self.values, shape: Self.shape) {
            let sums = naiveReduce(t, axes: axes, keepingDims: true, initial: 0, +)
            let n = t.count / sums.values.count
            let means = sums.values.map { $0 / Double(n) }
            let keptShape = sums.shape
            let reduced = Set((axes ?? Array(0..<3)).map { $0 < 0 ? $0 + 3 : $0 })
            var squares = [Double](repeating: 0, count: means.count)
            for index in allIndices(t.shape) {
                let p = rowMajorPosition(keptShape, index.enumerated().map { reduced.contains($0.offset) ? 0 : $0.element })
                let d = element(t, index) - means[p]
                squares[p] += d * d
            }
            let v = t.variance(axes: axes, correction: correction, keepingDims: true)
            #expect(v.shape == keptShape)
            expectClose(v.scalars, squares.map { $0 / Double(n - correction) }, relative: 1e-6, absolute: 1e-6, "\(name)")
        }
    }

    /// The textbook set {2, 4, 4, 4, 5, 5, 7, 9}: mean 5, population variance 4, sample 32/7.
    @Test func varianceOfAKnownSet() {
        let t = Tensor(shape: [8], scalars: [2, 4, 4, 4, 5, 5, 7, 9])
        #expect(t.mean().item == 5)
        #expect(t.variance().item == 4)
        expectClose([t.variance(correction: 1).item], [32.0 / 7.0], relative: 1e-7)
        // Shifting by 1e4 must not change it (a one-pass E[x²] − E[x]² would lose it in Float).
        expectClose([(t + 10_000).variance().item], [4], relative: 1e-6)
    }

    @Test func broadcastViewsReduceLikeTheirValues() {
        let e = expandedTensor([6, 4, 9], axis: 0, seed: 8)
        for axes in reductionAxisSets {
            let expected = naiveReduce(e, axes: axes, keepingDims: false, initial: 0, +)
            expectClose(e.sum(axes: axes).scalars, expected.values, relative: 1e-6, absolute: 1e-5, "axes \(String(describing: axes))")
        }
    }

    @Test func rankZeroAndSizeOneAxes() {
        let s = Tensor(Float(2.5))
        #expect(s.sum().shape == [] && s.sum().item == 2.5)
        #expect(s.max().item == 2.5 && s.mean(keepingDims: true).shape == [])
        let t = randomTensor([1, 4, 1, 3], seed: 2)
        let expected = naiveReduce(t, axes: [1, 3], keepingDims: true, initial: 0, +)
        expectClose(t.sum(axes: [1, 3], keepingDims: true).scalars, expected.values, relative: 1e-6, absolute: 1e-6)
        #expect(t.sum(axes: [1, 3], keepingDims: true).shape == [1, 1, 1, 1])
        #expect(Tensor.zeros([0, 3]).sum(axes: [0]).scalars == [0, 0, 0])
    }

    /// Large inputs take the threaded paths: one long row (split into chunks), many rows, and
    /// column sums with a wide inner block. The reference adds the same Floats in Double; the
    /// blocked scheme keeps the relative error near 1e-7 even for a million terms.
    @Test(arguments: [[1_000_003], [300, 1000], [5, 40_000]])
    func largeReductionsStayAccurate(shape: [Int]) {
        let t = randomTensor(shape, seed: 99, low: 0, high: 1)
        let values = t.scalars
        let total = values.reduce(0.0) { $0 + Double($1) }
        expectClose([t.sum().item], [total], relative: 1e-6)
        expectClose([t.mean().item], [total / Double(values.count)], relative: 1e-6)
        #expect(Double(t.max().item) == values.map(Double.init).max()!)
        #expect(Double(t.min().item) == values.map(Double.init).min()!)
        for axis in 0..<shape.count where shape.count > 1 {
            let expected = naiveReduce(t, axes: [axis], keepingDims: false, initial: 0, +)
            expectClose(t.sum(axes: [axis]).scalars, expected.values, relative: 1e-6, "axis \(axis)")
            let maxRef = naiveReduce(t, axes: [axis], keepingDims: false, initial: -.infinity) { Swift.max($0, $1) }
            #expect(t.max(axes: [axis]).scalars.map(Double.init) == maxRef.values)
        }
    }

    @Test func maxAndMinPropagateNaN() {
        let t = Tensor(shape: [2, 20], scalars: (0..<40).map { $0 == 25 ? .nan : Float($0) })
        let mx = t.max(axes: [1]).scalars, mn = t.min(axes: [0]).scalars
        #expect(mx[0] == 19 && mx[1].isNaN)
        #expect(mn[5].isNaN && mn[4] == 4)
        #expect(t.max().item.isNaN)
    }

    @Test(arguments: [0, 1, 2, -1])
    func argmaxMatchesNaiveLoops(axis: Int) {
        // Small integers make ties common: the first index must win.
        var random = OpsTestRandom(seed: 4)
        let values = (0..<(4 * 6 * 5)).map { _ in Float(Int(random.uniform(0, 4))) }
        for (name, t) in layouts(values, shape: [4, 6, 5]) {
            let a = axis < 0 ? axis + 3 : axis
            var outShape = t.shape
            outShape.remove(at: a)
            var expected = [Double]()
            for index in allIndices(outShape) {
                var best = -Double.infinity, bestIndex = 0
                for k in 0..<t.shape[a] {
                    var full = index
                    full.insert(k, at: a)
                    if element(t, full) > best { best = element(t, full); bestIndex = k }
                }
                expected.append(Double(bestIndex))
            }
            #expect(t.argmax(axis: axis).scalars.map(Double.init) == expected, "\(name)")
            #expect(t.argmax(axis: axis, keepingDims: true).shape == t.shape.enumerated().map { $0.offset == a ? 1 : $0.element })
        }
        let withNaN = Tensor(shape: [5], scalars: [1, 7, .nan, 9, .nan])
        #expect(withNaN.argmax(axis: 0).item == 2)
    }

    @Test(arguments: reductionAxisSets.compactMap { $0 }.filter { !$0.isEmpty })
    func logSumExpMatchesNaiveLoops(axes: [Int]) {
        for (name, t) in layouts(Self.values, shape: Self.shape) {
            let expected = naiveReduce(t, axes: axes, keepingDims: false, initial: 0) { $0 + Foundation.exp($1) }
            let r = t.logSumExp(axes: axes)
            #expect(r.shape == expected.shape)
            expectClose(r.scalars, expected.values.map { Foundation.log($0) }, relative: 1e-6, absolute: 1e-6, "\(name)")
        }
    }

    /// log(e^1000 + e^1000) = 1000 + log 2 without overflow; −inf rows stay −inf.
    @Test func logSumExpIsStable() {
        let t = Tensor(shape: [3, 2], scalars: [1000, 1000, -1000, -1000, -.infinity, -.infinity])
        let r = t.logSumExp(axes: [1]).scalars
        expectClose(Array(r[0..<2]), [1000 + M_LN2, -1000 + M_LN2], relative: 1e-7)
        #expect(r[2] == -.infinity)
        #expect(t.logSumExp(axes: [1], keepingDims: true).shape == [3, 1])
    }
}
