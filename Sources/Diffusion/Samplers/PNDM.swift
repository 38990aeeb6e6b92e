// Contract: diffusers' `PNDMScheduler`: PNDM of Liu et al. 2022 ("Pseudo Numerical Methods for
// Diffusion Models on Manifolds", Alg. 1-2) — with its Runge–Kutta warm-up (pseudo-RK4 for three
// steps, `skip_prk_steps=False`, diffusers' default) or without it (PLMS's improved-Euler start,
// `skip_prk_steps=True`), then the 4-step linear multistep method. diffusers combines the
// network's raw outputs and converts the combination to a noise estimate at the step's start;
// for a v-predicting network that is not the combination of the noise estimates, so the
// sampler can combine velocities (`combinesVelocity`). For epsilon models without warm-up it
// equals `PLMSSampler` (CompVis PLMS).

import Tensor

/// PNDM on the VE state. The transfer of PNDM (the DDIM step, eq. 11) is, on the VE state,
/// x' = x + (sigma' - sigma) e for a noise estimate e. Each network output is kept as
/// o_k = eps_k = (x_k - D_k) / sigma_k (epsilon) or o_k = v_k = alpha_k eps_k - sigma_vp,k D_k
/// (velocity, with alpha = 1 / sqrt(1 + sigma^2), sigma_vp = sigma alpha); a combination o of
/// outputs becomes e = o (epsilon) or e = alpha o + sigma_vp alpha x (velocity) at the state x
/// and sigma the transfer starts from. Each of the first warm-up steps, sigma_i → sigma_{i+1} with
/// midpoint m_i (the timestep halfway), is
///
///     x1 = x + (m_i - sigma_i) e(o1),  x2 = x + (m_i - sigma_i) e(o2),  x3 = x + (sigma_{i+1} - sigma_i) e(o3)
///     x_{i+1} = x + (sigma_{i+1} - sigma_i) e((o1 + 2 o2 + 2 o3 + o4) / 6)
///
/// with o1..o4 the outputs at x, x1, x2, x3. Without warm-up, step 0 is improved Euler (a second
/// call at sigma_1, then e((o0 + o0') / 2) from x_0). Later steps use
/// e((55 o_i - 59 o_{i-1} + 37 o_{i-2} - 9 o_{i-3}) / 24) (fewer terms while fewer outputs exist:
/// (3 o_i - o_{i-1}) / 2, (23 o_i - 16 o_{i-1} + 5 o_{i-2}) / 12), the first outputs of the
/// warm-up steps serving as the older o. 4 NFE per warm-up step, then 1 (2 on an improved-Euler start).
public struct PNDMSampler: Sampler {
    /// The midpoint sigma of each warm-up step (diffusers: timestep t - (T / n) / 2); empty: PLMS.
    public var warmupMidpoints: [Double]
    /// Combine velocities (diffusers PNDM with `prediction_type="v_prediction"`) instead of noise estimates.
    public var combinesVelocity: Bool
    /// `"plms"` (PNDM's multistep part).
    public var name: String { "plms" }

    /// Creates the sampler; `warmupMidpoints` has one value per Runge–Kutta step (3 in PNDM).
    public init(warmupMidpoints: [Double] = [], combinesVelocity: Bool = false) {
        self.warmupMidpoints = warmupMidpoints
        self.combinesVelocity = combinesVelocity
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        let warmup = warmupMidpoints.count
        guard warmup == 0 || (warmup < sigmas.count - 1 && sigmas[warmup] > 0) else {
            throw DiffusionError.invalidSigmas("PNDM's \(warmup) Runge–Kutta steps need more than \(warmup) steps, all to sigma > 0")
        }
        func scales(_ sigma: Double) -> (alpha: Double, sigmaVP: Double) {
            let alpha = 1 / (1 + sigma * sigma).squareRoot()
            return (alpha, sigma * alpha)
        }
        // The kept output o of a denoiser call.
        func output(_ x: Tensor, _ sigma: Double, _ denoised: Tensor) -> Tensor {
            let eps = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            guard combinesVelocity else { return eps }
            let (alpha, sigmaVP) = scales(sigma)
            return SamplerMath.combine(alpha, eps, -sigmaVP, denoised)
        }
        func output(_ x: Tensor, _ sigma: Double) throws -> Tensor { output(x, sigma, try denoiser.denoise(x, sigma: sigma)) }
        // The noise estimate of a combined output o for a transfer starting at (x, sigma).
        func estimate(_ o: Tensor, _ x: Tensor, _ sigma: Double) -> Tensor {
            guard combinesVelocity else { return o }
            let (alpha, sigmaVP) = scales(sigma)
            return SamplerMath.combine(alpha, o, sigmaVP * alpha, x)
        }
        var x = x
        var old: [Tensor] = []  // newest last
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let o1 = output(x, sigma, denoised)
            let o: Tensor
            if i < warmup {
                let mid = warmupMidpoints[i]
                let o2 = try output(SamplerMath.combine(1, x, mid - sigma, estimate(o1, x, sigma)), mid)
                let o3 = try output(SamplerMath.combine(1, x, mid - sigma, estimate(o2, x, sigma)), mid)
                let o4 = try output(SamplerMath.combine(1, x, next - sigma, estimate(o3, x, sigma)), next)
                o = SamplerMath.combine(1, SamplerMath.combine(1.0 / 6, o1, 1.0 / 3, o2, 1.0 / 3, o3), 1.0 / 6, o4)
            } else {
                switch old.count {
                case 0:
                    // The second call is at sigma_1, which must therefore be > 0.
                    guard next > 0 else {
                        throw DiffusionError.invalidSigmas("plms evaluates the model at sigmas[1] on its first step, so sigmas[1] must be > 0 (use 2 or more steps, or end on a positive sigma)")
                    }
                    let xPrime = SamplerMath.combine(1, x, next - sigma, estimate(o1, x, sigma))
                    o = SamplerMath.combine(0.5, o1, 0.5, try output(xPrime, next))
                case 1: o = SamplerMath.combine(1.5, o1, -0.5, old[0])
                case 2: o = SamplerMath.combine(23.0 / 12, o1, -16.0 / 12, old[1], 5.0 / 12, old[0])
                default:
                    let n = old.count
                    o = SamplerMath.combine(1, SamplerMath.combine(55.0 / 24, o1, -59.0 / 24, old[n - 1], 37.0 / 24, old[n - 2]),
                                            -9.0 / 24, old[n - 3])
                }
            }
            old.append(o1)
            if old.count > 3 { old.removeFirst() }
            x = SamplerMath.combine(1, x, next - sigma, estimate(o, x, sigma))
        }
        return x
    }
}
