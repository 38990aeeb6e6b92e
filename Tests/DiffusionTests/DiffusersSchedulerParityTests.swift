// diffusers scheduler class names as samplers, against diffusers itself: the project's own
// models/ddpm-fmnist sampled with each scheduler built by `from_config` of the model's
// scheduler_config.json, 20 steps, torch.Generator().manual_seed(0), batch 4 (fixture from
// tools/make_sd_pipeline_fixtures.py; the DDIM and DDPM runs are DDPMPipeline's own). The
// final images must match to 1e-3 relative (infinity norm, Support/Fixtures.swift): both sides
// run the same F16 weights in Float32 over 20-40 UNet calls, so they differ by rounding
// (~1e-5), while a timestep off by one grid point, a wrong final alpha, clipping the noise
// estimate or a start at the wrong noise scale moves pixels by 1e-2 to 1 (the issue's case:
// mean absolute difference 0.03-0.12 before these semantics).

import Diffusion
import Foundation
import Tensor
import Testing

private let schedulerFixture = try? SafetensorsFile(
    contentsOf: Fixtures.folder.appendingPathComponent("diffusers_schedulers_ddpm_fmnist.safetensors"))
private let ddpmFmnistFolder = Fixtures.folder.deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("models/ddpm-fmnist")

@Suite("diffusers scheduler names reproduce diffusers")
struct DiffusersSchedulerParityTests {
    @Test("ddpm-fmnist, 20 steps, seed 0: the images of diffusers", arguments: DiffusersSchedulerPlan.supportedClassNames)
    func ddpmFmnist(className: String) throws {
        let fixture = try #require(schedulerFixture)
        let model = try DDPMModel.load(from: ddpmFmnistFolder)
        let expected = try fixture.tensor(named: "\(className).images")
        let images = try model.sample(count: 4, sampler: className, steps: 20, seed: 0)
        #expect(images.shape == expected.shape)
        let e = relativeError(images, expected.scalars.map(Double.init))
        #expect(e <= 1e-3, "\(className): images off by \(e)")
    }

    @Test("timesteps and sigmas as diffusers' set_timesteps", arguments: [
        "DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
        "LMSDiscreteScheduler", "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
    ])
    func timesteps(className: String) throws {
        let fixture = try #require(schedulerFixture)
        let model = try DDPMModel.load(from: ddpmFmnistFolder)
        let plan = try DiffusersSchedulerPlan(className: className, configuration: model.schedulerFile, steps: 20)
        let expected = try fixture.tensor(named: "\(className).timesteps").scalars.map(Double.init)
        let mine = plan.sigmas.dropLast().map { plan.modelTimesteps[$0]! }
        #expect(mine.count == expected.count)
        for (a, b) in zip(mine, expected) { #expect(abs(a - b) <= 1e-3, "\(className): timestep \(a) vs \(b)") }
        if let sigmas = try? fixture.tensor(named: "\(className).sigmas").scalars.map(Double.init) {
            #expect(plan.sigmas.count == sigmas.count)
            for (a, b) in zip(plan.sigmas, sigmas) { #expect(abs(a - b) <= 1e-5 * max(b, 1), "\(className): sigma \(a) vs \(b)") }
        }
    }

    @Test("configuration fields the port does not implement are refused by name")
    func unimplemented() throws {
        let config = try DiffusersSchedulerConfiguration(json: Data(#"{"thresholding": true, "num_train_timesteps": 1000}"#.utf8))
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "DDIMScheduler", configuration: config, steps: 10) }
        let order3 = try DiffusersSchedulerConfiguration(json: Data(#"{"solver_order": 3}"#.utf8))
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "DPMSolverMultistepScheduler", configuration: order3, steps: 10) }
        #expect(throws: DiffusionError.self) { try DiffusersSchedulerPlan(className: "NoSuchScheduler", configuration: config, steps: 10) }
    }
}
