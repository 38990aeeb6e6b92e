// lesson-07-latent-diffusion: autoencoders, latents, and why euler_ancestral is good at 5-10 steps.
//
// Contract: a notebook you run. It (1) encodes and decodes real photographs with TAESD, the tiny
// autoencoder for Stable Diffusion's latent space, and measures what the round trip keeps and
// loses; (2) plots the committed FID sweep (every sampler × 5, 10, 20, 50 steps, for the pixel
// model and the latent model, produced by `diffuse fid-sweep`) side by side; (3) recomputes a
// small part of it live, with two seeds, so the reader sees how much of a difference between two
// numbers is noise; (4) says what the measurements show and what they do not
// (`Conclusions.swift`; reading the sweep CSVs is in `Sweep.swift`).
//
// Output (see `--help`): the page `07-latent-diffusion.md` and its figures go to `--out` (default
// `out/lesson-07`); `--docs` writes them to `docs/lessons/` (the committed lesson).

import ArgumentParser
import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

struct Lesson07: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-07-latent-diffusion",
        abstract: "Autoencoders and latents (TAESD), and the FID of every sampler at 5-50 steps in pixel and latent space.",
        discussion: """
            Writes the lesson page (07-latent-diffusion.md) and its PNG figures into --out; with --docs into \
            docs/lessons/ of this package. The full sweep it plots is committed under docs/data/ and was made \
            by `diffuse fid-sweep` (the command is in the page); this lesson recomputes a few points live.
            """)

    @Option(help: ArgumentHelp("Folder with taesd_encoder.safetensors and taesd_decoder.safetensors (default: ../shared/weights/taesd-sd1 next to the package, or $SWIFTDIFFUSION_SHARED/weights/taesd-sd1).", valueName: "dir"))
    var taesd: String?

    @Option(help: ArgumentHelp("Folder of photographs (PNG) for the round trips (default: ../shared/images next to the package).", valueName: "dir"))
    var photos: String?

    @Option(help: ArgumentHelp("The pixel-space model folder.", valueName: "folder"))
    var pixelModel: String = "models/ddpm-fmnist"

    @Option(help: ArgumentHelp("The latent-space model folder.", valueName: "folder"))
    var latentModel: String = "models/ldm-fmnist"

    @Option(help: ArgumentHelp("Samplers recomputed live, comma-separated.", valueName: "a,b"))
    var liveSamplers: String = "euler_ancestral,euler"

    @Option(help: ArgumentHelp("Models recomputed live: latent, pixel, or pixel,latent (each FID takes 10-25 s).", valueName: "a,b"))
    var liveModels: String = "latent"

    @Option(help: ArgumentHelp("Samplers whose latent-model samples are shown side by side, comma-separated.", valueName: "a,b"))
    var lookSamplers: String = "euler_ancestral,euler,dpmpp_2m"

    @Option(parsing: .unconditional, help: "Steps of the live recomputation.")
    var liveSteps: Int = 10

    @Option(parsing: .unconditional, help: "Images per FID in the live recomputation (the sweep used 250).")
    var liveCount: Int = 250

    /// `--out` and `--docs`, shared by every lesson (LessonKit).
    @OptionGroup var output: LessonOutputOptions
    /// The output folder (`out/lesson-NN` unless `--out`).
    var out: String { output.outPath(slug: "07-latent-diffusion") }
    /// Whether the page goes to docs/lessons/.
    var docs: Bool { output.docs }

    func validate() throws {
        guard (1...1000).contains(liveSteps) else { throw ValidationError("--live-steps must lie in 1...1000, got \(liveSteps)") }
        guard liveCount <= 10_000 else { throw ValidationError("--live-count must be at most 10000, got \(liveCount)") }
        guard liveCount >= 16 else { throw ValidationError("--live-count must be at least 16 (a covariance of 128 features needs many images; the sweep used 500)") }
    }

    func run() throws { try runLesson { try Lesson(options: self).run() } }
}

/// A problem the reader can fix (a missing folder or file), reported with the fix.
struct LessonError: Error, CustomStringConvertible {
    let description: String
}

struct Lesson {
    let options: Lesson07
    let report: Report

