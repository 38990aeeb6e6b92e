// The empirical order of a solver: a straight line fitted to log(error) against log(NFE).
//
// Contract: a solver of order p makes an error e ≈ C · NFE^(-p) once its steps are small, so on a
// log-log plot its errors lie on a line of slope -p. `PowerLawFit` fits that line by ordinary
// least squares on (log x, log y) and reports `order = -slope`. Points with a non-positive or
// non-finite coordinate cannot be placed on a log axis and are skipped; fewer than two usable
// points (or all x equal) gives `nil`.
import Diffusion
import Foundation

/// A least-squares line through (log x, log y): y ≈ exp(intercept) · x^slope.
public struct PowerLawFit: Sendable, Equatable {
    /// The fitted exponent (the slope on a log-log plot).
    public var slope: Double
    /// The fitted log(y) at x = 1.
    public var intercept: Double
    /// The coefficient of determination of the fit in log space (1 is a perfect line).
    public var rSquared: Double
    /// How many points the fit used.
    public var pointCount: Int

    /// The empirical order of convergence, `-slope`, when x counts work and y measures error.
    public var order: Double { -slope }

    /// The fitted y at `x`.
    public func predicted(at x: Double) -> Double { Foundation.exp(intercept + slope * Foundation.log(x)) }

    /// Fits log(y) = intercept + slope · log(x) by least squares.
    /// - Returns: `nil` when fewer than two points are positive and finite or when all their x are equal.
    public init?(x: [Double], y: [Double]) {
        precondition(x.count == y.count, "PowerLawFit: \(x.count) x values but \(y.count) y values")
        let points = zip(x, y).filter { $0.0 > 0 && $0.1 > 0 && $0.0.isFinite && $0.1.isFinite }
            .map { (Foundation.log($0.0), Foundation.log($0.1)) }
        guard points.count >= 2 else { return nil }
        let n = Double(points.count)
        let meanX = points.map(\.0).reduce(0, +) / n
        let meanY = points.map(\.1).reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0, syy = 0.0
        for (lx, ly) in points {
            sxx += (lx - meanX) * (lx - meanX)
            sxy += (lx - meanX) * (ly - meanY)
            syy += (ly - meanY) * (ly - meanY)
        }
        guard sxx > 0 else { return nil }
        slope = sxy / sxx
        intercept = meanY - slope * meanX
        rSquared = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1
        pointCount = points.count
    }

    /// Fits only the points whose y lies in `range` — the asymptotic region of a convergence
    /// study, above the floor set by Float32 rounding and below the pre-asymptotic large errors.
    public init?(x: [Double], y: [Double], keepingYIn range: ClosedRange<Double>) {
        precondition(x.count == y.count, "PowerLawFit: \(x.count) x values but \(y.count) y values")
        let kept = zip(x, y).filter { range.contains($0.1) }
        self.init(x: kept.map(\.0), y: kept.map(\.1))
    }
}
