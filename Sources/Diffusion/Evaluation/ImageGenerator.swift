// Contract: `ImageGenerator`, anything that turns a seed into images (a pixel DDPM, a latent
// model with its decoder), so the FID code does not care which kind of model it samples; the
// count of model evaluations a sampler run costs; and `loadImageGenerator(from:)`, the ONE
// place that decides what kind of model a folder holds.

import Foundation
import Tensor

/// Anything that turns seeds into images, so FID code does not care which kind of model it is.
public protocol ImageGenerator {
    /// `count` images [count, C, H, W] in the model range [−1, 1] (like `DDPMModel.sample`).
    /// - Parameters:
    ///   - sampler: any name of the sampler registry.
    ///   - steps: sampler steps.
    ///   - schedule: nil (the model's own sigmas, or the one an A1111 label implies) or a
    ///     `SigmaSchedule` name.
    ///   - seed: fixes the starting noise and the sampler's noise.
    func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64) throws -> Tensor

    /// Model evaluations (network calls) one image costs for this sampler, step count and
    /// schedule — the x axis of a quality-against-cost plot. Implementations can use
    /// `countDenoiserEvaluations(sampler:sigmas:)` with the sigmas they would sample over.
    func modelEvaluations(sampler: String, steps: Int, schedule: String?) throws -> Int
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
