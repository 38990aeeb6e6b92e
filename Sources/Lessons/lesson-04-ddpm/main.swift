// lesson-04-ddpm: denoising diffusion probabilistic models (Ho, Jain & Abbeel 2020), computed.
//
// Contract: a notebook you run. It (1) shows the forward noising process q(x_t | x_0) of the
// linear and cosine schedules and checks numerically that the closed-form jump (eq. 4) has the
// distribution of t single steps (eq. 2); (2) shows what the network of Algorithm 1 sees and
// predicts, and measures the shipped model's loss at every noise level on test images;
// (3) trains a small UNet live for a few hundred steps with `DDPMTrainer`; (4) samples the
// shipped checkpoint with ancestral sampling (Algorithm 2), written out here in the paper's
// variables and checked against the library's `ddpm` sampler, and shows x_t and the predicted
// x_0 along the way. The pieces are library code with their own tests (schedules, UNet,
// trainer, samplers); this file narrates, calls, prints and plots.
//
// Sections 3 (live training) and 4 (sampling) are in `Section3-Training.swift` and
// `Section4-Sampling.swift`; `Lesson.run()` below calls every section in page order.
//
// Output (see `--help`): the page `04-ddpm.md` and its PNG figures go to `--out` (default
// `out/lesson-04`); `--docs` writes them to `docs/lessons/` (the committed, rendered lesson).
// CSV files of the plotted numbers always go to `--out`.

import ArgumentParser
import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

struct Lesson04: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-04-ddpm",
        abstract: "DDPM: the forward process, the training objective, a short live training run and ancestral sampling.",
        discussion: """
            Writes the lesson page (04-ddpm.md), its PNG figures (figures/04-ddpm/) and CSV files of the \
            plotted numbers into --out. With --docs the page and figures go to docs/lessons/ of this \
            package (the committed lesson) and the CSV files still go to --out.
            """)

    @Option(name: .customLong("model"), help: ArgumentHelp("Folder of the trained pixel DDPM (exported by `diffuse export`, or a training checkpoint).", valueName: "folder"))
    var modelFolder: String = "models/ddpm-fmnist"

    @Option(parsing: .unconditional, help: "Optimizer steps of the live training run.")
    var trainSteps: Int = 150

    @Option(help: ArgumentHelp("Channels of the live-trained UNet's levels, comma-separated (each a multiple of 8).", valueName: "a,b,c"))
    var trainChannels: String = "8,16,32"

    @Option(parsing: .unconditional, help: "Batch size of the live training run.")
    var trainBatch: Int = 16

    @Option(parsing: .unconditional, help: "Training images read for the live run (the first N of Fashion-MNIST's training set).")
    var trainImages: Int = 6000

    @Option(parsing: .unconditional, help: "Test images per timestep in the loss-per-timestep measurement.")
    var lossImages: Int = 16

    @Option(parsing: .unconditional, help: "Images sampled with the shipped model (Algorithm 2).")
    var sampleCount: Int = 8

    @Option(parsing: .unconditional, help: "Sampling steps of Algorithm 2 (1000 = every training timestep; fewer = skipped DDPM).")
    var sampleSteps: Int = 250

    @Option(parsing: .unconditional, help: "Seed of every random draw.")
    var seed: UInt64 = 0

    /// `--out` and `--docs`, shared by every lesson (LessonKit).
    @OptionGroup var output: LessonOutputOptions
    /// The output folder (`out/lesson-NN` unless `--out`).
    var out: String { output.outPath(slug: "04-ddpm") }
    /// Whether the page goes to docs/lessons/.
    var docs: Bool { output.docs }

    func validate() throws {
        // Upper bounds keep the live run a lesson-sized one (minutes, not days or terabytes).
        guard (1...100_000).contains(trainSteps) else { throw ValidationError("--train-steps must lie in 1...100000, got \(trainSteps)") }
        guard (1...1024).contains(trainBatch) else { throw ValidationError("--train-batch must lie in 1...1024, got \(trainBatch)") }
        guard (trainBatch...60_000).contains(trainImages) else { throw ValidationError("--train-images must lie in \(trainBatch)...60000 (one batch to all of Fashion-MNIST), got \(trainImages)") }
        guard let channels = channelList, (1...6).contains(channels.count), channels.allSatisfy({ (8...512).contains($0) && $0 % 8 == 0 }) else {
            throw ValidationError("--train-channels must be 1 to 6 comma-separated multiples of 8 in 8...512, got \(trainChannels)")
        }
        guard (1...10_000).contains(lossImages) else { throw ValidationError("--loss-images must lie in 1...10000, got \(lossImages)") }
        guard (1...64).contains(sampleCount) else { throw ValidationError("--sample-count must lie in 1...64, got \(sampleCount)") }
        guard (12...1000).contains(sampleSteps) else { throw ValidationError("--sample-steps must lie in 12...1000, got \(sampleSteps)") }
    }

    /// `--train-channels` as numbers, nil when a part is not an integer.
    var channelList: [Int]? {
        let parts = trainChannels.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.compactMap { $0 }
    }

    func run() throws { try runLesson { try Lesson(options: self).run() } }
}

