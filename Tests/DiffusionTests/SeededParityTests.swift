// Seed parity: k-diffusion's ancestral samplers with their DEFAULT noise (`torch.randn_like`
// after `torch.manual_seed(seed)`, float32 state — how AUTOMATIC1111 runs them) replayed with
// `GeneratorNoise(TorchGenerator(seed:))`: no recorded noise, the seed alone must reproduce
// every step (tolerance: Support/Fixtures.swift).

import Diffusion
import Foundation
import Tensor
import Testing

private struct SeededCase: Codable {
    let name: String
    let seed: UInt64
    let sigmas: [Double]
    let x_init: [Double]
    let shape: [Int]
    let steps: [StepRecord]
    let final: [Double]
}
private struct SeededFixture: Codable { let mixture: MixtureJSON; let cases: [SeededCase] }
private let seededFixture = try? Fixtures.load("seeded_samplers.json", as: SeededFixture.self)

@Suite struct SeededParityTests {
    @Test("torch.manual_seed replay", arguments: seededFixture?.cases.indices.map { $0 } ?? [])
    func seedReproducesKDiffusionRun(index: Int) throws {
        let fixture = try #require(seededFixture)
        let c = fixture.cases[index]
        let sampler = try SamplerRegistry.resolve(c.name).sampler
        var steps: [SamplerStep] = []
        let x = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
        let out = try sampler.sample(try fixture.mixture.mixture(), x: x, sigmas: c.sigmas,
                                     noise: GeneratorNoise(TorchGenerator(seed: c.seed))) { steps.append($0) }
        #expect(steps.count == c.steps.count)
        for (mine, ref) in zip(steps, c.steps) {
            #expect(relativeError(mine.x, ref.x) <= parityTolerance, "\(c.name) step \(ref.i): x")
            #expect(relativeError(mine.denoised, ref.denoised) <= parityTolerance, "\(c.name) step \(ref.i): denoised")
        }
        #expect(relativeError(out, c.final) <= parityTolerance, "\(c.name): final \(relativeError(out, c.final))")
    }

    @Test func aDifferentSeedGivesADifferentRun() throws {
        let fixture = try #require(seededFixture)
        let c = fixture.cases[0]
        let x = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
        let out = try EulerAncestralSampler().sample(try fixture.mixture.mixture(), x: x, sigmas: c.sigmas,
                                                     noise: GeneratorNoise(TorchGenerator(seed: c.seed + 1)), callback: nil)
        #expect(relativeError(out, c.final) > 1e-2)
    }
}
