// What training, checkpoints and sampling do with NaN and infinity, and with damaged or hostile
// data: a diverging learning rate stops the run at the step where the loss stops being finite
// (before its update), non-finite weights are never saved nor loaded nor sampled, a NaN latent or
// an out-of-range label is refused when the data set is read, and a sampler that meets NaN says
// at which step.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct TrainingReliabilityTests {
    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("training-reliability-\(UUID().uuidString)")
    }

    @Test func aDivergingLearningRateStopsAtTheStepWithoutTouchingTheWeights() throws {
        var configuration = TrainingTests.tinyConfiguration()
        configuration.learningRate = 1e30
        configuration.warmupSteps = 0
        let trainer = try DDPMTrainer(configuration: configuration, dataset: TrainingTests.tinyDataset())
        var stopped: TrainingError?
        for _ in 0..<10 {
            do { try trainer.trainStep() } catch let error as TrainingError { stopped = error; break }
        }
        let error = try #require(stopped, "ten steps at learning rate 1e30 never stopped")
        guard case let .diverged(step, quantity, learningRate, warmup) = error else {
            Issue.record("expected .diverged, got \(error)")
            return
        }
        // The failing step is the one after the last one taken; its update was not applied.
        #expect(step == trainer.step + 1)
        #expect(trainer.losses.count == trainer.step)
        #expect(quantity.hasPrefix("the loss is") || quantity.hasPrefix("the gradient norm is"), "\(quantity)")
        #expect(learningRate == 1e30 && warmup == 0)
        #expect(error.description.contains("training diverged at step \(step)"))
        #expect(trainer.firstNonFiniteState() == nil)
    }

    @Test func nonFiniteWeightsAreNotSaved() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(), dataset: TrainingTests.tinyDataset())
        try trainer.trainStep()
        let bias = try #require(trainer.model.namedParameters().first { $0.name == "conv_out.bias" }).variable
        bias.value[0] = .nan
        #expect(trainer.firstNonFiniteState()?.name == "model.conv_out.bias")
        #expect {
            try trainer.save(to: folder)
        } throws: { error in
            guard case let .diverged(step, quantity, _, _)? = error as? TrainingError else { return false }
            return step == 1 && quantity == "model.conv_out.bias holds 1 NaN or infinite value(s)"
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path))
        #expect(!FileManager.default.fileExists(atPath: folder.path + ".partial"))
    }

    @Test func nonFiniteTrainingDataIsRefused() throws {
        var inputs = TrainingTests.tinyDataset().inputs
        inputs[5, 0, 3, 3] = .nan
        let poisoned = LabelledDataset(inputs: inputs, labels: Array(repeating: 0, count: 12))
        #expect {
            _ = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(), dataset: poisoned)
        } throws: { error in
            String(describing: error).contains("the first in example 5")
        }
    }

    /// Writes a latents file with `latents` and float `labels` (or integer labels as i64).
    static func writeLatents(_ latents: Tensor, labels: [Float], integerLabels: Bool = false, to url: URL) throws {
        let labelTensor = Tensor(shape: [labels.count], scalars: labels)
        if integerLabels {
            try Safetensors.write(["latents": latents.map { $0.rounded() }, "labels": labelTensor], dtype: .i64, to: url)
        } else {
            try Safetensors.write(["latents": latents, "labels": labelTensor], to: url)
        }
    }

    @Test(arguments: [
        ("one NaN latent", [Float](repeating: 0, count: 4), Float.nan, false, "latent value(s) are NaN or infinite (the first in latent 2)"),
        ("one infinite latent", [Float](repeating: 0, count: 4), Float.infinity, false, "the first in latent 2"),
        ("label 10^9", [0, 1, 1e9, 2], Float(0), false, "labels must be integers in 0..<65536"),
        ("negative integer label", [0, -1, 0, 0], Float(0), true, "label -1 of latent 1 lies outside 0..<65536"),
        ("integer label 10^9", [0, 0, 0, 1e9], Float(0), true, "label 1000000000 of latent 3 lies outside 0..<65536"),
    ])
    func damagedLatentsFilesAreRefusedAtLoad(name: String, labels: [Float], poison: Float, integerLabels: Bool, message: String) throws {
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var g = TorchGenerator(seed: 4)
        var latents = g.randn([4, 4, 8, 8])
        if poison != 0 { latents[2, 1, 5, 6] = poison }
        let url = folder.appendingPathComponent("latents.safetensors")
        try Self.writeLatents(latents, labels: labels, integerLabels: integerLabels, to: url)
        #expect {
            _ = try TrainingDataSource.latents(url.path).load()
        } throws: { error in
            let text = String(describing: error)
            return text.contains(message) && text.contains(url.path)
        }
    }

    @Test func modelsWithNonFiniteWeightsAreNotLoaded() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(), dataset: TrainingTests.tinyDataset())
        try trainer.trainStep()
        try trainer.save(to: folder.appendingPathComponent("checkpoint"))
        try DDPMModel(trainer: trainer).export(to: folder.appendingPathComponent("export"), dtype: .f32)

        // The exported file and the checkpoint, each with one NaN written behind the library's back.
        for (file, name) in [("export/unet/diffusion_pytorch_model.safetensors", "conv_in.weight"),
                             ("checkpoint/weights.safetensors", "ema.conv_in.weight")] {
            let url = folder.appendingPathComponent(file)
            let stored = try SafetensorsFile(contentsOf: url)
            var tensors: [String: Tensor] = [:]
            for n in stored.names { tensors[n] = try stored.tensor(named: n) }
            var poisoned = tensors[name]!
            poisoned[0, 0, 1, 1] = .nan
            tensors[name] = poisoned
            try Safetensors.write(tensors, metadata: stored.metadata, to: url)
        }
        #expect {
            _ = try DDPMModel.load(from: folder.appendingPathComponent("export"))
        } throws: { error in
            String(describing: error).contains("weight conv_in.weight holds 1 NaN or infinite value(s)")
        }
        #expect {
            _ = try DDPMModel.load(from: folder.appendingPathComponent("checkpoint"))
        } throws: { error in
            String(describing: error).contains("weight ema.conv_in.weight holds 1 NaN or infinite value(s)")
        }
        // The raw weights are still finite and load; resuming reads everything and refuses.
        _ = try DDPMModel.load(from: folder.appendingPathComponent("checkpoint"), useEMA: false)
        #expect(throws: CheckpointError.self) {
            _ = try DDPMTrainer.resume(from: folder.appendingPathComponent("checkpoint"),
                                       configuration: TrainingTests.tinyConfiguration(), dataset: TrainingTests.tinyDataset())
        }
    }

    @Test(arguments: ["euler", "dpmpp_2m", "DDIMScheduler"])
    func samplingReportsTheStepWhereNaNAppears(sampler: String) throws {
        let trainer = try DDPMTrainer(configuration: TrainingTests.tinyConfiguration(), dataset: TrainingTests.tinyDataset())
        let model = try DDPMModel(trainer: trainer, useEMA: false)
        let clean = try model.sample(count: 2, sampler: sampler, steps: 4, seed: 1)
        #expect(clean.isFinite)
        let bias = try #require(model.unet.namedParameters().first { $0.name == "conv_out.bias" }).variable
        bias.value[0] = .nan
        #expect {
            _ = try model.sample(count: 2, sampler: sampler, steps: 4, seed: 1)
        } throws: { error in
            guard case let .nonFiniteSample(step, steps, _, quantity)? = error as? TrainingError else { return false }
            return step == 1 && steps == 4 && quantity.contains("denoised estimate")
        }
    }
}