struct Lesson {
    let options: Lesson04

    func run() throws {
        let started = Date()
        let load = Timing.loadAverage()
        let outDirectory = URL(fileURLWithPath: options.out, isDirectory: true)
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        let report = Report(
            slug: "04-ddpm", title: "Lesson 04 — DDPM: noise in small steps, learn to undo it",
            directory: options.docs ? nil : outDirectory,
            command: options.docs ? "swift run -c release lesson-04-ddpm --docs" : nil)

        let model = try DDPMModel.load(from: URL(fileURLWithPath: options.modelFolder))
        let shape = (model.unet.configuration.inChannels, model.unet.configuration.sampleSize)
        guard shape == (1, 32) else {
            throw ValidationError("--model \(options.modelFolder) is a model of \(shape.0)-channel \(shape.1)x\(shape.1) images; this lesson needs a pixel DDPM of 1-channel 32x32 images (Fashion-MNIST, such as models/ddpm-fmnist)")
        }
        let test = try FashionMNIST.load(.test, limit: max(options.lossImages, 16))
        let testImages = (test.inputs * 2 - 1).paddedImages(by: 2, value: -1)  // [N, 1, 32, 32] in [-1, 1]

        introduce(report)
        try forwardProcess(report, image: testImages.sliced(axis: 0, 0..<1), outDirectory: outDirectory)
        try objective(report, model: model, testImages: testImages, outDirectory: outDirectory)
        let small = try trainLive(report, model: model, testImages: testImages, outDirectory: outDirectory)
        try sample(report, model: model, small: small, testImages: testImages, outDirectory: outDirectory)
        conclude(report, seconds: Date().timeIntervalSince(started), loadAtStart: load)
        try report.write()
    }

    // MARK: Introduction

    func introduce(_ report: Report) {
        report.paragraph("""
            Lesson 03 trained a network to recognize clothes. This one trains networks to *make* them, the way \
            Ho, Jain & Abbeel did in "Denoising Diffusion Probabilistic Models" (2020, DDPM): destroy images by \
            adding a little Gaussian noise at a time, a thousand times, and train a network to undo one step. \
            Sampling then starts from pure noise and undoes all thousand. Everything below is computed while \
            the lesson runs: the schedules, a check that the closed form of the noising process is right, what \
            the network sees, its loss at each noise level, a short training run, and sampling.
            """)
        report.paragraph("""
            Run it with `swift run -c release lesson-04-ddpm` (about a minute on two cores; the time of this run \
            is at the end). It writes this page and its figures to `out/lesson-04/` (`--out DIR`); `--docs` \
            writes them to `docs/lessons/` instead, which is how the committed copy is made. `--train-steps`, \
            `--train-channels`, `--train-batch`, `--sample-count`, `--sample-steps`, `--loss-images`, `--model`, `--seed` and `--help` change the \
            experiment. The trained model is the one that ships in `models/ddpm-fmnist` (a 686 769-parameter \
            UNet, linear betas, T = 1000, trained to predict the noise; see `docs/training.md`).
            """)
    }

    // MARK: 1. The forward process

