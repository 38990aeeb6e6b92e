// Contract: the feature space of the project's FID — the 128 penultimate features of the lesson-03
// Fashion-MNIST classifier (`FashionClassifier.features`), since Inception-v3's weights are not
// available here. Provides:
//   - the mapping of any model's images [N, C, H, W] in [−1, 1] (C = 1 or 3; H = W = 28, 32 or
//     64) to the classifier's input [N, 1, 28, 28] in [0, 1]: mean over channels, 2×2 average
//     pooling 64 → 32, centre crop 32 → 28, (x + 1)/2 clamped to [0, 1] and rounded to 8 bits;
//   - features and `FeatureStatistics` of image sets, computed in batches without gradients;
//   - the reference statistics: the Fashion-MNIST test set (10 000 images), a seeded random
//     subset of the training set (the "floor" a perfect model would reach with as many
//     images), and `count` images of any `ImageGenerator` — for a class-conditional model with
//     class-balanced labels and a guidance scale, plus the classifier's accuracy on the
//     requested class.
// The classifier ships as models/fashion-classifier.safetensors (see docs/training.md, "FID").

import Autograd
import Foundation
import Tensor

/// The FID feature extractor: the lesson-03 classifier's penultimate layer.
public struct FashionFeatureExtractor {
    /// Where the shipped classifier weights are, relative to the package root.
    public static let defaultWeightsPath = "models/fashion-classifier.safetensors"
    /// The number of features per image.
    public static let featureDimension = 128

    /// The network whose `features(_:)` define the feature space.
    public let classifier: FashionClassifier

    /// Uses `classifier` as it is (for example a freshly initialized one in a test).
    public init(classifier: FashionClassifier) {
        self.classifier = classifier
    }

