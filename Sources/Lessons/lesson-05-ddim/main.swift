// lesson-05-ddim: DDIM (Song, Meng & Ermon 2021), noise schedules, and the sigma view that turns
// DDIM into Euler's method on the probability-flow ODE — computed with the shipped pixel model.
//
// Contract: a notebook you run. It (1) samples the shipped model with DDIM at eta = 0, 0.5 and 1
// from the same noise and shows that eta = 0 is deterministic (a rerun differs by exactly 0);
// (2) interpolates between two starting noises with slerp (and, for contrast, a straight line);
// (3) compares the linear and cosine schedules as noise levels sigma and the step spacing they
// give; (4) writes DDIM's eq. 12 out in the paper's variables and runs it next to the library's
// Euler sampler over the same sigmas, printing the largest difference of the states at every
// step after rescaling x_t / sqrt(abar_t). Samplers, schedules and the model are library code
// with their own tests; `NoiseInterpolation` (slerp) is in DiffusionStudies, tested.
//
// Output (see `--help`): the page `05-ddim.md` and its PNG figures go to `--out` (default
// `out/lesson-05`); `--docs` writes them to `docs/lessons/`. CSV files always go to `--out`.

import ArgumentParser
import Autograd
import Diffusion
import DiffusionStudies
import Foundation
import LessonKit
import Tensor

struct Lesson05: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-05-ddim",
        abstract: "DDIM and eta, deterministic sampling and interpolation, linear vs cosine schedules, DDIM as Euler on the probability-flow ODE.",
        discussion: """
            Writes the lesson page (05-ddim.md), its PNG figures (figures/05-ddim/) and CSV files of the \
            plotted numbers into --out. With --docs the page and figures go to docs/lessons/ of this \
            package (the committed lesson) and the CSV files still go to --out.
            """)

    @Option(name: .customLong("model"), help: ArgumentHelp("Folder of the trained pixel DDPM (exported by `diffuse export`, or a training checkpoint).", valueName: "folder"))
    var modelFolder: String = "models/ddpm-fmnist"

    @Option(parsing: .unconditional, help: "DDIM steps of the eta comparison, the interpolation and the Euler check.")
    var steps: Int = 50

    @Option(parsing: .unconditional, help: "Images per eta in the eta comparison.")
    var count: Int = 8

    @Option(parsing: .unconditional, help: "Images in each interpolation strip (including both ends).")
    var frames: Int = 9

    @Option(parsing: .unconditional, help: "Images run through both DDIM (eq. 12) and Euler in the sigma-view check.")
    var checkCount: Int = 4

    @Option(parsing: .unconditional, help: "Seed of every random draw.")
    var seed: UInt64 = 0

    /// `--out` and `--docs`, shared by every lesson (LessonKit).
    @OptionGroup var output: LessonOutputOptions
    /// The output folder (`out/lesson-NN` unless `--out`).
    var out: String { output.outPath(slug: "05-ddim") }
    /// Whether the page goes to docs/lessons/.
    var docs: Bool { output.docs }

    func validate() throws {
        guard (2...1000).contains(steps) else { throw ValidationError("--steps must lie in 2...1000, got \(steps)") }
        guard (1...64).contains(count) else { throw ValidationError("--count must lie in 1...64, got \(count)") }
        // The text compares the straight line's middle frames (all but the two ends) with its ends: at least 4 frames.
        guard (4...32).contains(frames) else { throw ValidationError("--frames must lie in 4...32 (two ends and at least two middle frames), got \(frames)") }
        guard (1...64).contains(checkCount) else { throw ValidationError("--check-count must lie in 1...64, got \(checkCount)") }
    }

    func run() throws { try runLesson { try Lesson(options: self).run() } }
}

struct Lesson {
    let options: Lesson05

