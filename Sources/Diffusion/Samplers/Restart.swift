// Contract: `restart` (Xu et al. 2023, "Restart Sampling for Improving Generative Processes",
// Alg. 1, as AUTOMATIC1111's "Restart"; k-diffusion has none): Heun ODE steps down the sigma
// list, and at chosen noise levels a restart: jump forward to a higher sigma by adding fresh
// noise, then solve the ODE down again. The forward jump is exact (it is the forward process),
// so the added noise contracts the error accumulated so far while the ODE keeps its small
// discretization error.

import Foundation
import Tensor

/// Restart sampling. Steps (each a Heun step, Euler on the step to 0, as `heun`):
///
///     for each (sigma, sigma') of the step list:
///         if sigma > (the last sigma reached): x += s_noise sqrt(sigma² - last²) z     (restart jump)
///         x = Heun(x, sigma -> sigma')
///
/// The step list is the sigma list, and after the step that reaches the sigma nearest to a
/// restart's `sigmaMin`, `times` repetitions of a Karras schedule of `steps` steps from the sigma
/// nearest to `sigmaMax` down to that sigma (Xu et al. 2023, Alg. 1 with K repetitions).
///
/// Without a `restarts` list the default of AUTOMATIC1111's implementation applies: with N >= 20
/// steps, 9 restart steps once (N >= 36: N/4 steps twice) from sigma ≈ 2 to ≈ 0.1, and the main
/// list is re-made as a Karras schedule of N - restart steps × times steps over the same range
/// (sigmas[0] to the smallest positive sigma), so the run takes N Heun steps in all.
/// Fewer than 20 steps is an error (the default list does not fit; use `heun`). Second order
/// between jumps (Heun); 2 NFE per step (1 on the step to 0); stochastic.
public struct RestartSampler: Sampler {
    /// One restart: at the sigma nearest `sigmaMin`, `times` times jump to the sigma nearest
    /// `sigmaMax` and come back down in `steps` Heun steps.
    public struct Restart: Sendable, Equatable {
        /// Where the restart starts (the list's sigma nearest to it).
        public var sigmaMin: Double
        /// Heun steps of each restart segment.
        public var steps: Int
        /// How many times the segment is repeated.
        public var times: Int
        /// How high the jump goes (the list's sigma nearest to it).
        public var sigmaMax: Double

        /// Creates a restart.
        public init(sigmaMin: Double, steps: Int, times: Int, sigmaMax: Double) {
            self.sigmaMin = sigmaMin; self.steps = steps; self.times = times; self.sigmaMax = sigmaMax
        }
    }

    /// The restarts (nil: AUTOMATIC1111's default rule above).
    public var restarts: [Restart]?
    /// Scale of the restart noise.
    public var sNoise: Double
    /// `"restart"`.
    public var name: String { "restart" }

    /// Creates the sampler.
    public init(restarts: [Restart]? = nil, sNoise: Double = 1) { self.restarts = restarts; self.sNoise = sNoise }

    /// The fewest steps the default restart list needs.
    public static let minimumDefaultSteps = 20

    /// The main sigma list and the restarts a run of `sigmas` uses (see the type's summary).
    /// - Throws: `DiffusionError.invalidStepCount` when the list has fewer steps than the restarts need.
    public func plan(_ sigmas: [Double]) throws -> (sigmas: [Double], restarts: [Restart]) {
        try SamplerMath.validate(sigmas)
        let steps = sigmas.count - 1
        if let restarts {
            for r in restarts where r.steps < 1 || r.times < 0 || !(r.sigmaMax > r.sigmaMin) {
                throw DiffusionError.invalidParameter("restart \(r): needs steps >= 1, times >= 0 and sigmaMax > sigmaMin")
            }
            return (sigmas, restarts)
        }
        guard steps >= Self.minimumDefaultSteps else {
            throw DiffusionError.invalidStepCount(steps, reason: "restart's default restart list (9 restart steps from sigma 2 to 0.1) needs at least \(Self.minimumDefaultSteps) steps; use heun for fewer, or give a restart list")
        }
        let (restartSteps, times) = steps >= 36 ? (steps / 4, 2) : (9, 1)
        let mainSteps = steps - restartSteps * times
        if sigmas.last! == 0 {
            let main = try SigmaSchedule.karras.sigmas(count: mainSteps, sigmaMin: sigmas[steps - 1], sigmaMax: sigmas[0])
            return (main, [Restart(sigmaMin: 0.1, steps: restartSteps, times: times, sigmaMax: 2)])
        }
        // A list ending at a positive sigma: the same number of steps, without the step to 0.
        let main = try SigmaSchedule.karras.sigmas(count: mainSteps + 1, sigmaMin: sigmas[steps], sigmaMax: sigmas[0]).dropLast()
        return (Array(main), [Restart(sigmaMin: 0.1, steps: restartSteps, times: times, sigmaMax: 2)])
    }

    /// The (sigma, sigma') pairs of a run, restart segments included.
    public func stepList(_ sigmas: [Double]) throws -> [(from: Double, to: Double)] {
        let (main, restarts) = try plan(sigmas)
        let nearest = { (s: Double) in main.indices.min { abs(main[$0] - s) < abs(main[$1] - s) }! }
        var list: [(Double, Double)] = []
        for i in 0..<(main.count - 1) {
            list.append((main[i], main[i + 1]))
            for r in restarts where nearest(r.sigmaMin) == i + 1 {
                let top = nearest(r.sigmaMax)
                guard top < i + 1 else { continue }
                let segment = Array(try SigmaSchedule.karras.sigmas(count: r.steps + 1, sigmaMin: main[i + 1], sigmaMax: main[top]).dropLast())
                for _ in 0..<r.times { list += zip(segment.dropLast(), segment.dropFirst()).map { ($0, $1) } }
            }
        }
        return list
    }

    /// Runs the loop described above; the callback sees every Heun step (index counts them).
    public func sample(_ denoiser: any Denoiser, x: Tensor, sigmas: [Double], noise: any NoiseSource,
                       callback: SamplerCallback?) throws -> Tensor {
        var x = x
        var last: Double?
        for (i, (sigma, next)) in try stepList(sigmas).enumerated() {
            if let low = last, low < sigma {
                x = SamplerMath.combine(1, x, sNoise * (sigma * sigma - low * low).squareRoot(),
                                        noise.noise(shape: x.shape, sigma: low, sigmaNext: sigma))
            }
            let denoised = try denoiser.denoise(x, sigma: sigma)
            try callback?(SamplerStep(index: i, sigma: sigma, sigmaHat: sigma, x: x, denoised: denoised))
            let d = SamplerMath.derivative(x, sigma: sigma, denoised: denoised)
            let x2 = SamplerMath.combine(1, x, next - sigma, d)
            if next == 0 {
                x = x2
            } else {
                let d2 = SamplerMath.derivative(x2, sigma: next, denoised: try denoiser.denoise(x2, sigma: next))
                x = SamplerMath.combine(1, x, (next - sigma) / 2, d, (next - sigma) / 2, d2)
            }
            last = next
        }
        return x
    }
}
