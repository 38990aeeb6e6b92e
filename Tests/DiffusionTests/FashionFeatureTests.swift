// The FID's feature side: the mapping of model images to the classifier's input (against a naive
// per-pixel reference), batched feature extraction (against one unbatched forward pass),
// statistics end to end on a few images, seeded index sampling, the `ImageGenerator`
// conformance of `DDPMModel` (images equal `sample`, model-evaluation counts equal k-diffusion's
// call counts), and the shipped classifier (it loads, and classifies real test images).

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

@Suite struct FashionFeatureTests {
    /// The naive reference of `classifierInput`: per output pixel, the mean over channels and
    /// over the source pixels it covers, then (x + 1)/2 clamped and rounded to 1/255.
    static func naiveClassifierInput(_ images: Tensor) -> [Float] {
        let (n, c, side) = (images.shape[0], images.shape[1], images.shape[2])
        let x = images.contiguous().scalars
        let factor = side == 64 ? 2 : 1
        let crop = side == 28 ? 0 : 2
        var out: [Float] = []
        for i in 0..<n {
            for y in 0..<28 {
                for xx in 0..<28 {
                    var sum: Double = 0
                    for ch in 0..<c {
                        for dy in 0..<factor {
                            for dx in 0..<factor {
                                let sy = (y + crop) * factor + dy, sx = (xx + crop) * factor + dx
                                sum += Double(x[((i * c + ch) * side + sy) * side + sx])
                            }
                        }
                    }
                    let v = sum / Double(c * factor * factor)
                    out.append(Float((min(max((v + 1) / 2, 0), 1) * 255).rounded() / 255))
                }
            }
        }
        return out
    }

    @Test(arguments: [[2, 1, 28, 28], [3, 1, 32, 32], [2, 3, 32, 32], [2, 3, 64, 64], [1, 1, 64, 64]])
    func modelImagesMapToTheClassifierInput(shape: [Int]) throws {
        var g = TorchGenerator(seed: 4)
        let images = g.randn(shape) * 0.8          // some values outside [−1, 1] exercise the clamp
        let mapped = try FashionFeatureExtractor.classifierInput(fromModelRange: images)
        #expect(mapped.shape == [shape[0], 1, 28, 28])
        let reference = Self.naiveClassifierInput(images)
        // Pooling sums in Float vs Double here: a value may land on the other side of a rounding
        // boundary, i.e. one 8-bit level apart.
        let worst = zip(mapped.scalars, reference).map { abs($0 - $1) }.max()!
        #expect(worst <= 1.0 / 255 + 1e-6)
        let exact = zip(mapped.scalars, reference).filter { $0 == $1 }.count
        #expect(exact >= reference.count * 99 / 100)
        #expect(mapped.scalars.allSatisfy { $0 >= 0 && $0 <= 1 && ($0 * 255).rounded() == $0 * 255 })
    }

    @Test func paddedFashionMNISTCropsBackExactly() throws {
        // Training data is Fashion-MNIST in [−1, 1] padded with −1 to 32×32; the crop undoes it.
        let test = try FashionMNIST.load(.test, limit: 3)
        let padded = (test.inputs * 2 - 1).paddedImages(by: 2, value: -1)
        let mapped = try FashionFeatureExtractor.classifierInput(fromModelRange: padded)
        #expect(zip(mapped.scalars, test.inputs.scalars).allSatisfy { abs($0 - $1) <= 1e-6 })
    }

