// Contract: `dpm_fast` (k-diffusion `sample_dpm_fast`): DPM-Solver with fixed orders (Lu et al.
// 2022a, "DPM-Solver", Sec. 3.4 "DPM-Solver-fast"), spending a budget of n denoiser evaluations
// on steps evenly spaced in t = -log sigma between sigmas[0] and the smallest positive sigma.
// Only the two ends of the sigma list matter (ComfyUI's rule: n = sigmas.count - 1, the end is
// the last positive sigma); the result is the state at that sigma, not denoised further.

import Foundation
import Tensor

/// DPM-Solver-fast: K = floor(n/3) + 1 steps evenly spaced in t = -log sigma, of orders
///
///     [3, ..., 3, 2, 1]   if n % 3 == 0   (K - 2 third-order steps)
///     [3, ..., 3, n % 3]  otherwise       (K - 1 third-order steps)
///
/// so that exactly n denoiser evaluations are spent (Lu et al. 2022a, Sec. 3.4; each step is a
/// `DPMSolverStep`). With eta > 0 each step is the ancestral split of k-diffusion: the solver
/// step goes to sigma_down and noise of std s_noise sqrt(sigma_{i+1}² - sigma_down²) follows.
/// Its steps are of order 3, but a first-order closing step (n % 3 = 0 or 1) has local error
/// O(h²) and caps the global order at 2; with n % 3 = 2 the run is third order. n NFE in all;
/// stochastic only when eta > 0.
public struct DPMFastSampler: Sampler {
    /// Fraction of the DDPM noise to add (0, the default: the deterministic solver).
    public var eta: Double
    /// Scale of the added noise.
    public var sNoise: Double
    /// `"dpm_fast"`.
    public var name: String { "dpm_fast" }

    /// Creates the sampler (k-diffusion's defaults: eta = 0, s_noise = 1).
    public init(eta: Double = 0, sNoise: Double = 1) { self.eta = eta; self.sNoise = sNoise }

    /// The orders of the steps that spend `nfe` evaluations (the list above).
    public static func orders(nfe: Int) -> [Int] {
        let m = nfe / 3 + 1
        return nfe % 3 == 0 ? Array(repeating: 3, count: m - 2) + [2, 1] : Array(repeating: 3, count: m - 1) + [nfe % 3]
    }

    /// Runs the loop described above with n = sigmas.count - 1 evaluations.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        let (sigmaMax, sigmaMin) = try DPMSolverStep.range(sigmas, sampler: name)
        let orders = Self.orders(nfe: sigmas.count - 1)
        let tStart = -log(sigmaMax), tEnd = -log(sigmaMin)
        let ts = (0...orders.count).map { tStart + (tEnd - tStart) * Double($0) / Double(orders.count) }
        let solver = DPMSolverStep(denoiser: denoiser)
        var x = x
        for (i, order) in orders.enumerated() {
            let (t, tNext) = (ts[i], ts[i + 1])
            let (tDown, up) = DPMSolverStep.ancestral(t: t, tNext: tNext, tEnd: tEnd, eta: eta)
            let eps = try solver.eps(x, t: t)
            try callback?(SamplerStep(index: i, sigma: exp(-t), sigmaHat: exp(-t), x: x,
                                      denoised: SamplerMath.combine(1, x, -exp(-t), eps)))
            switch order {
            case 1: x = DPMSolverStep.first(x, t: t, tNext: tDown, eps: eps)
            case 2: x = try solver.second(x, t: t, tNext: tDown, eps: eps).x
            default: x = try solver.third(x, t: t, tNext: tDown, eps: eps)
            }
            if eta > 0 {     // k-diffusion draws on every step then, also when sigma_up = 0 (the last step)
                x = SamplerMath.combine(1, x, sNoise * up, noise.noise(shape: x.shape, sigma: exp(-t), sigmaNext: exp(-tNext)))
            }
        }
        return x
    }
}