    init(options: Lesson07) {
        self.options = options
        let command = "swift run -c release lesson-07-latent-diffusion" + (options.docs ? " --docs" : "")
        let directory = options.docs ? nil : lessonPath(options.out)
        report = Report(slug: "07-latent-diffusion", title: "Lesson 07: latent diffusion, and few-step sampling",
                        directory: options.docs ? nil : directory, command: command)
    }

    func run() throws {
        let start = Timing.now(), load = Timing.loadAverage()
        report.paragraph("""
            Stable Diffusion does not denoise pixels. It denoises the *latents* of an autoencoder: an image of \
            512×512×3 values becomes 64×64×4 latent values, 48 times fewer, and the UNet works there \
            (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models"). This lesson \
            looks at such an autoencoder first, then at a question people who use these models ask all the \
            time: why does `euler_ancestral`, the simplest stochastic sampler, give good latent-diffusion \
            images in 5 to 10 steps?
            """)
        try autoencoders()
        let sweep = try showSweep()
        try recomputeLive(sweep: sweep)
        conclude(sweep: sweep)
        report.paragraph(String(format: "_This run took %.0f s on two cores", Timing.now() - start)
            + " (load average \(load) at the start, \(Timing.loadAverage()) at the end\(Timing.busyNote(load: load)))._")
        try report.write()
    }

    // MARK: 1. Autoencoders and latents

    func autoencoders() throws {
        report.heading("1. An autoencoder and its latents")
        let taesdFolder = options.taesd.map(lessonPath) ?? sharedFolder.appendingPathComponent("weights/taesd-sd1")
        let photoFolder = options.photos.map(lessonPath) ?? sharedFolder.appendingPathComponent("images")
        guard FileManager.default.fileExists(atPath: taesdFolder.appendingPathComponent(TAESD.encoderFileName).path) else {
            throw LessonError(description: "no TAESD weights in \(taesdFolder.path): pass --taesd <folder with \(TAESD.encoderFileName) and \(TAESD.decoderFileName)>")
        }
        let photoNames = ((try? FileManager.default.contentsOfDirectory(atPath: photoFolder.path)) ?? [])
            .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !photoNames.isEmpty else {
            throw LessonError(description: "no PNG photographs in \(photoFolder.path): pass --photos <folder of PNG files>")
        }
        let taesd = try TAESD.load(directory: taesdFolder)
        report.paragraph("""
            TAESD (Ollin Boer Bohan, 2023) is a tiny autoencoder trained to map images to the same \
            latent space as Stable Diffusion's VAE, and back: an encoder of \(taesd.encoder.parameterCount.formatted()) \
            parameters that halves the resolution three times and ends in 4 channels, and a decoder of \
            \(taesd.decoder.parameterCount.formatted()) parameters that undoes it. Its latents are already on \
            the scale the UNet expects (SD's VAE latents times its scaling factor 0.18215). We encode each \
            photograph in `\(photoFolder.lastPathComponent)/` and decode it again.
            """)

        var rows: [[String]] = []
        var panels: [Plot] = []
        for name in photoNames {
            // TAESD's activations grow with the photo (64 channels per pixel): refuse, from the header, more than 1024 x 1024 pixels.
            let image = try squareCrop(PNG.read(photoFolder.appendingPathComponent(name), maxPixels: 1024 * 1024))
            let batch = image.unsqueezed(axis: 0)
            let t0 = Timing.now()
            let latents = try taesd.encode(batch)
            let t1 = Timing.now()
            let decoded = try taesd.decode(latents)
            let t2 = Timing.now()
            let mse = Double(((decoded - batch) * (decoded - batch)).mean().item)
            let psnr = 10 * Foundation.log10(1 / mse)
            let side = image.shape[1]
            let pixels = 3 * side * side
            let latentCount = latents.shape.dropFirst().reduce(1, *)
            let stats = latents.scalars
            let mean = stats.reduce(0, +) / Float(stats.count)
            let std = (stats.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(stats.count)).squareRoot()
            rows.append([name, "\(side)×\(side)×3 = \(pixels.formatted())", "\(latents.shape.dropFirst().map(String.init).joined(separator: "×")) = \(latentCount.formatted())",
                         String(format: "%.0f", Double(pixels) / Double(latentCount)), String(format: "%.2f dB", psnr),
                         String(format: "%.2f / %.2f", mean, std), String(format: "%.2f s / %.2f s", t1 - t0, t2 - t1)])
            panels.append(Plot(image: image, title: "\(name)"))
            panels.append(Plot(image: decoded.squeezed(axis: 0), title: String(format: "decoded (PSNR %.1f dB)", psnr)))
            let l = latents.squeezed(axis: 0)
            // The four channels as a 2×2 mosaic, on one symmetric colour scale.
            let channels = (0..<l.shape[0]).map { l.sliced(axis: 0, start: $0, end: $0 + 1).squeezed(axis: 0) }
            let mosaic = Tensor.concatenate([Tensor.concatenate([channels[0], channels[1]], axis: 1),
                                             Tensor.concatenate([channels[2], channels[3]], axis: 1)], axis: 0)
            let limit = Double(mosaic.abs().max().item)
            panels.append(Plot(heatmap: mosaic, title: "its latent channels 0 1 / 2 3", palette: ImageLayer.diverging,
                               valueRange: -limit...limit))
        }
        report.table(headers: ["photograph", "pixels", "latents", "ratio", "round-trip PSNR", "latent mean / std", "encode / decode"],
                     rows: rows, alignments: [.left, .right, .right, .right, .right, .right, .right])
        let figure = Figure(rows: photoNames.count, columns: 3, width: 1500, height: 420 * photoNames.count, plots: panels)
        try report.figure(figure, name: "round-trips", caption: "Each photograph (left), its TAESD round trip (middle) and its four latent channels as a 2×2 mosaic (right, blue negative, red positive).", showInTerminal: false)
        report.paragraph("""
            What to see: the latents are a small, blurry, recognisable map of the picture — each latent \
            "pixel" stands for an 8×8 patch — and the decoder invents plausible fine detail (fur, text, \
            grain) rather than recalling it exactly, which is why the PSNR sits in the mid-20s dB while \
            the decoded images look right. A diffusion model working on latents only has to get the \
            coarse map right; the decoder paints the texture.
            """)
    }

