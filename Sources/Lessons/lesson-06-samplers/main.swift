// lesson-06-samplers: every sampler is a way of solving one differential equation.
//
// Contract: a notebook you run. On a 2-D Gaussian mixture, whose exact denoiser and exact ODE
// solution we know, it (1) states the probability-flow ODE and each sampler's update rule,
// (2) draws every sampler's trajectories from the same starting points with the same budget of
// denoiser evaluations, (3) measures each sampler's error against the exact solution as the
// budget grows and fits its order, (4) measures how close many samples come to the true
// mixture as steps grow, ancestral samplers included, and (5) says plainly that the image part
// waits for a trained pixel model. The measurements live in `DiffusionStudies` (tested);
// this file narrates, calls, prints and plots.
//
// Output (see `--help`): the page `06-samplers.md` with its PNG figures and the CSV files of all
// data go to `--out` (default `out/lesson-06`); `--docs` writes the page and figures to
// `docs/lessons/` instead (the committed, rendered lesson). The main figure is also drawn in the
// terminal with gnuplot's `dumb` terminal.

import ArgumentParser
import Diffusion
import DiffusionStudies
import Foundation
import LessonKit
import Tensor

struct Lesson06: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-06-samplers",
        abstract: "Samplers as solvers of one ODE, side by side on an exactly solvable 2-D Gaussian mixture.",
        discussion: """
            Writes the lesson page (06-samplers.md), its PNG figures (figures/06-samplers/) and the CSV \
            files of every number it plots into --out. With --docs the page and figures go to \
            docs/lessons/ of this package (the committed lesson) and the CSV files still go to --out.
            """)

    @Option(help: ArgumentHelp("Samplers to compare, comma-separated (k-diffusion names, AUTOMATIC1111 labels or diffusers classes).", valueName: "a,b,c"))
    var samplers: String = SamplerName.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Budget of denoiser evaluations (NFE) per sampler in the trajectory figure: samplers with one evaluation per step take N steps, two-evaluation samplers about N/2. Also one of the step counts of the distribution study.")
    var steps: Int = 10

    @Option(help: "Sigma schedule: karras, exponential, polyexponential, vp or linear.")
    var schedule: String = "karras"

    @Option(name: .customLong("sigma-min"), help: "Smallest positive sigma of the schedule.")
    var sigmaMin: Double = 0.002

    @Option(name: .customLong("sigma-max"), help: "Largest sigma, where sampling starts.")
    var sigmaMax: Double = 80

    @Option(help: ArgumentHelp(#"A 2-D Gaussian mixture as JSON: {"weights": [...], "means": [[x, y], ...], "stds": [...]}."#, valueName: "file"))
    var gmm: String?

    @Option(help: "Seed of every random draw (starting points, ancestral and SDE noise).")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Output folder for the page, figures and CSV files.", valueName: "dir"))
    var out: String = "out/lesson-06"

    @Flag(help: "Write the page and figures to docs/lessons/ (the committed lesson) instead of --out.")
    var docs = false

    @Option(name: .customLong("ddpm"), help: ArgumentHelp("Folder of a trained pixel DDPM (exported by `diffuse export`, or a training checkpoint) for the image part.", valueName: "folder"))
    var ddpmCheckpoint: String = "models/ddpm-fmnist"

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard sigmaMin > 0, sigmaMax > sigmaMin, sigmaMax.isFinite else {
            throw ValidationError("need 0 < --sigma-min < --sigma-max, got \(sigmaMin) and \(sigmaMax)")
        }
    }

    func run() throws {
        do {
            try Lesson(options: self).run()
        } catch let error as MixtureFileError {
            throw ValidationError(error.description)
        } catch let error as DiffusionError {
            throw ValidationError(error.description)
        }
    }
}

/// The default mixture: five small, well-separated modes of unequal weight and width, so that
/// a sampler that strands samples between modes, blurs them or misweights them is seen at once.
let defaultMixture = try! GaussianMixture(
    weights: [0.30, 0.20, 0.20, 0.15, 0.15],
    means: [[-2, -1], [2, -1.2], [0, 2], [-1.2, 0.9], [1.3, 0.8]],
    stds: [0.15, 0.10, 0.20, 0.08, 0.12])

/// One line per sampler: its update rule from sigma to sigma' (h = log(sigma / sigma'),
/// d = (x - D(x, sigma)) / sigma, eps = d, z fresh noise) and where it comes from.
let updateRules: [SamplerName: (rule: String, source: String)] = [
    .euler: ("x' = x + (σ'−σ)·d", "Karras et al. 2022, Alg. 2 (no churn)"),
    .eulerAncestral: ("x' = x + (σ↓−σ)·d + σ↑·z", "k-diffusion; DDPM's ancestral step (Ho et al. 2020)"),
    .heun: ("x̃ = x + (σ'−σ)·d;  x' = x + (σ'−σ)·(d + d̃)/2", "Karras et al. 2022, Alg. 1"),
    .dpm2: ("x' = x + (σ'−σ)·d(x + (σm−σ)·d, σm),  σm = √(σσ')", "DPM-Solver-2, Lu et al. 2022a; k-diffusion"),
    .dpm2Ancestral: ("dpm_2 step to σ↓, then + σ↑·z", "k-diffusion"),
    .lms: ("x' = x + Σⱼ cⱼ·dᵢ₋ⱼ  (Adams, last 4 d)", "k-diffusion; Karras et al. 2022 baseline"),
    .dpmpp2SAncestral: ("DPM-Solver++(2S) step to σ↓, then + σ↑·z", "Lu et al. 2022b (DPM-Solver++); k-diffusion"),
    .dpmpp2M: ("x' = (σ'/σ)x + (1−σ'/σ)D̂,  D̂ = (1+1/2r)Dᵢ − (1/2r)Dᵢ₋₁", "DPM-Solver++(2M), Lu et al. 2022b"),
    .dpmppSDE: ("2-stage DPM-Solver++, Brownian noise", "Lu et al. 2022b; k-diffusion"),
    .dpmpp2MSDE: ("x' = (σ'/σ)e⁻ʰx + (1−e⁻²ʰ)D̂ + σ'√(1−e⁻²ʰ)·z", "SDE-DPM-Solver++(2M), Lu et al. 2022b"),
    .dpmpp3MSDE: ("3rd-order multistep D̂ + σ'√(1−e⁻²ʰ)·z", "k-diffusion, after Lu et al. 2022b"),
    .ddpm: ("x' = D + (σ'²/σ)·ε + σ↑·z", "Ho et al. 2020, Alg. 2, in sigma form"),
    .ddim: ("x' = D + σ'·ε,  ε = (x − D)/σ", "Song, Meng & Ermon 2021, eq. 12 (η = 0)"),
    .plms: ("ε̂ = (55εᵢ − 59εᵢ₋₁ + 37εᵢ₋₂ − 9εᵢ₋₃)/24, DDIM step", "Liu et al. 2022 (PNDM); CompVis"),
]

