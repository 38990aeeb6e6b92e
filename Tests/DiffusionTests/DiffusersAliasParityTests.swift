// The diffusers aliases of the k-diffusion samplers: diffusers' own schedulers (run as its
// pipelines run them, on the eps-model of the fixture mixture) against our sampler of the same
// canonical name, over the scheduler's sigmas. EVERY model call must match — the state the
// model sees and its sigma — and so must the result (tolerance: Support/Fixtures.swift).
// These show where the alias table's "same method" holds to the last digit.

import Diffusion
import Foundation
import Tensor
import Testing

private struct AliasCall: Codable { let sigma: Double; let x: [Double] }
private struct AliasCase: Codable {
    let name: String
    let label: String
    let sigmas: [Double]
    let x_init: [Double]
    let shape: [Int]
    let noise: [NoiseRecord]
    let calls: [AliasCall]
    let final: [Double]
    let unused_noise: Int
}
private struct AliasFixture: Codable { let mixture: MixtureJSON; let cases: [AliasCase] }
private let aliasFixture = try? Fixtures.load("diffusers_k_samplers.json", as: AliasFixture.self)

/// A denoiser that records every call.
private final class RecordingDenoiser: Denoiser {
    let base: any Denoiser
    var calls: [(sigma: Double, x: [Double])] = []
    init(_ base: any Denoiser) { self.base = base }
    func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        calls.append((sigma, x.scalars.map(Double.init)))
        return try base.denoise(x, sigma: sigma)
    }
}

@Suite struct DiffusersAliasParityTests {
    /// Guards the parameterized test below, which would pass with zero cases if the fixture
    /// went missing or stopped decoding.
    @Test("the alias fixture loads and has cases")
    func fixtureLoads() throws {
        let fixture = try Fixtures.load("diffusers_k_samplers.json", as: AliasFixture.self)
        #expect(!fixture.cases.isEmpty)
    }

    @Test("diffusers scheduler = k-diffusion sampler", arguments: aliasFixture?.cases.indices.map { $0 } ?? [])
    func schedulerMatchesSampler(index: Int) throws {
        let fixture = try #require(aliasFixture)
        let c = fixture.cases[index]
        let choice = try SamplerRegistry.resolve(c.label)
        #expect(choice.name.rawValue == c.name, "\(c.label) resolves to \(choice.name)")
        let recorder = RecordingDenoiser(try fixture.mixture.mixture())
        let noise = RecordedNoise(c.noise.map { Tensor(shape: c.shape, scalars: $0.noise.map(Float.init)) })
        let x = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
        let out = try choice.sampler.sample(recorder, x: x, sigmas: c.sigmas, noise: noise, callback: nil)
        #expect(recorder.calls.count == c.calls.count, "\(c.label): \(recorder.calls.count) calls, diffusers \(c.calls.count)")
        for (k, (mine, ref)) in zip(recorder.calls, c.calls).enumerated() {
            // diffusers builds its sigma tables in float32 (KDPM2 Ancestral's sigma_down as the
            // cancelling difference sqrt(s_next^2 - s_up^2)), which costs up to ~6e-6 relative.
            #expect(abs(mine.sigma - ref.sigma) <= 1e-5 * ref.sigma, "\(c.label) call \(k): sigma \(mine.sigma) vs \(ref.sigma)")
            let e = relativeError(mine.x, ref.x)
            #expect(e <= parityTolerance, "\(c.label) call \(k): x error \(e)")
        }
        let e = relativeError(out, c.final)
        #expect(e <= parityTolerance, "\(c.label): final error \(e)")
        // Some diffusers schedulers draw (and multiply by 0) one more noise on the step to sigma = 0.
        #expect(noise.position == c.noise.count - c.unused_noise, "\(c.label): used \(noise.position) of \(c.noise.count)")
    }
}
