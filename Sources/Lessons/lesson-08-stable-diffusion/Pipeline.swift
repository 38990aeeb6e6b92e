// Pipeline: every call lesson 08 makes into the Stable Diffusion library, in one place.
//
// Contract: the lesson takes the pipeline apart (tokens, text states, one UNet call, one Euler
// step) and also runs it whole (`generate`); both go through this file, so that a change of the
// pipeline's API touches the lesson here only. Shapes: latents [1, 4, h, w], text states
// [77, d] for one prompt.

import Autograd
import Diffusion
import Foundation
import Tensor

/// A loaded Stable Diffusion pipeline and the pieces of it the lesson calls one by one.
struct PipelineParts {
    /// The pipeline (previews drawn by TAESD).
    let pipeline: StableDiffusionPipeline

    /// Loads the model at `model` (a diffusers folder or a single file).
    init(model: URL, taesd: TAESD, isRealModel: Bool) throws {
        pipeline = try StableDiffusionPipeline(checkpoint: StableDiffusionCheckpoint(contentsOf: model))
        pipeline.previewDecoder = .taesd(taesd)
    }

    /// The text states [77, d] of one prompt (last layer, as the pipeline uses them).
    func textStates(_ prompt: String) -> Tensor {
        pipeline.textEncoder([pipeline.tokenize(prompt).ids]).squeezed(axis: 0)
    }

    /// The sigmas of the k-diffusion `euler` sampler over `steps` steps: k-diffusion's uniform
    /// ("discrete") schedule of the model's noise schedule, ending in 0 (what `generate` uses).
    func eulerSigmas(steps: Int) throws -> [Double] {
        try pipeline.scheduler.makeNoiseSchedule().uniformSigmas(count: steps)
    }

    /// The latent shape for an image of `size`×`size` pixels.
    func latentShape(size: Int) -> [Int] {
        let f = pipeline.downsamplingFactor
        return [1, pipeline.vae.configuration.latentChannels, size / f, size / f]
    }

    /// One UNet call on latents `x` [1, 4, h, w] at noise level `sigma` for each text state in
    /// `states` ([77, d] each): the raw outputs, one [1, 4, h, w] per state. The input is scaled
    /// by 1/sqrt(sigma² + 1) and sigma becomes the model's (continuous) timestep, as in the
    /// pipeline's `DiscreteTimeDenoiser`; the batch is one call, as the pipeline does it.
    func unetOutputs(x: Tensor, sigma: Double, states: [Tensor]) throws -> [Tensor] {
        let schedule = try pipeline.scheduler.makeNoiseSchedule()
        let t = Float(schedule.timestep(forSigma: sigma))
        let input = Tensor.concatenate(Array(repeating: x * Float(DiscreteTimeDenoiser.inputScale(sigma: sigma)), count: states.count), axis: 0)
        let context = Tensor.stack(states, axis: 0)
        let out = withoutGradients { pipeline.unet(Variable(input), timesteps: [t], context: Variable(context)).value }
        return (0..<states.count).map { out.sliced(axis: 0, start: $0, end: $0 + 1).contiguous() }
    }

    /// The denoised estimate D(x; sigma) from a model output (epsilon or v, as the model's
    /// scheduler configuration says): `DiscreteTimeDenoiser` around the given output.
    func denoised(output: Tensor, x: Tensor, sigma: Double) throws -> Tensor {
        let denoiser = DiscreteTimeDenoiser(schedule: try pipeline.scheduler.makeNoiseSchedule(),
                                            prediction: try pipeline.scheduler.prediction()) { _, _ in output }
        return try denoiser.denoise(x, sigma: sigma)
    }

    /// Runs the whole pipeline (text to image) and returns its result.
    func generate(prompt: String, sampler: String, steps: Int, guidance: Double, size: Int, seed: UInt64,
                  previewEvery: Int = 0, decode: Bool = true,
                  progress: ((GenerationProgress) throws -> Void)? = nil) throws -> GenerationResult {
        var request = GenerationRequest(prompt: prompt)
        request.sampler = sampler
        request.steps = steps
        request.guidanceScale = guidance
        request.width = size
        request.height = size
        request.seed = seed
        request.previewEvery = previewEvery
        return try pipeline.generate(request, decode: decode, progress: progress)
    }
}
