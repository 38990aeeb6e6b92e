// Parity of issue 17's k-diffusion samplers: `dpm_fast` and `dpm_adaptive` against k-diffusion's
// `sample_dpm_fast` / `sample_dpm_adaptive`, and `eta` / `s_noise` on every ancestral and SDE
// sampler, set through `SamplerOptions` as `diffuse sample --eta/--s-noise` sets them. The
// fixture (tools/make_sampler_fixtures.py, k_samplers_extra.json) replays the exact mixture
// denoiser and the recorded noise; tolerance as the other parity tests (1e-4 relative).

import Diffusion
import Foundation
import Tensor
import Testing

private let extraFixture = try? Fixtures.load("k_samplers_extra.json", as: SamplerFixture.self)

/// dpm_adaptive's counts, which `SamplerCase` does not carry.
private struct AdaptiveCounts: Codable { let accepted: Int?; let rejected: Int? }
private struct AdaptiveFixture: Codable { let cases: [AdaptiveCounts] }
private let adaptiveCounts = try? Fixtures.load("k_samplers_extra.json", as: AdaptiveFixture.self)

/// The recorded noise in order, keeping the (sigma, sigmaNext) of each query for a check at the
/// parity tolerance: dpm_adaptive's step sizes come from Float32 error estimates, so its sigmas
/// agree with the float64 reference to about 1e-5, RecordedNoise's own (fatal) tolerance.
private final class ReplayedNoise: NoiseSource {
    let noises: [Tensor]
    var queries: [(sigma: Double, sigmaNext: Double)] = []
    init(_ c: SamplerCase) { noises = c.noise.map { Tensor(shape: c.shape, scalars: $0.noise.map(Float.init)) } }
    func noise(shape: [Int], sigma: Double, sigmaNext: Double) -> Tensor {
        queries.append((sigma, sigmaNext))
        return queries.count <= noises.count ? noises[queries.count - 1] : Tensor(shape: shape, repeating: 0)
    }
}

/// The case's sampler, built as a user would: the registry name plus `SamplerOptions`
/// (dpm_adaptive's tolerances through its initializer, as they have no CLI option).
private func sampler(for c: SamplerCase) throws -> any Sampler {
    let name = try #require(SamplerName(rawValue: c.name))
    let options = SamplerOptions(eta: c.options["eta"]?.number, sNoise: c.options["s_noise"]?.number)
    if name == .dpmAdaptive {
        let base = DPMAdaptiveSampler(order: Int(c.option("order", default: 3)), rtol: c.option("rtol", default: 0.05),
                                      atol: c.option("atol", default: 0.0078), hInit: c.option("h_init", default: 0.05),
                                      pcoeff: c.option("pcoeff", default: 0), icoeff: c.option("icoeff", default: 1),
                                      dcoeff: c.option("dcoeff", default: 0))
        return try name.applying(options, to: base)
    }
    return try name.applying(options, to: name.makeSampler())
}

