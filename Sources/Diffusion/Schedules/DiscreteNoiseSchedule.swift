// Contract: the noise schedule of a model trained on T discrete timesteps (DDPM, Ho et al.
// 2020). From betas come alphabar_t = prod_{s<=t} (1 - beta_s) and the equivalent
// variance-exploding noise level sigma_t = sqrt((1 - alphabar_t) / alphabar_t), so that
// x_vp = x_ve / sqrt(1 + sigma^2). Also the maps between continuous sigma and (fractional)
// timesteps t that k-diffusion's `DiscreteSchedule` uses: linear interpolation in log sigma.
// Everything is Double; index 0 is the least noisy timestep.

import Foundation

/// The beta schedule of a discrete-time diffusion model and the sigmas it implies.
public struct DiscreteNoiseSchedule: Sendable, Equatable {
    /// beta_t for t = 0 ..< T.
    public let betas: [Double]
    /// alphabar_t = prod_{s <= t} (1 - beta_s).
    public let alphasCumprod: [Double]
    /// sigma_t = sqrt((1 - alphabar_t) / alphabar_t), increasing in t.
    public let sigmas: [Double]
    /// log(sigma_t), the grid on which sigma -> t interpolates.
    public let logSigmas: [Double]

    /// Builds the schedule from betas (each in (0, 1)).
    public init(betas: [Double]) throws {
        guard betas.count >= 2 else {
            throw DiffusionError.invalidParameter("a discrete schedule needs at least 2 betas, got \(betas.count)")
        }
        guard betas.allSatisfy({ $0 > 0 && $0 < 1 }) else {
            let bad = betas.first { !($0 > 0 && $0 < 1) }!
            throw DiffusionError.invalidParameter("every beta must lie in (0, 1), found \(bad) (check beta_start and beta_end)")
        }
        var product = 1.0
        let cumulative = betas.map { product *= 1 - $0; return product }
        let sigmaValues = cumulative.map { ((1 - $0) / $0).squareRoot() }
        // Many timesteps of large betas drive alphabar below Double's range: sigma would be inf.
        if let t = sigmaValues.firstIndex(where: { !$0.isFinite }) {
            throw DiffusionError.invalidParameter("these \(betas.count) betas drive alphabar to \(cumulative[t]) at timestep \(t), "
                + "where sigma is not finite in Double; use fewer training timesteps or smaller betas")
        }
        self.betas = betas
        alphasCumprod = cumulative
        sigmas = sigmaValues
        logSigmas = sigmas.map { Foundation.log($0) }
    }

    /// Throws unless T lies in `ConfigurationLimits.trainingTimesteps` (before any list of T
    /// betas is allocated).
    static func checkTrainingSteps(_ trainingSteps: Int) throws {
        try ConfigurationLimits.check([trainingSteps], "num_train_timesteps (T)", in: ConfigurationLimits.trainingTimesteps,
                                      source: "noise schedule")
    }

    /// The number of training timesteps T.
    public var trainingSteps: Int { betas.count }
    /// The smallest sigma, at t = 0.
    public var sigmaMin: Double { sigmas[0] }
    /// The largest sigma, at t = T - 1.
    public var sigmaMax: Double { sigmas[sigmas.count - 1] }

    /// DDPM's linear betas (Ho et al. 2020, sec. 4): `linspace(betaStart, betaEnd, T)`.
    public static func linear(trainingSteps: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) throws -> Self {
        try checkTrainingSteps(trainingSteps)
        return try Self(betas: linspaceDouble(betaStart, betaEnd, trainingSteps))
    }

    /// Stable Diffusion's "scaled linear" betas: linear in sqrt(beta),
    /// `linspace(sqrt(0.00085), sqrt(0.012), 1000)^2` (diffusers `beta_schedule="scaled_linear"`).
    public static func scaledLinear(trainingSteps: Int = 1000, betaStart: Double = 0.00085, betaEnd: Double = 0.012) throws -> Self {
        try checkTrainingSteps(trainingSteps)
        return try Self(betas: linspaceDouble(betaStart.squareRoot(), betaEnd.squareRoot(), trainingSteps).map { $0 * $0 })
    }

