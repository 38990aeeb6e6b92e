// Contract: `edm_stochastic`, the stochastic sampler of Karras et al. 2022 ("Elucidating the
// Design Space of Diffusion-Based Generative Models", Alg. 2) as a named preset: `heun` with
// churn at the paper's ImageNet-64 setting (Table 5: S_churn 80, S_tmin 0.05, S_tmax 50,
// S_noise 1.003). k-diffusion's `sample_heun` with these arguments is the same sampler.

import Tensor

/// Karras et al. 2022, Alg. 2, with gamma_i = min(S_churn / N, sqrt 2 - 1) for sigma_i in [S_tmin, S_tmax]:
///
///     sigma_hat = sigma_i (1 + gamma_i);   x_hat = x_i + S_noise sqrt(sigma_hat² - sigma_i²) z
///     x_{i+1} = Heun step of x_hat from sigma_hat to sigma_{i+1}   (Euler on the step to 0)
///
/// Second order in its ODE part; 2 NFE per step (1 on the last); stochastic.
public struct EDMStochasticSampler: Sampler {
    /// The Heun sampler with the churn settings.
    public var heun: HeunSampler
    /// `"edm_stochastic"`.
    public var name: String { "edm_stochastic" }

    /// Creates the sampler; the defaults are the paper's ImageNet-64 setting.
    public init(sChurn: Double = 80, sTmin: Double = 0.05, sTmax: Double = 50, sNoise: Double = 1.003) {
        heun = HeunSampler(sChurn: sChurn, sTmin: sTmin, sTmax: sTmax, sNoise: sNoise)
    }

    /// Runs `heun` with the churn above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try heun.sample(denoiser, x: x, sigmas: sigmas, noise: noise, callback: callback)
    }
}
