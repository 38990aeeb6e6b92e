// Contract: `dpmpp_3m_sde` (k-diffusion `sample_dpmpp_3m_sde`): the third-order multistep
// DPM-Solver++ for the reverse SDE (Lu et al. 2022, "DPM-Solver++", third-order multistep
// with phi functions; noise as in `dpmpp_2m_sde`).

import Foundation
import Tensor

/// DPM-Solver++(3M) SDE, with h = t_{i+1} - t_i, h_eta = h (eta + 1), r0 = h_{i-1}/h, r1 = h_{i-2}/h:
///
///     x = e^{-h_eta} x_i + (1 - e^{-h_eta}) D_i
///     d1_0 = (D_i - D_{i-1}) / r0,  d1_1 = (D_{i-1} - D_{i-2}) / r1
///     d1 = d1_0 + (d1_0 - d1_1) r0 / (r0 + r1),  d2 = (d1_0 - d1_1) / (r0 + r1)
///     phi_2 = (e^{-h_eta} - 1) / h_eta + 1,  phi_3 = phi_2 / h_eta - 1/2
///     x += phi_2 d1 - phi_3 d2          (with 2 past values: x += phi_2 (D_i - D_{i-1}) / r0)
///     x_{i+1} = x + sigma_{i+1} sqrt(1 - e^{-2 h eta}) s_noise z(sigma_i, sigma_{i+1})
///
/// The step to 0 returns D_i. Third order in the ODE limit; 1 NFE per step; stochastic when eta > 0.
public struct DPMPP3MSDESampler: Sampler {
    /// Amount of SDE noise (0: the ODE solver DPM-Solver++(3M)).
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// `"dpmpp_3m_sde"`.
    public var name: String { "dpmpp_3m_sde" }

    /// Creates the sampler.
    public init(eta: Double = 1, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        var denoised1: Tensor?, denoised2: Tensor?
        var h1: Double?, h2: Double?
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            var h: Double?
            if sigmas[i + 1] == 0 {
                x = denoised
            } else {
                let step = log(sigmas[i]) - log(sigmas[i + 1])
                h = step
                let hEta = step * (eta + 1)
                x = SamplerMath.combine(exp(-hEta), x, -expm1(-hEta), denoised)
                let phi2 = expm1(-hEta) / hEta + 1
                if let d1Old = denoised1, let d2Old = denoised2, let h1, let h2 {
                    let r0 = h1 / step, r1 = h2 / step
                    let d10 = SamplerMath.combine(1 / r0, denoised, -1 / r0, d1Old)
                    let d11 = SamplerMath.combine(1 / r1, d1Old, -1 / r1, d2Old)
                    let d1 = SamplerMath.combine(1 + r0 / (r0 + r1), d10, -r0 / (r0 + r1), d11)
                    let d2 = SamplerMath.combine(1 / (r0 + r1), d10, -1 / (r0 + r1), d11)
                    let phi3 = phi2 / hEta - 0.5
                    x = SamplerMath.combine(1, x, phi2, d1, -phi3, d2)
                } else if let d1Old = denoised1, let h1 {
                    let r = h1 / step
                    x = SamplerMath.combine(1, x, phi2 / r, denoised, -phi2 / r, d1Old)
                }
                if eta != 0 {
                    let std = sigmas[i + 1] * (-expm1(-2 * step * eta)).squareRoot() * sNoise
                    x = SamplerMath.combine(1, x, std, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: sigmas[i + 1]))
                }
            }
            denoised2 = denoised1
            denoised1 = denoised
            h2 = h1
            h1 = h
        }
        return x
    }
}
