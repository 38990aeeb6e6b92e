// Contract: `ddpm`, ancestral sampling of Ho, Jain & Abbeel 2020 ("Denoising Diffusion
// Probabilistic Models", Alg. 2, with the posterior q(x_{t-1} | x_t, x0) of eq. 6-7 and the
// "fixed small" variance beta~_t; diffusers `DDPMScheduler`), written on the VE state over a
// discrete model's own sigmas.

import Tensor

/// DDPM ancestral sampling. In VP form, with a = alphabar_t, a' = alphabar_{t-1}, alpha_t = a/a', beta_t = 1 - alpha_t:
///
///     mean = sqrt(a') beta_t / (1 - a) x0 + sqrt(alpha_t) (1 - a') / (1 - a) x_t
///     var  = (1 - a') / (1 - a) beta_t,      x_{t-1} = mean + sqrt(var) z   (z only when t > 0)
///
/// Divided by sqrt(a') and written with sigma_i, sigma_{i+1} (= sigma_t, sigma_{t-1}) this is
///
///     x_{i+1} = D + (sigma_{i+1}^2 / sigma_i^2) (x_i - D) + (sigma_{i+1} / sigma_i) sqrt(sigma_i^2 - sigma_{i+1}^2) z
///
/// (the same step as `euler_ancestral` and DDIM with eta = 1). With a list of fewer sigmas than
/// training steps it is diffusers' "skipped" DDPM. 1 NFE per step; stochastic.
public struct DDPMSampler: Sampler {
    /// `"ddpm"`.
    public var name: String { "ddpm" }

    /// Creates the sampler.
    public init() {}

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let ratio = next * next / (sigma * sigma)
            x = SamplerMath.combine(1 - ratio, denoised, ratio, x)
            if next > 0 {
                let std = next / sigma * (sigma * sigma - next * next).squareRoot()
                x = SamplerMath.combine(1, x, std, noise.noise(shape: x.shape, sigma: sigma, sigmaNext: next))
            }
        }
        return x
    }
}
