// The Stable Diffusion pipeline against diffusers' own pipelines: complete txt2img (DDIM, PNDM,
// Euler, Euler ancestral with a batch of 2, DPM++ 2M with clip skip, Heun, UniPC, DEIS, LCM with
// a batch of 2), img2img at strength 0.6 (Euler, DDIM, UniPC) and 9-channel inpainting (DDIM, Euler ancestral) runs on the tiny SD 1.x
// (epsilon) and SD 2.x (v-prediction) models, 64x64, 6-8 steps, same seeds (fixtures from
// tools/make_sd_pipeline_fixtures.py). Every random draw comes from the seeded generator in
// diffusers' order, so the final latents must match to 1e-3 relative (infinity norm,
// Support/Fixtures.swift) and the 8-bit images within 1/255 on at least 99% of the values:
// the two sides differ by Float32 rounding through ~10-20 UNet calls (measured below 1e-4),
// while a wrong timestep, noise draw or guidance order moves latents by 1e-2 or more.
// A second set (pipeline-more-*) covers inpainting with the ordinary 4-channel models (DDIM and
// Euler ancestral at strength 1 and 0.75: the kept region re-noised after each step, as
// diffusers), PNDMScheduler off its own timestep grid (linspace, trailing) and in img2img, and
// DPMSolverSinglestepScheduler with use_karras_sigmas (txt2img and img2img); a case's `config`
// holds the scheduler configuration fields it changes. A third set (pipeline-twocall-*) covers
// 4-channel inpainting with the schedulers that call the UNet twice per step (Heun, KDPM2, KDPM2
// ancestral; strength 1 and 0.75), where diffusers re-noises the kept region after the predictor
// half too: at KDPM2's midpoint call it is at the step's next sigma. These match to 5e-6..1e-4,
// but KDPM2 ancestral on SD 2.x to 4.4e-4: diffusers computes the midpoint in Float32 and gives
// the UNet timestep 749.25037 where the exact midpoint's is 749.25 (diffusers' own run with the
// midpoint timesteps rounded to 749.25 moves by 5.6e-4). A fourth set (pipeline-pndm-*) covers
// 4-channel inpainting with PNDMScheduler (strength 1, 0.75 and 0.6), whose PLMS list repeats a
// timestep and whose re-noising of the kept region goes by the next timestep's value.
// Also: the request checks, NaN detection, prompt truncation and the PNG parameters round trip.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

private struct PipelineCase: Codable, CustomStringConvertible {
    /// A scheduler configuration value of the fixture (`timestep_spacing`, `use_karras_sigmas`, ...).
    enum ConfigValue: Codable {
        case flag(Bool), text(String), number(Double)
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) } else if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .flag(let b): try c.encode(b)
            case .text(let t): try c.encode(t)
            case .number(let d): try c.encode(d)
            }
        }
        var object: Any { switch self { case .flag(let b): b; case .text(let t): t; case .number(let d): d } }
    }
    let name, model, mode, scheduler, prompt, negative: String
    let steps, seed, batch, clip_skip, width, height: Int
    let guidance, strength: Double
    let config: [String: ConfigValue]?
    /// The fixture file holding the case's latents and image.
    var reference = "pipeline-reference.safetensors"
    var description: String { name }
    private enum CodingKeys: String, CodingKey {
        case name, model, mode, scheduler, prompt, negative, steps, seed, batch, clip_skip, width, height, guidance, strength, config
    }
}

/// The cases of one fixture pair (`<prefix>-cases.json`, `<prefix>-reference.safetensors`).
private func cases(_ prefix: String) -> [PipelineCase] {
    let list = (try? JSONDecoder().decode([PipelineCase].self, from: Data(contentsOf: TinySD.url("\(prefix)-cases.json")))) ?? []
    return list.map { var c = $0; c.reference = "\(prefix)-reference.safetensors"; return c }
}

private let pipelineCases = cases("pipeline") + cases("pipeline-more") + cases("pipeline-twocall") + cases("pipeline-pndm")

