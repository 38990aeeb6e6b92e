// Contract: diffusers' `DPMSolverSinglestepScheduler` (solver_order 2, dpmsolver++, midpoint):
// DPM-Solver++(2S) of Lu et al. 2022 ("DPM-Solver++", Alg. 1) on the schedule's own grid,
// steps grouped in pairs — a first-order step to the next sigma, then a second-order step that
// restarts from the pair's first state and uses the two denoised values.

import Foundation
import Tensor

/// DPM-Solver++(2S) singlestep, in lambda = -log sigma. A step of order 1 from sigma_i is
/// x_{i+1} = (sigma_{i+1} / sigma_i) x_i - expm1(-h) D_i (h = lambda_{i+1} - lambda_i) and remembers
/// (x_i, sigma_i, D_i) as the anchor a. A step of order 2 goes from the anchor:
///
///     h = lambda_{i+1} - lambda_a,   r = (lambda_i - lambda_a) / h
///     x_{i+1} = (sigma_{i+1} / sigma_a) x_a - expm1(-h) (D_a + (D_i - D_a) / (2 r))
///
/// 1 NFE per step; deterministic. `orders` is diffusers' `get_order_list` (1, 2, 1, 2, ..., last 1).
public struct DPMPP2SSinglestepSampler: Sampler {
    /// The order of each step (1 or 2); an order-2 step needs an order-1 step before it.
    public var orders: [Int]
    /// `"dpmpp_2s_singlestep"` (diffusers only; not a k-diffusion sampler).
    public var name: String { "dpmpp_2s_singlestep" }

    /// Creates the sampler with one order per step.
    public init(orders: [Int]) { self.orders = orders }

    /// diffusers' `get_order_list` for solver order 2 with `lower_order_final` (forced on by
    /// `final_sigmas_type="zero"`), and the last step first order.
    public static func diffusersOrders(steps: Int) -> [Int] {
        var orders = steps % 2 == 0 ? [1, 2].repeated(steps / 2 - 1) + [1, 1] : [1, 2].repeated(steps / 2) + [1]
        orders[orders.count - 1] = 1
        return orders
    }

    /// Runs the loop described above.
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        try SamplerMath.validate(sigmas)
        guard orders.count == sigmas.count - 1 else {
            throw DiffusionError.invalidSigmas("\(orders.count) orders for \(sigmas.count - 1) steps")
        }
        var x = x
        var anchor: (x: Tensor, sigma: Double, denoised: Tensor)?
        for i in 0..<(sigmas.count - 1) {
            let sigma = sigmas[i], next = sigmas[i + 1]
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            if orders[i] == 2, let a = anchor, next > 0 {
                let h = log(a.sigma) - log(next), r = (log(a.sigma) - log(sigma)) / h
                let target = SamplerMath.combine(1 - 1 / (2 * r), a.denoised, 1 / (2 * r), denoised)
                x = SamplerMath.combine(next / a.sigma, a.x, -expm1(-h), target)
                anchor = nil
            } else {
                anchor = (x, sigma, denoised)
                x = next == 0 ? denoised : SamplerMath.combine(next / sigma, x, -expm1(-(log(sigma) - log(next))), denoised)
            }
        }
        return x
    }
}

extension Array {
    fileprivate func repeated(_ count: Int) -> [Element] { (0..<Swift.max(count, 0)).flatMap { _ in self } }
}
