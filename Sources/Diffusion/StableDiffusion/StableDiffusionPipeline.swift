// Contract: Stable Diffusion as a library: prompt in, latents and images out. Text to image,
// image to image (SDEdit) and inpainting, each reproducing diffusers' `StableDiffusionPipeline`,
// `StableDiffusionImg2ImgPipeline` and `StableDiffusionInpaintPipeline` on CPU with the same
// seed and scheduler: the same text states (negative prompt or the empty prompt, clip skip on
// the prompt only, as diffusers), one batched UNet call for both halves of classifier-free
// guidance, the same random draws from ONE PyTorch-compatible generator in diffusers' order
// (VAE posterior samples, starting noise, then the sampler's noise), and the same timesteps
// (`RunPlan`, from `DiffusersSchedulerPlan` for diffusers class names). The k-diffusion and
// AUTOMATIC1111 names run the project's samplers over k-diffusion's sigmas instead.
//
// Shapes: latents [B, 4, H/f, W/f] with f the VAE's downsampling factor (8 for SD); text
// states [B, 77, d]; images [B, 3, H, W] in [0, 1].

import Autograd
import Foundation
import Tensor

/// What to generate.
public struct GenerationRequest: Sendable {
    /// What the run starts from.
    public enum Mode: Sendable {
        /// Pure noise.
        case textToImage
        /// An init image [3, H, W] in [0, 1] noised to the level `strength` of the schedule (SDEdit).
        case imageToImage(image: Tensor, strength: Double)
        /// An image [3, H, W] and a mask [1, H, W] in [0, 1] (white = repaint). A 9-channel UNet
        /// sees the mask and the masked image; with an ordinary UNet the kept region is re-noised
        /// to the next noise level after every step, as diffusers' `StableDiffusionInpaintPipeline`.
        case inpainting(image: Tensor, mask: Tensor, strength: Double)
    }

    /// The prompt.
    public var prompt: String
    /// The negative prompt; empty = the empty prompt's states (as diffusers).
    public var negativePrompt: String = ""
    /// Sampler steps (for img2img: of the full schedule; `strength` of them run).
    public var steps: Int = 20
    /// Classifier-free guidance scale; at most 1 turns guidance off (one UNet half).
    public var guidanceScale: Double = 7.5
    /// The seed of the one `TorchGenerator` every random draw comes from.
    public var seed: UInt64 = 0
    /// Image width in pixels (a multiple of the VAE's factor, 8 for SD).
    public var width: Int = 512
    /// Image height in pixels.
    public var height: Int = 512
    /// Images generated together.
    public var batchSize: Int = 1
    /// Final text-encoder layers left out (diffusers `clip_skip`; AUTOMATIC1111's "Clip skip N" is N - 1).
    public var clipSkip: Int = 0
    /// Any name of `SamplerRegistry` or a diffusers scheduler class (`DiffusersSchedulerPlan`).
    public var sampler: String = "Euler a"
    /// A `SigmaSchedule` name for the k-diffusion samplers (nil: k-diffusion's uniform
    /// "discrete" schedule, or the one an AUTOMATIC1111 label implies).
    public var schedule: String?
    /// Text, image or inpainting.
    public var mode: Mode = .textToImage
    /// Report a preview image every this many steps (0: none).
    public var previewEvery: Int = 0

    /// A text-to-image request with the defaults above.
    public init(prompt: String) { self.prompt = prompt }
}

/// One step's report.
public struct GenerationProgress {
    /// Steps done before this one (0-based index of the step about to run).
    public let step: Int
    /// Steps of the run.
    public let steps: Int
    /// The noise level of the state.
    public let sigma: Double
    /// The state x_i (VE form) and the denoised estimate D(x_i) ([B, 4, h, w]).
    public let latents: Tensor, denoised: Tensor
    /// A preview of `denoised` ([B, 3, H', W'] in [0, 1]) when this step is a preview step.
    public let preview: Tensor?
}