/// The colour of each sampler in every figure: deterministic and stochastic samplers each walk
/// through the ten-colour cycle (stochastic ones are also drawn dashed), so no two samplers of
/// one kind share a colour.
func colors(for names: [SamplerName]) -> [SamplerName: Color] {
    var result: [SamplerName: Color] = [:]
    var deterministic = 0, stochastic = 0
    for name in names {
        if name.isStochastic {
            result[name] = Color.cycle[stochastic % Color.cycle.count]; stochastic += 1
        } else {
            result[name] = Color.cycle[deterministic % Color.cycle.count]; deterministic += 1
        }
    }
    return result
}

struct Lesson {
    let options: Lesson06

    func run() throws {
        let started = Date()
        let outDirectory = URL(fileURLWithPath: options.out, isDirectory: true)
        let mixture = try options.gmm.map { try GaussianMixture(contentsOf: URL(fileURLWithPath: $0)) } ?? defaultMixture
        guard mixture.dimension == 2 else {
            throw ValidationError("--gmm: the mixture has dimension \(mixture.dimension); this lesson draws the plane, give means [x, y]")
        }
        let kind = try SigmaSchedule(named: options.schedule)
        let schedule = SamplingSchedule(kind: kind, sigmaMin: options.sigmaMin, sigmaMax: options.sigmaMax)
        var names: [SamplerName] = []
        var samplers: [any Sampler] = []
        for label in options.samplers.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !label.isEmpty {
            // An AUTOMATIC1111 label's schedule suffix (" Karras") is not applied: --schedule decides
            // the schedule for every sampler, so that all of them walk the same sigmas.
            let choice = try SamplerRegistry.resolve(label)
            if !names.contains(choice.name) { names.append(choice.name); samplers.append(choice.sampler) }
        }
        guard !samplers.isEmpty else { throw ValidationError("--samplers: no sampler given") }

        let report = Report(
            slug: "06-samplers", title: "Lesson 06 — Samplers are solvers of one differential equation",
            directory: options.docs ? nil : outDirectory,
            command: options.docs ? "swift run -c release lesson-06-samplers --docs" : nil)

        try introduce(report, names: names, schedule: schedule, mixture: mixture)

        // 2. Trajectories with one budget.
        let trajectoryNormals = { var g = SeededGenerator(seed: options.seed); return g.normalTensor([16, 2]) }()
        let runs = try SamplerStudies.trajectories(
            samplers: samplers, mixture: mixture, normals: trajectoryNormals, budget: options.steps,
            schedule: schedule, seed: options.seed)
        try showTrajectories(report, runs: runs, names: names, mixture: mixture, normals: trajectoryNormals,
                             schedule: schedule, outDirectory: outDirectory)

        // 3. Convergence.
        let convergenceNormals = { var g = SeededGenerator(seed: options.seed &+ 1); return g.normalTensor([64, 2]) }()
        let stepCounts = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
        let progress = ProgressBar(total: samplers.count * 2, label: "measuring")
        var convergence: [[ConvergencePoint]] = []
        for sampler in samplers {
            convergence.append(try SamplerStudies.convergence(
                of: sampler, mixture: mixture, normals: convergenceNormals, stepCounts: stepCounts,
                schedule: schedule, seed: options.seed))
            progress.advance(message: "convergence of \(sampler.name)")
        }

        // 4. Distribution quality.
        let sampleCount = 2000
        let distributionNormals = { var g = SeededGenerator(seed: options.seed &+ 2); return g.normalTensor([sampleCount, 2]) }()
        let distributionSteps = Array(Set([2, 3, 5, 10, 20, 50, options.steps])).sorted()
        var distribution: [[DistributionPoint]] = []
        for sampler in samplers {
            distribution.append(try SamplerStudies.distribution(
                of: sampler, mixture: mixture, normals: distributionNormals, stepCounts: distributionSteps,
                schedule: schedule, seed: options.seed))
            progress.advance(message: "distribution of \(sampler.name)")
        }
        progress.finish()

        try showConvergence(report, names: names, convergence: convergence, outDirectory: outDirectory)
        try showDistribution(report, names: names, samplers: samplers, distribution: distribution, mixture: mixture,
                             normals: distributionNormals, schedule: schedule, outDirectory: outDirectory)
        try imagePart(report)
        conclude(report, outDirectory: outDirectory, seconds: Date().timeIntervalSince(started))
        try report.write()
    }

    // MARK: 1. The equation and the test bed