    @Test func unsupportedImagesAreNamedErrors() {
        #expect(throws: FIDError.unsupportedImages(shape: [2, 1, 16, 16])) {
            _ = try FashionFeatureExtractor.classifierInput(fromModelRange: Tensor(shape: [2, 1, 16, 16], repeating: 0))
        }
        #expect(throws: FIDError.unsupportedImages(shape: [2, 4, 32, 32])) {
            _ = try FashionFeatureExtractor.classifierInput(fromModelRange: Tensor(shape: [2, 4, 32, 32], repeating: 0))
        }
        #expect(throws: FIDError.unsupportedImages(shape: [32, 32])) {
            _ = try FashionFeatureExtractor.classifierInput(fromModelRange: Tensor(shape: [32, 32], repeating: 0))
        }
        var nan = Tensor(shape: [1, 1, 28, 28], repeating: 0)
        nan[0, 0, 3, 3] = .nan
        #expect(throws: FIDError.nonFiniteValues("the images")) {
            _ = try FashionFeatureExtractor.classifierInput(fromModelRange: nan)
        }
        #expect(throws: FIDError.classifierNotFound(path: "/nonexistent/classifier.safetensors")) {
            _ = try FashionFeatureExtractor(weightsAt: URL(fileURLWithPath: "/nonexistent/classifier.safetensors"))
        }
    }

    @Test func batchedStatisticsEqualOneForwardPass() throws {
        var g = TorchGenerator(seed: 1)
        let extractor = FashionFeatureExtractor(classifier: FashionClassifier(generator: &g))
        let images = g.rand([7, 1, 28, 28])
        // Reference: one unbatched forward pass through the classifier's layers.
        let reference = extractor.classifier.features(Variable(images)).value
        let batched = extractor.features(of: images, batchSize: 3)
        #expect(batched.shape == [7, 128])
        #expect(relativeError(batched, reference.scalars.map(Double.init)) <= 1e-6)
        let stats = try extractor.statistics(ofClassifierInput: images, batchSize: 3)
        let direct = try FeatureStatistics(features: reference)
        #expect(stats.count == 7 && stats.dimension == 128)
        #expect(relativeError(stats.mean, direct.mean) <= 1e-6)
        #expect(relativeError(stats.covariance, direct.covariance) <= 1e-6)
        // A set against itself is at distance 0; against other images it is not.
        #expect(try frechetDistance(stats, direct) <= 1e-6 * distanceScale(stats, direct))
        let other = try extractor.statistics(ofClassifierInput: g.rand([7, 1, 28, 28]) * 0.5)
        #expect(try frechetDistance(stats, other) > 1e-3 * distanceScale(stats, other))
    }

    @Test func sampledIndicesAreDistinctSeededAndInRange() {
        let a = FashionFeatureExtractor.sampleIndices(count: 50, from: 60, seed: 9)
        #expect(Set(a).count == 50 && a.allSatisfy { (0..<60).contains($0) })
        #expect(a == FashionFeatureExtractor.sampleIndices(count: 50, from: 60, seed: 9))
        #expect(a != FashionFeatureExtractor.sampleIndices(count: 50, from: 60, seed: 10))
        #expect(Set(FashionFeatureExtractor.sampleIndices(count: 60, from: 60, seed: 1)) == Set(0..<60))
    }

    @Test func shippedClassifierClassifiesTestImages() throws {
        // The shipped weights (models/fashion-classifier.safetensors, 90.74% on the whole test
        // set when lesson 03 saved them) must load strictly and classify the first 500 test
        // images about as well; 85% leaves room for the subset's sampling spread (±1.3%).
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let extractor = try FashionFeatureExtractor(weightsAt: root.appendingPathComponent(FashionFeatureExtractor.defaultWeightsPath))
        let test = try FashionMNIST.load(.test, limit: 500)
        #expect(extractor.classifier.accuracy(on: test) >= 0.85)
    }
}

@Suite struct ImageGeneratorTests {
    static func tinyModel() throws -> DDPMModel {
        let configuration = UNet2DConfiguration(sampleSize: 8, inChannels: 1, outChannels: 1, blockOutChannels: [8, 16],
                                                layersPerBlock: 1, attentionLevels: [], attentionHeadDim: 8, normNumGroups: 4)
        let unet = try UNet2D(configuration: configuration, seed: 0)
        return try DDPMModel(unet: unet, scheduler: DDPMSchedulerConfiguration(trainingTimesteps: 100, betaSchedule: .linear,
                                                                               prediction: .epsilon))
    }

    @Test func generatedImagesAreTheModelsSamples() throws {
        let model = try Self.tinyModel()
        let generator: any ImageGenerator = model
        let images = try generator.generateImages(count: 3, sampler: "euler_ancestral", steps: 4, schedule: nil, seed: 5)
        let direct = try model.sample(count: 3, sampler: "euler_ancestral", steps: 4, seed: 5)
        #expect(images.shape == [3, 1, 8, 8])
        #expect(images.scalars == direct.scalars)
    }

    /// k-diffusion's call counts for n steps ending at σ = 0: one call per step, except that the
    /// two-stage samplers take two per step but a plain Euler step (one call) into σ = 0, and
    /// PLMS takes an extra call on its first step.
    @Test(arguments: [
        ("euler", 5, 5), ("euler_ancestral", 5, 5), ("lms", 5, 5), ("dpmpp_2m", 5, 5), ("dpmpp_2m_sde", 5, 5),
        ("dpmpp_3m_sde", 5, 5), ("ddim", 5, 5), ("ddpm", 5, 5), ("heun", 5, 9), ("dpm_2", 5, 9),
        ("dpm_2_ancestral", 5, 9), ("dpmpp_2s_ancestral", 5, 9), ("dpmpp_sde", 5, 9), ("plms", 5, 6),
        ("heun", 1, 1), ("DPM++ 2M Karras", 20, 20),
    ])
    func modelEvaluationsCountDenoiserCalls(sampler: String, steps: Int, expected: Int) throws {
        let model = try Self.tinyModel()
        #expect(try model.modelEvaluations(sampler: sampler, steps: steps, schedule: nil) == expected)
    }

    @Test func folderMappingNamesIncompleteAndMissingModels() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fid-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("vae"), withIntermediateDirectories: true)
        // A vae/ folder makes it a latent model; without vae/config.json it is incomplete.
        #expect(throws: LatentModelError.self) { _ = try loadImageGenerator(from: folder) }
        #expect(throws: TrainingError.self) { _ = try loadImageGenerator(from: folder.appendingPathComponent("vae")) }
        let exported = folder.appendingPathComponent("pixel")
        try Self.tinyModel().export(to: exported)
        #expect(try loadImageGenerator(from: exported) is DDPMModel)
    }
}
