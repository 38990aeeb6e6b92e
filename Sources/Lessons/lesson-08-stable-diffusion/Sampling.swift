// Sampling: sections 4 to 7 of lesson 08 — one guided step written out, the trajectory as
// previews, img2img's strength on the sigma schedule, and (with real weights) the samplers and
// guidance scales side by side. Read after main.swift.

import ArgumentParser
import Diffusion
import Foundation
import LessonKit
import Tensor

/// What section 4 computed and section 5 draws: the pipeline's own run of the same request.
struct GuidedRun {
    /// The sigmas of the run.
    let sigmas: [Double]
    /// Per step: the state's and the denoised estimate's standard deviation.
    let stateStd: [Double], denoisedStd: [Double]
    /// (step, preview [1, 3, H, W]) for the preview steps.
    let previews: [(step: Int, image: Tensor)]
}

extension Lesson {
    // MARK: 4. One guided step

    func guidedStep() throws -> GuidedRun {
        report.heading("4. One step of classifier-free guidance, written out")
        let sigmas = try parts.eulerSigmas(steps: options.steps)
        let shape = parts.latentShape(size: size)
        var generator = TorchGenerator(seed: options.seed)
        let x = generator.randn(shape) * Float(sigmas[0])
        let cond = parts.textStates(options.prompt), uncond = parts.textStates("")
        let outputs = try parts.unetOutputs(x: x, sigma: sigmas[0], states: [uncond, cond])
        let (u, c) = (outputs[0], outputs[1])
        let s = Float(options.guidance)
        let guided = u + (c - u) * s
        let d = try parts.denoised(output: guided, x: x, sigma: sigmas[0])
        let x1 = x + (x - d) * Float((sigmas[1] - sigmas[0]) / sigmas[0])
        report.paragraph("""
            The sampler starts from pure noise x₀ = σ₀·z, z ~ N(0, I), with σ₀ = \(format(sigmas[0], digits: 2)) the largest \
            sigma of the schedule (latents \(shape.dropFirst().map(String.init).joined(separator: "×")) for a \(size)×\(size) image). \
            Classifier-free guidance (Ho & Salimans 2022) runs the UNet twice on the same latents — once with the \
            empty prompt's states, once with the prompt's (one batched call) — and extrapolates from the first \
            through the second:

                ε = ε(x; ∅) + s · (ε(x; prompt) − ε(x; ∅)),   s = \(format(options.guidance, digits: 1))

            Then one Euler step (lesson 06) from σ₀ to σ₁ = \(format(sigmas[1], digits: 2)): the denoised estimate \
            D = x − σ₀·ε and x₁ = x₀ + (σ₁ − σ₀)·(x₀ − D)/σ₀.
            """)
        // The pipeline's own run of the same request: its state after step 1 must be x1.
        var stepOne: Tensor?
        var stateStd: [Double] = [], denoisedStd: [Double] = [], previews: [(step: Int, image: Tensor)] = []
        _ = try parts.generate(prompt: options.prompt, sampler: "euler", steps: options.steps, guidance: options.guidance,
                               size: size, seed: options.seed, previewEvery: max(1, options.steps / 5), decode: false) { p in
            if p.step == 1 { stepOne = p.latents }
            stateStd.append(meanStd(p.latents.scalars).std)
            denoisedStd.append(meanStd(p.denoised.scalars).std)
            if let preview = p.preview { previews.append((p.step, preview)) }
        }
        let difference = stepOne.map { Double(($0 - x1).abs().max().item) } ?? .nan
        let norm = { (t: Tensor) in Double((t * t).sum().item).squareRoot() }
        report.table(headers: ["quantity", "norm ‖·‖", "relative to ‖ε(x; ∅)‖"],
                     rows: [("ε(x; ∅), empty prompt", u), ("ε(x; prompt)", c), ("difference ε(x; prompt) − ε(x; ∅)", c - u),
                            ("guided ε, s = \(format(options.guidance, digits: 1))", guided)]
                        .map { [$0.0, format(norm($0.1), digits: 2), format(norm($0.1) / norm(u), digits: 4)] },
                     alignments: [.left, .right, .right])
        var panels: [Plot] = []
        for (title, t) in [("ε(x; ∅), channel 0", u), ("ε(x; prompt), channel 0", c), ("difference × s, channel 0", (c - u) * s), ("guided ε, channel 0", guided)] {
            let plane = t.sliced(axis: 1, start: 0, end: 1).squeezed(axis: 0).squeezed(axis: 0)
            let limit = max(Double(plane.abs().max().item), 1e-6)
            panels.append(Plot(heatmap: plane, title: title, palette: ImageLayer.diverging, valueRange: -limit...limit))
        }
        try report.figure(Figure(rows: 1, columns: 4, width: 1400, height: 400, plots: panels), name: "guided-step",
                          caption: "The two UNet predictions at σ₀ (\(modelName)), the guidance term and the guided noise estimate, latent channel 0 (blue negative, red positive, each on its own scale).",
                          showInTerminal: false)
        report.paragraph("""
            The prompt changes the prediction by \(percent(norm(c - u) / norm(u))) of its size; guidance multiplies that \
            change by \(format(options.guidance, digits: 1)), so it is the prompt's *difference* from no prompt that steers \
            the image, not the prompt's prediction itself. This is also why SD costs two UNet evaluations per step. \
            The check: the pipeline's own run of this request (`euler`, \(options.steps) steps, seed \(options.seed)) \
            reaches after its first step a state that differs from our x₁ by at most \(format(difference, digits: 2, scientific: true)) \
            — the step above *is* what the pipeline does.
            """)
        return GuidedRun(sigmas: sigmas, stateStd: stateStd, denoisedStd: denoisedStd, previews: previews)
    }