    func run() throws {
        let started = Date()
        let load = Timing.loadAverage()
        let outDirectory = URL(fileURLWithPath: options.out, isDirectory: true)
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        let report = Report(
            slug: "05-ddim", title: "Lesson 05 — DDIM: the same model, fewer steps, no dice",
            directory: options.docs ? nil : outDirectory,
            command: options.docs ? "swift run -c release lesson-05-ddim --docs" : nil)
        let model = try DDPMModel.load(from: URL(fileURLWithPath: options.modelFolder))
        let shape = (model.unet.configuration.inChannels, model.unet.configuration.sampleSize)
        guard shape == (1, 32) else {
            throw ValidationError("--model \(options.modelFolder) is a model of \(shape.0)-channel \(shape.1)x\(shape.1) images; this lesson needs a pixel DDPM of 1-channel 32x32 images (Fashion-MNIST, such as models/ddpm-fmnist)")
        }

        introduce(report)
        try etaSection(report, model: model)
        try interpolation(report, model: model)
        try schedules(report, model: model, outDirectory: outDirectory)
        try sigmaView(report, model: model, outDirectory: outDirectory)
        try conclude(report, seconds: Date().timeIntervalSince(started), loadAtStart: load)
        try report.write()
    }

    /// The model's denoiser with x̂_0 clamped to the data range (the model's `clip_sample`).
    func clampedDenoiser(_ model: DDPMModel) -> any Denoiser {
        let inner = model.denoiser()
        return ClosureDenoiser { x, sigma in try inner.denoise(x, sigma: sigma).map { min(max($0, -1), 1) } }
    }

    // MARK: Introduction

    func introduce(_ report: Report) {
        report.paragraph("""
            Lesson 04 sampled with DDPM's Algorithm 2: a thousand network evaluations per image, each step a \
            small random move. Song, Meng & Ermon ("Denoising Diffusion Implicit Models", 2021, DDIM) noticed \
            that the training loss only ever looks at the one-jump marginals q(x_t | x_0) — so any reverse \
            process with the same marginals is served by the same trained network, including ones that take \
            big steps and ones with no randomness at all. This lesson uses the model that ships in \
            `models/ddpm-fmnist` (trained as in lesson 04, linear betas, T = 1000) without retraining it.
            """)
        report.paragraph("""
            Run it with `swift run -c release lesson-05-ddim` (under a minute on two cores; this run's time is at \
            the end). It writes this page and its figures to `out/lesson-05/` (`--out DIR`); `--docs` writes them \
            to `docs/lessons/`, which is how the committed copy is made. `--steps`, `--count`, `--frames`, \
            `--check-count`, `--model`, `--seed` and `--help` change the experiment.
            """)
    }

    // MARK: 1. DDIM and eta

