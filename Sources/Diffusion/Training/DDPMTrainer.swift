// Contract: DDPM training (Ho et al. 2020, Algorithm 1) of a `UNet2D`, one optimizer step per
// `trainStep()`:
//   x₀ ~ data (batch B),  t ~ U{0, …, T−1},  ε ~ N(0, I),
//   x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε                                   (eq. 4)
//   target = ε (eps prediction)  or  v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀  (Salimans & Ho 2022, §4)
//   loss = mean‖target − UNet(x_t, t, y)‖²,  AdamW step (linear warmup, optional cosine decay), clip, EMA update.
// Class-conditional models replace a label by the "no class" index with probability
// `labelDropout` (Ho & Salimans 2022, Alg. 1).
// Randomness: one `TorchGenerator` (timesteps, noise, label dropout) and the `BatchSampler`'s
// SplitMix64 (data order), both seeded from `configuration.seed` and stored in checkpoints, so
// training N steps equals training k steps, saving, resuming and training N − k steps, bit for
// bit. Divergence stops the run: the loss (every step) and the gradient norm are checked before
// the optimizer step, so the weights keep their last finite values, and `save` refuses
// non-finite weights, EMA or optimizer moments (`TrainingError.diverged`, naming the step).
// The EMA decay warms up as diffusers' `EMAModel`: 0 at the first update, then
// min(decay, (1 + n)/(10 + n)) at update n + 1.

import Autograd
import Foundation
import Tensor

/// Trains a `UNet2D` to denoise, with AdamW, warmup, gradient clipping and an EMA of weights.
public final class DDPMTrainer {
    /// The run's configuration.
    public let configuration: DDPMTrainingConfiguration
    /// The network being trained.
    public let model: UNet2D
    /// AdamW over the model's parameters.
    public let optimizer: Adam
    /// The exponential moving average of the parameters (what gets shipped and sampled).
    public let ema: ExponentialMovingAverage
    /// The noise schedule (ᾱ_t).
    public let schedule: DiscreteNoiseSchedule
    /// The training examples, values in the model's range.
    public let dataset: LabelledDataset
    /// Optimizer steps taken.
    public private(set) var step: Int = 0
    /// The loss of every step taken, in order.
    public private(set) var losses: [Float] = []
    /// The data order.
    public private(set) var batches: BatchSampler
    /// Timesteps, noise and label dropout.
    public private(set) var generator: TorchGenerator
    /// Warmup, constant rate, then the optional cosine decay, composed once from the configuration.
    private let learningRates: any LearningRateSchedule

