// Contract: the one signature and loop shape of every sampler (after k-diffusion's
// `sampling.py`). A sampler takes a denoiser, the starting state x at sigmas[0] (for
// sampling from noise: x = sigmas[0] * N(0, I)), a strictly decreasing sigma list (usually
// ending in 0), a noise source and an optional callback, and returns the state at the last
// sigma. Its loop is: for i in 0 ..< sigmas.count - 1 { denoised = D(x, sigma_i);
// callback(i, sigma_i, x, denoised); step x to sigma_{i+1} }.
// Shared helpers: `derivative` (k-diffusion `to_d`) and `ancestralStep` (`get_ancestral_step`).
//
// The samplers repeat this loop on purpose (Euler, Heun and DPM2 share their first lines, the
// ancestral samplers theirs): as in k-diffusion, each file reads on its own like the algorithm
// box of its paper, and a shared driver with per-sampler hooks would hide the update rule that
// the file exists to show. `duplicates` lists these pairs; they are not to be folded.

import Foundation
import Tensor

/// What a sampler reports at step i, before stepping: the state x_i at sigma_i and D(x_i, sigma_hat).
public struct SamplerStep {
    /// The step index i, from 0 to sigmas.count - 2.
    public let index: Int
    /// sigma_i, the noise level of x before churn.
    public let sigma: Double
    /// The noise level the denoiser was called at: sigma_i, or sigma_i (1 + gamma) after churn (Karras et al. 2022, Alg. 2).
    public let sigmaHat: Double
    /// The state the denoiser saw (x_i, after churn if any).
    public let x: Tensor
    /// D(x, sigmaHat).
    public let denoised: Tensor

    /// Creates a step report.
    public init(index: Int, sigma: Double, sigmaHat: Double, x: Tensor, denoised: Tensor) {
        self.index = index
        self.sigma = sigma
        self.sigmaHat = sigmaHat
        self.x = x
        self.denoised = denoised
    }
}

/// Called once per step; throw (for example `CancellationError()`) to stop the run.
public typealias SamplerCallback = (SamplerStep) throws -> Void

/// A sampler: one way of discretizing the probability-flow ODE (or its SDE) along a sigma list.
public protocol Sampler: Sendable {
    /// The canonical (k-diffusion) name, for example `"dpmpp_2m"`.
    var name: String { get }
    /// Runs the sampler.
    /// - Parameters:
    ///   - denoiser: D(x, sigma).
    ///   - x: the state at `sigmas[0]` (any shape; the batch moves together).
    ///   - sigmas: strictly decreasing noise levels, >= 0, at least two (one step).
    ///   - noise: the source of N(0, I) noise for ancestral/SDE steps (ignored by deterministic samplers).
    ///   - callback: called at every step with the state before the step.
    /// - Returns: the state at `sigmas.last`.
    /// - Throws: `DiffusionError.invalidSigmas` for a bad sigma list; whatever the denoiser or callback throws.
    func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                callback: SamplerCallback?) throws -> Tensor
}

extension Sampler {
    /// Runs the sampler with `GaussianNoise(seed: seed)` as the noise source.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], seed: UInt64 = 0,
                       callback: SamplerCallback? = nil) throws -> Tensor {
        try sample(denoiser, x: x, sigmas: sigmas, noise: GaussianNoise(seed: seed), callback: callback)
    }
}