/// The outcome of a run.
public struct GenerationResult {
    /// The final latents as diffusers' `output_type="latent"` returns them (before division by
    /// the VAE's scaling factor), [B, 4, h, w].
    public let latents: Tensor
    /// The decoded images [B, 3, H, W] in [0, 1] (nil when decoding was not asked for).
    public let images: Tensor?
    /// The prompt's words that did not fit in 77 tokens (empty when it fits).
    public let truncatedText: String
    /// Seconds per part: "tokenize", "text encoder", "step 1" ... "step N", "decode".
    public let timings: [(part: String, seconds: Double)]
}

/// An error of a generation request or run: the problem and the fix.
public struct StableDiffusionPipelineError: Error, CustomStringConvertible, Sendable {
    /// The sentence printed to the user.
    public let description: String
    /// Creates the error.
    public init(_ description: String) { self.description = description }

    /// NaN or infinity produced by `part` at step `step` (1-based; 0 = before sampling).
    public static func nonFinite(part: String, step: Int) -> StableDiffusionPipelineError {
        StableDiffusionPipelineError("\(part) produced NaN or infinity" + (step > 0 ? " at step \(step)" : "")
            + "; the model file may be damaged, or values overflowed (F16 weights can overflow in some layers)")
    }
}

/// How previews are drawn from latents.
public enum LatentPreviewDecoder {
    /// The linear latent-to-RGB map of SD 1.x (`latentRGBFactors`): cheap, rough colours.
    case linear
    /// TAESD's decoder (the images at full size).
    case taesd(TAESD)

    /// SD 1.x latents (already multiplied by the scaling factor) → approximate RGB in [-1, 1]:
    /// rows are latent channels, columns R, G, B (ComfyUI's `latent_formats.SD15`).
    public static let latentRGBFactors: [[Float]] = [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]

    /// The preview of latents [B, 4, h, w] as images in [0, 1] ([B, 3, h, w] for `.linear`).
    public func decode(_ latents: Tensor) throws -> Tensor {
        switch self {
        case .taesd(let model): return try model.decode(latents)
        case .linear:
            let b = latents.shape[0], c = latents.shape[1], hw = latents.shape[2] * latents.shape[3]
            let src = latents.contiguous().scalars
            var out = [Float](repeating: 0, count: b * 3 * hw)
            for n in 0..<b {
                for rgb in 0..<3 {
                    for k in 0..<min(c, 4) {
                        let f = Self.latentRGBFactors[k][rgb]
                        for p in 0..<hw { out[(n * 3 + rgb) * hw + p] += f * src[(n * c + k) * hw + p] }
                    }
                }
            }
            return Tensor(shape: [b, 3, latents.shape[2], latents.shape[3]], scalars: out.map { min(max(($0 + 1) / 2, 0), 1) })
        }
    }
}

/// Stable Diffusion's parts put together (see the file comment).
public final class StableDiffusionPipeline {
    /// The CLIP tokenizer.
    public let tokenizer: CLIPTokenizer
    /// The text encoder.
    public let textEncoder: CLIPTextModel
    /// The conditional UNet (4 input channels, or 9 for inpainting models).
    public let unet: UNet2DConditionModel
    /// The autoencoder.
    public let vae: AutoencoderKL
    /// The model's scheduler configuration (`scheduler/scheduler_config.json`).
    public let scheduler: DiffusersSchedulerConfiguration
    /// How previews are drawn.
    public var previewDecoder: LatentPreviewDecoder = .linear
    /// Whether a model's weights mapped from 16-bit files are released from memory while the
    /// model is idle: the text encoder's after encoding, the UNet's before decoding
    /// (`Module.releaseResidentWeights`; they are read back from the file, usually from the page
    /// cache, on next use). This keeps the peak at the UNet's stage instead of UNet + VAE
    /// decoder, as Apple's ml-stable-diffusion does with `reduceMemory`.
    public var releasesIdleWeights = true

