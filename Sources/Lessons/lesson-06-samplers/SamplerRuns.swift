// The lesson's plumbing around the studies of `DiffusionStudies`: the default mixture, the
// sampler lists of the command line, and the runs of samplers that do not take every step
// count — `restart` needs 20 steps for its default restart list, `dpm_adaptive` chooses its own
// steps and is measured by tolerance instead (each tolerance one point against NFE).

import ArgumentParser
import Diffusion
import DiffusionStudies
import Foundation
import Tensor

/// The default mixture: five small, well-separated modes of unequal weight and width, so that
/// a sampler that strands samples between modes, blurs them or misweights them is seen at once.
let defaultMixture = try! GaussianMixture(
    weights: [0.30, 0.20, 0.20, 0.15, 0.15], means: [[-2, -1], [2, -1.2], [0, 2], [-1.2, 0.9], [1.3, 0.8]],
    stds: [0.15, 0.10, 0.20, 0.08, 0.12])

/// The samplers of a comma-separated list of registry names, each once.
func resolve(_ list: String) throws -> [(name: SamplerName, sampler: any Sampler)] {
    // An AUTOMATIC1111 label's schedule suffix is not applied: --schedule decides for all samplers.
    var chosen: [(name: SamplerName, sampler: any Sampler)] = []
    for label in list.split(separator: ",") where !label.trimmingCharacters(in: .whitespaces).isEmpty {
        let choice = try SamplerRegistry.resolve(String(label))
        if !chosen.contains(where: { $0.name == choice.name }) { chosen.append((choice.name, choice.sampler)) }
    }
    guard !chosen.isEmpty else { throw ValidationError("no sampler given in '\(list)'") }
    return chosen
}

/// The median of `values` (nan for none).
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2]))
}

/// The tolerances (rtol = atol) at which `dpm_adaptive` is measured, loosest first.
let adaptiveTolerances = [0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4]

/// The step counts of `counts` a sampler can run (restart's default list needs 20).
func runnable(_ name: SamplerName, _ counts: [Int]) -> [Int] {
    name == .restart ? counts.filter { $0 >= RestartSampler.minimumDefaultSteps } : counts
}

/// Every sampler's trajectory within `budget` evaluations; a sampler that cannot run within it
/// (restart below 20 steps, dpm_adaptive with its own steps) runs at its smallest run instead
/// and the page's table shows what it spent.
func trajectoryRuns(_ compared: [(name: SamplerName, sampler: any Sampler)], mixture: GaussianMixture, normals: Tensor,
                    budget: Int, schedule: SamplingSchedule, seed: UInt64) throws -> [SamplerName: TrajectoryRun] {
    var runs: [SamplerName: TrajectoryRun] = [:]
    for (name, sampler) in compared {
        if let run = try? SamplerStudies.trajectories(samplers: [sampler], mixture: mixture, normals: normals, budget: budget,
                                                      schedule: schedule, seed: seed).first {
            runs[name] = run
            continue
        }
        let steps = name == .restart ? RestartSampler.minimumDefaultSteps : max(budget, 2)
        let sigmas = try schedule.sigmas(steps: steps)
        let trajectory = try SamplerStudies.trajectory(of: sampler, mixture: mixture, start: startingPoints(normals: normals, sigma: sigmas[0]),
                                                       sigmas: sigmas, seed: seed)
        let cost = try SamplerBudget.evaluationCount(of: sampler, sigmas: sigmas, denoiser: mixture, dimension: mixture.dimension)
        runs[name] = TrajectoryRun(steps: trajectory.sigmas.count - 1, evaluations: cost, trajectory: trajectory)
    }
    return runs
}

/// The convergence study of one sampler: its step counts, or dpm_adaptive's tolerances.
func convergenceRun(_ name: SamplerName, _ sampler: any Sampler, mixture: GaussianMixture, normals: Tensor, stepCounts: [Int],
                    schedule: SamplingSchedule, seed: UInt64) throws -> [ConvergencePoint] {
    guard name == .dpmAdaptive else {
        return try SamplerStudies.convergence(of: sampler, mixture: mixture, normals: normals, stepCounts: runnable(name, stepCounts),
                                              schedule: schedule, seed: seed)
    }
    // Steps 0: the sampler chose its own.
    return try adaptiveTolerances.flatMap { tolerance in
        try SamplerStudies.convergence(of: DPMAdaptiveSampler(rtol: tolerance, atol: tolerance), mixture: mixture, normals: normals,
                                       stepCounts: [stepCounts[0]], schedule: schedule, seed: seed).map { var p = $0; p.steps = 0; return p }
    }
}

/// The distribution study of one sampler: its step counts, or dpm_adaptive's tolerances.
func distributionRun(_ name: SamplerName, _ sampler: any Sampler, mixture: GaussianMixture, normals: Tensor, stepCounts: [Int],
                     schedule: SamplingSchedule, seed: UInt64) throws -> [DistributionPoint] {
    guard name == .dpmAdaptive else {
        return try SamplerStudies.distribution(of: sampler, mixture: mixture, normals: normals, stepCounts: runnable(name, stepCounts),
                                               schedule: schedule, seed: seed)
    }
    return try adaptiveTolerances.prefix(4).flatMap { tolerance in
        try SamplerStudies.distribution(of: DPMAdaptiveSampler(rtol: tolerance, atol: tolerance), mixture: mixture, normals: normals,
                                        stepCounts: [stepCounts.max()!], schedule: schedule, seed: seed).map { var p = $0; p.steps = 0; return p }
    }
}

/// The largest relative change of (x − m)/sigma along the exact paths between `sigmas[0]` and
/// `sigmas[index]` (m the mixture's mean): how far from straight lines x − m ∝ sigma they are.
func largestBend(_ paths: [[SIMD2<Double>]], sigmas: [Double], mixture: GaussianMixture, until index: Int) -> Double {
    let means = (0..<2).map { d in zip(mixture.weights, mixture.means).reduce(0) { $0 + $1.0 * $1.1[d] } }
    let center = SIMD2(means[0], means[1])
    return paths.map { path -> Double in
        let a = (path[0] - center) / sigmas[0], b = (path[index] - center) / sigmas[index]
        return (((a - b) * (a - b)).sum() / (a * a).sum()).squareRoot()
    }.max()!
}

/// Mean and sample standard deviation.
func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, standardDeviation: Double) {
    let mean = values.reduce(0, +) / Double(values.count)
    return (mean, (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot())
}
