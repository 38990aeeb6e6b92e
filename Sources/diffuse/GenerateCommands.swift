// Contract: `diffuse txt2img`, `diffuse img2img` and `diffuse inpaint` — Stable Diffusion from a
// diffusers folder or a single `.safetensors` file through `StableDiffusionPipeline`. Shared
// options in `GenerationOptions`; a progress bar with s/it and ETA; per-part timings and the
// peak resident memory at the end; PNGs carrying AUTOMATIC1111's `parameters` text; `--from-png`
// reads those parameters back (options given on the command line win); `--batch-count` runs
// batches with seeds seed, seed + 1, ...; `--latents-out` writes
// the final latents as diffusers' `output_type="latent"` returns them (one tensor `latents`).
// No existing file is replaced without `--overwrite`; bad input is one `error:` line and exit 1.

import ArgumentParser
import Diffusion
import Foundation
import LessonKit
import Tensor

/// Options shared by the three generation commands (nil = not given: the PNG's value with
/// `--from-png`, else the default in the help).
struct GenerationOptions: ParsableArguments {
    @Option(help: "A diffusers Stable Diffusion folder (model_index.json, unet/, vae/, text_encoder/, ...) or a single .safetensors checkpoint.")
    var model: String
    @Option(help: "Configuration folder for a single-file checkpoint (its unet/, vae/, text_encoder/ config.json, tokenizer/, scheduler/).")
    var config: String?
    @Option(help: "The prompt.")
    var prompt: String?
    @Option(help: "The negative prompt (default: none, i.e. the empty prompt).")
    var negativePrompt: String?
    @Option(parsing: .unconditional, help: "Sampler steps (default 20).")
    var steps: Int?
    @Option(help: "Sampler: a k-diffusion name (euler_ancestral, dpmpp_2m, ...), an AUTOMATIC1111 label (\"Euler a\", \"DPM++ 2M Karras\") or a diffusers scheduler class (EulerDiscreteScheduler, ...; run as diffusers runs it). Default \"Euler a\".")
    var sampler: String?
    @Option(help: "Sigma schedule for k-diffusion samplers: karras, exponential, polyexponential, vp, linear (default: the uniform discrete schedule). With DPMSolverSinglestepScheduler, karras is its use_karras_sigmas.")
    var schedule: String?
    @Option(parsing: .unconditional, help: "Classifier-free guidance scale (default 7.5; 1 or less turns guidance off).")
    var cfg: Double?
    @Option(parsing: .unconditional, help: "Seed of the PyTorch-compatible generator (default 0): the same seed gives diffusers' latents on CPU.")
    var seed: UInt64?
    @Option(parsing: .unconditional, help: "Image width: a multiple of 8 for SD 1.x/2.x (the VAE's factor); default 512, or the init image's.")
    var width: Int?
    @Option(parsing: .unconditional, help: "Image height: a multiple of 8 for SD 1.x/2.x; default 512, or the init image's.")
    var height: Int?
    @Option(parsing: .unconditional, help: "Images generated together (batch size, default 1); files are numbered when more than one.")
    var batch: Int?
    @Option(parsing: .unconditional, help: "Batches run one after the other, batch k with seed + k (default 1).")
    var batchCount: Int = 1
    @Option(parsing: .unconditional, help: "AUTOMATIC1111's clip skip: 1 = the text encoder's last layer (default), 2 = the one before, ...")
    var clipSkip: Int?
    @Option(name: .customLong("out"), help: "Output PNG (default: txt2img.png, img2img.png or inpaint.png).")
    var output: String?
    @Option(help: "Also write the final latents (before division by the VAE scaling factor) as a safetensors file with one tensor named latents.")
    var latentsOut: String?
    @Option(help: "Final decoder: full (the model's VAE, default) or taesd (fast, approximate).")
    var vae: String = "full"
    @Option(help: "Folder with taesd_decoder.safetensors (default: ../shared/weights/taesd-sd1 or $SWIFTDIFFUSION_SHARED/weights/taesd-sd1).")
    var taesd: String?
    @Option(parsing: .unconditional, help: "Write a preview of the current estimate every N steps (0: none).")
    var previewEvery: Int = 0
    @Option(help: "Preview PNG (default: the output name with -preview).")
    var preview: String?
    @Option(help: "Regenerate from the parameters stored in this PNG (options given here override them).")
    var fromPng: String?
    @Flag(help: "Replace output files that already exist.")
    var overwrite = false
    @Flag(help: "Load 16-bit weights widened to Float32 (more memory, same results).")
    var float32Weights = false
}