    func forwardProcess(_ report: Report, image: Tensor, outDirectory: URL) throws {
        report.heading("1. The forward process: adding noise in small steps")
        let linear = try DiscreteNoiseSchedule.linear()
        let cosine = try DiscreteNoiseSchedule.cosine()
        report.paragraph("""
            Pick a schedule of small variances beta_1 … beta_T. One forward step (Ho et al. 2020, eq. 2) shrinks \
            the image a little and adds a little noise:
            """)
        report.code("""
            q(x_t | x_{t-1}) = N( sqrt(1 - beta_t) · x_{t-1},  beta_t · I )
            """)
        report.paragraph("""
            The shrinking keeps the total variance near 1, so after many steps x_t is a standard normal sample, \
            whatever the image was. Because a sum of Gaussians is Gaussian, t steps collapse into one jump \
            (eq. 4), with alpha_t = 1 − beta_t and alphabar_t = alpha_1 · alpha_2 ⋯ alpha_t:
            """)
        report.code("""
            q(x_t | x_0) = N( sqrt(alphabar_t) · x_0,  (1 - alphabar_t) · I )
            x_t = sqrt(alphabar_t) · x_0 + sqrt(1 - alphabar_t) · eps,   eps ~ N(0, I)
            """)
        report.paragraph("""
            So one number per timestep, alphabar_t, says how much image is left: sqrt(alphabar_t) is the \
            signal's amplitude, sqrt(1 − alphabar_t) the noise's, and their squared ratio \
            SNR(t) = alphabar_t / (1 − alphabar_t) is the signal-to-noise ratio. DDPM used linear betas from \
            1e-4 to 0.02 over T = 1000 steps (sec. 4); Nichol & Dhariwal (2021, "Improved DDPM", eq. 17) \
            proposed the cosine schedule alphabar(t) = cos²(((t/T + s)/(1 + s))·pi/2), s = 0.008, because the \
            linear one destroys the image too early. Timesteps are counted from 0 to 999 below, as in the code \
            (t = 0 is the paper's first step).
            """)

        let ts = Array(0..<1000)
        let tAxis = ts.map(Double.init)
        func snr(_ s: DiscreteNoiseSchedule) -> [Double] { s.alphasCumprod.map { $0 / (1 - $0) } }
        var alphaPlot = Plot(title: "alphabar_t: how much of the image is left", xLabel: "t", yLabel: "alphabar_t",
                             yRange: 0...1, legend: .topRight)
        alphaPlot.line(x: tAxis, y: linear.alphasCumprod, title: "linear", color: Color.cycle[0])
        alphaPlot.line(x: tAxis, y: cosine.alphasCumprod, title: "cosine", color: Color.cycle[1])
        var amplitudePlot = Plot(title: "signal and noise amplitudes", xLabel: "t", yLabel: "amplitude", yRange: 0...1.45,
                                 legend: .topRight)
        amplitudePlot.line(x: tAxis, y: linear.alphasCumprod.map { $0.squareRoot() }, title: "sqrt(abar), linear", color: Color.cycle[0])
        amplitudePlot.line(x: tAxis, y: linear.alphasCumprod.map { (1 - $0).squareRoot() }, title: "sqrt(1-abar), linear",
                           color: Color.cycle[0], dashType: 2)
        amplitudePlot.line(x: tAxis, y: cosine.alphasCumprod.map { $0.squareRoot() }, title: "sqrt(abar), cosine", color: Color.cycle[1])
        amplitudePlot.line(x: tAxis, y: cosine.alphasCumprod.map { (1 - $0).squareRoot() }, title: "sqrt(1-abar), cosine",
                           color: Color.cycle[1], dashType: 2)
        var snrPlot = Plot(title: "signal-to-noise ratio (log axis)", xLabel: "t", yLabel: "abar / (1 - abar)",
                           logY: true, legend: .topRight)
        snrPlot.line(x: tAxis, y: snr(linear), title: "linear", color: Color.cycle[0])
        snrPlot.line(x: tAxis, y: snr(cosine), title: "cosine", color: Color.cycle[1])
        snrPlot.line(x: [0, 999], y: [1, 1], title: "SNR = 1", color: "#808080", lineWidth: 1, dashType: 3)
        let tTicks = stride(from: 0, through: 1000, by: 200).map { Tick(Double($0), String($0)) }
        alphaPlot.xTicks = tTicks
        amplitudePlot.xTicks = tTicks
        snrPlot.xTicks = tTicks
        alphaPlot.xRange = 0...1000
        amplitudePlot.xRange = 0...1000
        snrPlot.xRange = 0...1000
        try report.figure(Figure(rows: 1, columns: 3, width: 1650, height: 480, font: "sans,12",
                                 plots: [alphaPlot, amplitudePlot, snrPlot]),
                          name: "schedules", caption: "The linear (DDPM) and cosine (Improved DDPM) schedules: alphabar_t, the amplitudes of signal and noise, and the SNR.",
                          showInTerminal: false)

        func crossing(_ s: DiscreteNoiseSchedule, below level: Double) -> Int {
            s.alphasCumprod.firstIndex { $0 / (1 - $0) < level } ?? s.trainingSteps
        }
        let checkpoints = [0, 99, 249, 499, 749, 999]
        var rows: [[String]] = []
        for (name, s) in [("linear", linear), ("cosine", cosine)] {
            rows.append([name, format(s.betas[0], scientific: true), format(s.betas[999], digits: 4)]
                        + checkpoints.map { format(s.alphasCumprod[$0], digits: 4, scientific: s.alphasCumprod[$0] < 1e-3) }
                        + [String(crossing(s, below: 1)), String(crossing(s, below: 0.01))])
        }
        report.table(headers: ["schedule", "beta_0", "beta_999"] + checkpoints.map { "abar at t=\($0)" } + ["SNR < 1 from t =", "SNR < 0.01 from t ="],
                     rows: rows, alignments: [.left] + Array(repeating: .right, count: 10))
        var csv = CSVTable(header: ["t", "beta_linear", "alphabar_linear", "beta_cosine", "alphabar_cosine"])
        for t in ts { csv.append([t, linear.betas[t], linear.alphasCumprod[t], cosine.betas[t], cosine.alphasCumprod[t]]) }
        try csv.write(to: outDirectory.appendingPathComponent("schedules.csv"))
        let halfLinear = crossing(linear, below: 1), halfCosine = crossing(cosine, below: 1)
        report.paragraph("""
            With linear betas the signal-to-noise ratio drops below 1 — more noise than image — at t = \(halfLinear), \
            and below 0.01 at t = \(crossing(linear, below: 0.01)): the last \(1000 - crossing(linear, below: 0.01)) \
            of the 1000 steps turn noise into slightly different noise. The cosine schedule crosses SNR = 1 at \
            t = \(halfCosine) and spreads the destruction more evenly. Its betas are clipped at 0.999 \
            (`squaredcos_cap_v2`), so its alphabar at t = 999 is \(format(cosine.alphasCumprod[999], digits: 2, scientific: true)) \
            against \(format(linear.alphasCumprod[999], digits: 2, scientific: true)) for linear: both end in noise.
            """)

        // The strip of noised images.
        let stripTimesteps = Array(stride(from: 0, to: 1000, by: 50)) + [999]
        var generator = TorchGenerator(seed: options.seed)
        let eps = generator.randn(image.shape)
        let count = stripTimesteps.count
        let repeated = Tensor.concatenate(Array(repeating: image, count: count), axis: 0)
        let noiseRepeated = Tensor.concatenate(Array(repeating: eps, count: count), axis: 0)
        let linearRow = DDPMTrainer.noised(repeated, timesteps: stripTimesteps, noise: noiseRepeated, schedule: linear, prediction: .epsilon).input
        let cosineRow = DDPMTrainer.noised(repeated, timesteps: stripTimesteps, noise: noiseRepeated, schedule: cosine, prediction: .epsilon).input
        let strip = imageGridFromModelRange(Tensor.concatenate([linearRow, cosineRow], axis: 0), columns: count)
        try report.figure(Figure(Plot(image: strip, title: "x_t at t = 0, 50, 100, …, 950, 999 — top: linear, bottom: cosine (the same eps)"),
                                 width: 1500, height: 230),
                          name: "noised-strip", caption: "One test image noised with the closed form at t = 0, 50, …, 950, 999, with the same eps; top row linear betas, bottom row cosine.",
                          showInTerminal: false)
        let shown = [100, 300, 500, 700]
        let amplitudes = shown.map { t in
            "t = \(t): \(format(linear.alphasCumprod[t].squareRoot(), digits: 2)) against \(format(cosine.alphasCumprod[t].squareRoot(), digits: 2))"
        }
        report.paragraph("""
            Both rows use the same noise eps, so they differ only in alphabar_t. The signal's amplitude \
            sqrt(alphabar_t), linear against cosine, is at \(amplitudes.joined(separator: "; ")): the cosine \
            row keeps the image visible for longer. Displayed values are clamped to [−1, 1].
            """)

        try checkClosedForm(report, image: image, schedule: linear)
    }

