// Contract: `lcm` (diffusers `LCMScheduler`, A1111 and ComfyUI "LCM"): the multistep sampling of
// consistency models (Song et al. 2023, "Consistency Models", Alg. 1; Luo et al. 2023, "Latent
// Consistency Models", sec. 4): jump to the model's clean estimate, then re-noise to the next
// level with fresh noise. Meant for consistency-distilled models; the update runs on any denoiser.

import Foundation
import Tensor

/// Multistep consistency sampling (Song et al. 2023, Alg. 1):
///
///     x0 = f(x_i, sigma_i)                  (the consistency function's estimate of the clean sample)
///     x_{i+1} = x0 + sigma_{i+1} z          (x0 itself on the step to sigma = 0)
///
/// With `boundaryCondition`, f is diffusers' LCM parameterization (Luo et al. 2023, eq. 9): the
/// denoiser's estimate D mixed with the (variance-preserving) input so that f is the identity at
/// t = 0, with t' = t * timestepScaling:
///
///     c_skip = sigma_data^2 / (t'^2 + sigma_data^2),  c_out = t' / sqrt(t'^2 + sigma_data^2)
///     f = c_out D + c_skip x / sqrt(1 + sigma_i^2)
///
/// Without it f = D (ComfyUI's `lcm`, whose model wrapper applies the scalings). First order;
/// 1 NFE per step; stochastic (fresh noise every step but the last).
public struct LCMSampler: Sampler {
    /// LCM's boundary-condition scalings at the discrete timestep of each step (diffusers
    /// `get_scalings_for_boundary_condition_discrete`).
    public struct BoundaryCondition: Sendable {
        /// The training timestep t of each step's sigma, one per step.
        public var timesteps: [Double]
        /// t' = t * timestepScaling (diffusers `timestep_scaling`, default 10).
        public var timestepScaling: Double
        /// sigma_data (0.5 in diffusers).
        public var sigmaData: Double

        /// Creates the scalings for the given timesteps.
        public init(timesteps: [Double], timestepScaling: Double = 10, sigmaData: Double = 0.5) {
            self.timesteps = timesteps
            self.timestepScaling = timestepScaling
            self.sigmaData = sigmaData
        }

        /// (c_skip, c_out) at timestep t.
        public func scalings(timestep t: Double) -> (skip: Double, out: Double) {
            let scaled = t * timestepScaling, d2 = sigmaData * sigmaData
            return (d2 / (scaled * scaled + d2), scaled / (scaled * scaled + d2).squareRoot())
        }
    }

    /// LCM's boundary condition (nil: f = D).
    public var boundaryCondition: BoundaryCondition?
    /// `"lcm"`.
    public var name: String { "lcm" }

    /// Creates the sampler.
    public init(boundaryCondition: BoundaryCondition? = nil) { self.boundaryCondition = boundaryCondition }

    /// Runs the loop described above.
    /// - Throws: `DiffusionError.invalidSigmas` when the boundary condition has not one timestep per step.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        if let bc = boundaryCondition, bc.timesteps.count != sigmas.count - 1 {
            throw DiffusionError.invalidSigmas("\(bc.timesteps.count) LCM boundary timesteps for \(sigmas.count - 1) steps")
        }
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            var x0 = denoised
            if let bc = boundaryCondition {
                let c = bc.scalings(timestep: bc.timesteps[i])
                x0 = SamplerMath.combine(c.out, denoised, c.skip / (1 + sigmas[i] * sigmas[i]).squareRoot(), x)
            }
            let next = sigmas[i + 1]
            x = next > 0 ? SamplerMath.combine(1, x0, next, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: next)) : x0
        }
        return x
    }
}