    func introduce(_ report: Report, names: [SamplerName], schedule: SamplingSchedule, mixture: GaussianMixture) throws {
        report.paragraph("""
            Every sampler in this project — `euler`, `heun`, `dpmpp_2m`, `euler_ancestral` and the rest — \
            answers the same question: how to walk from pure noise at a large sigma down to a clean sample at \
            sigma = 0. This lesson shows that the deterministic ones are numerical methods for one ordinary \
            differential equation, that the ancestral and SDE ones solve a stochastic relative of it, and \
            measures both on a problem whose exact answer we know.
            """)
        report.paragraph("""
            Run it with `swift run -c release lesson-06-samplers` (about a minute on two cores). It writes this \
            page, its figures (`figures/06-samplers/`) and the CSV files of every number it plots to \
            `out/lesson-06/` (`--out DIR`); `--docs` writes the page and figures to `docs/lessons/` instead, which \
            is how the committed copy is made. `--samplers a,b,c` (any k-diffusion, AUTOMATIC1111 or diffusers \
            name), `--steps N` (the NFE budget of the trajectory figure, also measured in the distribution study), `--schedule`, `--sigma-min`, \
            `--sigma-max`, `--gmm FILE` (your own mixture as JSON), `--seed` and `--help` change the experiment.
            """)
        report.heading("1. One equation")
        report.paragraph("""
            Write a noisy sample as x = x0 + sigma·n with n ~ N(0, I). A denoiser D(x, sigma) estimates the \
            clean x0 (for a trained network it is the network; here it is exact). Karras et al. 2022 \
            ("Elucidating the Design Space of Diffusion-Based Generative Models", eq. 3 with sigma(t) = t) \
            show that the probability-flow ODE of Song et al. 2021 ("Score-Based Generative Modeling through \
            SDEs", eq. 13) becomes, in this parameterization,
            """)
        report.code("dx/dsigma = (x − D(x, sigma)) / sigma")
        report.paragraph("""
            Solve it from x(sigma_max) = sigma_max·n down to sigma = 0 and x(0) is a sample of the data \
            distribution: the ODE moves points so that at every sigma they are distributed exactly like data \
            with noise of that size added. The right-hand side \
            d = (x − D)/sigma is k-diffusion's `to_d`. A sampler picks a list of sigmas (the *schedule*) and a \
            rule for the step from sigma to sigma'. Euler's rule, x' = x + (sigma' − sigma)·d, rewritten, is \
            x' = (sigma'/sigma)·x + (1 − sigma'/sigma)·D: move a fraction of the way toward the current \
            guess of the clean sample. DDIM (Song, Meng & Ermon 2021) is exactly this step, and DPM-Solver++(2M) \
            (Lu et al. 2022, "DPM-Solver++") is this step with D replaced by an extrapolation of the last two \
            denoised values. Ancestral samplers step to a smaller sigma_down and add fresh noise of size sigma_up \
            so that the noise level sigma' is right again (sigma_down² + sigma_up² = sigma'²); SDE samplers do \
            the same with noise from one Brownian path. Here are the rules of the samplers this run compares \
            (h = log(sigma/sigma'), r the ratio of the last two steps in log sigma, z fresh N(0, I) noise):
            """)
        report.table(
            headers: ["sampler", "update from sigma to sigma'", "NFE/step", "order", "source"],
            rows: names.map { name in
                [
                    "`\(name.rawValue)`", updateRules[name]?.rule ?? "", String(name.evaluationsPerStep),
                    name.isStochastic ? "\(name.order) (ODE part)" : String(name.order), updateRules[name]?.source ?? "",
                ]
            },
            alignments: [.left, .left, .right, .right, .left])

        report.heading("2. A test bed with an exact answer")
        var componentRows: [[String]] = []
        for k in 0..<mixture.componentCount {
            componentRows.append([
                String(k + 1), format(mixture.weights[k], digits: 2),
                "(\(format(mixture.means[k][0], digits: 2)), \(format(mixture.means[k][1], digits: 2)))",
                format(mixture.stds[k], digits: 3),
            ])
        }
        report.paragraph("""
            The data distribution is a mixture of isotropic Gaussians in the plane \
            (\(options.gmm.map { "from `\($0)`" } ?? "the lesson's default: small, well-separated modes of unequal weight")):
            """)
        report.table(headers: ["mode", "weight", "mean", "std"], rows: componentRows, alignments: [.right, .right, .right, .right])
        report.paragraph("""
            For such a mixture the ideal denoiser has a closed form. Given x at noise level sigma, mode k is \
            responsible with probability r_k ∝ w_k N(x; mu_k, (s_k² + sigma²) I), and within mode k the posterior \
            mean of x0 is mu_k + s_k²/(s_k² + sigma²)·(x − mu_k) (Bishop, PRML eq. 2.116), so \
            D(x, sigma) = Σ_k r_k (mu_k + s_k²/(s_k² + sigma²)(x − mu_k)). No network, no training error: \
            every difference below is the samplers' own. With this D the ODE is solved to about 1e-9 by an \
            adaptive Dormand–Prince 5(4) method in Double (`GaussianMixture.solveProbabilityFlow`); that is the \
            exact solution drawn in grey and measured against. The schedule is `\(schedule.kind.rawValue)` from \
            sigma_max = \(format(schedule.sigmaMax)) to sigma_min = \(format(schedule.sigmaMin)), then 0.
            """)
    }

    // MARK: 2. Trajectories

