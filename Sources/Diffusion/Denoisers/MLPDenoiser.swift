// Contract: a small trainable denoiser for low-dimensional data (points in the plane, the
// Gaussian-mixture test bed): an MLP F with sigma conditioning, wrapped in EDM's
// preconditioning (Karras et al. 2022, eq. 7, Table 1; `EDMPreconditioning`):
//   D(x, sigma) = c_skip x + c_out F([c_in x, e(c_noise)])
// where e(c) = (c, sin(k c), cos(k c) for k = 1...frequencies) embeds the noise level and F is
// Linear → SiLU → ... → Linear. Rows of a training batch carry their own sigma; `denoise`
// evaluates one sigma for the whole batch (the `Denoiser` protocol), without gradients.
//
// `EDMTrainer` fits it: each step draws ln(sigma) ~ N(P_mean, P_std²) and n ~ N(0, I) per
// row, forms x = x0 + sigma n, and minimizes mean |F(c_in x, c_noise) − (x0 − c_skip x)/c_out|²,
// EDM's lambda-weighted denoising loss (eq. 8; lambda = 1/c_out²) with Adam and a learning rate
// decayed linearly to 0 over the planned steps, so that every budget is a finished run.

import Autograd
import Foundation
import Tensor

/// A multilayer perceptron denoiser with EDM preconditioning, for data of shape [N, dimension].
public final class MLPDenoiser: Module, Denoiser {
    /// The data dimension D.
    public let dimension: Int
    /// Width of the hidden layers.
    public let width: Int
    /// Number of sine/cosine pairs in the noise-level embedding.
    public let frequencies: Int
    /// The preconditioning (holds sigma_d).
    public let preconditioning: EDMPreconditioning
    /// The layers of F: hidden Linear layers (each followed by SiLU) and the output layer.
    public let layers: [Linear]

    /// Creates the network with `hiddenLayers` hidden layers of `width` units, initialized
    /// as PyTorch's `nn.Linear` from `generator`.
    public init(dimension: Int, width: Int = 64, hiddenLayers: Int = 3, frequencies: Int = 4,
                preconditioning: EDMPreconditioning, generator: inout some RandomTensorGenerator) {
        precondition(dimension >= 1 && width >= 1 && hiddenLayers >= 1 && frequencies >= 0,
                     "MLPDenoiser: dimension, width and hiddenLayers must be >= 1, frequencies >= 0")
        self.dimension = dimension
        self.width = width
        self.frequencies = frequencies
        self.preconditioning = preconditioning
        var layers: [Linear] = []
        var inputs = dimension + 1 + 2 * frequencies
        for _ in 0..<hiddenLayers {
            layers.append(Linear(inputFeatures: inputs, outputFeatures: width, generator: &generator))
            inputs = width
        }
        layers.append(Linear(inputFeatures: inputs, outputFeatures: dimension, generator: &generator))
        self.layers = layers
    }

    /// The layers as children "0", "1", ... (state-dict names `0.weight`, `0.bias`, ...).
    public var children: [(name: String, module: any Module)] {
        layers.enumerated().map { (String($0.offset), $0.element as any Module) }
    }

    /// The noise-level embedding e(c) = (c, sin(k c), cos(k c) for k = 1...frequencies) of each
    /// row's c_noise, as [N, 1 + 2 frequencies].
    public func noiseEmbedding(_ cNoise: [Double]) -> Tensor {
        let columns = 1 + 2 * frequencies
        var scalars = [Float](repeating: 0, count: cNoise.count * columns)
        for (row, c) in cNoise.enumerated() {
            scalars[row * columns] = Float(c)
            for k in stride(from: 1, through: frequencies, by: 1) {
                scalars[row * columns + 2 * k - 1] = Float(Foundation.sin(Double(k) * c))
                scalars[row * columns + 2 * k] = Float(Foundation.cos(Double(k) * c))
            }
        }
        return Tensor(shape: [cNoise.count, columns], scalars: scalars)
    }

    /// The raw network F on scaled inputs `cIn x` [N, D] and per-row noise levels.
    public func network(scaledInput: Variable, cNoise: [Double]) -> Variable {
        var h = Variable.concatenate([scaledInput, Variable(noiseEmbedding(cNoise))], axis: 1)
        for layer in layers.dropLast() { h = layer(h).silu() }
        return layers[layers.count - 1](h)
    }

