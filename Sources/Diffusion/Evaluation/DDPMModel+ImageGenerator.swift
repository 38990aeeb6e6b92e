// Contract: a pixel-space `DDPMModel` as an `ImageGenerator`: samples with the requested classes
// and guidance scale (unconditional without them: the "no class" label of a class-conditional
// model), x₀ clipped as the scheduler config says, and the model-evaluation count of the same
// sigma list `sample` would use.

import Tensor

extension DDPMModel: ImageGenerator {
    /// `sample(count:sampler:steps:schedule:seed:classLabels:guidanceScale:)` with every other
    /// option at its default: [count, C, H, W] in [−1, 1].
    public func generateImages(count: Int, sampler: String, steps: Int, schedule: String?, seed: UInt64,
                               guidance: ClassGuidance?) throws -> Tensor {
        try sample(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                   classLabels: guidance?.labels, guidanceScale: guidance?.scale ?? 1)
    }

    /// UNet calls per image: the denoiser calls of `sampler` over `sigmas(steps:schedule:)`, with
    /// the schedule an AUTOMATIC1111 label implies when `schedule` is nil (as `sample` does).
    public func modelEvaluations(sampler: String, steps: Int, schedule: String?) throws -> Int {
        let choice = try SamplerRegistry.resolve(sampler)
        let sigmas = try self.sigmas(steps: steps, schedule: schedule ?? choice.schedule?.rawValue)
        return try countDenoiserEvaluations(sampler: sampler, sigmas: sigmas)
    }
}