    func etaSection(_ report: Report, model: DDPMModel) throws {
        report.heading("1. DDIM and eta")
        report.paragraph("""
            DDIM's step from timestep t to an earlier timestep t' (eq. 12), with a = alphabar_t, a' = alphabar_t', \
            eps = eps_theta(x_t, t) and x̂_0 = (x_t − sqrt(1 − a)·eps)/sqrt(a) the network's guess of the clean image:
            """)
        report.code("""
            x_t' = sqrt(a')·x̂_0  +  sqrt(1 − a' − s²)·eps  +  s·z,        z ~ N(0, I)
            s    = eta · sqrt((1 − a')/(1 − a)) · sqrt(1 − a/a')          (eq. 16)
            """)
        report.paragraph("""
            Read it as: rebuild x_t' from the guessed image and the guessed noise, at the noise level of t'. With \
            eta = 1, s² is DDPM's posterior variance and the step is DDPM's (lesson 04); with eta = 0 there is no \
            fresh noise, and the whole run from x_T to x_0 is a deterministic function of the starting noise. t' \
            need not be t − 1: the same formula jumps over timesteps. Here are \(options.count) samples for each eta, \
            \(options.steps) steps (the model's own noise levels at \(options.steps) timesteps evenly spaced from 999 \
            to 0), the same starting noise in every row (seed \(options.seed)) and the same fresh-noise draws:
            """)
        let sigmas = try model.sigmas(steps: options.steps, schedule: nil)
        var generator = TorchGenerator(seed: options.seed)
        let start = generator.randn([options.count, 1, 32, 32]) * Float(sigmas[0])
        let denoiser = clampedDenoiser(model)
        let etas = [0.0, 0.5, 1.0]
        var results: [Tensor] = []
        var seconds: [Double] = []
        let progress = ProgressBar(total: etas.count + 2, label: "DDIM runs")
        for eta in etas {
            let t0 = Date()
            results.append(try DDIMSampler(eta: eta).sample(denoiser, x: start, sigmas: sigmas,
                                                            noise: GaussianNoise(seed: options.seed &+ 1), callback: nil))
            seconds.append(Date().timeIntervalSince(t0))
            progress.advance(message: "eta \(eta)")
        }
        let again = try DDIMSampler(eta: 0).sample(denoiser, x: start, sigmas: sigmas, noise: GaussianNoise(seed: options.seed &+ 99), callback: nil)
        progress.advance(message: "eta 0 again")
        let otherNoise = try DDIMSampler(eta: 1).sample(denoiser, x: start, sigmas: sigmas, noise: GaussianNoise(seed: options.seed &+ 99), callback: nil)
        progress.finish(message: "eta 1, other noise")
        let grid = imageGridFromModelRange(Tensor.concatenate(results, axis: 0), columns: options.count)
        var etaPlot = Plot(image: grid, title: "DDIM, \(options.steps) steps, the same starting noise in every column")
        etaPlot.labelGrid(tileHeight: start.shape[2], tileWidth: start.shape[3], rows: etas.map { "eta = \(format(significant: $0))" })
        try report.figure(Figure(etaPlot, width: 1060, height: 420),
                          name: "eta", caption: "The same starting noise sampled with DDIM at eta = 0 (top), 0.5 and 1 (bottom), \(options.steps) steps.",
                          showInTerminal: false)
        let test = try FashionMNIST.load(.test, limit: 256)
        let testImages = (test.inputs * 2 - 1).paddedImages(by: 2, value: -1)
        let rows: [[String]] = etas.indices.map { i in
            [format(etas[i], digits: 1), format(meanAbs(results[i] - results[0]), digits: 3),
             format(roughness(results[i]), digits: 3), format(seconds[i], digits: 1)]
        } + [["test images", "", format(roughness(testImages), digits: 3), ""]]
        report.table(headers: ["eta", "mean abs difference to eta = 0", "roughness (mean abs difference of neighbouring pixels)", "seconds"],
                     rows: rows, alignments: [.right, .right, .right, .right])
        let zero = maxAbs(again, results[0])
        report.paragraph("""
            Determinism: the eta = 0 run repeated with a *different* fresh-noise seed differs from the first by \
            a largest absolute pixel difference of \(format(zero, digits: zero == 0 ? 0 : 2, scientific: zero != 0)) — \
            \(zero == 0 ? "exactly zero: the sampler never draws noise, so the starting noise alone decides the image" : "not zero, which would mean noise leaks into a deterministic sampler"). \
            The eta = 1 run repeated with that other seed differs from the first by up to \
            \(format(maxAbs(otherNoise, results[2]), digits: 2)) (mean \(format(meanAbs(otherNoise - results[2]), digits: 3))): the \
            fresh noise decides much of the image. Already at eta = 0.5 the fresh noise changes most garments \
            (mean difference \(format(meanAbs(results[1] - results[0]), digits: 3)) from eta = 0, on pixels that span 2). \
            The roughness column measures speckle: \(roughness(results[0]) > roughness(results[2]) && roughness(results[0]) > roughness(testImages) ? "the deterministic samples are rougher than the eta = 1 ones and than real images — with this undertrained model, eta = 0 keeps the network's errors as speckle, while fresh noise lets later steps wash them out (docs/training.md saw the same with DPM++ 2M)" : "the deterministic samples are not rougher than the eta = 1 ones").
            """)
    }