@Suite struct SamplerParityExtraTests {
    @Test func fixtureIsPresent() throws {
        let f = try #require(extraFixture)
        #expect(Set(f.cases.map(\.name)) == ["dpm_fast", "dpm_adaptive", "euler_ancestral", "dpm_2_ancestral",
                                             "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"])
    }

    @Test("k-diffusion parity (dpm_fast, dpm_adaptive, eta/s_noise)", arguments: extraFixture?.cases.indices.map { $0 } ?? [])
    func matchesKDiffusion(index: Int) throws {
        let fixture = try #require(extraFixture)
        let c = fixture.cases[index]
        let counting = CountingDenoiser(try fixture.mixture.mixture())
        let noise = c.recordedNoise()
        var steps: [SamplerStep] = []
        let x0 = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
        let s = try sampler(for: c)
        let out: Tensor
        if let adaptive = s as? DPMAdaptiveSampler {
            let replayed = ReplayedNoise(c)
            let run = try adaptive.sampleWithInfo(counting, x: x0, sigmas: c.sigmas, noise: replayed)
            out = run.x
            #expect(replayed.queries.count == c.noise.count, "\(c.label): \(replayed.queries.count) noise queries, reference \(c.noise.count)")
            for (q, r) in zip(replayed.queries, c.noise) {
                #expect(abs(q.sigma - r.sigma) <= parityTolerance * r.sigma && abs(q.sigmaNext - r.sigma_next) <= parityTolerance * r.sigma_next,
                        "\(c.label): noise query at \(q), reference (\(r.sigma), \(r.sigma_next))")
            }
            let counts = try #require(adaptiveCounts).cases[index]
            #expect(run.info.accepted == counts.accepted && run.info.rejected == counts.rejected,
                    "\(c.label): accepted/rejected \(run.info.accepted)/\(run.info.rejected), reference \(counts.accepted)/\(counts.rejected)")
            #expect(run.info.nfe == c.nfe, "\(c.label): reported NFE \(run.info.nfe), reference \(c.nfe)")
        } else {
            out = try s.sample(counting, x: x0, sigmas: c.sigmas, noise: noise) { steps.append($0) }
            #expect(steps.count == c.steps.count, "\(c.label): \(steps.count) steps, reference \(c.steps.count)")
            for (mine, ref) in zip(steps, c.steps) {
                #expect(relativeError(mine.x, ref.x) <= parityTolerance, "\(c.label) step \(ref.i): x")
                #expect(relativeError(mine.denoised, ref.denoised) <= parityTolerance, "\(c.label) step \(ref.i): denoised")
                if let s = ref.sigma { #expect(abs(mine.sigma - s) <= 1e-9 * s, "\(c.label) step \(ref.i): sigma \(mine.sigma) vs \(s)") }
            }
        }
        let ef = relativeError(out, c.final)
        #expect(ef <= parityTolerance, "\(c.label): final error \(ef)")
        #expect(counting.count == c.nfe, "\(c.label): \(counting.count) denoiser calls, reference \(c.nfe)")
        if !(s is DPMAdaptiveSampler) {
            #expect(noise.position == c.noise.count, "\(c.label): used \(noise.position) of \(c.noise.count) noises")
        }
    }

    @Test func dpmFastSpendsExactlyItsBudget() {
        for n in 1...12 {
            let orders = DPMFastSampler.orders(nfe: n)
            #expect(orders.reduce(0, +) == n && orders.allSatisfy { (1...3).contains($0) }, "n = \(n): \(orders)")
        }
    }

    @Test func badOptionsAreErrors() throws {
        let euler = SamplerName.euler.makeSampler()
        #expect(throws: DiffusionError.self) { try SamplerName.euler.applying(SamplerOptions(eta: 0.5), to: euler) }
        #expect(throws: DiffusionError.self) { try SamplerName.lms.applying(SamplerOptions(sNoise: 1), to: LMSSampler()) }
        #expect(throws: DiffusionError.self) {
            try SamplerName.eulerAncestral.applying(SamplerOptions(eta: -0.1), to: EulerAncestralSampler())
        }
        #expect(throws: DiffusionError.self) {
            try SamplerName.eulerAncestral.applying(SamplerOptions(sNoise: .nan), to: EulerAncestralSampler())
        }
        let sigmas = try SigmaSchedule.karras.sigmas(count: 19, sigmaMin: 0.05, sigmaMax: 10)
        let x = Tensor(shape: [1, 2], scalars: [1, 2])
        let mixture = try GaussianMixture(weights: [1], means: [[0, 0]], stds: [1])
        #expect(throws: DiffusionError.self) { try RestartSampler().sample(mixture, x: x, sigmas: sigmas, seed: 0) }
        #expect(throws: DiffusionError.self) { try DPMAdaptiveSampler(order: 4).sample(mixture, x: x, sigmas: sigmas, seed: 0) }
        #expect(throws: DiffusionError.self) { try DPMFastSampler().sample(mixture, x: x, sigmas: [10, 0], seed: 0) }
    }
}
