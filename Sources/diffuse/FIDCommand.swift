// Contract: `diffuse fid` — the Fréchet distance (FID) between `--count` images of a model (any
// sampler, steps and schedule) and the 10 000 Fashion-MNIST test images, in the feature space of
// the lesson-03 classifier (models/fashion-classifier.safetensors); or, with `--real train`, of
// `--count` seeded random training images (the floor). Also prints improved precision and recall
// (Kynkäänniemi et al. 2019, k = 3) against as many test images (`FIDContext.precisionRecall`).
// A class-conditional model is sampled with class-balanced labels (image i asks for class i mod 10)
// at `--guidance` (default 1, the plain conditional model), and the classifier's accuracy on the
// requested class is printed beside the FID; `--guidance` on an unconditional model is an error.
// Prints the FID and the time of each part on standard output; progress goes to standard error. A missing classifier or data set is a
// clear error (exit status 1).

import ArgumentParser
import Diffusion
import Foundation
import LessonKit
import Tensor

struct FIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fid",
        abstract: "FID of a model's samples (or of real training images) against the Fashion-MNIST test set.",
        discussion: """
            Features are the 128 penultimate activations of the lesson-03 classifier; generated \
            images are mapped to its 28x28 input (channel mean, 64 -> 32 pooling, centre crop). \
            `--real train` gives the floor: the FID of as many real training images. \
            A class-conditional model is sampled with class-balanced labels (image i asks for \
            class i mod 10) at the classifier-free guidance scale --guidance, and the \
            classifier's accuracy on the requested class (class accuracy) is printed too.
            """)

    @Option(help: "A model folder (exported DDPMPipeline or training checkpoint).")
    var model: String?
    @Option(help: "Instead of a model, real images of this Fashion-MNIST split: train (the floor).")
    var real: String?
    @Option(help: "Sampler: any registry name (k-diffusion, AUTOMATIC1111, diffusers).")
    var sampler: SamplerArgument = SamplerArgument(argument: "euler_ancestral")!
    @OptionGroup var sampling: SamplingOptions
    @Option(parsing: .unconditional, help: "Number of images (generated, or drawn from the training set).")
    var count: Int = 1000
    @Option(parsing: .unconditional, help: "Images generated per batch (the same seed and batch size give the same images).")
    var batchSize: Int = 100
    @Option(parsing: .unconditional, help: "Classifier-free guidance scale of a class-conditional model (default 1: the plain conditional model; 0: unconditional); image i asks for class i mod 10.")
    var guidance: Double?
    @OptionGroup var reference: FIDDataOptions

    func validate() throws {
        if (model == nil) == (real == nil) { throw ValidationError("give exactly one of --model <folder> and --real train") }
        if let real, real != "train" { throw ValidationError("--real \(real): only `train` is supported (the test set is the reference)") }
        if !(2...1_000_000).contains(count) { throw ValidationError("--count must lie in 2...1000000 (a covariance needs two images), got \(count)") }
        if !(1...10_000).contains(batchSize) { throw ValidationError("--batch-size must lie in 1...10000 (images sampled at once), got \(batchSize)") }
        if let guidance {
            if real != nil { throw ValidationError("--guidance applies to a model's samples, not to --real images") }
            try validateGuidanceScale(guidance, option: "--guidance")
        }
        if model != nil, try SamplerRegistry.resolve(sampler.label).name.choosesOwnSteps, sampling.stepsGiven {
            throw ValidationError("\(sampler.label) chooses its own steps: drop --steps (its tolerances set the effort)")
        }
    }

    func run() throws {
        try reportingErrors {
            let (sampler, steps, schedule, seed) = (sampler.label, sampling.steps, sampling.scheduleName, sampling.seed)
            let context = try FIDContext(reference)
            let clock = ContinuousClock()
            if real != nil {
                let start = clock.now
                let features = try context.extractor.trainingSubsetFeatures(count: count, seed: seed, folder: context.dataFolder)
                let seconds = (clock.now - start) / .seconds(1)
                let fid = try frechetDistance(FeatureStatistics(features: features), context.testStatistics())
                let pr = try context.precisionRecall(of: features)
                print(String(format: "FID %.3f  precision %.3f  recall %.3f  real training images vs test set: %d images, seed %llu",
                             fid, pr.precision, pr.recall, count, seed))
                print(String(format: "time: training-image features %.1f s, test-set statistics %.1f s", seconds, context.testSeconds))
                return
            }
            let generator = try loadImageGenerator(from: URL(fileURLWithPath: model!))
            let scale = try guidanceScale(guidance, for: generator, model: model!)
            let result = try context.evaluate(generator, count: count, sampler: sampler, steps: steps, schedule: schedule,
                                              seed: seed, batchSize: batchSize, guidanceScale: scale, label: "fid")
            let conditional = scale.map { String(format: ", guidance %g, class accuracy %.3f", $0, result.classAccuracy ?? .nan) } ?? ""
            print(String(format: "FID %.3f  precision %.3f  recall %.3f  %@: sampler %@, %d steps, schedule %@%@, %d model evaluations per image, %d images, seed %llu, batch %d",
                         result.fid, result.precision, result.recall, model!, sampler, steps, schedule ?? "default", conditional,
                         result.modelEvaluations, count, seed, batchSize))
            print(String(format: "time: sampling and features %.1f s (%.2f ms per image and model evaluation), test-set statistics %.1f s",
                         result.seconds, 1000 * result.seconds / Double(count * max(result.modelEvaluations, 1)), context.testSeconds))
        }
    }
}

