// Contract: `dpmpp_sde` (k-diffusion `sample_dpmpp_sde`): a stochastic DPM-Solver++ with two
// stages (Lu et al. 2022, "DPM-Solver++", singlestep second order, with ancestral noise at
// both stages as in k-diffusion), r = 1/2. Noise comes from the source, normally a Brownian tree.

import Foundation
import Tensor

/// Stochastic DPM-Solver++ (2 stages), in t = -log sigma, h = t_{i+1} - t_i, s = t_i + r h:
///
///     stage 1: (sd, su) = ancestralStep(sigma_i, sigma_s, eta)
///              x' = (sd / sigma_i) x - expm1(log(sd / sigma_i)) D(x, sigma_i) + s_noise su z(sigma_i, sigma_s)
///     stage 2: (sd, su) = ancestralStep(sigma_i, sigma_{i+1}, eta)
///              D' = (1 - 1/(2r)) D(x, sigma_i) + 1/(2r) D(x', sigma_s)
///              x_{i+1} = (sd / sigma_i) x - expm1(log(sd / sigma_i)) D' + s_noise su z(sigma_i, sigma_{i+1})
///
/// The step to 0 is an Euler step. 2 NFE per step (1 on the last); stochastic.
public struct DPMPPSDESampler: Sampler {
    /// Fraction of the ancestral noise.
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// Position of the intermediate stage in log sigma (k-diffusion default 1/2).
    public var r: Double = 0.5
    /// `"dpmpp_sde"`.
    public var name: String { "dpmpp_sde" }

    /// Creates the sampler.
    public init(eta: Double = 1, sNoise: Double = 1, r: Double = 0.5) { self.eta = eta; self.sNoise = sNoise; self.r = r }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            if sigmas[i + 1] == 0 {
                let d = SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised)
                x = SamplerMath.combine(1, x, -sigmas[i], d)
                continue
            }
            let t = -log(sigmas[i]), tNext = -log(sigmas[i + 1])
            let h = tNext - t
            let sigmaT = exp(-t), sigmaS = exp(-(t + h * r)), sigmaNext = exp(-tNext)
            let fac = 1 / (2 * r)
            // Stage 1
            let (sd1, su1) = SamplerMath.ancestralStep(from: sigmaT, to: sigmaS, eta: eta)
            var x2 = SamplerMath.combine(sd1 / sigmaT, x, -expm1(log(sd1 / sigmaT)), denoised)
            x2 = SamplerMath.combine(1, x2, sNoise * su1, noise.noise(shape: x.shape, sigma: sigmaT, sigmaNext: sigmaS))
            let denoised2 = try denoiser.denoise(x2, sigma: sigmaS)
            // Stage 2
            let (sd2, su2) = SamplerMath.ancestralStep(from: sigmaT, to: sigmaNext, eta: eta)
            let target = SamplerMath.combine(1 - fac, denoised, fac, denoised2)
            x = SamplerMath.combine(sd2 / sigmaT, x, -expm1(log(sd2 / sigmaT)), target)
            x = SamplerMath.combine(1, x, sNoise * su2, noise.noise(shape: x.shape, sigma: sigmaT, sigmaNext: sigmaNext))
        }
        return x
    }
}
