// lesson-09-few-step-sampling, sections 3-5: images. Precision against recall per sampler and step
// count (pr-sweep-{pixel,latent}.csv), classifier-free guidance (guidance-sweep-latent.csv) and
// the learning curves of the longer training runs (learning-curve.csv). Sections 4 and 5 say which
// file is missing, and the command that makes it, when it is not there. Called from `Lesson.run()`.

import Diffusion
import Foundation
import LessonKit
import Tensor

extension Lesson {
    // MARK: 3. Quality against diversity

    func precisionAndRecall() throws {
        report.heading("3. Quality against diversity on images: precision and recall")
        let files = [("pixel model", "pr-sweep-pixel"), ("latent model", "pr-sweep-latent")]
        var counts: [String] = [], maxSeeds = 0
        for (_, stem) in files {
            let name = stem + ".csv"
            let table = try data.table(name, madeBy: "diffuse fid-sweep (see \(data.display(stem + ".command.txt")))")
            let sweep = try data.groups(table, name, by: ["sampler", "steps", "count"], values: ["fid"])
            for count in sweep.distinct("count") where !counts.contains(count) { counts.append(count) }
            maxSeeds = max(maxSeeds, sweep.groups.map { $0["fid"].count }.max() ?? 0)
        }
        report.paragraph("""
            FID mixes two things the question separates: whether samples look like real ones (quality) and \
            whether they cover the real variety (diversity). Improved precision and recall (Kynkäänniemi et al. \
            2019) measure them apart, in the same classifier feature space as the FID: precision is the fraction \
            of generated images that fall inside the real images' k-nearest-neighbour manifold (k = 3), recall \
            the fraction of real images inside the generated images' manifold. The sweeps drew \(counts.joined(separator: " or ")) \
            images per point from the project's pixel and latent Fashion-MNIST models, with up to \(maxSeeds) seeds \
            per point (the tables' seeds column); they were made by:
            """)
        report.code(files.compactMap { data.command($0.1) }.joined(separator: "\n"), language: "sh")
        var plots: [Plot] = []
        var summary: [[String]] = []
        var allPrecisionUp = true, totalRecallDown = 0, totalCompared = 0
        for (family, stem) in files {
            let name = stem + ".csv"
            let table = try data.table(name, madeBy: "diffuse fid-sweep (see \(data.display(stem + ".command.txt")))")
            let sweep = try data.groups(table, name, by: ["sampler", "steps"], values: ["fid", "precision", "recall"])
            let points = sweep.groups.filter { $0.key["sampler"] != "real-train" }
            let floor = sweep.group(["sampler": "real-train"])
            var plot = Plot(title: "\(family): precision against recall", xLabel: "recall (diversity)", yLabel: "precision (quality)",
                            xRange: 0...1, yRange: 0...1.05, legend: .bottomLeft)
            let samplers = points.map { $0.key["sampler"]! }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            for sampler in samplers {
                let style = SamplerStyle.of(sampler)
                let line = points.filter { $0.key["sampler"] == sampler }.sorted { Int($0.key["steps"]!)! < Int($1.key["steps"]!)! }
                plot.series.append(Series(x: line.map { $0["recall"].mean }, y: line.map { $0["precision"].mean }, style: .linePoints,
                                          title: sampler, color: style.color, lineWidth: 2, pointStyle: .circle, pointSize: 1.2))
                for point in line {
                    let (p, r) = (point["precision"], point["recall"])
                    if p.count > 1 {
                        plot.line(x: [r.mean, r.mean], y: [p.mean - p.standardDeviation, p.mean + p.standardDeviation], color: style.color, lineWidth: 1.5)
                        plot.line(x: [r.mean - r.standardDeviation, r.mean + r.standardDeviation], y: [p.mean, p.mean], color: style.color, lineWidth: 1.5)
                    }
                    plot.labels.append(PlotLabel(point.key["steps"]!, x: r.mean + 0.012, y: p.mean + 0.018, color: style.color))
                }
            }
            if let floor {
                plot.scatter(x: [floor["recall"].mean], y: [floor["precision"].mean], title: "real training images", color: "#000000",
                             pointStyle: .diamond, pointSize: 2)
            }
            plots.append(plot)

            var rows: [[String]] = []
            for group in points.sorted(by: { (Int($0.key["steps"]!)!, $0.key["sampler"]!) < (Int($1.key["steps"]!)!, $1.key["sampler"]!) }) {
                rows.append([group.key["sampler"]!, group.key["steps"]!, String(group["fid"].count), group["fid"].text(digits: 1),
                             group["precision"].text(), group["recall"].text()])
            }
            if let floor {
                rows.append(["real training images", "–", String(floor["fid"].count), floor["fid"].text(digits: 1), floor["precision"].text(), floor["recall"].text()])
            }
            report.paragraph("**\(family)** (`\(data.display(name))`), mean ± standard deviation over the seeds:")
            report.table(headers: ["sampler", "steps", "seeds", "FID", "precision", "recall"], rows: rows,
                         alignments: [.left, .right, .right, .right, .right, .right])

            // Does the ancestral step trade recall for precision? Compare with euler at each step count.
            var precisionUp = 0, recallDown = 0, compared = 0, clearP = 0, clearR = 0, fidBetter = 0
            var deltas: [String] = []
            for steps in sweep.distinct("steps") {
                guard let a = sweep.group(["sampler": "euler_ancestral", "steps": steps]), let e = sweep.group(["sampler": "euler", "steps": steps]) else { continue }
                compared += 1
                let dp = a["precision"].mean - e["precision"].mean, dr = a["recall"].mean - e["recall"].mean
                if dp > 0 { precisionUp += 1 }
                if dr < 0 { recallDown += 1 }
                if e["precision"].isClearlyBelow(a["precision"]) { clearP += 1 }
                if a["recall"].isClearlyBelow(e["recall"]) { clearR += 1 }
                if a["fid"].mean < e["fid"].mean { fidBetter += 1 }
                deltas.append("\(steps) steps: precision \(dp >= 0 ? "+" : "")\(format(dp, digits: 3)), recall \(dr >= 0 ? "+" : "")\(format(dr, digits: 3))")
            }
            allPrecisionUp = allPrecisionUp && precisionUp == compared
            totalRecallDown += recallDown
            totalCompared += compared
            summary.append([family, "\(precisionUp) of \(compared) (\(clearP) beyond the spread)", "\(recallDown) of \(compared) (\(clearR) beyond the spread)",
                            "\(fidBetter) of \(compared)"])
            report.paragraph("`euler_ancestral` minus `euler`, \(family): \(deltas.joined(separator: "; ")).")
            findings.append(Finding(
                claim: "on images, `euler_ancestral` trades recall for precision against `euler` (\(family))",
                verdict: compared == 0 ? "not measured" : (precisionUp == compared && recallDown == compared ? "holds" : (precisionUp == compared ? "partly" : "does not hold")),
                evidence: "precision higher at \(precisionUp)/\(compared) step counts (\(clearP) beyond the seeds' spread), recall lower at \(recallDown)/\(compared) (\(clearR) beyond)"))
            for steps in ["5", "10"] {
                guard let a = sweep.group(["sampler": "euler_ancestral", "steps": steps]), let e = sweep.group(["sampler": "euler", "steps": steps]) else { continue }
                let rivals = points.filter { $0.key["steps"] == steps && $0.key["sampler"] != "euler_ancestral" }
                let best = rivals.min { $0["fid"].mean < $1["fid"].mean }
                findings.append(Finding(
                    claim: "`euler_ancestral` has a lower FID than `euler` at \(steps) steps (\(family))",
                    verdict: a["fid"].mean < e["fid"].mean ? (a["fid"].isClearlyBelow(e["fid"]) ? "holds" : "holds within the spread") : "does not hold",
                    evidence: "FID \(a["fid"].text(digits: 1)) against \(e["fid"].text(digits: 1))"))
                if let best {
                    findings.append(Finding(
                        claim: "`euler_ancestral` is the best of the swept samplers at \(steps) steps (\(family))",
                        verdict: a["fid"].mean < best["fid"].mean ? "holds" : "does not hold",
                        evidence: "FID \(a["fid"].text(digits: 1)) against \(best["fid"].text(digits: 1)) for `\(best.key["sampler"]!)`"))
                }
            }
        }
        try report.figure(Figure(rows: 1, columns: 2, width: 1500, height: 700, font: "sans,12", plots: plots), name: "precision-recall",
                          caption: "Precision against recall per sampler, each point labelled with its step count (5, 10, 20, 50); bars: ± one standard deviation over the seeds where there are several; the black diamond: real training images against the test set.",
                          showInTerminal: false)
        report.paragraph("Counting the step counts where both samplers were measured:")
        report.table(headers: ["model", "euler_ancestral's precision above euler's", "its recall below euler's", "its FID below euler's"],
                     rows: summary, alignments: [.left, .left, .left, .left])
        report.paragraph((allPrecisionUp
            ? "On every step count measured, in both spaces, the ancestral step buys precision — samples the classifier finds typical of real garments — "
            : "The ancestral step does not buy precision at every step count measured; ")
            + """
            and it lowers recall, the variety covered, at \(totalRecallDown) of the \(totalCompared) step counts. FID weighs \
            both, so `euler_ancestral` can beat `euler` on FID by gaining more precision than it loses recall while a \
            sampler with a better balance wins overall; this is the hypothesis lesson 06 left open, measured.
            """)
    }

