// lesson-08-stable-diffusion: the Stable Diffusion pipeline taken apart, one part at a time.
//
// Contract: a notebook you run, read top to bottom as the page reads: (1) a prompt becomes 77
// token ids (the real CLIP tokenizer); (2) the text encoder turns them into 77 vectors; (3) the
// VAE's latents, 8x smaller per side (real TAESD weights on real photographs); (4) one step of
// classifier-free guidance written out and checked against the pipeline; (5) the denoising
// trajectory as previews; (6) img2img's strength as the point on the schedule where sampling
// starts; (7) with `--model`, one prompt with six samplers at 5, 10 and 20 steps and a
// guidance-scale sweep. Without `--model` the model parts run on the tiny random-weight model
// of the test fixtures, and the page says so wherever its numbers appear.
//
// Output: the page `08-stable-diffusion.md` and its figures go to `out/lesson-08/` (`--out DIR`);
// `--docs` writes them to `docs/lessons/`. The pipeline calls are in `Pipeline.swift`.

import ArgumentParser
import Diffusion
import Foundation
import LessonKit
import Tensor

struct Lesson08: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-08-stable-diffusion",
        abstract: "The Stable Diffusion pipeline taken apart: tokens, text states, latents, one guided step, previews, img2img strength.",
        discussion: """
            Without --model it runs the mechanics on the tiny random-weight model of the tests \
            (Tests/DiffusionTests/Fixtures/sd/tiny-sd1), with the real CLIP tokenizer and real TAESD weights. \
            With --model PATH (an SD 1.5 diffusers folder or .safetensors file) it also renders one prompt with \
            six samplers at 5, 10 and 20 steps and a guidance-scale sweep.
            """)

    @Option(help: ArgumentHelp("A Stable Diffusion 1.x model: a diffusers folder or a single .safetensors file.", valueName: "path"))
    var model: String?
    @Option(help: ArgumentHelp("The prompt of the guided step, the trajectory and the sampler grid.", valueName: "text"))
    var prompt = "a photograph of an astronaut riding a horse"
    @Option(parsing: .unconditional, help: "Image side in pixels (default 512 with --model, 64 for the random-weight model).")
    var size: Int?
    @Option(parsing: .unconditional, help: "Steps of the trajectory and of the guidance sweep.")
    var steps = 20
    @Option(parsing: .unconditional, help: "Classifier-free guidance scale.")
    var guidance = 7.5
    @Option(parsing: .unconditional, help: "Seed of the starting noise.")
    var seed: UInt64 = 0
    @Option(help: ArgumentHelp("Folder with taesd_encoder.safetensors and taesd_decoder.safetensors (default ../shared/weights/taesd-sd1).", valueName: "dir"))
    var taesd: String?
    @Option(help: ArgumentHelp("Folder of PNG photographs (default ../shared/images).", valueName: "dir"))
    var photos: String?
    @OptionGroup var output: LessonOutputOptions

    func validate() throws {
        guard (2...1000).contains(steps) else { throw ValidationError("--steps must lie in 2...1000, got \(steps)") }
        if let size { guard (8...2048).contains(size) else { throw ValidationError("--size must lie in 8...2048 pixels, got \(size)") } }
        guard guidance.isFinite, guidance >= 1 else { throw ValidationError("--guidance must be at least 1, got \(guidance)") }
    }

    func run() throws { try runLesson { try Lesson(self).run() } }
}

/// The tiny random-weight SD 1.x model of the tests, used when no `--model` is given.
let tinyModelPath = "Tests/DiffusionTests/Fixtures/sd/tiny-sd1"

struct Lesson {
    let options: Lesson08
    let report: Report
    let parts: PipelineParts
    let taesd: TAESD
    let photoFolder: URL
    /// "the tiny random-weight model" or "the model `name`": how the page names the model.
    let modelName: String