/// Helpers shared by the samplers (k-diffusion's `to_d`, `get_ancestral_step`).
public enum SamplerMath {
    /// Throws unless `sigmas` has at least two finite values >= 0, strictly decreasing.
    public static func validate(_ sigmas: [Double]) throws {
        guard sigmas.count >= 2 else {
            throw DiffusionError.invalidSigmas("got \(sigmas.count) sigma(s), need at least 2 (one step)")
        }
        guard sigmas.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw DiffusionError.invalidSigmas("every sigma must be finite and >= 0, got \(sigmas)")
        }
        for i in 1..<sigmas.count where !(sigmas[i] < sigmas[i - 1]) {
            throw DiffusionError.invalidSigmas("sigmas[\(i)] = \(sigmas[i]) is not below sigmas[\(i - 1)] = \(sigmas[i - 1])")
        }
    }

    /// The ODE derivative `d = (x - denoised) / sigma` (Karras et al. 2022, eq. 3; k-diffusion `to_d`).
    public static func derivative(_ x: Tensor, sigma: Double, denoised: Tensor) -> Tensor {
        let inv = Float(1 / sigma)
        return Tensor.zip(x, denoised) { ($0 - $1) * inv }
    }

    /// The ancestral split of a step sigma_from → sigma_to (k-diffusion `get_ancestral_step`):
    /// `sigma_up = min(sigma_to, eta sqrt(sigma_to^2 (sigma_from^2 - sigma_to^2) / sigma_from^2))`,
    /// `sigma_down = sqrt(sigma_to^2 - sigma_up^2)`: a deterministic step to sigma_down, then fresh
    /// noise of std sigma_up, so the marginal at sigma_to is right (Ho et al. 2020's DDPM
    /// posterior variance when eta = 1).
    public static func ancestralStep(from sigmaFrom: Double, to sigmaTo: Double, eta: Double) -> (down: Double, up: Double) {
        if eta == 0 { return (sigmaTo, 0) }
        let up = Swift.min(sigmaTo, eta * (sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom)).squareRoot())
        let down = (sigmaTo * sigmaTo - up * up).squareRoot()
        return (down, up)
    }

    /// `a * x + b * y`, elementwise (the shape of every sampler update).
    public static func combine(_ a: Double, _ x: Tensor, _ b: Double, _ y: Tensor) -> Tensor {
        let fa = Float(a), fb = Float(b)
        return Tensor.zip(x, y) { fa * $0 + fb * $1 }
    }

    /// `a * x + b * y + c * z`, elementwise.
    public static func combine(_ a: Double, _ x: Tensor, _ b: Double, _ y: Tensor, _ c: Double, _ z: Tensor) -> Tensor {
        let fc = Float(c)
        return Tensor.zip(combine(a, x, b, y), z) { $0 + fc * $1 }
    }
}

/// The churn of Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based Generative
/// Models", Alg. 2, lines 4-6), shared by `euler`, `heun` and `dpm_2`: before step i, raise the
/// noise level to sigma_hat = sigma_i (1 + gamma) by adding fresh noise of variance
/// sigma_hat^2 - sigma_i^2, with gamma = min(sChurn / steps, sqrt 2 - 1) for sigma_i in
/// [sTmin, sTmax] and 0 elsewhere. The defaults (sChurn = 0) add nothing.
public struct Churn: Sendable {
    /// Amount of churn (0: the plain ODE solver).
    public var sChurn: Double
    /// Lowest sigma that gets churn.
    public var sTmin: Double
    /// Highest sigma that gets churn.
    public var sTmax: Double
    /// Scale of the churn noise.
    public var sNoise: Double

    /// Creates churn settings; the defaults add no noise.
    public init(sChurn: Double = 0, sTmin: Double = 0, sTmax: Double = .infinity, sNoise: Double = 1) {
        self.sChurn = sChurn; self.sTmin = sTmin; self.sTmax = sTmax; self.sNoise = sNoise
    }

    /// The churned state and its noise level sigma_hat for step i at `sigma` of a run of `steps`
    /// steps; noise is drawn (from `sigma` to `sigmaHat`) only when gamma > 0.
    public func apply(to x: Tensor, sigma: Double, steps: Int, noise: any NoiseSource) -> (x: Tensor, sigmaHat: Double) {
        let gamma = (sTmin <= sigma && sigma <= sTmax) ? Swift.min(sChurn / Double(steps), 2.0.squareRoot() - 1) : 0
        guard gamma > 0 else { return (x, sigma) }
        let sigmaHat = sigma * (gamma + 1)
        let eps = noise.noise(shape: x.shape, sigma: sigma, sigmaNext: sigmaHat)
        return (SamplerMath.combine(1, x, sNoise * (sigmaHat * sigmaHat - sigma * sigma).squareRoot(), eps), sigmaHat)
    }
}
