// The distribution distance of lesson 06: the sliced Wasserstein-1 distance between a set of 2-D
// samples and a Gaussian mixture, computed against the mixture's exact distribution.
//
// Why this distance. The Wasserstein-1 distance is "how far, on average, the samples must be moved
// to become the true distribution" (earth mover's distance), in the units of the data. In 1-D it
// is the area between two cumulative distribution functions, W1 = ∫ |F_samples(t) − F_true(t)| dt
// (Villani 2009, "Optimal Transport", remark 2.19). In 2-D we look at the cloud from many angles:
// project samples and mixture on a unit direction u, measure W1 of the two 1-D shadows, and
// average over directions (the sliced Wasserstein distance, Rabin, Peyré, Delon & Bernot 2011,
// "Wasserstein Barycenter and its Application to Texture Mixing"; Bonneel et al. 2015).
// The projection of an isotropic Gaussian mixture on u is a 1-D mixture with means u·μ_k and the
// same stds, whose CDF is exact, so the only error left is the finite number of samples: n exact
// samples sit at a distance of order 1/sqrt(n) (measure that floor with `floor` below).
//
// Contract: directions are `directionCount` angles evenly spaced in [0, π) (a midpoint rule over
// the half circle; u and −u give the same 1-D distance), so results are deterministic. Every
// integral of the 1-D distance is exact in closed form (no grid), in Double.
import Diffusion
import Foundation
import Tensor

/// The sliced Wasserstein-1 distance of 2-D point sets to each other or to a Gaussian mixture.
public enum SlicedWasserstein {
    /// `count` unit vectors at angles π (k + 1/2) / count, k = 0..<count.
    public static func directions(count: Int) -> [SIMD2<Double>] {
        precondition(count >= 1, "SlicedWasserstein: directionCount must be at least 1, got \(count)")
        return (0..<count).map { k in
            let angle = Double.pi * (Double(k) + 0.5) / Double(count)
            return SIMD2(cos(angle), sin(angle))
        }
    }

    /// The sliced W1 distance between samples and the exact distribution of a 2-D mixture.
    public static func distance(
        _ samples: [SIMD2<Double>], to mixture: GaussianMixture, directionCount: Int = 64
    ) -> Double {
        precondition(mixture.dimension == 2, "SlicedWasserstein: the mixture has dimension \(mixture.dimension), expected 2")
        precondition(!samples.isEmpty, "SlicedWasserstein: no samples")
        let directions = directions(count: directionCount)
        var total = 0.0
        for u in directions {
            let projected = samples.map { ($0 * u).sum() }.sorted()
            let line = ProjectedMixture(
                weights: mixture.weights,
                means: mixture.means.map { $0[0] * u.x + $0[1] * u.y },
                stds: mixture.stds)
            total += wasserstein1(sorted: projected, to: line)
        }
        return total / Double(directions.count)
    }

    /// The sliced W1 distance between two sample sets (of any sizes).
    public static func distance(
        _ a: [SIMD2<Double>], _ b: [SIMD2<Double>], directionCount: Int = 64
    ) -> Double {
        precondition(!a.isEmpty && !b.isEmpty, "SlicedWasserstein: empty sample set")
        let directions = directions(count: directionCount)
        var total = 0.0
        for u in directions {
            total += wasserstein1(
                sorted: a.map { ($0 * u).sum() }.sorted(), sorted: b.map { ($0 * u).sum() }.sorted())
        }
        return total / Double(directions.count)
    }

    /// W1 between two 1-D empirical distributions given as sorted arrays: ∫ |F_a − F_b| dt, which
    /// is piecewise constant between the merged sample points.
    public static func wasserstein1(sorted a: [Double], sorted b: [Double]) -> Double {
        precondition(!a.isEmpty && !b.isEmpty, "SlicedWasserstein.wasserstein1: empty sample set")
        var i = 0, j = 0, total = 0.0
        var previous = min(a[0], b[0])
        while i < a.count || j < b.count {
            let next: Double
            if j == b.count || (i < a.count && a[i] <= b[j]) { next = a[i] } else { next = b[j] }
            let fa = Double(i) / Double(a.count), fb = Double(j) / Double(b.count)
            total += abs(fa - fb) * (next - previous)
            previous = next
            if j == b.count || (i < a.count && a[i] <= b[j]) { i += 1 } else { j += 1 }
        }
        return total
    }

