// Contract: the reference answer every sampler is measured against. Solves the
// probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, eq. 3 with
// sigma(t) = t) for this mixture with the exact denoiser, in Double, by the adaptive
// Dormand–Prince 5(4) Runge–Kutta method (Dormand & Prince 1980; Hairer, Nørsett & Wanner,
// "Solving ODEs I", II.5, Table 5.2) with tight tolerances.
// The sigma → 0 end: with every s_k > 0 the field is `sum_k r_k (x - mu_k) sigma / (s_k^2 + sigma^2)`,
// smooth and 0 at sigma = 0, so the ODE is regular there. We integrate in u = log sigma
// (dx/du = sigma * dx/dsigma, where the dynamics are spread evenly) down to a switch point
// sigma_s = 1e-2 * min_k s_k, and finish in sigma itself from sigma_s to 0.

import Foundation

extension GaussianMixture {
    /// Solves the probability-flow ODE from `x` at `sigma` to `sigmaEnd` (which may be 0).
    /// - Parameters:
    ///   - relativeTolerance, absoluteTolerance: the per-step error target of the embedded
    ///     4th-order estimate; the defaults give about 1e-9 global accuracy on unit-scale data.
    /// - Returns: x(sigmaEnd).
    /// - Throws: `DiffusionError.invalidParameter` when the solver does not reach `sigmaEnd`
    ///   within `maximumSolverSteps` steps or meets a non-finite value (a mixture too stiff or
    ///   too large to solve in Double, e.g. stds of 1e-300).
    public func solveProbabilityFlow(from x: [Double], sigma: Double, to sigmaEnd: Double,
                                     relativeTolerance: Double = 1e-11, absoluteTolerance: Double = 1e-12) throws -> [Double] {
        precondition(x.count == dimension, "x has \(x.count) elements, mixture dimension is \(dimension)")
        precondition(sigma >= 0 && sigmaEnd >= 0, "sigmas must be >= 0")
        if sigma == sigmaEnd { return x }
        let switchSigma = 1e-2 * stds.min()!
        var y = x
        var s0 = sigma
        // Phase 1, in log sigma, over the part of [sigmaEnd, sigma] above the switch point
        // (or the whole interval when both ends are positive).
        let logEnd = sigmaEnd > 0 ? sigmaEnd : Swift.min(switchSigma, sigma)
        if s0 > 0 && logEnd > 0 && s0 != logEnd {
            y = try Self.dormandPrince(y, from: Foundation.log(s0), to: Foundation.log(logEnd),
                                   rtol: relativeTolerance, atol: absoluteTolerance) { u, x in
                let s = Foundation.exp(u)
                return self.velocity(x, sigma: s).map { $0 * s }
            }
            s0 = logEnd
        }
        // Phase 2, in sigma, through the regular endpoint 0.
        if s0 != sigmaEnd {
            y = try Self.dormandPrince(y, from: s0, to: sigmaEnd, rtol: relativeTolerance, atol: absoluteTolerance) { s, x in
                self.velocity(x, sigma: s)
            }
        }
        return y
    }

    /// The exact ODE solution at every sigma of a (decreasing) list, starting from `x` at `sigmas[0]`.
    /// - Throws: as `solveProbabilityFlow`.
    public func probabilityFlowTrajectory(from x: [Double], sigmas: [Double]) throws -> [[Double]] {
        var out = [x]
        for i in 1..<Swift.max(sigmas.count, 1) {
            out.append(try solveProbabilityFlow(from: out[i - 1], sigma: sigmas[i - 1], to: sigmas[i]))
        }
        return out
    }

    /// The most steps (accepted or rejected) one `dormandPrince` call may take. A well-posed
    /// mixture of the lessons needs a few hundred; the cap turns a stiff or overflowing one into
    /// an error instead of an endless loop.
    public static let maximumSolverSteps = 100_000

    /// Adaptive Dormand–Prince 5(4) integration of dy/dt = f(t, y) from t0 to t1 (either direction),
    /// error per step measured as the RMS of `err_i / (atol + rtol * max(|y_i|, |y_new_i|))`.
    /// - Throws: `DiffusionError.invalidParameter` after `maximumSolverSteps` steps, or when the
    ///   field or the error estimate is not finite.
    static func dormandPrince(_ y0: [Double], from t0: Double, to t1: Double, rtol: Double, atol: Double,
                              field: (Double, [Double]) -> [Double]) throws -> [Double] {
        let c: [Double] = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1]
        let a: [[Double]] = [
            [],
            [1.0 / 5],
            [3.0 / 40, 9.0 / 40],
            [44.0 / 45, -56.0 / 15, 32.0 / 9],
            [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
            [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
            [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
        ]
        // 5th-order weights are a[6]; the difference to the embedded 4th-order weights:
        let e: [Double] = [71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40]
        let n = y0.count
        let direction: Double = t1 > t0 ? 1 : -1
        var t = t0, y = y0
        var h = direction * Swift.min(Swift.abs(t1 - t0), Swift.abs(t1 - t0) * 1e-2 + 1e-6)
        var k = [[Double]](repeating: [], count: 7)
        k[0] = field(t, y)
        var stepCount = 0
        while direction * (t1 - t) > 0 {
            stepCount += 1
            guard stepCount <= maximumSolverSteps else {
                throw DiffusionError.invalidParameter("the probability-flow ODE solver did not reach \(t1) from \(t0) in \(maximumSolverSteps) steps (stuck at \(t) with step \(h)); the mixture is too stiff to solve: use standard deviations and means within a few orders of magnitude of each other")
            }
            let isLast = direction * (t + h - t1) >= 0
            if isLast { h = t1 - t }
            for s in 1..<7 {
                var ys = y
                for i in 0..<n {
                    var acc = 0.0
                    for j in 0..<s { acc += a[s][j] * k[j][i] }
                    ys[i] += h * acc
                }
                k[s] = field(t + c[s] * h, ys)
            }
            var yNew = y
            for i in 0..<n {
                var acc = 0.0
                for j in 0..<6 { acc += a[6][j] * k[j][i] }
                yNew[i] += h * acc
            }
            // k[6] was evaluated at yNew (FSAL), so the error estimate uses all seven stages.
            var errSq = 0.0
            for i in 0..<n {
                var acc = 0.0
                for j in 0..<7 { acc += e[j] * k[j][i] }
                let scale = atol + rtol * Swift.max(Swift.abs(y[i]), Swift.abs(yNew[i]))
                let r = h * acc / scale
                errSq += r * r
            }
            let err = (errSq / Double(n)).squareRoot()
            guard err.isFinite, h.isFinite else {
                throw DiffusionError.invalidParameter("the probability-flow ODE solver met a non-finite value at \(t) (the mixture's numbers overflow Double arithmetic): use means, stds and weights of moderate size")
            }
            if err <= 1 {
                t = isLast ? t1 : t + h
                y = yNew
                k[0] = k[6]
            }
            let factor = err == 0 ? 5 : Swift.min(5, Swift.max(0.2, 0.9 * Foundation.pow(err, -0.2)))
            h *= factor
        }
        return y
    }
}
