// Checking backward rules against central finite differences.
//
// For a function f of several tensors, the check compares the analytic gradient of the scalar
// L = Σ w ⊙ f(x) (w fixed random weights, so no error can hide behind a symmetric sum) with
//   ∂L/∂xᵢ ≈ (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h        (central difference, error O(h²)).
//
// Choosing h and the tolerance for Float32 (ε = 2⁻²³ ≈ 1.2e-7): the truncation error is
// h²/6·|L'''| and the rounding error about ε·|L|/h (the forward is Float32; L is summed in
// Double). With inputs and weights of order 1, L of order 10 and smooth f, h = 1e-2 balances
// the two at roughly 1e-6 … 1e-4 (measured on this suite's checks: 1.4e-6 for sum, 3e-6 for
// matmul, 4e-5 for conv2d, 1.2e-4 for rsqrt on [0.5, 2], whose third derivative is largest), so
// the default |analytic − numeric| ≤ 1e-3 + 1e-3·|numeric| has a margin of at least eight while
// a wrong rule (errors of the order of the gradient) fails. Keep inputs away from kinks and
// singularities (log near 0, ties for max, ReLU at 0) by more than h.

import Tensor

/// The outcome of `gradientCheck`: the worst disagreement between analytic and numeric gradients.
public struct GradientCheckReport: CustomStringConvertible, Sendable {
    /// The largest |analytic − numeric| − relativeTolerance·|numeric| over all inputs and elements.
    public var worstExcess: Double = -.infinity
    /// The input and element index where the worst disagreement occurred.
    public var worstInput = 0, worstIndex = 0
    /// The analytic and numeric derivative at the worst element.
    public var analytic = 0.0, numeric = 0.0
    /// The largest |analytic − numeric| over all inputs and elements.
    public var maxAbsoluteError = 0.0
    /// The absolute tolerance used.
    public var absoluteTolerance: Double
    /// Whether every element agreed within the tolerance.
    public var passed: Bool { worstExcess <= absoluteTolerance }

    /// A one-line summary naming the worst element.
    public var description: String {
        "gradientCheck \(passed ? "passed" : "FAILED"): max |error| \(maxAbsoluteError); worst at input \(worstInput)[\(worstIndex)]: analytic \(analytic), numeric \(numeric)"
    }
}

/// Compares the gradients `backward()` computes for `f` at `inputs` with central differences.
///
/// - Parameters:
///   - inputs: the points at which to differentiate (one tensor per argument of `f`).
///   - epsilon: the step h (see the file comment for the choice 1e-2 in Float32).
///   - absoluteTolerance, relativeTolerance: pass when |a − n| ≤ abs + rel·|n| everywhere.
///   - seed: seeds the random output weights w.
///   - f: the function under test, built from `Variable` ops.
public func gradientCheck(_ inputs: [Tensor], epsilon: Float = 1e-2,
                          absoluteTolerance: Double = 1e-3, relativeTolerance: Double = 1e-3,
                          seed: UInt64 = 0x5EED, _ f: ([Variable]) -> Variable) -> GradientCheckReport {
    let variables = inputs.map { Variable($0, requiresGrad: true) }
    let output = f(variables)
    var random = SplitMix64(seed: seed)
    let weights = Tensor(shape: output.shape) { w in
        for i in 0..<w.count { w[i] = Float.random(in: -1...1, using: &random) }
    }
    output.backward(weights)

    func loss(_ point: [Tensor]) -> Double {
        let y = withoutGradients { f(point.map { Variable($0) }).value }
        let ys = y.scalars, ws = weights.scalars
        var total = 0.0
        for i in 0..<ys.count { total += Double(ys[i]) * Double(ws[i]) }
        return total
    }

    var report = GradientCheckReport(absoluteTolerance: absoluteTolerance)
    for (inputIndex, input) in inputs.enumerated() {
        let analytic = variables[inputIndex].grad?.scalars ?? [Float](repeating: 0, count: input.count)
        var base = input.contiguous(forceCopy: true)
        for i in 0..<input.count {
            var point = inputs
            let x = base.withUnsafeBufferPointer { $0[i] }
            base.withUnsafeMutableBufferPointer { $0[i] = x + epsilon }
            point[inputIndex] = base.contiguous(forceCopy: true)
            let plus = loss(point)
            base.withUnsafeMutableBufferPointer { $0[i] = x - epsilon }
            point[inputIndex] = base.contiguous(forceCopy: true)
            let minus = loss(point)
            base.withUnsafeMutableBufferPointer { $0[i] = x }
            // The step actually taken in Float32 (x ± h is rounded).
            let step = Double(x + epsilon) - Double(x - epsilon)
            let numeric = (plus - minus) / step
            let a = Double(analytic[i])
            report.maxAbsoluteError = Swift.max(report.maxAbsoluteError, Swift.abs(a - numeric))
            let excess = Swift.abs(a - numeric) - relativeTolerance * Swift.abs(numeric)
            if excess > report.worstExcess {
                report.worstExcess = excess
                report.worstInput = inputIndex
                report.worstIndex = i
                report.analytic = a
                report.numeric = numeric
            }
        }
    }
    return report
}