    /// The cosine schedule of Nichol & Dhariwal 2021 ("Improved DDPM", eq. 17):
    /// `alphabar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2)`, `beta_t = min(1 - alphabar((t+1)/T) / alphabar(t/T), maxBeta)`
    /// with s = 0.008 and the clipping maxBeta = 0.999 (diffusers `squaredcos_cap_v2`).
    public static func cosine(trainingSteps: Int = 1000, offset s: Double = 0.008, maxBeta: Double = 0.999) throws -> Self {
        try checkTrainingSteps(trainingSteps)
        func alphaBar(_ t: Double) -> Double {
            let c = Foundation.cos((t + s) / (1 + s) * Double.pi / 2)
            return c * c
        }
        let T = Double(trainingSteps)
        let betas = (0..<trainingSteps).map { i in
            Swift.min(1 - alphaBar(Double(i + 1) / T) / alphaBar(Double(i) / T), maxBeta)
        }
        return try Self(betas: betas)
    }

    /// The (fractional) timestep of `sigma`: linear interpolation of t in log sigma between the
    /// two neighbouring training sigmas, clamped to [0, T-1] (k-diffusion `sigma_to_t`).
    /// With `quantize`, the nearest timestep in log sigma instead.
    public func timestep(forSigma sigma: Double, quantize: Bool = false) -> Double {
        let logSigma = Foundation.log(sigma)
        if quantize {
            var best = 0
            for i in 1..<logSigmas.count where Swift.abs(logSigmas[i] - logSigma) < Swift.abs(logSigmas[best] - logSigma) {
                best = i
            }
            return Double(best)
        }
        // low = last index with logSigmas[low] <= logSigma, at most T - 2.
        var low = 0
        for i in 0..<logSigmas.count where logSigmas[i] <= logSigma { low = i }
        low = Swift.min(low, logSigmas.count - 2)
        let a = logSigmas[low], b = logSigmas[low + 1]
        let w = Swift.min(Swift.max((a - logSigma) / (a - b), 0), 1)
        return Double(low) + w
    }

    /// The sigma at a (fractional) timestep t in [0, T-1].
    /// - Parameter interpolation: `.logSigma` as k-diffusion's `t_to_sigma`, `.sigma` as
    ///   diffusers' Euler-family schedulers (`np.interp` on sigmas).
    public func sigma(atTimestep t: Double, interpolation: SigmaInterpolation = .logSigma) -> Double {
        let tc = Swift.min(Swift.max(t, 0), Double(sigmas.count - 1))
        let low = Int(tc.rounded(.down)), high = Int(tc.rounded(.up))
        let w = tc - Double(low)
        switch interpolation {
        case .logSigma: return Foundation.exp((1 - w) * logSigmas[low] + w * logSigmas[high])
        case .sigma: return (1 - w) * sigmas[low] + w * sigmas[high]
        }
    }

    /// Inference timesteps, from the noisiest down, with diffusers' spacing semantics:
    /// `linspace`: `linspace(0, T-1, n)` reversed (fractional, as the Euler-family schedulers;
    /// round them for DDIM); `leading`: `arange(n) * (T / n)` reversed `+ stepsOffset`
    /// (CompVis DDIM / SD 1.x use stepsOffset = 1); `trailing`: `round(arange(T, 0, -T/n)) - 1`.
    public func timesteps(count: Int, spacing: TimestepSpacing, stepsOffset: Int = 0) throws -> [Double] {
        let T = trainingSteps
        guard count >= 1 else { throw DiffusionError.invalidStepCount(count, reason: "at least 1 step is needed") }
        guard count <= T else {
            throw DiffusionError.invalidStepCount(count, reason: "at most \(T) steps for a model with \(T) timesteps")
        }
        switch spacing {
        case .linspace:
            return linspaceDouble(0, Double(T - 1), count).reversed()
        case .leading:
            let ratio = T / count
            return (0..<count).reversed().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            let ratio = Double(T) / Double(count)
            var ts: [Double] = []
            var v = Double(T)
            while v > 0 { ts.append((v).rounded(.toNearestOrEven) - 1); v -= ratio }
            return Array(ts.prefix(count))
        }
    }

