// Convergence: on the exact mixture denoiser, each deterministic sampler's error against the
// high-accuracy probability-flow solution shrinks like steps^-order. The sigma list is a Karras
// schedule from sigmaMax down to sigmaMin WITHOUT the final 0 (the step to 0 is a first-order
// Euler/denoise step in every sampler, whose error does not shrink with the step count).
// The empirical order is the least-squares slope of log error against log steps over a
// doubling sequence (16, 32, 64); the band is order ± 0.35 (asymptotic ratios 2^p within about
// ±25%), with step counts chosen so errors stay well above Float32 rounding (~1e-6 here).
// Multistep samplers of order p > 2 (lms 3/4, dpmpp_3m_sde) start as k-diffusion does with
// lower-order steps; the first (Euler-like) step's local error is O(h^2), so their asymptotic
// global order is 2, while at practical step counts the later high-order steps dominate. For
// them the band is [2 - 0.35, p + 0.35] and a second test checks they beat the 2nd-order
// counterpart; `LMSSampler.coefficient` is checked separately on the order conditions.
// UniPC's and DEIS's rows measure each method without its lower-order final steps.

import Diffusion
import Foundation
import Tensor
import Testing

struct ConvergenceCase: CustomStringConvertible, Sendable {
    let label: String
    let sampler: any Sampler
    let order: Double
    let steps: [Int]
    /// The lowest acceptable empirical order (order - 0.35, or 2 - 0.35 for startup-limited multistep).
    var lowest: Double { (order > 2 ? 2 : order) - 0.35 }
    var description: String { label }
}

@Suite struct ConvergenceTests {
    static let mixture = try! GaussianMixture(weights: [0.45, 0.35, 0.2], means: [[-1, 0.5], [1.2, -0.4], [0.2, 1.4]],
                                              stds: [0.35, 0.3, 0.5])
    static let cases: [ConvergenceCase] = [
        ConvergenceCase(label: "euler", sampler: EulerSampler(), order: 1, steps: [16, 32, 64]),
        ConvergenceCase(label: "euler_ancestral eta=0", sampler: EulerAncestralSampler(eta: 0), order: 1, steps: [16, 32, 64]),
        ConvergenceCase(label: "ddim eta=0", sampler: DDIMSampler(eta: 0), order: 1, steps: [16, 32, 64]),
        ConvergenceCase(label: "heun", sampler: HeunSampler(), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpm_2", sampler: DPM2Sampler(), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpm_2_ancestral eta=0", sampler: DPM2AncestralSampler(eta: 0), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_2s_ancestral eta=0", sampler: DPMPP2SAncestralSampler(eta: 0), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_sde eta=0", sampler: DPMPPSDESampler(eta: 0), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_2m", sampler: DPMPP2MSampler(), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_2m_sde eta=0 midpoint", sampler: DPMPP2MSDESampler(eta: 0), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_2m_sde eta=0 heun", sampler: DPMPP2MSDESampler(eta: 0, solverType: .heun), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "dpmpp_3m_sde eta=0", sampler: DPMPP3MSDESampler(eta: 0), order: 3, steps: [16, 32, 64]),
        ConvergenceCase(label: "lms order 2", sampler: LMSSampler(order: 2), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "lms order 3", sampler: LMSSampler(order: 3), order: 3, steps: [16, 32, 64]),
        ConvergenceCase(label: "lms order 4", sampler: LMSSampler(order: 4), order: 4, steps: [16, 32, 64]),
        // UniPC: the predictor UniP-p alone has order p; the corrector UniC-p raises it to p + 1 (Zhao et al. 2023, Thm. 3.1-3.3).
        ConvergenceCase(label: "unipc bh2 order 1, no corrector", sampler: UniPCSampler(variant: .bh2, order: 1, lowerOrderFinal: false, disableCorrector: Set(0..<64)), order: 1, steps: [16, 32, 64]),
        ConvergenceCase(label: "unipc bh1 order 1", sampler: UniPCSampler(variant: .bh1, order: 1, lowerOrderFinal: false), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "unipc bh2 order 2", sampler: UniPCSampler(variant: .bh2, order: 2, lowerOrderFinal: false), order: 3, steps: [16, 32, 64]),
        ConvergenceCase(label: "unipc bh1 order 2, no corrector", sampler: UniPCSampler(variant: .bh1, order: 2, lowerOrderFinal: false, disableCorrector: Set(0..<64)), order: 2, steps: [16, 32, 64]),
        // DEIS: the polynomial in log rho through p points integrates eps to order p (Zhang & Chen 2022, sec. 4).
        ConvergenceCase(label: "deis order 2", sampler: DEISSampler(order: 2, lowerOrderFinal: false), order: 2, steps: [16, 32, 64]),
        ConvergenceCase(label: "deis order 3", sampler: DEISSampler(order: 3, lowerOrderFinal: false), order: 3, steps: [16, 32, 64]),
    ]

    /// Max-abs error over 6 seeded starting points at sigmaMax = 10, against the ODE solution at sigmaMin = 0.05.
    static func error(_ sampler: any Sampler, steps: Int) throws -> Double {
        let sigmas = Array(try SigmaSchedule.karras(count: steps, sigmaMin: 0.05, sigmaMax: 10).dropLast())
        var rng = SeededGenerator(seed: 7)
        let starts = (0..<6).map { _ in [rng.normal() * 10, rng.normal() * 10] }
        let x = Tensor(shape: [6, 2], scalars: starts.flatMap { $0.map(Float.init) })
        let out = try sampler.sample(mixture, x: x, sigmas: sigmas, noise: GaussianNoise(seed: 0), callback: nil).scalars
        var worst = 0.0
        for (p, start) in starts.enumerated() {
            let exact = try mixture.solveProbabilityFlow(from: start.map { Double(Float($0)) }, sigma: 10, to: 0.05)
            for i in 0..<2 { worst = max(worst, abs(Double(out[p * 2 + i]) - exact[i])) }
        }
        return worst
    }

    @Test(arguments: cases)
    func errorShrinksWithTheExpectedOrder(c: ConvergenceCase) throws {
        let errors = try c.steps.map { try Self.error(c.sampler, steps: $0) }
        let lx = c.steps.map { log(Double($0)) }, ly = errors.map { log($0) }
        let mx = lx.reduce(0, +) / 3, my = ly.reduce(0, +) / 3
        let slope = zip(lx, ly).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / lx.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        print("convergence \(c.label): errors \(errors.map { String(format: "%.3e", $0) }) order \(String(format: "%.2f", -slope))")
        #expect(-slope >= c.lowest && -slope <= c.order + 0.35,
                "\(c.label): empirical order \(-slope), expected \(c.order) (at least \(c.lowest)); errors \(errors)")
        #expect(errors.last! > 2e-6, "\(c.label): error \(errors.last!) too close to Float32 rounding for the order to mean anything")
    }

