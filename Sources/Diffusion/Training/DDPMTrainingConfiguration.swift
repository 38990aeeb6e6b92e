// Contract: everything that determines a DDPM training run's arithmetic — the UNet, the noise
// schedule, what the network predicts, the optimizer, EMA, batch, data and seed. It is stored in
// every checkpoint's `training.json`; resuming with a different configuration is an error that
// names each differing field (`differences(from:)`). The number of steps to train is not part of
// it (a run may be extended).

import Foundation

/// The beta schedule used for training (diffusers `beta_schedule` names).
public enum BetaSchedule: String, Codable, CaseIterable, Sendable {
    /// DDPM's linear betas 1e-4 … 0.02 (Ho et al. 2020, §4).
    case linear
    /// The cosine schedule of Nichol & Dhariwal 2021, eq. 17 (diffusers `squaredcos_cap_v2`).
    case cosine = "squaredcos_cap_v2"
    /// Stable Diffusion's betas, linear in √β from 0.00085 to 0.012.
    case scaledLinear = "scaled_linear"

    /// Parses `linear`, `cosine` (or `squaredcos_cap_v2`) or `scaled_linear`.
    public init(named name: String) throws {
        switch name.lowercased() {
        case "linear": self = .linear
        case "cosine", "squaredcos_cap_v2": self = .cosine
        case "scaled_linear", "scaled-linear": self = .scaledLinear
        default:
            throw TrainingError.invalidOption("unknown beta schedule \"\(name)\"; accepted: linear, cosine (squaredcos_cap_v2), scaled_linear")
        }
    }

    /// The discrete schedule with `trainingSteps` timesteps.
    public func makeSchedule(trainingSteps: Int) throws -> DiscreteNoiseSchedule {
        switch self {
        case .linear: return try .linear(trainingSteps: trainingSteps)
        case .cosine: return try .cosine(trainingSteps: trainingSteps)
        case .scaledLinear: return try .scaledLinear(trainingSteps: trainingSteps)
        }
    }
}

/// Where training images come from.
public enum TrainingDataSource: Codable, Equatable, Sendable {
    /// Fashion-MNIST's 60 000 training images, padded from 28×28 to 32×32 (with their labels).
    /// `folder` nil means `$FASHION_MNIST_DIR` or the Debian package's folder.
    case fashionMNIST(folder: String?)
    /// Every PNG in a folder (all of one size), unlabelled.
    case imageFolder(String)
    /// A safetensors file with a `latents` tensor [N, C, H, W] (already scaled) and optionally
    /// `labels` [N] (integer or integral float values).
    case latents(String)
}

/// The configuration of a DDPM training run.
public struct DDPMTrainingConfiguration: Codable, Equatable, Sendable {
    /// The network.
    public var model: UNet2DConfiguration
    /// What the network predicts: eps or v.
    public var prediction: DiscreteTimeDenoiser.Prediction
    /// The beta schedule.
    public var betaSchedule: BetaSchedule
    /// The number of discrete timesteps T.
    public var trainingTimesteps: Int
    /// Images per optimizer step.
    public var batchSize: Int
    /// The peak learning rate of AdamW.
    public var learningRate: Float
    /// Steps of linear warmup from 0 to `learningRate` (constant afterwards, until a decay).
    public var warmupSteps: Int
    /// An optional cosine decay of the learning rate after the constant phase (nil: constant).
    public var learningRateDecay: LearningRateDecay?
    /// AdamW's decoupled weight decay.
    public var weightDecay: Float
    /// The largest decay of the weight EMA (the decay warms up as min(decay, (1+n)/(10+n))).
    public var emaDecay: Float
    /// Gradients are clipped to this total 2-norm (nil: no clipping).
    public var maxGradientNorm: Float?
    /// For class-conditional models: the probability that a label is replaced by the extra
    /// "no class" label (index = number of classes), which trains the unconditional model
    /// classifier-free guidance needs (Ho & Salimans 2022, Alg. 1).
    public var labelDropout: Float
    /// The images.
    public var data: TrainingDataSource
    /// Seeds initialization, data order, timesteps and noise.
    public var seed: UInt64

    /// Creates a configuration with defaults suited to Fashion-MNIST on a CPU.
    public init(model: UNet2DConfiguration = UNet2DConfiguration(), prediction: DiscreteTimeDenoiser.Prediction = .epsilon,
                betaSchedule: BetaSchedule = .linear, trainingTimesteps: Int = 1000, batchSize: Int = 64,
                learningRate: Float = 2e-4, warmupSteps: Int = 200, weightDecay: Float = 0, emaDecay: Float = 0.999,
                maxGradientNorm: Float? = 1, labelDropout: Float = 0.1, data: TrainingDataSource = .fashionMNIST(folder: nil),
                seed: UInt64 = 0, learningRateDecay: LearningRateDecay? = nil) {
        self.model = model
        self.prediction = prediction
        self.betaSchedule = betaSchedule
        self.trainingTimesteps = trainingTimesteps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
        self.emaDecay = emaDecay
        self.maxGradientNorm = maxGradientNorm
        self.labelDropout = labelDropout
        self.data = data
        self.seed = seed
        self.learningRateDecay = learningRateDecay
    }

