// Contract: diffusers' `PNDMScheduler`: PNDM of Liu et al. 2022 ("Pseudo Numerical Methods for
// Diffusion Models on Manifolds", Alg. 1-2) — with its Runge–Kutta warm-up (pseudo-RK4 for three
// steps, `skip_prk_steps=False`, diffusers' default) or without it (PLMS's improved-Euler start,
// `skip_prk_steps=True`), then the 4-step linear multistep method. diffusers combines the
// network's raw outputs and converts the combination to a noise estimate at the step's start;
// for a v-predicting network that is not the combination of the noise estimates, so the
// sampler can combine velocities (`combinesVelocity`). For epsilon models without warm-up it
// equals `PLMSSampler` (CompVis PLMS). diffusers steps from t to t - T // n, which is the next
// timestep it calls the network at only with `leading` spacing over the whole run; `targets` and
// `OffGridStart` take its other runs (linspace or trailing spacing, img2img's strength cut) as
// it takes them.

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
///
/// Off the grid (diffusers' PNDM with `linspace`/`trailing` spacing or cut by img2img's strength):
/// step i's transfer lands on `targets[i]` instead of sigma_{i+1}, and the VP state it reached is
/// then read at the next call's sigma, x_{i+1} = x' sqrt((1 + sigma_{i+1}^2) / (1 + targets[i]^2))
/// (diffusers hands that sample to the network at its next timestep as it is). The improved-Euler
/// start is then diffusers' two first calls: the predictor lands on `predictorTarget`, is read at
/// `secondCall`, and the final transfer starts from x_0 read at `correctorStart` (diffusers:
/// t_1 + T // n) and lands on `targets[0]`.
public struct PNDMSampler: Sampler {
    /// diffusers' improved-Euler start when its levels are off the grid (see the type's comment).
    public struct OffGridStart: Sendable {
        /// Where the predictor (the transfer with the first output alone) lands.
        public var predictorTarget: Double
        /// The sigma of the second network call (diffusers' second timestep).
        public var secondCall: Double
        /// The level x_0 is read at for the final transfer of the first step.
        public var correctorStart: Double
        /// Creates the start.
        public init(predictorTarget: Double, secondCall: Double, correctorStart: Double) {
            self.predictorTarget = predictorTarget
            self.secondCall = secondCall
            self.correctorStart = correctorStart
        }
    }

    /// The midpoint sigma of each warm-up step (diffusers: timestep t - (T / n) / 2); empty: PLMS.
    public var warmupMidpoints: [Double]
    /// Combine velocities (diffusers PNDM with `prediction_type="v_prediction"`) instead of noise estimates.
    public var combinesVelocity: Bool
    /// The noise level each step's transfer lands on (nil: `sigmas[i + 1]`); one per step when given.
    public var targets: [Double]?
    /// The first step's levels off the grid (nil: the predictor lands on and the second call is at
    /// sigma_1, and the corrector starts from sigma_0).
    public var offGridStart: OffGridStart?
    /// `"plms"` (PNDM's multistep part).
    public var name: String { "plms" }

    /// Creates the sampler; `warmupMidpoints` has one value per Runge–Kutta step (3 in PNDM).
    public init(warmupMidpoints: [Double] = [], combinesVelocity: Bool = false, targets: [Double]? = nil,
                offGridStart: OffGridStart? = nil) {
        self.warmupMidpoints = warmupMidpoints
        self.combinesVelocity = combinesVelocity
        self.targets = targets
        self.offGridStart = offGridStart
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        let warmup = warmupMidpoints.count
        guard warmup == 0 || (warmup < sigmas.count - 1 && sigmas[warmup] > 0) else {
            throw DiffusionError.invalidSigmas("PNDM's \(warmup) Runge–Kutta steps need more than \(warmup) steps, all to sigma > 0")
        }
        if let targets, targets.count != sigmas.count - 1 {
            throw DiffusionError.invalidSigmas("\(targets.count) PNDM targets for \(sigmas.count - 1) steps")
        }
        guard warmup == 0 || (targets == nil && offGridStart == nil) else {
            throw DiffusionError.invalidSigmas("PNDM's Runge–Kutta warm-up runs on its own grid only (no targets or off-grid start)")
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
        // The VE state at `from` read at `to` as the same VP state.
        func read(_ x: Tensor, from: Double, at to: Double) -> Tensor {
            from == to ? x : x * Float(((1 + to * to) / (1 + from * from)).squareRoot())
        }
        var x = x
        var old: [Tensor] = []  // newest last
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1], target = targets?[i] ?? next
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let o1 = output(x, sigma, denoised)
            let o: Tensor
            var from = sigma  // the level the transfer reads x at
            if i < warmup {
                let mid = warmupMidpoints[i]
                let o2 = try output(SamplerMath.combine(1, x, mid - sigma, estimate(o1, x, sigma)), mid)
                let o3 = try output(SamplerMath.combine(1, x, mid - sigma, estimate(o2, x, sigma)), mid)
                let o4 = try output(SamplerMath.combine(1, x, next - sigma, estimate(o3, x, sigma)), next)
                o = SamplerMath.combine(1, SamplerMath.combine(1.0 / 6, o1, 1.0 / 3, o2, 1.0 / 3, o3), 1.0 / 6, o4)
            } else {
                switch old.count {
                case 0:
                    let start = offGridStart ?? OffGridStart(predictorTarget: next, secondCall: next, correctorStart: sigma)
                    // The second call is at sigma_1 (or diffusers' second timestep), which must therefore be > 0.
                    guard start.secondCall > 0 else {
                        throw DiffusionError.invalidSigmas("plms evaluates the model at sigmas[1] on its first step, so sigmas[1] must be > 0 (use 2 or more steps, or end on a positive sigma)")
                    }
                    let predicted = SamplerMath.combine(1, x, start.predictorTarget - sigma, estimate(o1, x, sigma))
                    let xPrime = read(predicted, from: start.predictorTarget, at: start.secondCall)
                    o = SamplerMath.combine(0.5, o1, 0.5, try output(xPrime, start.secondCall))
                    from = start.correctorStart  // off the grid the transfer starts from x_0 read at another level
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
            let xFrom = read(x, from: sigma, at: from)
            x = read(SamplerMath.combine(1, xFrom, target - from, estimate(o, xFrom, from)), from: target, at: next)
        }
        return x
    }
}
