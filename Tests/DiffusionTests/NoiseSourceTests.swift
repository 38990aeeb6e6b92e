// Noise sources: seeded replay, standard-normal statistics, and the Brownian tree's defining
// property (increments over adjacent intervals add up to the increment over their union).

import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct NoiseSourceTests {
    @Test func gaussianNoiseReplaysBySeedAndIsStandardNormal() {
        let a = GaussianNoise(seed: 3).noise(shape: [20_000], sigma: 1, sigmaNext: 0.5).scalars.map(Double.init)
        let b = GaussianNoise(seed: 3).noise(shape: [20_000], sigma: 1, sigmaNext: 0.5).scalars.map(Double.init)
        let c = GaussianNoise(seed: 4).noise(shape: [20_000], sigma: 1, sigmaNext: 0.5).scalars.map(Double.init)
        #expect(a == b)
        #expect(a != c)
        let mean = a.reduce(0, +) / 20_000, variance = a.reduce(0) { $0 + $1 * $1 } / 20_000 - mean * mean
        // Standard errors: 1/sqrt(n) = 0.0071 for the mean, sqrt(2/n) = 0.01 for the variance; 4 of them.
        #expect(abs(mean) < 0.029 && abs(variance - 1) < 0.04, "mean \(mean) variance \(variance)")
    }

    @Test func brownianIncrementsAreConsistentAcrossQueries() {
        let tree = BrownianTreeNoise(seed: 9, sigmaMin: 0, sigmaMax: 10)
        let n = 16
        // Un-normalized increments W(b) - W(a) = noise(a, b) * sqrt(|b - a|).
        func increment(_ a: Double, _ b: Double) -> [Double] {
            tree.noise(shape: [n], sigma: a, sigmaNext: b).scalars.map { Double($0) * abs(b - a).squareRoot() }
        }
        let whole = increment(7.3, 0.21), first = increment(7.3, 2.9), second = increment(2.9, 0.21)
        for i in 0..<n { #expect(abs(whole[i] - (first[i] + second[i])) <= 1e-5, "element \(i)") }
        // The same query twice gives the same noise; reversed queries give the negative increment.
        #expect(tree.noise(shape: [n], sigma: 5, sigmaNext: 4).scalars == tree.noise(shape: [n], sigma: 5, sigmaNext: 4).scalars)
        let forward = increment(4, 5), backward = increment(5, 4)
        for i in 0..<n { #expect(abs(forward[i] + backward[i]) <= 1e-6) }
    }

    @Test func brownianNoiseIsStandardNormalForAnyStep() {
        let tree = BrownianTreeNoise(seed: 11, sigmaMin: 0, sigmaMax: 10)
        for (a, b) in [(10.0, 9.0), (3.0, 2.999), (0.5, 0.05)] {
            let z = tree.noise(shape: [20_000], sigma: a, sigmaNext: b).scalars.map(Double.init)
            let mean = z.reduce(0, +) / 20_000, variance = z.reduce(0) { $0 + $1 * $1 } / 20_000 - mean * mean
            #expect(abs(mean) < 0.029 && abs(variance - 1) < 0.04, "(\(a), \(b)): mean \(mean) variance \(variance)")
        }
        // Non-overlapping increments are independent: their correlation is near 0.
        let u = tree.noise(shape: [20_000], sigma: 6, sigmaNext: 5).scalars.map(Double.init)
        let v = tree.noise(shape: [20_000], sigma: 5, sigmaNext: 4).scalars.map(Double.init)
        let corr = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } / 20_000
        #expect(abs(corr) < 0.029)
    }

    @Test func recordedNoiseReplaysInOrder() {
        let a = Tensor(shape: [2], scalars: [1, 2]), b = Tensor(shape: [2], scalars: [3, 4])
        let r = RecordedNoise([a, b], queries: [(sigma: 2, sigmaNext: 1), (sigma: 1, sigmaNext: 0.5)])
        #expect(r.noise(shape: [2], sigma: 2, sigmaNext: 1).scalars == [1, 2])
        #expect(r.noise(shape: [2], sigma: 1, sigmaNext: 0.5).scalars == [3, 4])
        #expect(r.position == 2)
    }

    @Test(arguments: [SamplerName.eulerAncestral, .dpmppSDE, .dpmpp2MSDE, .dpmpp3MSDE, .ddpm])
    func stochasticRunsReplayExactly(name: SamplerName) throws {
        let m = try GaussianMixture(weights: [1, 1], means: [[1, 0], [-1, 0.5]], stds: [0.3, 0.4])
        let sigmas = try SigmaSchedule.karras(count: 8, sigmaMin: 0.05, sigmaMax: 8)
        let x = Tensor(shape: [2, 2], scalars: [5, -3, 2, 7])
        let run = { (seed: UInt64) in
            try name.makeSampler().sample(m, x: x, sigmas: sigmas, noise: BrownianTreeNoise(seed: seed, sigmas: sigmas), callback: nil).scalars
        }
        #expect(try run(1) == run(1))
        #expect(try run(1) != run(2))
    }
}