    /// W1 between a sorted 1-D sample and a 1-D Gaussian mixture, integrated exactly:
    /// tails with the closed forms of ∫Φ, and each gap between neighbouring samples split where
    /// the mixture CDF crosses the empirical CDF.
    public static func wasserstein1(sorted samples: [Double], to mixture: ProjectedMixture) -> Double {
        precondition(!samples.isEmpty, "SlicedWasserstein.wasserstein1: no samples")
        let n = Double(samples.count)
        var total = mixture.integralOfCDF(below: samples[0]) + mixture.integralOfSurvival(above: samples[samples.count - 1])
        for index in 0..<(samples.count - 1) {
            let a = samples[index], b = samples[index + 1]
            guard b > a else { continue }
            let level = Double(index + 1) / n  // the empirical CDF on [a, b)
            let fa = mixture.cdf(a), fb = mixture.cdf(b)
            let area = mixture.integralOfCDF(below: b) - mixture.integralOfCDF(below: a)
            if fa >= level {
                total += area - level * (b - a)
            } else if fb <= level {
                total += level * (b - a) - area
            } else {
                // The CDF crosses the level inside (a, b): find t* by bisection and split.
                var low = a, high = b
                for _ in 0..<60 where high - low > 1e-15 * max(1, abs(low)) {
                    let middle = 0.5 * (low + high)
                    if mixture.cdf(middle) < level { low = middle } else { high = middle }
                }
                let crossing = 0.5 * (low + high)
                let areaBelow = mixture.integralOfCDF(below: crossing) - mixture.integralOfCDF(below: a)
                total += level * (crossing - a) - areaBelow
                total += (area - areaBelow) - level * (b - crossing)
            }
        }
        return total
    }

    /// The distance that `sampleCount` exact samples of the mixture have to the mixture itself:
    /// the finite-sample floor below which no sampler can be judged with this many samples.
    public static func floor(
        of mixture: GaussianMixture, sampleCount: Int, seed: UInt64, directionCount: Int = 64
    ) -> Double {
        var generator = SeededGenerator(seed: seed)
        let samples = mixture.samples(count: sampleCount, using: &generator).map { SIMD2($0[0], $0[1]) }
        return distance(samples, to: mixture, directionCount: directionCount)
    }
}

/// A 1-D Gaussian mixture: the shadow of an isotropic mixture on a line.
public struct ProjectedMixture: Sendable {
    /// Weights summing to 1.
    public var weights: [Double]
    /// Component means on the line.
    public var means: [Double]
    /// Component standard deviations.
    public var stds: [Double]

    /// Creates a 1-D mixture.
    public init(weights: [Double], means: [Double], stds: [Double]) {
        precondition(weights.count == means.count && means.count == stds.count,
                     "ProjectedMixture: \(weights.count) weights, \(means.count) means, \(stds.count) stds")
        self.weights = weights
        self.means = means
        self.stds = stds
    }

    /// Φ(z), the standard normal CDF.
    @inline(__always) static func phi(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }
    /// φ(z), the standard normal density.
    @inline(__always) static func density(_ z: Double) -> Double { exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() }

    /// F(t) = Σ w_k Φ((t − m_k) / s_k).
    public func cdf(_ t: Double) -> Double {
        var sum = 0.0
        for k in weights.indices { sum += weights[k] * Self.phi((t - means[k]) / stds[k]) }
        return sum
    }

    /// ∫_{−∞}^{t} F = Σ w_k s_k (z Φ(z) + φ(z)), z = (t − m_k) / s_k.
    public func integralOfCDF(below t: Double) -> Double {
        var sum = 0.0
        for k in weights.indices {
            let z = (t - means[k]) / stds[k]
            sum += weights[k] * stds[k] * (z * Self.phi(z) + Self.density(z))
        }
        return sum
    }

    /// ∫_{t}^{∞} (1 − F) = Σ w_k s_k (φ(z) − z Φ(−z)), z = (t − m_k) / s_k.
    public func integralOfSurvival(above t: Double) -> Double {
        var sum = 0.0
        for k in weights.indices {
            let z = (t - means[k]) / stds[k]
            sum += weights[k] * stds[k] * (Self.density(z) - z * Self.phi(-z))
        }
        return sum
    }
}

/// The rows of a `[N, 2]` tensor as 2-D points in Double.
public func planarPoints(_ tensor: Tensor) -> [SIMD2<Double>] {
    precondition(tensor.rank == 2 && tensor.shape[1] == 2, "planarPoints: expected shape [N, 2], got \(tensor.shape)")
    let scalars = tensor.scalars
    return (0..<tensor.shape[0]).map { SIMD2(Double(scalars[2 * $0]), Double(scalars[2 * $0 + 1])) }
}
