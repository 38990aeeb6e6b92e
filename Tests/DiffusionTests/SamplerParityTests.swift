// Parity: every sampler against k-diffusion's own `sample_*` (and diffusers' DDIM / DDPM /
// PNDM schedulers for the discrete ones), replaying the fixture's denoiser (the exact mixture
// denoiser), sigmas and noise; every step's x and denoised, the result, the number of
// denoiser calls and the noise queries must match (tolerance: Support/Fixtures.swift).

import Diffusion
import Foundation
import Tensor
import Testing

private let kFixture = try? Fixtures.load("samplers.json", as: SamplerFixture.self)
private let discreteFixture = try? Fixtures.load("discrete_samplers.json", as: SamplerFixture.self)

/// Runs `sampler` and checks it against the recorded case.
private func checkReplay(_ c: SamplerCase, denoiser: any Denoiser, sigmas: [Double]) throws {
    let sampler = try c.makeSampler()
    let counting = CountingDenoiser(denoiser)
    let noise = c.recordedNoise()
    var steps: [SamplerStep] = []
    let x0 = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
    let out = try sampler.sample(counting, x: x0, sigmas: sigmas, noise: noise) { steps.append($0) }
    #expect(steps.count == c.steps.count, "\(c.label): \(steps.count) steps, reference \(c.steps.count)")
    for (mine, ref) in zip(steps, c.steps) {
        let ex = relativeError(mine.x, ref.x), ed = relativeError(mine.denoised, ref.denoised)
        #expect(ex <= parityTolerance, "\(c.label) step \(ref.i): x error \(ex)")
        #expect(ed <= parityTolerance, "\(c.label) step \(ref.i): denoised error \(ed)")
        if let s = ref.sigma_hat { #expect(abs(mine.sigmaHat - s) <= 1e-9 * s, "\(c.label) step \(ref.i): sigma_hat") }
    }
    let ef = relativeError(out, c.final)
    #expect(ef <= parityTolerance, "\(c.label): final error \(ef)")
    #expect(counting.count == c.nfe, "\(c.label): \(counting.count) denoiser calls, reference \(c.nfe)")
    // Every recorded noise is consumed, except DDPM's last draw at t > 0 that diffusers takes
    // when stepping to sigma = 0 (it multiplies it by ~1e-10).
    #expect(noise.position == c.noise.count, "\(c.label): used \(noise.position) of \(c.noise.count) noises")
}

@Suite struct SamplerParityTests {
    @Test func fixturesArePresent() throws {
        let k = try #require(kFixture), d = try #require(discreteFixture)
        #expect(Set(k.cases.map(\.name)).count == 11)
        #expect(Set(d.cases.map(\.name)) == ["ddim", "ddpm", "plms"])
    }

    @Test("k-diffusion parity", arguments: kFixture?.cases.indices.map { $0 } ?? [])
    func matchesKDiffusion(index: Int) throws {
        let fixture = try #require(kFixture)
        let c = fixture.cases[index]
        try checkReplay(c, denoiser: try fixture.mixture.mixture(), sigmas: c.sigmas)
    }

    @Test("diffusers parity (ddim, ddpm, plms)", arguments: discreteFixture?.cases.indices.map { $0 } ?? [])
    func matchesDiffusers(index: Int) throws {
        let fixture = try #require(discreteFixture)
        let c = fixture.cases[index]
        let mixture = try fixture.mixture.mixture()
        let schedule = try DiscreteNoiseSchedule.scaledLinear()
        // The eps network a discrete model would be: eps(x_vp, t) from the exact mixture denoiser.
        let network: (Tensor, Double) throws -> Tensor = { xIn, t in
            let sigma = schedule.sigma(atTimestep: t)
            let xVE = xIn * Float((1 + sigma * sigma).squareRoot())
            let d = try mixture.denoise(xVE, sigma: sigma)
            return (xVE - d) / Float(sigma)
        }
        let denoiser = DiscreteTimeDenoiser(schedule: schedule, prediction: .epsilon, model: network)
        // Our own discrete sigmas must be diffusers' (leading spacing; SD's steps_offset = 1 and
        // final alphas_cumprod[0] for DDIM/PLMS, offset 0 and final 0 for DDPM).
        let sigmas = c.name == "ddpm"
            ? try schedule.sigmas(count: 10, spacing: .leading, stepsOffset: 0, final: .zero)
            : try schedule.sigmas(count: 10, spacing: .leading, stepsOffset: 1, final: .firstTimestep)
        #expect(relativeError(sigmas, c.sigmas) <= 1e-5, "\(c.label): sigmas \(sigmas) vs \(c.sigmas)")
        #expect(try schedule.timesteps(count: 10, spacing: .leading, stepsOffset: c.name == "ddpm" ? 0 : 1).map { Int($0) } == c.timesteps)
        try checkReplay(c, denoiser: denoiser, sigmas: sigmas)
    }
}
