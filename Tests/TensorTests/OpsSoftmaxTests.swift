import Foundation
import Testing
import Tensor

/// Naive softmax along `axis` in Double: for each slice, e^(x − max) / Σ e^(x − max).
private func naiveSoftmax(_ t: Tensor, axis: Int, logarithm: Bool) -> [Double] {
    let a = axis < 0 ? axis + t.rank : axis
    var out = [Double](repeating: 0, count: t.count)
    var sliceShape = t.shape
    sliceShape[a] = 1
    for start in allIndices(sliceShape) {
        let positions = (0..<t.shape[a]).map { k -> [Int] in var i = start; i[a] = k; return i }
        let xs = positions.map { element(t, $0) }
        let m = xs.max()!
        let total = xs.reduce(0) { $0 + Foundation.exp($1 - m) }
        for (i, x) in zip(positions, xs) {
            out[rowMajorPosition(t.shape, i)] = logarithm ? x - m - Foundation.log(total) : Foundation.exp(x - m) / total
        }
    }
    return out
}

@Suite("Ops: softmax and log-softmax")
struct OpsSoftmaxTests {
    /// Values of order 1 after a few ULP-accurate exps: relative 2e-6, absolute 1e-7. Log-softmax
    /// subtracts log Σ, where Σ ≥ 1 is a Float sum of up to 21 terms carrying a few ULP of 1:
    /// its log is off by up to about 3·1.2e−7, so the absolute tolerance there is 4e−7.
    @Test(arguments: [0, 1, 2, -1], [false, true])
    func matchesNaiveReference(axis: Int, logarithm: Bool) {
        var random = OpsTestRandom(seed: 31)
        let shape = [3, 4, 21]
        let values = random.uniforms(3 * 4 * 21, -5, 5)
        for (name, t) in layouts(values, shape: shape) {
            let r = logarithm ? t.logSoftmax(axis: axis) : t.softmax(axis: axis)
            #expect(r.shape == shape)
            expectClose(r.scalars, naiveSoftmax(t, axis: axis, logarithm: logarithm), relative: 2e-6, absolute: logarithm ? 4e-7 : 1e-7, "\(name)")
        }
    }

    @Test func rowsSumToOne() {
        let t = randomTensor([64, 100], seed: 7, low: -20, high: 20)
        let s = t.softmax()
        for row in 0..<64 {
            let total = (0..<100).reduce(0.0) { $0 + Double(s[row, $1]) }
            #expect(Swift.abs(total - 1) < 1e-5)
        }
        #expect(s.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// Inputs near 1000 would overflow e^x; the max-shift makes them exact closed forms.
    @Test func stableForLargeInputs() {
        let t = Tensor(shape: [3], scalars: [1000, 1000, 0])
        expectClose(t.softmax().scalars, [0.5, 0.5, 0], relative: 1e-7)
        expectClose(t.logSoftmax().scalars, [-M_LN2, -M_LN2, -1000 - M_LN2], relative: 1e-7)
        let negative = Tensor(shape: [2], scalars: [-1000, -1001])
        expectClose(negative.logSoftmax().scalars, [-Foundation.log(1 + Foundation.exp(-1.0)), -1 - Foundation.log(1 + Foundation.exp(-1.0))], relative: 1e-6)
        // A −inf entry gets probability 0 and log-probability −inf.
        let masked = Tensor(shape: [3], scalars: [0, -.infinity, 0]).softmax()
        #expect(masked.scalars == [0.5, 0, 0.5])
    }

    @Test func broadcastViewAndRankZero() {
        let e = expandedTensor([5, 3, 18], axis: 2, seed: 1)  // constant along the last axis
        expectClose(e.softmax().scalars, [Double](repeating: 1.0 / 18, count: 5 * 3 * 18), relative: 1e-6)
        let f = expandedTensor([5, 3, 18], axis: 0, seed: 2)
        expectClose(f.softmax(axis: 1).scalars, naiveSoftmax(f, axis: 1, logarithm: false), relative: 2e-6, absolute: 1e-7)
        #expect(Tensor(Float(3)).softmax().item == 1)
        #expect(Tensor(Float(3)).logSoftmax().item == 0)
    }

    /// 40 rows of 4096 (attention-sized) take the threaded path.
    @Test func largeRowsTakeTheParallelPath() {
        let t = randomTensor([40, 4096], seed: 77, low: -8, high: 8)
        expectClose(t.softmax().scalars, naiveSoftmax(t, axis: -1, logarithm: false), relative: 2e-6, absolute: 1e-9)
        expectClose(t.logSoftmax().scalars, naiveSoftmax(t, axis: -1, logarithm: true), relative: 2e-6, absolute: 1e-6)
    }
}
