// Issue 17's samplers without a PyPI reference (restart, ipndm) and the properties the parity
// fixtures do not cover, on the exact Gaussian-mixture test bed of ConvergenceTests:
// - ipndm and dpm_fast: the empirical order of the error against the probability-flow solution
//   (dpm_fast's depends on its budget modulo 3, see the test).
// - restart: its error against the EXACT restart process (the same forward jumps with the same
//   noise, the exact ODE flow in between) shrinks like Heun's, steps^-2 (Xu et al. 2023: the
//   ODE segments are Heun steps; the jumps are exact); its default list's step bookkeeping.
// - dpm_adaptive at a tight tolerance as a second "exact" solver next to the Dormand–Prince one.
// - edm_stochastic is Heun with Karras et al.'s Alg. 2 churn at their ImageNet-64 setting.

import Diffusion
import Foundation
import Tensor
import Testing

/// Least-squares slope of log error against log steps, negated (the empirical order).
private func empiricalOrder(_ steps: [Int], _ errors: [Double]) -> Double {
    let lx = steps.map { log(Double($0)) }, ly = errors.map { log($0) }
    let mx = lx.reduce(0, +) / Double(lx.count), my = ly.reduce(0, +) / Double(ly.count)
    return -zip(lx, ly).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / lx.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
}

/// Records the noise a run draws, so that the exact process can replay it.
private final class RecordingNoise: NoiseSource {
    let inner = GaussianNoise(seed: 11)
    var drawn: [Tensor] = []
    func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor {
        let n = inner.noise(shape: shape, sigma: sigma, sigmaNext: sigmaNext)
        drawn.append(n)
        return n
    }
}

@Suite struct SamplerExtraTests {
    static let mixture = ConvergenceTests.mixture

    @Test func ipndmConvergesWithAtLeastSecondOrder() throws {
        // Fixed equal-step Adams–Bashforth weights on Karras steps and an Euler start: second order
        // asymptotically (see IPNDMSampler); the band is [2 - 0.35, 4 + 0.35] as for lms.
        let steps = [16, 32, 64]
        let errors = try steps.map { try ConvergenceTests.error(IPNDMSampler(), steps: $0) }
        let order = empiricalOrder(steps, errors)
        print("convergence ipndm: errors \(errors.map { String(format: "%.3e", $0) }) order \(String(format: "%.2f", order))")
        #expect(order >= 1.65 && order <= 4.35, "ipndm order \(order), errors \(errors)")
        #expect(errors.last! > 2e-6)
    }

    @Test(arguments: [(2, [48, 96, 192]), (3, [26, 50, 98])])
    func dpmFastConvergesWithTheOrderOfItsLastStep(expected: Int, budgets: [Int]) throws {
        // dpm_fast's step count is its NFE budget, spent on ~n/3 DPM-Solver-3 steps (Lu et al.
        // 2022a, Thm. 3.2: order 3) closed by a step of order n % 3, or by orders 2 and 1 when
        // n % 3 = 0. One first-order step (local error O(h^2)) caps the global order at 2, so
        // budgets divisible by 3 converge with order 2 and budgets with n % 3 = 2 with order 3.
        // On one Gaussian, whose flow is known in closed form, x(sigma) = mu + (x_T - mu)
        // sqrt(s^2 + sigma^2) / sqrt(s^2 + sigma_T^2), the asymptotic regime starts early
        // (k-diffusion in float64 there: error ratios 3.8-4.0 and 8.2-8.7 per doubling).
        let (mu, s) = ([0.3, -0.2], 0.5)
        let gaussian = try GaussianMixture(weights: [1], means: [mu], stds: [s])
        var rng = SeededGenerator(seed: 7)
        let starts = (0..<12).map { _ in rng.normal() * 10 }
        let x = Tensor(shape: [6, 2], scalars: starts.map(Float.init))
        let shrink = (s * s + 0.05 * 0.05).squareRoot() / (s * s + 100).squareRoot()
        let errors = try budgets.map { n -> Double in
            // n + 1 sigmas ending at sigma_min: a budget of n evaluations.
            let sigmas = try SigmaSchedule.karras(count: n + 1, sigmaMin: 0.05, sigmaMax: 10).dropLast()
            let out = try DPMFastSampler().sample(gaussian, x: x, sigmas: Array(sigmas), seed: 0).scalars
            return out.indices.map { abs(Double(out[$0]) - (mu[$0 % 2] + (Double(Float(starts[$0])) - mu[$0 % 2]) * shrink)) }.max()!
        }
        let order = empiricalOrder(budgets, errors)
        print("convergence dpm_fast n % 3 = \(budgets[0] % 3): errors \(errors.map { String(format: "%.3e", $0) }) order \(String(format: "%.2f", order))")
        #expect(abs(order - Double(expected)) <= 0.35, "dpm_fast order \(order), expected \(expected); errors \(errors)")
        #expect(errors.last! > 2e-6)
    }

