// Fair comparisons: every sampler gets the same budget of denoiser evaluations (NFE).
//
// Contract: samplers differ in evaluations per step (Euler 1, Heun 2 except a final step to 0,
// DPM++ 2M 1, ...). `stepCount(for:budget:...)` finds the largest step count whose run costs at
// most `budget` evaluations by running the sampler on one probe point and counting, so it
// needs no table of costs and stays right for any sampler added later.
import Diffusion
import Foundation
import Tensor

/// Step counts that fit a budget of denoiser evaluations.
public enum SamplerBudget {
    /// The number of denoiser evaluations of one run of `sampler` along `sigmas`.
    public static func evaluationCount(
        of sampler: any Sampler, sigmas: [Double], denoiser: any Denoiser, dimension: Int, seed: UInt64 = 0
    ) throws -> Int {
        let counting = CountingDenoiser(denoiser)
        let probe = Tensor(shape: [1, dimension], repeating: 1)
        _ = try sampler.sample(counting, x: probe * Float(sigmas[0]), sigmas: sigmas,
                               noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: seed),
                               callback: nil)
        return counting.count
    }

    /// The largest step count whose run costs at most `budget` evaluations, and its cost.
    /// - Throws: `DiffusionError.invalidStepCount` when even one step costs more than `budget`.
    public static func stepCount(
        for sampler: any Sampler, budget: Int, schedule: SamplingSchedule, denoiser: any Denoiser, dimension: Int
    ) throws -> (steps: Int, evaluations: Int) {
        var steps = budget
        while steps >= 1 {
            let cost = try evaluationCount(of: sampler, sigmas: schedule.sigmas(steps: steps), denoiser: denoiser,
                                           dimension: dimension)
            if cost <= budget { return (steps, cost) }
            steps -= max(1, (cost - budget) / 2)
        }
        throw DiffusionError.invalidStepCount(budget, reason: "\(sampler.name) needs more than \(budget) evaluations for a single step")
    }
}
