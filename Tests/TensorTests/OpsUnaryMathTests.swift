import Foundation
import Testing
import Tensor

/// One unary op under test with its Double reference and tolerance (see Support/Tolerance.swift).
struct UnaryCase: CustomTestStringConvertible, Sendable {
    let name: String
    let op: @Sendable (Tensor) -> Tensor
    let reference: @Sendable (Double) -> Double
    /// Inputs are drawn uniformly from this range.
    let low: Float, high: Float
    let relative: Double, absolute: Double
    var testDescription: String { name }
}

private func gaussianCDF(_ x: Double) -> Double { 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) }

/// Vector polynomials (exp, tanh, erf) and libm calls are a few ULP from the Double value:
/// relative 2e-6 (≈ 32 ULP at most, with margin for the x·f(x) products of SiLU/GELU) plus an
/// absolute 1e-7 for results near zero. GELU for negative x is ½x(1 + erf(x/√2)), where
/// 1 + erf cancels: the erf value near −1 carries about 2 ULP of 1 (2.4e−7), so the error is
/// up to ½|x|·2.4e−7 ≈ 1e−6 for |x| ≤ 8 (PyTorch evaluates the same form and shares it).
let unaryCases: [UnaryCase] = [
    UnaryCase(name: "exp", op: { $0.exp() }, reference: { Foundation.exp($0) }, low: -80, high: 80, relative: 2e-6, absolute: 0),
    UnaryCase(name: "log", op: { $0.log() }, reference: { Foundation.log($0) }, low: 1e-3, high: 100, relative: 1e-6, absolute: 1e-7),
    UnaryCase(name: "sqrt", op: { $0.sqrt() }, reference: { $0.squareRoot() }, low: 0, high: 100, relative: 1e-7, absolute: 0),
    UnaryCase(name: "rsqrt", op: { $0.rsqrt() }, reference: { 1 / $0.squareRoot() }, low: 1e-3, high: 100, relative: 2e-7, absolute: 0),
    UnaryCase(name: "tanh", op: { $0.tanh() }, reference: { Foundation.tanh($0) }, low: -6, high: 6, relative: 2e-6, absolute: 1e-7),
    UnaryCase(name: "sin", op: { $0.sin() }, reference: { Foundation.sin($0) }, low: -10, high: 10, relative: 1e-6, absolute: 1e-7),
    UnaryCase(name: "cos", op: { $0.cos() }, reference: { Foundation.cos($0) }, low: -10, high: 10, relative: 1e-6, absolute: 1e-7),
    UnaryCase(name: "abs", op: { $0.abs() }, reference: { Swift.abs($0) }, low: -5, high: 5, relative: 0, absolute: 0),
    UnaryCase(name: "square", op: { $0.square() }, reference: { $0 * $0 }, low: -5, high: 5, relative: 1e-7, absolute: 0),
    UnaryCase(name: "pow 3", op: { $0.pow(3) }, reference: { Foundation.pow($0, 3) }, low: -5, high: 5, relative: 1e-6, absolute: 0),
    UnaryCase(name: "pow 1.5", op: { $0.pow(1.5) }, reference: { Foundation.pow($0, 1.5) }, low: 0, high: 5, relative: 1e-6, absolute: 0),
    UnaryCase(name: "pow 0.5", op: { $0.pow(0.5) }, reference: { $0.squareRoot() }, low: 0, high: 5, relative: 1e-7, absolute: 0),
    UnaryCase(name: "pow -0.5", op: { $0.pow(-0.5) }, reference: { 1 / $0.squareRoot() }, low: 0.01, high: 5, relative: 2e-7, absolute: 0),
    UnaryCase(name: "pow 1", op: { $0.pow(1) }, reference: { $0 }, low: -5, high: 5, relative: 0, absolute: 0),
    UnaryCase(name: "relu", op: { $0.relu() }, reference: { Swift.max($0, 0) }, low: -5, high: 5, relative: 0, absolute: 0),
    UnaryCase(name: "sigmoid", op: { $0.sigmoid() }, reference: { 1 / (1 + Foundation.exp(-$0)) }, low: -30, high: 30, relative: 2e-6, absolute: 0),
    UnaryCase(name: "silu", op: { $0.silu() }, reference: { $0 / (1 + Foundation.exp(-$0)) }, low: -30, high: 30, relative: 2e-6, absolute: 1e-7),
    UnaryCase(name: "gelu", op: { $0.gelu() }, reference: { $0 * gaussianCDF($0) }, low: -8, high: 8, relative: 2e-6, absolute: 1e-6),
    UnaryCase(name: "gelu tanh", op: { $0.gelu(approximation: .tanh) },
              reference: { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) },
              low: -8, high: 8, relative: 2e-6, absolute: 1e-6),
    UnaryCase(name: "clamped", op: { $0.clamped(min: -0.5, max: 0.25) }, reference: { Swift.min(Swift.max($0, -0.5), 0.25) },
              low: -1, high: 1, relative: 0, absolute: 0),
    UnaryCase(name: "clamped min", op: { $0.clamped(min: 0.125) }, reference: { Swift.max($0, 0.125) }, low: -1, high: 1, relative: 0, absolute: 0),
    UnaryCase(name: "clamped max", op: { $0.clamped(max: 0.125) }, reference: { Swift.min($0, 0.125) }, low: -1, high: 1, relative: 0, absolute: 0),
]

@Suite("Ops: unary math")
struct OpsUnaryMathTests {
    /// Every layout of a [3, 7, 5] tensor (105 elements: 6 full vectors and a partial one).
    @Test(arguments: unaryCases)
    func matchesDoubleReferenceOnEveryLayout(_ c: UnaryCase) {
        let shape = [3, 7, 5]
        var random = OpsTestRandom(seed: 11)
        let values = random.uniforms(105, c.low, c.high)
        for (name, t) in layouts(values, shape: shape) {
            let result = c.op(t)
            #expect(result.shape == shape)
            #expect(result.isContiguous)
            expectClose(result.scalars, values.map { c.reference(Double($0)) }, relative: c.relative, absolute: c.absolute, "\(c.name), \(name)")
        }
    }

