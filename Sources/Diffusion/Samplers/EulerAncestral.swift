// Contract: `euler_ancestral` (k-diffusion `sample_euler_ancestral`): an Euler step to
// sigma_down, then fresh noise of std sigma_up — DDPM's ancestral sampling (Ho et al. 2020,
// Alg. 2) written in sigma (with eta = 1 it is DDPM; see `SamplerMath.ancestralStep`).

import Tensor

/// Ancestral sampling with Euler steps:
///
///     (sigma_down, sigma_up) = ancestralStep(sigma_i, sigma_{i+1}, eta)
///     x = x + (sigma_down - sigma_i) (x - D(x, sigma_i)) / sigma_i
///     x_{i+1} = x + s_noise * sigma_up * z        (only if sigma_{i+1} > 0)
///
/// First order in the deterministic part; 1 NFE per step; stochastic (eta > 0).
public struct EulerAncestralSampler: Sampler {
    /// Fraction of the DDPM noise to add (0: plain Euler).
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// `"euler_ancestral"`.
    public var name: String { "euler_ancestral" }

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
            x = SamplerMath.combine(1, x, down - sigmas[i], d)
            if sigmas[i + 1] > 0 {
                x = SamplerMath.combine(1, x, sNoise * up, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: sigmas[i + 1]))
            }
        }
        return x
    }
}