    /// Max-abs error of restart (one restart from the sigma nearest 0.5 up to the one nearest 3,
    /// steps/2 restart steps) against the exact restart process with the same noise.
    static func restartError(steps: Int) throws -> Double {
        let sigmas = Array(try SigmaSchedule.karras(count: steps, sigmaMin: 0.05, sigmaMax: 10).dropLast())
        let sampler = RestartSampler(restarts: [.init(sigmaMin: 0.5, steps: steps / 2, times: 1, sigmaMax: 3)])
        var rng = SeededGenerator(seed: 7)
        let starts = (0..<6).map { _ in [rng.normal() * 10, rng.normal() * 10] }
        let x = Tensor(shape: [6, 2], scalars: starts.flatMap { $0.map(Float.init) })
        let noise = RecordingNoise()
        let out = try sampler.sample(mixture, x: x, sigmas: sigmas, noise: noise, callback: nil).scalars
        // The exact process: the ODE flow over each descending run of the step list, the jump between.
        var runs: [(from: Double, to: Double)] = []
        for (a, b) in try sampler.stepList(sigmas) {
            if let last = runs.last, last.to == a { runs[runs.count - 1].to = b } else { runs.append((a, b)) }
        }
        #expect(runs.count == 2 && noise.drawn.count == 1, "one restart: \(runs)")
        var worst = 0.0
        for p in 0..<6 {
            var state = starts[p].map { Double(Float($0)) }
            for (k, run) in runs.enumerated() {
                if k > 0 {
                    let jump = (run.from * run.from - runs[k - 1].to * runs[k - 1].to).squareRoot()
                    state = (0..<2).map { state[$0] + jump * Double(noise.drawn[k - 1][p, $0]) }
                }
                state = try mixture.solveProbabilityFlow(from: state, sigma: run.from, to: run.to)
            }
            for i in 0..<2 { worst = max(worst, abs(Double(out[p * 2 + i]) - state[i])) }
        }
        return worst
    }

    @Test func restartConvergesToTheExactRestartProcessWithSecondOrder() throws {
        let steps = [16, 32, 64]
        let errors = try steps.map { try Self.restartError(steps: $0) }
        let order = empiricalOrder(steps, errors)
        print("convergence restart (vs exact restart process): errors \(errors.map { String(format: "%.3e", $0) }) order \(String(format: "%.2f", order))")
        #expect(order >= 2 - 0.35 && order <= 2 + 0.35, "restart order \(order), errors \(errors)")
        #expect(errors.last! > 2e-6)
    }

    @Test func restartDefaultListTakesTheStepCount() throws {
        // AUTOMATIC1111's rule: N Heun steps in all (N - 9 main + 9 restart for 20 <= N < 36,
        // N - 2 (N/4) main + 2 x N/4 restart from 36), so 2N - 1 evaluations (1 on the step to 0).
        for n in [20, 30, 40] {
            let sigmas = try SigmaSchedule.karras(count: n, sigmaMin: 0.05, sigmaMax: 10)
            let list = try RestartSampler().stepList(sigmas)
            #expect(list.count == n, "\(n) steps: \(list.count) Heun steps")
            #expect(list.filter { $0.to == 0 }.count == 1 && list.last!.to == 0)
            let counting = CountingDenoiser(Self.mixture)
            var indices: [Int] = []
            _ = try RestartSampler().sample(counting, x: Tensor(shape: [2, 2], scalars: [9, -3, 4, 12]), sigmas: sigmas,
                                            noise: GaussianNoise(seed: 1)) { indices.append($0.index) }
            #expect(counting.count == 2 * n - 1 && indices == Array(0..<n))
        }
    }

    @Test func dpmAdaptiveAtTightToleranceIsASecondExactSolver() throws {
        // Against Dormand–Prince (GaussianMixture.solveProbabilityFlow), from sigma 10 to 0.05:
        // the default tolerance lands within a few 1e-3, the tight one within Float32's reach.
        let loose = try ConvergenceTests.error(DPMAdaptiveSampler(), steps: 2)
        let tight = try ConvergenceTests.error(DPMAdaptiveSampler(rtol: 1e-5, atol: 1e-5), steps: 2)
        print("dpm_adaptive vs Dormand–Prince: default tolerance \(loose), rtol = atol = 1e-5: \(tight)")
        #expect(tight < 5e-5, "tight tolerance error \(tight)")
        #expect(tight < loose / 10, "tight \(tight) vs default \(loose)")
    }

    @Test func edmStochasticIsHeunWithKarrasChurn() throws {
        let edm = try #require(SamplerName.edmStochastic.makeSampler() as? EDMStochasticSampler)
        let churn = edm.heun.churn
        #expect(churn.sChurn == 80 && churn.sTmin == 0.05 && churn.sTmax == 50 && churn.sNoise == 1.003)
        // The same numbers as heun with that churn, draw for draw.
        let sigmas = try SigmaSchedule.karras.sigmas(count: 12, sigmaMin: 0.02, sigmaMax: 80)
        let x = Tensor(shape: [3, 2], scalars: [40, -10, 3, 70, -55, 8])
        let a = try edm.sample(Self.mixture, x: x, sigmas: sigmas, seed: 5)
        let b = try HeunSampler(sChurn: 80, sTmin: 0.05, sTmax: 50, sNoise: 1.003).sample(Self.mixture, x: x, sigmas: sigmas, seed: 5)
        let plain = try HeunSampler().sample(Self.mixture, x: x, sigmas: sigmas, seed: 5)
        #expect(a.scalars == b.scalars && a.scalars != plain.scalars)
        #expect(try SamplerRegistry.resolve("edm_stochastic").name == .edmStochastic)
    }

    @Test func a1111AndComfyUINamesResolve() throws {
        #expect(try SamplerRegistry.resolve("DPM fast").name == .dpmFast)
        #expect(try SamplerRegistry.resolve("DPM adaptive").name == .dpmAdaptive)
        #expect(try SamplerRegistry.resolve("Restart").name == .restart)
        #expect(try SamplerRegistry.resolve("k_dpm_ad").name == .dpmAdaptive)
        for (name, sampler) in SamplerRegistry.comfyUINames { #expect(try SamplerRegistry.resolve(name).name == sampler) }
    }
}
