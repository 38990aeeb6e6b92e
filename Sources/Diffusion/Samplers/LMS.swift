// Contract: `lms` (k-diffusion `sample_lms`): the linear multistep (Adams–Bashforth) method
// with variable steps on the Karras ODE (Karras et al. 2022 use it as a baseline; the method:
// Hairer, Nørsett & Wanner, "Solving ODEs I", III.5, variable-step Adams).

import Tensor

/// Linear multistep: the derivatives d_{i}, d_{i-1}, ... at the last `order` sigmas are
/// interpolated by a polynomial p(sigma), and x is advanced by its integral:
///
///     x_{i+1} = x_i + sum_j c_{ij} d_{i-j},   c_{ij} = ∫_{sigma_i}^{sigma_{i+1}} ℓ_j(tau) dtau,
///     ℓ_j(tau) = prod_{k != j} (tau - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k})
///
/// The order ramps 1, 2, ... up to `order` (at most 4) over the first steps. The Lagrange basis
/// has degree <= 3, so the 4-point Gauss–Legendre rule integrates it exactly (k-diffusion uses
/// `scipy.integrate.quad`). Order `order`; 1 NFE per step; deterministic.
public struct LMSSampler: Sampler {
    /// The maximum order, 1 ... 4.
    public var order: Int = 4
    /// `"lms"`.
    public var name: String { "lms" }

    /// Creates the sampler (order clamped to 1 ... 4).
    public init(order: Int = 4) { self.order = Swift.min(Swift.max(order, 1), 4) }

    /// The integral over [sigmas[i], sigmas[i+1]] of the j-th Lagrange basis polynomial through
    /// sigmas[i], sigmas[i-1], ..., sigmas[i-order+1] (k-diffusion `linear_multistep_coeff`).
    public static func coefficient(order: Int, sigmas t: [Double], step i: Int, basis j: Int) -> Double {
        precondition(order - 1 <= i, "order \(order) too high for step \(i)")
        func basis(_ tau: Double) -> Double {
            var prod = 1.0
            for k in 0..<order where k != j { prod *= (tau - t[i - k]) / (t[i - j] - t[i - k]) }
            return prod
        }
        // 4-point Gauss–Legendre on [-1, 1] (Abramowitz & Stegun 25.4.29), exact to degree 7.
        let nodes = [-0.861136311594052575, -0.339981043584856265, 0.339981043584856265, 0.861136311594052575]
        let weights = [0.347854845137453857, 0.652145154862546143, 0.652145154862546143, 0.347854845137453857]
        let a = t[i], b = t[i + 1], half = (b - a) / 2, mid = (a + b) / 2
        var sum = 0.0
        for q in 0..<4 { sum += weights[q] * basis(mid + half * nodes[q]) }
        return half * sum
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        var x = x
        var ds: [Tensor] = []  // newest last
        for i in 0..<(sigmas.count - 1) {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            ds.append(SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised))
            if ds.count > order { ds.removeFirst() }
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            let currentOrder = Swift.min(i + 1, order)
            for j in 0..<currentOrder {
                let c = Self.coefficient(order: currentOrder, sigmas: sigmas, step: i, basis: j)
                x = SamplerMath.combine(1, x, c, ds[ds.count - 1 - j])
            }
        }
        return x
    }
}
