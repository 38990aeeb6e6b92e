// lesson-04-ddpm, section 1: the forward process q(x_t | x_0) of the linear and cosine
// schedules, and a numerical check that the closed-form jump (eq. 4) has the distribution of t
// single steps (eq. 2). Called from `Lesson.run()` in `main.swift`, in page order.

import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 1. The forward process

    /// Copies of the test image pushed through t single forward steps in the check of eq. 4.
    static let forwardChains = 48

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
        let chains = Lesson.forwardChains
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
                String(t + 1), format(abar.squareRoot(), digits: 5), "\(format(slope, digits: 5)) ± \(format(significant: slopeError, 2))",
                "\(format(significant: mean, 2)) ± \(format(significant: meanError, 2))",
                format(significant: 1 - abar, 5), "\(format(significant: variance, 5)) ± \(format(significant: varianceError, 2))",
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
}
