// The exact mixture denoiser against brute-force numerical integration (1-D) and Tweedie's
// formula with finite differences (2-D); the probability-flow ODE solver against the closed
// form for one Gaussian and against itself run backwards.

import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct GaussianMixtureTests {
    static let oneD = try! GaussianMixture(weights: [0.2, 0.5, 0.3], means: [[-2], [0.5], [3]], stds: [0.4, 0.2, 1.0])

    /// E[x0 | x] = ∫ x0 p(x0) N(x; x0, sigma^2) dx0 / ∫ p(x0) N(x; x0, sigma^2) dx0 by the
    /// composite Simpson rule on [-12, 12] with 80 001 points (the integrands are smooth
    /// Gaussians narrower than 0.2 at worst, so the rule's error is far below 1e-10).
    static func bruteForceDenoised(_ m: GaussianMixture, x: Double, sigma: Double) -> Double {
        let n = 80_000, a = -12.0, b = 12.0, h = (b - a) / Double(n)
        var num = 0.0, den = 0.0
        for i in 0...n {
            let x0 = a + Double(i) * h
            var prior = 0.0
            for k in 0..<m.componentCount {
                let z = (x0 - m.means[k][0]) / m.stds[k]
                prior += m.weights[k] * exp(-0.5 * z * z) / m.stds[k]
            }
            let e = (x - x0) / sigma
            let w = (i == 0 || i == n) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0)
            let f = prior * exp(-0.5 * e * e) * w
            num += x0 * f
            den += f
        }
        return num / den
    }

    @Test(arguments: [0.05, 0.3, 1.0, 4.0])
    func denoiserMatchesNumericalIntegration(sigma: Double) {
        for x in [-3.0, -1.0, 0.2, 0.7, 2.5, 5.0] {
            let exact = Self.oneD.denoised([x], sigma: sigma)[0]
            let brute = Self.bruteForceDenoised(Self.oneD, x: x, sigma: sigma)
            #expect(abs(exact - brute) <= 1e-8, "x \(x) sigma \(sigma): \(exact) vs \(brute)")
        }
    }

    @Test func denoiserIsTweediesFormula() throws {
        // D(x, sigma) = x + sigma^2 ∇ log p_sigma(x) (Efron 2011), gradient by central differences.
        let m = try GaussianMixture(weights: [1, 2], means: [[1, -1], [-0.5, 0.8]], stds: [0.3, 0.6])
        for sigma in [0.1, 0.7, 3.0] {
            let x = [0.3, 0.1]
            let d = m.denoised(x, sigma: sigma)
            for i in 0..<2 {
                var p = x, q = x
                let h = 1e-5
                p[i] += h; q[i] -= h
                let grad = (m.logDensity(p, sigma: sigma) - m.logDensity(q, sigma: sigma)) / (2 * h)
                #expect(abs(d[i] - (x[i] + sigma * sigma * grad)) <= 1e-7, "sigma \(sigma) axis \(i)")
            }
        }
    }

    @Test func tensorDenoiserMatchesDoubleAPI() throws {
        let m = try GaussianMixture(weights: [1, 1], means: [[1, 0, 2], [-1, 1, 0]], stds: [0.5, 0.25])
        let x = Tensor(shape: [2, 3], scalars: [0.5, 0.2, 1.0, -2, 3, 0.1])
        let out = try m.denoise(x, sigma: 0.8)
        let rows = [m.denoised([0.5, 0.2, 1.0], sigma: 0.8), m.denoised([-2, 3, 0.1], sigma: 0.8)]
        #expect(relativeError(out, (rows[0] + rows[1]).map { Double(Float($0)) }) <= 1e-6)
    }

    @Test(arguments: [0.0, 0.01, 0.5, 3.0])
    func odeMatchesClosedFormForOneGaussian(sigmaEnd: Double) throws {
        // x(sigma) = mu + (x_T - mu) sqrt(s^2 + sigma^2) / sqrt(s^2 + sigma_T^2).
        let mu = [0.5, -1.0, 2.0], s = 0.3, sigmaT = 80.0
        let m = try GaussianMixture(weights: [1], means: [mu], stds: [s])
        let xT = [40.0, -65.0, 12.0]
        let solved = try m.solveProbabilityFlow(from: xT, sigma: sigmaT, to: sigmaEnd)
        let factor = (s * s + sigmaEnd * sigmaEnd).squareRoot() / (s * s + sigmaT * sigmaT).squareRoot()
        for i in 0..<3 {
            let exact = mu[i] + (xT[i] - mu[i]) * factor
            #expect(abs(solved[i] - exact) <= 1e-9 * max(1, abs(exact)), "axis \(i): \(solved[i]) vs \(exact)")
        }
    }

    @Test func odeIsReversibleOnAMixture() throws {
        let m = try GaussianMixture(weights: [0.6, 0.4], means: [[-1, 0.5], [1.5, -0.5]], stds: [0.2, 0.35])
        let x0 = [0.3, -0.2]
        let up = try m.solveProbabilityFlow(from: x0, sigma: 0, to: 20)
        let back = try m.solveProbabilityFlow(from: up, sigma: 20, to: 0)
        #expect(abs(back[0] - x0[0]) <= 1e-8 && abs(back[1] - x0[1]) <= 1e-8, "\(back) vs \(x0)")
        // The trajectory helper visits the same states as step-by-step solves.
        let sigmas = try SigmaSchedule.karras(count: 5, sigmaMin: 0.05, sigmaMax: 20)
        let path = try m.probabilityFlowTrajectory(from: up, sigmas: sigmas)
        #expect(path.count == sigmas.count)
        #expect(abs(path.last![0] - back[0]) <= 1e-8 && abs(path.last![1] - back[1]) <= 1e-8)
    }

    @Test func malformedMixturesThrow() {
        #expect(throws: DiffusionError.self) { try GaussianMixture(weights: [1, 1], means: [[0]], stds: [1, 1]) }
        #expect(throws: DiffusionError.self) { try GaussianMixture(weights: [1, 1], means: [[0], [1, 2]], stds: [1, 1]) }
        #expect(throws: DiffusionError.self) { try GaussianMixture(weights: [1, 0], means: [[0], [1]], stds: [1, 1]) }
        #expect(throws: DiffusionError.self) { try GaussianMixture(weights: [1], means: [[0]], stds: [0]) }
        let json = #"{"weights": [1, 2], "means": [[0, 1], [2]], "stds": [0.1, 0.2]}"#
        #expect(throws: DiffusionError.self) { try JSONDecoder().decode(GaussianMixture.self, from: Data(json.utf8)) }
        let good = #"{"weights": [1, 3], "means": [[0, 1], [2, 0]], "stds": [0.1, 0.2]}"#
        #expect((try? JSONDecoder().decode(GaussianMixture.self, from: Data(good.utf8)))?.weights == [0.25, 0.75])
    }

    @Test func samplesFollowTheMixture() throws {
        // Seeded: the sample mean and variance of 40 000 draws match the mixture's within 4 standard errors.
        var rng = SeededGenerator(seed: 42)
        let xs = Self.oneD.samples(count: 40_000, using: &rng).map { $0[0] }
        let mean = Self.oneD.weights.indices.reduce(0.0) { $0 + Self.oneD.weights[$1] * Self.oneD.means[$1][0] }
        let second = Self.oneD.weights.indices.reduce(0.0) {
            $0 + Self.oneD.weights[$1] * (Self.oneD.means[$1][0] * Self.oneD.means[$1][0] + Self.oneD.stds[$1] * Self.oneD.stds[$1])
        }
        let variance = second - mean * mean
        let sampleMean = xs.reduce(0, +) / Double(xs.count)
        #expect(abs(sampleMean - mean) <= 4 * (variance / Double(xs.count)).squareRoot())
        // The sample variance's standard error is sqrt((mu4 - variance^2) / n), with mu4 the
        // fourth central moment: for component k, E[(x - mean)^4] = d^4 + 6 d^2 s^2 + 3 s^4
        // with d = m_k - mean.
        let fourth = Self.oneD.weights.indices.reduce(0.0) {
            let d = Self.oneD.means[$1][0] - mean, s2 = Self.oneD.stds[$1] * Self.oneD.stds[$1]
            return $0 + Self.oneD.weights[$1] * (d * d * d * d + 6 * d * d * s2 + 3 * s2 * s2)
        }
        let sampleVariance = xs.reduce(0) { $0 + ($1 - sampleMean) * ($1 - sampleMean) } / Double(xs.count - 1)
        #expect(abs(sampleVariance - variance) <= 4 * ((fourth - variance * variance) / Double(xs.count)).squareRoot(),
                "sample variance \(sampleVariance), mixture variance \(variance)")
    }
}
