// Contract: `ipndm` (ComfyUI `sample_ipndm`): improved PNDM of Zhang & Chen 2022 ("Fast
// Sampling of Diffusion Models with Exponential Integrator", the DEIS paper, Sec. 4 / App. B):
// Adams–Bashforth steps in sigma on the derivatives d = (x - D)/sigma, starting with Euler and
// raising the order by one per step up to 4, with the fixed (equal-step) coefficients.

import Tensor

/// iPNDM, with d_i = (x_i - D(x_i, sigma_i)) / sigma_i and dt = sigma_{i+1} - sigma_i:
///
///     order 1: x_{i+1} = x_i + dt d_i
///     order 2: x_{i+1} = x_i + dt (3 d_i - d_{i-1}) / 2
///     order 3: x_{i+1} = x_i + dt (23 d_i - 16 d_{i-1} + 5 d_{i-2}) / 12
///     order 4: x_{i+1} = x_i + dt (55 d_i - 59 d_{i-1} + 37 d_{i-2} - 9 d_{i-3}) / 24
///
/// with order = min(maxOrder, i + 1); the step to sigma = 0 returns D. The coefficients are those
/// of equal steps (unlike `lms`, which integrates the interpolant over the actual sigmas), so on
/// an uneven schedule the method is second order (the step-ratio terms enter at O(h^3) locally);
/// the Euler start also limits the global order to 2. 1 NFE per step; deterministic.
public struct IPNDMSampler: Sampler {
    /// The highest order used, 1 to 4 (ComfyUI's default 4).
    public var maxOrder: Int
    /// `"ipndm"`.
    public var name: String { "ipndm" }

    /// Creates the sampler.
    public init(maxOrder: Int = 4) { self.maxOrder = maxOrder }

    /// The Adams–Bashforth weights of d_i, d_{i-1}, ... for an order (equal steps).
    public static func weights(order: Int) -> [Double] {
        switch order {
        case 1: return [1]
        case 2: return [3.0 / 2, -1.0 / 2]
        case 3: return [23.0 / 12, -16.0 / 12, 5.0 / 12]
        default: return [55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24]
        }
    }

    /// Runs the loop described above.
    /// - Throws: `DiffusionError.invalidParameter` for maxOrder outside 1...4.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        guard (1...4).contains(maxOrder) else { throw DiffusionError.invalidParameter("ipndm maxOrder must be 1...4, got \(maxOrder)") }
        try SamplerMath.validate(sigmas)
        var x = x
        var ds: [Tensor] = []                  // d_i, d_{i-1}, ... (newest first)
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            ds.insert(SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised), at: 0)
            ds = Array(ds.prefix(maxOrder))
            if sigmas[i + 1] == 0 {
                x = denoised
                continue
            }
            let dt = sigmas[i + 1] - sigmas[i]
            for (w, d) in zip(Self.weights(order: ds.count), ds) { x = SamplerMath.combine(1, x, dt * w, d) }
        }
        return x
    }
}
