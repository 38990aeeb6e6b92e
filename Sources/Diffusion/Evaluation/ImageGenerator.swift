// Contract: `ImageGenerator`, anything that turns a seed into images (a pixel DDPM, a latent
// model with its decoder), so the FID code does not care which kind of model it samples; the
// count of model evaluations a sampler run costs; `ClassGuidance`, what a class-conditional
// model is asked for (a class per image and a classifier-free guidance scale); and
// `loadImageGenerator(from:)`, the ONE place that decides what kind of model a folder holds.

import Foundation
import Tensor

/// Anything that turns seeds into images, so FID code does not care which kind of model it is.
public protocol ImageGenerator {
    /// The number of classes of a class-conditional model (labels 0..<classCount); nil for an
    /// unconditional model.
    var classCount: Int? { get }

    /// `count` images [count, C, H, W] in the model range [−1, 1] (like `DDPMModel.sample`).
    /// - Parameters:
    ///   - sampler: any name of the sampler registry.
    ///   - steps: sampler steps.
    ///   - schedule: nil (the model's own sigmas, or the one an A1111 label implies) or a
    ///     `SigmaSchedule` name.
    ///   - seed: fixes the starting noise and the sampler's noise.
    ///   - guidance: the class of every image and the guidance scale (class-conditional models
    ///     only); nil samples unconditionally (the "no class" label of a class-conditional model).
    func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64,
                        guidance: ClassGuidance?) throws -> Tensor

    /// Model evaluations (network calls) one image costs for this sampler, step count and
    /// schedule — the x axis of a quality-against-cost plot. Implementations can use
    /// `countDenoiserEvaluations(sampler:sigmas:)` with the sigmas they would sample over.
    func modelEvaluations(sampler: String, steps: Int, schedule: String?) throws -> Int
}

extension ImageGenerator {
    /// Unconditional images: `generateImages(count:sampler:steps:schedule:seed:guidance:)` with no guidance.
    public func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64) throws -> Tensor {
        try generateImages(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed, guidance: nil)
    }

    /// Network evaluations per image at guidance scale `scale`: `modelEvaluations` times two
    /// when guidance combines two predictions (the UNet then runs on both halves of the stacked
    /// batch, `BatchedGuidedDenoiser`), once at scale 0 (unconditional) or 1 (plain conditional).
    public func modelEvaluations(sampler: String, steps: Int, schedule: String?, guidanceScale scale: Double?) throws -> Int {
        let perImage = try modelEvaluations(sampler: sampler, steps: steps, schedule: schedule)
        guard let scale, scale != 0, scale != 1 else { return perImage }
        return 2 * perImage
    }
}

/// What a class-conditional model is asked to generate: the class of every image and the
/// classifier-free guidance scale (Ho & Salimans 2022: 0 = unconditional, 1 = plain conditional).
public struct ClassGuidance: Sendable, Equatable {
    /// The requested class of each image.
    public var labels: [Int]
    /// The guidance scale g of `D_u + g (D_c − D_u)`.
    public var scale: Double

    /// Creates the request.
    public init(labels: [Int], scale: Double) {
        self.labels = labels
        self.scale = scale
    }

    /// Class-balanced labels for images `first..<first + count` of a run: image i gets class
    /// `i mod classes`, so every run of `classes` consecutive images holds each class once.
    public static func balancedLabels(first: Int, count: Int, classes: Int) -> [Int] {
        precondition(classes >= 1 && first >= 0 && count >= 0, "balancedLabels: \(count) from \(first) over \(classes) classes")
        return (first..<(first + count)).map { $0 % classes }
    }
}

/// The fraction of images whose predicted class equals the requested one (classifier accuracy
/// on the requested class), 0 for no images.
public func classAccuracy(predicted: [Int], requested: [Int]) -> Double {
    precondition(predicted.count == requested.count, "classAccuracy: \(predicted.count) predictions for \(requested.count) requests")
    guard !predicted.isEmpty else { return 0 }
    return Double(zip(predicted, requested).filter { $0 == $1 }.count) / Double(predicted.count)
}

/// The number of denoiser calls `sampler` makes along `sigmas`, counted by running it on a
/// zero denoiser over a one-element state (exact for every sampler of the registry: their
/// call count depends only on the sigma list, not on the values they see — for example Heun
/// and DPM-2 take one call instead of two on a last step to σ = 0, PLMS one extra on its first).
/// - Throws: the registry's `DiffusionError.unknownSampler`; the sampler's error for a bad sigma list.
public func countDenoiserEvaluations(sampler: String, sigmas: [Double]) throws -> Int {
    let choice = try SamplerRegistry.resolve(sampler)
    let counter = CountingDenoiser(ClosureDenoiser { x, _ in Tensor(shape: x.shape, repeating: 0) })
    _ = try choice.sampler.sample(counter, x: Tensor(shape: [1], repeating: 0), sigmas: sigmas, seed: 0)
    return counter.count
}

/// The image generator stored in `folder`. This is the single function that maps a model folder
/// to a kind of model; every FID command goes through it.
///
/// - A diffusers `DDPMPipeline` folder or a training checkpoint folder: a pixel-space
///   `DDPMModel` (EMA weights of a checkpoint).
/// - A folder with `vae/`: a `LatentDiffusionModel` (latent UNet plus TAESD's decoder).
/// - Throws: `LatentModelError` for a latent folder that is incomplete; `DDPMModel.load`'s errors
///   (`TrainingError.invalidModel` for a folder that holds no model, `StateDictionaryError`
///   for weights that do not fit their config).
public func loadImageGenerator(from folder: URL) throws -> any ImageGenerator {
    if LatentDiffusionModel.isLatentModel(at: folder) {
        return try LatentDiffusionModel.load(from: folder)
    }
    return try DDPMModel.load(from: folder)
}
