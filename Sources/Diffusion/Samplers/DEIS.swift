// Contract: `deis` (diffusers `DEISMultistepScheduler`, ComfyUI `deis`): the multistep
// exponential integrator of Zhang & Chen 2022 ("Fast Sampling of Diffusion Models with
// Exponential Integrator", sec. 4, the rho-AB "log-rho" form diffusers implements), orders 1-3.

import Foundation
import Tensor

/// DEIS, log-rho multistep (Zhang & Chen 2022, eq. 15 with the polynomial in log rho). On the VE
/// state rho = sigma and the probability-flow ODE is dx/drho = eps(x, rho), eps_i = (x_i - D_i) / sigma_i.
/// Interpolate eps through the last p points as a polynomial in log rho (Lagrange basis l_j) and
/// integrate it exactly from sigma_i to sigma_{i+1}:
///
///     x_{i+1} = x_i + sum_{j<p} c_j eps_{i-j},   c_j = integral_{sigma_i}^{sigma_{i+1}} l_j(log rho) d rho
///
/// p = 1 is Euler (DDIM): c_0 = sigma_{i+1} - sigma_i. The integrals have closed forms (diffusers'
/// `ind_fn`; rho log rho -> 0 at rho = 0, so a step to sigma = 0 is finite at every order).
/// Warm-up: order min(p, i + 1); `lowerOrderFinal` makes the last step first order and the one
/// before at most second (diffusers does so below 15 steps). 1 NFE per step; deterministic.
public struct DEISSampler: Sampler {
    /// The order p, 1 to 3 (diffusers 2, ComfyUI 3).
    public var order: Int
    /// The last step first order and the one before at most second (diffusers `lower_order_final`
    /// with fewer than 15 steps).
    public var lowerOrderFinal: Bool
    /// `"deis"`.
    public var name: String { "deis" }

    /// Creates the sampler (defaults: third order, lower order at the end).
    public init(order: Int = 3, lowerOrderFinal: Bool = true) {
        self.order = order
        self.lowerOrderFinal = lowerOrderFinal
    }

    /// Runs the loop described above.
    /// - Throws: `DiffusionError.invalidParameter` for an order outside 1...3.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        guard (1...3).contains(order) else {
            throw DiffusionError.invalidParameter("deis order \(order) is not supported: use 1, 2 or 3")
        }
        let n = sigmas.count - 1
        var x = x
        var eps: [Tensor] = []  // eps_i, eps_{i-1}, ... (most recent first)
        for i in 0..<n {
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            try callback?(SamplerStep(index: i, sigma: sigmas[i], sigmaHat: sigmas[i], x: x, denoised: denoised))
            eps.insert(SamplerMath.derivative(x, sigma: sigmas[i], denoised: denoised), at: 0)
            if eps.count > order { eps.removeLast() }
            var p = Swift.min(order, i + 1)
            if lowerOrderFinal && i == n - 1 { p = 1 }
            if lowerOrderFinal && i == n - 2 { p = Swift.min(p, 2) }
            let t = sigmas[i + 1], s = sigmas[i]
            switch p {
            case 1:
                x = SamplerMath.combine(1, x, t - s, eps[0])
            case 2:
                let s1 = sigmas[i - 1]
                let c0 = Self.integral(t, s, s1) - Self.integral(s, s, s1)
                let c1 = Self.integral(t, s1, s) - Self.integral(s, s1, s)
                x = SamplerMath.combine(1, x, c0, eps[0], c1, eps[1])
            default:
                let s1 = sigmas[i - 1], s2 = sigmas[i - 2]
                let c0 = Self.integral(t, s, s1, s2) - Self.integral(s, s, s1, s2)
                let c1 = Self.integral(t, s1, s2, s) - Self.integral(s, s1, s2, s)
                let c2 = Self.integral(t, s2, s, s1) - Self.integral(s, s2, s, s1)
                x = SamplerMath.combine(1, SamplerMath.combine(1, x, c0, eps[0], c1, eps[1]), c2, eps[2])
            }
        }
        return x
    }

    /// An antiderivative in rho of the linear Lagrange basis polynomial that is 1 at log b and 0 at
    /// log c: rho (log rho - log c - 1) / (log b - log c) (0 at rho = 0).
    static func integral(_ rho: Double, _ b: Double, _ c: Double) -> Double {
        guard rho > 0 else { return 0 }
        return rho * (log(rho) - log(c) - 1) / (log(b) - log(c))
    }

    /// An antiderivative in rho of the quadratic Lagrange basis polynomial that is 1 at log b and 0
    /// at log c and log d (0 at rho = 0).
    static func integral(_ rho: Double, _ b: Double, _ c: Double, _ d: Double) -> Double {
        guard rho > 0 else { return 0 }
        let lt = log(rho), lc = log(c), ld = log(d), lb = log(b)
        return rho * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2) / ((lb - lc) * (lb - ld))
    }
}
