// Contract: `dpmpp_2m` (k-diffusion `sample_dpmpp_2m`): DPM-Solver++(2M), the second-order
// multistep data-prediction solver of Lu et al. 2022 ("DPM-Solver++", Alg. 2).

import Foundation
import Tensor

/// DPM-Solver++(2M), in t = -log sigma with h = t_{i+1} - t_i, r = h_{i-1} / h:
///
///     D_i = D(x_i, sigma_i)
///     D'  = (1 + 1/(2r)) D_i - (1/(2r)) D_{i-1}        (D_i alone on the first step and the step to 0)
///     x_{i+1} = (sigma_{i+1} / sigma_i) x_i - expm1(-h) D'
///
/// This is the exact solution of the ODE's linear part plus a linear extrapolation of D in t.
/// Second order; 1 NFE per step; deterministic.
public struct DPMPP2MSampler: Sampler {
    /// `"dpmpp_2m"`.
    public var name: String { "dpmpp_2m" }

    /// Creates the sampler.
    public init() {}

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        var oldDenoised: Tensor?
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            if sigmas[i + 1] == 0 {
                x = denoised  // sigma_{i+1} / sigma_i = 0 and -expm1(-inf) = 1
            } else {
                let h = log(sigmas[i]) - log(sigmas[i + 1])
                var target = denoised
                if let old = oldDenoised {
                    let r = (log(sigmas[i - 1]) - log(sigmas[i])) / h
                    target = SamplerMath.combine(1 + 1 / (2 * r), denoised, -1 / (2 * r), old)
                }
                x = SamplerMath.combine(sigmas[i + 1] / sigmas[i], x, -expm1(-h), target)
            }
            oldDenoised = denoised
        }
        return x
    }
}