    /// Above 64K elements the work is split across threads; chunk edges must not matter.
    @Test(arguments: unaryCases.filter { ["exp", "silu", "gelu", "log"].contains($0.name) })
    func largeTensorsTakeTheParallelPath(_ c: UnaryCase) {
        let t = randomTensor([70_001], seed: 5, low: c.low, high: c.high)
        expectClose(c.op(t).scalars, t.scalars.map { c.reference(Double($0)) }, relative: c.relative, absolute: c.absolute)
    }

    @Test func broadcastViewsAndRankZero() {
        let e = expandedTensor([4, 3, 6], axis: 1, seed: 3)
        expectClose(e.exp().scalars, naiveScalars(e).map { Foundation.exp($0) }, relative: 2e-6)
        let s = Tensor(Float(0.5))
        #expect(s.exp().shape == [])
        expectClose(s.exp().scalars, [Foundation.exp(0.5)], relative: 2e-6)
    }

    /// exp across the whole Float range: overflow to inf past ln(FLT_MAX) ≈ 88.72, gradual
    /// underflow, and IEEE special values.
    @Test func expSpecialValuesAndRange() {
        let grid = stride(from: -87.0, through: 88.7, by: 0.173).map { Float($0) }
        expectClose(Tensor(shape: [grid.count], scalars: grid).exp().scalars, grid.map { Foundation.exp(Double($0)) }, relative: 2e-6)
        let special: [Float] = [88.8, 1000, .infinity, -.infinity, -1000, -104, 0, -0.0]
        let r = Tensor(shape: [special.count], scalars: special + []).exp().scalars
        #expect(r == [.infinity, .infinity, .infinity, 0, 0, 0, 1, 1])
        #expect(Tensor(shape: [1], scalars: [.nan]).exp().scalars[0].isNaN)
        // A subnormal result: e^−100 ≈ 3.72e−44 is a few units of the smallest subnormal (1.4e−45).
        let tiny = Tensor(shape: [1], scalars: [-100]).exp().item
        #expect(Swift.abs(Double(tiny) - Foundation.exp(-100.0)) <= 1.5e-45)
    }

    /// Closed forms: Φ(1) = 0.8413447460685429…, GELU(0) = 0, σ(0) = ½, tanh saturates to ±1.
    @Test func closedFormPoints() {
        let x = Tensor(shape: [3], scalars: [-1, 0, 1])
        expectClose(x.gelu().scalars, [-0.15865525393145707, 0, 0.8413447460685429], relative: 1e-6)
        expectClose(x.sigmoid().scalars, [1 / (1 + M_E), 0.5, 1 / (1 + 1 / M_E)], relative: 1e-6)
        #expect(Tensor(shape: [2], scalars: [-20, 20]).tanh().scalars == [-1, 1])
        #expect(Tensor(shape: [2], scalars: [-100, 100]).gelu().scalars == [-0.0, 100])
        #expect(Tensor(shape: [2], scalars: [-100, 100]).silu().scalars[1] == 100)
    }

    /// The SiLU chain rule g·σ(x)(1 + x(1 − σ(x))) against the formula in Double, over a
    /// tensor large enough to be split between threads (with a tail shorter than 16 lanes).
    @Test func siluBackwardMatchesFormula() {
        let count = 70_001
        let x = Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 2001 - 1000) * 0.02 })
        let g = Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 7) - 3 })
        let expected = zip(x.scalars, g.scalars).map { xi, gi -> Double in
            let s = 1 / (1 + Foundation.exp(-Double(xi)))
            return Double(gi) * s * (1 + Double(xi) * (1 - s))
        }
        expectClose(x.siluBackward(g).scalars, expected, relative: 1e-5, absolute: 1e-6)
    }

    /// The fused GEGLU gate a·GELU(g) against the formula in Double: a half of 37 (two vectors
    /// and a 5-lane tail) on few rows (one thread) and on enough rows to be split between
    /// threads, and a transposed (strided) input. Tolerance: the GELU case's (relative 2e-6,
    /// absolute 1e-6 for |g| <= 8) scaled by |a| <= 6, plus one rounding of the product.
    @Test(arguments: [3, 1000])
    func gatedGELUMatchesFormula(rows: Int) {
        let half = 37
        let x = randomTensor([rows, 2 * half], seed: 11, low: -6, high: 6)
        let values = x.scalars
        var expected = [Double]()
        for r in 0..<rows {
            for i in 0..<half {
                let a = Double(values[r * 2 * half + i]), g = Double(values[r * 2 * half + half + i])
                expected.append(a * g * gaussianCDF(g))
            }
        }
        let y = x.gatedGELU()
        #expect(y.shape == [rows, half])
        expectClose(y.scalars, expected, relative: 3e-6, absolute: 6e-6)
        let strided = randomTensor([2 * half, 5], seed: 12, low: -4, high: 4).transposed()
        let composed = strided.sliced(axis: -1, 0..<half) * strided.sliced(axis: -1, half..<(2 * half)).gelu()
        #expect(strided.gatedGELU().scalars == composed.scalars)
    }

    @Test func nanPassesThrough() {
        let t = Tensor(shape: [4], scalars: [.nan, 1, .nan, -1])
        for op in unaryCases where !["abs", "square", "pow 1"].contains(op.name) {
            let r = op.op(t).scalars
            #expect(r[0].isNaN && r[2].isNaN, "\(op.name)")
        }
    }
}
