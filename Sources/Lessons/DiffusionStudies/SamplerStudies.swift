// The three studies of lesson 06, as library code the tests can reach:
//
// 1. trajectories: every sampler from the same starting points with the same NFE budget,
//    recorded step by step, next to the exact probability-flow ODE solution;
// 2. convergence: the error at the end of the schedule against the exact ODE solution, for
//    growing step counts (fit a line on log-log axes to read the order);
// 3. distribution: many samples from noise, their sliced Wasserstein distance to the true
//    mixture and their mode statistics, for growing step counts.
//
// Contract: every run is seeded (`seed`) and replayable; the mixture's exact denoiser is the
// model, so the only errors measured are the samplers' own (discretization, and for
// stochastic samplers the randomness of their paths). States are `[N, 2]` tensors.
import Diffusion
import Foundation
import Tensor

/// One sampler's recorded run in the trajectory study.
public struct TrajectoryRun: Sendable {
    /// The steps the sampler took within the budget.
    public var steps: Int
    /// The denoiser evaluations it used.
    public var evaluations: Int
    /// The recorded states and denoised estimates.
    public var trajectory: Trajectory

    /// Creates a run record.
    public init(steps: Int, evaluations: Int, trajectory: Trajectory) {
        self.steps = steps; self.evaluations = evaluations; self.trajectory = trajectory
    }
}

/// One point of the convergence study.
public struct ConvergencePoint: Sendable, Equatable {
    /// The sampler's name.
    public var sampler: String
    /// Steps of the run (it ends at the smallest positive sigma).
    public var steps: Int
    /// Denoiser evaluations of the run (NFE).
    public var evaluations: Int
    /// Median over the starting points of the distance between the sampler's end point and the
    /// exact ODE solution. The median is the measure of the order: a few starting points near
    /// the boundary between two modes flip to the other mode at coarse steps, an O(1) error that
    /// would dominate a mean until the steps are fine enough.
    public var medianError: Double
    /// Root-mean-square of the same distances (flips included).
    public var rmsError: Double
}

/// One point of the distribution study.
public struct DistributionPoint: Sendable, Equatable {
    /// The sampler's name.
    public var sampler: String
    /// Steps of the run.
    public var steps: Int
    /// Denoiser evaluations of the run (NFE).
    public var evaluations: Int
    /// Sliced Wasserstein-1 distance between the samples and the true mixture.
    public var distance: Double
    /// Where the samples sit relative to the modes.
    public var modes: ModeStatistics
}