/// What every FID command needs once: the feature extractor and the test-set features and
/// statistics (computed on first use and kept).
final class FIDContext {
    let extractor: FashionFeatureExtractor
    let classifierURL: URL
    let dataFolder: URL?
    private var cachedTest: FeatureStatistics?
    private var cachedTestFeatures: Tensor?
    private(set) var testSeconds = 0.0

    /// Loads the classifier (FIDError.classifierNotFound names the fix when it is missing).
    init(_ options: FIDDataOptions) throws {
        classifierURL = URL(fileURLWithPath: options.classifier)
        extractor = try FashionFeatureExtractor(weightsAt: classifierURL)
        dataFolder = options.data.map { URL(fileURLWithPath: $0) }
    }

    /// The statistics of the 10 000 test images.
    func testStatistics() throws -> FeatureStatistics {
        if let cachedTest { return cachedTest }
        let clock = ContinuousClock()
        let start = clock.now
        let features = try extractor.testSetFeatures(folder: dataFolder)
        let statistics = try FeatureStatistics(features: features)
        testSeconds = (clock.now - start) / .seconds(1)
        cachedTest = statistics
        cachedTestFeatures = features
        return statistics
    }

    /// Improved precision and recall (k = 3) of `features` [N, 128] against N test images
    /// (all 10 000 when N is larger), chosen by `FashionFeatureExtractor.sampleIndices` with
    /// seed 0 — the same real images for every model and sampler at a given N, since the
    /// metric compares sets of equal size.
    func precisionRecall(of features: Tensor) throws -> PrecisionRecall {
        _ = try testStatistics()
        let test = cachedTestFeatures!
        let n = min(features.shape[0], test.shape[0])
        let rows = FashionFeatureExtractor.sampleIndices(count: n, from: test.shape[0], seed: 0)
        let real = Tensor(shape: [n, test.shape[1]], scalars: rows.flatMap { test.sliced(axis: 0, $0..<($0 + 1)).contiguous().scalars })
        return try PrecisionRecall(real: real, generated: features, k: 3)
    }

    /// What one generated configuration measures.
    struct Result {
        /// The Fréchet distance to the test set.
        var fid: Double
        /// Improved precision and recall (k = 3).
        var precision: Double, recall: Double
        /// The classifier's accuracy on the requested class (nil for unconditional sampling).
        var classAccuracy: Double?
        /// Network evaluations per image (both halves of a guided step count).
        var modelEvaluations: Int
        /// Seconds spent generating the images and computing their features.
        var seconds: Double
    }

    /// One generated configuration: FID, precision and recall, class accuracy (with
    /// `guidanceScale`: class-balanced labels at that scale), model evaluations per image, and
    /// the seconds spent generating the images and computing their features.
    func evaluate(_ generator: any ImageGenerator, count: Int, sampler: String, steps: Int, schedule: String?,
                  seed: UInt64, batchSize: Int, guidanceScale: Double?, label: String) throws -> Result {
        let test = try testStatistics()
        let evaluations = try generator.modelEvaluations(sampler: sampler, steps: steps, schedule: schedule, guidanceScale: guidanceScale)
        let progress = ProgressBar(total: count, label: label, logInterval: 60)
        let clock = ContinuousClock()
        let start = clock.now
        let generated = try extractor.generatedFeatures(
            of: generator, count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
            batchSize: batchSize, guidanceScale: guidanceScale, progress: { progress.update(completed: $0) })
        progress.finish()
        let seconds = (clock.now - start) / .seconds(1)
        let pr = try precisionRecall(of: generated.features)
        return Result(fid: try frechetDistance(FeatureStatistics(features: generated.features), test), precision: pr.precision,
                      recall: pr.recall, classAccuracy: generated.classAccuracy, modelEvaluations: evaluations, seconds: seconds)
    }

    /// A short fingerprint of the classifier file (FNV-1a, 64 bits, hex): FIDs are comparable
    /// only when computed with the same feature extractor.
    func classifierFingerprint() throws -> String {
        let bytes = try Data(contentsOf: classifierURL)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Throws unless `scale` is a finite guidance scale in `ConfigurationLimits.guidanceScale`.
func validateGuidanceScale(_ scale: Double, option: String) throws {
    let range = ConfigurationLimits.guidanceScale
    guard scale.isFinite, range.contains(scale) else {
        throw ValidationError("\(option): the guidance scale must be a finite number in \(range.lowerBound.csvText)...\(range.upperBound.csvText) (0 = unconditional, 1 = plain conditional), got \(scale)")
    }
}

/// The guidance scale to sample `generator` at: `requested` (default 1) for a class-conditional
/// model, nil for an unconditional one.
/// - Throws: `FIDError.invalidGuidance` when a scale is requested for an unconditional model.
func guidanceScale(_ requested: Double?, for generator: any ImageGenerator, model: String) throws -> Double? {
    guard generator.classCount != nil else {
        if requested != nil {
            throw FIDError.invalidGuidance("\(model) is an unconditional model; guidance needs a class-conditional one (trained with --class-conditional): drop --guidance")
        }
        return nil
    }
    return requested ?? 1
}
