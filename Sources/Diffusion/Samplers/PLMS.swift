// Contract: `plms`, the pseudo linear multistep method of Liu et al. 2022 ("Pseudo Numerical
// Methods for Diffusion Models on Manifolds", PNDM, eq. 12 with the DDIM transfer), as CompVis
// `plms.py` and diffusers `PNDMScheduler(skip_prk_steps=True)` run it, on the VE state.

import Tensor

/// PLMS. The "transfer" is the DDIM step, which on the VE state is x_{i+1} = x_i + (sigma_{i+1} - sigma_i) e
/// for a noise estimate e. With eps_i = (x_i - D(x_i, sigma_i)) / sigma_i:
///
///     step 0:  x' = x_0 + (sigma_1 - sigma_0) eps_0;  e = (eps_0 + eps(x', sigma_1)) / 2   (improved Euler, 2 NFE)
///     step 1:  e = (3 eps_1 - eps_0) / 2
///     step 2:  e = (23 eps_2 - 16 eps_1 + 5 eps_0) / 12
///     step i:  e = (55 eps_i - 59 eps_{i-1} + 37 eps_{i-2} - 9 eps_{i-3}) / 24
///     x_{i+1} = x_i + (sigma_{i+1} - sigma_i) e
///
/// Adams–Bashforth weights for equal steps, applied whatever the spacing ("pseudo"). 1 NFE per
/// step after the first; deterministic (CompVis requires eta = 0).
public struct PLMSSampler: Sampler {
    /// `"plms"`.
    public var name: String { "plms" }

    /// Creates the sampler.
    public init() {}

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        var oldEps: [Tensor] = []  // newest last
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let eps = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            let e: Tensor
            switch oldEps.count {
            case 0:
                // The second model call is at sigma_1, which must therefore be > 0.
                guard next > 0 else {
                    throw DiffusionError.invalidSigmas("plms evaluates the model at sigmas[1] on its first step, so sigmas[1] must be > 0 (use 2 or more steps, or end on a positive sigma)")
                }
                let xPrime = SamplerMath.combine(1, x, next - sigma, eps)
                let epsNext = SamplerMath.derivative(xPrime, sigma: next, denoised: try denoiser.denoise(xPrime, sigma: next))
                e = SamplerMath.combine(0.5, eps, 0.5, epsNext)
            case 1:
                e = SamplerMath.combine(1.5, eps, -0.5, oldEps[0])
            case 2:
                e = SamplerMath.combine(23.0 / 12, eps, -16.0 / 12, oldEps[1], 5.0 / 12, oldEps[0])
            default:
                let n = oldEps.count
                e = SamplerMath.combine(1, SamplerMath.combine(55.0 / 24, eps, -59.0 / 24, oldEps[n - 1], 37.0 / 24, oldEps[n - 2]),
                                        -9.0 / 24, oldEps[n - 3])
            }
            oldEps.append(eps)
            if oldEps.count > 3 { oldEps.removeFirst() }
            x = SamplerMath.combine(1, x, next - sigma, e)
        }
        return x
    }
}
