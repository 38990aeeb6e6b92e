// lesson-09-few-step-sampling: why does `euler_ancestral` work in 5-10 steps? Answered by the
// measurements of issue 15, each section from its committed CSV under docs/data/:
//   1. the exact denoiser on lesson 06's mixture (trained-denoiser-samplers.csv, exact rows);
//   2. trained MLP denoisers with growing model error, and the ancestral amount eta
//      (trained-denoiser-{samplers,eta,models}.csv);
//   3. precision against recall on images (pr-sweep-{pixel,latent}.csv)        — Images.swift;
//   4. classifier-free guidance (guidance-sweep-latent.csv)                      — Images.swift;
//   5. training longer (learning-curve.csv)                                      — Images.swift;
//   6. why dpmpp_2m gets worse with more steps: measured live on models/ldm-fmnist and models/ldm-fmnist-long
//      (distance of each sampler's latents to a many-step solution of the same ODE, and FIDs)
//                                                                                — Convergence.swift;
//   7. a closing table of the claims, each with its numbers and verdict.
// Every number in the prose is computed by the run from those files or live; a missing file
// (sections 4 and 5) is said plainly, with the command that makes it, and its section is skipped.
//
// Output (see `--help`): the page `09-few-step-sampling.md` and its figures go to `--out`
// (default `out/lesson-09`); `--docs` writes them to `docs/lessons/` (the committed lesson).

import ArgumentParser
import Diffusion
import Foundation
import LessonKit
import Tensor

struct Lesson09: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lesson-09-few-step-sampling",
        abstract: "Why euler_ancestral works in 5-10 steps: the exact denoiser, model error, precision and recall, guidance, training, and dpmpp_2m's convergence.",
        discussion: """
            Reads the committed studies and sweeps under docs/data/ (each made by the command committed \
            next to it) and measures one thing live on the latent model: how far each sampler's final latents \
            are from a many-step solution of the same ODE, and their FID. Writes the lesson page \
            (09-few-step-sampling.md) and its PNG figures into --out; with --docs into docs/lessons/.
            """)

    @Option(help: ArgumentHelp("Folder of the committed CSV files.", valueName: "dir"))
    var data: String = "docs/data"

    @Option(help: ArgumentHelp("The latent-space model measured live in section 6.", valueName: "folder"))
    var latentModel: String = "models/ldm-fmnist"

    @Option(help: ArgumentHelp("A longer-trained latent model measured the same way after it in section 6 (\"\" skips it).", valueName: "folder"))
    var trainedLatentModel: String = "models/ldm-fmnist-long"

    @Option(help: ArgumentHelp("Deterministic samplers measured live in section 6, comma-separated.", valueName: "a,b"))
    var liveSamplers: String = "euler,dpmpp_2m"

    @Option(help: ArgumentHelp("Step counts measured live in section 6, comma-separated.", valueName: "n,n"))
    var liveSteps: String = "5,10,20,50"

    @Option(help: ArgumentHelp("The sampler of the many-step reference solution.", valueName: "name"))
    var referenceSampler: String = "dpmpp_2m"

    @Option(parsing: .unconditional, help: "Steps of the reference solution (more than every --live-steps).")
    var referenceSteps: Int = 100

    @Option(parsing: .unconditional, help: "Images per live measurement (the sweeps used 250; 0 skips section 6).")
    var liveCount: Int = 100

    @Option(parsing: .unconditional, help: "Seed of the live measurement (the sweeps' seed 0 gives their images).")
    var liveSeed: UInt64 = 0

    /// `--out` and `--docs`, shared by every lesson (LessonKit).
    @OptionGroup var output: LessonOutputOptions

    /// The step counts of `--live-steps`.
    var liveStepList: [Int] { liveSteps.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    /// The samplers of `--live-samplers`.
    var liveSamplerList: [String] { liveSamplers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        let steps = liveSteps.split(separator: ",")
        guard !steps.isEmpty, liveStepList.count == steps.count, liveStepList.allSatisfy({ (1...1000).contains($0) }) else {
            throw ValidationError("--live-steps \"\(liveSteps)\": expected step counts in 1...1000, comma-separated")
        }
        guard (2...1000).contains(referenceSteps), referenceSteps > liveStepList.max()! else {
            throw ValidationError("--reference-steps must exceed every --live-steps and be at most 1000, got \(referenceSteps)")
        }
        guard liveCount == 0 || (4...10_000).contains(liveCount) else {
            throw ValidationError("--live-count must be 0 (skip) or 4...10000 (precision and recall need more than k = 3 images), got \(liveCount)")
        }
        for name in liveSamplerList + [referenceSampler] {
            guard let choice = try? SamplerRegistry.resolve(name) else {
                throw ValidationError("unknown sampler \"\(name)\": use a name of `diffuse samplers`")
            }
            guard !choice.name.isStochastic else {
                throw ValidationError("\(name) is stochastic: section 6 measures convergence to the ODE's solution, which needs deterministic samplers")
            }
        }
        guard !liveSamplerList.isEmpty else { throw ValidationError("--live-samplers is empty") }
    }

    func run() throws { try runLesson { try Lesson(options: self).run() } }
}

