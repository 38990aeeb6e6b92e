// Contract: `diffuse fid-sweep` — FID of one model for every sampler × step count (default: every
// canonical sampler of the registry that takes a step count × 5, 10, 20, 50 steps), and for a
// class-conditional model × every guidance scale of `--guidance` (default 1), plus once the floor
// (real training images, sampler "real-train"). One CSV row per configuration (columns:
// `FIDSweepTable.header`), the whole file rewritten atomically after EVERY row, so a background
// run can be stopped at any time and started again with the same command: configurations already
// in the CSV (same model, sampler, schedule, steps, guidance, count, seed, batch size and
// classifier fingerprint) are skipped; a CSV from before the guidance columns resumes too. Each
// invocation's command line is appended to `<csv name without .csv>.command.txt` beside the CSV.
// Rows run in order of step count, then guidance scale (all samplers at 5 steps first), and the
// log prints an ETA after each. Besides the FID each row has improved precision and recall (k = 3,
// `FIDContext.precisionRecall`) and, for a class-conditional model (image i asks for class i mod
// 10), the classifier's accuracy on the requested class.

import ArgumentParser
import Diffusion
import Foundation
import Tensor

struct FIDSweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fid-sweep",
        abstract: "FID for every sampler x step count (x guidance scale) of a model, one CSV row each (resumable).",
        discussion: """
            A class-conditional model is sampled with class-balanced labels (image i asks for class \
            i mod 10) at each --guidance scale; its rows add the classifier's accuracy on the \
            requested class (class_accuracy). Unconditional models leave guidance and \
            class_accuracy empty.
            """)

    @Option(help: "A model folder (exported DDPMPipeline or training checkpoint).")
    var model: String
    @Option(help: "Samplers, comma-separated registry names (default: every canonical sampler that takes a step count; dpm_adaptive chooses its own).")
    var samplers: String?
    @Option(help: "Step counts, comma-separated.")
    var steps: String = "5,10,20,50"
    @Option(help: "Classifier-free guidance scales of a class-conditional model, comma-separated (default 1: the plain conditional model; 0: unconditional).")
    var guidance: String?
    @Option(help: "Sigma schedule for every sampler (default: the model's own timesteps).")
    var schedule: SigmaScheduleArgument?
    @Option(parsing: .unconditional, help: "Images per configuration.")
    var count: Int = 500
    @Option(parsing: .unconditional, help: "Seed of every configuration (and of the floor's choice of training images).")
    var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Images generated per batch.")
    var batchSize: Int = 100
    @Option(help: "The CSV file to write (and to resume from).")
    var output: String
    @OptionGroup var reference: FIDDataOptions

    /// The floor row's model and sampler names.
    static let floorModel = "fashion-mnist-train", floorSampler = "real-train"

    func validate() throws {
        if !(2...1_000_000).contains(count) { throw ValidationError("--count must lie in 2...1000000, got \(count)") }
        if !(1...10_000).contains(batchSize) { throw ValidationError("--batch-size must lie in 1...10000 (images sampled at once), got \(batchSize)") }
        let stepCounts = try parseIntegers(steps, option: "--steps")
        if stepCounts.isEmpty || stepCounts.contains(where: { !ConfigurationLimits.samplerSteps.contains($0) }) {
            throw ValidationError("--steps: give step counts in 1...\(ConfigurationLimits.samplerSteps.upperBound), got \(steps)")
        }
        if !output.hasSuffix(".csv") { throw ValidationError("--output must name a .csv file") }
        if let guidance {
            let scales = try Self.parseScales(guidance)
            if scales.isEmpty { throw ValidationError("--guidance: give one or more scales, got \"\(guidance)\"") }
            for scale in scales { try validateGuidanceScale(scale, option: "--guidance") }
        }
    }

    /// Parses a comma-separated list of guidance scales ("1,2,4,7.5").
    static func parseScales(_ text: String) throws -> [Double] {
        try parseCommaList(text, option: "--guidance") { item in
            guard let value = Double(item) else {
                throw ValidationError("--guidance: \"\(text)\" is not a comma-separated list of numbers")
            }
            return value
        }
    }

    func run() throws {
        try reportingErrors {
            let samplerNames = try samplers.map { text in
                try parseCommaList(text, option: "--samplers") { name in
                    // Fail now, not hours later; a sampler that chooses its own steps has no place
                    // in a sweep over step counts.
                    if try SamplerRegistry.resolve(name).name.choosesOwnSteps {
                        throw ValidationError("--samplers: \(name) chooses its own steps, so a sweep over --steps would repeat one run; measure it with `diffuse fid --sampler \(name)`")
                    }
                    return name
                }
            } ?? SamplerName.allCases.filter { !$0.choosesOwnSteps }.map(\.rawValue)
            let stepCounts = try parseIntegers(steps, option: "--steps")
            let outputURL = URL(fileURLWithPath: output)
            let context = try FIDContext(reference)
            let fingerprint = try context.classifierFingerprint()
            var table = try FIDSweepTable.read(at: outputURL)
            try recordCommand(besides: outputURL)

            let generator = try loadImageGenerator(from: URL(fileURLWithPath: model))
            // An unconditional model has one "scale", nil (empty guidance cells); --guidance on it is an error.
            var requested: [Double] = []
            for scale in try guidance.map(Self.parseScales) ?? [1] where !requested.contains(scale) { requested.append(scale) }
            let scales = try requested.map { try guidanceScale(guidance == nil ? nil : $0, for: generator, model: model) }
            let scheduleName = schedule?.rawValue ?? "default"
            func key(model: String, sampler: String, steps: Int, guidance: Double?) -> [String] {
                [model, sampler, scheduleName, "\(steps)", "\(count)", "\(seed)", "\(batchSize)", fingerprint,
                 FIDSweepTable.guidanceCell(guidance)]
            }
            var done = Set(table.rows.map(FIDSweepTable.key(of:)))

            // Every configuration with its cost in model evaluations per image (for the ETA); computing
            // the costs first also rejects a bad sampler or schedule before anything runs.
            var pending: [(sampler: String, steps: Int, guidance: Double?, evaluations: Int)] = []
            for n in stepCounts.sorted() {
                for scale in scales {
                    for name in samplerNames where !done.contains(key(model: model, sampler: name, steps: n, guidance: scale)) {
                        pending.append((name, n, scale, try generator.modelEvaluations(sampler: name, steps: n, schedule: schedule?.rawValue,
                                                                                      guidanceScale: scale)))
                    }
                }
            }

            // The floor: real training images, once per CSV (per count, seed and classifier).
            // Its schedule, batch size and guidance cells are empty: they play no part.
            let floorKey = [Self.floorModel, Self.floorSampler, "", "0", "\(count)", "\(seed)", "", fingerprint, ""]
            if !done.contains(floorKey) {
                let test = try context.testStatistics()     // not part of the row's time
                let clock = ContinuousClock()
                let start = clock.now
                let features = try context.extractor.trainingSubsetFeatures(count: count, seed: seed, folder: context.dataFolder)
                let fid = try frechetDistance(FeatureStatistics(features: features), test)
                let seconds = (clock.now - start) / .seconds(1)
                let pr = try context.precisionRecall(of: features)
                table.append([Self.floorModel, Self.floorSampler, nil, 0, 0, count, "\(seed)", nil, fingerprint, fid, seconds,
                              pr.precision, pr.recall, nil, nil])
                try table.write(to: outputURL)
                done.insert(floorKey)
                log(String(format: "floor (real training images): FID %.3f, precision %.3f, recall %.3f (%.1f s)",
                           fid, pr.precision, pr.recall, seconds))
            }

            let total = samplerNames.count * stepCounts.count * scales.count
            log("\(total - pending.count) of \(total) configurations already in \(output); \(pending.count) to run, "
                + "\(pending.reduce(0) { $0 + $1.evaluations }) model evaluations per image in all, \(count) images each")
            var spentSeconds = 0.0, spentEvaluations = 0
            for (index, configuration) in pending.enumerated() {
                let guidanceLabel = configuration.guidance.map { String(format: " guidance %g", $0) } ?? ""
                let result = try context.evaluate(generator, count: count, sampler: configuration.sampler, steps: configuration.steps,
                                                  schedule: schedule?.rawValue, seed: seed, batchSize: batchSize,
                                                  guidanceScale: configuration.guidance,
                                                  label: "\(configuration.sampler) \(configuration.steps)\(guidanceLabel)")
                table.append([model, configuration.sampler, scheduleName, configuration.steps, result.modelEvaluations, count,
                              "\(seed)", batchSize, fingerprint, result.fid, result.seconds, result.precision, result.recall,
                              FIDSweepTable.guidanceCell(configuration.guidance), result.classAccuracy])
                try table.write(to: outputURL)
                spentSeconds += result.seconds
                spentEvaluations += result.modelEvaluations
                // The cost of a configuration is close to proportional to its model evaluations.
                let remaining = pending[(index + 1)...].reduce(0) { $0 + $1.evaluations }
                let eta = spentSeconds / Double(max(spentEvaluations, 1)) * Double(remaining)
                let accuracy = result.classAccuracy.map { String(format: ", class accuracy %.3f", $0) } ?? ""
                log(String(format: "[%d/%d] %@ %d steps%@ (%d evaluations): FID %.3f, precision %.3f, recall %.3f%@ in %.0f s; ETA %@ for the remaining %d",
                           index + 1, pending.count, configuration.sampler, configuration.steps, guidanceLabel, result.modelEvaluations,
                           result.fid, result.precision, result.recall, accuracy, result.seconds, Self.duration(eta), pending.count - index - 1))
            }
            log("done: \(output)")
        }
    }

    /// Appends this invocation (working directory and arguments) to `<name>.command.txt`.
    func recordCommand(besides csv: URL) throws {
        let url = csv.deletingPathExtension().appendingPathExtension("command.txt")
        let previous = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let arguments = CommandLine.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let line = "# \(ISO8601DateFormatter().string(from: Date())) in \(FileManager.default.currentDirectoryPath)\n\(arguments)\n"
        try AtomicFile.write(previous + line, to: url)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