    /// A model's own sigmas at its inference timesteps, followed by a final sigma.
    /// - Parameters:
    ///   - final: `.zero` (k-diffusion, diffusers `set_alpha_to_one=True`) or `.firstTimestep`,
    ///     sigma at t = 0 (CompVis DDIM/PLMS: "the alpha used after the last step is
    ///     alphas_cumprod[0]"; diffusers `set_alpha_to_one=False`).
    ///   - roundTimesteps: round fractional timesteps first (diffusers DDIM/PNDM `linspace`).
    public func sigmas(
        count: Int, spacing: TimestepSpacing, stepsOffset: Int = 0,
        interpolation: SigmaInterpolation = .logSigma, roundTimesteps: Bool = false,
        final: FinalSigma = .zero
    ) throws -> [Double] {
        var ts = try timesteps(count: count, spacing: spacing, stepsOffset: stepsOffset)
        if roundTimesteps { ts = ts.map { $0.rounded(.toNearestOrEven) } }
        guard ts.allSatisfy({ $0 >= 0 && $0 <= Double(trainingSteps - 1) }) else {
            throw DiffusionError.invalidParameter("stepsOffset \(stepsOffset) moves timesteps outside 0...\(trainingSteps - 1)")
        }
        let finalSigma = final == .zero ? 0 : sigmas[0]
        return ts.map { sigma(atTimestep: $0, interpolation: interpolation) } + [finalSigma]
    }

    /// k-diffusion's `DiscreteSchedule.get_sigmas(n)` (the "simple"/uniform schedule):
    /// t = linspace(T-1, 0, n), sigma(t) in log sigma, then 0.
    public func uniformSigmas(count: Int) throws -> [Double] {
        guard count >= 1 else { throw DiffusionError.invalidStepCount(count, reason: "at least 1 step is needed") }
        return linspaceDouble(Double(trainingSteps - 1), 0, count).map { sigma(atTimestep: $0) } + [0]
    }
}

/// How inference timesteps are spread over the training timesteps (diffusers `timestep_spacing`).
public enum TimestepSpacing: String, CaseIterable, Sendable {
    /// `linspace(0, T-1, n)` reversed.
    case linspace
    /// Multiples of `T / n` plus `steps_offset` (CompVis DDIM, SD 1.x).
    case leading
    /// `round(arange(T, 0, -T/n)) - 1`: always starts at T - 1.
    case trailing

    /// Parses `linspace`, `leading` or `trailing`; any other name is an error listing those.
    public init(named name: String) throws {
        guard let s = Self(rawValue: name.lowercased()) else {
            throw DiffusionError.unknownSpacing(name, accepted: Self.allCases.map(\.rawValue))
        }
        self = s
    }
}

/// How a sigma is read between two integer timesteps.
public enum SigmaInterpolation: Sendable {
    /// Linear in log sigma (k-diffusion).
    case logSigma
    /// Linear in sigma (diffusers Euler-family schedulers).
    case sigma
}

/// The sigma a discrete model's schedule ends on.
public enum FinalSigma: Sendable {
    /// 0: the last step lands on the clean sample.
    case zero
    /// sigma at t = 0 (alphas_cumprod[0]).
    case firstTimestep
}

/// `count` evenly spaced values from `a` to `b` inclusive, computed as numpy does
/// (`a + i * step`, with the last value exactly `b`).
func linspaceDouble(_ a: Double, _ b: Double, _ count: Int) -> [Double] {
    precondition(count >= 1, "linspaceDouble needs count >= 1 (callers validate step counts), got \(count)")
    if count == 1 { return [a] }
    let step = (b - a) / Double(count - 1)
    return (0..<count).map { $0 == count - 1 ? b : a + Double($0) * step }
}