    // MARK: 5. The trajectory

    func trajectory(_ run: GuidedRun) throws {
        report.heading("5. The denoising trajectory, as previews")
        report.paragraph("""
            The same run, step by step. Every step the sampler has a state x_i (noise of level σ_i around an \
            image) and the denoiser's estimate D(x_i) of the clean latents; decoding D(x_i) with TAESD is the \
            live preview that image programs show. The state's standard deviation falls with σ; the estimate's \
            stays near the latents' own scale.
            """)
        var plot = Plot(title: "Noise level and latent spread per step", xLabel: "step", yLabel: "standard deviation",
                        logY: true, legend: .below)
        let steps = (0..<run.stateStd.count).map(Double.init)
        plot.line(x: steps, y: Array(run.sigmas.prefix(run.stateStd.count)), title: "σ_i of the schedule", color: "black", lineWidth: 1.5, dashType: 2)
        plot.line(x: steps, y: run.stateStd, title: "std of the state x_i", color: SamplerStyle.of("euler").color, points: .circle)
        plot.line(x: steps, y: run.denoisedStd, title: "std of the estimate D(x_i)", color: "#d62728", points: .triangle)
        let previews = run.previews.map { step, image in
            Plot(image: image.squeezed(axis: 0), title: "D(x_\(step)), σ = \(format(run.sigmas[step], digits: 2))")
        }
        try report.figure(Figure(width: 900, height: 460, plots: [plot]), name: "trajectory-spread",
                          caption: "σ_i and the spread of the state and of the estimate at each step (`euler`, \(modelName)).",
                          showInTerminal: false)
        try report.figure(Figure(rows: 1, columns: previews.count, width: 270 * previews.count, height: 310, plots: previews),
                          name: "trajectory",
                          caption: "TAESD previews of D(x_i) along the run"
                              + (options.model == nil ? " — of the random-weight model, so they show what the preview decoder receives, not a picture." : "."),
                          showInTerminal: false)
        let first = run.stateStd.first ?? .nan, last = run.stateStd.last ?? .nan
        report.paragraph("""
            From σ = \(format(run.sigmas[0], digits: 1)) down to \(format(run.sigmas[run.stateStd.count - 1], digits: 3)), the state's \
            spread went from \(format(first, digits: 2)) (the starting noise: σ₀ = \(format(run.sigmas[0], digits: 2))) to \(format(last, digits: 2)), \
            and the estimate's from \(format(run.denoisedStd.first ?? .nan, digits: 2)) to \(format(run.denoisedStd.last ?? .nan, digits: 2)).
            """ + (options.model == nil ? """
             With random weights the estimate is not an image's latents, so nothing pulls its spread to the latents' \
            scale of about 1 (section 3); with SD's weights the estimate is pulled toward that scale and the previews \
            become the picture (run with `--model` to see it).
            """ : """
             The state is mostly noise for the first steps; the estimate D carries the layout of the picture long \
            before the state does, which is why previews of D are what image programs show.
            """))
    }