    /// The largest centred square whose side is a multiple of 8, averaged down by 2 while the side
    /// exceeds 256 (to keep the lesson fast); gray images become RGB.
    func squareCrop(_ image: Tensor) -> Tensor {
        var rgb = image
        if rgb.shape[0] == 1 { rgb = rgb.expanded(to: [3, rgb.shape[1], rgb.shape[2]]).contiguous() }
        if rgb.shape[0] == 4 { rgb = rgb.sliced(axis: 0, start: 0, end: 3).contiguous() }
        let side = (min(rgb.shape[1], rgb.shape[2]) / 8) * 8
        let top = (rgb.shape[1] - side) / 2, left = (rgb.shape[2] - side) / 2
        var square = rgb.sliced(axis: 1, start: top, end: top + side).sliced(axis: 2, start: left, end: left + side).contiguous()
        while square.shape[1] > 256 && square.shape[1] % 16 == 0 {
            square = square.unsqueezed(axis: 0).averagePooled2d(kernel: 2).squeezed(axis: 0)
        }
        return square
    }
}

// MARK: 2. The sweep

extension Lesson {
    func showSweep() throws -> [Sweep] {
        report.heading("2. Every sampler at 5, 10, 20 and 50 steps, in pixels and in latents")
        let dataFolder = packageRoot.appendingPathComponent("docs/data")
        let sweeps = [try Sweep.read(dataFolder.appendingPathComponent("fid-sweep-pixel.csv"), family: "pixel model"),
                      try Sweep.read(dataFolder.appendingPathComponent("fid-sweep-latent.csv"), family: "latent model")]
        let command = ["fid-sweep-pixel", "fid-sweep-latent"].compactMap {
            try? String(contentsOf: dataFolder.appendingPathComponent($0 + ".command.txt"), encoding: .utf8)
        }.joined(separator: "\n")
        report.paragraph("""
            Two models trained in this project on Fashion-MNIST: the pixel model (`\(options.pixelModel)`, a UNet on \
            32×32 gray images) and the latent model (`\(options.latentModel)`, a UNet on TAESD latents 4×8×8 of the \
            same images upscaled to 64×64, decoded by TAESD). For each sampler and step count we draw images and \
            measure the Fréchet distance (FID; Heusel et al. 2017) between their features and the 10,000 test \
            images' features. Inception-v3 is not available here, so the features are the 128 penultimate \
            activations of the lesson-03 classifier; the numbers are comparable with each other, not with \
            published FIDs. The sweep ran in the background and is committed as CSV; it was produced by:
            """)
        if !command.isEmpty { report.code(command.trimmingCharacters(in: .whitespacesAndNewlines), language: "sh") }
        var plots: [Plot] = []
        for sweep in sweeps {
            var plot = Plot(title: "\(sweep.family): FID against the number of steps", xLabel: "steps", yLabel: "FID (classifier features)",
                            xRange: 4...60, logX: true, logY: true,
                            xTicks: [Tick(5, "5"), Tick(10, "10"), Tick(20, "20"), Tick(50, "50")], legend: .below)
            // One colour per sampler, as in every lesson; ddim and ddpm dashed on top of their twins.
            for sampler in SamplerStyle.drawingOrder(sweep.samplers) {
                let points = sweep.rows.filter { $0.sampler == sampler }.sorted { $0.steps < $1.steps }
                let style = SamplerStyle.of(sampler), twin = style.coincidesWith != nil
                plot.series.append(Series(x: points.map { Double($0.steps) }, y: points.map(\.fid), style: .linePoints, title: sampler,
                                          color: style.color, lineWidth: twin ? 2.5 : 1.5, pointStyle: twin ? .openCircle : .circle,
                                          pointSize: twin ? 1.6 : 0.9, dashType: style.dashType))
            }
            if let floor = sweep.floor {
                plot.line(x: [5, 50], y: [floor, floor], title: "real images (floor)", color: "#000000", lineWidth: 1)
            }
            plots.append(plot)
        }
        let figure = Figure(rows: 1, columns: 2, width: 1600, height: 820, font: "sans,12", plots: plots)
        try report.figure(figure, name: "fid-sweep", caption: "FID against steps for every sampler, pixel model (left) and latent model (right), each sampler in its colour of every lesson (ddim dashed on top of euler, ddpm on top of euler_ancestral); the floor (real training images against the test set) in black.", showInTerminal: false)

        for stepCount in [5, 10] {
            var rows: [[String]] = []
            let names = sweeps[0].samplers
            let ranked = names.sorted { (sweeps[1].fid($0, steps: stepCount) ?? .infinity) < (sweeps[1].fid($1, steps: stepCount) ?? .infinity) }
            for name in ranked {
                let stochastic = SamplerName(rawValue: name)?.isStochastic ?? false
                rows.append([name, stochastic ? "yes" : "no",
                             sweeps[0].fid(name, steps: stepCount).map { String(format: "%.2f", $0) } ?? "–",
                             sweeps[1].fid(name, steps: stepCount).map { String(format: "%.2f", $0) } ?? "–",
                             sweeps[1].rows.first { $0.sampler == name && $0.steps == stepCount }.map { "\($0.evaluations)" } ?? "–"])
            }
            report.paragraph("**\(stepCount) steps**, sorted by the latent model's FID:")
            report.table(headers: ["sampler", "stochastic", "FID pixel", "FID latent", "UNet calls"], rows: rows,
                         alignments: [.left, .center, .right, .right, .right])
        }
        return sweeps
    }
}

