// Tests of the lesson-06 measurements: the power-law fit, the sliced Wasserstein distance and
// the mode statistics, each against closed forms or an independent computation.
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

/// Mixture samples as 2-D points.
func points(_ rows: [[Double]]) -> [SIMD2<Double>] { rows.map { SIMD2($0[0], $0[1]) } }

@Suite("Experiments: power-law fit")
struct PowerLawFitTests {
    @Test("recovers a known exponent exactly", arguments: [1.0, 2.0, 3.0, 4.0, 0.5])
    func exactPowerLaw(order: Double) throws {
        let nfe: [Double] = [4, 8, 16, 32, 64, 128]
        let error = nfe.map { 3.0 * pow($0, -order) }
        let fit = try #require(PowerLawFit(x: nfe, y: error))
        #expect(abs(fit.order - order) < 1e-12)
        #expect(abs(fit.intercept - log(3.0)) < 1e-10)
        #expect(abs(fit.rSquared - 1) < 1e-12)
        #expect(abs(fit.predicted(at: 10) - 3 * pow(10, -order)) < 1e-12 * max(1, 3 * pow(10, -order)))
    }

    @Test("fits the asymptotic region and ignores a rounding floor")
    func floorIsExcluded() throws {
        let nfe: [Double] = (1...12).map { pow(2, Double($0)) }
        let error = nfe.map { max(5 * pow($0, -2), 1e-5) }
        let all = try #require(PowerLawFit(x: nfe, y: error))
        let asymptotic = try #require(PowerLawFit(x: nfe, y: error, keepingYIn: 2e-5...1))
        #expect(all.order < 1.8)  // the floor flattens a fit over everything
        #expect(abs(asymptotic.order - 2) < 1e-12)
        #expect(asymptotic.pointCount == 7)  // 5·4^-k for k = 2...8
    }

    @Test("noisy data: slope matches the closed-form least-squares slope")
    func noisyMatchesClosedForm() throws {
        // Independent reference: slope = cov(log x, log y) / var(log x) for two points per x.
        let x: [Double] = [10, 10, 100, 100]
        let y: [Double] = [1e-1, 4e-1, 1e-3, 4e-3]
        let fit = try #require(PowerLawFit(x: x, y: y))
        #expect(abs(fit.slope - (-2)) < 1e-12)  // both pairs are parallel, 2 decades apart
        #expect(fit.rSquared < 1)
    }

    @Test("unusable data gives nil")
    func degenerate() {
        #expect(PowerLawFit(x: [1], y: [1]) == nil)
        #expect(PowerLawFit(x: [2, 2, 2], y: [1, 2, 3]) == nil)
        #expect(PowerLawFit(x: [1, 2, 3], y: [0, -1, .nan]) == nil)
    }
}

@Suite("Experiments: sliced Wasserstein distance")
struct SlicedWassersteinTests {
    static let mixture = try! GaussianMixture(
        weights: [0.2, 0.3, 0.5], means: [[-1.5, 0], [1, 1], [0.5, -1.2]], stds: [0.2, 0.1, 0.3])

