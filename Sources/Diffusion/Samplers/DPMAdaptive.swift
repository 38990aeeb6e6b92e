// Contract: `dpm_adaptive` (k-diffusion `sample_dpm_adaptive`): DPM-Solver-12 / -23 with
// adaptive step size (Lu et al. 2022a, "DPM-Solver", Sec. 3.3 and Alg. 4-5), from sigmas[0] to
// the smallest positive sigma; the step sizes come from the error control, not from the sigma
// list, whose inner values are ignored. It reports its step and evaluation counts.

import Foundation
import Tensor

/// Adaptive DPM-Solver, in t = -log sigma. Each attempt from s with step h computes a lower- and
/// a higher-order solution sharing their evaluations (order 3: DPM-Solver-2 with r = 1/3 and
/// DPM-Solver-3, 3 NFE; order 2: DPM-Solver-1 and -2, 2 NFE) and the scaled error
///
///     delta = max(atol, rtol max(|x_low|, |x_prev|));   E = ||(x_low - x_high) / delta||_2 / sqrt(numel)
///
/// A PID controller (Söderlind 2003; k-diffusion's `PIDStepSizeController`) scales h by
/// f = 1 + atan(E^{-b1} E_{-1}^{-b2} E_{-2}^{-b3} - 1) with b1 = (p + i + d)/k, b2 = -(p + 2d)/k,
/// b3 = d/k (k = order, or 1.5 with eta > 0); the attempt is accepted when f >= accept_safety and
/// then x = x_high (+ ancestral noise as in `dpm_fast` when eta > 0). The defaults (i = 1 only)
/// are the paper's elementary controller h' = h E^{-1/k}.
public struct DPMAdaptiveSampler: Sampler {
    /// 3 (DPM-Solver-23, the default) or 2 (DPM-Solver-12).
    public var order: Int
    /// Relative tolerance.
    public var rtol: Double
    /// Absolute tolerance (k-diffusion's default 0.0078 is one 8-bit level of [-1, 1] data).
    public var atol: Double
    /// The first step size in t = -log sigma.
    public var hInit: Double
    /// Proportional coefficient of the PID controller.
    public var pcoeff: Double
    /// Integral coefficient.
    public var icoeff: Double
    /// Derivative coefficient.
    public var dcoeff: Double
    /// Lowest step factor that accepts a step.
    public var acceptSafety: Double
    /// Fraction of the DDPM noise to add (0, the default: the deterministic solver).
    public var eta: Double
    /// Scale of the added noise.
    public var sNoise: Double
    /// `"dpm_adaptive"`.
    public var name: String { "dpm_adaptive" }

    /// What a run did: attempted steps, denoiser evaluations, accepted and rejected attempts.
    public struct Info: Sendable, Equatable {
        /// Attempted steps (accepted + rejected).
        public var steps = 0
        /// Denoiser evaluations (order per attempt).
        public var nfe = 0
        /// Accepted attempts.
        public var accepted = 0
        /// Rejected attempts.
        public var rejected = 0
    }

    /// Creates the sampler with k-diffusion's defaults.
    public init(order: Int = 3, rtol: Double = 0.05, atol: Double = 0.0078, hInit: Double = 0.05, pcoeff: Double = 0,
                icoeff: Double = 1, dcoeff: Double = 0, acceptSafety: Double = 0.81, eta: Double = 0, sNoise: Double = 1) {
        self.order = order; self.rtol = rtol; self.atol = atol; self.hInit = hInit
        self.pcoeff = pcoeff; self.icoeff = icoeff; self.dcoeff = dcoeff; self.acceptSafety = acceptSafety
        self.eta = eta; self.sNoise = sNoise
    }

