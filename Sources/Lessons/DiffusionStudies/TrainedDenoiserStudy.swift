// The bridge between lesson 06 (exact denoiser) and lesson 07 (trained UNets): an MLP denoiser
// (`MLPDenoiser`, EDM preconditioning) trained on samples of the 2-D Gaussian mixture for a
// budget of optimizer steps, so that the true distribution is known exactly *and* the denoiser
// has real model error, which shrinks as the budget grows.
//
// Contract:
// - `train` fits a fresh MLP on fresh mixture samples every step (no finite training set, so
//   the model error is the network's and the optimizer's, not overfitting), seeded.
// - `excessLoss` measures the model error as the excess of EDM's weighted denoising loss over
//   its minimum, which the exact denoiser D* attains:
//     E_{sigma ~ p_train, x0 ~ p, n} [ lambda(sigma) |D(x, sigma) − D*(x, sigma)|² ] / dimension,
//   with lambda = 1 / c_out² (Karras et al. 2022, eq. 8): the squared error relative to what the
//   network has to predict at each sigma (≈ |ΔD|²/sigma² at small sigma, |ΔD|²/sigma_d² at large).
//   It is 0 for D = D*, and a Monte Carlo estimate on a fixed seeded set.
// - `distribution` runs a sampler from noise with any denoiser and measures the samples
//   against the exact mixture (sliced W1 and `ModeStatistics`), as lesson 06's study does.
import Autograd
import Diffusion
import Foundation
import Tensor

/// One trained denoiser of the study and how it was made.
public struct TrainedDenoiser {
    /// The network.
    public var model: MLPDenoiser
    /// Optimizer steps taken.
    public var steps: Int
    /// Mean training loss over the last min(100, steps) steps.
    public var finalLoss: Double
    /// Wall-clock seconds of training.
    public var seconds: Double
}

/// One sampler run of the study, measured against the exact mixture.
public struct MixtureSampleMeasurement: Sendable, Equatable {
    /// Sliced Wasserstein-1 distance to the mixture.
    public var distance: Double
    /// Mode statistics (off-mode fraction, spread ratio, weight error).
    public var modes: ModeStatistics
    /// Denoiser evaluations per sample.
    public var evaluations: Int

    /// Creates a measurement from its parts.
    public init(distance: Double, modes: ModeStatistics, evaluations: Int) {
        self.distance = distance
        self.modes = modes
        self.evaluations = evaluations
    }
}

/// Training an MLP denoiser on the mixture and measuring samplers with it.
public enum TrainedDenoiserStudy {
    /// Lesson 06's default mixture: five small, well-separated modes of unequal weight and width.
    public static let mixture = try! GaussianMixture(
        weights: [0.30, 0.20, 0.20, 0.15, 0.15], means: [[-2, -1], [2, -1.2], [0, 2], [-1.2, 0.9], [1.3, 0.8]],
        stds: [0.15, 0.10, 0.20, 0.08, 0.12])

    /// The root-mean-square standard deviation per coordinate of a mixture (sigma_d of EDM):
    /// sqrt(mean_i Var(x_i)) with Var(x_i) = Σ_k w_k (s_k² + mu_ki²) − (Σ_k w_k mu_ki)².
    public static func dataStandardDeviation(of mixture: GaussianMixture) -> Double {
        var total = 0.0
        for i in 0..<mixture.dimension {
            var mean = 0.0, second = 0.0
            for k in 0..<mixture.componentCount {
                mean += mixture.weights[k] * mixture.means[k][i]
                second += mixture.weights[k] * (mixture.stds[k] * mixture.stds[k] + mixture.means[k][i] * mixture.means[k][i])
            }
            total += second - mean * mean
        }
        return (total / Double(mixture.dimension)).squareRoot()
    }

    /// Trains a fresh `MLPDenoiser` for `steps` Adam steps on batches of `batchSize` fresh
    /// mixture samples (learning rate decayed linearly to 0 over the steps).
    public static func train(
        mixture: GaussianMixture, steps: Int, width: Int = 64, hiddenLayers: Int = 3, frequencies: Int = 4,
        batchSize: Int = 256, learningRate: Float = 2e-3, seed: UInt64
    ) -> TrainedDenoiser {
        var initialization = TorchGenerator(seed: seed)
        let model = MLPDenoiser(dimension: mixture.dimension, width: width, hiddenLayers: hiddenLayers, frequencies: frequencies,
                                preconditioning: EDMPreconditioning(sigmaData: dataStandardDeviation(of: mixture)),
                                generator: &initialization)
        let trainer = EDMTrainer(model: model, learningRate: learningRate, plannedSteps: max(steps, 1), seed: seed &+ 1)
        var data = SeededGenerator(seed: seed &+ 2)
        var losses: [Float] = []
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<steps {
            let batch = mixture.samples(count: batchSize, using: &data).flatMap { $0.map(Float.init) }
            losses.append(trainer.trainStep(on: Tensor(shape: [batchSize, mixture.dimension], scalars: batch)))
        }
        let tail = losses.suffix(100)
        return TrainedDenoiser(model: model, steps: steps,
                               finalLoss: tail.isEmpty ? .nan : Double(tail.reduce(0, +)) / Double(tail.count),
                               seconds: (clock.now - start) / .seconds(1))
    }

    /// The excess EDM loss of `model` over the exact denoiser (see the file header), estimated
    /// on `count` seeded triples (x0, sigma, n) with sigma from EDM's training distribution.
    public static func excessLoss(of model: MLPDenoiser, mixture: GaussianMixture, count: Int = 4096, seed: UInt64 = 12345) -> Double {
        var generator = SeededGenerator(seed: seed)
        let noise = EDMNoiseDistribution()
        let d = mixture.dimension
        let x0 = mixture.samples(count: count, using: &generator)
        let sigmas = (0..<count).map { _ in noise.sigma(normal: generator.normal()) }
        var x = [Float](), exact = [Double]()
        for (row, clean) in x0.enumerated() {
            let noisy = clean.map { $0 + sigmas[row] * generator.normal() }
            x += noisy.map(Float.init)
            exact += mixture.denoised(noisy, sigma: sigmas[row])
        }
        let predicted = withoutGradients { model.denoise(Variable(Tensor(shape: [count, d], scalars: x)), sigmas: sigmas).value }.scalars
        var total = 0.0
        for row in 0..<count {
            let weight = model.preconditioning.lossWeight(sigmas[row])
            for i in 0..<d {
                let e = Double(predicted[row * d + i]) - exact[row * d + i]
                total += weight * e * e
            }
        }
        return total / Double(count * d)
    }

    /// Samples `z.shape[0]` points with `sampler` and `denoiser` along `sigmas` (from
    /// `sigmas[0] · z`, noise from `defaultNoise(forSamplerNamed:sigmas:seed:)`) and measures
    /// them against the 2-D `mixture`.
    public static func distribution(
        sampler: any Sampler, denoiser: any Denoiser, mixture: GaussianMixture, normals z: Tensor, sigmas: [Double], seed: UInt64
    ) throws -> MixtureSampleMeasurement {
        let counting = CountingDenoiser(denoiser)
        let end = try sampler.sample(counting, x: startingPoints(normals: z, sigma: sigmas[0]), sigmas: sigmas,
                                     noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: seed), callback: nil)
        let samples = planarPoints(end)
        return MixtureSampleMeasurement(distance: SlicedWasserstein.distance(samples, to: mixture),
                                        modes: ModeStatistics(samples: samples, mixture: mixture),
                                        evaluations: counting.count)
    }
}