/// The pipeline of a tiny model (the inpainting UNet with tiny-sd1's other parts).
private func tinyPipeline(_ model: String) throws -> StableDiffusionPipeline {
    let base = try StableDiffusionPipeline(checkpoint: try StableDiffusionCheckpoint(contentsOf: TinySD.url(model == "tiny-sd1-inpaint" ? "tiny-sd1" : model)))
    guard model == "tiny-sd1-inpaint" else { return base }
    return StableDiffusionPipeline(tokenizer: base.tokenizer, textEncoder: base.textEncoder,
                                   unet: try StableDiffusionCheckpoint.loadUNet(folder: TinySD.url(model).appendingPathComponent("unet")), vae: base.vae,
                                   scheduler: base.scheduler)
}

private func initImage() throws -> Tensor { try PNG.read(TinySD.url("pipeline-init.png")) }
private func maskImage() throws -> Tensor { try PNG.read(TinySD.url("pipeline-mask.png")) }

@Suite("Stable Diffusion pipeline against diffusers")
struct StableDiffusionPipelineTests {
    @Test("final latents and images", arguments: pipelineCases)
    fileprivate func pipelineRun(_ c: PipelineCase) throws {
        var pipeline = try tinyPipeline(c.model)
        if let config = c.config {
            // The model's scheduler file with the case's fields on top (diffusers' from_config(config, **fields)).
            let file = TinySD.url(c.model).appendingPathComponent("scheduler/scheduler_config.json")
            var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
            for (key, value) in config { json[key] = value.object }
            let scheduler = try DiffusersSchedulerConfiguration(json: try JSONSerialization.data(withJSONObject: json))
            pipeline = StableDiffusionPipeline(tokenizer: pipeline.tokenizer, textEncoder: pipeline.textEncoder, unet: pipeline.unet,
                                               vae: pipeline.vae, scheduler: scheduler)
        }
        let reference = try SafetensorsFile(contentsOf: TinySD.url(c.reference))
        var request = GenerationRequest(prompt: c.prompt)
        request.negativePrompt = c.negative
        request.steps = c.steps
        request.guidanceScale = c.guidance
        request.seed = UInt64(c.seed)
        request.width = c.width
        request.height = c.height
        request.batchSize = c.batch
        request.clipSkip = c.clip_skip
        request.sampler = c.scheduler
        switch c.mode {
        case "img2img": request.mode = .imageToImage(image: try initImage(), strength: c.strength)
        case "inpaint": request.mode = .inpainting(image: try initImage(), mask: try maskImage(), strength: c.strength)
        default: break
        }
        let result = try pipeline.generate(request)
        let latents = try reference.tensor(named: "\(c.name).latents")
        #expect(result.latents.shape == latents.shape)
        let e = relativeError(result.latents, latents.scalars.map(Double.init))
        #expect(e <= 1e-3, "\(c.name): latents off by \(e)")
        let pixels = try reference.tensor(named: "\(c.name).image").scalars
        let mine = try #require(result.images).scalars.map { ($0 * 255).rounded() }
        #expect(mine.count == pixels.count)
        let close = zip(mine, pixels).filter { abs($0 - $1) <= 1 }.count
        #expect(Double(close) >= 0.99 * Double(pixels.count), "\(c.name): \(pixels.count - close) of \(pixels.count) values differ by more than 1/255")
    }

