// The MLP denoiser with EDM preconditioning (Karras et al. 2022, Table 1 and eq. 8) and its
// trainer, and the study's model-error measure.
//
// References: the coefficients against hand-computed values and against the two properties
// they are derived from (unit-variance input and unit-variance effective target, EDM Appendix
// B.6, and lambda = 1 / c_out²); training against its own starting loss (a fixed evaluation set,
// so the comparison is not noise); the trained network against the closed-form denoiser of a
// single Gaussian, D*(x, sigma) = mu + s²/(s² + sigma²) (x − mu) (Bishop, PRML eq. 2.116).

import Autograd
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

@Suite struct MLPDenoiserTests {
    /// sigma_d = 0.5, sigma = 1: c_skip = 0.25/1.25, c_out = 0.5/sqrt(1.25), c_in = 1/sqrt(1.25),
    /// c_noise = 0, lambda = 1.25/0.25; and c_noise(e^4) = 1.
    @Test func coefficientsAtKnownPoints() {
        let p = EDMPreconditioning(sigmaData: 0.5)
        #expect(abs(p.cSkip(1) - 0.2) < 1e-15)
        #expect(abs(p.cOut(1) - 0.5 / 1.25.squareRoot()) < 1e-15)
        #expect(abs(p.cIn(1) - 1 / 1.25.squareRoot()) < 1e-15)
        #expect(p.cNoise(1) == 0)
        #expect(abs(p.cNoise(exp(4.0)) - 1) < 1e-15)
        #expect(abs(p.lossWeight(1) - 5) < 1e-14)
        // At sigma = sigma_d the skip and the network share the work equally.
        #expect(abs(p.cSkip(0.5) - 0.5) < 1e-15)
    }

    /// The properties EDM derives the coefficients from, at sigmas over eight decades:
    /// Var(c_in x) = c_in² (sigma_d² + sigma²) = 1; Var of the effective target
    /// (x0 − c_skip x)/c_out = ((1 − c_skip)² sigma_d² + c_skip² sigma²) / c_out² = 1;
    /// lambda c_out² = 1; D = c_skip x + c_out F reproduces x0 when F is the effective target.
    @Test(arguments: [0.02, 0.7, 3.0]) func coefficientsSatisfyTheirDerivation(sigmaData: Double) {
        let p = EDMPreconditioning(sigmaData: sigmaData)
        for sigma in [0.002, 0.03, 0.5, 1, 7, 80, 2000] {
            let s2 = sigma * sigma, d2 = sigmaData * sigmaData
            #expect(abs(p.cIn(sigma) * p.cIn(sigma) * (d2 + s2) - 1) < 1e-12)
            let c = p.cSkip(sigma)
            #expect(abs(((1 - c) * (1 - c) * d2 + c * c * s2) / (p.cOut(sigma) * p.cOut(sigma)) - 1) < 1e-12)
            #expect(abs(p.lossWeight(sigma) * p.cOut(sigma) * p.cOut(sigma) - 1) < 1e-12)
            let x0 = 0.3, x = x0 + sigma * -1.1
            #expect(abs(c * x + p.cOut(sigma) * p.target(x0: x0, x: x, sigma: sigma) - x0) < 1e-12 * max(1, abs(x)))
        }
    }

    /// D(x, sigma) = c_skip x + c_out F(c_in x, c_noise), checked against F called directly.
    @Test func denoiseIsThePreconditionedNetwork() throws {
        var generator = TorchGenerator(seed: 5)
        let p = EDMPreconditioning(sigmaData: 1.3)
        let model = MLPDenoiser(dimension: 2, width: 16, hiddenLayers: 2, frequencies: 3, preconditioning: p, generator: &generator)
        let x = generator.randn([7, 2]) * 4
        for sigma in [0.01, 0.9, 25] {
            let d = try model.denoise(x, sigma: sigma)
            let f = withoutGradients {
                model.network(scaledInput: Variable(x * Float(p.cIn(sigma))), cNoise: Array(repeating: p.cNoise(sigma), count: 7)).value
            }
            for i in 0..<14 {
                let expected = p.cSkip(sigma) * Double(x.scalars[i]) + p.cOut(sigma) * Double(f.scalars[i])
                #expect(abs(Double(d.scalars[i]) - expected) < 1e-5 * max(1, abs(expected)))
            }
        }
        #expect(throws: DiffusionError.self) { try model.denoise(Tensor(shape: [3, 4], repeating: 0), sigma: 1) }
    }

    /// A single Gaussian N((0.5, −0.3), 0.6² I): its exact denoiser is linear in x.
    static let gaussian = try! GaussianMixture(weights: [1], means: [[0.5, -0.3]], stds: [0.6])