/// `diffuse txt2img`.
struct TextToImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txt2img", abstract: "Generate images from a prompt with Stable Diffusion.")
    @OptionGroup var options: GenerationOptions

    func run() throws { try reportingErrors { try runGeneration(options, kind: .textToImage) } }
}

/// `diffuse img2img`.
struct ImageToImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "img2img", abstract: "Redraw an image from a prompt (SDEdit) with Stable Diffusion.")
    @OptionGroup var options: GenerationOptions
    @Option(help: "The init image (PNG); resized to cover the requested size and centre-cropped if it differs.")
    var initImage: String
    @Option(parsing: .unconditional, help: "How far along the schedule to start, in (0, 1] (default 0.75; 1 ignores the image's content).")
    var strength: Double?

    func run() throws {
        try reportingErrors { try runGeneration(options, kind: .imageToImage(initImage: initImage, strength: strength)) }
    }
}

/// `diffuse inpaint`.
struct InpaintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inpaint", abstract: "Repaint the white part of a mask with Stable Diffusion (inpainting models, or any model by latent blending).")
    @OptionGroup var options: GenerationOptions
    @Option(help: "The image (PNG).")
    var initImage: String
    @Option(help: "The mask (PNG, same size as the image; white = repaint, black = keep).")
    var mask: String
    @Option(parsing: .unconditional, help: "Strength in (0, 1] (default 1: the masked part starts from pure noise).")
    var strength: Double?

    func run() throws {
        try reportingErrors { try runGeneration(options, kind: .inpainting(initImage: initImage, mask: mask, strength: strength)) }
    }
}

/// Which command runs.
enum GenerationKind {
    case textToImage
    case imageToImage(initImage: String, strength: Double?)
    case inpainting(initImage: String, mask: String, strength: Double?)

    var defaultOutput: String {
        switch self { case .textToImage: "txt2img.png"; case .imageToImage: "img2img.png"; case .inpainting: "inpaint.png" }
    }
}

/// Fails unless `path` may be written: absent, or `overwrite`.
func checkWritable(_ path: String, overwrite: Bool) throws {
    if !overwrite && FileManager.default.fileExists(atPath: path) {
        throw ValidationError("\(path) exists; pass --overwrite to replace it or choose another --out")
    }
}

/// Reads a PNG as [C, H, W] in [0, 1], naming the option on failure.
func readImage(_ path: String, option: String) throws -> Tensor {
    guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(option): \(path) does not exist") }
    do { return try PNG.read(URL(fileURLWithPath: path), maxPixels: 4096 * 4096) } catch {
        throw ValidationError("\(option): \(path) is not a readable PNG image (\(error))")
    }
}

/// The image as RGB [3, H, W] (gray repeated, alpha dropped).
func rgb(_ image: Tensor) -> Tensor {
    switch image.shape[0] {
    case 1, 2: let g = image.sliced(axis: 0, start: 0, end: 1); return Tensor.concatenate([g, g, g], axis: 0)
    default: return image.sliced(axis: 0, start: 0, end: 3).contiguous()
    }
}

/// The image as gray [1, H, W] with PIL's `convert("L")` weights (alpha dropped).
func gray(_ image: Tensor) -> Tensor {
    if image.shape[0] <= 2 { return image.sliced(axis: 0, start: 0, end: 1).contiguous() }
    let r = image.sliced(axis: 0, start: 0, end: 1), g = image.sliced(axis: 0, start: 1, end: 2), b = image.sliced(axis: 0, start: 2, end: 3)
    return r * 0.299 + g * 0.587 + b * 0.114
}