    @Test("bad requests are refused with the reason")
    func badRequests() throws {
        let pipeline = try tinyPipeline("tiny-sd1")
        func message(_ change: (inout GenerationRequest) -> Void) -> String {
            var r = GenerationRequest(prompt: "a cat")
            r.width = 64; r.height = 64; r.steps = 4
            change(&r)
            do { try pipeline.validate(r); return "" } catch { return "\(error)" }
        }
        #expect(message { _ in } == "")
        #expect(message { $0.width = 62 }.contains("multiples of 4 for this model"))
        #expect(message { $0.width = 60 } == "")  // the tiny VAE's factor is 4; the UNet takes any latent size
        #expect(message { $0.height = 8200 }.contains("at most 8192 pixels"))
        #expect(message { $0.steps = 0 }.contains("steps must be at least 1"))
        #expect(message { $0.batchSize = 0 }.contains("batch size"))
        #expect(message { $0.mode = .imageToImage(image: Tensor(shape: [3, 64, 64]), strength: 0) }.contains("strength must be in (0, 1]"))
        #expect(message { $0.mode = .imageToImage(image: Tensor(shape: [3, 64, 64]), strength: 1.5) }.contains("strength must be in (0, 1]"))
        #expect(message { $0.mode = .imageToImage(image: Tensor(shape: [3, 64, 64]), strength: 0.1) }.contains("runs no step"))
        #expect(message { $0.mode = .imageToImage(image: Tensor(shape: [3, 32, 64]), strength: 0.5) }.contains("init image is 64x32"))
        #expect(message { $0.mode = .inpainting(image: Tensor(shape: [3, 64, 64]), mask: Tensor(shape: [1, 48, 64]), strength: 1) }.contains("mask is 64x48"))
        var unknown = GenerationRequest(prompt: "a cat")
        unknown.width = 64; unknown.height = 64; unknown.sampler = "no such sampler"
        #expect(throws: DiffusionError.self) { try pipeline.generate(unknown) }
        var clip = GenerationRequest(prompt: "a cat")
        clip.width = 64; clip.height = 64; clip.clipSkip = 3
        #expect(throws: StableDiffusionPipelineError.self) { try pipeline.generate(clip) }
        let inpainting = try tinyPipeline("tiny-sd1-inpaint")
        var text = GenerationRequest(prompt: "a cat")
        text.width = 64; text.height = 64
        #expect(throws: StableDiffusionPipelineError.self) { try inpainting.validate(text) }
    }

    @Test("scheduler runs the port does not reproduce are refused with what to use")
    func unreproducedSchedulerRuns() throws {
        let base = try tinyPipeline("tiny-sd1")
        /// The error message of `generate` with the tiny model's scheduler changed by `edit`, or "" if it ran.
        func message(sampler: String, schedule: String? = nil, steps: Int, strength: Double? = nil,
                     _ edit: (inout DiffusersSchedulerConfiguration) -> Void = { _ in }) -> String {
            var scheduler = base.scheduler
            edit(&scheduler)
            let pipeline = StableDiffusionPipeline(tokenizer: base.tokenizer, textEncoder: base.textEncoder, unet: base.unet,
                                                   vae: base.vae, scheduler: scheduler)
            var r = GenerationRequest(prompt: "a cat")
            r.width = 32; r.height = 32; r.steps = steps; r.sampler = sampler; r.schedule = schedule
            if let strength { r.mode = .imageToImage(image: Tensor(shape: [3, 32, 32]), strength: strength) }
            do { _ = try pipeline.generate(r, decode: false); return "" } catch { return "\(error)" }
        }
        // PNDM's Runge–Kutta warm-up steps from t to t - T // n; linspace timesteps 6 steps apart by
        // 200 or 199 are off that grid (T // n = 166).
        let offGrid = message(sampler: "PNDMScheduler", steps: 6) { $0.skipPrkSteps = false; $0.timestepSpacing = "linspace" }
        #expect(offGrid.contains("skip_prk_steps false") && offGrid.contains("use skip_prk_steps true"), "\(offGrid)")
        // On the leading grid the warm-up runs; below strength 1 it is refused.
        #expect(message(sampler: "PNDMScheduler", steps: 4) { $0.skipPrkSteps = false; $0.timestepSpacing = "leading" } == "")
        let cut = message(sampler: "PNDMScheduler", steps: 8, strength: 0.6) { $0.skipPrkSteps = false; $0.timestepSpacing = "leading" }
        #expect(cut.contains("below strength 1") && cut.contains("another scheduler"), "\(cut)")
        let warmupTooShort = message(sampler: "PNDMScheduler", steps: 3) { $0.skipPrkSteps = false; $0.timestepSpacing = "leading" }
        #expect(warmupTooShort.contains("needs at least 4 steps"), "\(warmupTooShort)")
        let oneStep = message(sampler: "PNDMScheduler", steps: 1) { $0.skipPrkSteps = true }
        #expect(oneStep.contains("use 2 or more steps"), "\(oneStep)")
        #expect(message(sampler: "PNDMScheduler", steps: 2) { $0.skipPrkSteps = true } == "")
        // DPMSolverSinglestepScheduler takes karras as its own option and refuses other schedule names.
        let exponential = message(sampler: "DPMSolverSinglestepScheduler", schedule: "exponential", steps: 4)
        #expect(exponential.contains("takes the schedule karras") && exponential.contains("\"exponential\""), "\(exponential)")
        #expect(message(sampler: "DPMSolverSinglestepScheduler", schedule: "karras", steps: 4) == "")
    }