    init(_ options: Lesson08) throws {
        self.options = options
        report = options.output.report(lesson: "lesson-08-stable-diffusion", slug: "08-stable-diffusion",
                                       title: "Lesson 08: Stable Diffusion, taken apart")
        let taesdFolder = options.taesd.map(lessonPath) ?? sharedFolder.appendingPathComponent("weights/taesd-sd1")
        guard FileManager.default.fileExists(atPath: taesdFolder.appendingPathComponent(TAESD.encoderFileName).path) else {
            throw ValidationError("no TAESD weights in \(taesdFolder.path): pass --taesd <folder with \(TAESD.encoderFileName) and \(TAESD.decoderFileName)>")
        }
        taesd = try TAESD.load(directory: taesdFolder)
        photoFolder = options.photos.map(lessonPath) ?? sharedFolder.appendingPathComponent("images")
        parts = try PipelineParts(model: lessonPath(options.model ?? tinyModelPath), taesd: taesd, isRealModel: options.model != nil)
        // The UNet halves the latents once per level but the last, so the image side must be a
        // multiple of the VAE factor times 2^(levels - 1) (64 for SD 1.x).
        let multiple = parts.pipeline.downsamplingFactor << (parts.pipeline.unet.configuration.blockOutChannels.count - 1)
        let side = options.size ?? (options.model == nil ? 64 : 512)
        guard side % multiple == 0 else {
            throw ValidationError("--size \(side) does not fit this model: use a multiple of \(multiple), for example \(max(multiple, side / multiple * multiple))")
        }
        modelName = options.model == nil ? "the tiny random-weight model" : "the model `\(URL(fileURLWithPath: options.model!).lastPathComponent)`"
    }

    var size: Int { options.size ?? (options.model == nil ? 64 : 512) }

    func run() throws {
        let start = Timing.now(), load = Timing.loadAverage()
        report.paragraph("""
            Stable Diffusion (Rombach et al. 2022) is four networks and a sampler: a tokenizer and a text \
            encoder (CLIP's, Radford et al. 2021) turn the prompt into vectors; a UNet predicts the noise in \
            a latent image given those vectors; a sampler from lesson 06 walks the latents from noise to an \
            image; a VAE decoder turns the latents into pixels. This page runs each part on its own.
            """)
        if options.model == nil {
            report.paragraph("""
                **No Stable Diffusion weights were given** (`--model PATH`), so the parts that need them run on \
                the tiny model with *random* weights that the tests use (`\(tinyModelPath)`: a text encoder of \
                width \(parts.pipeline.textEncoder.configuration.hiddenSize), a UNet of \
                \(parts.pipeline.unet.parameterCount.formatted()) parameters). Its shapes, steps and arithmetic \
                are exactly Stable Diffusion's; its outputs mean nothing, and no picture it makes is shown as one. \
                The tokenizer and the TAESD autoencoder below are the real ones, with their real weights.
                """)
        }
        try tokens()
        try textStates()
        try latents()
        let step = try guidedStep()
        try trajectory(step)
        try strength()
        try samplerGrid()
        report.paragraph(String(format: "_This run took %.0f s on two cores", Timing.now() - start)
            + " (load average \(load) at the start, \(Timing.loadAverage()) at the end\(Timing.busyNote(load: load)))._")
        try report.write()
    }

    // MARK: 1. Tokens

    func tokens() throws {
        report.heading("1. A prompt becomes 77 numbers")
        let tokenizer = try CLIPTokenizer.bundled()
        let prompts = [options.prompt, "an astronaut riding a horse, oil painting", "a bowl of fruit on a wooden table", ""]
        let long = Array(repeating: "a highly detailed photograph of a red fox in the snow", count: 8).joined(separator: ", ")
        report.paragraph("""
            CLIP's tokenizer (byte-pair encoding over \(tokenizer.vocabularySize.formatted()) tokens; the vocabulary \
            ships with this package) cuts text into pieces of words, each with an id. The model input is always \
            \(CLIPTokenizer.contextLength) ids: the start token \(tokenizer.startTokenID), the prompt's ids, the end \
            token \(tokenizer.endTokenID), then padding. 77 is not a choice of the pipeline: the text encoder has \
            \(parts.pipeline.textEncoder.configuration.maxPositionEmbeddings) learned position embeddings, one per \
            place, so it cannot read a 78th token; what does not fit is cut off.
            """)
        var rows: [[String]] = []
        for text in prompts + [long] {
            let (ids, cut) = tokenizer.tokenize(text)
            let body = tokenizer.encode(text)
            let pieces = body.prefix(8).compactMap { tokenizer.token(for: $0) }.map { $0.replacingOccurrences(of: "</w>", with: "·") }
            rows.append([text.isEmpty ? "(empty)" : (text.count > 48 ? String(text.prefix(45)) + "…" : text), "\(body.count)",
                         pieces.joined(separator: " ") + (body.count > 8 ? " …" : ""),
                         ids.prefix(4).map(String.init).joined(separator: " ") + " …", "\(cut)"])
        }
        report.table(headers: ["prompt", "tokens", "first pieces (· ends a word)", "first ids of the 77", "cut off"], rows: rows,
                     alignments: [.left, .right, .left, .left, .right])
        let (_, cut) = tokenizer.tokenize(long)
        var agreement = "The vocabulary file `sd15/tokenizer/vocab.json` of the shared folder is not present, so it was not compared."
        let sharedTokenizer = sharedFolder.appendingPathComponent("sd15/tokenizer")
        if FileManager.default.fileExists(atPath: sharedTokenizer.appendingPathComponent("vocab.json").path) {
            let other = try CLIPTokenizer(folder: sharedTokenizer)
            let same = (prompts + [long]).filter { other.tokenize($0).ids == tokenizer.tokenize($0).ids }.count
            agreement = "Hugging Face's `vocab.json`/`merges.txt` of SD 1.5 (in the shared folder) give the same 77 ids for \(same) of these \(prompts.count + 1) prompts."
        }
        report.paragraph("""
            The long prompt has \(tokenizer.encode(long).count) tokens; \(cut) of them fall off the end and the \
            model never sees them (the pipeline reports the cut words). The empty prompt is not nothing: it \
            is the start token, the end token and 75 pads, and its text states are what guidance pushes away \
            from (section 4). \(agreement)
            """)
    }

