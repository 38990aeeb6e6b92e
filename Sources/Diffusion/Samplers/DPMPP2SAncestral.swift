// Contract: `dpmpp_2s_ancestral` (k-diffusion `sample_dpmpp_2s_ancestral`): DPM-Solver++(2S)
// (Lu et al. 2022, "DPM-Solver++", Alg. 1, singlestep, r = 1/2) to sigma_down, then
// ancestral noise of std sigma_up.

import Foundation
import Tensor

/// Ancestral sampling with DPM-Solver++(2S) steps, in t = -log sigma with h = t_down - t_i:
///
///     (sigma_down, sigma_up) = ancestralStep(sigma_i, sigma_{i+1}, eta);  s = t_i + h/2
///     x' = (sigma_s / sigma_i) x - expm1(-h/2) D(x, sigma_i)
///     x = (sigma_down / sigma_i) x - expm1(-h) D(x', sigma_s)
///     x_{i+1} = x + s_noise * sigma_up * z        (only if sigma_{i+1} > 0)
///
/// When sigma_down = 0 an Euler step. Second order in the deterministic part; 2 NFE per step
/// (1 on the last); stochastic.
public struct DPMPP2SAncestralSampler: Sampler {
    /// Fraction of the DDPM noise to add.
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// `"dpmpp_2s_ancestral"`.
    public var name: String { "dpmpp_2s_ancestral" }

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
            if down == 0 {
                let d = SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised)
                x = SamplerMath.combine(1, x, down - sigmas[i], d)
            } else {
                let t = -log(sigmas[i]), tNext = -log(down)
                let h = tNext - t
                let sigmaS = exp(-(t + h / 2))
                let x2 = SamplerMath.combine(sigmaS / sigmas[i], x, -expm1(-h / 2), denoised)
                let denoised2 = try denoiser.denoise(x2, sigma: sigmaS)
                x = SamplerMath.combine(exp(-tNext) / sigmas[i], x, -expm1(-h), denoised2)
            }
            if sigmas[i + 1] > 0 {
                x = SamplerMath.combine(1, x, sNoise * up, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: sigmas[i + 1]))
            }
        }
        return x
    }
}
