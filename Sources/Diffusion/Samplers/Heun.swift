// Contract: `heun`, Algorithm 2 of Karras et al. 2022 with Heun's second-order correction
// (k-diffusion `sample_heun`).

import Tensor

/// Heun's method (explicit trapezoidal rule) on the probability-flow ODE (Karras et al. 2022, Alg. 2):
///
///     d = (x - D(x, sigma_hat)) / sigma_hat;   x' = x + (sigma_{i+1} - sigma_hat) d
///     d' = (x' - D(x', sigma_{i+1})) / sigma_{i+1}
///     x_{i+1} = x + (sigma_{i+1} - sigma_hat) (d + d') / 2
///
/// The step to sigma = 0 is a plain Euler step. Second order; 2 NFE per step (1 on the last);
/// churn options as `EulerSampler`.
public struct HeunSampler: Sampler {
    /// Amount of churn (0: the plain ODE solver).
    public var sChurn: Double = 0
    /// Lowest sigma that gets churn.
    public var sTmin: Double = 0
    /// Highest sigma that gets churn.
    public var sTmax: Double = .infinity
    /// Scale of the churn noise.
    public var sNoise: Double = 1
    /// `"heun"`.
    public var name: String { "heun" }

    /// Creates the sampler; defaults give the deterministic Heun method.
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
            let dt = sigmas[i + 1] - sigmaHat
            if sigmas[i + 1] == 0 {
                x = SamplerMath.combine(1, x, dt, d)
            } else {
                let x2 = SamplerMath.combine(1, x, dt, d)
                let d2 = SamplerMath.derivative(x2, sigma: sigmas[i + 1], denoised: try denoiser.denoise(x2, sigma: sigmas[i + 1]))
                x = SamplerMath.combine(1, x, dt / 2, d, dt / 2, d2)
            }
        }
        return x
    }
}
