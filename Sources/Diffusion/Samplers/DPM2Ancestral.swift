// Contract: `dpm_2_ancestral` (k-diffusion `sample_dpm_2_ancestral`): the `dpm_2` step to
// sigma_down followed by fresh noise of std sigma_up (ancestral split as in DDPM, Ho et al. 2020).

import Foundation
import Tensor

/// Ancestral sampling with DPM-Solver-2 steps:
///
///     (sigma_down, sigma_up) = ancestralStep(sigma_i, sigma_{i+1}, eta)
///     sigma_mid = exp((log sigma_i + log sigma_down) / 2)
///     x' = x + (sigma_mid - sigma_i) d(x, sigma_i);   x = x + (sigma_down - sigma_i) d(x', sigma_mid)
///     x_{i+1} = x + s_noise * sigma_up * z
///
/// When sigma_down = 0 (the last step) an Euler step and no noise. 2 NFE per step (1 on the last); stochastic.
public struct DPM2AncestralSampler: Sampler {
    /// Fraction of the DDPM noise to add.
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// `"dpm_2_ancestral"`.
    public var name: String { "dpm_2_ancestral" }

    /// Creates the sampler.
    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            let (down, up) = SamplerMath.ancestralStep(from: sigmas[i], to: sigmas[i + 1], eta: eta)
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            let d = SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised)
            if down == 0 {
                x = SamplerMath.combine(1, x, down - sigmas[i], d)
            } else {
                let sigmaMid = exp((log(sigmas[i]) + log(down)) / 2)
                let x2 = SamplerMath.combine(1, x, sigmaMid - sigmas[i], d)
                let d2 = SamplerMath.derivative(x2, sigma: sigmaMid, denoised: try denoiser.denoise(x2, sigma: sigmaMid))
                x = SamplerMath.combine(1, x, down - sigmas[i], d2)
                x = SamplerMath.combine(1, x, sNoise * up, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: sigmas[i + 1]))
            }
        }
        return x
    }
}