/// `image` [C, h, w] scaled (bilinear, half-pixel centres) to cover width x height, then centre-cropped.
func fit(_ image: Tensor, width: Int, height: Int) -> Tensor {
    let c = image.shape[0], h = image.shape[1], w = image.shape[2]
    if h == height && w == width { return image }
    let scale = max(Double(width) / Double(w), Double(height) / Double(h))
    let sw = Double(w) * scale, sh = Double(h) * scale
    let ox = (sw - Double(width)) / 2, oy = (sh - Double(height)) / 2
    let src = image.contiguous().scalars
    var out = [Float](repeating: 0, count: c * width * height)
    for y in 0..<height {
        let fy = min(max((Double(y) + 0.5 + oy) / scale - 0.5, 0), Double(h - 1))
        let y0 = Int(fy), y1 = min(y0 + 1, h - 1), wy = Float(fy - Double(y0))
        for x in 0..<width {
            let fx = min(max((Double(x) + 0.5 + ox) / scale - 0.5, 0), Double(w - 1))
            let x0 = Int(fx), x1 = min(x0 + 1, w - 1), wx = Float(fx - Double(x0))
            for k in 0..<c {
                let base = k * h * w
                let top = src[base + y0 * w + x0] * (1 - wx) + src[base + y0 * w + x1] * wx
                let bottom = src[base + y1 * w + x0] * (1 - wx) + src[base + y1 * w + x1] * wx
                out[(k * height + y) * width + x] = top * (1 - wy) + bottom * wy
            }
        }
    }
    return Tensor(shape: [c, height, width], scalars: out)
}

/// The shared folder (`$SWIFTDIFFUSION_SHARED`, else `../shared` beside the working directory's package).
func sharedFolder() -> URL {
    if let path = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"] { return URL(fileURLWithPath: path) }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).deletingLastPathComponent().appendingPathComponent("shared")
}