    @Test("NaN from the UNet is reported with the step and the part")
    func nonFinite() throws {
        let pipeline = try tinyPipeline("tiny-sd1")
        let bias = try #require(pipeline.unet.namedParameters().first { $0.name == "conv_out.bias" }?.variable)
        bias.value = bias.value.map { _ in .nan }
        var request = GenerationRequest(prompt: "a cat")
        request.width = 64; request.height = 64; request.steps = 3; request.sampler = "euler"
        do {
            _ = try pipeline.generate(request)
            Issue.record("a NaN UNet output was not detected")
        } catch {
            #expect("\(error)".contains("the UNet produced NaN or infinity at step 1"), "\(error)")
        }
    }

    @Test("a prompt over 77 tokens: the cut words are named")
    func truncation() throws {
        let pipeline = try tinyPipeline("tiny-sd1")
        // 74 one-token words and three more: 77 ids for the 75 places between start and end.
        let (ids, cut) = pipeline.tokenize(Array(repeating: "red", count: 74).joined(separator: " ") + " blue green zebra")
        #expect(ids.count == 77)
        #expect(cut == "green zebra", "\(cut)")
        #expect(pipeline.tokenize("a cat").truncatedText.isEmpty)
    }

    @Test("PNG parameters: AUTOMATIC1111 text, written and read back")
    func parametersRoundTrip() throws {
        var p = GenerationParameters(prompt: "a cat, sitting\non a mat", negativePrompt: "blurry", steps: 20, sampler: "DPM++ 2M Karras",
                                     schedule: "karras", cfgScale: 7.5, seed: 1234567890123, width: 512, height: 768, clipSkip: 2,
                                     denoisingStrength: 0.75, modelHash: "1a2b3c4d", model: "v1-5")
        p.otherFields = [("Batch size", "2"), ("Note", "a, b: c")]
        #expect(p.text.hasSuffix("Steps: 20, Sampler: DPM++ 2M Karras, Schedule type: karras, CFG scale: 7.5, Seed: 1234567890123, Size: 512x768, Model hash: 1a2b3c4d, Model: v1-5, Denoising strength: 0.75, Clip skip: 2, Batch size: 2, Note: \"a, b: c\""))
        let parsed = try GenerationParameters(parsing: p.text)
        #expect(parsed == p)
        #expect(parsed.prompt == "a cat, sitting\non a mat" && parsed.negativePrompt == "blurry" && parsed.seed == 1234567890123)
        // An AUTOMATIC1111 line as its web UI writes it.
        let a1111 = try GenerationParameters(parsing: "masterpiece\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, Version: v1.6.0")
        #expect(a1111.steps == 30 && a1111.sampler == "Euler a" && a1111.cfgScale == 7 && a1111.width == 512 && a1111.clipSkip == 1)
        #expect(a1111.otherFields.map(\.key) == ["Version"])
        #expect(throws: StableDiffusionPipelineError.self) { try GenerationParameters(parsing: "just a prompt") }
        #expect(throws: StableDiffusionPipelineError.self) { try GenerationParameters(parsing: "x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512") }

        let image = Tensor(shape: [3, 8, 8], scalars: (0..<192).map { Float($0 % 7) / 6 })
        let png = try PNGText.inserting([("parameters", p.text), ("Comment", "ünïcode ✓")], into: try PNG.encode(image))
        let chunks = try PNGText.read(png)
        #expect(chunks["parameters"] == p.text)
        #expect(chunks["Comment"] == "ünïcode ✓")
        #expect(try PNG.decode(png).scalars == PNG.decode(try PNG.encode(image)).scalars, "libpng still reads the file")
        #expect(throws: StableDiffusionPipelineError.self) { try PNGText.read(Data("not a png".utf8)) }
    }
}