final class Lesson {
    let options: Lesson09
    let report: Report
    let data: LessonData
    /// The claims tested along the way, for the closing table.
    var findings: [Finding] = []

    init(options: Lesson09) {
        self.options = options
        self.data = LessonData(path: options.data)
        report = options.output.report(lesson: "lesson-09-few-step-sampling", slug: "09-few-step-sampling",
                                       title: "Lesson 09: why does euler_ancestral work in 5-10 steps?")
    }

    func run() throws {
        let start = Timing.now(), load = Timing.loadAverage()
        report.paragraph("""
            People who sample latent-diffusion models report good images from `euler_ancestral` — the simplest \
            stochastic sampler, one network call per step — in 5 to 10 steps. Lesson 06 found that with an \
            *exact* denoiser it is not a good few-step sampler; lesson 07 found it beating its deterministic twin \
            `euler` at 10 steps on the project's two trained models, but never the best. This lesson tests the \
            explanations one at a time, with several seeds and their spread: what the exact denoiser says, what \
            changes with model error, what "good" means on images (quality or diversity), what guidance and \
            longer training change, and why `dpmpp_2m` gets *worse* with more steps on the latent model. Every \
            number below is read from a CSV committed under `\(data.path)/` (made by the command committed next \
            to it) or measured while the lesson runs; the last section collects the verdicts.
            """)
        try mixtureSections()
        try precisionAndRecall()
        try guidance()
        try trainingCurve()
        try convergence()
        conclude()
        report.paragraph(String(format: "_This run took %.0f s on two cores", Timing.now() - start)
            + " (load average \(load) at the start, \(Timing.loadAverage()) at the end\(Timing.busyNote(load: load)))._")
        try report.write()
    }

    // MARK: 1-2. The mixture: exact and trained denoisers

