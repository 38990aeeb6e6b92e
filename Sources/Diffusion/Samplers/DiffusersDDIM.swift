// Contract: `DDIMScheduler.step` of diffusers on the variance-exploding state, including the two
// ways it differs from `DDIMSampler` (which is CompVis/k-diffusion DDIM): with `clip_sample` the
// predicted x0 is clamped but the noise estimate stays the network's own (diffusers'
// `use_clipped_model_output=False`), and each step lands on `t - T / n` — which with
// `linspace` or `trailing` spacing is not always the next timestep the network is called at.

import Tensor

/// DDIM (Song et al. 2021, eq. 12) as diffusers' `DDIMScheduler` steps. With eps = (x - D) / sigma_i
/// from the unclamped denoiser and p_i the noise level the step lands on:
///
///     x0 = clamp(D, -r, r)   (only with clip_sample)
///     sigma_up = eta p_i sqrt(sigma_i^2 - p_i^2) / sigma_i
///     x' = x0 + sqrt(p_i^2 - sigma_up^2) eps + sigma_up z
///
/// The state x' is the VE form of a VP state at p_i; when the next call is at sigma_{i+1} != p_i
/// (diffusers' `prev_timestep = t - T // n` off the timestep grid), that same VP state is read at
/// sigma_{i+1}: x_{i+1} = x' sqrt((1 + sigma_{i+1}^2) / (1 + p_i^2)). 1 NFE per step.
public struct DiffusersDDIMSampler: Sampler {
    /// The noise level each step lands on (nil: `sigmas[i + 1]`); one per step when given.
    public var targets: [Double]?
    /// Clamp the predicted x0 to [-r, r] (diffusers `clip_sample`, `clip_sample_range`).
    public var clipRange: Double?
    /// 0: deterministic DDIM.
    public var eta: Double
    /// `"ddim"`.
    public var name: String { "ddim" }

    /// Creates the sampler.
    public init(targets: [Double]? = nil, clipRange: Double? = nil, eta: Double = 0) {
        self.targets = targets
        self.clipRange = clipRange
        self.eta = eta
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        if let targets, targets.count != sigmas.count - 1 {
            throw DiffusionError.invalidSigmas("\(targets.count) DDIM targets for \(sigmas.count - 1) steps")
        }
        var x = x
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1], target = targets?[i] ?? next
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let eps = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            var x0 = denoised
            if let r = clipRange { let lo = Float(-r), hi = Float(r); x0 = denoised.map { Swift.min(Swift.max($0, lo), hi) } }
            let up = target < sigma ? eta * target * (sigma * sigma - target * target).squareRoot() / sigma : 0
            x = SamplerMath.combine(1, x0, Swift.max(target * target - up * up, 0).squareRoot(), eps)
            if up > 0 {
                x = SamplerMath.combine(1, x, up, noise.noise(shape: x.shape, sigma: sigma, sigmaNext: target))
            }
            if target != next {
                x = x * Float(((1 + next * next) / (1 + target * target)).squareRoot())
            }
        }
        return x
    }
}