    /// Runs t single forward steps on many copies of the image and compares the result with the
    /// closed form N(sqrt(abar) x0, (1 - abar) I), in Double.
    func checkClosedForm(_ report: Report, image: Tensor, schedule: DiscreteNoiseSchedule) throws {
        report.heading("Is the closed form right? Run the chain.", level: 3)
        let chains = 48
        let x0 = image.scalars.map(Double.init)
        let n = x0.count
        report.paragraph("""
            Eq. 4 is a claim about distributions, so check it with many draws. Take the \(n) pixels of the test \
            image above, make \(chains) copies, and apply the single step of eq. 2 with the linear betas, t times, \
            with fresh noise each time (\(chains * n) chains in all, in Double). After t steps the closed form \
            says every chain value is sqrt(alphabar_t)·x_0 plus noise of variance 1 − alphabar_t. Two \
            measurements test both halves: the least-squares slope of x_t against x_0 (through the origin) must \
            be sqrt(alphabar_t), and the residual x_t − sqrt(alphabar_t)·x_0 must have mean 0 and variance \
            1 − alphabar_t. The ± are one standard error of each estimate.
            """)
        var generator = SeededGenerator(seed: options.seed &+ 7)
        var x = [Double](repeating: 0, count: chains * n)
        for c in 0..<chains { for i in 0..<n { x[c * n + i] = x0[i] } }
        let sumX0Squared = Double(chains) * x0.reduce(0) { $0 + $1 * $1 }
        let checkpoints: Set<Int> = [0, 9, 99, 299, 599, 999]
        var rows: [[String]] = []
        var worst = 0.0
        for t in 0..<schedule.trainingSteps {
            let a = (1 - schedule.betas[t]).squareRoot(), s = schedule.betas[t].squareRoot()
            for i in x.indices { x[i] = a * x[i] + s * generator.normal() }
            guard checkpoints.contains(t) else { continue }
            let abar = schedule.alphasCumprod[t]
            var dot = 0.0
            for c in 0..<chains { for i in 0..<n { dot += x0[i] * x[c * n + i] } }
            let slope = dot / sumX0Squared
            let slopeError = ((1 - abar) / sumX0Squared).squareRoot()
            var mean = 0.0, square = 0.0
            for c in 0..<chains {
                for i in 0..<n {
                    let r = x[c * n + i] - abar.squareRoot() * x0[i]
                    mean += r; square += r * r
                }
            }
            let count = Double(chains * n)
            mean /= count
            let variance = square / count - mean * mean
            let meanError = ((1 - abar) / count).squareRoot()
            let varianceError = (1 - abar) * (2 / count).squareRoot()
            worst = max(worst, abs(slope - abar.squareRoot()) / slopeError, abs(mean) / meanError,
                        abs(variance - (1 - abar)) / varianceError)
            rows.append([
                String(t + 1), format(abar.squareRoot(), digits: 5), "\(format(slope, digits: 5)) ± \(significant(slopeError))",
                "\(significant(mean)) ± \(significant(meanError))",
                significant(1 - abar, digits: 5), "\(significant(variance, digits: 5)) ± \(significant(varianceError))",
            ])
        }
        // P(max of n |z| >= worst) for n independent standard normal deviations.
        let chance = 1 - pow(1 - erfc(worst / 2.0.squareRoot()), Double(rows.count * 3))
        report.table(headers: ["steps taken", "sqrt(abar) (eq. 4)", "slope of chain", "residual mean", "1 − abar (eq. 4)", "residual variance"],
                     rows: rows, alignments: Array(repeating: .right, count: 6))
        report.paragraph("""
            Every measured slope, mean and variance agrees with eq. 4 to within \(format(worst, digits: 1)) standard \
            errors. Among \(rows.count * 3) estimates, a largest deviation at least this big happens by chance \
            \(format(100 * chance, digits: 0)) % of the time (if they were independent; they share chains), so the \
            draws are consistent with the formula. The closed form is what training uses: it jumps to any t in \
            one line instead of t steps.
            """)
    }