// MARK: 3. A small part, live

extension Lesson {
    func recomputeLive(sweep: [Sweep]) throws {
        report.heading("3. A small part of the sweep, recomputed now")
        let samplers = options.liveSamplers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let extractor = try FashionFeatureExtractor(weightsAt: lessonPath(FashionFeatureExtractor.defaultWeightsPath))
        let testStatistics = try extractor.testSetStatistics()
        let wanted = Set(options.liveModels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        let unknown = wanted.subtracting(["pixel", "latent"])
        guard unknown.isEmpty else { throw LessonError(description: "--live-models: unknown \(unknown.sorted()); use pixel, latent or pixel,latent") }
        var models: [(family: String, generator: any ImageGenerator, sweep: Sweep)] = []
        if wanted.contains("pixel") { models.append(("pixel model", try loadImageGenerator(from: lessonPath(options.pixelModel)), sweep[0])) }
        let latent = try loadImageGenerator(from: lessonPath(options.latentModel))
        if wanted.contains("latent") { models.append(("latent model", latent, sweep[1])) }
        report.paragraph("""
            The same computation as the sweep, for \(samplers.map { "`\($0)`" }.joined(separator: " and ")) at \
            \(options.liveSteps) steps with \(options.liveCount) images. With the sweep's seed the numbers must \
            match the CSV (sampling is deterministic given the seed) up to Float rounding: a kernel that adds \
            in a different order since the sweep was run can move the last digit. A second seed shows how much \
            FID moves when only the random draws change — the noise floor for comparing two entries of the sweep.
            """)
        var rows: [[String]] = []
        for model in models {
            for sampler in samplers {
                let seeds: [UInt64] = sampler == samplers.first ? [0, 1] : [0]
                for seed in seeds {
                    let t0 = Timing.now()
                    let batchSize = model.sweep.rows.first?.batchSize ?? 100
                    let statistics = try extractor.generatedStatistics(
                        of: model.generator, count: options.liveCount, sampler: sampler, steps: options.liveSteps,
                        schedule: nil, seed: seed, batchSize: batchSize)
                    let fid = try frechetDistance(statistics, testStatistics)
                    let seconds = Timing.now() - t0
                    let committed = seed == 0 && options.liveCount == (model.sweep.rows.first?.count ?? -1)
                        ? model.sweep.fid(sampler, steps: options.liveSteps).map { String(format: "%.3f", $0) } ?? "–" : "–"
                    rows.append([model.family, sampler, "\(seed)", String(format: "%.3f", fid), committed, String(format: "%.1f s", seconds)])
                }
            }
        }
        report.table(headers: ["model", "sampler", "seed", "FID now", "FID in the CSV", "time"], rows: rows,
                     alignments: [.left, .left, .right, .right, .right, .right])

        // The numbers next to the pictures they summarise.
        let look = options.lookSamplers.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !look.isEmpty else { return }
        var panels: [Plot] = []
        var looks: [(sampler: String, fid: Double?, roughness: Double)] = []
        for sampler in look {
            let images = try latent.generateImages(count: 16, sampler: sampler, steps: options.liveSteps, schedule: nil, seed: 0)
            let fid = sweep[1].fid(sampler, steps: options.liveSteps)
            looks.append((sampler, fid, roughness(images)))
            let fidText = fid.map { String(format: ", FID %.0f", $0) } ?? ""
            panels.append(Plot(image: imageGridFromModelRange(images, columns: 4), title: "\(sampler), \(options.liveSteps) steps\(fidText)"))
        }
        report.paragraph("""
            And the pictures behind the numbers: the latent model's first 16 samples (seed 0) with \
            \(look.map { "`\($0)`" }.joined(separator: ", ")) at \(options.liveSteps) steps, titled with the FID of \
            their sampler in the sweep.
            """)
        try report.figure(Figure(rows: 1, columns: panels.count, width: 520 * panels.count, height: 560, plots: panels),
                          name: "latent-samples", caption: "Latent-model samples, seed 0, \(options.liveSteps) steps, decoded by TAESD; FID from the sweep.",
                          showInTerminal: false)
        report.paragraph("""
            Look before trusting the table. The FID sees each decoded image through the classifier after averaging \
            its colours to gray and shrinking it to 28×28, so the colour casts TAESD adds and fine torn textures are \
            largely invisible to it; what it does see is whether the *kinds* of garments and their overall shapes \
            come in the right proportions. Torn texture and speckle can be measured another way: the roughness of \
            an image, the mean absolute difference between neighbouring pixels (on the model's [−1, 1] scale), is \
            larger the more speckled it is. The two measures need not agree:
            """)
        report.table(headers: ["sampler", "FID in the sweep (lower = closer to the test set)", "roughness of these 16 samples"],
                     rows: looks.map { [$0.sampler, $0.fid.map { format($0, digits: 1) } ?? "–", format($0.roughness, digits: 4)] },
                     alignments: [.left, .right, .right])
        let byFID = looks.sorted { ($0.fid ?? .infinity) < ($1.fid ?? .infinity) }.map { "`\($0.sampler)`" }
        let byRoughness = looks.sorted { $0.roughness < $1.roughness }.map { "`\($0.sampler)`" }
        report.paragraph("""
            Ordered by FID, best first: \(byFID.joined(separator: ", ")). Ordered by roughness, smoothest first: \
            \(byRoughness.joined(separator: ", ")). Which of the two a reader's eye follows is not something this \
            lesson measures; the sweep's verdicts below are verdicts of this FID.
            """)
    }
}

Lesson07.main()
