// Contract: `dpmpp_2m_sde` (k-diffusion `sample_dpmpp_2m_sde`): DPM-Solver++(2M) for the
// reverse SDE (Lu et al. 2022, "DPM-Solver++", sec. 5 / App. and Gonzalez et al. 2023,
// "SEEDS"), with the midpoint or Heun correction of the first-order term.

import Foundation
import Tensor

/// DPM-Solver++(2M) SDE, with t = -log sigma, h = t_{i+1} - t_i, eta_h = eta h, r = h_{i-1} / h:
///
///     x = (sigma_{i+1}/sigma_i) e^{-eta_h} x_i + (1 - e^{-h-eta_h}) D_i
///     midpoint: x += (1/2) (1 - e^{-h-eta_h}) (1/r) (D_i - D_{i-1})
///     heun:     x += ((1 - e^{-h-eta_h}) / (-h-eta_h) + 1) (1/r) (D_i - D_{i-1})      (not on the first step)
///     x_{i+1} = x + sigma_{i+1} sqrt(1 - e^{-2 eta_h}) s_noise z(sigma_i, sigma_{i+1})
///
/// The step to 0 returns D_i. Second order (in the ODE limit eta = 0); 1 NFE per step; stochastic when eta > 0.
public struct DPMPP2MSDESampler: Sampler {
    /// The correction of the multistep term.
    public enum SolverType: String, Sendable, CaseIterable {
        /// k-diffusion's default.
        case midpoint
        /// The Heun variant (A1111 "DPM++ 2M SDE Heun").
        case heun
    }
    /// Amount of SDE noise (0: the ODE solver DPM-Solver++(2M) with midpoint weights).
    public var eta: Double = 1
    /// Scale of the added noise.
    public var sNoise: Double = 1
    /// Midpoint or Heun.
    public var solverType: SolverType = .midpoint
    /// `"dpmpp_2m_sde"`.
    public var name: String { "dpmpp_2m_sde" }

    /// Creates the sampler.
    public init(eta: Double = 1, sNoise: Double = 1, solverType: SolverType = .midpoint) {
        self.eta = eta; self.sNoise = sNoise; self.solverType = solverType
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        var oldDenoised: Tensor?
        var hLast: Double?
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            var h: Double?
            if sigmas[i + 1] == 0 {
                x = denoised
            } else {
                let step = log(sigmas[i]) - log(sigmas[i + 1])
                h = step
                let etaH = eta * step
                let a = -expm1(-step - etaH)
                x = SamplerMath.combine(sigmas[i + 1] / sigmas[i] * exp(-etaH), x, a, denoised)
                if let old = oldDenoised, let hLast {
                    let r = hLast / step
                    let c: Double
                    switch solverType {
                    case .heun: c = (a / (-step - etaH) + 1) / r
                    case .midpoint: c = 0.5 * a / r
                    }
                    x = SamplerMath.combine(1, x, c, denoised, -c, old)
                }
                if eta != 0 {
                    let std = sigmas[i + 1] * (-expm1(-2 * etaH)).squareRoot() * sNoise
                    x = SamplerMath.combine(1, x, std, noise.noise(shape: x.shape, sigma: sigmas[i], sigmaNext: sigmas[i + 1]))
                }
            }
            oldDenoised = denoised
            hLast = h
        }
        return x
    }
}
