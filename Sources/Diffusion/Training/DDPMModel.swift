// Contract: a trained pixel- or latent-space DDPM ready to sample — a `UNet2D`, its noise
// schedule and what it predicts — loaded from, and exported to, a diffusers `DDPMPipeline`
// folder:
//   model_index.json                         {"_class_name": "DDPMPipeline", ...}
//   unet/config.json                         UNet2DModel config (diffusers names)
//   unet/diffusion_pytorch_model.safetensors weights (Float16 by default)
//   scheduler/scheduler_config.json          DDPMScheduler config (betas, T, prediction_type)
// so `DDPMPipeline.from_pretrained(folder)` loads the same model in PyTorch. A training
// checkpoint folder (`training.json` + `weights.safetensors`) loads too, with its EMA weights by
// default. Sampling wraps the network into the eps/v `DiscreteTimeDenoiser` and runs any sampler
// of the registry over the model's own sigmas or a named sigma schedule; class-conditional
// models get classifier-free guidance with both halves in one UNet call (`BatchedGuidedDenoiser`).

import Autograd
import Foundation
import Tensor

/// The `scheduler/scheduler_config.json` fields this project reads and writes (diffusers names).
public struct DDPMSchedulerConfiguration: Codable, Equatable, Sendable {
    /// "DDPMScheduler".
    public var className: String
    /// T.
    public var numTrainTimesteps: Int
    /// `linear`, `squaredcos_cap_v2` or `scaled_linear`.
    public var betaSchedule: String
    /// β₀ of the linear schedules.
    public var betaStart: Double
    /// β_{T−1} of the linear schedules.
    public var betaEnd: Double
    /// `epsilon` or `v_prediction`.
    public var predictionType: String
    /// diffusers' DDPM sampling clips x₀ to [−1, 1] for pixel models.
    public var clipSample: Bool

    enum CodingKeys: String, CodingKey {
        case className = "_class_name", numTrainTimesteps = "num_train_timesteps", betaSchedule = "beta_schedule"
        case betaStart = "beta_start", betaEnd = "beta_end", predictionType = "prediction_type", clipSample = "clip_sample"
    }

    /// Creates the configuration of a training run's schedule.
    public init(trainingTimesteps: Int, betaSchedule: BetaSchedule, prediction: DiscreteTimeDenoiser.Prediction, clipSample: Bool = true) {
        className = "DDPMScheduler"
        numTrainTimesteps = trainingTimesteps
        self.betaSchedule = betaSchedule.rawValue
        (betaStart, betaEnd) = betaSchedule == .scaledLinear ? (0.00085, 0.012) : (0.0001, 0.02)
        predictionType = prediction.rawValue
        self.clipSample = clipSample
    }

    /// Decodes, with diffusers' defaults for absent fields.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className) ?? "DDPMScheduler"
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? 1000
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule) ?? "linear"
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? 0.0001
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? 0.02
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType) ?? "epsilon"
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample) ?? true
    }

    /// The discrete noise schedule these fields describe.
    public func makeSchedule() throws -> DiscreteNoiseSchedule {
        switch try BetaSchedule(named: betaSchedule) {
        case .linear: return try .linear(trainingSteps: numTrainTimesteps, betaStart: betaStart, betaEnd: betaEnd)
        case .scaledLinear: return try .scaledLinear(trainingSteps: numTrainTimesteps, betaStart: betaStart, betaEnd: betaEnd)
        case .cosine: return try .cosine(trainingSteps: numTrainTimesteps)
        }
    }

    /// What the network predicts.
    public func prediction() throws -> DiscreteTimeDenoiser.Prediction {
        guard let p = DiscreteTimeDenoiser.Prediction(rawValue: predictionType) else {
            throw TrainingError.invalidModel("prediction_type \"\(predictionType)\" is not supported; use epsilon or v_prediction")
        }
        return p
    }
}