    // MARK: 2. Interpolation

    func interpolation(_ report: Report, model: DDPMModel) throws {
        report.heading("2. Interpolating between two noises")
        let sigmas = try model.sigmas(steps: options.steps, schedule: nil)
        var generator = TorchGenerator(seed: options.seed &+ 2)
        let a = generator.randn([1, 1, 32, 32]), b = generator.randn([1, 1, 32, 32])
        let n = options.frames
        let fractions = (0..<n).map { Double($0) / Double(n - 1) }
        let slerped = Tensor.concatenate(fractions.map { NoiseInterpolation.slerp(a, b, fraction: $0) }, axis: 0)
        let lerped = Tensor.concatenate(fractions.map { NoiseInterpolation.lerp(a, b, fraction: $0) }, axis: 0)
        let theta = NoiseInterpolation.angle(a, b)
        let d = Double(a.count)
        report.paragraph("""
            With eta = 0 an image is a function of its starting noise, so walking between two noises walks between \
            two images (DDIM paper, sec. 5.3). Which walk? A standard normal vector in d = \(Int(d)) dimensions \
            has length close to sqrt(d) = \(format(d.squareRoot(), digits: 1)), and two of them are nearly \
            orthogonal: here |z_a| = \(format(NoiseInterpolation.norm(a), digits: 2)), |z_b| = \(format(NoiseInterpolation.norm(b), digits: 2)), \
            angle \(format(theta * 180 / Double.pi, digits: 1))°. The straight line (1 − f)·z_a + f·z_b passes \
            through short vectors — its midpoint has length \(format(NoiseInterpolation.norm(NoiseInterpolation.lerp(a, b, fraction: 0.5)), digits: 2)), \
            a length a real noise of this size almost never has (its standard deviation is about \
            \(format((0.5).squareRoot(), digits: 2))) — so the network is asked to denoise something unlike anything \
            it was trained on. Spherical interpolation (slerp, Shoemake 1985) follows the great circle: \
            sin((1 − f)·theta)/sin(theta)·z_a + sin(f·theta)/sin(theta)·z_b, and its midpoint has length \
            \(format(NoiseInterpolation.norm(NoiseInterpolation.slerp(a, b, fraction: 0.5)), digits: 2)).
            """)
        let denoiser = clampedDenoiser(model)
        let t0 = Date()
        let progress = ProgressBar(total: 2, label: "interpolation")
        let slerpImages = try DDIMSampler(eta: 0).sample(denoiser, x: slerped * Float(sigmas[0]), sigmas: sigmas, seed: 0, callback: nil)
        progress.advance(message: "slerp")
        let lerpImages = try DDIMSampler(eta: 0).sample(denoiser, x: lerped * Float(sigmas[0]), sigmas: sigmas, seed: 0, callback: nil)
        progress.finish(message: "lerp")
        let seconds = Date().timeIntervalSince(t0)
        let grid = imageGridFromModelRange(Tensor.concatenate([slerpImages, lerpImages], axis: 0), columns: n)
        try report.figure(Figure(Plot(image: grid, title: "DDIM eta = 0, \(options.steps) steps; top: slerp, bottom: straight line; f = 0 … 1"), width: 1100, height: 300),
                          name: "interpolation", caption: "Images from noises interpolated between two draws: slerp (top) and the straight line (bottom), \(n) steps of f from 0 to 1.",
                          showInTerminal: false)
        let stds = [slerpImages, lerpImages].map { images in
            fractions.indices.map { i in standardDeviation(images.sliced(axis: 0, i..<(i + 1))) }
        }
        let mid = n / 2
        func neighbourDifferences(_ images: Tensor) -> [Double] {
            (0..<(n - 1)).map { i in meanAbs(images.sliced(axis: 0, i..<(i + 1)) - images.sliced(axis: 0, (i + 1)..<(i + 2))) }
        }
        let slerpSteps = neighbourDifferences(slerpImages), lerpSteps = neighbourDifferences(lerpImages)
        let lerpMiddleSteps = Array(lerpSteps.dropFirst().dropLast())
        report.paragraph("""
            Both rows start and end on the same two images (f = 0 and 1 are the same noises). Along the slerp row \
            every input is a plausible noise and the image changes gradually: neighbouring frames differ by a mean \
            absolute pixel difference of \(format(slerpSteps.min()!, digits: 3)) to \(format(slerpSteps.max()!, digits: 3)). The \
            straight line's middle frames come from noises that are too short: frames \(2) to \(n - 1) differ from their \
            neighbours by at most \(format(lerpMiddleSteps.max()!, digits: 3)), while the jumps to the two ends are \
            \(format(lerpSteps.first!, digits: 3)) and \(format(lerpSteps.last!, digits: 3)) — the walk jumps onto one washed-out \
            image, stays near it, and jumps off at the other end. \
            The pixel standard deviation of the image at f = \(format(fractions[mid], digits: 2)) \
            is \(format(stds[1][mid], digits: 3)) on the straight line against \(format(stds[0][mid], digits: 3)) with slerp \
            (at the ends: \(format(stds[0][0], digits: 3)) and \(format(stds[0][n - 1], digits: 3))) — a washed-out, lower-contrast \
            image. Both strips took \(format(seconds, digits: 1)) s.
            """)
    }