    @Test func higherOrderMultistepBeatsSecondOrder() throws {
        let lms2 = try Self.error(LMSSampler(order: 2), steps: 32)
        let lms4 = try Self.error(LMSSampler(order: 4), steps: 32)
        let m2 = try Self.error(DPMPP2MSampler(), steps: 32)
        let m3 = try Self.error(DPMPP3MSDESampler(eta: 0), steps: 32)
        #expect(lms4 < lms2 / 4, "lms 4 \(lms4) vs lms 2 \(lms2)")
        #expect(m3 < m2 / 2, "3m \(m3) vs 2m \(m2)")
    }

    @Test(arguments: 1...4)
    func lmsCoefficientsIntegratePolynomialsExactly(order: Int) {
        // Order conditions: sum_j c_j p(sigma_{i-j}) = ∫_{sigma_i}^{sigma_{i+1}} p for every polynomial of degree < order.
        let sigmas = [9.0, 6.5, 4.1, 2.0, 1.2, 0.4]
        let i = 4
        for degree in 0..<order {
            let exact = (pow(sigmas[i + 1], Double(degree + 1)) - pow(sigmas[i], Double(degree + 1))) / Double(degree + 1)
            let quad = (0..<order).reduce(0.0) { acc, j in
                acc + LMSSampler.coefficient(order: order, sigmas: sigmas, step: i, basis: j) * pow(sigmas[i - j], Double(degree))
            }
            #expect(abs(quad - exact) <= 1e-12 * max(1, abs(exact)), "order \(order) degree \(degree): \(quad) vs \(exact)")
        }
    }
}