/// A trained DDPM: network, schedule, prediction type.
public struct DDPMModel {
    /// The network (its parameters hold the weights to sample with).
    public let unet: UNet2D
    /// The schedule configuration as written to `scheduler_config.json`.
    public let scheduler: DDPMSchedulerConfiguration
    /// The discrete noise schedule.
    public let schedule: DiscreteNoiseSchedule
    /// eps or v.
    public let prediction: DiscreteTimeDenoiser.Prediction
    /// The scheduler configuration as diffusers reads it, for diffusers scheduler names as
    /// samplers: every field of `scheduler_config.json` when loaded from a folder.
    public var schedulerFile: DiffusersSchedulerConfiguration

    /// Wraps a network and its schedule.
    public init(unet: UNet2D, scheduler: DDPMSchedulerConfiguration) throws {
        self.unet = unet
        self.scheduler = scheduler
        schedule = try scheduler.makeSchedule()
        prediction = try scheduler.prediction()
        schedulerFile = DiffusersSchedulerConfiguration(scheduler)
    }

    /// The trainer's EMA weights (or its raw weights) as a model.
    public init(trainer: DDPMTrainer, useEMA: Bool = true) throws {
        let c = trainer.configuration
        let unet = useEMA ? try trainer.emaModel() : trainer.model
        var isLatent = false
        if case .latents = c.data { isLatent = true }
        try self.init(unet: unet, scheduler: DDPMSchedulerConfiguration(trainingTimesteps: c.trainingTimesteps,
                                                                         betaSchedule: c.betaSchedule, prediction: c.prediction,
                                                                         clipSample: !isLatent))
    }

    /// The class count of a class-conditional model (without the "no class" row), or nil.
    public var classCount: Int? { unet.configuration.numClassEmbeds.map { $0 - 1 } }

    // MARK: Files

