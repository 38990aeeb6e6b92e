// Contract: `dpm_2` (k-diffusion `sample_dpm_2`): DPM-Solver-2's midpoint in log sigma
// (Lu et al. 2022, "DPM-Solver", Alg. 1 with r = 1/2) applied to the Karras ODE, with the churn
// of Karras et al. 2022, Alg. 2.

import Foundation
import Tensor

/// Second-order midpoint steps with the midpoint taken in log sigma:
///
///     sigma_mid = exp((log sigma_hat + log sigma_{i+1}) / 2)
///     d = (x - D(x, sigma_hat)) / sigma_hat;   x' = x + (sigma_mid - sigma_hat) d
///     d' = (x' - D(x', sigma_mid)) / sigma_mid
///     x_{i+1} = x + (sigma_{i+1} - sigma_hat) d'
///
/// The step to sigma = 0 is an Euler step. Second order; 2 NFE per step (1 on the last).
public struct DPM2Sampler: Sampler {
    /// Amount of churn (0: the plain ODE solver).
    public var sChurn: Double = 0
    /// Lowest sigma that gets churn.
    public var sTmin: Double = 0
    /// Highest sigma that gets churn.
    public var sTmax: Double = .infinity
    /// Scale of the churn noise.
    public var sNoise: Double = 1
    /// `"dpm_2"`.
    public var name: String { "dpm_2" }

    /// Creates the sampler; defaults give the deterministic method.
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
            if sigmas[i + 1] == 0 {
                x = SamplerMath.combine(1, x, sigmas[i + 1] - sigmaHat, d)
            } else {
                let sigmaMid = exp((log(sigmaHat) + log(sigmas[i + 1])) / 2)
                let x2 = SamplerMath.combine(1, x, sigmaMid - sigmaHat, d)
                let d2 = SamplerMath.derivative(x2, sigma: sigmaMid, denoised: try denoiser.denoise(x2, sigma: sigmaMid))
                x = SamplerMath.combine(1, x, sigmas[i + 1] - sigmaHat, d2)
            }
        }
        return x
    }
}
