// Contract: continuous sigma schedules for `count` steps: `count` decreasing sigmas from
// sigmaMax to sigmaMin followed by a final 0 (k-diffusion `get_sigmas_*`), so a sampler run
// over them takes exactly `count` steps. All in Double.

import Foundation

/// A named continuous sigma schedule (k-diffusion's `get_sigmas_*` functions).
public enum SigmaSchedule: String, CaseIterable, Sendable {
    /// Karras et al. 2022, eq. 5: `(smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho`, rho = 7.
    case karras
    /// Evenly spaced in log sigma.
    case exponential
    /// Polynomial in log sigma: `exp(ramp^rho (log smax - log smin) + log smin)`, ramp = 1 → 0, rho = 1.
    case polyexponential
    /// The continuous VP schedule of Song et al. 2021 (score SDE, eq. 33), with k-diffusion's
    /// defaults beta_d = 19.9, beta_min = 0.1, eps_s = 1e-3: `sigma(t) = sqrt(exp(beta_d t^2/2 + beta_min t) - 1)`,
    /// t = linspace(1, eps_s, n). It ignores sigmaMin and sigmaMax.
    case vp
    /// Evenly spaced in sigma (a baseline: it wastes steps at high noise).
    case linear

    /// Parses a schedule name (case-insensitive); an unknown name is an error listing the accepted ones.
    public init(named name: String) throws {
        guard let s = Self(rawValue: name.lowercased()) else {
            throw DiffusionError.unknownSchedule(name, accepted: Self.allCases.map(\.rawValue))
        }
        self = s
    }

    /// `count` sigmas from `sigmaMax` down to `sigmaMin`, then 0 (`count + 1` values).
    public func sigmas(count: Int, sigmaMin: Double, sigmaMax: Double) throws -> [Double] {
        switch self {
        case .karras: return try Self.karras(count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
        case .exponential: return try Self.exponential(count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
        case .polyexponential: return try Self.polyexponential(count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
        case .vp: return try Self.vp(count: count)
        case .linear: return try Self.linear(count: count, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
        }
    }

    /// Karras et al. 2022, eq. 5 (k-diffusion `get_sigmas_karras`).
    public static func karras(count: Int, sigmaMin: Double, sigmaMax: Double, rho: Double = 7) throws -> [Double] {
        try check(count, sigmaMin, sigmaMax)
        let lo = Foundation.pow(sigmaMin, 1 / rho), hi = Foundation.pow(sigmaMax, 1 / rho)
        return linspaceDouble(0, 1, count).map { Foundation.pow(hi + $0 * (lo - hi), rho) } + [0]
    }

    /// Evenly spaced in log sigma (k-diffusion `get_sigmas_exponential`).
    public static func exponential(count: Int, sigmaMin: Double, sigmaMax: Double) throws -> [Double] {
        try check(count, sigmaMin, sigmaMax)
        return linspaceDouble(Foundation.log(sigmaMax), Foundation.log(sigmaMin), count).map { Foundation.exp($0) } + [0]
    }

    /// Polynomial in log sigma (k-diffusion `get_sigmas_polyexponential`); rho = 1 is `exponential`.
    public static func polyexponential(count: Int, sigmaMin: Double, sigmaMax: Double, rho: Double = 1) throws -> [Double] {
        try check(count, sigmaMin, sigmaMax)
        let a = Foundation.log(sigmaMax) - Foundation.log(sigmaMin)
        return linspaceDouble(1, 0, count).map { Foundation.exp(Foundation.pow($0, rho) * a + Foundation.log(sigmaMin)) } + [0]
    }

    /// The continuous VP schedule (k-diffusion `get_sigmas_vp`).
    public static func vp(count: Int, betaD: Double = 19.9, betaMin: Double = 0.1, epsS: Double = 1e-3) throws -> [Double] {
        try checkCount(count)
        return linspaceDouble(1, epsS, count).map { t in
            (Foundation.exp(betaD * t * t / 2 + betaMin * t) - 1).squareRoot()
        } + [0]
    }

    /// Evenly spaced in sigma from sigmaMax to sigmaMin, then 0.
    public static func linear(count: Int, sigmaMin: Double, sigmaMax: Double) throws -> [Double] {
        try check(count, sigmaMin, sigmaMax)
        return linspaceDouble(sigmaMax, sigmaMin, count) + [0]
    }

    /// Throws unless `count` lies in `ConfigurationLimits.samplerSteps` (checked before the
    /// list is allocated).
    private static func checkCount(_ count: Int) throws {
        guard count >= 1 else { throw DiffusionError.invalidStepCount(count, reason: "at least 1 step is needed") }
        guard count <= ConfigurationLimits.samplerSteps.upperBound else {
            throw DiffusionError.invalidStepCount(count, reason: "at most \(ConfigurationLimits.samplerSteps.upperBound) steps")
        }
    }

    private static func check(_ count: Int, _ sigmaMin: Double, _ sigmaMax: Double) throws {
        try checkCount(count)
        guard sigmaMin > 0, sigmaMax.isFinite, sigmaMin < sigmaMax || (count == 1 && sigmaMin <= sigmaMax) else {
            throw DiffusionError.invalidParameter("need 0 < sigmaMin < sigmaMax, got sigmaMin = \(sigmaMin), sigmaMax = \(sigmaMax)")
        }
    }
}