    /// Throws `TrainingError.invalidOption` for values no run can use.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw TrainingError.invalidOption(s) }
        try model.validate()
        if batchSize < 1 { try fail("batch size must be at least 1, got \(batchSize)") }
        if trainingTimesteps < 2 { try fail("training timesteps must be at least 2, got \(trainingTimesteps)") }
        if !(learningRate > 0) { try fail("learning rate must be positive, got \(learningRate)") }
        if warmupSteps < 0 { try fail("warmup steps must be >= 0, got \(warmupSteps)") }
        if let d = learningRateDecay {
            if d.startStep < warmupSteps { try fail("the learning-rate decay must start at or after the warmup's end (step \(warmupSteps)), got step \(d.startStep)") }
            if d.steps < 1 { try fail("the learning-rate decay needs at least 1 step, got \(d.steps)") }
            if !(d.finalRate >= 0 && d.finalRate <= learningRate) { try fail("the decay's final learning rate must lie in [0, \(learningRate)], got \(d.finalRate)") }
        }
        if !(0..<1).contains(emaDecay) { try fail("EMA decay must lie in [0, 1), got \(emaDecay)") }
        if let n = maxGradientNorm, !(n > 0) { try fail("max gradient norm must be positive, got \(n)") }
        if !(0..<1).contains(labelDropout) { try fail("label dropout must lie in [0, 1), got \(labelDropout)") }
        if model.inChannels != model.outChannels { try fail("in_channels (\(model.inChannels)) must equal out_channels (\(model.outChannels)) for eps/v prediction") }
    }

    /// The classes of a class-conditional model (its class table has one more row, the "no
    /// class" label), or nil.
    public var classCount: Int? { model.numClassEmbeds.map { $0 - 1 } }

    /// One line per field that differs from `other` (`name: self vs other`), empty when equal.
    public func differences(from other: DDPMTrainingConfiguration) throws -> [String] {
        func flatten(_ c: DDPMTrainingConfiguration) throws -> [String: String] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let object = try JSONSerialization.jsonObject(with: encoder.encode(c)) as! [String: Any]
            var out: [String: String] = [:]
            func walk(_ value: Any, _ path: String) {
                if let d = value as? [String: Any] {
                    for (k, v) in d { walk(v, path.isEmpty ? k : path + "." + k) }
                } else {
                    out[path] = "\(value)"
                }
            }
            walk(object, "")
            return out
        }
        let a = try flatten(self), b = try flatten(other)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : "\(key): \(a[key] ?? "absent") vs \(b[key] ?? "absent")"
        }
    }
}

/// A cosine decay of the learning rate appended to a run (Loshchilov & Hutter 2017, eq. 5 without
/// restarts): constant until `startStep`, then from the peak rate down to `finalRate` over `steps`
/// updates, then constant at `finalRate`. Because the updates before `startStep` do not depend on
/// it, a decay may be added to a run that has not reached `startStep` yet (see `DDPMTrainer.resume`).
public struct LearningRateDecay: Codable, Equatable, Sendable {
    /// The first update (0-based) whose rate is below the peak.
    public var startStep: Int
    /// The number of updates from the peak to `finalRate`.
    public var steps: Int
    /// The rate at the end of the decay and afterwards.
    public var finalRate: Float

    /// Creates a decay.
    public init(startStep: Int, steps: Int, finalRate: Float = 0) {
        self.startStep = startStep
        self.steps = steps
        self.finalRate = finalRate
    }
}

/// A training error with a message that names the problem and the fix.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// An option value that cannot be used.
    case invalidOption(String)
    /// A checkpoint trained with a different configuration than the one requested.
    case configurationMismatch(checkpoint: String, differences: [String])
    /// Training data that cannot be used with the model.
    case invalidData(String)
    /// A saved model or checkpoint that cannot be loaded.
    case invalidModel(String)
    /// Training produced NaN or infinity at optimizer step `step` (1-based): `quantity` says
    /// what ("the loss is nan", "ema.conv_in.weight holds 12 NaN or infinite values").
    case diverged(step: Int, quantity: String, learningRate: Float, warmupSteps: Int)
    /// Sampling produced NaN or infinity at sampler step `step` of `steps` (1-based).
    case nonFiniteSample(step: Int, steps: Int, sigma: Double, quantity: String)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .invalidOption(let s): return "invalid option: \(s)"
        case .configurationMismatch(let path, let differences):
            return "the checkpoint at \(path) was trained with a different configuration "
                + "(checkpoint vs requested):\n  " + differences.joined(separator: "\n  ")
                + "\nresume with the same options, or choose a new output folder"
        case .invalidData(let s): return "unusable training data: \(s)"
        case .invalidModel(let s): return "cannot load the model: \(s)"
        case let .diverged(step, quantity, learningRate, warmupSteps):
            return "training diverged at step \(step): \(quantity). The likely cause is a learning rate too high "
                + "for this model (learning rate \(learningRate), warmup \(warmupSteps) steps): lower it or warm up longer; "
                + "with a usual learning rate, check the training data for extreme values. "
                + "Nothing was saved after the last good checkpoint"
        case let .nonFiniteSample(step, steps, sigma, quantity):
            return "sampling produced NaN or infinity at step \(step) of \(steps) (sigma \(sigma)): \(quantity). "
                + "The model's weights or the sampler's settings (steps, schedule, guidance) do not give a finite result; "
                + "no image was written"
        }
    }
}
