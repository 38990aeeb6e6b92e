// lesson-06-samplers: every sampler is a way of solving one differential equation.
//
// A notebook you run, read top to bottom as the page reads: on a 2-D Gaussian mixture, whose
// exact denoiser and exact ODE solution we know, (1) the probability-flow ODE and each sampler's
// rule (read from the sampler registry), (2) the samplers' paths in the plane and against sigma,
// (3) each sampler's error against the exact solution as the budget of evaluations grows,
// (4) how close many samples come to the true mixture, (5) the same samplers on a trained pixel
// model. Measurements: `DiffusionStudies` (tested) and `SamplerRuns.swift`; drawing: `Figures.swift`.
//
// Output: the page `06-samplers.md`, its figures and the CSV files of every plotted number go to
// `out/lesson-06/` (`--out DIR`); `--docs` writes page and figures to `docs/lessons/`.

import ArgumentParser
import Diffusion
import DiffusionStudies
import Foundation
import LessonKit
import Tensor

struct Lesson06: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-06-samplers",
        abstract: "Samplers as solvers of one ODE, side by side on an exactly solvable 2-D Gaussian mixture.")

    @Option(help: ArgumentHelp("Samplers of the main figure, comma-separated (any k-diffusion, AUTOMATIC1111 or diffusers name).", valueName: "a,b,c"))
    var samplers = "euler,heun,dpmpp_2m,euler_ancestral,dpmpp_2m_sde"
    @Option(help: ArgumentHelp("Samplers measured in the studies and the appendix (default: all of the registry).", valueName: "a,b,c"))
    var compare = SamplerName.allCases.map(\.rawValue).joined(separator: ",")
    @Option(parsing: .unconditional, help: "Budget of denoiser evaluations (NFE) per sampler in the trajectory figures; also a step count of the distribution study.")
    var steps = 10
    @Option(help: "Sigma schedule: karras, exponential, polyexponential, vp or linear.")
    var schedule = "karras"
    @Option(name: .customLong("sigma-min"), parsing: .unconditional, help: "Smallest positive sigma of the schedule.")
    var sigmaMin = 0.002
    @Option(name: .customLong("sigma-max"), parsing: .unconditional, help: "Largest sigma, where sampling starts.")
    var sigmaMax = 80.0
    @Option(help: ArgumentHelp(#"A 2-D Gaussian mixture as JSON: {"weights": [...], "means": [[x, y], ...], "stds": [...]}."#, valueName: "file"))
    var gmm: String?
    @Option(parsing: .unconditional, help: "Seed of every random draw (starting points, ancestral and SDE noise).")
    var seed: UInt64 = 0
    @Option(name: .customLong("ddpm"), help: ArgumentHelp("Folder of a trained pixel DDPM for the image part.", valueName: "folder"))
    var ddpmCheckpoint = "models/ddpm-fmnist"
    @OptionGroup var output: LessonOutputOptions

    func validate() throws {
        guard (1...1000).contains(steps) else { throw ValidationError("--steps must lie in 1...1000 (a budget of denoiser evaluations per sampler), got \(steps)") }
        guard sigmaMin > 0, sigmaMax > sigmaMin, sigmaMax <= 1e6 else {
            throw ValidationError("need 0 < --sigma-min < --sigma-max <= 1e6, got \(sigmaMin) and \(sigmaMax)")
        }
    }

    func run() throws { try runLesson { try lesson(self) } }
}

func lesson(_ options: Lesson06) throws {
    let started = Date(), load = Timing.loadAverage()
    let mixture = try options.gmm.map { try GaussianMixture(contentsOf: URL(fileURLWithPath: $0)) } ?? defaultMixture
    guard mixture.dimension == 2 else { throw ValidationError("--gmm: the mixture has dimension \(mixture.dimension); give means [x, y]") }
    let schedule = SamplingSchedule(kind: try SigmaSchedule(named: options.schedule), sigmaMin: options.sigmaMin, sigmaMax: options.sigmaMax)
    let panels = try resolve(options.samplers)
    var compared = try resolve(options.compare)
    for panel in panels where !compared.contains(where: { $0.name == panel.name }) { compared.append(panel) }
    let names = compared.map { $0.name }
    let outDirectory = options.output.directory(slug: "06-samplers")
    let report = options.output.report(lesson: "lesson-06-samplers", slug: "06-samplers",
                                       title: "Lesson 06 — Samplers are solvers of one differential equation")

    report.paragraph("""
        Every sampler in this project — `euler`, `heun`, `dpmpp_2m`, `euler_ancestral` and the rest — answers the same \
        question: how to walk from pure noise at a large sigma down to a clean sample at sigma = 0. This lesson shows that \
        the deterministic ones are numerical methods for one ordinary differential equation, that the ancestral and SDE \
        ones solve a stochastic relative of it, and measures both on a problem whose exact answer we know. Run it with \
        `swift run -c release lesson-06-samplers` (about a minute on two cores); it writes this page, its figures and the \
        CSV files of every plotted number to `out/lesson-06/` (`--out DIR`, `--docs` for the committed copy). \
        `--samplers a,b,c` picks the main figure's panels, `--compare` the samplers measured, and `--steps`, `--schedule`, \
        `--sigma-min`, `--sigma-max`, `--gmm FILE` (your own mixture as JSON) and `--seed` change the experiment.
        """)

    // MARK: 1. One equation
    report.heading("1. One equation")
    report.paragraph("""
        Write a noisy sample as x = x0 + sigma·n with n ~ N(0, I). A denoiser D(x, sigma) estimates the clean x0 (for a \
        trained network it is the network; here it is exact). Karras et al. 2022 ("Elucidating the Design Space of \
        Diffusion-Based Generative Models", eq. 3 with sigma(t) = t) write the probability-flow ODE of Song et al. 2021 \
        (eq. 13) as
        """)
    report.code("dx/dsigma = (x − D(x, sigma)) / sigma")
    report.paragraph("""
        Solved from x(sigma_max) = sigma_max·n down to sigma = 0, it carries noise to data: at every sigma the points are \
        distributed exactly like data with noise of that size added. A sampler picks a list of sigmas (the *schedule*) and a \
        rule for the step from sigma to sigma'. Euler's rule x' = x + (sigma' − sigma)·d with d = (x − D)/sigma is, \
        rewritten, x' = (sigma'/sigma)·x + (1 − sigma'/sigma)·D: move a fraction of the way toward the current guess of the \
        clean sample. Ancestral samplers step to a smaller sigma_down and add fresh noise of size sigma_up so that the noise \
        level is sigma' again (sigma_down² + sigma_up² = sigma'²); SDE samplers take that noise from one Brownian path. The \
        rules of the samplers compared here, as each sampler's registry entry states them (h = log(sigma/sigma'), r the ratio \
        of the last two steps in log sigma, z fresh N(0, I) noise, σ↓ and σ↑ the ancestral split):
        """)
    report.table(headers: ["sampler", "update from sigma to sigma'", "NFE/step", "order", "same steps as", "source"],
                 rows: names.map { name in
                     ["`\(name.rawValue)`", name.updateRule, String(name.evaluationsPerStep),
                      name.isStochastic ? "\(name.order) (ODE part)" : String(name.order),
                      name.coincidesWith.map { "`\($0.rawValue)`" } ?? "", name.source]
                 },
                 alignments: [.left, .left, .right, .right, .left, .left])

    // MARK: 2. A test bed with an exact answer
    report.heading("2. A test bed with an exact answer")
    report.paragraph("The data distribution is a mixture of isotropic Gaussians in the plane (\(options.gmm.map { "from `\($0)`" } ?? "the lesson's default: small, well-separated modes of unequal weight")):")
    report.table(headers: ["mode", "weight", "mean", "std"], rows: (0..<mixture.componentCount).map { k in
        [String(k + 1), format(mixture.weights[k], digits: 2),
         "(\(format(mixture.means[k][0], digits: 2)), \(format(mixture.means[k][1], digits: 2)))", format(mixture.stds[k], digits: 3)]
    }, alignments: [.right, .right, .right, .right])
    report.paragraph("""
        For such a mixture the ideal denoiser has a closed form. Given x at noise level sigma, mode k is responsible with \
        probability r_k ∝ w_k N(x; mu_k, (s_k² + sigma²) I), and within mode k the posterior mean of x0 is \
        mu_k + s_k²/(s_k² + sigma²)·(x − mu_k) (Bishop, PRML eq. 2.116), so D(x, sigma) = Σ_k r_k (mu_k + s_k²/(s_k² + \
        sigma²)(x − mu_k)). No network, no training error: every difference below is the samplers' own. With this D the ODE \
        is solved to about 1e-9 by an adaptive Dormand–Prince 5(4) method in Double (`GaussianMixture.solveProbabilityFlow`): \
        the exact paths drawn in grey and measured against. The schedule is `\(schedule.kind.rawValue)` from sigma_max = \
        \(format(significant: schedule.sigmaMax)) to sigma_min = \(format(significant: schedule.sigmaMin)), then 0.
        """)

    // MARK: 3. Paths with the same budget
    report.heading("3. Paths with the same budget")
    let trajectoryNormals = { var g = SeededGenerator(seed: options.seed); return g.normalTensor([16, 2]) }()
    let run = try trajectoryRuns(compared, mixture: mixture, normals: trajectoryNormals, budget: options.steps,
                                 schedule: schedule, seed: options.seed)
    let dense = SamplerStudies.denseSigmas(from: try schedule.sigmas(steps: 1)[0], to: schedule.sigmaMin)
    let exact = try SamplerStudies.exactPaths(mixture: mixture, start: startingPoints(normals: trajectoryNormals, sigma: dense[0]), sigmas: dense)
    let exactEnds = exact.map { $0[$0.count - 1] }
    // Zoom on the last steps: the states below sigma = 1 and the final samples of the samplers shown.
    func lateStates(_ name: SamplerName) -> [SIMD2<Double>] {
        let t = run[name]!.trajectory
        return t.sigmas.indices.filter { t.sigmas[$0] < 1 }.flatMap { t.states[$0] }
    }
    let zoom = Window.around(panels.flatMap { lateStates($0.name) }, mixture: mixture)
    var mainPanels = panels.map { panel in
        planePanel(panel.name, run: run[panel.name]!, exact: exact, mixture: mixture, window: zoom, schedule: schedule,
                   showsBar: false, paths: 8)
    }
    mainPanels.append(overviewPanel(panels[0].name, run: run[panels[0].name]!, exact: exact, zoom: zoom, schedule: schedule, paths: 8))
    let atFive = dense.indices.min { abs(dense[$0] - 5) < abs(dense[$1] - 5) }!
    let straightness = largestBend(exact, sigmas: dense, mixture: mixture, until: atFive)
    report.paragraph("""
        Sixteen starting points x = sigma_max·n, the same for every sampler (eight of them drawn below), and the same budget \
        of \(options.steps) denoiser evaluations (NFE). Far from the data the denoiser returns nearly the mixture's mean m, so the exact paths \
        are straight lines x − m ∝ sigma: along every one of the 16, (x − m)/sigma changes by at most \
        \(percent(straightness)) between sigma = \(format(significant: dense[0])) and sigma = \(format(significant: dense[atFive])), \
        which is why an Euler-type step, exact on such lines, can take huge steps there. The paths bend toward their modes \
        once sigma is comparable to the distance between the modes, and that is where the samplers part:
        """)
    let columns = min(3, mainPanels.count), rows = (mainPanels.count + columns - 1) / columns
    try report.figure(Figure(rows: rows, columns: columns, width: 560 * columns, height: 520 * rows,
                             title: "Eight starting points, the same for every sampler, at most \(options.steps) denoiser evaluations each",
                             font: "sans,12", plots: mainPanels),
                      name: "trajectories", caption: """
                          Each panel: one sampler's states (dots, coloured by their sigma; joined in the sampler's colour), its final \
                          samples (black), the exact ODE paths from the same starts (grey), the data density (shaded) and a circle of two \
                          standard deviations around each mode. The last panel zooms out to where the paths start, at radius about \
                          sigma_max; the box is the window of the other panels. The appendix has all samplers and all 16 points.
                          """, showInTerminal: false)
    report.paragraph("At the end of each run the final samples lie this far from the exact ODE's ends (median over the 16 points):")
    func endDistances(_ name: SamplerName) -> [Double] {
        zip(run[name]!.trajectory.states.last!, exactEnds).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }
    }
    report.table(headers: ["sampler", "steps", "NFE", "median distance of the final sample to the exact ODE end", "finals further than 0.5"],
                 rows: names.map { name in
                     let distances = endDistances(name)
                     return ["`\(name.rawValue)`", String(run[name]!.steps), String(run[name]!.evaluations),
                             format(median(distances), digits: 3), "\(distances.filter { $0 > 0.5 }.count) of \(distances.count)"]
                 }, alignments: [.left, .right, .right, .right, .right])
    let worst = names.filter { !$0.isStochastic }.max { median(endDistances($0)) < median(endDistances($1)) }
    report.paragraph("""
        A deterministic sampler follows the grey paths while its steps are short compared with their bend, and the table \
        shows which cut the final bend with a last long step\(worst.map { " (`\($0.rawValue)`, \(run[$0]!.steps) steps, ends a median \(format(median(endDistances($0)), digits: 2)) from the exact end)" } ?? ""); the \
        ancestral and SDE samplers (`euler_ancestral`, `dpmpp_2m_sde`) leave the grey paths at once, because each step adds \
        fresh noise: they are not solving the ODE from these starting points but sampling paths of the reverse SDE, whose \
        end points are random. The same runs against sigma, in the style of Karras et al. 2022 (Fig. 2-3), with noise on the \
        left and data on the right and nothing clipped:
        """)
    let reach = run.values.flatMap { $0.trajectory.states.flatMap { $0.prefix(8).map { abs($0.x) } } }.max()! * 1.1
    let sigmaPanels = panels.map { sigmaPanel($0.name, run: run[$0.name]!, exact: Array(exact.prefix(8)), denseSigmas: dense,
                                              mixture: mixture, schedule: schedule, reach: reach) }
    try report.figure(Figure(rows: (sigmaPanels.count + 1) / 2, columns: 2, width: 1300, height: 430 * ((sigmaPanels.count + 1) / 2),
                             title: "First coordinate x1 against sigma (8 of the 16 starting points)", font: "sans,12", plots: sigmaPanels),
                      name: "x-against-sigma", caption: """
                          x1 against sigma, noise on the left: the shading is the density of x1 at each sigma (scaled per sigma), grey \
                          the exact ODE paths, dots the sampler's states in its colour, ending at sigma = 0 on the right. The vertical \
                          axis is linear near 0 and logarithmic beyond, so the straight lines x − m ∝ sigma of large sigma appear as \
                          straight diagonals and the start at |x| ≈ sigma_max fits.
                          """, showInTerminal: false)
    try particleFlow(report, names: names, compared: compared, mixture: mixture, schedule: schedule, steps: options.steps, seed: options.seed)
    try Trajectory.table(names.map { run[$0]!.trajectory }).write(to: outDirectory.appendingPathComponent("trajectories.csv"))
    var exactTable = CSVTable(header: ["sample", "sigma", "x", "y"])
    for (sample, path) in exact.enumerated() { for (i, x) in path.enumerated() { exactTable.append([sample, dense[i], x.x, x.y]) } }
    try exactTable.write(to: outDirectory.appendingPathComponent("exact_trajectories.csv"))
    try AtomicFile.write(mixture.jsonData(), to: outDirectory.appendingPathComponent("mixture.json"))

    // MARK: 4. Error against the number of evaluations
    report.heading("4. Error against the number of evaluations")
    let progress = ProgressBar(total: compared.count * 2, label: "measuring")
    let convergenceNormals = { var g = SeededGenerator(seed: options.seed &+ 1); return g.normalTensor([64, 2]) }()
    let stepCounts = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    var convergence: [SamplerName: [ConvergencePoint]] = [:]
    for (name, sampler) in compared {
        convergence[name] = try convergenceRun(name, sampler, mixture: mixture, normals: convergenceNormals, stepCounts: stepCounts,
                                               schedule: schedule, seed: options.seed)
        progress.advance(message: "convergence of \(name.rawValue)")
    }
    report.paragraph("""
        A method of order p makes an error that shrinks like NFE^(−p) once its steps are small: a line of slope −p on \
        log-log axes. From 64 starting points and with schedules of 1 to 255 steps, each run ends at sigma_min (the last, \
        trivial step to 0 is left out so that it cannot hide the order), and the error is the distance to the exact ODE \
        solution there — the median over the 64 points, because a few points that start near the boundary between two modes \
        flip to the other mode at coarse steps (`convergence.csv` has the root-mean-square too). The slope is fitted where the \
        error lies between 1e-5 (above Float32 rounding, in which the samplers compute) and 1e-1.
        """)
    let deterministic = names.filter { !$0.isStochastic }, stochastic = names.filter(\.isStochastic)
    var convergencePlots: [Plot] = []
    if !deterministic.isEmpty {
        var plot = againstNFE("Deterministic samplers converge to the ODE solution", yLabel: "median error at sigma_min", names: deterministic,
                              logY: true, legend: .outside) { name in convergence[name]!.map { (Double($0.evaluations), $0.medianError) } }
        for (order, dash) in [(1.0, 3), (2.0, 4), (4.0, 5)] {
            plot.line(x: [8.0, 256.0], y: [8.0, 256.0].map { 0.3 * pow(8 / $0, order) }, title: "slope −\(Int(order))", color: "black", lineWidth: 1, dashType: dash)
        }
        convergencePlots.append(plot)
    }
    if !stochastic.isEmpty {
        convergencePlots.append(againstNFE("Stochastic samplers do not", yLabel: "median distance at sigma_min", names: stochastic,
                                           logY: true, legend: .outside) { name in convergence[name]!.map { (Double($0.evaluations), $0.medianError) } })
    }
    try report.figure(Figure(rows: 1, columns: convergencePlots.count, width: 780 * convergencePlots.count, height: 560,
                             title: "Distance to the exact probability-flow ODE solution against the number of evaluations", font: "sans,12",
                             plots: convergencePlots),
                      name: "convergence", caption: "Median error at sigma_min against NFE, log-log. ddim is drawn dashed on top of euler and ddpm on top of euler_ancestral: they take the same steps.", showInTerminal: false)
    var convergenceTable = CSVTable(header: ["sampler", "steps", "nfe", "median_error", "rms_error"])
    var fits = CSVTable(header: ["sampler", "theoretical_order", "fitted_order", "r_squared", "points_fitted"])
    var fitted: [SamplerName: PowerLawFit] = [:]
    for name in names {
        let points = convergence[name]!
        for p in points { convergenceTable.append([p.sampler, p.steps, p.evaluations, p.medianError, p.rmsError]) }
        if !name.isStochastic {
            fitted[name] = PowerLawFit(x: points.map { Double($0.evaluations) }, y: points.map(\.medianError), keepingYIn: 1e-5...1e-1)
        }
        fits.append([name.rawValue, name.isStochastic ? nil : name.order, fitted[name]?.order, fitted[name]?.rSquared, fitted[name]?.pointCount ?? 0])
    }
    try convergenceTable.write(to: outDirectory.appendingPathComponent("convergence.csv"))
    try fits.write(to: outDirectory.appendingPathComponent("convergence_fit.csv"))
    func error(_ name: SamplerName, nfe: Int) -> ConvergencePoint? { convergence[name]?.min { abs($0.evaluations - nfe) < abs($1.evaluations - nfe) } }
    report.table(headers: ["sampler", "theoretical order", "fitted order (−slope)", "points in fit", "median error near 64 NFE"],
                 rows: names.map { name in
                     ["`\(name.rawValue)`", name.isStochastic ? "— (SDE)" : String(name.order), fitted[name].map { format($0.order, digits: 2) } ?? "—",
                      fitted[name].map { String($0.pointCount) } ?? "—", error(name, nfe: 64).map { format($0.medianError, digits: 1, scientific: true) } ?? "—"]
                 }, alignments: [.left, .right, .right, .right, .right])
    let short = deterministic.filter { name in fitted[name].map { Double(name.order) - $0.order > 0.4 } ?? false }
    if let e = error(.euler, nfe: 64), let d = error(.ddim, nfe: 64) {
        report.paragraph("""
            `ddim` and `euler` coincide (\(format(d.medianError, digits: 4, scientific: true)) and \(format(e.medianError, digits: 4, scientific: true)) \
            at \(e.evaluations) NFE): on the sigma-parameterized state deterministic DDIM *is* Euler's method, as Karras et al. \
            2022 (sec. 3) point out. Multistep methods (`lms`, `plms`, `dpmpp_2m`) reuse old evaluations and reach their order \
            at one evaluation per step; two-stage methods (`heun`, `dpm_2`) pay two per step, and with very few steps their \
            second evaluation, at the end of a long step where the field is steep, throws samples far off (the left end of their \
            curves, and the `heun` panel of the first figure).
            """)
    }
    if !short.isEmpty {
        report.paragraph("""
            Below their nominal order over this range: \(short.map { "`\($0.rawValue)` (\(format(fitted[$0]!.order, digits: 2)) for \($0.order))" }.joined(separator: ", ")). \
            A multistep method of order 4 starts with steps of order 1, 2 and 3 while its history fills, and weights derived for \
            equal steps (PLMS's (55, −59, 37, −9)/24) lose order on the uneven steps of this schedule.
            """)
    }

    if let adaptive = convergence[.dpmAdaptive], let loose = adaptive.first, let tight = adaptive.last {
        report.paragraph("""
            `dpm_adaptive` has no step count: it picks its steps by error control, so its points are the tolerances rtol = atol \
            = \(adaptiveTolerances.map { format(significant: $0) }.joined(separator: ", ")), costing \(loose.evaluations) to \
            \(tight.evaluations) evaluations for a median error of \(format(loose.medianError, digits: 1, scientific: true)) to \
            \(format(tight.medianError, digits: 1, scientific: true)).
            """)
    }

    // MARK: 5. Distribution quality
    report.heading("5. Distribution quality against the number of evaluations")
    let sampleCount = 2000
    let distributionNormals = { var g = SeededGenerator(seed: options.seed &+ 2); return g.normalTensor([sampleCount, 2]) }()
    let distributionSteps = Array(Set([2, 3, 5, 10, 20, 50, options.steps])).sorted()
    var distribution: [SamplerName: [DistributionPoint]] = [:]
    for (name, sampler) in compared {
        distribution[name] = try distributionRun(name, sampler, mixture: mixture, normals: distributionNormals, stepCounts: distributionSteps,
                                                 schedule: schedule, seed: options.seed)
        progress.advance(message: "distribution of \(name.rawValue)")
    }
    progress.finish()
    let floors: [Double] = (0..<20).map { SlicedWasserstein.floor(of: mixture, sampleCount: sampleCount, seed: options.seed &+ 3 &+ UInt64($0)) }
    let (floorMean, floorSpread) = meanAndStandardDeviation(floors)
    let firstSigma = try schedule.sigmas(steps: 2)[0]
    let odeEnds = try SamplerStudies.exactEnds(mixture: mixture, start: startingPoints(normals: distributionNormals, sigma: firstSigma), from: firstSigma, to: schedule.sigmaMin)
        .map { x in let d = mixture.denoised([x.x, x.y], sigma: schedule.sigmaMin); return SIMD2(d[0], d[1]) }
    let odeDistance = SlicedWasserstein.distance(odeEnds, to: mixture, directionCount: 64)
    report.paragraph("""
        Practitioners judge samplers by the samples they give, not by the distance to an ODE solution. The matching \
        measurement: draw \(sampleCount) samples from noise with each sampler and measure the sliced Wasserstein-1 distance to \
        the true mixture — along each of 64 directions the area between the samples' cumulative distribution and the \
        mixture's exact one (Rabin et al. 2011; Bonneel et al. 2015), the average distance sample mass must move. \
        \(sampleCount) perfect samples are not at 0: over \(floors.count) independent draws they sit at \(format(floorMean, digits: 4)) ± \
        \(format(floorSpread, digits: 4)) (mean ± standard deviation; from \(format(floors.min()!, digits: 4)) to \
        \(format(floors.max()!, digits: 4))), the resolution of this measurement. Three simpler numbers say *what* is wrong: \
        the fraction of samples more than \(format(ModeStatistics.offModeRadius, digits: 2)) standard deviations from their \
        mode (stranded between modes; 1 % for perfect samples), the spread ratio (the width of the modes on the samples that \
        sit on one, 1 for perfect samples, below 1 too narrow) and the weight error (total variation between the share of \
        samples per mode and the true weights). All are drawn against NFE, so that two-evaluation samplers pay for their \
        second evaluation.
        """)
    let floorBand = { (plot: inout Plot, level: Double, x: [Double]) in
        plot.line(x: x, y: [level, level], title: "perfect samples", color: "black", lineWidth: 1, dashType: 3)
    }
    let nfeEnds = [1.0, Double(distribution.values.flatMap { $0.map(\.evaluations) }.max() ?? 100)]
    var distributionPlots: [Plot] = []
    for (kind, group) in [("deterministic", deterministic), ("stochastic", stochastic)] where !group.isEmpty {
        var w1 = againstNFE("Sliced W1 to the mixture (\(kind))", yLabel: "sliced W1", names: group, logY: true) { name in
            distribution[name]!.map { (Double($0.evaluations), $0.distance) } }
        floorBand(&w1, floorMean, nfeEnds)
        var off = againstNFE("Stranded between modes (\(kind))", yLabel: "fraction off-mode", names: group, logY: true) { name in
            distribution[name]!.map { (Double($0.evaluations), max($0.modes.offModeFraction, 1e-4)) } }
        floorBand(&off, 0.01, nfeEnds)
        var spread = againstNFE("Width of the modes (\(kind))", yLabel: "spread ratio", names: group, logY: false, yRange: 0.5...2,
                                legend: .outside) { name in distribution[name]!.map { (Double($0.evaluations), $0.modes.spreadRatio) } }
        floorBand(&spread, 1, nfeEnds)
        distributionPlots += [w1, off, spread]
    }
    try report.figure(Figure(rows: distributionPlots.count / 3, columns: 3, width: 1800, height: 480 * (distributionPlots.count / 3),
                             title: "\(sampleCount) samples from noise per run, against the number of evaluations (dotted: perfect samples)",
                             font: "sans,12", plots: distributionPlots),
                      name: "distribution", caption: "Distance to the true mixture, samples stranded between modes, and width of the modes against NFE. ddim is dashed on top of euler, ddpm on top of euler_ancestral.", showInTerminal: false)
    var distributionTable = CSVTable(header: ["sampler", "steps", "nfe", "sliced_w1", "off_mode_fraction", "spread_ratio", "weight_error"])
    for name in names {
        for p in distribution[name]! { distributionTable.append([name.rawValue, p.steps, p.evaluations, p.distance, p.modes.offModeFraction, p.modes.spreadRatio, p.modes.weightError]) }
    }
    try distributionTable.write(to: outDirectory.appendingPathComponent("distribution.csv"))
    func point(_ name: SamplerName, _ steps: Int) -> DistributionPoint? { distribution[name]?.first { $0.steps == steps } }
    let converged = deterministic.compactMap { point($0, 50)?.distance }
    if !converged.isEmpty {
        report.paragraph("""
            Why do the converged samplers not reach the floor? At 50 steps the deterministic samplers sit at \
            \(format(converged.min()!, digits: 4))–\(format(converged.max()!, digits: 4)). Carrying this run's \(sampleCount) \
            starting normals along the *exact* ODE (to sigma_min, then D) gives \(format(odeDistance, digits: 4)): that is where \
            a converged deterministic sampler must end, and it lies inside the spread of perfect samples (z = \
            \(format((odeDistance - floorMean) / floorSpread, digits: 1)) against the floor's mean and standard deviation). The plateau is this one draw of \(sampleCount) normals, transported \
            exactly — the ODE maps N(0, sigma_max² I) to the data distribution, so a different seed gives another draw from the \
            same spread — not an error of the samplers.
            """)
    }
    report.paragraph("At few steps, in numbers (perfect samples: sliced W1 \(format(floorMean, digits: 3)), off-mode ≈ 1 %, spread 1, weight error ≈ 0):")
    var fewStepRows: [[String]] = []
    for steps in [5, 10] {
        for name in names {
            guard let p = point(name, steps) else { continue }
            fewStepRows.append([String(steps), "`\(name.rawValue)`", String(p.evaluations), format(p.distance, digits: 3),
                                percent(p.modes.offModeFraction), format(p.modes.spreadRatio, digits: 2), format(p.modes.weightError, digits: 3)])
        }
    }
    report.table(headers: ["steps", "sampler", "NFE", "sliced W1", "off-mode", "spread", "weight error"], rows: fewStepRows,
                 alignments: [.left, .left, .right, .right, .right, .right, .right])
    try fewSteps(report, options: options, mixture: mixture, schedule: schedule, compared: compared, normals: distributionNormals,
                 point: point, outDirectory: outDirectory)

    try images(report, options: options)
    report.heading("Recap")
    report.paragraph("""
        - Deterministic samplers are ODE solvers for dx/dsigma = (x − D(x, sigma))/sigma; they differ in how many evaluations \
        they spend per step and how they combine them, and their error falls as NFE^(−order) — measured above against an \
        exact solution.
        - Euler, DDIM and DPM-Solver++(1) are the same step, x' = (sigma'/sigma)·x + (1 − sigma'/sigma)·D; DPM++ 2M improves \
        D by extrapolation at no extra cost; Heun and DPM-2 pay two evaluations per step.
        - Ancestral and SDE samplers add noise: they do not converge to the ODE solution but to the right distribution. With \
        an exact denoiser, one-evaluation ancestral steps are no cure for a few large steps.
        - A fair comparison fixes the budget of model evaluations, not the number of steps; and a distance to the data has a \
        floor set by the number of samples, to be measured over several draws.
        """)
    report.heading("Exercise")
    report.paragraph("""
        Run `swift run -c release lesson-06-samplers --schedule exponential` and then `--schedule linear`: which samplers lose \
        their order on the linear schedule, and why does spending steps at large sigma hurt? Make the modes overlap (a `--gmm` \
        file with stds of 0.6) and see how the ranking at 5 steps changes. For the curious: the SDE samplers use one Brownian \
        path for all step counts; measure their strong error against a 4096-step run on the same path and estimate their order.
        """)
    report.paragraph("""
        Data: the CSV files behind every figure are in `\(options.output.outPath(slug: "06-samplers"))`: `trajectories.csv` \
        (sampler, sample, step, sigma, x, y, denoised_x, denoised_y), `exact_trajectories.csv`, `convergence.csv`, \
        `convergence_fit.csv`, `distribution.csv`, `samples.csv` and `mixture.json`. This run took \
        \(format(Date().timeIntervalSince(started), digits: 0)) s on two cores (load average \(load) at the start, \
        \(Timing.loadAverage()) at the end\(Timing.busyNote(load: load))).
        """)
    try appendix(report, names: names, run: run, exact: exact, mixture: mixture, schedule: schedule, steps: options.steps,
                 lateStates: lateStates)
    try report.write()
}

Lesson06.main()
