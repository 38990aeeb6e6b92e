// DDPM training on tiny models: the noising formulas against their inverses, the loss going down
// on a fixed batch, exact resumption from a checkpoint, configuration mismatch errors, EMA decay
// warmup against diffusers' formula, export/load round trips, and sampling shape/determinism.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct TrainingTests {
    /// A 2-level UNet small enough for many steps in a test (attention at the 4×4 level).
    static func tinyConfiguration(classes: Int? = nil, prediction: DiscreteTimeDenoiser.Prediction = .epsilon,
                                  seed: UInt64 = 0) -> DDPMTrainingConfiguration {
        let model = UNet2DConfiguration(sampleSize: 8, inChannels: 1, outChannels: 1, blockOutChannels: [8, 16],
                                        layersPerBlock: 1, attentionLevels: [1], attentionHeadDim: 8, normNumGroups: 4,
                                        numClassEmbeds: classes.map { $0 + 1 })
        return DDPMTrainingConfiguration(model: model, prediction: prediction, betaSchedule: .linear, trainingTimesteps: 100,
                                         batchSize: 4, learningRate: 1e-3, warmupSteps: 2, emaDecay: 0.99,
                                         labelDropout: classes == nil ? 0 : 0.2, data: .imageFolder("unused"), seed: seed)
    }

    /// 12 random 8×8 "images" in [-1, 1] with labels 0, 1, 2.
    static func tinyDataset() -> LabelledDataset {
        var g = TorchGenerator(seed: 7)
        let x = g.rand([12, 1, 8, 8]) * 2 - 1
        return LabelledDataset(inputs: x, labels: (0..<12).map { $0 % 3 })
    }

    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ddpm-tests-\(UUID().uuidString)")
    }

    @Test(arguments: [DiscreteTimeDenoiser.Prediction.epsilon, .vPrediction])
    func noisingInvertsToCleanImageAndNoise(prediction: DiscreteTimeDenoiser.Prediction) throws {
        let schedule = try DiscreteNoiseSchedule.linear(trainingSteps: 1000)
        var g = TorchGenerator(seed: 3)
        let x0 = g.randn([3, 1, 2, 2]), eps = g.randn([3, 1, 2, 2])
        let timesteps = [0, 499, 999]
        let (xt, target) = DDPMTrainer.noised(x0, timesteps: timesteps, noise: eps, schedule: schedule, prediction: prediction)
        for (b, t) in timesteps.enumerated() {
            let a = schedule.alphasCumprod[t].squareRoot(), s = (1 - schedule.alphasCumprod[t]).squareRoot()
            for i in 0..<4 {
                let x = Double(xt[b, 0, i / 2, i % 2]), y = Double(target[b, 0, i / 2, i % 2])
                let clean = Double(x0[b, 0, i / 2, i % 2]), noise = Double(eps[b, 0, i / 2, i % 2])
                #expect(abs(x - (a * clean + s * noise)) < 1e-5)
                switch prediction {
                case .epsilon:
                    #expect(y == noise)
                case .vPrediction:
                    // Salimans & Ho 2022, §4: x0 = a·x_t − s·v and eps = s·x_t + a·v.
                    #expect(abs(a * x - s * y - clean) < 1e-5)
                    #expect(abs(s * x + a * y - noise) < 1e-5)
                }
            }
        }
    }

    @Test func emaDecayFollowsDiffusersWarmup() {
        // diffusers EMAModel.get_decay(optimization_step): step = optimization_step - 1;
        // 0 if step <= 0 else min(decay, (1 + step) / (10 + step)).
        #expect(DDPMTrainer.emaDecay(maximum: 0.999, update: 1) == 0)
        #expect(DDPMTrainer.emaDecay(maximum: 0.999, update: 2) == Float(2) / 11)
        #expect(DDPMTrainer.emaDecay(maximum: 0.999, update: 101) == Float(101) / 110)
        #expect(DDPMTrainer.emaDecay(maximum: 0.999, update: 100_000) == 0.999)
    }

    @Test(arguments: [DiscreteTimeDenoiser.Prediction.epsilon, .vPrediction])
    func lossDecreasesOnAFixedBatch(prediction: DiscreteTimeDenoiser.Prediction) throws {
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(prediction: prediction), dataset: Self.tinyDataset())
        let (x0, _) = trainer.dataset.batch([0, 1, 2, 3])
        var g = TorchGenerator(seed: 11)
        let noise = g.randn(x0.shape)
        let timesteps = [5, 30, 60, 95]
        var losses: [Float] = []
        for _ in 0..<40 {
            trainer.optimizer.zeroGrad()
            let loss = trainer.loss(x0: x0, labels: nil, timesteps: timesteps, noise: noise)
            loss.backward()
            trainer.optimizer.step()
            losses.append(loss.value.item)
        }
        // Fitting one batch with fixed noise is plain regression: the loss must fall a lot.
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.last! < 0.5 * losses.first!, "losses \(losses.first!) → \(losses.last!)")
    }

    @Test func trainStepsReduceTheLossAndFillHistory() throws {
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: Self.tinyDataset())
        // The loss on one fixed batch (all 12 images, fixed timesteps and noise) before and after.
        var g = TorchGenerator(seed: 11)
        let data = Self.tinyDataset(), noise = g.randn(data.inputs.shape)
        let timesteps = (0..<12).map { 5 + 8 * $0 }
        func fixedLoss() -> Float {
            withoutGradients { trainer.loss(x0: data.inputs, labels: nil, timesteps: timesteps, noise: noise).value.item }
        }
        let before = fixedLoss()
        for _ in 0..<40 { try trainer.trainStep() }
        let after = fixedLoss()
        #expect(trainer.step == 40)
        #expect(trainer.losses.count == 40 && trainer.losses.allSatisfy(\.isFinite))
        #expect(after < 0.8 * before, "fixed-batch loss \(before) -> \(after) after 40 steps")
        #expect(trainer.learningRate(at: 0) == 5e-4)   // warmup: lr/W at step 0 ... lr at step W
        #expect(trainer.learningRate(at: 2) == 1e-3)
    }

    /// Label dropout replaces labels with the unconditional class at the configured rate: 20% of
    /// 20 000 labels within 4 standard errors (sqrt(0.2 * 0.8 / n) = 0.28%), and never another.
    @Test func labelDropoutRate() {
        var g = TorchGenerator(seed: 5)
        let labels = (0..<20_000).map { $0 % 3 }
        let dropped = DDPMTrainer.droppingLabels(labels, unconditional: 3, probability: 0.2, generator: &g)
        let fraction = Double(dropped.filter { $0 == 3 }.count) / Double(labels.count)
        #expect(abs(fraction - 0.2) <= 4 * (0.2 * 0.8 / Double(labels.count)).squareRoot(), "dropped \(fraction)")
        #expect(zip(labels, dropped).allSatisfy { $1 == $0 || $1 == 3 })
        #expect(DDPMTrainer.droppingLabels(labels, unconditional: 3, probability: 0, generator: &g) == labels)
    }

    @Test func resumingIsBitExact() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration = Self.tinyConfiguration(classes: 3)
        let straight = try DDPMTrainer(configuration: configuration, dataset: Self.tinyDataset())
        for _ in 0..<5 { try straight.trainStep() }

        let first = try DDPMTrainer(configuration: configuration, dataset: Self.tinyDataset())
        for _ in 0..<2 { try first.trainStep() }
        try first.save(to: folder)
        let resumed = try DDPMTrainer.resume(from: folder, configuration: configuration, dataset: Self.tinyDataset())
        #expect(resumed.step == 2)
        for _ in 0..<3 { try resumed.trainStep() }

        #expect(resumed.losses == straight.losses)
        let a = straight.model.stateDictionary(), b = resumed.model.stateDictionary()
        #expect(a.keys.sorted() == b.keys.sorted())
        for (name, value) in a { #expect(value.scalars == b[name]!.scalars, "\(name) differs after resuming") }
        for (name, value) in straight.ema.shadows { #expect(value.scalars == resumed.ema.shadows[name]!.scalars, "EMA \(name)") }
    }

    @Test func resumingWithAnotherConfigurationNamesTheDifference() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: Self.tinyDataset())
        try trainer.trainStep()
        try trainer.save(to: folder)
        var other = Self.tinyConfiguration()
        other.learningRate = 5e-4
        other.model.blockOutChannels = [8, 32]
        let error = try #require(throws: TrainingError.self) {
            try DDPMTrainer.resume(from: folder, configuration: other, dataset: Self.tinyDataset())
        }
        #expect(error.description.contains("learningRate"))
        #expect(error.description.contains("block_out_channels"))
    }

    @Test func learningRateDecayFollowsTheCosineFormula() throws {
        var configuration = Self.tinyConfiguration()
        configuration.learningRateDecay = LearningRateDecay(startStep: 4, steps: 8, finalRate: 1e-4)
        let trainer = try DDPMTrainer(configuration: configuration, dataset: Self.tinyDataset())
        let peak = Double(configuration.learningRate), final = 1e-4
        for step in 0..<20 {
            // Warmup lr·(1/W + (1 − 1/W)·t/W) for t < W = 2, the peak until step 4, then
            // η_min + (η₀ − η_min)(1 + cos(π·min(t − 4, 8)/8))/2 (SGDR eq. 5).
            let expected: Double
            if step < 2 { expected = peak * (0.5 + 0.5 * Double(step) / 2) }
            else if step < 4 { expected = peak }
            else { expected = final + (peak - final) * (1 + cos(Double.pi * Double(min(step - 4, 8)) / 8)) / 2 }
            #expect(abs(Double(trainer.learningRate(at: step)) - expected) <= 1e-7 * peak, "step \(step)")
        }
        var bad = Self.tinyConfiguration()
        bad.learningRateDecay = LearningRateDecay(startStep: 1, steps: 8)   // before the warmup's end
        #expect(throws: TrainingError.self) { try bad.validate() }
        bad.learningRateDecay = LearningRateDecay(startStep: 2, steps: 0)
        #expect(throws: TrainingError.self) { try bad.validate() }
    }

    @Test func aDecayAddedBeforeItStartsResumesAsAStraightRun() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var decayed = Self.tinyConfiguration()
        decayed.learningRateDecay = LearningRateDecay(startStep: 3, steps: 2)
        let straight = try DDPMTrainer(configuration: decayed, dataset: Self.tinyDataset())
        for _ in 0..<6 { try straight.trainStep() }

        let constant = try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: Self.tinyDataset())
        for _ in 0..<3 { try constant.trainStep() }
        try constant.save(to: folder)
        let resumed = try DDPMTrainer.resume(from: folder, configuration: decayed, dataset: Self.tinyDataset())
        for _ in 0..<3 { try resumed.trainStep() }
        #expect(resumed.losses == straight.losses)
        let a = straight.model.stateDictionary(), b = resumed.model.stateDictionary()
        for (name, value) in a { #expect(value.scalars == b[name]!.scalars, "\(name) differs after resuming") }
        // ... and the decay took effect: the constant-rate run continued from the same step ends elsewhere.
        for _ in 0..<3 { try constant.trainStep() }
        let c = constant.model.stateDictionary()
        #expect(a.contains { name, value in value.scalars != c[name]!.scalars })

        // A decay that would have changed steps already taken is refused, naming the step.
        var late = Self.tinyConfiguration()
        late.learningRateDecay = LearningRateDecay(startStep: 2, steps: 2)
        let error = try #require(throws: TrainingError.self) {
            try DDPMTrainer.resume(from: folder, configuration: late, dataset: Self.tinyDataset())
        }
        #expect(error.description.contains("learningRateDecay") && error.description.contains("step 3"))
    }

    @Test func dataThatDoesNotFitTheModelIsAnError() throws {
        var g = TorchGenerator(seed: 1)
        let wrongChannels = LabelledDataset(inputs: g.rand([4, 3, 8, 8]), labels: [0, 0, 0, 0])
        #expect(throws: TrainingError.self) { try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: wrongChannels) }
        let oddSize = LabelledDataset(inputs: g.rand([4, 1, 7, 7]), labels: [0, 0, 0, 0])
        #expect(throws: TrainingError.self) { try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: oddSize) }
        let badLabels = LabelledDataset(inputs: g.rand([4, 1, 8, 8]), labels: [0, 1, 2, 3])
        #expect(throws: TrainingError.self) { try DDPMTrainer(configuration: Self.tinyConfiguration(classes: 3), dataset: badLabels) }
    }

    @Test func exportedModelLoadsWithTheSameWeights() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: Self.tinyDataset())
        for _ in 0..<3 { try trainer.trainStep() }
        let model = try DDPMModel(trainer: trainer)
        try model.export(to: folder.appendingPathComponent("f32"), dtype: .f32)
        try model.export(to: folder.appendingPathComponent("f16"))
        let f32 = try DDPMModel.load(from: folder.appendingPathComponent("f32"))
        let f16 = try DDPMModel.load(from: folder.appendingPathComponent("f16"))
        let expected = model.unet.stateDictionary()
        for (name, value) in f32.unet.stateDictionary() { #expect(value.scalars == expected[name]!.scalars, "\(name)") }
        for (name, value) in f16.unet.stateDictionary() {
            // Float16 keeps 11 significant bits: relative rounding error at most 2^-11.
            let reference = expected[name]!.scalars
            for (x, y) in zip(value.scalars, reference) { #expect(abs(x - y) <= abs(y) * 0x1p-11 + 1e-7, "\(name)") }
        }
        #expect(f32.prediction == .epsilon && f32.schedule == model.schedule)
        // The checkpoint folder itself also loads (EMA weights by default).
        try trainer.save(to: folder.appendingPathComponent("checkpoint"))
        let fromCheckpoint = try DDPMModel.load(from: folder.appendingPathComponent("checkpoint"))
        for (name, value) in fromCheckpoint.unet.stateDictionary() { #expect(value.scalars == expected[name]!.scalars, "\(name)") }
    }

    @Test func missingOrMismatchedModelsAreErrors() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: TrainingError.self) { try DDPMModel.load(from: folder) }
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(), dataset: Self.tinyDataset())
        let model = try DDPMModel(trainer: trainer)
        try model.export(to: folder)
        // A config that no longer matches the weights: every mismatch is reported by name.
        var configuration = model.unet.configuration
        configuration.blockOutChannels = [8, 24]
        configuration.attentionHeadDim = 8
        try JSONEncoder().encode(configuration).write(to: folder.appendingPathComponent("unet/config.json"))
        let error = try #require(throws: StateDictionaryError.self) { try DDPMModel.load(from: folder) }
        #expect(error.description.contains("down_blocks.1.resnets.0.conv1.weight"))
    }

    @Test(arguments: ["euler", "DPM++ 2M Karras", "ddim", "euler_ancestral"])
    func samplingIsSeededAndShaped(sampler: String) throws {
        let trainer = try DDPMTrainer(configuration: Self.tinyConfiguration(classes: 3), dataset: Self.tinyDataset())
        let model = try DDPMModel(trainer: trainer)
        let a = try model.sample(count: 2, sampler: sampler, steps: 3, seed: 5, classLabels: [1, 2], guidanceScale: 2)
        let b = try model.sample(count: 2, sampler: sampler, steps: 3, seed: 5, classLabels: [1, 2], guidanceScale: 2)
        #expect(a.shape == [2, 1, 8, 8])
        #expect(a.scalars == b.scalars)
        #expect(a.scalars.allSatisfy { $0.isFinite })
        #expect(throws: TrainingError.self) { try model.sample(count: 1, steps: 2, classLabels: [3]) }
        // Euler's last step (to sigma = 0) returns the denoised estimate, which is clamped.
        #expect(model.scheduler.clipSample)
        let clipped = try model.sample(count: 2, sampler: "euler", steps: 3, seed: 5, clipDenoised: true)
        #expect(clipped.scalars.allSatisfy { abs($0) <= 1 })
        #expect(throws: DiffusionError.self) { try model.sample(count: 1, sampler: "no_such_sampler", steps: 2) }
    }

    @Test func latentsAndImageFoldersLoad() throws {
        let folder = Self.temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var g = TorchGenerator(seed: 2)
        let latents = g.randn([3, 4, 8, 8])
        let good = folder.appendingPathComponent("latents.safetensors")
        try Safetensors.write(["latents": latents, "labels": Tensor(shape: [3], scalars: [2, 0, 1])], to: good)
        let data = try TrainingDataSource.latents(good.path).load(limit: 2)
        #expect(data.inputs.shape == [2, 4, 8, 8] && data.labels == [2, 0])
        #expect(data.inputs.scalars == latents.sliced(axis: 0, 0..<2).contiguous().scalars)   // stored values, not rescaled

        let bad = folder.appendingPathComponent("bad.safetensors")
        try Safetensors.write(["images": latents], to: bad)
        let error = try #require(throws: TrainingError.self) { try TrainingDataSource.latents(bad.path).load() }
        #expect(error.description.contains("latents"))

        // PNGs in [0, 1] become [-1, 1].
        let images = folder.appendingPathComponent("pngs")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try PNG.write(Tensor(shape: [1, 4, 4], repeating: 1), to: images.appendingPathComponent("a.png"))
        try PNG.write(Tensor(shape: [1, 4, 4], repeating: 0), to: images.appendingPathComponent("b.png"))
        let pngs = try TrainingDataSource.imageFolder(images.path).load()
        #expect(pngs.inputs.shape == [2, 1, 4, 4])
        #expect(pngs.inputs[0, 0, 0, 0] == 1 && pngs.inputs[1, 0, 0, 0] == -1)
    }

    static let fashionMNISTAvailable = FileManager.default.fileExists(
        atPath: FashionMNIST.resolvedFolder().appendingPathComponent("train-images-idx3-ubyte.gz").path)

    @Test(.enabled(if: fashionMNISTAvailable, "Fashion-MNIST (dataset-fashion-mnist) is not installed"))
    func fashionMNISTIsPaddedToMinusOne() throws {
        let data = try TrainingDataSource.fashionMNIST(folder: nil).load(limit: 5)
        #expect(data.inputs.shape == [5, 1, 32, 32])
        let values = data.inputs.scalars
        #expect(values.min()! >= -1 && values.max()! <= 1)
        let image = data.inputs[index: 0]
        for i in 0..<32 { #expect(image[0, 0, i] == -1 && image[0, i, 1] == -1 && image[0, 31, i] == -1) }
    }
}