    // MARK: 2. The training objective

    func objective(_ report: Report, model: DDPMModel, testImages: Tensor, outDirectory: URL) throws {
        report.heading("2. The training objective: predict the noise")
        report.paragraph("""
            Undoing a step would need q(x_{t−1} | x_t), which depends on the whole data distribution. Ho et al. \
            instead train a network eps_theta(x_t, t) to predict the noise that was added, with a plain squared \
            error (Algorithm 1, the "simple" loss of eq. 14):
            """)
        report.code("""
            repeat
                x_0 ~ data;   t ~ Uniform{0, …, T−1};   eps ~ N(0, I)
                x_t = sqrt(alphabar_t)·x_0 + sqrt(1 − alphabar_t)·eps
                take a gradient step on  ‖eps − eps_theta(x_t, t)‖²
            until converged
            """)
        report.paragraph("""
            Knowing eps is knowing the clean image: x_0 = (x_t − sqrt(1 − alphabar_t)·eps) / sqrt(alphabar_t). \
            So the network's prediction gives an estimate x̂_0 at every step. Here is what the shipped network \
            sees and returns for one test image at five noise levels (columns: x_0, the noise eps drawn for it, \
            the input x_t, the predicted noise, and the x̂_0 it implies; noise is shown divided by 3):
            """)
        let image = testImages.sliced(axis: 0, 1..<2)
        let shownTimesteps = [20, 100, 300, 600, 900]
        var generator = TorchGenerator(seed: options.seed &+ 1)
        let eps = generator.randn(image.shape)
        var tiles: [Tensor] = []
        var rows: [[String]] = []
        for t in shownTimesteps {
            let abar = model.schedule.alphasCumprod[t]
            let xt = DDPMTrainer.noised(image, timesteps: [t], noise: eps, schedule: model.schedule, prediction: .epsilon).input
            let predicted = model.unet.predict(xt, timestep: Double(t))
            let x0Hat = (xt - predicted * Float((1 - abar).squareRoot())) / Float(abar.squareRoot())
            tiles += [image, eps / 3, xt, predicted / 3, x0Hat]
            rows.append([String(t), format(abar, digits: 4), format(mse(predicted, eps), digits: 4),
                         format(mse(x0Hat, image), digits: 4)])
        }
        let grid = imageGridFromModelRange(Tensor.concatenate(tiles, axis: 0), columns: 5)
        var networkView = Plot(image: grid, title: "One test image at five noise levels")
        networkView.labelGrid(tileHeight: image.shape[2], tileWidth: image.shape[3], rows: shownTimesteps.map { "t = \($0)" },
                              columns: ["x_0", "noise eps / 3", "input x_t", "predicted eps / 3", "implied x̂_0"])
        try report.figure(Figure(networkView, width: 760, height: 700),
                          name: "network-view", caption: "What the network sees (x_t) and predicts (eps) at five timesteps, and the clean image its prediction implies.",
                          showInTerminal: false)
        report.table(headers: ["t", "alphabar_t", "MSE(eps_theta, eps)", "MSE(x̂_0, x_0)"], rows: rows,
                     alignments: [.right, .right, .right, .right])
        report.paragraph("""
            The noise error stays small at every t, but what it means for the image changes: x̂_0 = x_t/sqrt(abar) \
            − sigma_t·eps_theta with sigma_t = sqrt((1 − abar_t)/abar_t), so an error in the predicted noise \
            reaches the image multiplied by sigma_t, which is \(shownTimesteps.map { format(model.schedule.sigmas[$0], digits: 2) }.joined(separator: ", ")) \
            at these five timesteps. At t = \(shownTimesteps[0]) the input is nearly the clean image and x̂_0 nearly \
            exact; at t = \(shownTimesteps[3]) x̂_0 is a blurred garment; at t = \(shownTimesteps[4]) the tiny noise error \
            is amplified into speckle. Sampling clamps x̂_0 to [−1, 1] for this reason (section 4).
            """)

        // Loss per timestep.
        let timesteps = Array(stride(from: 0, to: 1000, by: 25)) + [999]
        let batch = testImages.sliced(axis: 0, 0..<options.lossImages)
        let b = options.lossImages
        let train = try FashionMNIST.load(.train, limit: 2000)
        let meanImage = ((train.inputs * 2 - 1).paddedImages(by: 2, value: -1)).mean(axes: [0], keepingDims: true)  // [1, 1, 32, 32]
        let meanBatch = Tensor.concatenate(Array(repeating: meanImage, count: b), axis: 0)
        let spread = mse(meanBatch, batch)  // E|x0 - mean|^2 per pixel
        report.paragraph("""
            Which timesteps are hard? The loss of the shipped network at \(timesteps.count) timesteps from 0 to 999, each \
            on the same \(b) test images (never seen in training) with fresh noise, next to a baseline that knows \
            no image at all and always guesses x̂_0 = the mean training image (its noise guess is then \
            (x_t − sqrt(alphabar_t)·mean)/sqrt(1 − alphabar_t)):
            """)
        var generatorLoss = TorchGenerator(seed: options.seed &+ 2)
        var modelLoss: [Double] = [], baselineLoss: [Double] = []
        let progress = ProgressBar(total: timesteps.count, label: "loss per timestep")
        for t in timesteps {
            let noise = generatorLoss.randn(batch.shape)
            let xt = DDPMTrainer.noised(batch, timesteps: Array(repeating: t, count: b), noise: noise, schedule: model.schedule,
                                        prediction: .epsilon).input
            let predicted = model.unet.predict(xt, timestep: Double(t))
            let abar = model.schedule.alphasCumprod[t]
            let baseline = (xt - meanBatch * Float(abar.squareRoot())) / Float((1 - abar).squareRoot())
            modelLoss.append(mse(predicted, noise))
            baselineLoss.append(mse(baseline, noise))
            progress.advance()
        }
        progress.finish()
        let sigmas2 = timesteps.map { (1 - model.schedule.alphasCumprod[$0]) / model.schedule.alphasCumprod[$0] }
        let tAxis = timesteps.map(Double.init)
        var epsPlot = Plot(title: "noise-prediction loss (what training minimizes)", xLabel: "t", yLabel: "MSE(eps_theta, eps)",
                           logY: true, legend: .topRight)
        epsPlot.line(x: tAxis, y: modelLoss, title: "shipped model", color: Color.cycle[0], points: .circle)
        epsPlot.line(x: tAxis, y: baselineLoss, title: "baseline: x̂_0 = mean image", color: "#808080", dashType: 2)
        var x0Plot = Plot(title: "the same error seen on x_0: sigma_t² × eps-loss", xLabel: "t", yLabel: "MSE(x̂_0, x_0)",
                          logY: true, legend: .bottomRight)
        x0Plot.line(x: tAxis, y: zip(modelLoss, sigmas2).map { $0 * $1 }, title: "shipped model", color: Color.cycle[0], points: .circle)
        x0Plot.line(x: tAxis, y: zip(baselineLoss, sigmas2).map { $0 * $1 }, title: "baseline: x̂_0 = mean image", color: "#808080", dashType: 2)
        try report.figure(Figure(rows: 1, columns: 2, width: 1400, height: 480, font: "sans,10", plots: [epsPlot, x0Plot]),
                          name: "loss-per-timestep", caption: "The shipped model's loss at each timestep on test images (left: the eps loss it was trained on; right: the same error expressed on x_0), against a baseline that always guesses the mean image.")
        var csv = CSVTable(header: ["t", "alphabar", "model_eps_mse", "baseline_eps_mse", "model_x0_mse", "baseline_x0_mse"])
        for (i, t) in timesteps.enumerated() {
            csv.append([t, model.schedule.alphasCumprod[t], modelLoss[i], baselineLoss[i], modelLoss[i] * sigmas2[i], baselineLoss[i] * sigmas2[i]])
        }
        try csv.write(to: outDirectory.appendingPathComponent("loss_per_timestep.csv"))
        let average = modelLoss.reduce(0, +) / Double(modelLoss.count)
        let x0Model = zip(modelLoss, sigmas2).map { $0 * $1 }, x0Baseline = zip(baselineLoss, sigmas2).map { $0 * $1 }
        let epsCrossing = timesteps.indices.first { baselineLoss[$0] < modelLoss[$0] }.map { timesteps[$0] }
        let x0Crossing = timesteps.indices.first { x0Model[$0] > x0Baseline[$0] }.map { timesteps[$0] }
        func at(_ t: Int) -> Int { timesteps.firstIndex(of: t) ?? 0 }
        report.paragraph("""
            The noise loss is largest at the smallest timesteps: \(format(modelLoss[at(0)], digits: 3)) at t = 0, \
            \(format(modelLoss[at(100)], digits: 3)) at t = 100, \(format(modelLoss[at(500)], digits: 4)) at t = 500 and \
            \(format(modelLoss.last!, digits: 4)) at t = 999. At small t the noise is a faint film over a sharp image \
            (sigma_0 = \(format(model.schedule.sigmas[0], digits: 3))): to find it the network must know, pixel by pixel, \
            what a clean garment looks like, and the baseline that knows nothing scores \(format(baselineLoss[0], digits: 0)) there. \
            At large t the input is almost all noise and "the noise is the input" is nearly right for anyone — so \
            nearly right that the mean-image baseline beats the network on the noise loss from t = \(epsCrossing.map(String.init) ?? "—") on \
            (\(format(baselineLoss.last!, digits: 1, scientific: true)) against \(format(modelLoss.last!, digits: 1, scientific: true)) at t = 999).
            """)
        report.paragraph("""
            Seen on x_0 (right), the picture turns over. The image error is sigma_t² times the noise error, and \
            sigma_t² grows from \(format(sigmas2[0], digits: 1, scientific: true)) at t = 0 to \(format(sigmas2.last!, digits: 0)) at \
            t = 999: the network's x̂_0 is nearly exact at small t, and from t = \(x0Crossing.map(String.init) ?? "—") on it is \
            *worse* than guessing the mean image (\(format(x0Model.last!, digits: 1)) against \(format(spread, digits: 3)) at \
            t = 999). A network trained to predict eps puts little effort where eps is easy, which is exactly where \
            x_0 is hard. This is why samplers clamp x̂_0 (lesson 06's image rows show the speckle at large sigma), \
            and why later work predicts v (Salimans & Ho 2022) or scales the network's input and output with sigma \
            (Karras et al. 2022). Averaged over the timesteps, the noise loss is \(format(average, digits: 4)); the \
            shipped run's training loss was about 0.037 at the end (`docs/training.md`: training images, raw rather \
            than EMA weights, one random timestep per image) — the same size.
            """)
    }