/// The studies of lesson 06 on a 2-D Gaussian mixture with its exact denoiser.
public enum SamplerStudies {
    /// Runs `sampler` from `start` (the state at the first sigma) along `sigmas` and records its path.
    public static func trajectory(
        of sampler: any Sampler, mixture: GaussianMixture, start: Tensor, sigmas: [Double], seed: UInt64
    ) throws -> Trajectory {
        var trajectory = Trajectory(sampler: sampler.name)
        let end = try sampler.sample(
            mixture, x: start, sigmas: sigmas,
            noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: seed)
        ) { step in
            trajectory.record(step: step.index, sigma: step.sigma, x: step.x, denoised: step.denoised)
        }
        trajectory.finish(x: end)
        return trajectory
    }

    /// Every sampler from the same starting points `sigmaMax * z` with at most `budget`
    /// denoiser evaluations each.
    public static func trajectories(
        samplers: [any Sampler], mixture: GaussianMixture, normals z: Tensor, budget: Int,
        schedule: SamplingSchedule, seed: UInt64
    ) throws -> [TrajectoryRun] {
        try samplers.map { sampler in
            let (steps, evaluations) = try SamplerBudget.stepCount(
                for: sampler, budget: budget, schedule: schedule, denoiser: mixture, dimension: mixture.dimension)
            let sigmas = try schedule.sigmas(steps: steps)
            let start = startingPoints(normals: z, sigma: sigmas[0])
            return TrajectoryRun(steps: steps, evaluations: evaluations,
                                 trajectory: try trajectory(of: sampler, mixture: mixture, start: start, sigmas: sigmas, seed: seed))
        }
    }

    /// The exact probability-flow ODE solution from each row of `start` (at `sigmas[0]`),
    /// evaluated at every sigma of `sigmas`: `[sample][sigma index]`.
    public static func exactPaths(mixture: GaussianMixture, start: Tensor, sigmas: [Double]) throws -> [[SIMD2<Double>]] {
        try planarPoints(start).map { x in
            try mixture.probabilityFlowTrajectory(from: [x.x, x.y], sigmas: sigmas).map { SIMD2($0[0], $0[1]) }
        }
    }

    /// The sigmas of a smooth curve from `sigmaMax` down to `sigmaMin`, evenly spaced in log sigma, then 0.
    public static func denseSigmas(from sigmaMax: Double, to sigmaMin: Double, count: Int = 200) -> [Double] {
        let top = log(sigmaMax), span = log(sigmaMin) - log(sigmaMax)
        var sigmas: [Double] = (0..<count).map { (i: Int) -> Double in exp(top + Double(i) / Double(count - 1) * span) }
        sigmas.append(0)
        return sigmas
    }

    /// Error against the exact ODE solution at the last positive sigma, for each step count of
    /// the full schedule (the run drops its final step to 0, so it takes one step fewer).
    /// - Parameters:
    ///   - z: `[N, 2]` standard normals; run k starts from `sigmas[0] * z`.
    public static func convergence(
        of sampler: any Sampler, mixture: GaussianMixture, normals z: Tensor, stepCounts: [Int],
        schedule: SamplingSchedule, seed: UInt64
    ) throws -> [ConvergencePoint] {
        // Every step count of one schedule starts at the same sigma and ends at the same
        // smallest sigma, so the exact end points are solved once.
        let reference = try schedule.sigmas(steps: stepCounts[0], endingAtSigmaMin: true)
        let exact = try exactEnds(mixture: mixture, start: startingPoints(normals: z, sigma: reference[0]),
                              from: reference[0], to: reference[reference.count - 1])
        return try stepCounts.map { steps in
            let sigmas = try schedule.sigmas(steps: steps, endingAtSigmaMin: true)
            precondition(sigmas[0] == reference[0] && sigmas[sigmas.count - 1] == reference[reference.count - 1],
                         "SamplerStudies.convergence: the schedule's ends change with the step count")
            let start = startingPoints(normals: z, sigma: sigmas[0])
            let counting = CountingDenoiser(mixture)
            let end = try sampler.sample(counting, x: start, sigmas: sigmas,
                                         noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: seed),
                                         callback: nil)
            let distances = zip(planarPoints(end), exact).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.sorted()
            let middle = distances.count / 2
            let median = distances.count % 2 == 1 ? distances[middle] : 0.5 * (distances[middle - 1] + distances[middle])
            let meanSquare = distances.map { $0 * $0 }.reduce(0, +) / Double(distances.count)
            return ConvergencePoint(sampler: sampler.name, steps: sigmas.count - 1, evaluations: counting.count,
                                    medianError: median, rmsError: meanSquare.squareRoot())
        }
    }

    /// The exact ODE solution at `sigmaEnd` from each row of `start` at `sigma`.
    public static func exactEnds(mixture: GaussianMixture, start: Tensor, from sigma: Double, to sigmaEnd: Double) throws -> [SIMD2<Double>] {
        try planarPoints(start).map { x in
            let end = try mixture.solveProbabilityFlow(from: [x.x, x.y], sigma: sigma, to: sigmaEnd)
            return SIMD2(end[0], end[1])
        }
    }

    /// Samples from noise for each step count and measures them against the true mixture.
    /// - Parameters:
    ///   - z: `[N, 2]` standard normals; samples start from `sigmas[0] * z`.
    public static func distribution(
        of sampler: any Sampler, mixture: GaussianMixture, normals z: Tensor, stepCounts: [Int],
        schedule: SamplingSchedule, seed: UInt64, directionCount: Int = 64
    ) throws -> [DistributionPoint] {
        try stepCounts.map { steps in
            let sigmas = try schedule.sigmas(steps: steps)
            let counting = CountingDenoiser(mixture)
            let end = try sampler.sample(counting, x: startingPoints(normals: z, sigma: sigmas[0]), sigmas: sigmas,
                                         noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: seed),
                                         callback: nil)
            let samples = planarPoints(end)
            return DistributionPoint(
                sampler: sampler.name, steps: steps, evaluations: counting.count,
                distance: SlicedWasserstein.distance(samples, to: mixture, directionCount: directionCount),
                modes: ModeStatistics(samples: samples, mixture: mixture))
        }
    }
}