    // MARK: 3. Schedules

    func schedules(_ report: Report, model: DDPMModel, outDirectory: URL) throws {
        report.heading("3. Linear and cosine schedules, seen as noise levels")
        let linear = try DiscreteNoiseSchedule.linear()
        let cosine = try DiscreteNoiseSchedule.cosine()
        precondition(linear == model.schedule || model.scheduler.betaSchedule != "linear", "the linear schedule differs from the model's")
        report.paragraph("""
            Divide x_t = sqrt(alphabar_t)·x_0 + sqrt(1 − alphabar_t)·eps by sqrt(alphabar_t) and it becomes \
            x_0 + sigma_t·eps with sigma_t = sqrt((1 − alphabar_t)/alphabar_t): the image plus noise of standard \
            deviation sigma_t, no shrinking (section 4 uses this). Each schedule is then simply a list of 1000 noise \
            levels. Where they lie decides what a sampler with few steps visits:
            """)
        let tAxis = (0..<1000).map(Double.init)
        var alphaPlot = Plot(title: "alphabar_t", xLabel: "t", yLabel: "alphabar_t", yRange: 0...1, legend: .topRight)
        alphaPlot.line(x: tAxis, y: linear.alphasCumprod, title: "linear (the shipped model)", color: Color.cycle[0])
        alphaPlot.line(x: tAxis, y: cosine.alphasCumprod, title: "cosine", color: Color.cycle[1])
        var sigmaPlot = Plot(title: "sigma_t = sqrt((1 - abar)/abar) (log axis)", xLabel: "t", yLabel: "sigma_t", logY: true, legend: .topLeft)
        sigmaPlot.line(x: tAxis, y: linear.sigmas, title: "linear", color: Color.cycle[0])
        sigmaPlot.line(x: tAxis, y: cosine.sigmas, title: "cosine", color: Color.cycle[1])
        sigmaPlot.line(x: [0, 999], y: [1, 1], title: "sigma = 1", color: "#808080", lineWidth: 1, dashType: 3)
        let steps = options.steps
        var spacingPlot = Plot(title: "\(steps) steps at evenly spaced timesteps: ln(sigma_i / sigma_i+1)", xLabel: "step i",
                               yLabel: "log-step ln(sigma_i / sigma_i+1)", logY: true, legend: .topRight)
        var csv = CSVTable(header: ["schedule", "step", "timestep", "sigma"])
        var stepSigmas: [String: [Double]] = [:]
        var logStepSizes: [String: [Double]] = [:]
        for (name, s, color) in [("linear", linear, Color.cycle[0]), ("cosine", cosine, Color.cycle[1])] {
            let sig = try s.sigmas(count: steps, spacing: .linspace)  // ends in 0
            stepSigmas[name] = sig
            let positive = Array(sig.dropLast())
            let logSteps = (0..<(positive.count - 1)).map { log(positive[$0] / positive[$0 + 1]) }
            logStepSizes[name] = logSteps
            spacingPlot.line(x: logSteps.indices.map(Double.init), y: logSteps, title: name, color: color, points: .circle)
            let ts = try s.timesteps(count: steps, spacing: .linspace)
            for (i, v) in sig.enumerated() { csv.append([name, i, i < ts.count ? ts[i] : -1, v]) }
        }
        try csv.write(to: outDirectory.appendingPathComponent("schedule_sigmas.csv"))
        try report.figure(Figure(rows: 1, columns: 3, width: 1650, height: 450, font: "sans,10", plots: [alphaPlot, sigmaPlot, spacingPlot]),
                          name: "schedules", caption: "Linear and cosine schedules: alphabar_t, the noise level sigma_t, and the size of each step in log sigma when \(steps) steps are spread evenly over the timesteps.",
                          showInTerminal: false)
        func bucket(_ sig: [Double]) -> [Int] {
            let p = sig.dropLast()
            return [p.filter { $0 >= 10 }.count, p.filter { $0 >= 1 && $0 < 10 }.count,
                    p.filter { $0 >= 0.1 && $0 < 1 }.count, p.filter { $0 < 0.1 }.count]
        }
        var rows: [[String]] = []
        for (name, s) in [("linear", linear), ("cosine", cosine)] {
            let b = bucket(stepSigmas[name]!)
            let t1 = s.sigmas.firstIndex { $0 >= 1 } ?? 999
            rows.append([name, format(s.sigmaMin, digits: 4), format(s.sigmaMax, digits: 1), String(t1)] + b.map(String.init))
        }
        report.table(headers: ["schedule", "sigma_min (t = 0)", "sigma_max (t = 999)", "sigma ≥ 1 from t =",
                               "steps at sigma ≥ 10", "1 ≤ sigma < 10", "0.1 ≤ sigma < 1", "sigma < 0.1"],
                     rows: rows, alignments: [.left] + Array(repeating: .right, count: 7))
        let few = 10
        let lin10 = try linear.sigmas(count: few, spacing: .linspace).dropLast().map { format($0, digits: 3) }
        let cos10 = try cosine.sigmas(count: few, spacing: .linspace).dropLast().map { format($0, digits: 3) }
        func describe(_ name: String) -> String {
            let l = logStepSizes[name]!
            let middle = Array(l[(l.count / 10)..<(l.count - l.count / 10)])
            return "first \(format(l.first!, digits: 2)), middle 80 % between \(format(middle.min()!, digits: 3)) and \(format(middle.max()!, digits: 3)), last \(format(l.last!, digits: 2))"
        }
        report.paragraph("""
            With \(few) steps at evenly spaced timesteps, the linear schedule visits sigma = \(lin10.joined(separator: ", ")) \
            and then 0; the cosine schedule visits \(cos10.joined(separator: ", ")), then 0. The linear schedule's \
            \(linear.trainingSteps) noise levels run from \(format(linear.sigmaMin, digits: 4)) to \(format(linear.sigmaMax, digits: 0)); \
            the cosine schedule's from \(format(cosine.sigmaMin, digits: 4)) to \(format(cosine.sigmaMax, digits: 0)), its last \
            level pushed far up by the clipped final beta (0.999), so that its first step of any sampler jumps from \
            there to a few units at once. With \(steps) steps the sizes of the steps in log sigma (right panel) are, for \
            linear: \(describe("linear")); for cosine: \(describe("cosine")). The table counts where the \(steps) noise \
            levels fall: the cosine schedule spends \(bucket(stepSigmas["cosine"]!)[2] + bucket(stepSigmas["cosine"]!)[3]) of its steps \
            below sigma = 1 against \(bucket(stepSigmas["linear"]!)[2] + bucket(stepSigmas["linear"]!)[3]) for linear — more of the \
            budget where fine detail is decided. The shipped model is linear, so images from a cosine model \
            cannot be compared here; but in the sigma view any list of noise levels between the model's sigma_min \
            and sigma_max can be used with this one model (lesson 06's `karras`, `exponential`, …), which is the \
            point of the next section.
            """)
    }