    // MARK: 4. Guidance

    func guidance() throws {
        report.heading("4. Guidance")
        try guidanceSweep("guidance-sweep-latent", figure: "guidance", followUp: false)
        if data.exists("guidance-sweep-latent-long.csv") {
            try guidanceSweep("guidance-sweep-latent-long", figure: "guidance-long", followUp: true)
        }
    }

    /// One guidance sweep (`<prefix>.csv`, its command in `<prefix>.command.txt`): the figure, the
    /// table and the findings. `followUp` marks the sweep of the longer-trained model, shown after
    /// the first one.
    func guidanceSweep(_ prefix: String, figure: String, followUp: Bool) throws {
        let name = prefix + ".csv"
        guard data.exists(name) else {
            report.paragraph("""
                **Data missing:** `\(data.display(name))` is not in this checkout, so this section is skipped and \
                no claim about guidance is made. It is the guidance sweep of issue 15 on the class-conditional \
                latent model (guidance scale 1, 2, 4, 7.5 × `euler`, `euler_ancestral`, `dpmpp_2m` × 5, 10, 20 \
                steps; FID, precision, recall and class accuracy), made by `diffuse fid-sweep --guidance 1,2,4,7.5` on \
                that model; its command goes to `\(data.display("guidance-sweep-latent.command.txt"))`. Run the lesson \
                again once the file is there.
                """)
            findings.append(Finding(claim: "guidance keeps `euler_ancestral` ahead of `euler` at few steps", verdict: "not measured",
                                    evidence: "\(data.display(name)) missing"))
            return
        }
        let table = try data.table(name, madeBy: "diffuse fid-sweep with guidance")
        let sweep = try data.groups(table, name, by: ["sampler", "steps", "guidance"], values: ["fid", "precision", "recall", "class_accuracy"]) {
            $0["sampler"] != "real-train" && !($0["guidance"] ?? "").isEmpty
        }
        let floor = try data.groups(table, name, by: ["sampler"], values: ["fid", "precision", "recall"]) { $0["sampler"] == "real-train" }.groups.first
        let scales = sweep.distinct("guidance").compactMap(Double.init).sorted()
        let stepList = sweep.distinct("steps").compactMap(Int.init).sorted()
        let samplers = sweep.distinct("sampler")
        let model = table.header.firstIndex(of: "model").flatMap { column in
            table.rows.map { $0[column] }.first { !$0.isEmpty && $0 != "fashion-mnist-train" }
        } ?? "the class-conditional latent model"
        let tag = " (`\(model)`)"
        func key(_ g: Double) -> String { sweep.distinct("guidance").first { Double($0) == g } ?? String(g) }
        let swept = """
            guidance scales \(scales.map { format(significant: $0) }.joined(separator: ", ")), samplers \
            \(samplers.map { "`\($0)`" }.joined(separator: ", ")) and \(stepList.map(String.init).joined(separator: ", ")) steps \
            (`\(data.display(name))`)
            """
        let floorText = floor.map { "Real training images score FID \($0["fid"].text(digits: 1)) at this count. " } ?? ""
        let madeBy = data.command(prefix) == nil ? "" : "It was made by:"
        if followUp {
            report.paragraph("""
                **After longer training.** The same sweep on `\(model)`, the class-conditional model trained longer with a \
                decaying learning rate (section 5, `docs/training.md`): \(swept). \(floorText)\(madeBy)
                """)
        } else {
            report.paragraph("""
                Stable Diffusion is always sampled with classifier-free guidance (Ho & Salimans 2022): the denoiser \
                becomes D_uncond + g · (D_cond − D_uncond), which pushes every step toward the requested class. The \
                class-conditional latent model was swept over \(swept); class accuracy is the fraction of images the \
                project's classifier assigns to the requested class. \(floorText)\(madeBy)
                """)
        }
        if let command = data.command(prefix) { report.code(command, language: "sh") }
        let metrics = [("fid", "FID"), ("precision", "precision"), ("recall", "recall"), ("class_accuracy", "class accuracy")]
        var plots: [Plot] = []
        let dash: [Int: Int] = Dictionary(uniqueKeysWithValues: stepList.enumerated().map { ($0.element, [3, 2, 1, 4][$0.offset % 4]) })
        let marks: [PointStyle] = [.triangle, .square, .circle, .diamond]
        for (metric, label) in metrics {
            var plot = Plot(title: "\(label) against guidance scale", xLabel: "guidance scale", yLabel: label, logY: metric == "fid", legend: .hidden)
            for sampler in samplers {
                for (index, steps) in stepList.enumerated() {
                    let points = scales.compactMap { g in sweep.group(["sampler": sampler, "steps": String(steps), "guidance": key(g)]).map { (g, $0[metric]) } }
                        .filter { $0.1.count > 0 }
                    guard !points.isEmpty else { continue }
                    plot.series.append(Series(x: points.map(\.0), y: points.map(\.1.mean), style: .linePoints,
                                              title: plots.isEmpty ? "\(sampler), \(steps) steps" : nil, color: SamplerStyle.of(sampler).color,
                                              lineWidth: 2, pointStyle: marks[index % marks.count], pointSize: 1.1, dashType: dash[steps] ?? 1))
                }
            }
            plots.append(plot)
        }
        plots[0].legend = .below
        try report.figure(Figure(rows: 2, columns: 2, width: 1500, height: 1000, font: "sans,12", plots: plots), name: figure,
                          caption: "FID, precision, recall and class accuracy of \(model) against the guidance scale; one colour per sampler, one dash and marker per step count (dotted/triangle the fewest steps, solid/circle the most); mean over the seeds.",
                          showInTerminal: false)
        var rows: [[String]] = []
        for sampler in samplers {
            for steps in stepList {
                let cells = scales.map { g -> String in
                    guard let group = sweep.group(["sampler": sampler, "steps": String(steps), "guidance": key(g)]) else { return "–" }
                    return "\(group["fid"].text(digits: 1)) / \(group["class_accuracy"].count > 0 ? percent(group["class_accuracy"].mean, digits: 0) : "–")"
                }
                rows.append([sampler, String(steps)] + cells)
            }
        }
        report.paragraph("FID / class accuracy at each guidance scale (mean over the seeds):")
        report.table(headers: ["sampler", "steps"] + scales.map { "g = \(format(significant: $0))" }, rows: rows,
                     alignments: [.left, .right] + scales.map { _ in .right })

        guard let low = scales.first, let high = scales.last, low != high else { return }
        func mean(_ metric: String, _ g: Double) -> Double {
            let values = sweep.groups(["guidance": key(g)]).map { $0[metric].mean }.filter(\.isFinite)
            return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
        let (p0, p1, r0, r1, a0, a1) = (mean("precision", low), mean("precision", high), mean("recall", low), mean("recall", high),
                                        mean("class_accuracy", low), mean("class_accuracy", high))
        var wins: [String] = [], comparisons = 0, eaWins = 0
        for steps in stepList where steps <= 10 {
            for g in scales {
                guard let a = sweep.group(["sampler": "euler_ancestral", "steps": String(steps), "guidance": key(g)]),
                      let e = sweep.group(["sampler": "euler", "steps": String(steps), "guidance": key(g)]) else { continue }
                comparisons += 1
                if a["fid"].mean < e["fid"].mean { eaWins += 1 }
                wins.append("g \(format(significant: g)) @\(steps): \(format(a["fid"].mean, digits: 1)) vs \(format(e["fid"].mean, digits: 1))")
            }
        }
        report.paragraph("""
            Averaged over samplers and step counts, going from guidance \(format(significant: low)) to \
            \(format(significant: high)) moves precision from \(format(p0, digits: 3)) to \(format(p1, digits: 3)), \
            recall from \(format(r0, digits: 3)) to \(format(r1, digits: 3)) and class accuracy from \
            \(percent(a0, digits: 0)) to \(percent(a1, digits: 0)). At 10 steps or fewer, `euler_ancestral` has the \
            lower FID than `euler` in \(eaWins) of \(comparisons) (guidance, steps) pairs \
            (\(wins.joined(separator: "; "))).
            """)
        findings.append(Finding(claim: "guidance raises precision and lowers recall (mean over samplers and steps, g = \(format(significant: low)) → \(format(significant: high)))\(tag)",
                                verdict: p1 > p0 && r1 < r0 ? "holds" : "does not hold",
                                evidence: "precision \(format(p0, digits: 3)) → \(format(p1, digits: 3)), recall \(format(r0, digits: 3)) → \(format(r1, digits: 3))"))
        findings.append(Finding(claim: "with guidance, `euler_ancestral` keeps a lower FID than `euler` at 10 steps or fewer\(tag)",
                                verdict: comparisons == 0 ? "not measured" : (eaWins == comparisons ? "holds" : (eaWins == 0 ? "does not hold" : "partly")),
                                evidence: "lower FID in \(eaWins) of \(comparisons) (guidance, steps) pairs"))
    }

    // MARK: 5. Training longer

    func trainingCurve() throws {
        report.heading("5. Training longer")
        let name = "learning-curve.csv"
        guard data.exists(name) else {
            report.paragraph("""
                **Data missing:** `\(data.display(name))` is not in this checkout, so this section is skipped and \
                no claim about better-trained models is made. It is the learning curve of the long training runs \
                of the pixel and latent models (FID, precision, recall and loss against images seen; see \
                `docs/training.md` for the training commands), and its command goes to \
                `\(data.display("learning-curve.command.txt"))`. Run the lesson again once the file is there.
                """)
            findings.append(Finding(claim: "better-trained models shrink `euler_ancestral`'s advantage", verdict: "not measured",
                                    evidence: "\(data.display(name)) missing"))
            return
        }
        let table = try data.table(name, madeBy: "the learning-curve command in docs/training.md")
        let curve = try data.groups(table, name, by: ["model", "sampler", "steps", "images_seen"], values: ["fid", "precision", "recall", "loss"])
        let models = curve.distinct("model")
        report.paragraph("""
            The shipped models are small and were trained for about an hour; conclusions about samplers drawn from \
            undertrained models may be conclusions about the undertraining. The models were trained longer, and \
            their checkpoints measured along the way (`\(data.display(name))`). A model name ending in `-decay` is \
            the run of the same name ending in `-long` (or, for `ldm-fmnist-cond-decay`, `ldm-fmnist-cond`) continued \
            from its checkpoint with a cosine decay of the learning rate to 0 (`docs/training.md`, "A decaying \
            learning rate"); their last checkpoints ship as the `-long` models\(data.command("learning-curve") == nil ? "." : ". The points were made by:")
            """)
        if let command = data.command("learning-curve") { report.code(command, language: "sh") }
        let dashes = [1, 2, 4, 3, 5, 6, 7]
        let marks: [PointStyle] = [.circle, .square, .triangle, .diamond, .openCircle, .openSquare, .openTriangle]
        var fidPlot = Plot(title: "FID against images seen", xLabel: "training images seen", yLabel: "FID (classifier features)",
                           logX: true, logY: true, legend: .outside)
        var lossPlot = Plot(title: "training loss against images seen", xLabel: "training images seen", yLabel: "loss", logX: true, logY: true,
                            legend: .outside)
        var rows: [[String]] = []
        for (index, model) in models.enumerated() {
            let configurations = curve.groups(["model": model]).map { "\($0.key["sampler"]!)|\($0.key["steps"]!)" }
                .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            for configuration in configurations {
                let parts = configuration.split(separator: "|").map(String.init)
                let points = curve.groups(["model": model, "sampler": parts[0], "steps": parts[1]])
                    .compactMap { g in Double(g.key["images_seen"]!).map { ($0, g) } }.sorted { $0.0 < $1.0 }
                    .filter { $0.1["fid"].count > 0 }
                guard let first = points.first, let last = points.last else { continue }
                fidPlot.series.append(Series(x: points.map(\.0), y: points.map { $0.1["fid"].mean }, style: .linePoints,
                                             title: "\(model), \(parts[0]) \(parts[1]) steps", color: SamplerStyle.of(parts[0]).color,
                                             lineWidth: 2, pointStyle: marks[index % marks.count], pointSize: 1.3,
                                             dashType: dashes[index % dashes.count]))
                rows.append([model, "\(parts[0]) @\(parts[1])", format(first.0, digits: 0), first.1["fid"].text(digits: 1),
                             format(last.0, digits: 0), last.1["fid"].text(digits: 1), last.1["precision"].text(), last.1["recall"].text()])
            }
            var losses: [(Double, Double)] = []
            for group in curve.groups(["model": model]) {
                if let x = Double(group.key["images_seen"]!), group["loss"].count > 0, !losses.contains(where: { $0.0 == x }) { losses.append((x, group["loss"].mean)) }
            }
            losses.sort { $0.0 < $1.0 }
            lossPlot.series.append(Series(x: losses.map(\.0), y: losses.map(\.1), style: .linePoints, title: model,
                                          color: Color.cycle[index % Color.cycle.count], lineWidth: 2, pointStyle: .circle, pointSize: 0.8))
        }
        try report.figure(Figure(rows: 2, columns: 1, width: 1400, height: 1100, font: "sans,12", plots: [fidPlot, lossPlot]), name: "learning-curve",
                          caption: "Top: FID against training images seen, one colour per sampler (the same as everywhere), one marker and dash pattern per model run. Bottom: the training loss.",
                          showInTerminal: false)
        report.table(headers: ["model", "sampler @steps", "first checkpoint (images)", "FID", "last checkpoint (images)", "FID", "precision", "recall"],
                     rows: rows, alignments: [.left, .left, .right, .right, .right, .right, .right, .right])

        // The issue's target and the gap between ancestral and deterministic sampling at the last checkpoint.
        for model in models {
            let finals = Dictionary(grouping: curve.groups(["model": model]), by: { "\($0.key["sampler"]!)|\($0.key["steps"]!)" })
                .compactMapValues { groups in groups.filter { $0["fid"].count > 0 }.max { (Double($0.key["images_seen"]!) ?? 0) < (Double($1.key["images_seen"]!) ?? 0) } }
            let deterministic50 = finals.filter { $0.key.hasSuffix("|50") && !(SamplerName(rawValue: String($0.key.split(separator: "|")[0]))?.isStochastic ?? true) }
            if let best = deterministic50.min(by: { $0.value["fid"].mean < $1.value["fid"].mean }) {
                findings.append(Finding(claim: "after longer training, FID ≤ 20 at 50 deterministic steps (\(model))",
                                        verdict: best.value["fid"].mean <= 20 ? "holds" : "does not hold",
                                        evidence: "FID \(best.value["fid"].text(digits: 1)) (`\(best.key.split(separator: "|")[0])`) after \(best.value.key["images_seen"]!) images"))
            }
            // euler_ancestral's FID advantage over euler at the same steps, first and last checkpoint.
            for steps in curve.groups(["model": model, "sampler": "euler_ancestral"]).map({ $0.key["steps"]! }).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
                func byImages(_ sampler: String) -> [(Double, Spread)] {
                    curve.groups(["model": model, "sampler": sampler, "steps": steps]).compactMap { g in Double(g.key["images_seen"]!).map { ($0, g["fid"]) } }
                        .filter { $0.1.count > 0 }.sorted { $0.0 < $1.0 }
                }
                let a = byImages("euler_ancestral"), e = byImages("euler")
                let shared = a.map(\.0).filter { x in e.contains { $0.0 == x } }
                guard let first = shared.first, let last = shared.last, first != last else { continue }
                func gap(_ x: Double) -> Double { e.first(where: { $0.0 == x })!.1.mean - a.first(where: { $0.0 == x })!.1.mean }
                findings.append(Finding(claim: "longer training shrinks `euler_ancestral`'s FID advantage over `euler` at \(steps) steps (\(model))",
                                        verdict: abs(gap(last)) < abs(gap(first)) ? "holds" : "does not hold",
                                        evidence: "FID(euler) − FID(euler_ancestral): \(format(gap(first), digits: 1)) after \(format(first, digits: 0)) images, \(format(gap(last), digits: 1)) after \(format(last, digits: 0))"))
            }
            let ancestral50 = finals["euler_ancestral|50"]
            let deterministic20 = finals.filter { $0.key.hasSuffix("|20") && !(SamplerName(rawValue: String($0.key.split(separator: "|")[0]))?.isStochastic ?? true) }
                .min { $0.value["fid"].mean < $1.value["fid"].mean }
            if let a = ancestral50, let d = deterministic20 {
                let ratio = d.value["fid"].mean / a["fid"].mean
                findings.append(Finding(claim: "after longer training, 20 deterministic steps are within 1.5× the FID of 50 `euler_ancestral` steps (\(model))",
                                        verdict: ratio <= 1.5 ? "holds" : "does not hold",
                                        evidence: "FID \(d.value["fid"].text(digits: 1)) (`\(d.key.split(separator: "|")[0])` @20) against \(a["fid"].text(digits: 1)): \(format(ratio, digits: 2))×"))
            }
        }
    }
}