    func mixtureSections() throws {
        let samplersFile = "trained-denoiser-samplers.csv", etaFile = "trained-denoiser-eta.csv"
        let studyCommand = data.command("trained-denoiser") ?? "swift run -c release trained-denoiser-study"
        let runs = try data.groups(try data.table(samplersFile, madeBy: studyCommand), samplersFile,
                                   by: ["denoiser", "sampler", "steps"],
                                   values: ["excess_loss", "training_steps", "sliced_w1", "off_mode", "spread_ratio", "weight_error"])

        report.heading("1. What the exact denoiser says")
        let floor = runs.group(["denoiser": "exact-samples"])
        report.paragraph("""
            The test bed is lesson 06's two-dimensional mixture of five Gaussians, whose exact denoiser \
            E[x₀ | x_σ] has a closed form. A sampler's output is compared with the mixture itself: the sliced \
            Wasserstein-1 distance (W1, lower is better) and the fraction of samples that land off every mode. \
            Exact samples of the mixture, as many as each run draws, score W1 = \(floor?["sliced_w1"].text() ?? "–") \
            and an off-mode fraction of \(floor?["off_mode"].text() ?? "–") over \(floor?["sliced_w1"].count ?? 0) \
            seeds: that is the floor, the noise of a finite sample. The study (`\(data.display(samplersFile))`) \
            was made by:
            """)
        report.code(studyCommand, language: "sh")
        let samplerNames = runs.groups(["denoiser": "exact"]).map { $0.key["sampler"]! }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        func exact(_ sampler: String, _ steps: Int) -> CSVGroups.Group? {
            runs.group(["denoiser": "exact", "sampler": sampler, "steps": String(steps)])
        }
        let ranked = samplerNames.sorted { (exact($0, 10)?["sliced_w1"].mean ?? .infinity) < (exact($1, 10)?["sliced_w1"].mean ?? .infinity) }
        report.table(headers: ["sampler (exact denoiser)", "W1 @5", "off-mode @5", "W1 @10", "off-mode @10", "W1 @20"],
                     rows: ranked.map { name in
                         [name, exact(name, 5)?["sliced_w1"].text() ?? "–", exact(name, 5)?["off_mode"].text() ?? "–",
                          exact(name, 10)?["sliced_w1"].text() ?? "–", exact(name, 10)?["off_mode"].text() ?? "–",
                          exact(name, 20)?["sliced_w1"].text() ?? "–"]
                     }, alignments: [.left, .right, .right, .right, .right, .right])
        if let e5 = exact("euler", 5), let a5 = exact("euler_ancestral", 5), let e10 = exact("euler", 10), let a10 = exact("euler_ancestral", 10) {
            let worse = a5["sliced_w1"].mean > e5["sliced_w1"].mean && a10["sliced_w1"].mean > e10["sliced_w1"].mean
            let rank5 = samplerNames.sorted { (exact($0, 5)?["sliced_w1"].mean ?? .infinity) < (exact($1, 5)?["sliced_w1"].mean ?? .infinity) }
            report.paragraph("""
                Mean ± standard deviation over \(e5["sliced_w1"].count) seeds, sorted by W1 at 10 steps. With the \
                exact denoiser, `euler_ancestral`'s W1 is \(format(a5["sliced_w1"].mean / e5["sliced_w1"].mean, digits: 2))× \
                `euler`'s at 5 steps (\(a5["sliced_w1"].text()) against \(e5["sliced_w1"].text())) and \
                \(format(a10["sliced_w1"].mean / e10["sliced_w1"].mean, digits: 2))× at 10 steps \
                (\(a10["sliced_w1"].text()) against \(e10["sliced_w1"].text())); it ranks \
                \((rank5.firstIndex(of: "euler_ancestral") ?? 0) + 1) of \(rank5.count) at 5 steps and \
                \((ranked.firstIndex(of: "euler_ancestral") ?? 0) + 1) of \(ranked.count) at 10. Its off-mode fraction \
                at 10 steps is \(a10["off_mode"].text()) against `euler`'s \(e10["off_mode"].text()). \
                \(worse ? "This is lesson 06's result: with a perfect denoiser, the noise an ancestral step injects is error the few remaining steps cannot remove." : "This is not lesson 06's result: here the ancestral step is the better few-step sampler even with a perfect denoiser.")
                """)
            findings.append(Finding(
                claim: "with the exact denoiser, `euler_ancestral` is a better few-step sampler than `euler` (W1 at 5 and 10 steps)",
                verdict: a5["sliced_w1"].mean < e5["sliced_w1"].mean && a10["sliced_w1"].mean < e10["sliced_w1"].mean ? "holds" : "does not hold",
                evidence: "W1 \(a5["sliced_w1"].text()) vs \(e5["sliced_w1"].text()) @5, \(a10["sliced_w1"].text()) vs \(e10["sliced_w1"].text()) @10"))
        }

        try modelError(runs: runs, samplersFile: samplersFile)
        try etaSweep(file: etaFile, command: studyCommand)
    }

