// The tolerance helper every numerical test uses, documented once.
//
// How to choose a tolerance (see also swift-numerics' notes on testing floating point):
// - Float32 has a 24-bit significand: one rounding costs at most ε/2 ≈ 6e-8 relative.
// - An elementwise op that calls a good libm or a vector polynomial is within a few ULP:
//   `relative: 1e-6` (≈ 16 ULP) with `absolute` set for values that can be near zero
//   (an absolute error of about ε times the size of the inputs, e.g. `1e-6` for inputs of order 1).
// - A sum of n terms in Float can lose up to about n·ε in the worst case and √n·ε typically;
//   reductions here add blocks in Double, so `relative: 1e-5` covers sizes up to millions.
//   For a difference of large numbers (a variance, a normalized value) use an `absolute`
//   tolerance scaled to the magnitude of the inputs, since the relative error of a small
//   result is unbounded.
// - Pure data movement (copy, permute, pad, gather, concatenate) is exact: compare with `==`.
// Derive the number from these rules and write the reason next to it; never widen it until a
// test passes.

import Testing
import Tensor

/// Whether `actual` is within `absolute + relative · |expected|` of `expected`.
/// NaN matches only NaN; an infinity matches only the same infinity.
func isClose(_ actual: Double, _ expected: Double, relative: Double, absolute: Double) -> Bool {
    if expected.isNaN || actual.isNaN { return expected.isNaN && actual.isNaN }
    if expected.isInfinite || actual.isInfinite { return actual == expected }
    return Swift.abs(actual - expected) <= absolute + relative * Swift.abs(expected)
}

/// Expects every element of `actual` to be within `absolute + relative · |expected|` of the
/// matching element of `expected` (Float or Double; see the file comment for how to choose the tolerances).
/// Records one issue listing the count and the first mismatches, at the caller's location.
func expectClose<Reference: BinaryFloatingPoint>(
    _ actual: [Float], _ expected: [Reference], relative: Double = 1e-6, absolute: Double = 0,
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record("expectClose: \(actual.count) values, expected \(expected.count). \(comment?.rawValue ?? "")",
                     sourceLocation: sourceLocation)
        return
    }
    var mismatches = [String]()
    var worst = 0.0
    for (i, (a, e)) in zip(actual, expected).enumerated() where !isClose(Double(a), Double(e), relative: relative, absolute: absolute) {
        if mismatches.count < 5 { mismatches.append("[\(i)] \(a) vs \(e)") }
        if e.isFinite && a.isFinite { worst = Swift.max(worst, Swift.abs(Double(a) - Double(e))) }
        mismatches.append("")
    }
    if !mismatches.isEmpty {
        let count = mismatches.filter(\.isEmpty).count
        Issue.record("""
            expectClose: \(count) of \(actual.count) values outside \(absolute) + \(relative)·|expected| \
            (largest finite difference \(worst)): \(mismatches.filter { !$0.isEmpty }.joined(separator: ", ")) \
            \(comment?.rawValue ?? "")
            """, sourceLocation: sourceLocation)
    }
}

/// Checks sums computed in Float against exact ones: the error of entry i relative to
/// 1 + Σ|terms| must be at most `tolerance`. A floating-point sum's rounding error is bounded by
/// the magnitudes of its terms, not by the magnitude of the result, which cancellation can make
/// arbitrarily small (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §3.1).
func expectSumsClose(_ actual: Tensor, _ expected: Tensor, magnitudes: [Double], tolerance: Double,
                     _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let x = actual.scalars, y = expected.scalars
    var worst = 0.0, worstIndex = 0
    for i in x.indices {
        let error = Swift.abs(Double(x[i]) - Double(y[i])) / (1 + magnitudes[i])
        if !(error <= worst) { worst = error; worstIndex = i }
    }
    #expect(worst <= tolerance, "worst error \(worst) at \(worstIndex): \(x.isEmpty ? 0 : x[worstIndex]) vs \(y.isEmpty ? 0 : y[worstIndex]) \(comment?.rawValue ?? "")",
            sourceLocation: sourceLocation)
}
