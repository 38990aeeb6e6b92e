// diffusers' UniPCMultistepScheduler, DEISMultistepScheduler and LCMScheduler against the
// `unipc`, `deis` and `lcm` samplers as `DiffusersSchedulerPlan` builds them from the same
// scheduler configuration (fixture: tools/make_multistep_sampler_fixtures.py, the mixture's
// eps-model, SD's betas in float64, 4-16 steps, variants bh1/bh2, orders 1-3, lower-order final on
// and off, a disabled corrector, Karras sigmas, leading/trailing spacing, LCM's boundary scalings
// and noise). The plan's sigmas and timesteps must equal diffusers' (sigmas to 1e-6: diffusers
// keeps them in float32); every model call — the state the model sees and its sigma — and the
// result must match to `parityTolerance` (Support/Fixtures.swift).

import Diffusion
import Foundation
import Tensor
import Testing

private struct MultistepCall: Codable { let sigma: Double; let x: [Double] }
private struct MultistepCase: Codable, CustomStringConvertible {
    let name, className, configJSON: String
    let steps: Int
    let timesteps: [Int]
    let sigmas, x_init, final: [Double]
    let shape: [Int]
    let noise: [NoiseRecord]
    let calls: [MultistepCall]
    var description: String { "\(className) \(configJSON.count) \(steps) steps" }
}
private struct MultistepFixture: Codable { let mixture: MixtureJSON; let cases: [MultistepCase] }
private let multistepFixture = try? Fixtures.load("diffusers_multistep_samplers.json", as: MultistepFixture.self)

/// A denoiser that records every call.
private final class CallRecorder: Denoiser {
    let base: any Denoiser
    var calls: [(sigma: Double, x: [Double])] = []
    init(_ base: any Denoiser) { self.base = base }
    func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        calls.append((sigma, x.scalars.map(Double.init)))
        return try base.denoise(x, sigma: sigma)
    }
}

@Suite struct DiffusersMultistepParityTests {
    /// Guards the parameterized test, which would pass with zero cases without its fixture.
    @Test("the multistep fixture loads and covers UniPC, DEIS and LCM")
    func fixtureLoads() throws {
        let fixture = try Fixtures.load("diffusers_multistep_samplers.json", as: MultistepFixture.self)
        #expect(Set(fixture.cases.map(\.name)) == ["unipc", "deis", "lcm"])
    }

    @Test("diffusers scheduler = plan's sigmas, timesteps and sampler", arguments: multistepFixture?.cases.indices.map { $0 } ?? [])
    func planMatchesDiffusers(index: Int) throws {
        let fixture = try #require(multistepFixture)
        let c = fixture.cases[index]
        #expect(try SamplerRegistry.resolve(c.className).name.rawValue == c.name)
        let configuration = try DiffusersSchedulerConfiguration(json: Data(c.configJSON.utf8))
        let plan = try DiffusersSchedulerPlan(className: c.className, configuration: configuration, steps: c.steps)
        try #require(plan.sigmas.count == c.sigmas.count, "\(c): \(plan.sigmas.count) sigmas, diffusers \(c.sigmas.count)")
        for (k, (mine, ref)) in zip(plan.sigmas, c.sigmas).enumerated() {
            #expect(abs(mine - ref) <= 1e-6 * ref, "\(c) sigma \(k): \(mine) vs \(ref)")
        }
        for (k, t) in c.timesteps.enumerated() {
            #expect(plan.modelTimesteps[plan.sigmas[k]] == Double(t), "\(c) timestep \(k)")
        }
        #expect(abs(plan.initialNoiseScale - (1 + c.sigmas[0] * c.sigmas[0]).squareRoot()) <= 1e-6 * plan.initialNoiseScale)
        let last = c.sigmas[c.sigmas.count - 1]
        #expect(abs(plan.outputScale - 1 / (1 + last * last).squareRoot()) <= 1e-9)

        let recorder = CallRecorder(try fixture.mixture.mixture())
        let noise = RecordedNoise(c.noise.map { Tensor(shape: c.shape, scalars: $0.noise.map(Float.init)) })
        let x = Tensor(shape: c.shape, scalars: c.x_init.map(Float.init))
        let out = try plan.sampler.sample(recorder, x: x, sigmas: c.sigmas, noise: noise, callback: nil)
        #expect(recorder.calls.count == c.calls.count)
        for (k, (mine, ref)) in zip(recorder.calls, c.calls).enumerated() {
            #expect(abs(mine.sigma - ref.sigma) <= 1e-9 * ref.sigma, "\(c) call \(k): sigma \(mine.sigma) vs \(ref.sigma)")
            let e = relativeError(mine.x, ref.x)
            #expect(e <= parityTolerance, "\(c) call \(k): x error \(e)")
        }
        let e = relativeError(out, c.final)
        #expect(e <= parityTolerance, "\(c): final error \(e)")
        #expect(noise.position == c.noise.count)
    }

    @Test("bad UniPC, DEIS and LCM settings are clear errors")
    func badSettings() throws {
        let sigmas = [10.0, 5, 1, 0]
        let x = Tensor(shape: [1, 2], scalars: [1, 2])
        let d = ClosureDenoiser { x, _ in x * 0.5 }
        #expect(throws: DiffusionError.self) { try UniPCSampler(order: 4).sample(d, x: x, sigmas: sigmas) }
        #expect(throws: DiffusionError.self) { try DEISSampler(order: 0).sample(d, x: x, sigmas: sigmas) }
        #expect(throws: DiffusionError.self) {
            try LCMSampler(boundaryCondition: .init(timesteps: [999, 499])).sample(d, x: x, sigmas: sigmas)
        }
        var config = DiffusersSchedulerConfiguration()
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "LCMScheduler", configuration: config, steps: 51) }
        config.solverOrder = 4
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "UniPCMultistepScheduler", configuration: config, steps: 8) }
        config.solverOrder = 2
        config.predictX0 = false
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "UniPCMultistepScheduler", configuration: config, steps: 8) }
    }
}