/// Peak resident memory of this process so far, in MB (getrusage's ru_maxrss, KiB on Linux).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The body of the three commands.
func runGeneration(_ o: GenerationOptions, kind: GenerationKind) throws {
    // A generation allocates and frees the same large activations at every step: keep freed
    // memory for reuse instead of mapping each buffer fresh (page faults, kernel zeroing).
    TensorStorage.keepFreedMemoryForReuse()
    // Parameters: command line, else --from-png, else defaults.
    var stored: GenerationParameters?
    if let fromPng = o.fromPng {
        guard FileManager.default.fileExists(atPath: fromPng) else { throw ValidationError("--from-png: \(fromPng) does not exist") }
        let chunks = try PNGText.read(try Data(contentsOf: URL(fileURLWithPath: fromPng)))
        guard let text = chunks["parameters"] else {
            throw ValidationError("--from-png: \(fromPng) has no \"parameters\" text chunk (it was not written by diffuse or AUTOMATIC1111)")
        }
        stored = try GenerationParameters(parsing: text)
    }
    guard let prompt = o.prompt ?? stored?.prompt else { throw ValidationError("give --prompt (or --from-png)") }
    let steps = o.steps ?? stored?.steps ?? 20
    guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
    guard steps <= ConfigurationLimits.samplerSteps.upperBound else {
        throw ValidationError("--steps must be at most \(ConfigurationLimits.samplerSteps.upperBound), got \(steps)")
    }
    let batch = o.batch ?? 1
    guard (1...64).contains(batch) else { throw ValidationError("--batch must lie in 1...64 (images generated at once), got \(batch)") }
    guard (1...10_000).contains(o.batchCount) else { throw ValidationError("--batch-count must lie in 1...10000, got \(o.batchCount)") }
    let clipSkip = o.clipSkip ?? stored?.clipSkip ?? 1
    guard clipSkip >= 1 else { throw ValidationError("--clip-skip counts from 1 (the last layer), got \(clipSkip)") }
    guard o.vae == "full" || o.vae == "taesd" else { throw ValidationError("--vae must be full or taesd, got \(o.vae)") }
    guard o.previewEvery >= 0 else { throw ValidationError("--preview-every must be 0 or more") }
    let sampler = o.sampler ?? stored?.sampler ?? "Euler a"
    try checkSamplerName(sampler)

    // Files: inputs first (clear errors before the model loads), outputs checked for overwriting.
    var initImage: Tensor?, maskImage: Tensor?, strength: Double?
    switch kind {
    case .textToImage: break
    case let .imageToImage(path, s):
        initImage = rgb(try readImage(path, option: "--init-image")); strength = s ?? stored?.denoisingStrength ?? 0.75
    case let .inpainting(path, mask, s):
        initImage = rgb(try readImage(path, option: "--init-image")); strength = s ?? stored?.denoisingStrength ?? 1
        maskImage = gray(try readImage(mask, option: "--mask"))
        guard maskImage!.shape[1] == initImage!.shape[1], maskImage!.shape[2] == initImage!.shape[2] else {
            throw ValidationError("--mask is \(maskImage!.shape[2])x\(maskImage!.shape[1]) but --init-image is \(initImage!.shape[2])x\(initImage!.shape[1]); they must be the same size")
        }
    }
    if let strength, !(strength > 0 && strength <= 1) { throw ValidationError("--strength must be in (0, 1], got \(strength)") }
    let width = o.width ?? stored?.width ?? initImage.map { max(8, $0.shape[2] / 8 * 8) } ?? 512
    let height = o.height ?? stored?.height ?? initImage.map { max(8, $0.shape[1] / 8 * 8) } ?? 512
    let output = o.output ?? kind.defaultOutput
    let total = batch * o.batchCount
    let outputs = total == 1 ? [output] : (0..<total).map { i in
        let url = URL(fileURLWithPath: output)
        return url.deletingPathExtension().path + "-\(i + 1)." + (url.pathExtension.isEmpty ? "png" : url.pathExtension)
    }
    for path in outputs + [o.latentsOut].compactMap({ $0 }) { try checkWritable(path, overwrite: o.overwrite) }
    let previewPath = o.previewEvery > 0 ? (o.preview ?? URL(fileURLWithPath: output).deletingPathExtension().path + "-preview.png") : nil
    if let previewPath { try checkWritable(previewPath, overwrite: o.overwrite) }

    // The model.
    let clock = ContinuousClock()
    let loadStart = clock.now
    let modelURL = URL(fileURLWithPath: o.model)
    guard FileManager.default.fileExists(atPath: o.model) else { throw ValidationError("--model: \(o.model) does not exist") }
    let configFolder = o.config.map { URL(fileURLWithPath: $0) }
    let checkpoint = try StableDiffusionCheckpoint(contentsOf: modelURL, configurationFolder: configFolder)
    let pipeline = try StableDiffusionPipeline(checkpoint: checkpoint, configurationFolder: configFolder,
                                               keepHalfPrecision: !o.float32Weights)
    var taesd: TAESD?
    if o.vae == "taesd" || o.previewEvery > 0 {
        let folder = o.taesd.map { URL(fileURLWithPath: $0) } ?? sharedFolder().appendingPathComponent("weights/taesd-sd1")
        let decoder = folder.appendingPathComponent(TAESD.decoderFileName)
        if FileManager.default.fileExists(atPath: decoder.path) {
            taesd = try TAESD.load(directory: folder)
        } else if o.vae == "taesd" {
            throw ValidationError("--vae taesd: no \(TAESD.decoderFileName) in \(folder.path); pass --taesd FOLDER")
        }
    }
    if let taesd { pipeline.previewDecoder = .taesd(taesd) }
    let loadSeconds = (clock.now - loadStart) / .seconds(1)

    var request = GenerationRequest(prompt: prompt)
    request.negativePrompt = o.negativePrompt ?? stored?.negativePrompt ?? ""
    request.steps = steps
    request.guidanceScale = o.cfg ?? stored?.cfgScale ?? 7.5
    request.seed = o.seed ?? stored?.seed ?? 0
    request.width = width
    request.height = height
    request.batchSize = batch
    request.clipSkip = clipSkip - 1
    request.sampler = sampler
    request.schedule = o.schedule ?? stored?.schedule
    request.previewEvery = o.previewEvery
    switch kind {
    case .textToImage: break
    case .imageToImage: request.mode = .imageToImage(image: fit(initImage!, width: width, height: height), strength: strength!)
    case .inpainting:
        request.mode = .inpainting(image: fit(initImage!, width: width, height: height),
                                   mask: fit(maskImage!, width: width, height: height), strength: strength!)
    }
    try pipeline.validate(request)
    let (_, cut) = pipeline.tokenize(request.prompt)
    if !cut.isEmpty {
        FileHandle.standardError.write(Data("warning: the prompt is longer than 77 tokens; cut: \"\(cut)\"\n".utf8))
    }

    let hash = try? automatic1111ModelHash(of: weightsFile(of: modelURL))
    let firstSeed = request.seed
    var allLatents: [Tensor] = []
    for run in 0..<o.batchCount {
        request.seed = firstSeed &+ UInt64(run)
        var bar: ProgressBar?
        let result = try pipeline.generate(request, decode: o.vae == "full") { p in
            if bar == nil { bar = ProgressBar(total: p.steps, label: o.batchCount > 1 ? "batch \(run + 1)/\(o.batchCount)" : "sampling") }
            bar?.update(completed: p.step, message: String(format: "sigma %.3f", p.sigma))
            if let preview = p.preview, let previewPath {
                try PNG.write(imageGrid(preview, columns: preview.shape[0], padding: 0), to: URL(fileURLWithPath: previewPath))
            }
        }
        bar?.finish()
        allLatents.append(result.latents)
        var images = result.images
        var timings = result.timings
        if o.vae == "taesd", let taesd {
            let start = clock.now
            images = try taesd.decode(result.latents)
            timings.append(("decode (TAESD)", (clock.now - start) / .seconds(1)))
        }

        // Files.
        var parameters = GenerationParameters(
            prompt: request.prompt, negativePrompt: request.negativePrompt, steps: steps, sampler: sampler, schedule: request.schedule,
            cfgScale: request.guidanceScale, seed: request.seed, width: width, height: height, clipSkip: clipSkip,
            denoisingStrength: strength, modelHash: hash, model: modelURL.deletingPathExtension().lastPathComponent)
        for i in 0..<batch {
            guard let images else { break }
            let path = outputs[run * batch + i]
            if batch > 1 { parameters.otherFields = [("Batch size", "\(batch)"), ("Batch pos", "\(i)")] }
            let png = try PNG.encode(images.sliced(axis: 0, start: i, end: i + 1).squeezed(axis: 0), path: path)
            try AtomicFile.write(try PNGText.inserting([("parameters", parameters.text)], into: png), to: URL(fileURLWithPath: path))
            print("wrote \(path)")
        }
        var lines = run == 0 ? [String(format: "load %.2f s", loadSeconds)] : []
        let stepTimes = timings.filter { $0.part.hasPrefix("step ") }.map(\.seconds)
        for t in timings where !t.part.hasPrefix("step ") { lines.append(t.part + String(format: " %.2f s", t.seconds)) }
        if !stepTimes.isEmpty {
            lines.append(String(format: "%d steps %.2f s (%.2f s/it, first %.2f s)", stepTimes.count, stepTimes.reduce(0, +),
                                stepTimes.reduce(0, +) / Double(stepTimes.count), stepTimes[0]))
        }
        lines.append(String(format: "peak resident memory %.0f MB", peakResidentMegabytes()))
        print(lines.joined(separator: ", "))
    }
    if let latentsOut = o.latentsOut {
        let latents = Tensor.concatenate(allLatents, axis: 0)
        try Safetensors.write(["latents": latents], metadata: ["format": "pt"], to: URL(fileURLWithPath: latentsOut))
        print("wrote \(latentsOut) (latents \(latents.shape))")
    }
}

/// The weights file the model hash is taken from: the file itself, or a folder's UNet weights.
func weightsFile(of model: URL) -> URL {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isDirectory), isDirectory.boolValue else { return model }
    let unet = model.appendingPathComponent("unet")
    let files = (try? FileManager.default.contentsOfDirectory(atPath: unet.path))?.filter { $0.hasSuffix(".safetensors") }.sorted() ?? []
    return unet.appendingPathComponent(files.first ?? "diffusion_pytorch_model.safetensors")
}

/// Resolves a sampler name early, so an unknown one fails before the model loads.
func checkSamplerName(_ name: String) throws {
    if DiffusersSchedulerPlan.className(matching: name) == nil { _ = try SamplerRegistry.resolve(name) }
}
