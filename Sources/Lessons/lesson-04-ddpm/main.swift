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
// Each section is a file, read in page order: `Section1-ForwardProcess.swift`,
// `Section2-Objective.swift`, `Section3-Training.swift`, `Section4-Sampling.swift`;
// `Lesson.run()` below calls them in that order.
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

    // MARK: Recap

    func conclude(_ report: Report, seconds: Double, loadAtStart: String) {
        report.heading("Recap")
        report.paragraph("""
            - The forward process adds Gaussian noise in T small steps; t steps collapse into one Gaussian \
            jump, x_t = sqrt(alphabar_t)·x_0 + sqrt(1 − alphabar_t)·eps (checked above on \(Lesson.forwardChains) noised copies of a 32×32 image, \(Lesson.forwardChains * 1024) chains).
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

Lesson04.main()