    func showTrajectories(
        _ report: Report, runs: [TrajectoryRun], names: [SamplerName], mixture: GaussianMixture, normals: Tensor,
        schedule: SamplingSchedule, outDirectory: URL
    ) throws {
        report.heading("3. Trajectories with the same budget")
        let budgetLines = zip(names, runs).map { "`\($0.rawValue)` \($1.steps) steps (\($1.evaluations) NFE)" }
        report.paragraph("""
            Sixteen starting points x = sigma_max·n, the same for every sampler, and the same budget of \
            \(options.steps) denoiser evaluations (NFE): \(budgetLines.joined(separator: ", ")). Each panel \
            shows the exact ODE paths in grey, the sampler's states x_i joined by straight lines (one dot per \
            state), its final samples in black, and a circle of two standard deviations around each mode. The \
            paths enter from far outside (they start at radius ≈ sigma_max); only the last steps fall inside \
            the window, which is where the samplers differ.
            """)

        let firstSigmas = try schedule.sigmas(steps: 1)
        let dense = SamplerStudies.denseSigmas(from: firstSigmas[0], to: schedule.sigmaMin)
        let exact = SamplerStudies.exactPaths(mixture: mixture, start: startingPoints(normals: normals, sigma: dense[0]), sigmas: dense)
        let window = plotWindow(mixture)

        let palette = colors(for: names)
        var panels: [Plot] = []
        for (name, run) in zip(names, runs) {
            var plot = Plot(title: "\(name.rawValue), \(run.steps) steps: \(updateRules[name]?.rule ?? "")",
                            xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
            addModeCircles(&plot, mixture: mixture)
            for path in exact {
                plot.line(x: path.map(\.x), y: path.map(\.y), color: "#b0b0b0", lineWidth: 1)
            }
            let trajectory = run.trajectory
            for sample in 0..<trajectory.sampleCount {
                let states = trajectory.states.map { $0[sample] }
                plot.series.append(Series(x: states.map(\.x), y: states.map(\.y), style: .linePoints, color: palette[name],
                                          lineWidth: 1.5, pointStyle: .circle, pointSize: 0.5))
            }
            let finals = trajectory.states[trajectory.states.count - 1]
            plot.scatter(x: finals.map(\.x), y: finals.map(\.y), color: "black", pointStyle: .circle, pointSize: 0.8)
            panels.append(plot)
        }
        let columns = min(4, panels.count)
        let rows = (panels.count + columns - 1) / columns
        let figure = Figure(rows: rows, columns: columns, width: 500 * columns, height: 460 * rows,
                            title: "Trajectories from the same 16 starting points, at most \(options.steps) NFE each (grey: exact ODE solution)",
                            font: "sans,9", plots: panels)
        try report.figure(figure, name: "trajectories", caption: "Every sampler's trajectories in the plane, same starting points and the same NFE budget, over the exact ODE solution (grey).", showInTerminal: false)
        if report.echo {
            // The terminal gets four panels (the dumb terminal cannot draw sixteen legibly).
            let preferred: [SamplerName] = [.euler, .heun, .dpmpp2M, .eulerAncestral]
            var chosen = preferred.filter(names.contains)
            for name in names where chosen.count < 4 && !chosen.contains(name) { chosen.append(name) }
            var compact: [Plot] = []
            for name in names where chosen.contains(name) {
                let run = runs[names.firstIndex(of: name)!]
                var small = Plot(title: "\(name.rawValue), \(run.evaluations) NFE (F: mode centres)", xRange: window.x, yRange: window.y,
                                 showsGrid: false, legend: .hidden)
                for sample in 0..<run.trajectory.sampleCount {
                    let states = run.trajectory.states.map { $0[sample] }
                    small.line(x: states.map(\.x), y: states.map(\.y), color: palette[name], lineWidth: 1)
                }
                small.scatter(x: mixture.means.map { $0[0] }, y: mixture.means.map { $0[1] }, color: "black", pointStyle: .openCircle)
                compact.append(small)
            }
            let terminal = Figure(rows: 2, columns: 2, width: 800, height: 800, plots: compact)
            if let text = try? terminal.renderText(columns: 120, rows: 46) {
                print("The main figure in the terminal (four of its panels; the PNG has all):\n\n" + text + "\n")
            }
        }

        report.paragraph("""
            The 1-D view below plots the first coordinate of the same states against sigma on a log axis \
            (sampling runs from right to left; the final state at sigma = 0 cannot sit on a log axis and is \
            left out). For large sigma the denoiser returns nearly the mean m of the whole mixture, so the exact \
            paths are straight lines x − m ∝ sigma, which an Euler-type step follows exactly. The paths split \
            toward their modes once sigma is comparable to the distances between the modes, and that is where \
            few large steps go wrong.
            """)
        var sigmaPanels: [Plot] = []
        let sigmaRange = schedule.sigmaMin...max(firstSigmas[0], schedule.sigmaMax)
        for (name, run) in zip(names, runs) {
            var plot = Plot(title: "\(name.rawValue) (\(run.steps) steps)", xLabel: "sigma", yLabel: "x1",
                            xRange: sigmaRange, yRange: -4...4, logX: true, showsGrid: true, legend: .hidden)
            for path in exact.prefix(8) {
                plot.line(x: Array(dense.dropLast()), y: path.dropLast().map(\.x), color: "#b0b0b0", lineWidth: 1)
            }
            let color = palette[name]
            let trajectory = run.trajectory
            for sample in 0..<min(8, trajectory.sampleCount) {
                let sigmas = Array(trajectory.sigmas.dropLast())
                let xs = trajectory.states.dropLast().map { $0[sample].x }
                plot.series.append(Series(x: sigmas, y: xs, style: .linePoints, color: color, lineWidth: 1.5,
                                          pointStyle: .circle, pointSize: 0.5))
            }
            sigmaPanels.append(plot)
        }
        let sigmaFigure = Figure(rows: rows, columns: columns, width: 460 * columns, height: 330 * rows,
                                 title: "x1 against sigma (log axis), 8 of the starting points (grey: exact ODE)",
                                 font: "sans,9", plots: sigmaPanels)
        try report.figure(sigmaFigure, name: "x-against-sigma", caption: "The first coordinate against sigma: the same runs seen as a 1-D ODE solution.", showInTerminal: false)

        try Trajectory.table(runs.map(\.trajectory)).write(to: outDirectory.appendingPathComponent("trajectories.csv"))
        var exactTable = CSVTable(header: ["sample", "sigma", "x", "y"])
        for (sample, path) in exact.enumerated() {
            for (i, x) in path.enumerated() { exactTable.append([sample, dense[i], x.x, x.y]) }
        }
        try exactTable.write(to: outDirectory.appendingPathComponent("exact_trajectories.csv"))
        try AtomicFile.write(mixture.jsonData(), to: outDirectory.appendingPathComponent("mixture.json"))
    }

    // MARK: 3. Convergence

    func showConvergence(_ report: Report, names: [SamplerName], convergence: [[ConvergencePoint]], outDirectory: URL) throws {
        report.heading("4. Error against the number of evaluations")
        report.paragraph("""
            A method of order p makes an error that shrinks like NFE^(−p) once its steps are small: a line of \
            slope −p on log-log axes. From 64 starting points and with schedules of 1 to 255 steps, each run ends \
            at sigma_min (the last, trivial step to 0 is left out so that it cannot hide the order), and the error \
            is the distance to the exact ODE solution there — the median over the 64 points, because a few points \
            that start near the boundary between two modes flip to the other mode at coarse steps, an error of the \
            size of the mode spacing that would swamp a mean (`convergence.csv` has the root-mean-square too). The \
            fitted slope uses the points with error between 1e-5 (above the rounding of Float32, in which the \
            samplers compute) and 1e-1 (past the first, pre-asymptotic steps).
            """)
        let palette = colors(for: names)
        var deterministic = Plot(title: "Deterministic samplers: error vs NFE", xLabel: "NFE (denoiser evaluations)",
                                 yLabel: "median error vs exact ODE solution", logX: true, logY: true, legend: .outside)
        var stochastic = Plot(title: "Stochastic samplers: distance to the ODE solution", xLabel: "NFE (denoiser evaluations)",
                              yLabel: "median distance", logX: true, logY: true, legend: .outside)
        var rows: [[String]] = []
        var table = CSVTable(header: ["sampler", "steps", "nfe", "median_error", "rms_error"])
        var fits = CSVTable(header: ["sampler", "theoretical_order", "fitted_order", "r_squared", "points_fitted"])
        var fitted: [SamplerName: PowerLawFit] = [:]
        for (name, points) in zip(names, convergence) {
            for point in points { table.append([point.sampler, point.steps, point.evaluations, point.medianError, point.rmsError]) }
            let nfe = points.map { Double($0.evaluations) }, error = points.map(\.medianError)
            if name.isStochastic {
                stochastic.line(x: nfe, y: error, title: name.rawValue, color: palette[name], lineWidth: 1.5, dashType: 2, points: .circle)
            } else {
                deterministic.line(x: nfe, y: error, title: name.rawValue, color: palette[name], lineWidth: 1.5, points: .circle)
            }
            let fit = name.isStochastic ? nil : PowerLawFit(x: nfe, y: error, keepingYIn: 1e-5...1e-1)
            fitted[name] = fit
            rows.append([
                "`\(name.rawValue)`", name.isStochastic ? "— (SDE)" : String(name.order),
                fit.map { format($0.order, digits: 2) } ?? "—", fit.map { "\($0.pointCount)" } ?? "—",
                format(points.last?.medianError ?? .nan, digits: 2, scientific: true),
            ])
            fits.append([name.rawValue, name.isStochastic ? nil : name.order, fit?.order, fit?.rSquared, fit?.pointCount ?? 0])
        }
        for (order, label) in [(1.0, "slope −1"), (2.0, "slope −2"), (4.0, "slope −4")] {
            let x: [Double] = [8, 256]
            deterministic.line(x: x, y: x.map { 0.3 * pow(8 / $0, order) }, title: label, color: "#808080", lineWidth: 1, dashType: 3)
        }
        var plots: [Plot] = []
        if deterministic.series.count > 3 { plots.append(deterministic) }
        if !stochastic.series.isEmpty { plots.append(stochastic) }
        let figure = Figure(rows: 1, columns: plots.count, width: 720 * plots.count, height: 540,
                            title: "Convergence to the exact probability-flow ODE solution", font: "sans,10", plots: plots)
        try report.figure(figure, name: "convergence", caption: "Median error at sigma_min against NFE, log-log (ddim lies exactly on euler). Deterministic samplers converge with the slope of their order; stochastic ones do not converge to the ODE solution at all.", showInTerminal: false)
        if report.echo, let first = plots.first {
            var single = first
            single.legend = .bottomLeft
            if let text = try? Figure(single).renderText(columns: 110, rows: 36) { print(text + "\n") }
        }
        report.table(headers: ["sampler", "theoretical order", "fitted order (−slope)", "points in fit", "median error at the largest NFE"],
                     rows: rows, alignments: [.left, .right, .right, .right, .right])
        try table.write(to: outDirectory.appendingPathComponent("convergence.csv"))
        try fits.write(to: outDirectory.appendingPathComponent("convergence_fit.csv"))
        commentOnConvergence(report, names: names, convergence: convergence, fitted: fitted)
    }

    func commentOnConvergence(
        _ report: Report, names: [SamplerName], convergence: [[ConvergencePoint]], fitted: [SamplerName: PowerLawFit]
    ) {
        func error(_ name: SamplerName, nfe: Int) -> ConvergencePoint? {
            guard let i = names.firstIndex(of: name) else { return nil }
            return convergence[i].min { abs($0.evaluations - nfe) < abs($1.evaluations - nfe) }
        }
        var notes: [String] = []
        let contenders = [SamplerName.euler, .heun, .dpmpp2M, .lms].compactMap { name in error(name, nfe: 64).map { (name, $0) } }
        if contenders.count >= 2 {
            let list = contenders.map { "`\($0.0.rawValue)` \(format($0.1.medianError, digits: 1, scientific: true)) (\($0.1.evaluations) NFE)" }
            notes.append("At about 64 evaluations the median errors are \(list.joined(separator: ", ")): at the same cost the higher-order methods are ahead, and the gap widens as NFE grows, because the slopes differ.")
        }
        if let e = error(.euler, nfe: 64), let d = error(.ddim, nfe: 64) {
            let relative = abs(e.medianError - d.medianError) / max(e.medianError, 1e-30)
            let agreement = relative == 0 ? "identical to the last digit" : "a relative difference of \(format(relative, digits: 1, scientific: true)), Float32 rounding"
            notes.append("`ddim` and `euler` lie on top of each other (\(format(d.medianError, digits: 4, scientific: true)) and \(format(e.medianError, digits: 4, scientific: true)) at \(e.evaluations) NFE, \(agreement)): on the sigma-parameterized state, deterministic DDIM *is* Euler's method, as Karras et al. 2022 (sec. 3) point out.")
        }
        var orderNotes: [String] = []
        for name in names where !name.isStochastic {
            guard let fit = fitted[name] else { continue }
            let gap = Double(name.order) - fit.order
            if gap > 0.4 {
                switch name {
                case .plms:
                    orderNotes.append("`plms` reaches \(format(fit.order, digits: 2)) rather than its nominal 4: its Adams–Bashforth weights (55, −59, 37, −9)/24 are derived for equal steps, which the schedule here does not have, and its first step is an improved-Euler step of order 2")
                case .lms:
                    orderNotes.append("`lms` reaches \(format(fit.order, digits: 2)) rather than 4 over this range: its first three steps are of order 1, 2 and 3 while its history fills, and on the very uneven Karras steps the fourth-order regime starts late")
                default:
                    orderNotes.append("`\(name.rawValue)` reaches \(format(fit.order, digits: 2)) rather than \(name.order) in the fitted range")
                }
            }
        }
        if !orderNotes.isEmpty { notes.append(orderNotes.joined(separator: "; ") + ".") }
        notes.append("Multistep methods (`lms`, `plms`, `dpmpp_2m`) reuse old evaluations, so they reach their order at one evaluation per step. Two-stage methods (`heun`, `dpm_2`) pay two evaluations per step, and with very few steps their second evaluation, taken at the end of a long step where the field is steep, throws the sample far off (the left end of their curves, and the Heun panel above).")
        if names.contains(where: \.isStochastic) {
            notes.append("The ancestral and SDE samplers (right panel) do not approach the ODE solution at all: they sample the reverse SDE, whose paths from the same start end at different, random points. Their convergence is in distribution, which the next section measures.")
        }
        report.paragraph(notes.joined(separator: " "))
    }

    // MARK: 4. Distribution quality

    func showDistribution(
        _ report: Report, names: [SamplerName], samplers: [any Sampler], distribution: [[DistributionPoint]],
        mixture: GaussianMixture, normals: Tensor, schedule: SamplingSchedule, outDirectory: URL
    ) throws {
        report.heading("5. Distribution quality against steps")
        let sampleCount = normals.shape[0]
        let floor = SlicedWasserstein.floor(of: mixture, sampleCount: sampleCount, seed: options.seed &+ 3)
        report.paragraph("""
            Practitioners judge samplers by the images they give, not by the distance to an ODE solution. \
            The matching measurement here: draw \(sampleCount) samples from noise with each sampler and ask how \
            far they are from the true mixture. The distance is the sliced Wasserstein-1 distance: look at the \
            cloud from 64 directions; along each, the 1-D Wasserstein distance is the area between the samples' \
            cumulative distribution and the mixture's exact one (Rabin et al. 2011; Bonneel et al. 2015) — the \
            average distance, in the units of the plane, that sample mass must move to become the true \
            distribution. Even \(sampleCount) perfect samples are not at 0: they sit at \(format(floor, digits: 3)) \
            (the dotted floor), the resolution of this measurement. Three simpler numbers say *what* is wrong: \
            the fraction of samples more than 3.03 standard deviations from their mode (stranded between modes; \
            1 % for perfect samples), the spread ratio (the width of the modes, measured on the samples that do \
            sit on a mode and scaled so that perfect samples give 1: below 1 the modes are too narrow, above 1 too \
            wide) and the weight error (total variation between the share of samples \
            per mode and the true weights).
            """)
        var table = CSVTable(header: ["sampler", "steps", "nfe", "sliced_w1", "off_mode_fraction", "spread_ratio", "weight_error"])
        let stepsAxis = distribution.first?.map { Double($0.steps) } ?? []
        let palette = colors(for: names)
        var plots: [Plot] = []
        // One row of three panels for the deterministic samplers, one for the stochastic ones.
        for stochastic in [false, true] {
            let kind = stochastic ? "stochastic" : "deterministic"
            var distancePlot = Plot(title: "Sliced W1 to the true mixture (\(kind))", xLabel: "steps", yLabel: "sliced W1",
                                    logX: true, logY: true, legend: .hidden)
            var offModePlot = Plot(title: "Samples stranded off the modes (\(kind))", xLabel: "steps", yLabel: "fraction off-mode",
                                   logX: true, logY: true, legend: .hidden)
            var spreadPlot = Plot(title: "Width of the modes (\(kind))", xLabel: "steps", yLabel: "spread ratio",
                                  yRange: 0.5...2, logX: true, legend: .outside)
            for (name, points) in zip(names, distribution) where name.isStochastic == stochastic {
                let color = palette[name]
                let dash = stochastic ? 2 : 1
                let x = points.map { Double($0.steps) }
                distancePlot.line(x: x, y: points.map(\.distance), title: name.rawValue, color: color, lineWidth: 1.5, dashType: dash, points: .circle)
                offModePlot.line(x: x, y: points.map { max($0.modes.offModeFraction, 1e-4) }, title: name.rawValue, color: color,
                                 lineWidth: 1.5, dashType: dash, points: .circle)
                spreadPlot.line(x: x, y: points.map(\.modes.spreadRatio), title: name.rawValue, color: color, lineWidth: 1.5,
                                dashType: dash, points: .circle)
            }
            guard !distancePlot.series.isEmpty, let first = stepsAxis.first, let last = stepsAxis.last else { continue }
            distancePlot.line(x: [first, last], y: [floor, floor], title: "perfect samples", color: "black", lineWidth: 1, dashType: 3)
            offModePlot.line(x: [first, last], y: [0.01, 0.01], title: "perfect samples", color: "black", lineWidth: 1, dashType: 3)
            spreadPlot.line(x: [first, last], y: [1, 1], title: "perfect samples", color: "black", lineWidth: 1, dashType: 3)
            plots += [distancePlot, offModePlot, spreadPlot]
        }
        for (name, points) in zip(names, distribution) {
            for p in points {
                table.append([name.rawValue, p.steps, p.evaluations, p.distance, p.modes.offModeFraction, p.modes.spreadRatio, p.modes.weightError])
            }
        }
        let figure = Figure(rows: plots.count / 3, columns: 3, width: 1650, height: 470 * (plots.count / 3),
                            title: "\(sampleCount) samples from noise per run (dotted: perfect samples)",
                            font: "sans,10", plots: plots)
        try report.figure(figure, name: "distribution", caption: "Distance to the true mixture, samples stranded between modes, and width of the modes, against the number of steps (ddim lies exactly on euler, ddpm on euler_ancestral).", showInTerminal: false)
        try table.write(to: outDirectory.appendingPathComponent("distribution.csv"))

        let focusSteps = [5, 10]
        var rows: [[String]] = []
        for steps in focusSteps {
            for (name, points) in zip(names, distribution) {
                guard let p = points.first(where: { $0.steps == steps }) else { continue }
                rows.append([
                    String(steps), "`\(name.rawValue)`", String(p.evaluations), format(p.distance, digits: 3),
                    format(100 * p.modes.offModeFraction, digits: 1) + " %", format(p.modes.spreadRatio, digits: 2),
                    format(p.modes.weightError, digits: 3),
                ])
            }
        }
        report.paragraph("At few steps, in numbers (perfect samples: sliced W1 \(format(floor, digits: 3)), off-mode ≈ 1 %, spread 1, weight error ≈ 0):")
        report.table(headers: ["steps", "sampler", "NFE", "sliced W1", "off-mode", "spread", "weight error"], rows: rows,
                     alignments: [.right, .left, .right, .right, .right, .right, .right])

        // The samples themselves at 5 steps.
        let shownSteps = 5
        let sigmas = try schedule.sigmas(steps: shownSteps)
        var scatterPlots: [Plot] = []
        let window = plotWindow(mixture)
        var generator = SeededGenerator(seed: options.seed &+ 3)
        let exactSamples = mixture.samples(count: sampleCount, using: &generator)
        var exactPlot = Plot(title: "exact samples", xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
        exactPlot.scatter(x: exactSamples.map { $0[0] }, y: exactSamples.map { $0[1] }, color: "black", pointStyle: .circle, pointSize: 0.25)
        scatterPlots.append(exactPlot)
        var samplesTable = CSVTable(header: ["sampler", "steps", "sample", "x", "y"])
        let shown: [SamplerName] = [.euler, .heun, .dpmpp2M, .eulerAncestral, .dpmpp2SAncestral, .dpmpp2MSDE, .dpmppSDE, .lms]
        for (name, sampler) in zip(names, samplers) where shown.contains(name) {
            let end = try sampler.sample(mixture, x: startingPoints(normals: normals, sigma: sigmas[0]), sigmas: sigmas,
                                         noise: defaultNoise(forSamplerNamed: sampler.name, sigmas: sigmas, seed: options.seed),
                                         callback: nil)
            let points = planarPoints(end)
            for (i, p) in points.enumerated() { samplesTable.append([name.rawValue, shownSteps, i, p.x, p.y]) }
            var plot = Plot(title: "\(name.rawValue), \(shownSteps) steps", xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
            addModeCircles(&plot, mixture: mixture)
            plot.scatter(x: points.map(\.x), y: points.map(\.y), color: palette[name], pointStyle: .circle, pointSize: 0.25)
            scatterPlots.append(plot)
        }
        try samplesTable.write(to: outDirectory.appendingPathComponent("samples.csv"))
        let columns = min(3, scatterPlots.count)
        let scatterFigure = Figure(rows: (scatterPlots.count + columns - 1) / columns, columns: columns, width: 450 * columns,
                                   height: 400 * ((scatterPlots.count + columns - 1) / columns),
                                   title: "\(sampleCount) samples after \(shownSteps) steps (circles: 2 std of each mode)", font: "sans,10",
                                   plots: scatterPlots)
        try report.figure(scatterFigure, name: "samples-5-steps", caption: "What few steps do to the samples: exact samples against deterministic and stochastic samplers at 5 steps.", showInTerminal: false)
        discussFewSteps(report, names: names, distribution: distribution, schedule: schedule)
    }

    func discussFewSteps(
        _ report: Report, names: [SamplerName], distribution: [[DistributionPoint]], schedule: SamplingSchedule
    ) {
        func point(_ name: SamplerName, _ steps: Int) -> DistributionPoint? {
            guard let i = names.firstIndex(of: name) else { return nil }
            return distribution[i].first { $0.steps == steps }
        }
        func compare(_ a: Double, _ b: Double) -> String {
            a < b / 1.15 ? "better than" : (a > b * 1.15 ? "worse than" : "about as good as")
        }
        report.heading("Why does `euler_ancestral` look good in 5–10 steps?", level: 3)
        report.paragraph("""
            Practitioners of latent diffusion (Stable Diffusion) report good images from `euler_ancestral` \
            ("Euler a" in AUTOMATIC1111's web UI) in only 5–10 steps, although it is the simplest sampler. What \
            does the exact test bed say?
            """)
        var findings: [String] = []
        for steps in [5, 10] {
            guard let ea = point(.eulerAncestral, steps), let e = point(.euler, steps) else { continue }
            var sentence = "At \(steps) steps, by the distance `euler_ancestral` is \(compare(ea.distance, e.distance)) `euler` (\(format(ea.distance, digits: 3)) against \(format(e.distance, digits: 3)))"
            var clauses: [String] = []
            let (oa, oe) = (ea.modes.offModeFraction, e.modes.offModeFraction)
            let offMode = oa == oe ? "as many" : (oa < oe ? "fewer" : "more")
            clauses.append("it strands \(offMode) samples between modes (\(format(100 * oa, digits: 1)) % against \(format(100 * oe, digits: 1)) %)")
            let (sa, se) = (ea.modes.spreadRatio, e.modes.spreadRatio)
            if sa.isFinite, se.isFinite, abs(log(sa)) != abs(log(se)) {
                let width = abs(log(sa)) < abs(log(se)) ? "closer to" : "further from"
                clauses.append("its spread ratio is \(width) 1 (\(format(sa, digits: 2)) against \(format(se, digits: 2)))")
            }
            let (wa, we) = (ea.modes.weightError, e.modes.weightError)
            let weights = wa == we ? "as well" : (wa < we ? "better" : "worse")
            clauses.append("it weights the modes \(weights) (weight error \(format(wa, digits: 3)) against \(format(we, digits: 3)))")
            let listed = clauses.count > 1
                ? clauses.dropLast().joined(separator: ", ") + " and " + clauses[clauses.count - 1] : clauses.joined()
            sentence += "; " + listed + "."
            findings.append(sentence)
        }
        for steps in [5, 10] {
            let ranked = names.compactMap { name in point(name, steps).map { (name, $0) } }.sorted { $0.1.distance < $1.1.distance }
            if let best = ranked.first, ranked.count > 2 {
                let next = ranked[1]
                findings.append("The closest at \(steps) steps is `\(best.0.rawValue)` (\(format(best.1.distance, digits: 3)), \(best.1.evaluations) NFE), then `\(next.0.rawValue)` (\(format(next.1.distance, digits: 3)), \(next.1.evaluations) NFE).")
            }
        }
        if options.gmm == nil, schedule == SamplingSchedule(kind: .karras, sigmaMin: 0.002, sigmaMax: 80) {
            findings.append("These are not artefacts of this code: k-diffusion's own samplers on the same mixture give the same fractions and spreads to within sampling noise (`tools/lesson06_kdiffusion_crosscheck.py`).")
        }
        if !findings.isEmpty { report.paragraph(findings.joined(separator: " ")) }
        let few = (try? schedule.sigmas(steps: 5)) ?? []
        let crossing = few.indices.dropLast().first { few[$0] >= 1 && few[$0 + 1] < 1 }
        var stepText = "a few long steps"
        if let i = crossing {
            let visited = few.map { format($0) }.joined(separator: ", ")
            stepText = "5 steps visit sigma = \(visited): the step from \(format(few[i])) to \(format(few[i + 1])) crosses, in one go, the noise levels at which the modes separate; Euler's step there is x' = (sigma'/sigma)·x + (1 − sigma'/sigma)·D(x, sigma) with sigma'/sigma ≈ \(format(few[i + 1] / few[i], digits: 2)), so the sample lands almost on D(x, \(format(few[i])))"
        }
        report.paragraph("""
            The scatter plot shows what goes wrong at few steps. With the `\(schedule.kind.rawValue)` schedule, \
            \(stepText) — the posterior mean at a noise level where several modes are still plausible, that is, \
            a point between them, pulled toward the centre of the mixture. The ancestral step does not escape \
            this: with an exact denoiser its deterministic part lands on the exact conditional mean \
            E[x_sigma' | x_sigma] = (sigma'²/sigma²)·x + (1 − sigma'²/sigma²)·D(x, sigma), and its noise has the \
            variance the step would have if x0 were known (DDPM's posterior, Ho et al. 2020). When one step \
            crosses the separation of the modes, the true distribution of x_sigma' given x_sigma is itself split \
            among modes, and a Gaussian around its mean puts samples between them. Samplers that evaluate the \
            denoiser a second time inside the step (`dpmpp_2s_ancestral`, `dpmpp_sde`) commit to a mode there and \
            do much better at the same number of steps — for twice the evaluations. Second-order deterministic \
            steps (`heun`, `dpm_2`) overshoot instead: their second evaluation, at the end of the long step, sees \
            a steep field.
            """)
        if let ea20 = point(.eulerAncestral, 20), let ea50 = point(.eulerAncestral, 50), let e20 = point(.euler, 20),
           ea20.modes.spreadRatio < 0.97, ea50.modes.spreadRatio < 0.97 {
            report.paragraph("""
                With more steps a different signature appears: `euler_ancestral` strands almost no samples \
                (\(format(100 * ea20.modes.offModeFraction, digits: 1)) % at 20 steps) but its modes come out too \
                narrow — spread ratio \(format(ea20.modes.spreadRatio, digits: 2)) at 20 steps and \
                \(format(ea50.modes.spreadRatio, digits: 2)) at 50, where Euler has \(format(e20.modes.spreadRatio, digits: 2)) at 20. \
                The reason is in the step itself: given x_sigma, the true variance of x_sigma' is the variance of \
                the DDPM posterior (sigma_up²) plus (1 − sigma'²/sigma²)² times the variance of x0 given x_sigma (the \
                law of total variance); the ancestral step keeps only the first part, as if x0 were known, so every step trims a little off the \
                width of the modes. Too-narrow modes are typical, tidy samples — in an image, a clean and sharp \
                picture rather than a strange one — which is one way a sampler can look better than it measures.
                """)
        }
        report.paragraph("""
            So with an exact denoiser, `euler_ancestral` is not a good few-step sampler on this test bed: \
            discretization alone does not explain its reputation. The reputation must come from what this test bed leaves out, and two candidates stand out. \
            (1) Model error: a trained denoiser is wrong, differently at each sigma, and the fresh noise of \
            ancestral steps lets later steps correct errors of earlier ones (Karras et al. 2022, sec. 4, \
            explain the benefit of stochastic sampling by this correction) — an exact denoiser has nothing to \
            correct. (2) What "good" means: a person judging an image sees sharpness and plausibility, not the \
            distance to a distribution. Deterministic few-step samplers return averages — samples between modes \
            here, soft averaged latents that decode to blurry images there — while ancestral sampling, at the step \
            counts where it strands few samples, can make its modes too narrow (see the spread ratio): typical, clean samples at the \
            cost of diversity, which FID penalizes and the eye does not. Lesson 07 continues the question on trained pixel \
            and latent models, where FID against steps can separate these effects.
            """)
    }

    // MARK: 5. Images, recap

    func imagePart(_ report: Report) throws {
        report.heading("6. The same samplers on images")
        let folder = URL(fileURLWithPath: options.ddpmCheckpoint)
        let model: DDPMModel
        do {
            model = try DDPMModel.load(from: folder)
        } catch {
            report.paragraph("No trained pixel DDPM could be loaded from `\(folder.path)` (\(error)); skipping the image part. `diffuse train` and `diffuse export` make one (docs/training.md).")
            return
        }
        let names = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "ddim"]
        let steps = 8, count = 2
        report.paragraph("""
            The same question on a trained model: a small pixel-space DDPM on Fashion-MNIST (`\(folder.path)`, \
            an epsilon-predicting UNet wrapped as a denoiser exactly as above). Each row is one sampler and one \
            starting noise (seed \(options.seed), the same for every sampler), \(steps) steps on the `karras` schedule; \
            the columns are the denoised predictions D(x_i, sigma_i) at steps 0 to \(steps - 1) and, last, the final \
            sample. The network predicts the noise, and D = x − sigma·eps multiplies its errors by sigma, so at the \
            largest noise levels the predictions are speckled rather than the smooth average image an exact \
            denoiser would give; from the middle steps on, each sampler commits to one garment, and `euler` and \
            `ddim` — the same step — give the same pictures.
            """)
        var rows: [Tensor] = []
        for name in names {
            var predictions: [Tensor] = []
            let final = try model.sample(count: count, sampler: name, steps: steps, schedule: "karras",
                                         seed: options.seed) { step in predictions.append(step.denoised) }
            for image in 0..<count {
                let column = predictions.map { $0.sliced(axis: 0, image..<(image + 1)) } + [final.sliced(axis: 0, image..<(image + 1))]
                rows.append(Tensor.concatenate(column, axis: 0))
            }
        }
        let grid = imageGridFromModelRange(Tensor.concatenate(rows, axis: 0), columns: steps + 1)
        let title = "Denoised predictions per step, then the sample; rows: " + names.map { "\($0) ×\(count)" }.joined(separator: ", ")
        try report.figure(Figure(Plot(image: grid, title: title), width: 1100, height: 1000), name: "images",
                          caption: "A trained pixel DDPM sampled by six samplers from the same noise: D(x_i, sigma_i) at each of 8 steps, then the final sample (two rows per sampler).",
                          showInTerminal: false)
    }

    func conclude(_ report: Report, outDirectory: URL, seconds: Double) {
        report.heading("Recap")
        report.paragraph("""
            - Deterministic samplers are ODE solvers for dx/dsigma = (x − D(x, sigma))/sigma; they differ in \
            how many evaluations they spend per step and in how they combine them, and their error falls as \
            NFE^(−order) — measured above against an exact solution.
            - Euler, DDIM and DPM-Solver++(1) are the same step, x' = (sigma'/sigma)·x + (1 − sigma'/sigma)·D; \
            DPM++ 2M improves D by extrapolation at no extra cost; Heun and DPM-2 pay two evaluations per step.
            - Ancestral and SDE samplers add noise: they do not converge to the ODE solution but to the right \
            distribution. With an exact denoiser, one-evaluation ancestral steps are no cure for a few large \
            steps, and with more steps they make the modes too narrow; two-evaluation stochastic steps do best \
            at few steps.
            - A fair comparison fixes the budget of model evaluations, not the number of steps.
            """)
        report.heading("Exercise")
        report.paragraph("""
            Run `swift run -c release lesson-06-samplers --schedule exponential` and then `--schedule linear`: \
            which samplers lose their order on the linear schedule, and why does spending steps at large sigma \
            hurt? Then make the modes overlap (a `--gmm` file with stds of 0.6) and see how the ranking at 5 \
            steps changes when the modes are not separated. For the curious: the \
            SDE samplers use one Brownian path for all step counts (a Brownian tree); measure their strong error \
            against a 4096-step run of the same sampler on the same path and estimate their strong order.
            """)
        report.paragraph("""
            Data: the CSV files behind every figure are in `\(options.out)`: `trajectories.csv` \
            (sampler, sample, step, sigma, x, y, denoised_x, denoised_y), `exact_trajectories.csv`, \
            `convergence.csv`, `convergence_fit.csv`, `distribution.csv`, `samples.csv` and `mixture.json`. \
            This run took \(format(seconds, digits: 0)) s.
            """)
    }

    // MARK: Plot helpers

    func plotWindow(_ mixture: GaussianMixture) -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let xs = mixture.means.map { $0[0] }, ys = mixture.means.map { $0[1] }
        let margin = 4 * (mixture.stds.max() ?? 0) + 0.6
        return ((xs.min()! - margin)...(xs.max()! + margin), (ys.min()! - margin)...(ys.max()! + margin))
    }

    func addModeCircles(_ plot: inout Plot, mixture: GaussianMixture) {
        for k in 0..<mixture.componentCount {
            let angles = (0...48).map { Double($0) * 2 * Double.pi / 48 }
            let r = 2 * mixture.stds[k]
            plot.line(x: angles.map { mixture.means[k][0] + r * cos($0) }, y: angles.map { mixture.means[k][1] + r * sin($0) },
                      color: "#404040", lineWidth: 1, dashType: 1)
        }
    }
}

/// A number with `digits` digits after the point (or in scientific notation).
func format(_ value: Double, digits: Int = 3, scientific: Bool = false) -> String {
    guard value.isFinite else { return "—" }
    return String(format: scientific ? "%.\(digits)e" : "%.\(digits)f", value)
}

/// `value` with three significant digits.
func format(_ value: Double) -> String { String(format: "%.3g", value) }

Lesson06.main()
