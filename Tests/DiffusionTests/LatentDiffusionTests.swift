// Tests of latent diffusion: Fashion-MNIST → TAESD input (against a naive pixel-by-pixel
// reference), batched encoding (against one unbatched TAESD call; needs ../shared), the latents
// file round trip (shape, labels, metadata, scaling factor, the trainer's loader), latent
// statistics and scaling factor (closed forms), a tiny untrained latent model exported, loaded
// and sampled (against the in-memory model), and the loading errors.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct LatentDiffusionTests {
    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ldm-tests-\(UUID().uuidString)")
    }

    /// A tiny latent DDPM over [4, 8, 8] latents.
    static func tinyLatentModel(inChannels: Int = 4) throws -> DDPMModel {
        let configuration = UNet2DConfiguration(sampleSize: 8, inChannels: inChannels, outChannels: inChannels,
                                                blockOutChannels: [8, 16], layersPerBlock: 1, attentionLevels: [1],
                                                attentionHeadDim: 8, normNumGroups: 4)
        let unet = try UNet2D(configuration: configuration, seed: 3)
        let scheduler = DDPMSchedulerConfiguration(trainingTimesteps: 100, betaSchedule: .linear, prediction: .epsilon,
                                                   clipSample: false)
        return try DDPMModel(unet: unet, scheduler: scheduler)
    }

    /// A randomly initialized TAESD decoder written to `folder/taesd_decoder.safetensors`.
    static func randomDecoder(in folder: URL) throws -> (TAESDDecoder, URL) {
        var generator = TorchGenerator(seed: 11)
        let decoder = TAESDDecoder(latentChannels: 4, generator: &generator)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(TAESD.decoderFileName)
        try Safetensors.write(decoder.stateDictionary(), to: url)
        return (decoder, url)
    }

    @Test func fashionMNISTBecomesPaddedNearestUpscaledRGB() {
        var g = TorchGenerator(seed: 1)
        let images = g.rand([2, 1, 28, 28])
        let out = LatentDataset.fashionMNISTForTAESD(images)
        #expect(out.shape == [2, 3, 64, 64])
        var mismatches = 0
        for n in 0..<2 {
            for c in 0..<3 {
                for y in 0..<64 {
                    for x in 0..<64 {
                        // 64×64 pixel (y, x) comes from 32×32 pixel (y/2, x/2), which is the
                        // 28×28 pixel (y/2 − 2, x/2 − 2) or background 0 in the 2-pixel border.
                        let (sy, sx) = (y / 2 - 2, x / 2 - 2)
                        let expected: Float = (0..<28).contains(sy) && (0..<28).contains(sx) ? images[n, 0, sy, sx] : 0
                        if out[n, c, y, x] != expected { mismatches += 1 }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test(.enabled(if: TAESDTestData.hasShared, TAESDTestData.skipMessage))
    func batchedEncodingEqualsOneCall() throws {
        let taesd = try TAESDTestData.loadRealTAESD()
        var g = TorchGenerator(seed: 2)
        let images = LatentDataset.fashionMNISTForTAESD(g.rand([5, 1, 28, 28]))
        var reported: [Int] = []
        let batched = try LatentDataset.encode(images01: images, with: taesd, batchSize: 2) { reported.append($0) }
        let whole = try taesd.encode(images)
        #expect(batched.shape == [5, 4, 8, 8])
        #expect(reported == [2, 4, 5])
        let worst = zip(batched.scalars, whole.scalars).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-5, "max |batched − whole| = \(worst)")
    }

    @Test(arguments: [SafetensorsDType.f32, .f16])
    func latentsFileRoundTrips(dtype: SafetensorsDType) throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var g = TorchGenerator(seed: 4)
        let latents = g.randn([6, 4, 8, 8])
        let labels = [0, 9, 3, 3, 7, 1]
        let dataset = try LatentDataset(latents: latents, labels: labels, scalingFactor: 0.75, metadata: ["raw_std": "1.33"])
        let url = folder.appendingPathComponent("latents.safetensors")
        try dataset.write(to: url, dtype: dtype)
        let read = try LatentDataset(contentsOf: url)
        #expect(read.latents.shape == [6, 4, 8, 8])
        #expect(read.labels == labels)
        #expect(read.scalingFactor == 0.75)
        #expect(read.metadata["raw_std"] == "1.33" && read.metadata["format"] == LatentDataset.formatName)
        // F16 keeps 11 significant bits: relative error ≤ 2^-11 for normal values.
        let tolerance: Float = dtype == .f32 ? 0 : 1.0 / 2048
        let worst = zip(read.latents.scalars, latents.scalars).map { abs($0 - $1) / max(abs($1), 1e-3) }.max()!
        #expect(worst <= tolerance)
        // The trainer's loader reads the same file.
        let loaded = try TrainingDataSource.latents(url.path).load(limit: 4)
        #expect(loaded.inputs.shape == [4, 4, 8, 8] && loaded.labels == Array(labels.prefix(4)))
        #expect(loaded.inputs.scalars == read.latents.sliced(axis: 0, 0..<4).contiguous().scalars)
    }

    @Test func badLatentsFilesAreErrors() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("x.safetensors")
        try Safetensors.write(["images": Tensor(shape: [1, 4, 2, 2], repeating: 0)], to: url)
        #expect(throws: TrainingError.self) { try LatentDataset(contentsOf: url) }
        try Safetensors.write(["latents": Tensor(shape: [2, 4, 2, 2], repeating: 0)], metadata: ["scaling_factor": "abc"], to: url)
        #expect(throws: TrainingError.self) { try LatentDataset(contentsOf: url) }
        try Safetensors.write(["latents": Tensor(shape: [2, 4, 2, 2], repeating: 0), "labels": Tensor(shape: [3], repeating: 0)], to: url)
        #expect(throws: TrainingError.self) { try LatentDataset(contentsOf: url) }
        #expect(throws: TrainingError.self) {
            try LatentDataset(latents: Tensor(shape: [2, 4, 2, 2], repeating: 0), labels: [0, 0], scalingFactor: 0)
        }
    }

    @Test func statisticsMatchClosedForms() {
        // Channel 0 alternates ±1 (mean 0, std 1); channel 1 is 2 + 3·(±1) (mean 2, std 3).
        let plane = 4
        let scalars: [Float] = (0..<2).flatMap { _ in
            (0..<plane).map { Float($0 % 2 == 0 ? 1 : -1) } + (0..<plane).map { 2 + 3 * Float($0 % 2 == 0 ? 1 : -1) }
        }
        let stats = LatentDataset.statistics(of: Tensor(shape: [2, 2, 2, 2], scalars: scalars))
        #expect(abs(stats.channelMeans[0]) < 1e-12 && abs(stats.channelMeans[1] - 2) < 1e-12)
        #expect(abs(stats.channelStandardDeviations[0] - 1) < 1e-12 && abs(stats.channelStandardDeviations[1] - 3) < 1e-12)
        // All values: mean 1; E[x²] = (1 + 13)/2 = 7 (channel 1: 4 + 9); variance 7 − 1 = 6.
        #expect(abs(stats.mean - 1) < 1e-12)
        #expect(abs(stats.standardDeviation - 6.0.squareRoot()) < 1e-12)
    }

    @Test(arguments: [(1.05, 1.0), (0.8, 1.0), (1.25, 1.0), (0.5, 2.0), (4.2, 0.2381), (0.3, 3.333)])
    func scalingFactorIsOneOverSigmaOnlyFarFromUnitVariance(sigma: Double, expected: Double) {
        #expect(LatentDataset.scalingFactor(forStandardDeviation: sigma) == expected)
    }

    @Test func exportedLatentModelLoadsAndSamples() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (decoder, weights) = try Self.randomDecoder(in: folder.appendingPathComponent("taesd"))
        let model = try LatentDiffusionModel(latentModel: Self.tinyLatentModel(), decoder: decoder, scalingFactor: 0.5)
        let modelFolder = folder.appendingPathComponent("ldm")
        try model.export(to: modelFolder, dtype: .f32, decoderWeights: weights)
        #expect(LatentDiffusionModel.isLatentModel(at: modelFolder))
        for path in ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                     "scheduler/scheduler_config.json", "vae/config.json", "vae/taesd_decoder.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: modelFolder.appendingPathComponent(path).path), "\(path)")
        }
        let loaded = try LatentDiffusionModel.load(from: modelFolder, fallbackFolders: [])
        #expect(loaded.vae.scalingFactor == 0.5 && loaded.vae.latentChannels == 4)
        #expect(loaded.latentModel.scheduler.clipSample == false)
        let images = try loaded.sample(count: 2, sampler: "euler_ancestral", steps: 2, seed: 7)
        #expect(images.shape == [2, 3, 64, 64])
        #expect(images.scalars.allSatisfy { $0 >= -1 && $0 <= 1 })
        // Same weights (exported as F32), same seed: the same images as the in-memory model.
        let expected = try model.sample(count: 2, sampler: "euler_ancestral", steps: 2, seed: 7)
        #expect(images.scalars == expected.scalars)
        // The images are the decoded latents: latents / scaling_factor through the decoder.
        let latents = try loaded.sampleLatents(count: 2, sampler: "euler_ancestral", steps: 2, seed: 7)
        #expect(latents.shape == [2, 4, 8, 8])
        let direct = withoutGradients { decoder(Variable(latents * 2)).value }.map { min(max($0, 0), 1) * 2 - 1 }
        #expect(images.scalars == direct.scalars)
        // Exporting again replaces the folder; without decoder weights, they come from taesdFolder.
        try model.export(to: modelFolder)
        #expect(!FileManager.default.fileExists(atPath: modelFolder.appendingPathComponent("vae/taesd_decoder.safetensors").path))
        let reloaded = try LatentDiffusionModel.load(from: modelFolder, taesdFolder: weights.deletingLastPathComponent(),
                                                     fallbackFolders: [])
        #expect(try reloaded.sample(count: 1, sampler: "euler", steps: 2, seed: 1).shape == [1, 3, 64, 64])
    }

    @Test func latentModelErrors() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (decoder, _) = try Self.randomDecoder(in: folder.appendingPathComponent("taesd"))
        // A pixel-space folder (no vae/).
        let pixel = folder.appendingPathComponent("pixel")
        try Self.tinyLatentModel().export(to: pixel)
        #expect(throws: LatentModelError.missingVAEFolder(folder: pixel.path)) {
            try LatentDiffusionModel.load(from: pixel, fallbackFolders: [])
        }
        // No decoder weights anywhere.
        let latent = folder.appendingPathComponent("latent")
        try LatentDiffusionModel(latentModel: Self.tinyLatentModel(), decoder: decoder, scalingFactor: 1).export(to: latent)
        let missing = try #require(throws: LatentModelError.self) { try LatentDiffusionModel.load(from: latent, fallbackFolders: []) }
        guard case .missingDecoderWeights(let searched) = missing else { Issue.record("got \(missing)"); return }
        #expect(searched == [latent.appendingPathComponent("vae/taesd_decoder.safetensors").path])
        #expect(missing.description.contains("madebyollin/taesd"))
        // A UNet over 3 channels with a 4-channel autoencoder.
        #expect(throws: LatentModelError.channelMismatch(unetInChannels: 3, unetOutChannels: 3, latentChannels: 4)) {
            try LatentDiffusionModel(latentModel: Self.tinyLatentModel(inChannels: 3), decoder: decoder, scalingFactor: 1)
        }
        #expect(throws: LatentModelError.channelMismatch(unetInChannels: 3, unetOutChannels: 3, latentChannels: 4)) {
            try LatentDiffusionModel.export(latentModel: Self.tinyLatentModel(inChannels: 3),
                                            vae: TAESDConfiguration(scalingFactor: 1), to: folder.appendingPathComponent("bad"))
        }
        // A folder whose unet/ was replaced by a 3-channel one: caught when loading.
        try Self.tinyLatentModel(inChannels: 3).export(to: latent)      // rewrites unet/ and scheduler/ only
        #expect(throws: LatentModelError.channelMismatch(unetInChannels: 3, unetOutChannels: 3, latentChannels: 4)) {
            try LatentDiffusionModel.load(from: latent, taesdFolder: folder.appendingPathComponent("taesd"), fallbackFolders: [])
        }
        // An unreadable vae/config.json.
        try Data("{".utf8).write(to: latent.appendingPathComponent("vae/config.json"))
        let invalid = try #require(throws: LatentModelError.self) { try LatentDiffusionModel.load(from: latent, fallbackFolders: []) }
        guard case .invalidVAEConfig = invalid else { Issue.record("got \(invalid)"); return }
    }
}