    /// 300 steps close at least half of the gap between the untrained network's loss and the
    /// exact denoiser's, both on the same fixed evaluation set (x0, sigma, n). The exact loss is
    /// mean lambda (D* − x0)², computed in Double from the closed form; for this Gaussian with
    /// sigma_d = s it is 1 per coordinate in expectation (lambda times the posterior variance
    /// s² sigma²/(s² + sigma²) is 1), so the loss cannot fall far below 1 however long one trains.
    @Test func shortTrainingReducesTheLoss() throws {
        let mixture = Self.gaussian
        var initialization = TorchGenerator(seed: 0)
        let p = EDMPreconditioning(sigmaData: 0.6)
        let model = MLPDenoiser(dimension: 2, width: 32, hiddenLayers: 2, preconditioning: p, generator: &initialization)
        let trainer = EDMTrainer(model: model, plannedSteps: 300, seed: 1)
        var g = SeededGenerator(seed: 9)
        let n = 1024
        let x0 = Tensor(shape: [n, 2], scalars: mixture.samples(count: n, using: &g).flatMap { $0.map(Float.init) })
        let sigmas = (0..<n).map { _ in EDMNoiseDistribution().sigma(normal: g.normal()) }
        let normals = g.normalTensor([n, 2])
        var exact = 0.0
        for row in 0..<n {
            let clean = (0..<2).map { Double(x0.scalars[row * 2 + $0]) }
            let noisy = (0..<2).map { clean[$0] + sigmas[row] * Double(normals.scalars[row * 2 + $0]) }
            let d = mixture.denoised(noisy, sigma: sigmas[row])
            exact += p.lossWeight(sigmas[row]) * zip(d, clean).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        }
        exact /= Double(2 * n)
        let before = Double(withoutGradients { trainer.loss(x0: x0, sigmas: sigmas, normals: normals).value.scalars[0] })
        var data = SeededGenerator(seed: 2)
        for _ in 0..<300 {
            trainer.trainStep(on: Tensor(shape: [256, 2], scalars: mixture.samples(count: 256, using: &data).flatMap { $0.map(Float.init) }))
        }
        let after = Double(withoutGradients { trainer.loss(x0: x0, sigmas: sigmas, normals: normals).value.scalars[0] })
        #expect(trainer.step == 300)
        #expect(abs(exact - 1) < 0.1, "exact loss \(exact)")
        #expect(before - exact > 0.05, "the untrained loss \(before) must be above the exact \(exact) for the test to mean anything")
        #expect(after - exact < 0.5 * (before - exact), "loss \(before) -> \(after), exact \(exact)")
    }

    /// Trained for 1500 steps on the single Gaussian, the MLP is a `Denoiser` that matches the
    /// closed form: its excess EDM loss (mean lambda |D − D*|², the squared error relative to
    /// what the network predicts at each sigma) is below 0.01, i.e. a relative RMS error under
    /// 10%, where the untrained network is above 0.1. A sampler runs with it as `any Denoiser`,
    /// and at sigma = 0.3 and 3 its outputs are within 0.1 sigma_d of the closed form.
    @Test func trainedDenoiserMatchesTheExactOne() throws {
        let mixture = Self.gaussian
        let untrained = TrainedDenoiserStudy.train(mixture: mixture, steps: 0, width: 32, hiddenLayers: 2, seed: 0)
        let trained = TrainedDenoiserStudy.train(mixture: mixture, steps: 1500, width: 32, hiddenLayers: 2, seed: 0)
        #expect(abs(trained.model.preconditioning.sigmaData - 0.6) < 1e-12)
        let before = TrainedDenoiserStudy.excessLoss(of: untrained.model, mixture: mixture, count: 2048)
        let after = TrainedDenoiserStudy.excessLoss(of: trained.model, mixture: mixture, count: 2048)
        #expect(before > 0.1, "untrained excess loss \(before)")
        #expect(after < 0.01, "trained excess loss \(after)")

        let denoiser: any Denoiser = trained.model
        var g = SeededGenerator(seed: 4)
        for sigma in [0.3, 3.0] {
            let x = Tensor(shape: [64, 2], scalars: mixture.samples(count: 64, sigma: sigma, using: &g).flatMap { $0.map(Float.init) })
            let d = try denoiser.denoise(x, sigma: sigma)
            let exact = try mixture.denoise(x, sigma: sigma)
            let worst = zip(d.scalars, exact.scalars).map { abs($0 - $1) }.max()!
            #expect(worst < 0.06, "sigma \(sigma): largest deviation \(worst)")
        }
        let sigmas = try SigmaSchedule.karras.sigmas(count: 10, sigmaMin: 0.002, sigmaMax: 80)
        let end = try EulerSampler().sample(denoiser, x: g.normalTensor([200, 2]) * 80, sigmas: sigmas,
                                            noise: GaussianNoise(seed: 0), callback: nil)
        #expect(end.shape == [200, 2] && end.scalars.allSatisfy(\.isFinite))
    }
}