    static func randomPoints(_ count: Int, seed: UInt64) -> [SIMD2<Double>] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in SIMD2(rng.normal(), rng.normal()) }
    }

    @Test("identical sample sets are at distance 0")
    func identical() {
        let points = Self.randomPoints(300, seed: 1)
        #expect(SlicedWasserstein.distance(points, points) == 0)
        #expect(SlicedWasserstein.distance(points, points.reversed()) == 0)
    }

    @Test("a shift by delta costs |delta| * 2/pi on average over directions", arguments: [0.1, 0.5, 2.0])
    func shifted(length: Double) {
        let points = Self.randomPoints(300, seed: 2)
        let shift = SIMD2(length * 0.6, length * 0.8)
        let moved = points.map { $0 + shift }
        // In 1-D a shift by c moves every sample by c: W1 = |c|. Averaged over directions,
        // E|u·shift| = |shift| · 2/π. Tolerance: the midpoint rule over 256 directions
        // integrates |cos| to better than 1e-4 relative.
        let distance = SlicedWasserstein.distance(points, moved, directionCount: 256)
        #expect(abs(distance - length * 2 / Double.pi) < 1e-4 * length)
    }

    @Test("a point mass at the mean of one Gaussian is at distance s * sqrt(2/pi)", arguments: [0.1, 1.0, 3.0])
    func pointMass(std: Double) throws {
        // E|X − μ| = s sqrt(2/π) for X ~ N(μ, s²), in every direction.
        let single = try GaussianMixture(weights: [1], means: [[0.3, -0.7]], stds: [std])
        let points = Array(repeating: SIMD2(0.3, -0.7), count: 5)
        let distance = SlicedWasserstein.distance(points, to: single, directionCount: 16)
        #expect(abs(distance - std * (2 / Double.pi).squareRoot()) < 1e-12 * max(1, std))
    }

    @Test("1-D distance to a mixture matches a brute-force integral of |F_n − F|")
    func againstBruteForce() {
        let line = ProjectedMixture(weights: [0.3, 0.7], means: [-1, 0.8], stds: [0.4, 0.2])
        let samples = [-1.3, -0.2, 0.5, 0.75, 0.9, 1.4].sorted()
        let exact = SlicedWasserstein.wasserstein1(sorted: samples, to: line)
        // Independent reference: midpoint rule on a fine grid over [-8, 8].
        let cells = 400_000
        let width = 16.0 / Double(cells)
        var brute = 0.0
        for i in 0..<cells {
            let t = -8 + (Double(i) + 0.5) * width
            let empirical = Double(samples.filter { $0 <= t }.count) / Double(samples.count)
            var cdf = 0.0
            for k in 0..<2 { cdf += line.weights[k] * 0.5 * erfc(-(t - line.means[k]) / line.stds[k] / 2.0.squareRoot()) }
            brute += abs(empirical - cdf) * width
        }
        #expect(abs(exact - brute) < 1e-4)
    }

    @Test("distance to the exact mixture agrees with distance to many exact samples (triangle inequality)")
    func exactAgainstSampled() {
        var rng = SeededGenerator(seed: 3)
        let m = Self.mixture
        let small = points(m.samples(count: 1000, using: &rng))
        let large = points(m.samples(count: 100_000, using: &rng))
        let toMixture = SlicedWasserstein.distance(small, to: m, directionCount: 32)
        let toLarge = SlicedWasserstein.distance(small, large, directionCount: 32)
        let largeToMixture = SlicedWasserstein.distance(large, to: m, directionCount: 32)
        // Sliced W1 is a metric: |d(a, μ) − d(a, b)| ≤ d(b, μ).
        #expect(abs(toMixture - toLarge) <= largeToMixture + 1e-12)
        #expect(largeToMixture < toMixture)
    }

    @Test("exact samples are close, shifted samples are far")
    func exactVersusShifted() {
        var rng = SeededGenerator(seed: 4)
        let m = Self.mixture
        let samples = points(m.samples(count: 2000, using: &rng))
        let close = SlicedWasserstein.distance(samples, to: m)
        let far = SlicedWasserstein.distance(samples.map { $0 + SIMD2(0.5, 0) }, to: m)
        // n exact samples sit at O(1/sqrt(n)) ≈ 0.02 here; the shift adds ~0.5 · 2/π ≈ 0.32.
        #expect(close < 0.05)
        #expect(far > 0.25)
    }
}

@Suite("Experiments: mode statistics")
struct ModeStatisticsTests {
    static let mixture = try! GaussianMixture(
        weights: [0.25, 0.75], means: [[-2, 0], [2, 0]], stds: [0.1, 0.2])

    @Test("exact samples: 1% off-mode, spread ratio 1, right proportions")
    func exactSamples() {
        var rng = SeededGenerator(seed: 5)
        let n = 40_000
        let samples = points(Self.mixture.samples(count: n, using: &rng))
        let stats = ModeStatistics(samples: samples, mixture: Self.mixture)
        // Binomial standard deviations at n = 40 000: 0.0005 for the 1% fraction, 0.002 for the
        // 25% weight; the mean of r²/2 (Exp(1) truncated at ln 100, sd below 1) has sd under
        // 0.005, so the ratio under ±0.0025: the tolerances are five standard deviations.
        #expect(abs(stats.offModeFraction - 0.01) < 0.0025)
        #expect(abs(stats.spreadRatio - 1) < 0.0125)
        #expect(stats.weightError < 0.01)
    }

    @Test("samples at the means are too sharp; samples between modes are off-mode")
    func extremes() {
        let atMeans = [SIMD2(-2.0, 0), SIMD2(2, 0), SIMD2(2, 0), SIMD2(2, 0)]
        let sharp = ModeStatistics(samples: atMeans, mixture: Self.mixture)
        #expect(sharp.spreadRatio == 0)
        #expect(sharp.offModeFraction == 0)
        #expect(sharp.weightError == 0)
        let between = ModeStatistics(samples: Array(repeating: SIMD2(0.0, 0), count: 10), mixture: Self.mixture)
        #expect(between.offModeFraction == 1)
        #expect(between.spreadRatio.isNaN)
        // Half the samples on a mode at 1.5 s and half stranded: spread from the on-mode half only.
        let r = 1.5 * 0.2
        let mixed = ModeStatistics(samples: [SIMD2(2 + r, 0), SIMD2(2, r), SIMD2(0, 0), SIMD2(0, 0.1)], mixture: Self.mixture)
        let c = log(100.0)
        #expect(mixed.offModeFraction == 0.5)
        #expect(abs(mixed.spreadRatio - (1.5 * 1.5 / 2 / (1 - c / 99)).squareRoot()) < 1e-12)
    }
}