    // MARK: 6. img2img strength

    func strength() throws {
        report.heading("6. img2img: strength is where on the ODE to start")
        let sigmas = try parts.eulerSigmas(steps: options.steps)
        let strengths = [0.2, 0.4, 0.6, 0.8, 1.0]
        let starts = strengths.map { options.steps - min(Int(Double(options.steps) * $0), options.steps) }
        report.paragraph("""
            Image to image (SDEdit, Meng et al. 2022) encodes a picture to latents z, adds noise of level σ_k and \
            runs the sampler from step k instead of step 0: the picture is a point on the path, noised back to \
            where the path would be at σ_k. The strength chooses k = N − ⌊N·strength⌋ of the N = \(options.steps) \
            steps (diffusers' rule): strength 1 starts from noise, strength 0.2 runs only the last \
            \(Int(Double(options.steps) * 0.2)) steps.
            """)
        var plot = Plot(title: "The \(options.steps)-step schedule and where img2img starts", xLabel: "step", yLabel: "σ",
                        logY: true, legend: .below)
        let positive = sigmas.dropLast()
        plot.line(x: positive.indices.map(Double.init), y: Array(positive), title: "σ_i", color: "black", lineWidth: 1.5, points: .circle)
        for (i, (strength, k)) in zip(strengths, starts).enumerated() {
            plot.scatter(x: [Double(k)], y: [sigmas[k]], title: "strength \(format(strength, digits: 1)): step \(k)",
                         color: Color.cycle[i], pointStyle: .diamond, pointSize: 2.5)
        }
        // What the sampler starts from: a real photograph's TAESD latents plus noise of each start level.
        let photo = try squarePhoto("chelsea.png", side: 256, fallback: true)
        let z = try taesd.encode(photo.unsqueezed(axis: 0))
        var generator = TorchGenerator(seed: options.seed)
        let noise = generator.randn(z.shape)
        let zStd = meanStd(z.scalars).std
        var panels = [plot], rows: [[String]] = []
        for (strength, k) in zip(strengths, starts) {
            let start = try taesd.decode(z + noise * Float(sigmas[k]))
            panels.append(Plot(image: start.squeezed(axis: 0), title: "strength \(format(strength, digits: 1)), σ = \(format(sigmas[k], digits: 2))"))
            rows.append([format(strength, digits: 1), "\(k)", "\(options.steps - k)", format(sigmas[k], digits: 3), format(zStd / sigmas[k], digits: 3)])
        }
        report.table(headers: ["strength", "start step k", "steps run", "σ_k", "latent std / σ_k"], rows: rows,
                     alignments: [.right, .right, .right, .right, .right])
        try report.figure(Figure(rows: 2, columns: 3, width: 1200, height: 820, plots: panels), name: "strength",
                          caption: "Top left: the sigmas of the \(options.steps)-step schedule of \(modelName) and the start of img2img for five strengths. The others: what the sampler starts from — a photograph's TAESD latents plus noise of level σ_k, decoded by TAESD (real weights).",
                          showInTerminal: false)
        report.paragraph("""
            Because σ falls steeply at first and slowly at the end, strength is far from linear in how much of the \
            picture survives: the latents' spread is \(format(zStd, digits: 2)), so at strength 0.8 the noise is \
            \(format(sigmas[starts[3]] / zStd, digits: 1)) times the signal, at 0.4 still \(format(sigmas[starts[1]] / zStd, digits: 2)) \
            times, and only at 0.2 (\(format(sigmas[starts[0]] / zStd, digits: 2)) times) does the photograph show through \
            the noise in the decoded start. The UNet sees more than the eye: at every start it is asked to remove exactly \
            σ_k of noise, and everything it does not remove is the photograph's.
            """)
    }

