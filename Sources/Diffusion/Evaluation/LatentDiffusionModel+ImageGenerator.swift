// Contract: a `LatentDiffusionModel` as an `ImageGenerator`: latents sampled with the latent UNet
// (with the requested classes and guidance scale, unconditional without them), decoded by TAESD
// to [count, 3, 8h, 8w] in [−1, 1]; its model-evaluation count is the latent UNet's (the one
// decoder pass per image is not counted).

import Tensor

extension LatentDiffusionModel: ImageGenerator {
    /// The latent UNet's class count (nil: unconditional).
    public var classCount: Int? { latentModel.classCount }

    /// `sample(count:sampler:steps:schedule:seed:classLabels:guidanceScale:)` with every other
    /// option at its default: decoded images [count, 3, 8h, 8w] in [−1, 1].
    public func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64,
                               guidance: ClassGuidance?) throws -> Tensor {
        try sample(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                   classLabels: guidance?.labels, guidanceScale: guidance?.scale ?? 1)
    }

    /// UNet calls per image, as for the latent UNet alone (`DDPMModel.modelEvaluations`).
    public func modelEvaluations(sampler: String, steps: Int, schedule: String?) throws -> Int {
        try latentModel.modelEvaluations(sampler: sampler, steps: steps, schedule: schedule)
    }
}
