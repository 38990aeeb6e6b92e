// Schedules and the discrete-model wrappers against k-diffusion and diffusers (schedules.json,
// written by tools/make_sampler_fixtures.py). k-diffusion computes its sigma schedules in
// float32 and diffusers its betas in float32, so those comparisons allow 1e-6 relative.

import Diffusion
import Foundation
import Tensor
import Testing

private struct ScheduleFixture: Decodable {
    let karras, exponential, polyexponential, vp: [Double]
    let betas_linear, betas_scaled_linear, betas_cosine: [Double]
    let simple_10, probe_sigmas, sigma_to_t, sigma_to_t_quantized: [Double]
    let wrapper_x: [Double]
    let wrapper_sigma: Double
    let eps_denoised, v_denoised, eps_quantized_denoised: [Double]
    let euler_linspace_timesteps, euler_linspace_sigmas: [Double]
    let euler_leading_timesteps, euler_leading_sigmas: [Double]
    let euler_trailing_timesteps, euler_trailing_sigmas: [Double]
    let ddim_linspace_timesteps: [Double]
}

private let fixture = try? Fixtures.load("schedules.json", as: ScheduleFixture.self)

@Suite struct ScheduleTests {
    @Test func sigmaSchedulesMatchKDiffusion() throws {
        let f = try #require(fixture)
        let lo = 0.0292, hi = 14.6146
        #expect(relativeError(try SigmaSchedule.karras(count: 10, sigmaMin: lo, sigmaMax: hi), f.karras) <= 1e-6)
        #expect(relativeError(try SigmaSchedule.exponential(count: 10, sigmaMin: lo, sigmaMax: hi), f.exponential) <= 1e-6)
        #expect(relativeError(try SigmaSchedule.polyexponential(count: 10, sigmaMin: lo, sigmaMax: hi, rho: 2), f.polyexponential) <= 1e-6)
        #expect(relativeError(try SigmaSchedule.vp(count: 10), f.vp) <= 1e-6)
        // The named entry points agree with the functions.
        #expect(try SigmaSchedule(named: "Karras").sigmas(count: 10, sigmaMin: lo, sigmaMax: hi)
                == SigmaSchedule.karras(count: 10, sigmaMin: lo, sigmaMax: hi))
    }

    @Test(arguments: SigmaSchedule.allCases)
    func everyScheduleDecreasesToZero(schedule: SigmaSchedule) throws {
        let s = try schedule.sigmas(count: 12, sigmaMin: 0.03, sigmaMax: 20)
        #expect(s.count == 13)
        #expect(s.last == 0)
        try SamplerMath.validate(s)
        if schedule != .vp {
            #expect(abs(s[0] - 20) <= 1e-12 * 20)
            #expect(abs(s[11] - 0.03) <= 1e-12)
        }
    }

    @Test func linearScheduleIsEvenlySpacedInSigma() throws {
        #expect(relativeError(try SigmaSchedule.linear(count: 5, sigmaMin: 1, sigmaMax: 9), [9, 7, 5, 3, 1, 0]) <= 1e-15)
    }

    /// rho other than 7, in closed form: with sigma in [1, 8] and rho = 3 the ramp runs over
    /// sigma^(1/3) in [1, 2], so the midpoint is 1.5^3; rho = 1 is evenly spaced in sigma.
    @Test func karrasScheduleHonoursRho() throws {
        #expect(relativeError(try SigmaSchedule.karras(count: 3, sigmaMin: 1, sigmaMax: 8, rho: 3), [8, 3.375, 1, 0]) <= 1e-14)
        #expect(relativeError(try SigmaSchedule.karras(count: 5, sigmaMin: 1, sigmaMax: 9, rho: 1), [9, 7, 5, 3, 1, 0]) <= 1e-14)
    }

    @Test func badScheduleInputsThrow() {
        #expect(throws: DiffusionError.self) { try SigmaSchedule(named: "karas") }
        #expect(throws: DiffusionError.self) { try SigmaSchedule.karras(count: 0, sigmaMin: 0.1, sigmaMax: 10) }
        #expect(throws: DiffusionError.self) { try SigmaSchedule.exponential(count: 5, sigmaMin: 10, sigmaMax: 1) }
        #expect(throws: DiffusionError.self) { try TimestepSpacing(named: "uniform") }
        #expect(throws: DiffusionError.self) { try DiscreteNoiseSchedule.scaledLinear().sigmas(count: 0, spacing: .leading) }
        do {
            _ = try SigmaSchedule(named: "karas")
        } catch {
            let text = "\(error)"
            #expect(text.contains("karras") && text.contains("exponential") && text.contains("vp"), "message lists the accepted names: \(text)")
        }
    }

    @Test func betaSchedulesMatchDiffusers() throws {
        let f = try #require(fixture)
        #expect(relativeError(try DiscreteNoiseSchedule.linear().betas, f.betas_linear) <= 1e-6)
        #expect(relativeError(try DiscreteNoiseSchedule.scaledLinear().betas, f.betas_scaled_linear) <= 1e-6)
        #expect(relativeError(try DiscreteNoiseSchedule.cosine().betas, f.betas_cosine) <= 1e-6)
        // sigma_t = sqrt((1 - alphabar) / alphabar), and the cosine schedule's clipping at 0.999.
        let s = try DiscreteNoiseSchedule.cosine()
        #expect(s.betas.max()! == 0.999)
        for t in [0, 500, 999] {
            let a = s.alphasCumprod[t]
            #expect(abs(s.sigmas[t] - ((1 - a) / a).squareRoot()) <= 1e-12 * s.sigmas[t])
        }
    }

    @Test func sigmaToTimestepMatchesKDiffusion() throws {
        let f = try #require(fixture)
        let s = try DiscreteNoiseSchedule.scaledLinear()
        let t = f.probe_sigmas.map { s.timestep(forSigma: $0) }
        let q = f.probe_sigmas.map { s.timestep(forSigma: $0, quantize: true) }
        for i in t.indices { #expect(abs(t[i] - f.sigma_to_t[i]) <= 1e-6, "sigma \(f.probe_sigmas[i]): t \(t[i]) vs \(f.sigma_to_t[i])") }
        #expect(q == f.sigma_to_t_quantized)
        // Round trip at the training sigmas.
        for t in [0.0, 1, 250, 998, 999] { #expect(abs(s.timestep(forSigma: s.sigma(atTimestep: t)) - t) <= 1e-9) }
        #expect(relativeError(try s.uniformSigmas(count: 10), f.simple_10) <= 1e-6)
    }

    @Test func discreteTimestepsAndSigmasMatchDiffusers() throws {
        let f = try #require(fixture)
        let s = try DiscreteNoiseSchedule.scaledLinear()
        let cases: [(TimestepSpacing, Int, [Double], [Double])] = [
            (.linspace, 0, f.euler_linspace_timesteps, f.euler_linspace_sigmas),
            (.leading, 1, f.euler_leading_timesteps, f.euler_leading_sigmas),
            (.trailing, 0, f.euler_trailing_timesteps, f.euler_trailing_sigmas),
        ]
        for (spacing, offset, ts, sigmas) in cases {
            #expect(relativeError(try s.timesteps(count: 7, spacing: spacing, stepsOffset: offset), ts) <= 1e-6, "\(spacing)")
            // diffusers' Euler family interpolates linearly in sigma (float32 alphas: 1e-5 in the infinity norm).
            let mine = try s.sigmas(count: 7, spacing: spacing, stepsOffset: offset, interpolation: .sigma)
            #expect(relativeError(mine, sigmas) <= 1e-5, "\(spacing): \(mine) vs \(sigmas)")
        }
        let ddim = try s.timesteps(count: 7, spacing: .linspace).map { $0.rounded(.toNearestOrEven) }
        #expect(ddim == f.ddim_linspace_timesteps)
    }

    @Test(arguments: [DiscreteTimeDenoiser.Prediction.epsilon, .vPrediction])
    func discreteWrappersMatchKDiffusion(prediction: DiscreteTimeDenoiser.Prediction) throws {
        let f = try #require(fixture)
        let schedule = try DiscreteNoiseSchedule.scaledLinear()
        // The same arbitrary "network" as the fixture script: sin(x) (1 + t/1000) + 0.1 x.
        let network: (Tensor, Double) -> Tensor = { x, t in x.map { sin($0) * Float(1 + t / 1000) + 0.1 * $0 } }
        let x = Tensor(shape: [2, 3], scalars: f.wrapper_x.map(Float.init))
        let d = DiscreteTimeDenoiser(schedule: schedule, prediction: prediction, model: network)
        let out = try d.denoise(x, sigma: f.wrapper_sigma)
        let ref = prediction == .epsilon ? f.eps_denoised : f.v_denoised
        #expect(relativeError(out, ref) <= 1e-5)
        if prediction == .epsilon {
            let q = DiscreteTimeDenoiser(schedule: schedule, prediction: .epsilon, quantize: true, model: network)
            #expect(relativeError(try q.denoise(x, sigma: f.wrapper_sigma), f.eps_quantized_denoised) <= 1e-5)
        }
    }

    @Test func guidanceCombinesLinearly() throws {
        let u = ClosureDenoiser { x, _ in x * 0.5 }
        let c = ClosureDenoiser { x, _ in x * 2 }
        let x = Tensor(shape: [2], scalars: [1, -3])
        let g = GuidedDenoiser(unconditional: u, conditional: c, scale: 7.5)
        // 0.5 x + 7.5 (2x - 0.5x) = 11.75 x
        #expect(relativeError(try g.denoise(x, sigma: 1), [11.75, -35.25]) <= 1e-7)
        #expect(relativeError(try GuidedDenoiser(unconditional: u, conditional: c, scale: 1).denoise(x, sigma: 1), [2, -6]) <= 1e-7)
    }
}
