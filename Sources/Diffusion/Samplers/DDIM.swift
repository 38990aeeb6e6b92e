// Contract: `ddim` (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", eq. 12;
// CompVis `ddim.py`, diffusers `DDIMScheduler`), written on the variance-exploding state
// x = x_vp / sqrt(alphabar) with sigma^2 = (1 - alphabar) / alphabar. Run it over a discrete
// model's own sigmas (`DiscreteNoiseSchedule.sigmas(count:spacing:...)`), with
// `final: .firstTimestep` for CompVis's "alphas_cumprod[0] after the last step".

import Tensor

/// DDIM with eta. In VP form (eq. 12), with a = alphabar_t, a' = alphabar_{t-1}:
///
///     x0 = (x_t - sqrt(1 - a) eps) / sqrt(a),   sigma_t = eta sqrt((1 - a')/(1 - a) (1 - a/a'))
///     x_{t-1} = sqrt(a') x0 + sqrt(1 - a' - sigma_t^2) eps + sigma_t z
///
/// Divided by sqrt(a') this is, on the VE state with eps = (x - D) / sigma_i,
///
///     sigma_up = eta sigma_{i+1} sqrt(sigma_i^2 - sigma_{i+1}^2) / sigma_i   ( = sigma_t / sqrt(a') )
///     x_{i+1} = D + sqrt(sigma_{i+1}^2 - sigma_up^2) eps + sigma_up z
///
/// so DDIM with eta = 0 is Euler's method (Karras et al. 2022, sec. 3) and with eta = 1 it is
/// DDPM. First order; 1 NFE per step; deterministic when eta = 0. Noise is drawn when sigma_up > 0.
public struct DDIMSampler: Sampler {
    /// 0: deterministic DDIM; 1: DDPM's posterior variance.
    public var eta: Double = 0
    /// `"ddim"`.
    public var name: String { "ddim" }

    /// Creates the sampler.
    public init(eta: Double = 0) { self.eta = eta }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let eps = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            let up = eta * next * (sigma * sigma - next * next).squareRoot() / sigma
            x = SamplerMath.combine(1, denoised, (Swift.max(next * next - up * up, 0)).squareRoot(), eps)
            if up > 0 {
                x = SamplerMath.combine(1, x, up, noise.noise(shape: x.shape, sigma: sigma, sigmaNext: next))
            }
        }
        return x
    }
}
