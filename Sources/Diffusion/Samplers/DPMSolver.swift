// Contract: the three single steps of DPM-Solver (Lu et al. 2022a, "DPM-Solver: A Fast ODE
// Solver for Diffusion Probabilistic Model Sampling in Around 10 Steps", Alg. 1 and the
// DPM-Solver-3 of its appendix), in the noise-prediction form k-diffusion's `DPMSolver` class
// uses, with t = -log sigma and eps = (x - D(x, sigma)) / sigma. `dpm_fast` chains them with
// fixed orders; `dpm_adaptive` pairs two of them to estimate the local error.

import Foundation
import Tensor

/// DPM-Solver-1, -2 and -3 steps from t to tNext (t = -log sigma, h = tNext - t > 0):
///
///     DPM-Solver-1: x' = x - sigma(t') (e^h - 1) eps(x, t)
///     DPM-Solver-2: u = x - sigma(s) (e^{r h} - 1) eps,  s = t + r h
///                   x' = x - sigma(t') (e^h - 1) eps - sigma(t') / (2r) (e^h - 1) (eps(u, s) - eps)
///     DPM-Solver-3: u1 as u with r1 = 1/3; u2 = x - sigma(s2) (e^{r2 h} - 1) eps
///                       - sigma(s2) (r2/r1) ((e^{r2 h} - 1)/(r2 h) - 1) (eps(u1, s1) - eps),  r2 = 2/3
///                   x' = x - sigma(t') (e^h - 1) eps - sigma(t') / r2 ((e^h - 1)/h - 1) (eps(u2, s2) - eps)
///
/// Orders 1, 2 and 3 (Lu et al. 2022a, Thm. 3.2), with 1, 2 and 3 denoiser evaluations.
struct DPMSolverStep {
    /// The denoiser, called at sigma = e^{-t}.
    let denoiser: any Denoiser
    /// eps(x, t) = (x - D(x, sigma(t))) / sigma(t).
    func eps(_ x: Tensor, t: Double) throws -> Tensor {
        SamplerMath.derivative(x, sigma: exp(-t), denoised: try denoiser.denoise(x, sigma: exp(-t)))
    }

    /// DPM-Solver-1 (the DDIM step) with eps at t given.
    static func first(_ x: Tensor, t: Double, tNext: Double, eps: Tensor) -> Tensor {
        SamplerMath.combine(1, x, -exp(-tNext) * expm1(tNext - t), eps)
    }

    /// DPM-Solver-2 with eps at t given; also returns eps at the intermediate point.
    func second(_ x: Tensor, t: Double, tNext: Double, r1: Double = 0.5, eps: Tensor, epsR1: Tensor? = nil) throws -> (x: Tensor, epsR1: Tensor) {
        let h = tNext - t, s1 = t + r1 * h
        let e1 = try epsR1 ?? self.eps(SamplerMath.combine(1, x, -exp(-s1) * expm1(r1 * h), eps), t: s1)
        let sn = exp(-tNext)
        return (SamplerMath.combine(1, x, -sn * expm1(h), eps, -sn / (2 * r1) * expm1(h), e1 - eps), e1)
    }

    /// DPM-Solver-3 with eps at t (and optionally eps at t + h/3) given.
    func third(_ x: Tensor, t: Double, tNext: Double, eps: Tensor, epsR1: Tensor? = nil) throws -> Tensor {
        let r1 = 1.0 / 3, r2 = 2.0 / 3
        let h = tNext - t, s1 = t + r1 * h, s2 = t + r2 * h
        let e1 = try epsR1 ?? self.eps(SamplerMath.combine(1, x, -exp(-s1) * expm1(r1 * h), eps), t: s1)
        let u2 = SamplerMath.combine(1, x, -exp(-s2) * expm1(r2 * h), eps,
                                     -exp(-s2) * (r2 / r1) * (expm1(r2 * h) / (r2 * h) - 1), e1 - eps)
        let e2 = try self.eps(u2, t: s2)
        let sn = exp(-tNext)
        return SamplerMath.combine(1, x, -sn * expm1(h), eps, -sn / r2 * (expm1(h) / h - 1), e2 - eps)
    }

    /// The noise-level range a `dpm_fast`/`dpm_adaptive` run covers: sigmas[0] down to the smallest
    /// positive sigma (ComfyUI's rule for a list ending in 0).
    static func range(_ sigmas: [Double], sampler: String) throws -> (max: Double, min: Double) {
        try SamplerMath.validate(sigmas)
        let low = sigmas.last! > 0 ? sigmas.last! : sigmas[sigmas.count - 2]
        guard low > 0, low < sigmas[0] else {
            throw DiffusionError.invalidSigmas("\(sampler) needs a positive smallest sigma below sigmas[0]; got \(sigmas) (a one-step list ending in 0 has none)")
        }
        return (sigmas[0], low)
    }

    /// The ancestral variant of a step t → tNext (k-diffusion's `DPMSolver`): the deterministic
    /// part goes to min(tEnd, -log sigma_down), then noise of std sqrt(sigma(tNext)² - sigma(t_down)²).
    static func ancestral(t: Double, tNext: Double, tEnd: Double, eta: Double) -> (tDown: Double, up: Double) {
        guard eta > 0 else { return (tNext, 0) }
        let (down, _) = SamplerMath.ancestralStep(from: exp(-t), to: exp(-tNext), eta: eta)
        let tDown = down > 0 ? Swift.min(tEnd, -log(down)) : tEnd
        let up = (exp(-2 * tNext) - exp(-2 * tDown)).squareRoot()
        return (tDown, up.isNaN ? 0 : up)
    }
}