    /// Puts loaded parts together.
    public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: UNet2DConditionModel, vae: AutoencoderKL,
                scheduler: DiffusersSchedulerConfiguration) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.unet = unet
        self.vae = vae
        self.scheduler = scheduler
    }

    /// Loads every part of a checkpoint (a diffusers folder or a single file). The tokenizer is
    /// the folder's (`tokenizer/vocab.json`) or CLIP's vocabulary shipped with the module, with
    /// the folder's pad token (SD 2.x pads with `!`); the scheduler configuration is the folder's
    /// or, for a single file without one, SD 1.x's (`PNDMScheduler`, scaled-linear betas,
    /// `steps_offset` 1, epsilon).
    /// - Parameter keepHalfPrecision: keep F16/BF16 weights 16-bit in memory.
    public convenience init(checkpoint: StableDiffusionCheckpoint, configurationFolder: URL? = nil,
                            keepHalfPrecision: Bool = true) throws {
        let folder = configurationFolder ?? checkpoint.url
        var tokenizer: CLIPTokenizer
        let manager = FileManager.default
        if manager.fileExists(atPath: folder.appendingPathComponent("tokenizer/vocab.json").path) {
            tokenizer = try CLIPTokenizer(folder: folder)
        } else {
            tokenizer = try CLIPTokenizer.bundled()
            let tokenizerFolder = folder.appendingPathComponent("tokenizer")
            var pad: String? = manager.fileExists(atPath: tokenizerFolder.path) ? try CLIPTokenizer.padToken(inFolder: tokenizerFolder) : nil
            if pad == nil && checkpoint.textEncoderConfiguration.hiddenSize == 1024 { pad = "!" }
            if let pad {
                guard let id = tokenizer.id(of: pad) else {
                    throw StableDiffusionPipelineError("the pad token \"\(pad)\" of \(tokenizerFolder.path) is not in CLIP's vocabulary")
                }
                tokenizer.padTokenID = id
            }
        }
        let schedulerURL = folder.appendingPathComponent("scheduler/scheduler_config.json")
        let scheduler: DiffusersSchedulerConfiguration
        if manager.fileExists(atPath: schedulerURL.path) {
            scheduler = try DiffusersSchedulerConfiguration(contentsOf: schedulerURL)
        } else {
            scheduler = try DiffusersSchedulerConfiguration(json: Data(#"{"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "clip_sample": false}"#.utf8))
        }
        self.init(tokenizer: tokenizer, textEncoder: try checkpoint.loadTextEncoder(keepHalfPrecision: keepHalfPrecision),
                  unet: try checkpoint.loadUNet(keepHalfPrecision: keepHalfPrecision),
                  vae: try checkpoint.loadVAE(keepHalfPrecision: keepHalfPrecision), scheduler: scheduler)
    }

    /// The VAE's downsampling factor (8 for SD).
    public var downsamplingFactor: Int { vae.downsamplingFactor }

    /// Whether the UNet takes the mask and the masked image (9 input channels).
    public var isInpaintingModel: Bool { unet.configuration.inChannels == vae.configuration.latentChannels * 2 + 1 }

    // MARK: Text

    /// The token ids of `prompt` (77, padded) and the text of the tokens cut off (empty when it fits).
    public func tokenize(_ prompt: String) -> (ids: [Int], truncatedText: String) {
        let (ids, cut) = tokenizer.tokenize(prompt)
        guard cut > 0 else { return (ids, "") }
        let body = tokenizer.encode(prompt)
        let words = body.suffix(cut).compactMap { tokenizer.token(for: $0) }.joined()
        return (ids, words.replacingOccurrences(of: "</w>", with: " ").trimmingCharacters(in: .whitespaces))
    }

    /// Text states [2B or B, 77, d]: the negative prompt's (last layer) then the prompt's (after
    /// `clipSkip` skipped layers), each repeated `batch` times; only the prompt's without guidance.
    func encodeText(prompt: [Int], negative: [Int], batch: Int, clipSkip: Int, guided: Bool) throws -> Tensor {
        let layers = textEncoder.configuration.numHiddenLayers
        guard (0..<layers).contains(clipSkip) else {
            throw StableDiffusionPipelineError("clip skip \(clipSkip) leaves no layer of the \(layers)-layer text encoder; use 0 to \(layers - 1) skipped layers (AUTOMATIC1111's \"Clip skip\" 1 to \(layers))")
        }
        let cond = textEncoder([prompt], skippedLayers: clipSkip)
        var parts = Array(repeating: cond, count: batch)
        if guided { parts = Array(repeating: textEncoder([negative]), count: batch) + parts }
        let states = Tensor.concatenate(parts, axis: 0)
        if states.scalars.contains(where: { !$0.isFinite }) { throw StableDiffusionPipelineError.nonFinite(part: "the text encoder", step: 0) }
        return states
    }

    // MARK: Checks

    /// Throws a `StableDiffusionPipelineError` naming the first invalid setting of `request`.
    public func validate(_ request: GenerationRequest) throws {
        // The VAE divides the size by its factor; the UNet takes any latent size (its upsamplers
        // meet odd sizes of the down path as diffusers' do), so a multiple of the VAE's factor.
        let f = downsamplingFactor, largest = 8192
        guard request.width > 0, request.height > 0, request.width % f == 0, request.height % f == 0 else {
            throw StableDiffusionPipelineError("width and height must be positive multiples of \(f) for this model (the VAE divides them by \(f)), got \(request.width)x\(request.height); try \(max(f, request.width / f * f))x\(max(f, request.height / f * f))")
        }
        guard request.width <= largest, request.height <= largest else {
            throw StableDiffusionPipelineError("width and height must be at most \(largest) pixels, got \(request.width)x\(request.height)")
        }
        guard request.steps >= 1 else { throw StableDiffusionPipelineError("steps must be at least 1, got \(request.steps)") }
        guard request.batchSize >= 1 else { throw StableDiffusionPipelineError("batch size must be at least 1, got \(request.batchSize)") }
        guard request.guidanceScale.isFinite else { throw StableDiffusionPipelineError("the guidance scale must be a finite number") }
        func checkImage(_ image: Tensor, channels: Int, name: String) throws {
            guard image.rank == 3, image.shape[0] == channels else {
                throw StableDiffusionPipelineError("the \(name) must be [\(channels), H, W], got \(image.shape)")
            }
            guard image.shape[1] == request.height, image.shape[2] == request.width else {
                throw StableDiffusionPipelineError("the \(name) is \(image.shape[2])x\(image.shape[1]) but the request is \(request.width)x\(request.height); resize it to the requested size first")
            }
        }
        func checkStrength(_ s: Double) throws {
            guard s > 0, s <= 1 else { throw StableDiffusionPipelineError("strength must be in (0, 1], got \(s)") }
            guard Int(Double(request.steps) * s) >= 1 else {
                throw StableDiffusionPipelineError("strength \(s) of \(request.steps) steps runs no step (diffusers runs int(steps * strength) steps); raise --steps or --strength")
            }
        }
        switch request.mode {
        case .textToImage:
            if isInpaintingModel { throw StableDiffusionPipelineError("this is a 9-channel inpainting model: use inpainting (an image and a mask)") }
        case let .imageToImage(image, strength):
            if isInpaintingModel { throw StableDiffusionPipelineError("this is a 9-channel inpainting model: use inpainting (an image and a mask)") }
            try checkImage(image, channels: 3, name: "init image")
            try checkStrength(strength)
        case let .inpainting(image, mask, strength):
            try checkImage(image, channels: 3, name: "init image")
            try checkImage(mask, channels: 1, name: "mask")
            try checkStrength(strength)
        }
    }

    // MARK: Generation

    /// Runs `request`.
    /// - Parameters:
    ///   - decode: decode the final latents with the VAE (false: latents only).
    ///   - progress: called before every step; throw to stop.
    /// - Throws: `StableDiffusionPipelineError` for an invalid request or NaN/infinity (naming
    ///   the step and part); the sampler registry's and scheduler plan's errors for names and steps.
    public func generate(_ request: GenerationRequest, decode: Bool = true,
                         progress: ((GenerationProgress) throws -> Void)? = nil) throws -> GenerationResult {
        try validate(request)
        var timings: [(part: String, seconds: Double)] = []
        let clock = ContinuousClock()
        var mark = clock.now
        // Time since the last lap goes to `part`: added to it when it was the last part timed.
        func lap(_ part: String) {
            let now = clock.now
            let seconds = (now - mark) / .seconds(1)
            if timings.last?.part == part { timings[timings.count - 1].seconds += seconds } else { timings.append((part, seconds)) }
            mark = now
        }
        let plan = try RunPlan(sampler: request.sampler, schedule: request.schedule, steps: request.steps, configuration: scheduler)
        let guided = request.guidanceScale > 1
        let batch = request.batchSize
        let (ids, truncated) = tokenize(request.prompt)
        let negative = tokenize(request.negativePrompt).ids
        lap("tokenize")
        let states = Variable(try encodeText(prompt: ids, negative: negative, batch: batch, clipSkip: request.clipSkip, guided: guided))
        if releasesIdleWeights { textEncoder.releaseResidentWeights() }
        lap("text encoder")

        let latentChannels = vae.configuration.latentChannels, scaling = Float(vae.configuration.scalingFactor)
        let shape = [batch, latentChannels, request.height / downsamplingFactor, request.width / downsamplingFactor]
        var generator = TorchGenerator(seed: request.seed)
        // img2img and inpainting below strength 1 run the last int(n s) steps (diffusers' get_timesteps).
        var start = 0
        switch request.mode {
        case .textToImage: break
        case let .imageToImage(_, strength), let .inpainting(_, _, strength):
            start = request.steps - min(Int(Double(request.steps) * strength), request.steps)
        }
        let run = try plan.run(startingAt: start)
        var x: Tensor
        var extraChannels: Tensor?  // 9-channel UNets: mask and masked-image latents, [B, 5, h, w]
        var blend: (mask: Tensor, clean: Tensor, noise: Tensor)?  // 4-channel inpainting
        func encodeImage(_ image01: Tensor) -> Tensor {
            let posterior = vae.encode((image01 * 2 - 1).unsqueezed(axis: 0))
            let z = posterior.sample(generator: &generator) * scaling
            return Tensor.concatenate(Array(repeating: z, count: batch), axis: 0)
        }
        switch request.mode {
        case .textToImage:
            x = generator.randn(shape) * Float(plan.initialNoiseScale)
        case let .imageToImage(image, _):
            let clean = encodeImage(image)
            x = clean + generator.randn(shape) * Float(run.sigmas[0])
        case let .inpainting(image, mask, strength):
            let binary = mask.map { $0 < 0.5 ? 0 : 1 }
            let clean: Tensor? = (!isInpaintingModel || strength < 1) ? encodeImage(image) : nil
            let noise = generator.randn(shape)
            x = strength == 1 ? noise * Float(plan.initialNoiseScale) : clean! + noise * Float(run.sigmas[0])
            // diffusers encodes the masked image in both cases (a posterior sample: one draw);
            // masked pixels are 0 in [-1, 1], i.e. mid-gray.
            let masked = encodeImage(image * (1 - binary) + binary * 0.5)
            let small = Self.nearestDownsample(binary, factor: downsamplingFactor)  // [1, h, w]
            let maskBatch = Tensor.concatenate(Array(repeating: small.unsqueezed(axis: 0), count: batch), axis: 0)
            if isInpaintingModel {
                extraChannels = Tensor.concatenate([maskBatch, masked], axis: 1)
            } else {
                blend = (maskBatch.expanded(to: shape).contiguous(), clean!, noise)
            }
        }
        if x.scalars.contains(where: { !$0.isFinite }) { throw StableDiffusionPipelineError.nonFinite(part: "the VAE encoder", step: 0) }
        lap("prepare latents")

        // The denoiser: one UNet call on [uncond; cond] (and the 9-channel extras), guidance on its output.
        var currentStep = 0
        let unet = self.unet, scale = request.guidanceScale
        let extras = extraChannels.map { guided ? Tensor.concatenate([$0, $0], axis: 0) : $0 }
        var denoiser: any Denoiser = DiscreteTimeDenoiser(schedule: plan.schedule,
                                                          prediction: try scheduler.prediction(),
                                                          modelTimesteps: plan.modelTimesteps) { input, t in
            var batchInput = guided ? Tensor.concatenate([input, input], axis: 0) : input
            if let extras { batchInput = Tensor.concatenate([batchInput, extras], axis: 1) }
            let out = withoutGradients { unet(Variable(batchInput), timesteps: [Float(t)], context: states).value }
            if out.scalars.contains(where: { !$0.isFinite }) {
                throw StableDiffusionPipelineError.nonFinite(part: "the UNet", step: currentStep + 1)
            }
            guard guided else { return out }
            // Guidance on the UNet's output (epsilon or v), before it becomes a denoised estimate, as diffusers.
            return GuidedDenoiser.combine(unconditional: out.sliced(axis: 0, start: 0, end: batch),
                                          conditional: out.sliced(axis: 0, start: batch, end: 2 * batch), scale: scale)
        }
        if let r = plan.clipDenoised {
            let inner = denoiser, lo = Float(-r), hi = Float(r)
            denoiser = ClosureDenoiser { x, sigma in try inner.denoise(x, sigma: sigma).map { min(max($0, lo), hi) } }
        }
        if let blend {
            // diffusers' 4-channel inpainting: after each scheduler step the kept region (mask 0)
            // of the state is replaced by the image's latent noised to the next timestep with the
            // starting noise, add_noise(clean, noise, t_{i+1}), and by the clean latent after the
            // last step. The samplers' updates act on each latent value separately, so the
            // repainted region depends on the kept one only through the UNet's input: giving the
            // UNet the re-noised kept region at every call but the first (which sees the starting
            // latents as they are: pure noise at strength 1) and blending the result below is
            // that same computation. The kept region's estimate is the clean latent, so the
            // state the sampler carries there follows clean + sigma * noise for the ODE samplers.
            // A call between two sigmas of the run (KDPM2's midpoint) sees the kept region at
            // the step's next sigma with diffusers' KDPM2 classes (`renoisesHalfStepAtNextSigma`),
            // at its own sigma otherwise.
            let inner = denoiser, grid = run.sigmas, halfStepAtNext = plan.renoisesHalfStepAtNextSigma
            var calls = 0, lastOnGrid = 0
            denoiser = ClosureDenoiser { x, sigma in
                defer { calls += 1 }
                var level = sigma
                if let j = grid.firstIndex(of: sigma) {
                    lastOnGrid = j
                } else if halfStepAtNext {
                    level = grid[min(lastOnGrid + 1, grid.count - 1)]
                }
                var input = x
                if calls > 0 {
                    let kept = SamplerMath.combine(1, blend.clean, level, blend.noise)
                    input = kept + (x - kept) * blend.mask
                }
                let d = try inner.denoise(input, sigma: sigma)
                return blend.clean + (d - blend.clean) * blend.mask
            }
        }

        let sigmas = run.sigmas
        let stepCount = sigmas.count - 1
        let callback: SamplerCallback = { [self] step in
            currentStep = step.index
            if step.x.scalars.contains(where: { !$0.isFinite }) {
                throw StableDiffusionPipelineError.nonFinite(part: "the sampler", step: step.index)
            }
            // The callback comes after step i's model call: the lap since the previous one is that call.
            lap("step \(step.index + 1)")
            guard let progress else { return }
            var preview: Tensor?
            if request.previewEvery > 0, step.index % request.previewEvery == 0 || step.index == stepCount - 1 {
                preview = try previewDecoder.decode(step.denoised)
            }
            try progress(GenerationProgress(step: step.index, steps: stepCount, sigma: step.sigma, latents: step.x,
                                            denoised: step.denoised, preview: preview))
        }
        var out = try run.sampler.sample(denoiser, x: x, sigmas: sigmas, noise: GeneratorNoise(generator),
                                                            callback: callback)
        if out.scalars.contains(where: { !$0.isFinite }) { throw StableDiffusionPipelineError.nonFinite(part: "the sampler", step: stepCount) }
        lap("step \(stepCount)")  // the last step's update, after its callback
        if plan.outputScale != 1 { out = out * Float(plan.outputScale) }
        if let blend { out = blend.clean + (out - blend.clean) * blend.mask }
        guard decode else { return GenerationResult(latents: out, images: nil, truncatedText: truncated, timings: timings) }
        if releasesIdleWeights { unet.releaseResidentWeights() }
        let images = try decodeLatents(out)
        lap("decode")
        return GenerationResult(latents: out, images: images, truncatedText: truncated, timings: timings)
    }

    /// Images [B, 3, H, W] in [0, 1] from latents as the pipeline returns them (diffusers'
    /// `vae.decode(latents / scaling_factor)`, then `(x / 2 + 0.5).clamp(0, 1)`).
    /// - Throws: `StableDiffusionPipelineError.nonFinite` when the decoder produces NaN/infinity.
    public func decodeLatents(_ latents: Tensor) throws -> Tensor {
        let images = vae.decode(latents * (1 / Float(vae.configuration.scalingFactor)))
        if images.scalars.contains(where: { !$0.isFinite }) { throw StableDiffusionPipelineError.nonFinite(part: "the VAE decoder", step: 0) }
        return images.map { min(max($0 / 2 + 0.5, 0), 1) }
    }

    /// A mask [1, H, W] read at every `factor`-th pixel (torch's nearest `interpolate` to [h, w]).
    static func nearestDownsample(_ mask: Tensor, factor: Int) -> Tensor {
        let h = mask.shape[1] / factor, w = mask.shape[2] / factor
        let src = mask.contiguous().scalars, width = mask.shape[2]
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w { out[y * w + x] = src[y * factor * width + x * factor] } }
        return Tensor(shape: [1, h, w], scalars: out)
    }
}