    // MARK: 2. Text states

    func textStates() throws {
        report.heading("2. What the text encoder gives")
        let prompts = [options.prompt, "an astronaut riding a horse, oil painting", "a bowl of fruit on a wooden table", ""]
        let labels = ["prompt", "oil painting", "fruit bowl", "empty"]
        let encoded = prompts.map { parts.textStates($0) }
        let width = parts.pipeline.textEncoder.configuration.hiddenSize
        let bodyCount = try CLIPTokenizer.bundled().encode(options.prompt).count
        report.paragraph("""
            The text encoder (\(parts.pipeline.textEncoder.configuration.numHiddenLayers) transformer layers with \
            causal attention) turns the 77 ids into 77 vectors of \(width) numbers: a \(CLIPTokenizer.contextLength)×\(width) \
            matrix the UNet reads through cross-attention at every step. Causal means position *i* sees only \
            tokens 0…*i*, so the states after the end token (position \(bodyCount + 1) for our prompt) summarise \
            the whole prompt, and the padding positions keep carrying it.
            """ + (options.model == nil ? " (Here the encoder's weights are random: the norms and similarities below describe a random network, not CLIP.)" : ""))
        var normPlot = Plot(title: "Norm of each of the 77 text states", xLabel: "token position", yLabel: "‖state‖",
                            xRange: 0...76, legend: .below)
        for (i, states) in encoded.enumerated() {
            normPlot.line(x: (0..<77).map(Double.init), y: rowNorms(states), title: labels[i], color: Color.cycle[i], lineWidth: 1.5)
        }
        let n = encoded.count
        let similarity = (0..<n).map { i in (0..<n).map { j in cosine(encoded[i].scalars, encoded[j].scalars) } }
        let eos = (0..<n).map { i in (0..<n).map { j in cosine(row(encoded[i], 76), row(encoded[j], 76)) } }
        var heat = Plot(heatmap: similarity, title: "Cosine similarity, whole 77×\(width) states", valueRange: 0...1)
        heat.xTicks = labels.enumerated().map { Tick(Double($0.offset), $0.element) }
        heat.yTicks = heat.xTicks
        heat.colorScale = ColorScale(range: 0...1, label: "cosine")
        try report.figure(Figure(rows: 1, columns: 2, width: 1300, height: 480, plots: [normPlot, heat]), name: "text-states",
                          caption: "Left: the length of each text state along the 77 positions for four prompts (\(modelName)). Right: cosine similarity between the prompts' whole state matrices.",
                          showInTerminal: false)
        report.table(headers: ["pair", "cosine, all 77 states", "cosine, last position only"],
                     rows: [(0, 1), (0, 2), (0, 3), (2, 3)].map { ["\(labels[$0.0]) / \(labels[$0.1])", format(similarity[$0.0][$0.1]), format(eos[$0.0][$0.1])] },
                     alignments: [.left, .right, .right])
        let offDiagonal = (0..<n).flatMap { i in (0..<n).filter { $0 != i }.map { similarity[i][$0] } }
        let firstRow = (1..<n).map { Double((row(encoded[$0], 0).enumerated().map { abs($0.element - row(encoded[0], 0)[$0.offset]) }.max() ?? 0)) }.max() ?? 0
        report.paragraph("""
            Two things to read. Position 0 is the start token in every prompt and, attention being causal, sees \
            nothing else: its state is the same for all four prompts (largest difference \(format(firstRow, digits: 1, scientific: true))). \
            And the whole matrices of different prompts are far from orthogonal (cosine between \
            \(format(offDiagonal.min() ?? .nan, digits: 2)) and \(format(offDiagonal.max() ?? .nan, digits: 2)) here): what every prompt \
            shares (the start token, the position embeddings, the padding) is a large part of each matrix. The \
            prompt-specific part is smaller, and classifier-free guidance (section 4) exists to amplify exactly it: \
            what the prompt changes relative to the empty prompt.
            """)
    }