    /// Loads the classifier weights from a safetensors file (PyTorch names, as lesson 03 writes).
    /// - Throws: `FIDError.classifierNotFound` when there is no file at `url`; the safetensors
    ///   reader's error for a corrupt file; `StateDictionaryError` for weights of another network.
    public init(weightsAt url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FIDError.classifierNotFound(path: url.path)
        }
        // The initial values are overwritten by the strict load below.
        var generator = TorchGenerator(seed: 0)
        let classifier = FashionClassifier(generator: &generator)
        try classifier.loadWeights(from: url)
        self.classifier = classifier
    }

    // MARK: Images

    /// Maps images in the model range to the classifier's input: [N, C, H, W] in [−1, 1] →
    /// [N, 1, 28, 28] in [0, 1].
    ///
    /// The mean over channels makes gray of RGB; 64×64 images (the size the latent model decodes
    /// to) are 2×2 average pooled to 32×32; 32×32 images (Fashion-MNIST padded by 2 pixels per
    /// side for the UNet) are centre-cropped to 28×28, which undoes that padding exactly. Then
    /// x ↦ (x + 1)/2, clamped to [0, 1] and rounded to the nearest multiple of 1/255: what
    /// writing the image as an 8-bit PNG would keep, and the grid the test images (bytes / 255)
    /// lie on.
    /// - Throws: `FIDError.unsupportedImages` for other shapes, `FIDError.nonFiniteValues` for
    ///   NaN or infinite pixels.
    public static func classifierInput(fromModelRange images: Tensor) throws -> Tensor {
        let shape = images.shape
        guard images.rank == 4, shape[0] >= 1, shape[1] == 1 || shape[1] == 3, shape[2] == shape[3],
              [28, 32, 64].contains(shape[2]) else {
            throw FIDError.unsupportedImages(shape: shape)
        }
        var x = images.contiguous()
        guard x.scalars.allSatisfy(\.isFinite) else { throw FIDError.nonFiniteValues("the images") }
        if shape[1] == 3 { x = x.mean(axes: [1], keepingDims: true) }     // [N, 1, H, W]
        if x.shape[2] == 64 { x = x.averagePooled2d(kernel: 2) }           // [N, 1, 32, 32]
        if x.shape[2] == 32 {                                               // [N, 1, 28, 28]
            x = x.sliced(axis: 2, 2..<30).sliced(axis: 3, 2..<30).contiguous()
        }
        return x.map { (Swift.min(Swift.max(($0 + 1) / 2, 0), 1) * 255).rounded() / 255 }
    }

    // MARK: Features

    /// The 128 penultimate features [N, 128] of images [N, 1, 28, 28] in [0, 1], computed
    /// `batchSize` images at a time without recording gradients.
    public func features(of images: Tensor, batchSize: Int = 500) -> Tensor {
        precondition(images.rank == 4 && Array(images.shape.dropFirst()) == [1, 28, 28],
                     "FashionFeatureExtractor: images must be [N, 1, 28, 28], got \(images.shape)")
        precondition(batchSize >= 1, "FashionFeatureExtractor: batch size \(batchSize) must be positive")
        let n = images.shape[0]
        var scalars: [Float] = []
        scalars.reserveCapacity(n * Self.featureDimension)
        withoutGradients {
            for start in stride(from: 0, to: n, by: batchSize) {
                let batch = images.sliced(axis: 0, start..<Swift.min(start + batchSize, n))
                scalars += classifier.features(Variable(batch)).value.contiguous().scalars
            }
        }
        return Tensor(shape: [n, Self.featureDimension], scalars: scalars)
    }

    /// Statistics of the features of classifier-ready images [N, 1, 28, 28] in [0, 1].
    /// - Throws: `FIDError.tooFewImages` for N < 2, `FIDError.nonFiniteValues`.
    public func statistics(ofClassifierInput images: Tensor, batchSize: Int = 500) throws -> FeatureStatistics {
        try FeatureStatistics(features: features(of: images, batchSize: batchSize))
    }

    /// Statistics of the features of model images [N, C, H, W] in [−1, 1]
    /// (through `classifierInput(fromModelRange:)`).
    public func statistics(ofModelImages images: Tensor, batchSize: Int = 500) throws -> FeatureStatistics {
        try statistics(ofClassifierInput: Self.classifierInput(fromModelRange: images), batchSize: batchSize)
    }

    // MARK: Reference sets

    /// Statistics of the 10 000 Fashion-MNIST test images (the reference set of every FID here).
    /// - Throws: `FashionMNISTError` naming the package when the data set is not installed.
    public func testSetStatistics(folder: URL? = nil) throws -> FeatureStatistics {
        try FeatureStatistics(features: testSetFeatures(folder: folder))
    }

    /// The features [10 000, 128] of the Fashion-MNIST test images, in the data set's order.
    /// - Throws: `FashionMNISTError` naming the package when the data set is not installed.
    public func testSetFeatures(folder: URL? = nil) throws -> Tensor {
        features(of: try FashionMNIST.load(.test, folder: folder).inputs)
    }

    /// Statistics of `count` training images drawn without replacement by a seeded generator:
    /// the FID of real images against the test set at this sample size, the floor a perfect
    /// model would reach (FID's estimate is biased upwards for small sets).
    /// - Throws: `FIDError.invalidCount` unless 2 ≤ count ≤ 60 000; `FashionMNISTError`.
    public func trainingSubsetStatistics(count: Int, seed: UInt64, folder: URL? = nil) throws -> FeatureStatistics {
        try FeatureStatistics(features: trainingSubsetFeatures(count: count, seed: seed, folder: folder))
    }

    /// The features [count, 128] of the training images `trainingSubsetStatistics` uses.
    /// - Throws: `FIDError.invalidCount` unless 2 ≤ count ≤ 60 000; `FashionMNISTError`.
    public func trainingSubsetFeatures(count: Int, seed: UInt64, folder: URL? = nil) throws -> Tensor {
        guard count >= 2 else { throw FIDError.tooFewImages(count: count) }
        let train = try FashionMNIST.load(.train, folder: folder)
        guard count <= train.count else {
            throw FIDError.invalidCount("asked for \(count) training images, the training set has \(train.count)")
        }
        return features(of: train.batch(Self.sampleIndices(count: count, from: train.count, seed: seed)).inputs)
    }

    /// `count` distinct indices in 0..<total: the first `count` positions of a Fisher–Yates
    /// shuffle driven by `SplitMix64(seed)`, each draw mapped to its range by a 64×64-bit
    /// multiply (Lemire 2019), so the choice does not depend on the standard library's algorithms.
    public static func sampleIndices(count: Int, from total: Int, seed: UInt64) -> [Int] {
        precondition(count >= 0 && count <= total, "sampleIndices: \(count) of \(total)")
        var indices = Array(0..<total)
        var generator = SplitMix64(seed: seed)
        for i in 0..<count {
            let j = i + Int(UInt64(total - i).multipliedFullWidth(by: generator.next()).high)
            indices.swapAt(i, j)
        }
        return Array(indices.prefix(count))
    }

    /// Statistics of `count` images made by `generator`, generated `batchSize` at a time
    /// (the statistics of `generatedFeatures`, which says how the batches are seeded).
    /// - Throws: `FIDError.tooFewImages` for count < 2; the generator's and the mapping's errors.
    public func generatedStatistics(of generator: any ImageGenerator, count: Int, sampler: String, steps: Int,
                                    schedule: String?, seed: UInt64, batchSize: Int,
                                    progress: ((Int) -> Void)? = nil) throws -> FeatureStatistics {
        try FeatureStatistics(features: generatedFeatures(of: generator, count: count, sampler: sampler, steps: steps,
                                                          schedule: schedule, seed: seed, batchSize: batchSize, progress: progress))
    }

    /// The features [count, 128] of `count` unconditional images made by `generator`, generated
    /// `batchSize` at a time (`generatedFeatures(of:count:sampler:steps:schedule:seed:batchSize:guidanceScale:progress:)`
    /// without guidance, which says how the batches are seeded).
    /// - Throws: `FIDError.tooFewImages` for count < 2; the generator's and the mapping's errors.
    public func generatedFeatures(of generator: any ImageGenerator, count: Int, sampler: String, steps: Int,
                                  schedule: String?, seed: UInt64, batchSize: Int,
                                  progress: ((Int) -> Void)? = nil) throws -> Tensor {
        try generatedFeatures(of: generator, count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                              batchSize: batchSize, guidanceScale: nil, progress: progress).features
    }

    /// The features of generated images and, for a class-conditional run, how often the
    /// classifier recognizes the requested class.
    public struct GeneratedFeatures {
        /// The penultimate features [count, 128].
        public var features: Tensor
        /// The class requested for each image (empty for an unconditional run).
        public var requestedClasses: [Int]
        /// The classifier's predicted class of each image.
        public var predictedClasses: [Int]
        /// `classAccuracy(predicted:requested:)`, nil for an unconditional run.
        public var classAccuracy: Double? {
            requestedClasses.isEmpty ? nil : Diffusion.classAccuracy(predicted: predictedClasses, requested: requestedClasses)
        }
    }

    /// The features [count, 128] of `count` images made by `generator`, generated `batchSize` at
    /// a time, and the classifier's prediction for each.
    ///
    /// Batch b (0, 1, ...) is generated with seed `seed &+ b · 0x9E3779B97F4A7C15` (SplitMix64's
    /// increment): batch 0 uses `seed` itself, so `diffuse sample --seed S --count B` shows it,
    /// and the batches' seeds never collide. The same seed and batch size give the same images.
    /// With `guidanceScale`, the generator must be class-conditional with the classifier's 10
    /// classes: image i of the run asks for class i mod 10 (`ClassGuidance.balancedLabels`, so
    /// the classes are balanced and the same for every batch size) at that guidance scale.
    /// - Parameter progress: called after each batch with the number of images done so far.
    /// - Throws: `FIDError.tooFewImages` for count < 2; `FIDError.invalidGuidance` for guidance on
    ///   an unconditional model, a model with another class count, or a negative or non-finite
    ///   scale; the generator's and the mapping's errors.
    public func generatedFeatures(of generator: any ImageGenerator, count: Int, sampler: String, steps: Int,
                                  schedule: String?, seed: UInt64, batchSize: Int, guidanceScale: Double?,
                                  progress: ((Int) -> Void)? = nil) throws -> GeneratedFeatures {
        guard count >= 2 else { throw FIDError.tooFewImages(count: count) }
        guard batchSize >= 1 else { throw FIDError.invalidCount("batch size \(batchSize) must be at least 1") }
        let classes = classifier.fc2.weight.shape[0]
        if let guidanceScale {
            try Self.checkGuidance(scale: guidanceScale, modelClasses: generator.classCount, classifierClasses: classes)
        }
        var scalars: [Float] = [], requested: [Int] = [], predicted: [Int] = []
        scalars.reserveCapacity(count * Self.featureDimension)
        var done = 0, batchIndex: UInt64 = 0
        while done < count {
            let size = Swift.min(batchSize, count - done)
            let guidance = guidanceScale.map {
                ClassGuidance(labels: ClassGuidance.balancedLabels(first: done, count: size, classes: classes), scale: $0)
            }
            let images = try generator.generateImages(count: size, sampler: sampler, steps: steps, schedule: schedule,
                                                      seed: seed &+ batchIndex &* 0x9E37_79B9_7F4A_7C15, guidance: guidance)
            let batchFeatures = features(of: try Self.classifierInput(fromModelRange: images), batchSize: size)
            scalars += batchFeatures.scalars
            predicted += predictions(fromFeatures: batchFeatures)
            requested += guidance?.labels ?? []
            done += size
            batchIndex += 1
            progress?(done)
        }
        return GeneratedFeatures(features: Tensor(shape: [count, Self.featureDimension], scalars: scalars),
                                 requestedClasses: requested, predictedClasses: predicted)
    }

    /// The classifier's predicted classes (argmax of `fc2`'s logits) of penultimate features [N, 128].
    public func predictions(fromFeatures features: Tensor) -> [Int] {
        withoutGradients { classifier.fc2(Variable(features)).value.argmax(axis: 1).scalars.map { Int($0) } }
    }

    /// Throws `FIDError.invalidGuidance` unless `scale` is finite and non-negative and the model is
    /// class-conditional with the classifier's classes.
    public static func checkGuidance(scale: Double, modelClasses: Int?, classifierClasses: Int) throws {
        guard scale.isFinite, scale >= 0 else {
            throw FIDError.invalidGuidance("the guidance scale must be a finite number ≥ 0 (0 = unconditional, 1 = plain conditional), got \(scale)")
        }
        guard let modelClasses else {
            throw FIDError.invalidGuidance("the model is unconditional; guidance needs a class-conditional model (trained with --class-conditional): drop --guidance")
        }
        guard modelClasses == classifierClasses else {
            throw FIDError.invalidGuidance("the model has \(modelClasses) classes but the classifier that checks them has \(classifierClasses)")
        }
    }
}