    // MARK: 7. Samplers and guidance, with real weights

    func samplerGrid() throws {
        report.heading("7. One prompt, six samplers, 5 to 20 steps")
        let samplers = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "ddim"]
        let stepCounts = [5, 10, 20]
        guard options.model != nil else {
            report.paragraph("""
                This part needs real weights and was skipped: random weights make no picture to compare. With a \
                Stable Diffusion 1.5 checkpoint downloaded (a diffusers folder or a `.safetensors` file), run \
                `swift run -c release lesson-08-stable-diffusion --model PATH` to render "\(options.prompt)" with \
                \(samplers.map { "`\($0)`" }.joined(separator: ", ")) at \(stepCounts.map(String.init).joined(separator: ", ")) \
                steps side by side, and a guidance-scale sweep: \(samplers.count * stepCounts.count + 6) images at 512×512 and \
                \(samplers.count * stepCounts.reduce(0, +) + stepCounts.reduce(0, +) + 6 * options.steps) UNet calls \
                (`heun` takes about two per step), each a batch of two for guidance.
                """)
            return
        }
        var panels: [Plot] = [], images: [String: Tensor] = [:], rows: [[String]] = []
        for sampler in samplers {
            var row = [sampler]
            for n in stepCounts {
                let t0 = Timing.now()
                let result = try parts.generate(prompt: options.prompt, sampler: sampler, steps: n, guidance: options.guidance,
                                                size: size, seed: options.seed)
                row.append(format(Timing.now() - t0, digits: 1) + " s")
                guard let image = result.images?.squeezed(axis: 0) else { continue }
                images["\(sampler)-\(n)"] = image
                panels.append(Plot(image: image, title: "\(sampler), \(n) steps"))
            }
            rows.append(row)
        }
        report.paragraph("""
            "\(options.prompt)", seed \(options.seed), guidance \(format(options.guidance, digits: 1)), \(size)×\(size), \
            with \(modelName). Each sampler's row is one solver of the \
            same ODE (or SDE) with more and more steps; `heun` spends two UNet calls per step.
            """)
        try report.figure(Figure(rows: samplers.count, columns: stepCounts.count, width: 300 * stepCounts.count, height: 310 * samplers.count, plots: panels),
                          name: "samplers", caption: "One prompt and seed; rows: samplers, columns: 5, 10 and 20 steps.", showInTerminal: false)
        report.table(headers: ["sampler"] + stepCounts.map { "\($0) steps" }, rows: rows, alignments: [.left] + stepCounts.map { _ in .right })
        if let e = images["euler-20"], let d = images["ddim-20"] {
            report.paragraph("`ddim` and `euler` are one rule in two notations (lesson 05): at 20 steps their images differ by at most \(format(Double((e - d).abs().max().item), digits: 1, scientific: true)) (pixel values in [0, 1]).")
        }
        let scales = [1.0, 3, 5, 7.5, 10, 15]
        var sweep: [Plot] = []
        for scale in scales {
            let result = try parts.generate(prompt: options.prompt, sampler: "dpmpp_2m", steps: options.steps, guidance: scale, size: size, seed: options.seed)
            if let image = result.images { sweep.append(Plot(image: image.squeezed(axis: 0), title: "s = \(format(scale, digits: 1))")) }
        }
        report.paragraph("The guidance scale s of section 4, swept with `dpmpp_2m` at \(options.steps) steps (s = 1 is no guidance: one UNet call per step).")
        try report.figure(Figure(rows: 1, columns: sweep.count, width: 300 * sweep.count, height: 330, plots: sweep), name: "guidance",
                          caption: "The same prompt and seed at guidance scales \(scales.map { format($0, digits: 1) }.joined(separator: ", ")).", showInTerminal: false)
    }
}