    // MARK: 3. Latents

    func latents() throws {
        report.heading("3. Latents: the VAE's 8× compression, on real photographs")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: photoFolder.path)) ?? []).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no PNG photographs in \(photoFolder.path): pass --photos <folder of PNG files>") }
        report.paragraph("""
            The UNet never sees pixels. SD's VAE encoder turns a H×W×3 image into latents of H/8×W/8×4 and its \
            decoder turns them back (this model's VAE downsamples by \(parts.pipeline.downsamplingFactor)). Here, with \
            real weights, is TAESD (Boer Bohan 2023), a small autoencoder trained to produce the same latent \
            space as SD 1.x's VAE; its latents are already on the UNet's scale (SD's latents × 0.18215). Each \
            photograph of `\(photoFolder.lastPathComponent)/` is cropped to a square of 256, encoded and decoded.
            """)
        var rows: [[String]] = [], panels: [Plot] = []
        for name in names {
            let image = try squarePhoto(name, side: 256)
            let z = try taesd.encode(image.unsqueezed(axis: 0))
            let back = try taesd.decode(z)
            let mse = Double(((back - image.unsqueezed(axis: 0)) * (back - image.unsqueezed(axis: 0))).mean().item)
            let (mean, std) = meanStd(z.scalars)
            rows.append([name, "256×256×3 = \((256 * 256 * 3).formatted())", "\(z.shape[2])×\(z.shape[3])×4 = \(z.count.formatted())",
                         format(Double(256 * 256 * 3) / Double(z.count), digits: 0), format(10 * log10(1 / mse), digits: 1) + " dB",
                         format(mean, digits: 2) + " / " + format(std, digits: 2)])
            if panels.count < 6 {
                let l = z.squeezed(axis: 0)
                let channels = (0..<4).map { l.sliced(axis: 0, start: $0, end: $0 + 1).squeezed(axis: 0) }
                let mosaic = Tensor.concatenate([Tensor.concatenate([channels[0], channels[1]], axis: 1),
                                                 Tensor.concatenate([channels[2], channels[3]], axis: 1)], axis: 0)
                let limit = Double(mosaic.abs().max().item)
                panels += [Plot(image: image, title: name),
                           Plot(heatmap: mosaic, title: "latents \(z.shape[2])×\(z.shape[3])×4 (channels 0 1 / 2 3)", palette: ImageLayer.diverging, valueRange: -limit...limit),
                           Plot(image: back.squeezed(axis: 0), title: "decoded, \(format(10 * log10(1 / mse), digits: 1)) dB")]
            }
        }
        report.table(headers: ["photograph", "pixels", "latents", "ratio", "round-trip PSNR", "latent mean / std"], rows: rows,
                     alignments: [.left, .right, .right, .right, .right, .right])
        try report.figure(Figure(rows: panels.count / 3, columns: 3, width: 1200, height: 400 * (panels.count / 3), plots: panels),
                          name: "latents", caption: "Photograph (left), its TAESD latents as four channels (middle; blue negative, red positive) and the decoded latents (right).",
                          showInTerminal: false)
        report.paragraph("""
            Each latent value stands for an 8×8×3 patch: 48 times fewer numbers, which is why SD runs at all on a \
            CPU. The latents still look like the picture (channel by channel, a blurred, recoloured map), so the \
            UNet denoises something image-like; the decoder puts back the texture, not exactly (the PSNR column) \
            but plausibly. The latent standard deviation near 1 is what the sampler's noise is measured against.
            """)
    }
}

Lesson08.main()