    /// Sets up a fresh run (step 0) on `dataset`.
    /// - Throws: `TrainingError` or `UNet2DConfigurationError` for an unusable configuration or
    ///   data that does not fit the model.
    public init(configuration: DDPMTrainingConfiguration, dataset: LabelledDataset) throws {
        try configuration.validate()
        let m = configuration.model
        let itemShape = Array(dataset.inputs.shape.dropFirst())
        guard itemShape.count == 3, itemShape[0] == m.inChannels,
              itemShape[1] % m.downsamplingFactor == 0, itemShape[2] % m.downsamplingFactor == 0 else {
            throw TrainingError.invalidData("examples of shape \(itemShape) do not fit a UNet with \(m.inChannels) input channels and \(m.blockOutChannels.count) levels (need [\(m.inChannels), H, W] with H and W divisible by \(m.downsamplingFactor))")
        }
        let nonFinite = dataset.inputs.nonFiniteCount
        if nonFinite > 0 {
            let perItem = Swift.max(dataset.inputs.count / Swift.max(dataset.count, 1), 1)
            let first = dataset.inputs.contiguous().withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite }! } / perItem
            throw TrainingError.invalidData("\(nonFinite) value(s) are NaN or infinite (the first in example \(first)); one would turn the whole model into NaN")
        }
        if let classes = configuration.classCount {
            guard classes >= 1, dataset.labels.allSatisfy({ (0..<classes).contains($0) }) else {
                throw TrainingError.invalidData("a label lies outside 0..<\(classes) (num_class_embeds = \(m.numClassEmbeds!) includes the extra \"no class\" row)")
            }
        }
        self.configuration = configuration
        self.dataset = dataset
        var initGenerator = TorchGenerator(seed: configuration.seed)
        model = try UNet2D(configuration: m, generator: &initGenerator)
        let named = model.namedParameters()
        optimizer = Adam.adamW(parameters: named, learningRate: configuration.learningRate,
                               weightDecay: configuration.weightDecay)
        ema = ExponentialMovingAverage(parameters: named, decay: configuration.emaDecay)
        schedule = try configuration.betaSchedule.makeSchedule(trainingSteps: configuration.trainingTimesteps)
        batches = BatchSampler(count: dataset.count, batchSize: configuration.batchSize, shuffles: true, dropsLast: true,
                               seed: configuration.seed &+ 1)
        generator = TorchGenerator(seed: configuration.seed &+ 2)
        learningRates = Self.schedule(configuration)
    }

    /// Linear warmup over W steps from lr/W (when W > 0), then lr, held until the decay's start,
    /// then the cosine decay (or lr for good without one).
    static func schedule(_ c: DDPMTrainingConfiguration) -> any LearningRateSchedule {
        let afterWarmup: any LearningRateSchedule = c.learningRateDecay.map { decay in
            HoldThen(holdSteps: decay.startStep - c.warmupSteps,
                     then: CosineSchedule(baseRate: c.learningRate, totalSteps: decay.steps, minimumRate: decay.finalRate))
        } ?? ConstantSchedule(c.learningRate)
        func warmedUp<S: LearningRateSchedule>(_ schedule: S) -> any LearningRateSchedule {
            c.warmupSteps > 0 ? LinearWarmup(warmupSteps: c.warmupSteps, startFactor: 1 / Double(c.warmupSteps), then: schedule) : schedule
        }
        return warmedUp(afterWarmup)
    }

    /// The learning rate of update number `step` (0-based): linear warmup over `warmupSteps`
    /// from lr/W to lr, then constant, then the configuration's cosine decay if it has one.
    public func learningRate(at step: Int) -> Float {
        learningRates.learningRate(at: step)
    }

    /// The EMA decay used at update number `update` (1-based), as diffusers' `EMAModel.get_decay`.
    public static func emaDecay(maximum: Float, update: Int) -> Float {
        let n = update - 1
        if n <= 0 { return 0 }
        return Swift.min(maximum, Float(1 + n) / Float(10 + n))
    }

    /// The noisy batch and the regression target for clean examples `x0` at `timesteps` with
    /// noise `noise` (eq. 4 of Ho et al. 2020; v as Salimans & Ho 2022).
    public static func noised(_ x0: Tensor, timesteps: [Int], noise: Tensor, schedule: DiscreteNoiseSchedule,
                              prediction: DiscreteTimeDenoiser.Prediction) -> (input: Tensor, target: Tensor) {
        precondition(x0.shape == noise.shape && x0.shape[0] == timesteps.count,
                     "noised: x0 \(x0.shape), noise \(noise.shape), \(timesteps.count) timesteps")
        let x = x0.contiguous(), n = noise.contiguous()
        let perItem = x.count / Swift.max(timesteps.count, 1)
        var input = Tensor(shape: x.shape, repeating: 0), target = Tensor(shape: x.shape, repeating: 0)
        x.withUnsafeBufferPointer { x in
            n.withUnsafeBufferPointer { n in
                input.withUnsafeMutableBufferPointer { input in
                    target.withUnsafeMutableBufferPointer { target in
                        for (b, t) in timesteps.enumerated() {
                            let a = Float(schedule.alphasCumprod[t].squareRoot())
                            let s = Float((1 - schedule.alphasCumprod[t]).squareRoot())
                            for i in b * perItem..<(b + 1) * perItem {
                                input[i] = a * x[i] + s * n[i]
                                target[i] = prediction == .epsilon ? n[i] : a * n[i] - s * x[i]
                            }
                        }
                    }
                }
            }
        }
        return (input, target)
    }

    /// The loss of the model on a given batch at given timesteps and noise, with the graph
    /// recorded (call `backward()` on it). Used by `trainStep` and by tests with a fixed batch.
    public func loss(x0: Tensor, labels: [Int]?, timesteps: [Int], noise: Tensor) -> Variable {
        let (input, target) = Self.noised(x0, timesteps: timesteps, noise: noise, schedule: schedule,
                                          prediction: configuration.prediction)
        let prediction = model(Variable(input), timesteps: timesteps.map(Float.init), classLabels: labels)
        return meanSquaredError(prediction, Variable(target))
    }

    /// Classifier-free guidance's label dropout (Ho & Salimans 2022, Alg. 1): each label is
    /// replaced by the `unconditional` class with `probability`, one uniform draw per label.
    public static func droppingLabels(_ labels: [Int], unconditional: Int, probability: Float,
                                      generator: inout TorchGenerator) -> [Int] {
        labels.map { generator.nextFloat() < probability ? unconditional : $0 }
    }

    /// One optimizer step on the next batch; returns its loss.
    /// - Throws: `TrainingError.diverged` when the loss or the gradient norm is NaN or infinite;
    ///   the step is then not taken (weights, optimizer state, EMA and `step` are unchanged).
    @discardableResult
    public func trainStep() throws -> Float {
        let indices = batches.next()
        let (x0, rawLabels) = dataset.batch(indices)
        let b = indices.count, T = UInt64(configuration.trainingTimesteps)
        let timesteps = (0..<b).map { _ in Int(generator.nextUInt64() % T) }
        let noise = generator.randn(x0.shape)
        var labels: [Int]? = nil
        if let classes = configuration.classCount {
            labels = Self.droppingLabels(rawLabels, unconditional: classes, probability: configuration.labelDropout, generator: &generator)
        }
        optimizer.learningRate = learningRate(at: step)
        optimizer.zeroGrad()
        let loss = self.loss(x0: x0, labels: labels, timesteps: timesteps, noise: noise)
        let value = loss.value.item
        guard value.isFinite else { throw diverged("the loss is \(value)") }
        loss.backward()
        if let maxNorm = configuration.maxGradientNorm {
            let norm = clipGradientNorm(model.parameters, maxNorm: maxNorm)
            guard norm.isFinite else { throw diverged("the gradient norm is \(norm) (loss \(value))") }
        }
        optimizer.step()
        step += 1
        ema.decay = Self.emaDecay(maximum: configuration.emaDecay, update: step)
        ema.update()
        losses.append(value)
        return value
    }

    private func diverged(_ quantity: String, atStep: Int? = nil) -> TrainingError {
        .diverged(step: atStep ?? step + 1, quantity: quantity, learningRate: configuration.learningRate,
                  warmupSteps: configuration.warmupSteps)
    }

    /// The first model weight, EMA weight or optimizer moment holding NaN or infinity, with the
    /// count of such values, or nil when all are finite.
    public func firstNonFiniteState() -> (name: String, count: Int)? {
        var named: [(String, Tensor)] = model.namedParameters().map { ("model." + $0.0, $0.1.value) }
        named += ema.shadows.sorted { $0.key < $1.key }.map { ("ema." + $0.key, $0.value) }
        named += optimizer.stateTensors().sorted { $0.key < $1.key }.map { ("optimizer." + $0.key, $0.value) }
        for (name, tensor) in named {
            let bad = tensor.nonFiniteCount
            if bad > 0 { return (name, bad) }
        }
        return nil
    }

    /// A fresh model holding the EMA weights (for sampling and export).
    public func emaModel() throws -> UNet2D {
        let copy = try UNet2D(configuration: configuration.model, seed: 0)
        try copy.loadStateDictionary(ema.shadows)
        return copy
    }

    /// Writes a checkpoint folder atomically: weights, AdamW moments, EMA, step, generator and
    /// data-order states, and the loss history (`extra["losses"]`, base64 of Float32 bytes).
    /// - Throws: `TrainingError.diverged` (nothing written) when a weight, EMA weight or
    ///   optimizer moment holds NaN or infinity.
    public func save(to folder: URL) throws {
        if let (name, count) = firstNonFiniteState() {
            throw diverged("\(name) holds \(count) NaN or infinite value(s)", atStep: step)
        }
        let lossBytes = losses.withUnsafeBufferPointer { Data(buffer: $0) }
        let state = CheckpointState(step: step, configuration: configuration, generator: generator.state, sampler: batches,
                                    extra: ["losses": lossBytes.base64EncodedString()])
        try Checkpoint.save(to: folder, model: model, optimizer: optimizer, ema: ema, state: state)
    }

    /// Whether `folder` holds a checkpoint (or a complete `.partial`/`.previous` copy, see
    /// `Checkpoint.location(of:)`).
    /// - Throws: `CheckpointError` for a folder that holds files but is not a complete checkpoint.
    public static func checkpointExists(at folder: URL) throws -> Bool {
        try Checkpoint.location(of: folder) != nil
    }

    /// The configuration stored in a checkpoint.
    public static func storedConfiguration(at folder: URL) throws -> DDPMTrainingConfiguration {
        try storedState(at: folder).configuration
    }

    /// The step and configuration stored in a checkpoint (the weights are not read).
    static func storedState(at folder: URL) throws -> CheckpointState<DDPMTrainingConfiguration> {
        guard let source = try Checkpoint.location(of: folder) else {
            throw TrainingError.invalidModel("no checkpoint at \(folder.path)")
        }
        let url = source.appendingPathComponent(Checkpoint.stateFile)
        do {
            return try Checkpoint.readState(url)
        } catch let error as CheckpointError {
            throw TrainingError.invalidModel("\(url.path) is not a usable DDPM training checkpoint: \(error)")
        }
    }

    /// Resumes the run saved in `folder`. `configuration` must equal the stored one, except that
    /// a learning-rate decay may be added, changed or removed while neither the stored nor the
    /// requested decay has started (its `startStep` at or after the checkpoint's step): the steps
    /// already taken did not depend on it, so the run stays the one a straight run would give.
    /// - Throws: `TrainingError.configurationMismatch` listing every differing field;
    ///   `CheckpointError`/`StateDictionaryError` for unreadable or mismatched files.
    public static func resume(from folder: URL, configuration: DDPMTrainingConfiguration,
                              dataset: LabelledDataset) throws -> DDPMTrainer {
        let stored = try storedState(at: folder)
        var sameDecay = configuration
        sameDecay.learningRateDecay = stored.configuration.learningRateDecay
        let differences = try stored.configuration.differences(from: sameDecay)
        guard differences.isEmpty else {
            throw TrainingError.configurationMismatch(checkpoint: folder.path, differences: differences)
        }
        let old = stored.configuration.learningRateDecay, new = configuration.learningRateDecay
        if old != new, Swift.min(old?.startStep ?? .max, new?.startStep ?? .max) < stored.step {
            func describe(_ d: LearningRateDecay?) -> String {
                d.map { "cosine from step \($0.startStep) over \($0.steps) steps to \($0.finalRate)" } ?? "none"
            }
            throw TrainingError.configurationMismatch(checkpoint: folder.path, differences: [
                "learningRateDecay: \(describe(old)) vs \(describe(new)); the checkpoint is at step \(stored.step), "
                + "so a decay can only be added or changed with a start at or after step \(stored.step)"])
        }
        let trainer = try DDPMTrainer(configuration: configuration, dataset: dataset)
        let state = try Checkpoint.load(from: folder, model: trainer.model, optimizer: trainer.optimizer, ema: trainer.ema,
                                        configuration: DDPMTrainingConfiguration.self)
        guard let generatorState = state.generator, let sampler = state.sampler else {
            throw TrainingError.invalidModel("\(folder.path): the checkpoint has no generator or data-order state")
        }
        guard sampler.count == dataset.count else {
            throw TrainingError.invalidData("the checkpoint was trained on \(sampler.count) examples but the data set has \(dataset.count)")
        }
        guard sampler.batchSize == configuration.batchSize, sampler.dropsLast, sampler.shuffles else {
            throw TrainingError.invalidModel("\(folder.path): the saved data order (batch size \(sampler.batchSize), "
                + "shuffles \(sampler.shuffles), drops last \(sampler.dropsLast)) is not the one the trainer makes "
                + "(batch size \(configuration.batchSize), shuffled, last partial batch dropped)")
        }
        trainer.generator = try TorchGenerator(state: generatorState)
        trainer.batches = sampler
        trainer.step = state.step
        if let text = state.extra["losses"], let data = Data(base64Encoded: text) {
            trainer.losses = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        trainer.ema.decay = emaDecay(maximum: configuration.emaDecay, update: state.step)
        return trainer
    }
}