// MARK: Helpers

extension Lesson {
    /// The photograph `name` of the photo folder as RGB [3, side, side]: the centred square,
    /// averaged down by 2 while larger than `side` (then cropped to `side`). With `fallback`,
    /// the folder's first PNG if `name` is missing.
    func squarePhoto(_ name: String, side: Int, fallback: Bool = false) throws -> Tensor {
        var url = photoFolder.appendingPathComponent(name)
        if fallback, !FileManager.default.fileExists(atPath: url.path),
           let first = ((try? FileManager.default.contentsOfDirectory(atPath: photoFolder.path)) ?? []).filter({ $0.hasSuffix(".png") }).sorted().first {
            url = photoFolder.appendingPathComponent(first)
        }
        var rgb = try PNG.read(url, maxPixels: 4096 * 4096)      // refused from the header, before allocating
        if rgb.shape[0] == 1 { rgb = rgb.expanded(to: [3, rgb.shape[1], rgb.shape[2]]).contiguous() }
        if rgb.shape[0] == 4 { rgb = rgb.sliced(axis: 0, start: 0, end: 3).contiguous() }
        var square = rgb
        let s = min(rgb.shape[1], rgb.shape[2])
        let top = (rgb.shape[1] - s) / 2, left = (rgb.shape[2] - s) / 2
        square = rgb.sliced(axis: 1, start: top, end: top + s).sliced(axis: 2, start: left, end: left + s).contiguous()
        while square.shape[1] >= 2 * side {
            let even = square.shape[1] / 2 * 2
            square = square.sliced(axis: 1, start: 0, end: even).sliced(axis: 2, start: 0, end: even).contiguous()
            square = square.unsqueezed(axis: 0).averagePooled2d(kernel: 2).squeezed(axis: 0)
        }
        guard square.shape[1] >= side else {
            throw ValidationError("\(url.lastPathComponent) is \(rgb.shape[2])×\(rgb.shape[1]); the lesson needs photographs of at least \(side)×\(side)")
        }
        let o = (square.shape[1] - side) / 2
        return square.sliced(axis: 1, start: o, end: o + side).sliced(axis: 2, start: o, end: o + side).contiguous()
    }
}

/// Mean and (population) standard deviation.
func meanStd(_ x: [Float]) -> (mean: Double, std: Double) {
    let n = Double(max(x.count, 1))
    let mean = x.reduce(0.0) { $0 + Double($1) } / n
    let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    return (mean, variance.squareRoot())
}

/// Cosine similarity of two equally long vectors.
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var ab = 0.0, aa = 0.0, bb = 0.0
    for i in a.indices { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]); bb += Double(b[i]) * Double(b[i]) }
    return ab / max((aa * bb).squareRoot(), 1e-30)
}

/// Row `i` of a matrix [rows, d].
func row(_ m: Tensor, _ i: Int) -> [Float] { m.sliced(axis: 0, start: i, end: i + 1).contiguous().scalars }

/// The Euclidean norm of each row of a matrix [rows, d].
func rowNorms(_ m: Tensor) -> [Double] {
    (0..<m.shape[0]).map { i in row(m, i).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
}