/// The sigmas and sampler of one run, from any sampler name: a diffusers scheduler class
/// (without a schedule name) as `DiffusersSchedulerPlan` builds it; any other name of the
/// registry over k-diffusion's sigmas (the named schedule, or the uniform "discrete" one)
/// between the model's smallest and largest sigma, starting from sigma_0 * N(0, I).
struct RunPlan {
    let sigmas: [Double]
    let modelTimesteps: [Double: Double]
    let initialNoiseScale: Double
    let outputScale: Double
    let clipDenoised: Double?
    let schedule: DiscreteNoiseSchedule
    /// `DiffusersSchedulerPlan.renoisesHalfStepAtNextSigma` (false for k-diffusion names).
    let renoisesHalfStepAtNextSigma: Bool
    let makeRun: (Int) throws -> (sigmas: [Double], sampler: any Sampler)

    /// The sigmas and sampler of the run from step `start` (img2img and inpainting below strength 1).
    func run(startingAt start: Int) throws -> (sigmas: [Double], sampler: any Sampler) { try makeRun(start) }

    init(sampler name: String, schedule scheduleName: String?, steps: Int, configuration: DiffusersSchedulerConfiguration) throws {
        var configuration = configuration
        if let className = DiffusersSchedulerPlan.className(matching: name), className == "DPMSolverSinglestepScheduler",
           let scheduleName {
            // No k-diffusion sampler is this class: a schedule name is its own construction option.
            guard scheduleName.lowercased() == "karras" else {
                throw DiffusionError.invalidParameter("DPMSolverSinglestepScheduler takes the schedule karras (diffusers' use_karras_sigmas), not \"\(scheduleName)\"; leave --schedule out for its own timesteps, or use the dpmpp_2s_ancestral sampler with that schedule")
            }
            configuration.useKarrasSigmas = true
        }
        if let className = DiffusersSchedulerPlan.className(matching: name),
           scheduleName == nil || className == "DPMSolverSinglestepScheduler" {
            let plan = try DiffusersSchedulerPlan(className: className, configuration: configuration, steps: steps)
            sigmas = plan.sigmas
            modelTimesteps = plan.modelTimesteps
            initialNoiseScale = plan.initialNoiseScale
            outputScale = plan.outputScale
            clipDenoised = plan.clipDenoised
            schedule = plan.schedule
            renoisesHalfStepAtNextSigma = plan.renoisesHalfStepAtNextSigma
            makeRun = plan.run(startingAt:)
            return
        }
        let choice = try SamplerRegistry.resolve(name)
        let noise = try configuration.makeNoiseSchedule()
        guard steps >= 1 else { throw DiffusionError.invalidStepCount(steps, reason: "at least 1 step is needed") }
        if let named = scheduleName ?? choice.schedule?.rawValue, named != "discrete", named != "uniform" {
            sigmas = try SigmaSchedule(named: named).sigmas(count: steps, sigmaMin: noise.sigmaMin, sigmaMax: noise.sigmaMax)
        } else {
            sigmas = try noise.uniformSigmas(count: steps)
        }
        modelTimesteps = [:]
        initialNoiseScale = sigmas[0]
        outputScale = 1
        clipDenoised = nil
        schedule = noise
        renoisesHalfStepAtNextSigma = false
        let sampler = choice.sampler, all = sigmas
        makeRun = { start in (Array(all[start...]), sampler) }
    }
}
