// Training throughput and sampling speed of the shipped diffusion models (issue 5): the UNet
// configurations are read at run time from `models/<name>/unet/config.json` (diffusers'
// UNet2DModel format), so the benchmark follows whatever the project ships. A model whose
// config.json is absent (the latent model before it is trained) has no cases. The reference
// script (tools/bench_reference.py, kinds `train_config` and `sample_config`) builds diffusers'
// UNet2DModel from the same file and times the same work.

import Autograd
import Diffusion
import Foundation
import Tensor

/// The shipped models benchmarked, by folder under `models/`, with a short name for the cases.
let shippedModels = [("ddpm-fmnist", "ddpm-fmnist"), ("ldm-fmnist", "ldm-fmnist")]

/// The package root (two folders above this file).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL

/// The configuration of a shipped model, or nil when the model is absent (its file is missing);
/// a file that exists but does not decode is an error worth stopping for.
func shippedConfiguration(_ folder: String) -> UNet2DConfiguration? {
    let url = packageRoot.appendingPathComponent("models/\(folder)/unet/config.json")
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    do {
        return try JSONDecoder().decode(UNet2DConfiguration.self, from: Data(contentsOf: url))
    } catch {
        fail("cannot read \(url.path): \(error)")
    }
}

/// Class labels for a class-conditional model (`num_class_embeds`), nil otherwise.
func benchLabels(_ configuration: UNet2DConfiguration, batch: Int) -> [Int]? {
    configuration.numClassEmbeds.map { classes in (0..<batch).map { $0 % classes } }
}

/// One DDPM training step (ε-prediction MSE on random noisy inputs, AdamW) of a shipped model's
/// UNet at `batch`. Throughput is reported in images per second.
func shippedTrainingCase(_ name: String, _ configuration: UNet2DConfiguration, batch: Int) -> BenchCase {
    let c = configuration
    return BenchCase(name: "train-\(name)-b\(batch)",
                     shape: "UNet \(c.blockOutChannels) \(c.inChannels)x\(c.sampleSize)², batch \(batch), AdamW",
                     flops: 0, images: batch) {
        var generator = TorchGenerator(seed: 0)
        // The configuration decoded from the shipped file; a model it cannot build is a bench failure.
        let model: UNet2D
        do { model = try UNet2D(configuration: c, generator: &generator) } catch { fail("\(name): \(error)") }
        let optimizer = Adam.adamW(parameters: model.namedParameters(), learningRate: 1e-4)
        let shape = [batch, c.inChannels, c.sampleSize, c.sampleSize]
        let inputs = generator.randn(shape), noise = generator.randn(shape)
        let timesteps = (0..<batch).map { Float(($0 * 37) % 1000) }
        let labels = benchLabels(c, batch: batch)
        return {
            optimizer.zeroGrad()
            let prediction = model(Variable(inputs), timesteps: timesteps, classLabels: labels)
            meanSquaredError(prediction, Variable(noise)).backward()
            optimizer.step()
        }
    }
}

/// One sampling step of a shipped model: a UNet evaluation without gradients at `batch`.
func shippedSamplingCase(_ name: String, _ configuration: UNet2DConfiguration, batch: Int) -> BenchCase {
    let c = configuration
    return BenchCase(name: "sample-\(name)-b\(batch)",
                     shape: "UNet \(c.blockOutChannels) \(c.inChannels)x\(c.sampleSize)², batch \(batch), no grad",
                     flops: 0, images: batch) {
        var generator = TorchGenerator(seed: 0)
        let model: UNet2D
        do { model = try UNet2D(configuration: c, generator: &generator) } catch { fail("\(name): \(error)") }
        let inputs = generator.randn([batch, c.inChannels, c.sampleSize, c.sampleSize])
        let timesteps = [Float](repeating: 500, count: batch)
        let labels = benchLabels(c, batch: batch)
        return {
            withoutGradients { _ = model(Variable(inputs), timesteps: timesteps, classLabels: labels) }
        }
    }
}

/// The training (batch 32) and sampling (batch 64) cases of every shipped model present.
func shippedModelCases() -> [BenchCase] {
    shippedModels.flatMap { folder, name -> [BenchCase] in
        guard let configuration = shippedConfiguration(folder) else {
            note("models/\(folder)/unet/config.json not found; skipping its training and sampling cases")
            return []
        }
        return [shippedTrainingCase(name, configuration, batch: 32), shippedSamplingCase(name, configuration, batch: 64)]
    }
}
