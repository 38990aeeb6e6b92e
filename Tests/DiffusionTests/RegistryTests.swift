// Sampler names (canonical, AUTOMATIC1111, diffusers), input validation and the shared loop
// contract (callback order, NFE, cancellation).

import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct RegistryTests {
    @Test(arguments: SamplerName.allCases)
    func canonicalNamesResolveToThemselves(name: SamplerName) throws {
        let choice = try SamplerRegistry.resolve(name.rawValue)
        #expect(choice.name == name)
        #expect(choice.sampler.name == name.rawValue)
        #expect(choice.schedule == nil)
    }

    @Test(arguments: [
        ("Euler a", SamplerName.eulerAncestral, SigmaSchedule?.none),
        ("DPM++ 2M Karras", .dpmpp2M, .karras),
        ("dpm++ 2m karras", .dpmpp2M, .karras),
        ("DPM++ 2M SDE Exponential", .dpmpp2MSDE, .exponential),
        ("DPM++ 3M SDE Karras", .dpmpp3MSDE, .karras),
        ("DPM2 a Karras", .dpm2Ancestral, .karras),
        ("DPM++ 2S a", .dpmpp2SAncestral, nil),
        ("LMS Karras", .lms, .karras),
        ("DDIM", .ddim, nil),
        ("PLMS", .plms, nil),
        ("k_euler_a", .eulerAncestral, nil),
        ("EulerAncestralDiscreteScheduler", .eulerAncestral, nil),
        ("KDPM2AncestralDiscreteScheduler", .dpm2Ancestral, nil),
        ("DPMSolverMultistepScheduler", .dpmpp2M, nil),
        ("DPMSolverMultistepScheduler(algorithm_type=\"sde-dpmsolver++\")", .dpmpp2MSDE, nil),
        ("DPMSolverSDEScheduler", .dpmppSDE, nil),
        ("PNDMScheduler", .plms, nil),
        ("DDPMScheduler", .ddpm, nil),
    ])
    func aliasesResolve(label: String, name: SamplerName, schedule: SigmaSchedule?) throws {
        let choice = try SamplerRegistry.resolve(label)
        #expect(choice.name == name)
        #expect(choice.schedule == schedule)
    }

    @Test func heunLabelSelectsHeunWeights() throws {
        let choice = try SamplerRegistry.resolve("DPM++ 2M SDE Heun Karras")
        let sampler = try #require(choice.sampler as? DPMPP2MSDESampler)
        #expect(sampler.solverType == .heun)
        #expect(choice.schedule == .karras)
        #expect((try SamplerRegistry.resolve("DPM++ 2M SDE").sampler as? DPMPP2MSDESampler)?.solverType == .midpoint)
    }

    @Test func unknownNamesThrowWithTheAcceptedList() {
        for bad in ["euler_a", "DPM++ 2M Karass", "", "EulerScheduler"] {
            #expect(throws: DiffusionError.self) { try SamplerRegistry.resolve(bad) }
        }
        do {
            _ = try SamplerRegistry.resolve("eulr")
        } catch {
            let text = "\(error)"
            #expect(text.contains("eulr") && text.contains("euler_ancestral") && text.contains("DPM++ 2M Karras")
                    && text.contains("PNDMScheduler"), "\(text)")
        }
    }

    @Test(arguments: SamplerName.allCases)
    func badSigmaListsThrow(name: SamplerName) {
        let sampler = name.makeSampler()
        let x = Tensor(shape: [1, 2], scalars: [1, 2])
        let d = ClosureDenoiser { x, _ in x * 0.5 }
        for sigmas in [[5.0], [], [5, 5, 0], [1, 2, 0], [3, -1], [.nan, 0], [2, 1, 1.5, 0]] {
            #expect(throws: DiffusionError.self, "\(name) \(sigmas)") {
                try sampler.sample(d, x: x, sigmas: sigmas, noise: GaussianNoise(seed: 0), callback: nil)
            }
        }
    }

    /// dpm_fast and dpm_adaptive make their own step grid, restart adds restart segments (and
    /// needs 20 steps by default): their loop is checked in SamplerExtraTests.
    @Test(arguments: SamplerName.allCases.filter { ![.dpmFast, .dpmAdaptive, .restart].contains($0) })
    func loopContract(name: SamplerName) throws {
        // One callback per step, in order, with the state before the step; NFE as documented;
        // a one-step run works for every sampler that can take it.
        let m = try GaussianMixture(weights: [1, 1], means: [[1, 0], [-1, 0.5]], stds: [0.3, 0.4])
        let counting = CountingDenoiser(m)
        let sigmas = try SigmaSchedule.karras(count: 6, sigmaMin: 0.1, sigmaMax: 10)
        let x = Tensor(shape: [3, 2], scalars: [10, -4, 3, 8, -12, 1])
        var seen: [Int] = []
        var firstX: [Float] = []
        _ = try name.makeSampler().sample(counting, x: x, sigmas: sigmas, noise: BrownianTreeNoise(seed: 1, sigmas: sigmas)) { step in
            if step.index == 0 { firstX = step.x.scalars }
            seen.append(step.index)
            #expect(step.sigma == sigmas[step.index])
            #expect(step.denoised.shape == [3, 2])
        }
        #expect(seen == Array(0..<6))
        if name != .edmStochastic { #expect(firstX == x.scalars) }      // its churn raises x before the first report
        // NFE: evaluationsPerStep on every step but the last to 0 (1 call); plms adds one on its first step.
        let expected = name.evaluationsPerStep * 5 + 1 + (name == .plms ? 1 : 0)
        #expect(counting.count == expected, "\(name): \(counting.count) calls, expected \(expected)")
    }

    @Test func callbackCanCancel() throws {
        struct Stop: Error {}
        var calls = 0
        let sigmas = try SigmaSchedule.exponential(count: 10, sigmaMin: 0.1, sigmaMax: 10)
        #expect(throws: Stop.self) {
            try EulerSampler().sample(ClosureDenoiser { x, _ in x * 0 }, x: Tensor(shape: [1], scalars: [1]), sigmas: sigmas,
                                      noise: GaussianNoise(seed: 0)) { step in
                calls += 1
                if step.index == 2 { throw Stop() }
            }
        }
        #expect(calls == 3)
    }

    @Test func tableProperties() {
        #expect(SamplerName.allCases.count == 22)
        #expect(SamplerName.allCases.filter(\.isStochastic).map(\.rawValue).sorted()
                == ["ddpm", "dpm_2_ancestral", "dpmpp_2m_sde", "dpmpp_2s_ancestral", "dpmpp_3m_sde", "dpmpp_sde",
                    "edm_stochastic", "euler_ancestral", "lcm", "restart"])
    }
}

