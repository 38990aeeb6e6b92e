// Contract: `euler`, Algorithm 2 of Karras et al. 2022 ("Elucidating the Design Space of
// Diffusion-Based Generative Models") with Euler steps (k-diffusion `sample_euler`).

import Tensor

/// Euler's method on the probability-flow ODE, with optional churn (Karras et al. 2022, Alg. 2):
///
///     sigma_hat = sigma_i (1 + gamma_i);  x += sqrt(sigma_hat^2 - sigma_i^2) * s_noise * z   (if gamma_i > 0)
///     d = (x - D(x, sigma_hat)) / sigma_hat
///     x_{i+1} = x + (sigma_{i+1} - sigma_hat) d
///
/// gamma_i = min(sChurn / steps, sqrt 2 - 1) for sigma_i in [sTmin, sTmax]. First order; 1 NFE per step;
/// deterministic when sChurn = 0.
public struct EulerSampler: Sampler {
    /// Amount of churn (0: the plain ODE solver).
    public var sChurn: Double = 0
    /// Lowest sigma that gets churn.
    public var sTmin: Double = 0
    /// Highest sigma that gets churn.
    public var sTmax: Double = .infinity
    /// Scale of the churn noise.
    public var sNoise: Double = 1
    /// `"euler"`.
    public var name: String { "euler" }

    /// Creates the sampler; defaults give the deterministic Euler method.
    public init(sChurn: Double = 0, sTmin: Double = 0, sTmax: Double = .infinity, sNoise: Double = 1) {
        self.sChurn = sChurn; self.sTmin = sTmin; self.sTmax = sTmax; self.sNoise = sNoise
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let churned = SamplerMath.churn(x, sigma: sigmas[i], steps: sigmas.count - 1, sChurn: sChurn,
                                            sTmin: sTmin, sTmax: sTmax, sNoise: sNoise, noise: noise)
            x = churned.x
            let sigmaHat = churned.sigmaHat
            let denoised = try denoiser.denoise(x, sigma: sigmaHat)
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmaHat, x: x, denoised: denoised))
            let d = SamplerMath.derivative(x, sigma: sigmaHat, denoised: denoised)
            x = SamplerMath.combine(1, x, sigmas[i + 1] - sigmaHat, d)
        }
        return x
    }
}