    // MARK: Recap

    func conclude(_ report: Report, seconds: Double, loadAtStart: String) {
        report.heading("Recap")
        report.paragraph("""
            - The forward process adds Gaussian noise in T small steps; t steps collapse into one Gaussian \
            jump, x_t = sqrt(alphabar_t)·x_0 + sqrt(1 − alphabar_t)·eps (checked above with \(48) × 1024 chains).
            - The schedule decides how fast the image disappears: linear betas leave it for noise early; the \
            cosine schedule spreads the destruction over all t.
            - Training is regression: predict the noise that was added, at a random t. The eps loss is hardest \
            at small t (fine detail), the image error largest at large t (what to draw at all).
            - Sampling runs the process backwards through the posterior of each step, with the network's x̂_0 in \
            place of the unknown x_0: one network evaluation per timestep, a thousand per image.
            """)
        report.heading("Exercise")
        report.paragraph("""
            Run `swift run -c release lesson-04-ddpm --train-steps 1500` and compare the samples of the small \
            model with those above: which classes appear first? Then sample with `--sample-steps 1000` (the full \
            Algorithm 2) and `--sample-steps 20` (a skipped DDPM): at which step count do the garments \
            fall apart, and why does the posterior step get worse when it jumps over many timesteps (hint: the \
            true reverse step is close to Gaussian only when it is small)? Lesson 05 makes large steps work.
            """)
        report.paragraph("""
            This run took \(format(seconds, digits: 0)) s on a machine with two cores (load average \(loadAtStart) \
            at the start, \(Timing.loadAverage()) at the end\(Timing.busyNote(load: loadAtStart))). CSV files of the \
            plotted numbers: `\(options.out)` (`schedules.csv`, `loss_per_timestep.csv`, `live_loss.csv`).
            """)
    }
}

// MARK: Helpers

/// The mean squared difference of two tensors of one shape.
func mse(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape, "mse: shapes \(a.shape) and \(b.shape)")
    let x = a.scalars, y = b.scalars
    var s = 0.0
    for i in x.indices { let d = Double(x[i]) - Double(y[i]); s += d * d }
    return s / Double(max(x.count, 1))
}

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


/// A number with `digits` significant digits.
func significant(_ value: Double, digits: Int = 2) -> String { String(format: "%.\(digits)g", value) }


Lesson04.main()