    // MARK: Recap

    func conclude(_ report: Report, seconds: Double, loadAtStart: String) throws {
        let linear = try DiscreteNoiseSchedule.linear(), cosine = try DiscreteNoiseSchedule.cosine()
        let linearRange = linear.sigmaMin...linear.sigmaMax, cosineRange = cosine.sigmaMin...cosine.sigmaMax
        report.heading("Recap")
        report.paragraph("""
            - DDIM reuses a DDPM-trained network unchanged; it only changes the reverse process. eta = 1 is DDPM, \
            eta = 0 is deterministic: the starting noise alone decides the image (a rerun differs by exactly 0).
            - Deterministic sampling makes the noise a coordinate system for images: slerp between two noises gives \
            a path of plausible images; a straight line passes through noises that are too short.
            - A schedule is a list of noise levels sigma_t. Linear betas put T = 1000 levels between \
            sigma = \(format(linearRange.lowerBound, digits: 3)) and \(format(linearRange.upperBound, digits: 0)); the cosine schedule's \
            go from \(format(cosineRange.lowerBound, digits: 3)) to \(format(cosineRange.upperBound, digits: 0)), with more of them below sigma = 1.
            - With x = x_t/sqrt(alphabar_t) and sigma = sqrt((1 − alphabar_t)/alphabar_t), DDIM with eta = 0 is \
            Euler's method on dx/dsigma = (x − D(x; sigma))/sigma — checked above to Float32 rounding.
            """)
        report.heading("Exercise")
        report.paragraph("""
            Run `swift run -c release lesson-05-ddim --steps 10` and `--steps 200`: how much do the eta = 0 images \
            change between 10, 50 and 200 steps, and the eta = 1 images? (An ODE solver converges as steps grow; \
            ancestral sampling with few steps does not sample the right distribution.) Then write the step of \
            `heun` in the paper's variables (x_t, alphabar) and check it against the library the way section 4 does.
            """)
        report.paragraph("""
            This run took \(format(seconds, digits: 0)) s on a machine with two cores (load average \(loadAtStart) at the \
            start, \(Timing.loadAverage()) at the end\(Timing.busyNote(load: loadAtStart))). CSV files: `\(options.out)` \
            (`schedule_sigmas.csv`, `ddim_vs_euler.csv`).
            """)
    }
}

// MARK: Helpers

/// The mean absolute value of a tensor.
func meanAbs(_ a: Tensor) -> Double {
    let x = a.scalars
    return x.reduce(0.0) { $0 + abs(Double($1)) } / Double(max(x.count, 1))
}

/// The largest absolute difference of two tensors of one shape.
func maxAbs(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "maxAbs: shapes \(a.shape) and \(b.shape)")
    let x = a.scalars, y = b.scalars
    var m = 0.0
    for i in x.indices { m = max(m, abs(Double(x[i]) - Double(y[i]))) }
    return m
}

/// The standard deviation of a tensor's values.
func standardDeviation(_ a: Tensor) -> Double {
    let x = a.scalars.map(Double.init)
    let mean = x.reduce(0, +) / Double(max(x.count, 1))
    return (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(x.count, 1))).squareRoot()
}

Lesson05.main()