@Suite struct DocumentationExampleTests {
    /// The example at the top of docs/samplers.md, verbatim apart from the print.
    @Test func samplersDocExampleRuns() throws {
        let mixture = try GaussianMixture(weights: [0.5, 0.5], means: [[-1, 0], [1, 0.5]], stds: [0.3, 0.3])
        let choice = try SamplerRegistry.resolve("DPM++ 2M Karras")
        let sigmas = try (choice.schedule ?? .karras).sigmas(count: 20, sigmaMin: 0.02, sigmaMax: 20)
        var gen = SeededGenerator(seed: 0)
        let x = Tensor(shape: [4, 2], scalars: (0..<8).map { _ in Float(gen.normal() * sigmas[0]) })
        var steps = 0
        let out = try choice.sampler.sample(mixture, x: x, sigmas: sigmas,
                                            noise: BrownianTreeNoise(seed: 0, sigmas: sigmas)) { _ in steps += 1 }
        let exact = try mixture.solveProbabilityFlow(from: [Double(x[0, 0]), Double(x[0, 1])], sigma: 20, to: 0)
        #expect(steps == 20)
        // 20 DPM++ 2M steps land within 2e-2 of the exact ODE end point (the last step is a
        // first-order jump from 0.02 to 0, whose error is O(sigma_min^2)).
        #expect(abs(Double(out[0, 0]) - exact[0]) < 2e-2 && abs(Double(out[0, 1]) - exact[1]) < 2e-2,
                "\(out.scalars.prefix(2)) vs \(exact)")
    }
}
