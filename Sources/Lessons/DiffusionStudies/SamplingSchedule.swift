// The noise levels a lesson-06 experiment samples along: a named sigma schedule with its range.
//
// Contract: `sigmas(steps:)` gives `steps + 1` strictly decreasing values ending in 0 (a full
// sampling run, `steps` steps); `sigmas(steps:endingAtSigmaMin:)` drops the final 0 so a run
// ends at the smallest positive sigma (what the convergence study compares, free of the last
// Euler step to 0 that Heun-type samplers take).
import Diffusion
import Foundation
import Tensor

/// A sigma schedule with its range, as chosen on the lesson's command line.
public struct SamplingSchedule: Sendable, Equatable {
    /// The schedule's shape.
    public var kind: SigmaSchedule
    /// The smallest positive sigma.
    public var sigmaMin: Double
    /// The largest sigma (where sampling starts).
    public var sigmaMax: Double

    /// Creates a schedule; the values are checked when sigmas are asked for.
    public init(kind: SigmaSchedule, sigmaMin: Double, sigmaMax: Double) {
        self.kind = kind
        self.sigmaMin = sigmaMin
        self.sigmaMax = sigmaMax
    }

    /// The sigmas of a `steps`-step run, ending in 0 (or at the last positive sigma).
    public func sigmas(steps: Int, endingAtSigmaMin: Bool = false) throws -> [Double] {
        let all = try kind.sigmas(count: steps, sigmaMin: sigmaMin, sigmaMax: sigmaMax)
        return endingAtSigmaMin ? Array(all.dropLast()) : all
    }
}

/// The noise source lesson 06 gives a sampler: a Brownian tree for the SDE samplers (as
/// k-diffusion does by default, so one Brownian path is refined as steps grow), fresh seeded
/// Gaussian noise for the others (deterministic samplers draw none).
public func defaultNoise(forSamplerNamed name: String, sigmas: [Double], seed: UInt64) -> any NoiseSource {
    if name.hasSuffix("_sde") {
        return BrownianTreeNoise(seed: seed, sigmas: sigmas)
    }
    return GaussianNoise(seed: seed)
}

/// Starting points for sampling from noise: `sigma * z` for `[N, 2]` standard normals `z`.
public func startingPoints(normals z: Tensor, sigma: Double) -> Tensor { z * Float(sigma) }