    /// One column [N, 1] of a per-row coefficient.
    static func column(_ values: [Double]) -> Tensor { Tensor(shape: [values.count, 1], scalars: values.map { Float($0) }) }

    /// D(x, sigma_i) for rows x [N, D] with their own noise levels `sigmas` (N values > 0),
    /// recording gradients when enabled.
    public func denoise(_ x: Variable, sigmas: [Double]) -> Variable {
        precondition(x.rank == 2 && x.shape[1] == dimension && x.shape[0] == sigmas.count,
                     "MLPDenoiser: x \(x.shape) must be [N, \(dimension)] with one sigma per row (\(sigmas.count))")
        let p = preconditioning
        let cIn = Variable(Self.column(sigmas.map(p.cIn)))
        let f = network(scaledInput: x * cIn, cNoise: sigmas.map(p.cNoise))
        return x * Variable(Self.column(sigmas.map(p.cSkip))) + f * Variable(Self.column(sigmas.map(p.cOut)))
    }

    /// The `Denoiser` interface: D(x, sigma) for x [N, D] (or [D]) at one sigma, without gradients.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        guard x.shape.last == dimension else {
            throw DiffusionError.invalidParameter("MLPDenoiser: x has shape \(x.shape); its last axis must be the data dimension \(dimension)")
        }
        let rows = x.reshaped([-1, dimension])
        let out = withoutGradients { denoise(Variable(rows), sigmas: Array(repeating: sigma, count: rows.shape[0])).value }
        return out.reshaped(x.shape)
    }
}

/// Trains an `MLPDenoiser` with EDM's loss (see the file header).
public final class EDMTrainer {
    /// The network being trained.
    public let model: MLPDenoiser
    /// The training noise distribution.
    public let noise: EDMNoiseDistribution
    /// Adam over the model's parameters.
    public let optimizer: Adam
    /// The peak learning rate (step 1), decayed linearly to 0 at `plannedSteps`.
    public let learningRate: Float
    /// The number of steps the learning-rate schedule spans.
    public let plannedSteps: Int
    /// Steps taken so far.
    public private(set) var step = 0
    private var generator: SeededGenerator

    /// Creates a trainer for `plannedSteps` steps of Adam (torch's defaults otherwise), drawing
    /// sigmas and noise from a generator seeded with `seed`.
    public init(model: MLPDenoiser, learningRate: Float = 2e-3, plannedSteps: Int,
                noise: EDMNoiseDistribution = EDMNoiseDistribution(), seed: UInt64) {
        precondition(plannedSteps >= 1, "EDMTrainer: plannedSteps must be >= 1")
        self.model = model
        self.noise = noise
        self.learningRate = learningRate
        self.plannedSteps = plannedSteps
        optimizer = Adam(parameters: model.namedParameters(), learningRate: learningRate)
        generator = SeededGenerator(seed: seed)
    }

    /// The loss of one batch of clean data `x0` [N, D] at the given per-row sigmas and
    /// standard-normal noise `normals` [N, D]: mean |F(c_in x, c_noise) − (x0 − c_skip x)/c_out|².
    public func loss(x0: Tensor, sigmas: [Double], normals: Tensor) -> Variable {
        let p = model.preconditioning
        let x = x0 + normals * MLPDenoiser.column(sigmas)
        let target = (x0 - x * MLPDenoiser.column(sigmas.map(p.cSkip))) / MLPDenoiser.column(sigmas.map(p.cOut))
        let f = model.network(scaledInput: Variable(x * MLPDenoiser.column(sigmas.map(p.cIn))), cNoise: sigmas.map(p.cNoise))
        return meanSquaredError(f, Variable(target))
    }

    /// One optimizer step on the batch `x0` [N, D]; returns the batch's loss before the step.
    @discardableResult
    public func trainStep(on x0: Tensor) -> Float {
        let n = x0.shape[0]
        let sigmas = (0..<n).map { _ in noise.sigma(normal: generator.normal()) }
        let normals = generator.normalTensor(x0.shape)
        optimizer.learningRate = learningRate * Float(max(0, plannedSteps - step)) / Float(plannedSteps)
        model.zeroGrad()
        let value = loss(x0: x0, sigmas: sigmas, normals: normals)
        value.backward()
        optimizer.step()
        step += 1
        return value.value.scalars[0]
    }
}