    /// Labelled ticks for a logarithmic W1 axis (gnuplot labels only the decades).
    static let w1Ticks = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1].map { Tick($0, format(significant: $0)) }

    /// The denoisers of the study, worst model first: (name, training steps, excess loss).
    func denoisers(_ runs: CSVGroups) -> [(name: String, steps: Int, excess: Double)] {
        var seen: [(String, Int, Double)] = []
        for group in runs.groups where group.key["denoiser"] != "exact-samples" {
            let name = group.key["denoiser"]!
            if !seen.contains(where: { $0.0 == name }) {
                seen.append((name, Int(group["training_steps"].mean), group["excess_loss"].mean))
            }
        }
        return seen.sorted { $0.2 > $1.2 }.map { (name: $0.0, steps: $0.1, excess: $0.2) }
    }

    func modelError(runs: CSVGroups, samplersFile: String) throws {
        report.heading("2. What changes with model error")
        let models = denoisers(runs)
        let trained = models.filter { $0.name != "exact" }
        guard !trained.isEmpty else {
            report.paragraph("`\(data.display(samplersFile))` has no trained denoisers: this section needs the study's MLP rows.")
            return
        }
        report.paragraph("""
            A trained network is not exact. The study trains small MLP denoisers (EDM preconditioning, Karras et \
            al. 2022) on samples of the same mixture for \(trained.map { String($0.steps) }.sorted { Int($0)! < Int($1)! }.joined(separator: ", ")) \
            optimizer steps, so the true distribution is still known exactly while the denoiser has real error. \
            The error is measured as the excess of EDM's weighted denoising loss over the exact denoiser's \
            (0 for the exact one): from \(format(significant: trained.first!.excess)) for the shortest training to \
            \(format(significant: trained.last!.excess)) for the longest. Each denoiser then drives every sampler.
            """)
        let compared = ["euler", "euler_ancestral", "dpmpp_2m"]
        func spread(_ denoiser: String, _ sampler: String, _ steps: Int, _ metric: String) -> Spread {
            runs.group(["denoiser": denoiser, "sampler": sampler, "steps": String(steps)])?[metric] ?? Spread([])
        }
        var plots: [Plot] = []
        for (metric, label) in [("sliced_w1", "sliced W1 to the mixture"), ("off_mode", "off-mode fraction")] {
            for steps in [5, 10] {
                // One legend for the four panels, in the room the top-right panel's y range leaves below the data.
                let isW1 = metric == "sliced_w1"
                let lowest = compared.flatMap { sampler in models.map { spread($0.name, sampler, steps, metric).minimum } }.filter(\.isFinite).min() ?? 0.1
                var plot = Plot(title: "\(label), \(steps) steps", xLabel: "model error (excess EDM loss)", yLabel: label,
                                yRange: isW1 ? (lowest / 2.5)...1 : nil, logX: true, logY: isW1, legend: plots.count == 1 ? .bottomRight : .hidden)
                if isW1 { plot.yTicks = Lesson.w1Ticks }
                for sampler in compared {
                    let style = SamplerStyle.of(sampler)
                    let x = trained.map(\.excess), s = trained.map { spread($0.name, sampler, steps, metric) }
                    plot.series.append(Series(x: x, y: s.map(\.mean), style: .linePoints, title: sampler, color: style.color,
                                              lineWidth: 2, pointStyle: .circle, pointSize: 1))
                    for (xi, si) in zip(x, s) where si.count > 1 {
                        plot.line(x: [xi, xi], y: [si.mean - si.standardDeviation, si.mean + si.standardDeviation], color: style.color, lineWidth: 1.5)
                    }
                    let e = spread("exact", sampler, steps, metric)
                    if e.count > 0, let lo = x.min(), let hi = x.max() {
                        plot.line(x: [lo, hi], y: [e.mean, e.mean], title: "\(sampler), exact denoiser", color: style.color, lineWidth: 1.5, dashType: 2)
                    }
                }
                plots.append(plot)
            }
        }
        try report.figure(Figure(rows: 2, columns: 2, width: 1400, height: 1000, font: "sans,12", plots: plots), name: "model-error",
                          caption: "Sliced W1 (top) and off-mode fraction (bottom) of euler, euler_ancestral and dpmpp_2m at 5 (left) and 10 steps (right) against the trained denoiser's model error; bars: ± one standard deviation over the seeds; dashed: the same sampler with the exact denoiser.",
                          showInTerminal: false)

        var rows: [[String]] = []
        for model in models {
            rows.append([model.name, model.name == "exact" ? "–" : String(model.steps), format(significant: model.excess)]
                        + [5, 10].flatMap { steps in ["euler", "euler_ancestral"].map { spread(model.name, $0, steps, "sliced_w1").text() } }
                        + ["euler", "euler_ancestral"].map { spread(model.name, $0, 10, "off_mode").text() })
        }
        report.table(headers: ["denoiser", "training steps", "model error", "euler W1 @5", "euler_ancestral W1 @5",
                               "euler W1 @10", "euler_ancestral W1 @10", "euler off-mode @10", "euler_ancestral off-mode @10"],
                     rows: rows, alignments: [.left, .right, .right, .right, .right, .right, .right, .right, .right])

        // Where does euler_ancestral overtake euler?
        var sentences: [String] = []
        var anyWin = false
        for steps in [5, 10] {
            let wins = models.filter { spread($0.name, "euler_ancestral", steps, "sliced_w1").mean < spread($0.name, "euler", steps, "sliced_w1").mean }
            let offWins = models.filter { spread($0.name, "euler_ancestral", steps, "off_mode").mean < spread($0.name, "euler", steps, "off_mode").mean }
            let clear = models.filter { spread($0.name, "euler_ancestral", steps, "sliced_w1").isClearlyBelow(spread($0.name, "euler", steps, "sliced_w1")) }
            anyWin = anyWin || !wins.isEmpty
            let ratios = models.map { spread($0.name, "euler_ancestral", steps, "sliced_w1").mean / spread($0.name, "euler", steps, "sliced_w1").mean }
            sentences.append("""
                At \(steps) steps `euler_ancestral` has the lower mean W1 for \(wins.count) of the \(models.count) denoisers\
                \(wins.isEmpty ? "" : " (\(wins.map { "`\($0.name)`" }.joined(separator: ", ")); clearly, beyond the seeds' spread, for \(clear.count))"); \
                its W1 is \(format(ratios.min() ?? .nan, digits: 2)) to \(format(ratios.max() ?? .nan, digits: 2)) times `euler`'s. \
                It has the lower off-mode fraction for \(offWins.count) of them\
                \(offWins.isEmpty ? "" : " (\(offWins.map { "`\($0.name)`" }.joined(separator: ", ")))").
                """)
            findings.append(Finding(
                claim: "with enough model error, `euler_ancestral` overtakes `euler` on the mixture at \(steps) steps (W1)",
                verdict: wins.isEmpty ? "does not hold" : (wins.count == models.count ? "holds" : "partly"),
                evidence: "lower W1 for \(wins.count) of \(models.count) denoisers; W1 ratio euler_ancestral/euler \(format(ratios.min() ?? .nan, digits: 2))–\(format(ratios.max() ?? .nan, digits: 2))"))
        }
        let worst = trained.first!, best = trained.last!
        let d5 = spread(worst.name, "dpmpp_2m", 5, "sliced_w1"), e5 = spread(worst.name, "euler", 5, "sliced_w1")
        let a5 = spread(worst.name, "euler_ancestral", 5, "sliced_w1")
        report.paragraph(sentences.joined(separator: " ") + " " + (anyWin
            ? "So model error can turn the ancestral step into an advantage in distance to the true distribution, for the denoisers named."
            : "So on this test bed model error does not turn the ancestral step into an advantage in distance to the true distribution, for any denoiser measured.")
            + """
             Model error does change the level: the least-trained model (`\(worst.name)`) has `euler` at W1 \(e5.text()) \
            at 5 steps, against \(spread(best.name, "euler", 5, "sliced_w1").text()) for `\(best.name)`; with it, \
            `dpmpp_2m` reaches \(d5.text()) and `euler_ancestral` \(a5.text()).
            """)
    }

    func etaSweep(file: String, command: String) throws {
        let table = try data.table(file, madeBy: command)
        let eta = try data.groups(table, file, by: ["denoiser", "eta", "s_noise", "steps"], values: ["excess_loss", "sliced_w1", "off_mode"])
        let etas = eta.distinct("eta").compactMap(Double.init).sorted()
        let sNoises = eta.distinct("s_noise").compactMap(Double.init).sorted()
        guard !etas.isEmpty, let unit = sNoises.min(by: { abs($0 - 1) < abs($1 - 1) }) else { return }
        func key(_ x: Double) -> String { eta.distinct("eta").first { Double($0) == x } ?? String(x) }
        func sKey(_ x: Double) -> String { eta.distinct("s_noise").first { Double($0) == x } ?? String(x) }
        var models: [(name: String, excess: Double)] = []
        for name in eta.distinct("denoiser") {
            models.append((name, eta.groups(["denoiser": name]).first?["excess_loss"].mean ?? 0))
        }
        models.sort { $0.excess > $1.excess }
        report.paragraph("""
            Between `euler` and `euler_ancestral` lies a family: an ancestral step with `eta` ∈ [0, 1] re-injects \
            a fraction of the noise (`eta` = 0 is `euler`, 1 is `euler_ancestral`), and `s_noise` scales the fresh \
            noise. The study swept `eta` ∈ {\(etas.map { format(significant: $0) }.joined(separator: ", "))} and \
            `s_noise` ∈ {\(sNoises.map { format(significant: $0) }.joined(separator: ", "))} at 5 and 10 steps \
            (`\(data.display(file))`). Which `eta` is best for each denoiser:
            """)
        var rows: [[String]] = []
        var bestEtas: [Int: [Double]] = [:]
        // Pairs where some eta > 0 at any s_noise beats eta = 0, by how much, and how many beyond the spread.
        var noisyWins = 0, clearNoisyWins = 0, pairs = 0, largestGain = 0.0
        for model in models {
            var cells = [model.name, model.name == "exact" ? "0" : format(significant: model.excess)]
            for steps in [5, 10] {
                let atUnit = etas.compactMap { e in eta.group(["denoiser": model.name, "eta": key(e), "s_noise": sKey(unit), "steps": String(steps)]).map { (e, $0["sliced_w1"]) } }
                guard let best = atUnit.min(by: { $0.1.mean < $1.1.mean }) else { cells += ["–", "–"]; continue }
                bestEtas[steps, default: []].append(best.0)
                let zero = atUnit.first { $0.0 == 0 }?.1
                let overall = eta.groups(["denoiser": model.name, "steps": String(steps)]).min { $0["sliced_w1"].mean < $1["sliced_w1"].mean }
                if let overall, let zero, (Double(overall.key["eta"]!) ?? 0) > 0 {
                    noisyWins += 1
                    if overall["sliced_w1"].isClearlyBelow(zero) { clearNoisyWins += 1 }
                    largestGain = max(largestGain, 1 - overall["sliced_w1"].mean / zero.mean)
                }
                pairs += 1
                cells += ["\(format(significant: best.0)): \(best.1.text()) (eta 0: \(zero?.text() ?? "–"))",
                          overall.map { group in
                              (Double(group.key["eta"]!) ?? 0) == 0 ? "eta 0 (euler): \(group["sliced_w1"].text())"
                                  : "eta \(group.key["eta"]!), s_noise \(group.key["s_noise"]!): \(group["sliced_w1"].text())"
                          } ?? "–"]
            }
            rows.append(cells)
        }
        report.table(headers: ["denoiser", "model error", "best eta @5 (s_noise \(format(significant: unit))): W1", "best of all @5",
                               "best eta @10 (s_noise \(format(significant: unit))): W1", "best of all @10"],
                     rows: rows, alignments: [.left, .right, .left, .left, .left, .left])
        var plots: [Plot] = []
        let palette: [Color] = ["#440154", "#443983", "#31688e", "#21918c", "#35b779", "#90d743", "#e3c800", "#000000"]
        for steps in [5, 10] {
            var plot = Plot(title: "euler_ancestral's eta, \(steps) steps (s_noise \(format(significant: unit)))", xLabel: "eta (0 = euler, 1 = euler_ancestral)",
                            yLabel: "sliced W1 to the mixture", logY: true, legend: steps == 10 ? .outside : .hidden)
            plot.yTicks = Lesson.w1Ticks
            for (index, model) in models.enumerated() {
                let points = etas.compactMap { e in eta.group(["denoiser": model.name, "eta": key(e), "s_noise": sKey(unit), "steps": String(steps)]).map { (e, $0["sliced_w1"]) } }
                let color = model.name == "exact" ? Color("#000000") : palette[index % (palette.count - 1)]
                plot.series.append(Series(x: points.map(\.0), y: points.map(\.1.mean), style: .linePoints,
                                          title: model.name == "exact" ? "exact" : "\(model.name) (error \(format(significant: model.excess, 2)))",
                                          color: color, lineWidth: 2, pointStyle: .circle, pointSize: 1, dashType: model.name == "exact" ? 2 : 1))
            }
            plots.append(plot)
        }
        try report.figure(Figure(rows: 1, columns: 2, width: 1500, height: 560, font: "sans,12", plots: plots), name: "eta",
                          caption: "Sliced W1 against the ancestral amount eta (s_noise \(format(significant: unit))), one line per denoiser from the least trained (dark) to the exact one (black, dashed), at 5 (left) and 10 steps (right, with the legend); mean over the seeds.",
                          showInTerminal: false)
        for steps in [5, 10] {
            let list = bestEtas[steps] ?? []
            let full = list.filter { $0 >= 1 }.count, none = list.filter { $0 == 0 }.count
            findings.append(Finding(
                claim: "on the mixture, full ancestral noise (eta = 1) is the best eta at \(steps) steps for some denoiser",
                verdict: full > 0 ? "holds" : "does not hold",
                evidence: "best eta (s_noise \(format(significant: unit))) per denoiser: \(list.map { format(significant: $0) }.joined(separator: ", ")); eta = 0 best for \(none) of \(list.count)"))
        }
        let fullCount = (bestEtas[5] ?? []).filter { $0 >= 1 }.count + (bestEtas[10] ?? []).filter { $0 >= 1 }.count
        report.paragraph("""
            Best `eta` at 5 steps, per denoiser from the worst model to the exact one: \
            \((bestEtas[5] ?? []).map { format(significant: $0) }.joined(separator: ", ")); at 10 steps: \
            \((bestEtas[10] ?? []).map { format(significant: $0) }.joined(separator: ", ")). Full ancestral noise \
            (`eta` = 1) is the best choice for \(fullCount) \
            of these \((bestEtas[5] ?? []).count + (bestEtas[10] ?? []).count) denoiser and step-count pairs. \
            \(fullCount == 0 ? "On a distribution whose truth is known, then, `euler_ancestral`'s few-step reputation is not explained by closeness to the data." : "So full ancestral noise can be the best choice on a distribution whose truth is known.") \
            Allowing `s_noise` too, some `eta` > 0 beats `eta` = 0 for \(noisyWins) of the \(pairs) pairs (the table's "best of all" \
            columns), lowering the mean W1 by at most \
            \(percent(largestGain)), beyond the seeds' spread in \(clearNoisyWins) of them. The next section asks what else \
            "good" can mean.
            """)
    }
}

Lesson09.main()