    /// Runs the sampler (see `sampleWithInfo`).
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try sampleWithInfo(denoiser, x: x, sigmas: sigmas, noise: noise, callback: callback).x
    }

    /// Runs the adaptive loop from sigmas[0] to the smallest positive sigma; the callback sees each
    /// accepted step (index = accepted count so far) with the state before it.
    /// - Throws: `DiffusionError.invalidParameter` for an order other than 2 or 3 or a non-positive
    ///   tolerance or first step; `DiffusionError.invalidSigmas` for a list without a positive end.
    public func sampleWithInfo(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                               callback: SamplerCallback? = nil) throws -> (x: Tensor, info: Info) {
        guard order == 2 || order == 3 else { throw DiffusionError.invalidParameter("dpm_adaptive order must be 2 or 3, got \(order)") }
        guard rtol > 0, atol > 0, hInit > 0, acceptSafety > 0 else {
            throw DiffusionError.invalidParameter("dpm_adaptive needs rtol, atol, h_init and accept_safety > 0 (got \(rtol), \(atol), \(hInit), \(acceptSafety))")
        }
        let (sigmaMax, sigmaMin) = try DPMSolverStep.range(sigmas, sampler: name)
        let tEnd = -log(sigmaMin)
        let k = eta > 0 ? 1.5 : Double(order)
        let (b1, b2, b3) = ((pcoeff + icoeff + dcoeff) / k, -(pcoeff + 2 * dcoeff) / k, dcoeff / k)
        let solver = DPMSolverStep(denoiser: denoiser)
        var (x, xPrev, s, h) = (x, x, -log(sigmaMax), hInit)
        var inverseErrors: [Double] = []       // 1/E of this, the last and the one before accepted attempt
        var info = Info()
        while s < tEnd - 1e-5 {
            let t = Swift.min(tEnd, s + h)
            let (tDown, up) = DPMSolverStep.ancestral(t: s, tNext: t, tEnd: tEnd, eta: eta)
            let eps = try solver.eps(x, t: s)
            let low: Tensor, high: Tensor
            if order == 2 {
                low = DPMSolverStep.first(x, t: s, tNext: tDown, eps: eps)
                high = try solver.second(x, t: s, tNext: tDown, eps: eps).x
            } else {
                let second = try solver.second(x, t: s, tNext: tDown, r1: 1.0 / 3, eps: eps)
                low = second.x
                high = try solver.third(x, t: s, tNext: tDown, eps: eps, epsR1: second.epsR1)
            }
            let error = Self.scaledError(low: low, high: high, previous: xPrev, rtol: rtol, atol: atol)
            let inverse = 1 / (error + 1e-8)
            if inverseErrors.isEmpty { inverseErrors = [inverse, inverse, inverse] }
            inverseErrors[0] = inverse
            let factor = 1 + atan(pow(inverseErrors[0], b1) * pow(inverseErrors[1], b2) * pow(inverseErrors[2], b3) - 1)
            let accept = factor >= acceptSafety
            if accept {
                inverseErrors[2] = inverseErrors[1]
                inverseErrors[1] = inverseErrors[0]
                try callback?(SamplerStep(index: info.accepted, sigma: exp(-s), sigmaHat: exp(-s), x: x,
                                          denoised: SamplerMath.combine(1, x, -exp(-s), eps)))
                xPrev = low
                x = eta > 0 ? SamplerMath.combine(1, high, sNoise * up, noise.noise(shape: x.shape, sigma: exp(-s), sigmaNext: exp(-t))) : high
                s = t
                info.accepted += 1
            } else {
                info.rejected += 1
            }
            h *= factor
            info.nfe += order
            info.steps += 1
        }
        return (x, info)
    }

    /// ||(low - high) / max(atol, rtol max(|low|, |previous|))||_2 / sqrt(numel), in Double.
    static func scaledError(low: Tensor, high: Tensor, previous: Tensor, rtol: Double, atol: Double) -> Double {
        let (l, hi, p) = (low.scalars, high.scalars, previous.scalars)
        var sum = 0.0
        for i in l.indices {
            let delta = Swift.max(atol, rtol * Swift.max(abs(Double(l[i])), abs(Double(p[i]))))
            let e = (Double(l[i]) - Double(hi[i])) / delta
            sum += e * e
        }
        return (sum / Double(l.count)).squareRoot()
    }
}
