// Contract: `PNDMScheduler` with its Runge–Kutta warm-up (`skip_prk_steps=False`, diffusers'
// default): PNDM of Liu et al. 2022 ("Pseudo Numerical Methods for Diffusion Models on
// Manifolds", Alg. 1-2), pseudo-RK4 for three steps, then the 4-step linear multistep method.
// Without warm-up points it is `PLMSSampler` (PNDM with `skip_prk_steps=True`).

import Tensor

/// PNDM on the VE state. The transfer of PNDM (the DDIM step, eq. 11) is, on the VE state,
/// x' = x + (sigma' - sigma) e for a noise estimate e, and eps(x, sigma) = (x - D(x, sigma)) / sigma.
/// Each of the first three steps, sigma_i → sigma_{i+1} with midpoint m_i (the timestep halfway), is
///
///     k1 = eps(x, sigma_i);          k2 = eps(x + (m_i - sigma_i) k1, m_i)
///     k3 = eps(x + (m_i - sigma_i) k2, m_i);  k4 = eps(x + (sigma_{i+1} - sigma_i) k3, sigma_{i+1})
///     x_{i+1} = x + (sigma_{i+1} - sigma_i) (k1 + 2 k2 + 2 k3 + k4) / 6
///
/// and every later step is x_{i+1} = x + (sigma_{i+1} - sigma_i) (55 e_i - 59 e_{i-1} + 37 e_{i-2} - 9 e_{i-3}) / 24,
/// the k1 of the warm-up steps serving as the first three e. 4 NFE per warm-up step, then 1.
public struct PNDMSampler: Sampler {
    /// The midpoint sigma of each warm-up step (diffusers: timestep t - (T / n) / 2); empty: PLMS.
    public var warmupMidpoints: [Double]
    /// `"plms"` (PNDM's multistep part).
    public var name: String { "plms" }

    /// Creates the sampler; `warmupMidpoints` has one value per Runge–Kutta step (3 in PNDM).
    public init(warmupMidpoints: [Double]) { self.warmupMidpoints = warmupMidpoints }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        guard !warmupMidpoints.isEmpty else {
            return try PLMSSampler().sample(denoiser, x: x, sigmas: sigmas, noise: noise, callback: callback)
        }
        try SamplerMath.validate(sigmas)
        guard warmupMidpoints.count < sigmas.count - 1, sigmas[warmupMidpoints.count] > 0 else {
            throw DiffusionError.invalidSigmas("PNDM's \(warmupMidpoints.count) Runge–Kutta steps need more than \(warmupMidpoints.count) steps, all to sigma > 0")
        }
        func eps(_ x: Tensor, _ sigma: Double) throws -> Tensor {
            SamplerMath.derivative(x, sigma: sigma, denoised: try denoiser.denoise(x, sigma: sigma))
        }
        var x = x
        var oldEps: [Tensor] = []  // newest last
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let k1 = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            let e: Tensor
            if i < warmupMidpoints.count {
                let mid = warmupMidpoints[i]
                let k2 = try eps(SamplerMath.combine(1, x, mid - sigma, k1), mid)
                let k3 = try eps(SamplerMath.combine(1, x, mid - sigma, k2), mid)
                let k4 = try eps(SamplerMath.combine(1, x, next - sigma, k3), next)
                e = SamplerMath.combine(1, SamplerMath.combine(1.0 / 6, k1, 1.0 / 3, k2, 1.0 / 3, k3), 1.0 / 6, k4)
            } else {
                let n = oldEps.count
                e = SamplerMath.combine(1, SamplerMath.combine(55.0 / 24, k1, -59.0 / 24, oldEps[n - 1], 37.0 / 24, oldEps[n - 2]),
                                        -9.0 / 24, oldEps[n - 3])
            }
            oldEps.append(k1)
            if oldEps.count > 3 { oldEps.removeFirst() }
            x = SamplerMath.combine(1, x, next - sigma, e)
        }
        return x
    }
}