    /// Loads an exported model folder or a training checkpoint folder.
    /// - Parameter useEMA: for a training checkpoint, load the EMA weights (true) or the raw ones.
    /// - Throws: `TrainingError.invalidModel` when `folder` is neither; a `StateDictionaryError`
    ///   listing missing/unexpected keys and shape mismatches when the weights do not fit the config.
    public static func load(from folder: URL, useEMA: Bool = true) throws -> DDPMModel {
        let fm = FileManager.default
        let unetConfigURL = folder.appendingPathComponent("unet/config.json")
        if fm.fileExists(atPath: unetConfigURL.path) {
            let configuration = try decode(UNet2DConfiguration.self, from: unetConfigURL)
            let schedulerURL = folder.appendingPathComponent("scheduler/scheduler_config.json")
            let scheduler = try decode(DDPMSchedulerConfiguration.self, from: schedulerURL)
            let unet = try UNet2D(configuration: configuration, seed: 0)
            let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
            var weights: [String: Tensor] = [:]
            for name in file.names { weights[name] = try file.tensor(named: name) }
            try requireFinite(weights, in: folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
            try unet.loadStateDictionary(weights)
            var model = try DDPMModel(unet: unet, scheduler: scheduler)
            model.schedulerFile = try DiffusersSchedulerConfiguration(contentsOf: schedulerURL)
            return model
        }
        // A folder with neither an exported model nor any checkpoint file is "no model" (below),
        // not an incomplete checkpoint: only a folder that holds a checkpoint's files is read as one.
        let checkpointFiles = [folder.appendingPathComponent(Checkpoint.weightsFile), folder.appendingPathComponent(Checkpoint.stateFile),
                               Checkpoint.partialFolder(of: folder), Checkpoint.previousFolder(of: folder)]
        if checkpointFiles.contains(where: { fm.fileExists(atPath: $0.path) }), let source = try Checkpoint.location(of: folder) {
            let configuration = try DDPMTrainer.storedConfiguration(at: folder)
            let weightsURL = source.appendingPathComponent(Checkpoint.weightsFile)
            let file = try SafetensorsFile(contentsOf: weightsURL)
            let prefix = useEMA ? "ema." : "model."
            var weights: [String: Tensor] = [:]
            for name in file.names where name.hasPrefix(prefix) {
                weights[String(name.dropFirst(prefix.count))] = try file.tensor(named: name)
            }
            try requireFinite(weights, in: weightsURL, prefix: prefix)
            let unet = try UNet2D(configuration: configuration.model, seed: 0)
            try unet.loadStateDictionary(weights)
            var isLatent = false
            if case .latents = configuration.data { isLatent = true }
            return try DDPMModel(unet: unet, scheduler: DDPMSchedulerConfiguration(
                trainingTimesteps: configuration.trainingTimesteps, betaSchedule: configuration.betaSchedule,
                prediction: configuration.prediction, clipSample: !isLatent))
        }
        throw TrainingError.invalidModel("no model at \(folder.path): expected an exported model folder (unet/config.json, unet/diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json) or a training checkpoint folder (training.json, weights.safetensors)")
    }

    /// Throws `TrainingError.invalidModel` naming the first weight that holds NaN or infinity
    /// (such a model samples a black image): a diverged run or a damaged file.
    static func requireFinite(_ weights: [String: Tensor], in url: URL, prefix: String = "") throws {
        for name in weights.keys.sorted() {
            let bad = weights[name]!.nonFiniteCount
            if bad > 0 {
                throw TrainingError.invalidModel("\(url.path): weight \(prefix)\(name) holds \(bad) NaN or infinite value(s) of "
                    + "\(weights[name]!.count); the training run had diverged or the file is damaged. Use an earlier "
                    + "checkpoint (for a training run, <run>/checkpoint.previous) or retrain with a lower learning rate")
            }
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TrainingError.invalidModel("cannot read \(url.path): \(fileErrorReason(error))")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw TrainingError.invalidModel("\(url.path) is not a valid \(T.self) JSON file: \(error)")
        }
    }

    /// Writes the diffusers `DDPMPipeline` folder (see the file comment), each file atomically.
    /// - Parameter dtype: `.f16` (default, half the size) or `.f32`.
    public func export(to folder: URL, dtype: SafetensorsDType = .f16) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: folder.appendingPathComponent("unet"), withIntermediateDirectories: true)
        try fm.createDirectory(at: folder.appendingPathComponent("scheduler"), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Safetensors.write(unet.stateDictionary(), dtype: dtype, metadata: ["format": "pt"],
                              to: folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        try AtomicFile.write(encoder.encode(unet.configuration), to: folder.appendingPathComponent("unet/config.json"))
        try AtomicFile.write(encoder.encode(scheduler), to: folder.appendingPathComponent("scheduler/scheduler_config.json"))
        let index = #"{"_class_name": "DDPMPipeline", "_diffusers_version": "0.30.0", "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"]}"#
        try AtomicFile.write(Data((index + "\n").utf8), to: folder.appendingPathComponent("model_index.json"))
    }

    // MARK: Sampling

    /// The eps/v network as a denoiser D(x, σ), conditioned on `classLabels` (one per sample, or
    /// one for all; nil: unconditional, i.e. the "no class" label of a class-conditional model).
    public func denoiser(classLabels: [Int]? = nil) -> DiscreteTimeDenoiser {
        let unet = self.unet
        let labels: [Int]? = classCount.map { classes in classLabels ?? [classes] }
        return DiscreteTimeDenoiser(schedule: schedule, prediction: prediction) { x, t in
            let batch = x.shape[0]
            let perSample = labels.map { $0.count == batch ? $0 : Array(repeating: $0[0], count: batch) }
            return unet.predict(x, timestep: t, classLabels: perSample)
        }
    }

    /// The denoiser sampling runs for `classLabels` (one per sample, or one for all) at
    /// classifier-free guidance scale `guidanceScale` (Ho & Salimans 2022, eq. 6): without labels
    /// or at scale 0 the unconditional denoiser, at scale 1 the plain conditional one, otherwise a
    /// `BatchedGuidedDenoiser` — ONE UNet call per step on [x; x], the "no class" label for the
    /// first half and `classLabels` for the second. `modelTimesteps` is passed to the
    /// `DiscreteTimeDenoiser` (a diffusers scheduler's own timestep table).
    public func denoiser(classLabels: [Int]?, guidanceScale: Double, modelTimesteps: [Double: Double] = [:]) -> any Denoiser {
        guard let classLabels, let nullLabel = classCount, guidanceScale != 0 else {
            var unconditional = denoiser(classLabels: nil)
            unconditional.modelTimesteps = modelTimesteps
            return unconditional
        }
        var conditional = denoiser(classLabels: classLabels)
        conditional.modelTimesteps = modelTimesteps
        if guidanceScale == 1 { return conditional }
        let unet = self.unet
        var paired = DiscreteTimeDenoiser(schedule: schedule, prediction: prediction) { x, t in
            let batch = x.shape[0] / 2                                  // x: [2B, C, H, W] = [x; x]
            let labels = classLabels.count == batch ? classLabels : Array(repeating: classLabels[0], count: batch)
            return unet.predict(x, timestep: t, classLabels: Array(repeating: nullLabel, count: batch) + labels)
        }
        paired.modelTimesteps = modelTimesteps
        return BatchedGuidedDenoiser(paired: paired, scale: guidanceScale)
    }

    /// The sigmas of a run: `schedule` nil or "discrete" gives the model's own sigmas at `steps`
    /// timesteps spaced as `linspace(T−1, 0, steps)` (k-diffusion's default); otherwise a
    /// named `SigmaSchedule` between the model's smallest and largest sigma. Ends in 0.
    public func sigmas(steps: Int, schedule name: String?) throws -> [Double] {
        if name == nil || name == "discrete" || name == "uniform" {
            return try schedule.sigmas(count: steps, spacing: .linspace)
        }
        return try SigmaSchedule(named: name!).sigmas(count: steps, sigmaMin: schedule.sigmaMin, sigmaMax: schedule.sigmaMax)
    }

    /// Generates `count` samples [count, C, H, W] in the data range ([−1, 1] for images).
    /// Every denoised estimate is clamped to [−1, 1] when `clipDenoised` (default: the
    /// scheduler's `clip_sample`, true for pixel models): the x₀ clipping of DDPM's sampler
    /// (Ho et al. 2020, official code `clip_denoised=True`; diffusers `clip_sample`).
    /// - Parameters:
    ///   - sampler: any name of the sampler registry (k-diffusion, AUTOMATIC1111, diffusers);
    ///     an A1111 " Karras" suffix selects that schedule unless `schedule` is given. A diffusers
    ///     scheduler class without `schedule` runs as that class does (`sampleAsDiffusers`).
    ///   - steps: sampler steps.
    ///   - schedule: nil/"discrete" or a `SigmaSchedule` name (see `sigmas(steps:schedule:)`).
    ///   - seed: the starting noise (TorchGenerator, as `torch.manual_seed(seed); torch.randn`)
    ///     and, with `seed + 1`, the noise of stochastic samplers.
    ///   - classLabels: for class-conditional models; nil samples unconditionally.
    ///   - guidanceScale: classifier-free guidance scale (1 = plain conditional).
    ///   - size: height and width (default: the model's `sample_size`).
    ///   - clipDenoised: clamp D(x, σ) to [−1, 1] (nil: `scheduler.clipSample`).
    ///   - samplerOptions: `eta` / `s_noise` for the sampler (an option it lacks is an error).
    /// - Throws: `TrainingError.nonFiniteSample` at the first step whose state or denoised
    ///   estimate holds NaN or infinity; the registry's and the schedule's errors for bad names.
    public func sample(count: Int, sampler name: String = "euler", steps: Int = 50, schedule: String? = nil,
                       seed: UInt64 = 0, classLabels: [Int]? = nil, guidanceScale: Double = 1, size: Int? = nil,
                       clipDenoised: Bool? = nil, samplerOptions: SamplerOptions = SamplerOptions(),
                       callback: SamplerCallback? = nil) throws -> Tensor {
        guard count >= 1 else { throw TrainingError.invalidOption("sample count must be at least 1, got \(count)") }
        guard guidanceScale.isFinite else { throw TrainingError.invalidOption("the guidance scale must be finite, got \(guidanceScale)") }
        let sampled: Tensor
        if let className = DiffusersSchedulerPlan.className(matching: name), schedule == nil {
            guard samplerOptions.isEmpty else {
                throw TrainingError.invalidOption("eta/s_noise apply to the k-diffusion samplers; \(className) runs as diffusers does (give a k-diffusion name or a schedule)")
            }
            sampled = try sampleAsDiffusers(className: className, count: count, steps: steps, seed: seed, classLabels: classLabels,
                                            guidanceScale: guidanceScale, size: size,
                                            callback: Self.checkingFiniteness(steps: steps, then: callback))
        } else {
            sampled = try sampleWithRegistry(count: count, sampler: name, steps: steps, schedule: schedule, seed: seed,
                                             classLabels: classLabels, guidanceScale: guidanceScale, size: size,
                                             clipDenoised: clipDenoised, samplerOptions: samplerOptions,
                                             callback: Self.checkingFiniteness(steps: steps, then: callback))
        }
        let bad = sampled.nonFiniteCount
        if bad > 0 {
            throw TrainingError.nonFiniteSample(step: steps, steps: steps, sigma: 0,
                                                quantity: "\(bad) value(s) of the final samples are NaN or infinite")
        }
        return sampled
    }

    /// `callback` preceded by a check of the step's state x and denoised estimate: the first
    /// NaN or infinity stops sampling with `TrainingError.nonFiniteSample` naming the step
    /// where it appeared (as the Stable Diffusion pipeline does).
    static func checkingFiniteness(steps: Int, then callback: SamplerCallback?) -> SamplerCallback {
        { step in
            let badX = step.x.nonFiniteCount
            if badX > 0 {
                throw TrainingError.nonFiniteSample(step: step.index + 1, steps: steps, sigma: step.sigma,
                                                    quantity: "\(badX) value(s) of the sampler's state x are NaN or infinite "
                                                        + (step.index == 0 ? "at the start" : "after step \(step.index)"))
            }
            let badDenoised = step.denoised.nonFiniteCount
            if badDenoised > 0 {
                throw TrainingError.nonFiniteSample(step: step.index + 1, steps: steps, sigma: step.sigma,
                                                    quantity: "\(badDenoised) value(s) of the model's denoised estimate are NaN or infinite")
            }
            try callback?(step)
        }
    }

    private func sampleWithRegistry(count: Int, sampler name: String, steps: Int, schedule: String?, seed: UInt64,
                                    classLabels: [Int]?, guidanceScale: Double, size: Int?, clipDenoised: Bool?,
                                    samplerOptions: SamplerOptions, callback: SamplerCallback?) throws -> Tensor {
        let choice = try SamplerRegistry.resolve(name)
        let sampler = try choice.name.applying(samplerOptions, to: choice.sampler)
        let scheduleName = schedule ?? choice.schedule?.rawValue
        let sigmas = try self.sigmas(steps: steps, schedule: scheduleName)
        let side = size ?? unet.configuration.sampleSize
        let factor = unet.configuration.downsamplingFactor
        guard side > 0, side % factor == 0 else {
            throw TrainingError.invalidOption("image size \(side) must be a positive multiple of \(factor) for this UNet")
        }
        if let classLabels {
            guard let classes = classCount else {
                throw TrainingError.invalidOption("class labels were given but the model is not class-conditional")
            }
            guard classLabels.count == 1 || classLabels.count == count, classLabels.allSatisfy({ (0..<classes).contains($0) }) else {
                throw TrainingError.invalidOption("class labels must be one label or \(count) labels, each in 0..<\(classes)")
            }
        }
        var denoiser = self.denoiser(classLabels: classLabels, guidanceScale: guidanceScale)
        if clipDenoised ?? scheduler.clipSample {
            let inner = denoiser
            denoiser = ClosureDenoiser { x, sigma in
                try inner.denoise(x, sigma: sigma).map { Swift.min(Swift.max($0, -1), 1) }
            }
        }
        var generator = TorchGenerator(seed: seed)
        let x = generator.randn([count, unet.configuration.inChannels, side, side]) * Float(sigmas[0])
        return try sampler.sample(denoiser, x: x, sigmas: sigmas, seed: seed &+ 1, callback: callback)
    }
}

/// Images in [−1, 1] ([N, C, H, W]) as one grid image in [0, 1] ([C, H', W']), `columns` wide.
public func imageGridFromModelRange(_ images: Tensor, columns: Int, padding: Int = 2) -> Tensor {
    let unit = images.map { Swift.min(Swift.max(($0 + 1) / 2, 0), 1) }
    return imageGrid(unit, columns: columns, padding: padding, padValue: 1)
}
