// Tests of the lesson-06 studies: NFE budgets against the samplers' known costs, the exact ODE
// end points against the closed form for one Gaussian, empirical orders of Euler and Heun, the
// recorded trajectories against direct denoiser calls, and the distribution study near its floor.
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

@Suite("Experiments: sampler studies")
struct SamplerStudiesTests {
    static let karras = SamplingSchedule(kind: .karras, sigmaMin: 0.002, sigmaMax: 80)
    static let single = try! GaussianMixture(weights: [1], means: [[0.5, -0.25]], stds: [0.5])
    static let pair = try! GaussianMixture(weights: [0.4, 0.6], means: [[-1, 0], [1, 0.5]], stds: [0.2, 0.3])

    @Test("NFE budgets: one evaluation per step for Euler, 2n - 1 for Heun (its last step to 0 is Euler)",
          arguments: [1, 2, 7, 10, 25])
    func budgets(budget: Int) throws {
        let euler = try SamplerBudget.stepCount(for: EulerSampler(), budget: budget, schedule: Self.karras,
                                                denoiser: Self.pair, dimension: 2)
        #expect(euler.steps == budget && euler.evaluations == budget)
        let heun = try SamplerBudget.stepCount(for: HeunSampler(), budget: budget, schedule: Self.karras,
                                               denoiser: Self.pair, dimension: 2)
        let expectedSteps = (budget + 1) / 2  // the largest n with 2n - 1 <= budget
        #expect(heun.steps == expectedSteps && heun.evaluations == 2 * expectedSteps - 1)
    }

    @Test("exact ODE end points match the closed form for one Gaussian")
    func exactEndsClosedForm() throws {
        // For N(mu, s² I) the probability-flow ODE keeps x - mu proportional to sqrt(s² + sigma²).
        let start = Tensor(shape: [3, 2], scalars: [40, -12, 3, 7, -25, 60])
        let ends = try SamplerStudies.exactEnds(mixture: Self.single, start: start, from: 80, to: 0.002)
        let scale = (0.25 + 0.002 * 0.002).squareRoot() / (0.25 + 6400).squareRoot()
        for (row, end) in ends.enumerated() {
            let x = Double(start[row, 0]), y = Double(start[row, 1])
            #expect(abs(end.x - (0.5 + (x - 0.5) * scale)) < 1e-8)
            #expect(abs(end.y - (-0.25 + (y + 0.25) * scale)) < 1e-8)
        }
    }

    @Test("empirical orders in the asymptotic range: Euler about 1, Heun and DPM++ 2M about 2 (tolerance 0.25)",
          arguments: [("euler", 1.0), ("heun", 2.0), ("dpmpp_2m", 2.0)])
    func orders(name: String, order: Double) throws {
        let sampler = try SamplerRegistry.resolve(name).sampler
        var generator = SeededGenerator(seed: 11)
        let z = generator.normalTensor([16, 2])
        let points = try SamplerStudies.convergence(of: sampler, mixture: Self.pair, normals: z,
                                                    stepCounts: [32, 48, 64, 96, 128, 192, 256],
                                                    schedule: Self.karras, seed: 0)
        #expect(points.map(\.steps) == [31, 47, 63, 95, 127, 191, 255])
        let fit = try #require(PowerLawFit(x: points.map { Double($0.evaluations) }, y: points.map(\.medianError),
                                           keepingYIn: 1e-5...1e-1))
        #expect(fit.pointCount >= 3)
        #expect(abs(fit.order - order) < 0.25, "fitted \(fit.order)")
    }

    @Test("trajectories: start at sigma_max * z, the recorded D equals a direct call, end at sigma 0")
    func trajectoryRecords() throws {
        var generator = SeededGenerator(seed: 5)
        let z = generator.normalTensor([4, 2])
        let runs = try SamplerStudies.trajectories(samplers: [EulerSampler(), HeunSampler()], mixture: Self.pair,
                                                   normals: z, budget: 6, schedule: Self.karras, seed: 0)
        #expect(runs.map(\.steps) == [6, 3])
        for run in runs {
            let t = run.trajectory
            #expect(t.sigmas.count == run.steps + 1 && t.sigmas.first == 80 && t.sigmas.last == 0)
            #expect(t.states[0] == planarPoints(z * 80))
            #expect(t.denoised.last! == nil)
            for step in 0..<run.steps {
                let x = t.states[step].map { [$0.x, $0.y] }
                for (row, point) in x.enumerated() {
                    let direct = Self.pair.denoised(point, sigma: t.sigmas[step])
                    let recorded = t.denoised[step]![row]
                    // The sampler denoises Float32 inputs; the direct call sees the same values.
                    #expect(abs(recorded.x - direct[0]) < 1e-5 && abs(recorded.y - direct[1]) < 1e-5)
                }
            }
            let rows = Trajectory.table([t]).rows
            #expect(rows.count == 4 * (run.steps + 1))
        }
    }

    @Test("distribution: Heun with many steps reaches the floor of exact samples")
    func distributionNearFloor() throws {
        var generator = SeededGenerator(seed: 9)
        let n = 1000
        let z = generator.normalTensor([n, 2])
        let points = try SamplerStudies.distribution(of: HeunSampler(), mixture: Self.pair, normals: z,
                                                     stepCounts: [2, 50], schedule: Self.karras, seed: 0,
                                                     directionCount: 32)
        let floor = SlicedWasserstein.floor(of: Self.pair, sampleCount: n, seed: 10, directionCount: 32)
        // Two independent sets of n exact samples differ by O(1/sqrt(n)); 3x the floor allows it.
        #expect(points[1].distance < 3 * floor)
        #expect(points[0].distance > 10 * floor)  // one big Heun step throws samples far off
    }
}
