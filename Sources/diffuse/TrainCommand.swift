// Contract: `diffuse train` — builds a `DDPMTrainingConfiguration` from options, starts a run in
// `--output` or resumes the checkpoint found there (refusing a different configuration), and
// trains to `--steps` total steps with a progress line (loss, images/s, ETA). Every
// `--checkpoint-every` steps it writes the checkpoint atomically; every `--sample-every` steps a
// grid of EMA samples (`samples/step-NNNNNN.png`, `samples/latest.png`) and the loss curve
// (`loss.png`, `loss.csv`). A non-finite loss, gradient norm or weight stops the run with exit
// status 1 and a message naming the step, the flags to change (--lr, --warmup) and the last good
// checkpoint, which is kept: nothing non-finite is saved. Run folder layout:
//   <output>/checkpoint/   training checkpoint (weights.safetensors, training.json)
//   <output>/checkpoint.previous/  the checkpoint before it (see Checkpoint.swift)
//   <output>/samples/      sample grids
//   <output>/loss.png, loss.csv, command.txt

import ArgumentParser
import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a DDPM UNet (eps or v prediction) with AdamW, warmup and EMA; resumes from <output>/checkpoint.")

    @Option(help: "Run folder (checkpoint, samples, loss curve). An existing checkpoint there is resumed.")
    var output: String = "runs/ddpm"
    @Option(parsing: .unconditional, help: "Total optimizer steps to reach (a resumed run continues to this count).")
    var steps: Int = 10_000
    @Option(help: "Training data: fashion-mnist, folder:<path of PNGs>, or latents:<file.safetensors>.")
    var data: String = "fashion-mnist"
    @Option(parsing: .unconditional, help: "Use only the first N examples (quick experiments).")
    var limit: Int?
    @Option(help: "Channels per UNet level, comma-separated.")
    var channels: String = "32,64,128"
    @Option(parsing: .unconditional, help: "ResNet blocks per down level.")
    var layersPerBlock: Int = 1
    @Option(help: "Levels (0 = full resolution) with self-attention, comma-separated, or none.")
    var attentionLevels: String = "2"
    @Option(parsing: .unconditional, help: "Channels per attention head.")
    var headDim: Int = 32
    @Option(parsing: .unconditional, help: "GroupNorm groups.")
    var groups: Int = 8
    @Option(parsing: .unconditional, help: "Dropout in the ResNet blocks.")
    var dropout: Float = 0
    @Flag(help: "Condition on class labels (Fashion-MNIST's 10 classes) with label dropout for guidance.")
    var classConditional = false
    @Option(parsing: .unconditional, help: "Probability of dropping a label to the 'no class' label (class-conditional runs).")
    var labelDropout: Float = 0.1
    @Option(help: "What the network predicts (v_prediction and eps are accepted too).")
    var prediction: PredictionArgument = .epsilon
    @Option(help: "Beta schedule (squaredcos_cap_v2 is accepted for cosine).")
    var schedule: BetaScheduleArgument = .linear
    @Option(parsing: .unconditional, help: "Number of diffusion timesteps T.")
    var timesteps: Int = 1000
    @Option(parsing: .unconditional, help: "Images per step.")
    var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "Peak learning rate (AdamW).")
    var lr: Float = 2e-4
    @Option(parsing: .unconditional, help: "Linear warmup steps.")
    var warmup: Int = 200
    @Option(parsing: .unconditional, help: "Start a cosine decay of the learning rate at this step (0-based update number; may be added to a run that has not reached it).")
    var lrDecayStart: Int?
    @Option(parsing: .unconditional, help: "Steps of the cosine decay from --lr down to --lr-final (needs --lr-decay-start).")
    var lrDecaySteps: Int?
    @Option(parsing: .unconditional, help: "The learning rate at the end of the decay and afterwards.")
    var lrFinal: Float = 0
    @Option(parsing: .unconditional, help: "AdamW weight decay.")
    var weightDecay: Float = 0
    @Option(parsing: .unconditional, help: "EMA decay (warmed up as min(decay, (1+n)/(10+n))).")
    var emaDecay: Float = 0.999
    @Option(parsing: .unconditional, help: "Clip the gradient norm to this value (0 disables).")
    var maxGradNorm: Float = 1
    @Option(parsing: .unconditional, help: "Seed for initialization, data order, timesteps and noise.")
    var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Write a checkpoint every N steps (and at the end).")
    var checkpointEvery: Int = 250
    @Option(parsing: .unconditional, help: "Write a sample grid and the loss curve every N steps (0 disables).")
    var sampleEvery: Int = 500
    @Option(parsing: .unconditional, help: "Images in each sample grid.")
    var sampleCount: Int = 36
    @Option(help: "Sampler for the sample grids (any registry name).")
    var sampleSampler: SamplerArgument = SamplerArgument(argument: "euler_ancestral")!
    @Option(parsing: .unconditional, help: "Sampler steps for the sample grids.")
    var sampleSteps: Int = 50
    @Option(help: "Latent data: the TAESD folder that decodes the sample grids (grids are skipped when it is missing).")
    var vae: String = "../shared/weights/taesd-sd1"

    func validate() throws {
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        typealias L = ConfigurationLimits
        try require(steps >= 1, "--steps must be at least 1, got \(steps)")
        try require(checkpointEvery >= 1, "--checkpoint-every must be at least 1, got \(checkpointEvery)")
        try require(sampleEvery >= 0, "--sample-every must be >= 0, got \(sampleEvery)")
        try require((1...1024).contains(sampleCount), "--sample-count must lie in 1...1024, got \(sampleCount)")
        try require(L.samplerSteps.contains(sampleSteps), "--sample-steps must lie in \(L.samplerSteps.lowerBound)...\(L.samplerSteps.upperBound), got \(sampleSteps)")
        if let limit { try require(limit >= 1, "--limit must be at least 1 (the number of training examples to read), got \(limit)") }
        try require(L.count.contains(layersPerBlock), "--layers-per-block must lie in \(L.count.lowerBound)...\(L.count.upperBound), got \(layersPerBlock)")
        try require(L.width.contains(headDim), "--head-dim must lie in \(L.width.lowerBound)...\(L.width.upperBound) (channels per attention head), got \(headDim)")
        try require(L.width.contains(groups), "--groups must lie in \(L.width.lowerBound)...\(L.width.upperBound) (GroupNorm groups, dividing every level's channels), got \(groups)")
        try require(L.trainingTimesteps.contains(timesteps), "--timesteps must lie in \(L.trainingTimesteps.lowerBound)...\(L.trainingTimesteps.upperBound), got \(timesteps)")
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        try require(lr.isFinite && lr > 0, "--lr must be a finite positive number, got \(lr)")
        try require(warmup >= 0, "--warmup must be >= 0, got \(warmup)")
        try require((lrDecayStart == nil) == (lrDecaySteps == nil), "--lr-decay-start and --lr-decay-steps go together (the decay's first step and its length)")
        if let start = lrDecayStart, let length = lrDecaySteps {
            try require(start >= warmup, "--lr-decay-start must be at or after the warmup's end (--warmup \(warmup)), got \(start)")
            try require(length >= 1, "--lr-decay-steps must be at least 1, got \(length)")
            try require(lrFinal.isFinite && lrFinal >= 0 && lrFinal <= lr, "--lr-final must lie in [0, --lr \(lr)], got \(lrFinal)")
        }
        try require(weightDecay.isFinite && weightDecay >= 0, "--weight-decay must be a finite number >= 0, got \(weightDecay)")
        try require(emaDecay >= 0 && emaDecay < 1, "--ema-decay must lie in [0, 1), got \(emaDecay)")
        try require(maxGradNorm.isFinite && maxGradNorm >= 0, "--max-grad-norm must be a finite number >= 0 (0 disables clipping), got \(maxGradNorm)")
        try require(dropout >= 0 && dropout < 1, "--dropout must lie in [0, 1), got \(dropout)")
        try require(labelDropout >= 0 && labelDropout < 1, "--label-dropout must lie in [0, 1), got \(labelDropout)")
    }

    func makeConfiguration() throws -> DDPMTrainingConfiguration {
        let source: TrainingDataSource
        if data == "fashion-mnist" || data == "fashion_mnist" {
            source = .fashionMNIST(folder: nil)
        } else if data.hasPrefix("folder:") {
            source = .imageFolder(String(data.dropFirst("folder:".count)))
        } else if data.hasPrefix("latents:") {
            source = .latents(String(data.dropFirst("latents:".count)))
        } else {
            throw ValidationError("--data \"\(data)\": use fashion-mnist, folder:<path> or latents:<file.safetensors>")
        }
        let levels = try parseIntegers(channels, option: "--channels")
        let attention = Set(try parseIntegers(attentionLevels, option: "--attention-levels"))
        if let bad = attention.first(where: { !levels.indices.contains($0) }) {
            throw ValidationError("--attention-levels: level \(bad) does not exist (levels 0..<\(levels.count))")
        }
        var inChannels = 1
        var classes: Int? = nil
        switch source {
        case .fashionMNIST: classes = classConditional ? 10 : nil
        case .imageFolder:
            if classConditional { throw ValidationError("--class-conditional needs labelled data (fashion-mnist or latents with labels)") }
            inChannels = 0       // read from the data below
        case .latents:
            inChannels = 0
            classes = classConditional ? 1 : nil   // the class count is read from the labels below
        }
        let model = UNet2DConfiguration(sampleSize: 32, inChannels: max(inChannels, 1), outChannels: max(inChannels, 1),
                                        blockOutChannels: levels, layersPerBlock: layersPerBlock, attentionLevels: attention,
                                        attentionHeadDim: headDim, normNumGroups: groups, numClassEmbeds: classes.map { $0 + 1 },
                                        dropout: dropout)
        return DDPMTrainingConfiguration(
            model: model, prediction: prediction.prediction, betaSchedule: schedule.schedule,
            trainingTimesteps: timesteps, batchSize: batchSize, learningRate: lr, warmupSteps: warmup,
            weightDecay: weightDecay, emaDecay: emaDecay, maxGradientNorm: maxGradNorm > 0 ? maxGradNorm : nil,
            labelDropout: classConditional ? labelDropout : 0, data: source, seed: seed,
            learningRateDecay: lrDecayStart.flatMap { start in
                lrDecaySteps.map { LearningRateDecay(startStep: start, steps: $0, finalRate: lrFinal) }
            })
    }

    func run() throws {
        // Every step frees and reallocates the same large activations: keep them in the heap.
        TensorStorage.keepFreedMemoryForReuse()
        try reportingErrors {
            var configuration = try makeConfiguration()
            try configuration.validate()          // the UNet's sizes and the schedule, before reading any data
            let dataset = try configuration.data.load(limit: limit)
            // Image folders and latents decide channels and size.
            let item = Array(dataset.inputs.shape.dropFirst())
            guard item.count == 3, item[1] == item[2] else {
                throw ValidationError("--data \(data): the examples are \(item.dropFirst().map { String($0) }.joined(separator: "x")) (height x width); the UNet trains on square images: crop or resize them to one square size first")
            }
            configuration.model.inChannels = item[0]
            configuration.model.outChannels = item[0]
            configuration.model.sampleSize = item[1]
            if configuration.classCount != nil, case .latents = configuration.data {
                configuration.model.numClassEmbeds = (dataset.labels.max() ?? 0) + 2
            }
            let folder = URL(fileURLWithPath: output)
            let checkpoint = folder.appendingPathComponent("checkpoint")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("samples"), withIntermediateDirectories: true)
            let trainer: DDPMTrainer
            if let source = try Checkpoint.location(of: checkpoint) {
                trainer = try DDPMTrainer.resume(from: checkpoint, configuration: configuration, dataset: dataset)
                log("resuming \(source.path) at step \(trainer.step)"
                    + (source == checkpoint ? "" : " (the last save was interrupted; this is the newest complete copy)"))
            } else {
                trainer = try DDPMTrainer(configuration: configuration, dataset: dataset)
                log("new run in \(folder.path)")
            }
            let command = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
            try? AtomicFile.write(Data((command + "\n").utf8), to: folder.appendingPathComponent("command.txt"))
            log("model: \(trainer.model.parameterCount) parameters, channels \(configuration.model.blockOutChannels), attention at levels \(configuration.model.attentionLevels); data: \(dataset.count) examples \(item) from \(configuration.data.summary); \(configuration.prediction.rawValue) prediction, \(configuration.betaSchedule.rawValue) betas, batch \(configuration.batchSize)")
            try train(trainer, folder: folder, checkpoint: checkpoint, decoder: try latentDecoder(configuration.data))
        }
    }

    /// Maps sampled latents to images in [−1, 1] for the sample grids: identity for pixel data;
    /// for latent data, the TAESD decoder at the file's `scaling_factor`, or nil (no grids) when
    /// the TAESD folder is missing.
    func latentDecoder(_ source: TrainingDataSource) throws -> ((Tensor) throws -> Tensor)? {
        guard case .latents(let path) = source else { return { $0 } }
        let taesdFolder = URL(fileURLWithPath: vae)
        guard FileManager.default.fileExists(atPath: taesdFolder.appendingPathComponent(TAESD.decoderFileName).path) else {
            log("warning: no TAESD decoder in \(vae); sample grids are skipped (pass --vae <folder>)")
            return nil
        }
        let taesd = try TAESD.load(directory: taesdFolder)
        let factor = try SafetensorsFile(contentsOf: URL(fileURLWithPath: path)).metadata["scaling_factor"].flatMap(Double.init) ?? 1
        log("sample grids: latents / \(factor) decoded by TAESD (\(vae))")
        return { latents in try LatentDataset.decode(latents, with: taesd.decoder, scalingFactor: factor) }
    }

    func train(_ trainer: DDPMTrainer, folder: URL, checkpoint: URL, decoder: ((Tensor) throws -> Tensor)?) throws {
        let startStep = trainer.step
        guard startStep < steps else {
            log("the checkpoint is already at step \(startStep) >= --steps \(steps); nothing to do")
            return
        }
        let progress = ProgressBar(total: steps - startStep, label: "train", logInterval: 30)
        let clock = ContinuousClock()
        let start = clock.now
        var recent: [Float] = []
        var savedStep: Int? = startStep > 0 ? startStep : nil
        while trainer.step < steps {
            let loss: Float
            do {
                loss = try trainer.trainStep()
            } catch let TrainingError.diverged(step, quantity, _, _) {
                throw Diverged(step: step, quantity: quantity, command: self, savedStep: savedStep, checkpoint: checkpoint)
            }
            recent.append(loss)
            if recent.count > 100 { recent.removeFirst() }
            let elapsed = (clock.now - start) / .seconds(1)
            let imagesPerSecond = Double((trainer.step - startStep) * trainer.configuration.batchSize) / max(elapsed, 1e-9)
            let mean = recent.reduce(0, +) / Float(recent.count)
            progress.advance(message: String(format: "step %d loss %.4f (mean of last %d: %.4f) %.1f img/s",
                                             trainer.step, loss, recent.count, mean, imagesPerSecond))
            let isLast = trainer.step == steps
            if trainer.step % checkpointEvery == 0 || isLast {
                do {
                    try trainer.save(to: checkpoint)
                } catch let TrainingError.diverged(step, quantity, _, _) {
                    throw Diverged(step: step, quantity: quantity, command: self, savedStep: savedStep, checkpoint: checkpoint)
                }
                savedStep = trainer.step
            }
            if (sampleEvery > 0 && trainer.step % sampleEvery == 0) || isLast {
                try writeSamplesAndCurve(trainer, folder: folder, decoder: decoder)
            }
        }
        progress.finish()
        let elapsed = (clock.now - start) / .seconds(1)
        log(String(format: "trained steps %d..%d in %.0f s: %.1f images/s", startStep, trainer.step, elapsed,
                   Double((trainer.step - startStep) * trainer.configuration.batchSize) / elapsed))
    }

    func writeSamplesAndCurve(_ trainer: DDPMTrainer, folder: URL, decoder: ((Tensor) throws -> Tensor)?) throws {
        try writeLossCurve(trainer.losses, folder: folder)
        guard let decoder else { return }
        let model = try DDPMModel(trainer: trainer)
        let labels: [Int]? = model.classCount.map { classes in (0..<sampleCount).map { $0 % classes } }
        let images = try decoder(model.sample(count: sampleCount, sampler: sampleSampler.label, steps: sampleSteps, seed: 0,
                                              classLabels: labels, guidanceScale: labels == nil ? 1 : 3))
        let columns = Int(Double(sampleCount).squareRoot().rounded(.up))
        let grid = imageGridFromModelRange(images, columns: columns)
        try PNG.write(grid, to: folder.appendingPathComponent(String(format: "samples/step-%06d.png", trainer.step)))
        try PNG.write(grid, to: folder.appendingPathComponent("samples/latest.png"))
    }

    func writeLossCurve(_ losses: [Float], folder: URL) throws {
        var csv = "step,loss\n"
        for (i, l) in losses.enumerated() { csv += "\(i + 1),\(l)\n" }
        try AtomicFile.write(Data(csv.utf8), to: folder.appendingPathComponent("loss.csv"))
        guard Gnuplot.isAvailable, losses.count >= 2 else { return }
        let window = max(1, min(100, losses.count / 10))
        var smoothed: [Double] = []
        var sum = 0.0
        for (i, l) in losses.enumerated() {
            sum += Double(l)
            if i >= window { sum -= Double(losses[i - window]) }
            smoothed.append(sum / Double(min(i + 1, window)))
        }
        var plot = Plot(title: "DDPM training loss", xLabel: "step", yLabel: "MSE loss", logY: true)
        let steps = losses.indices.map { Double($0 + 1) }
        plot.line(x: steps, y: losses.map(Double.init), title: "per step", color: "#c0c0c0", lineWidth: 1)
        plot.line(x: steps, y: smoothed, title: "mean of \(window) steps", color: "#1f77b4", lineWidth: 2)
        do {
            try Figure(plot, width: 800, height: 450).savePNG(to: folder.appendingPathComponent("loss.png"))
        } catch {
            log("warning: could not draw the loss curve: \(error)")
        }
    }
}

/// A run stopped by a NaN or infinity: what diverged, the flags to change and where the last
/// good checkpoint is.
struct Diverged: Error, CustomStringConvertible {
    let step: Int
    let quantity: String
    let command: TrainCommand
    let savedStep: Int?
    let checkpoint: URL

    var description: String {
        let defaults = (try? TrainCommand.parse([])) ?? command
        let kept = savedStep.map { "The last good checkpoint (step \($0)) is kept in \(checkpoint.path); nothing was saved after it." }
            ?? "No checkpoint was saved: the run diverged before its first one."
        return "training diverged at step \(step): \(quantity). The learning rate is likely too high for this model: "
            + "--lr \(command.lr) with --warmup \(command.warmup) (the defaults are --lr \(defaults.lr) --warmup \(defaults.warmup)); "
            + "lower --lr or lengthen --warmup. With a usual learning rate, check the data (--data \(command.data)) for extreme values. "
            + kept
    }
}

/// Prints a line to standard error (standard output stays free for results).
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
