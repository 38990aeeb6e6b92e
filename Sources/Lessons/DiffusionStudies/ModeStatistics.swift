// Three numbers a reader can picture, for 2-D samples of a Gaussian mixture with well-separated
// modes: did the samples land on a mode, in the right proportions, with the right spread?
//
// Contract: each sample is assigned to the component of highest responsibility
// w_k N(x; μ_k, s_k² I). For exact samples, `offModeFraction` ≈ 1% (the radius is chosen so
// that P(|x − μ| > r s) = exp(−r²/2) = 1% for a 2-D Gaussian), `spreadRatio` ≈ 1 and
// `weightError` ≈ 0 up to sampling noise. The spread is measured on the samples that are on a
// mode only, so "stranded between modes" and "modes too wide or too narrow" stay separate
// findings. Only 2-D mixtures are accepted.
import Diffusion
import Foundation

/// How 2-D samples sit on the modes of a Gaussian mixture.
public struct ModeStatistics: Sendable, Equatable {
    /// The radius, in standard deviations, that a 2-D Gaussian sample exceeds with probability 1%:
    /// sqrt(2 ln 100) ≈ 3.035.
    public static let offModeRadius = (2 * log(100.0)).squareRoot()

    /// Fraction of samples farther than `offModeRadius` standard deviations from their mode:
    /// samples stranded between modes. Exact samples give about 0.01.
    public var offModeFraction: Double
    /// The width of the modes, from the samples on a mode (within `offModeRadius`): the
    /// root-mean-square of |x − μ| / (sqrt(2) s) over them, divided by its value for exact
    /// samples. For a 2-D Gaussian r² / 2 = |x − μ|² / (2 s²) is Exp(1); below the radius its mean
    /// is 1 − c e^(−c) / (1 − e^(−c)) with c = ln 100 (≈ 0.9535). 1 is right, below 1 the modes
    /// are too narrow (too sharp), above 1 too wide; NaN when no sample is on a mode.
    public var spreadRatio: Double
    /// Total variation between the fractions of samples per mode and the true weights,
    /// ½ Σ |p̂_k − w_k|: 0 when each mode gets its share.
    public var weightError: Double

    /// Computes the statistics of `samples` for a 2-D `mixture`.
    public init(samples: [SIMD2<Double>], mixture: GaussianMixture) {
        precondition(mixture.dimension == 2, "ModeStatistics: the mixture has dimension \(mixture.dimension), expected 2")
        precondition(!samples.isEmpty, "ModeStatistics: no samples")
        let means = mixture.means.map { SIMD2($0[0], $0[1]) }
        var counts = [Int](repeating: 0, count: mixture.componentCount)
        var offMode = 0
        var squaredSpread = 0.0
        let limit = Self.offModeRadius * Self.offModeRadius
        for x in samples {
            var best = 0
            var bestScore = -Double.infinity
            for k in 0..<mixture.componentCount {
                let s = mixture.stds[k]
                let d = x - means[k]
                let score = log(mixture.weights[k]) - 2 * log(s) - (d * d).sum() / (2 * s * s)
                if score > bestScore { bestScore = score; best = k }
            }
            counts[best] += 1
            let d = x - means[best]
            let r2 = (d * d).sum() / (mixture.stds[best] * mixture.stds[best])
            if r2 > limit { offMode += 1 } else { squaredSpread += r2 / 2 }
        }
        let n = Double(samples.count)
        offModeFraction = Double(offMode) / n
        let c = limit / 2
        let exactTruncatedMean = 1 - c * exp(-c) / (1 - exp(-c))
        let onMode = samples.count - offMode
        spreadRatio = onMode > 0 ? (squaredSpread / Double(onMode) / exactTruncatedMean).squareRoot() : .nan
        weightError = 0.5 * zip(counts, mixture.weights).map { abs(Double($0.0) / n - $0.1) }.reduce(0, +)
    }
}
