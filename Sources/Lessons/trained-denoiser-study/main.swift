// The trained-denoiser study of issue 15, part 1: on lesson 06's 2-D Gaussian mixture, the exact
// denoiser and MLP denoisers trained for growing budgets (EDM preconditioning and loss), each
// used by every sampler at a few step counts and several seeds; plus euler_ancestral's ancestral
// amount (eta, s_noise) at 5 and 10 steps. Every run is measured against the exact mixture:
// sliced W1, off-mode fraction, spread ratio, weight error (`ModeStatistics`).
//
// Writes, with `--output PREFIX` (default docs/data/trained-denoiser):
//   PREFIX-models.csv    one row per denoiser: training steps, seconds, final loss, excess loss
//   PREFIX-samplers.csv  one row per denoiser × sampler × steps × seed
//   PREFIX-eta.csv       one row per denoiser × eta × s_noise × steps × seed
//   PREFIX-summary.csv   mean and sample standard deviation over the seeds of both sweeps
//   PREFIX.command.txt   the command line (appended on every run)
// Runs in about a minute on two cores with the defaults: `swift run -c release trained-denoiser-study`.
import ArgumentParser
import Diffusion
import DiffusionStudies
import Foundation
import LessonKit
import Tensor

struct TrainedDenoiserStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trained-denoiser-study",
        abstract: "Samplers with the exact and with trained MLP denoisers on lesson 06's Gaussian mixture, measured against the exact mixture.")

    @Option(help: ArgumentHelp("Training budgets in optimizer steps (one MLP per budget).", valueName: "n,n,..."))
    var budgets = "30,100,300,1000,3000,10000"
    @Option(help: "Hidden width of the MLPs.")
    var width = 64
    @Option(help: "Hidden layers of the MLPs.")
    var hiddenLayers = 3
    @Option(help: "Training batch size.")
    var batchSize = 256
    @Option(help: "Peak learning rate (Adam, decayed linearly to 0 over each budget).")
    var lr: Float = 2e-3
    @Option(help: "Seed of the MLPs' initialization and training data.")
    var trainSeed: UInt64 = 0
    @Option(help: ArgumentHelp("Samplers (registry names).", valueName: "a,b,..."))
    var samplers = "euler,euler_ancestral,heun,dpmpp_2m,dpmpp_2m_sde,dpmpp_2s_ancestral,ddim"
    @Option(help: ArgumentHelp("Step counts of the sampler sweep.", valueName: "n,n,..."))
    var steps = "3,5,10,20"
    @Option(help: ArgumentHelp("Sampling seeds (starting points and sampler noise).", valueName: "s,s,..."))
    var seeds = "0,1,2,3,4"
    @Option(help: "Samples per run.")
    var count = 2000
    @Option(help: ArgumentHelp("euler_ancestral eta values of the eta sweep.", valueName: "x,x,..."))
    var eta = "0,0.25,0.5,0.75,1"
    @Option(help: ArgumentHelp("euler_ancestral s_noise values of the eta sweep.", valueName: "x,x,..."))
    var sNoise = "0.9,1,1.1"
    @Option(help: ArgumentHelp("Step counts of the eta sweep.", valueName: "n,n,..."))
    var etaSteps = "5,10"
    @Option(help: "Sigma schedule (lesson 06's karras from 80 to 0.002).")
    var schedule = "karras"
    @Option(help: "Output prefix of the CSV files.")
    var output = "docs/data/trained-denoiser"

    func run() throws {
        try study()
    }

    func list<T: LosslessStringConvertible>(_ text: String, _ option: String) throws -> [T] {
        let values = text.split(separator: ",").map { T(String($0).trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(option) \"\(text)\": expected a comma-separated list") }
        return values.map { $0! }
    }

    func study() throws {
        let mixture = TrainedDenoiserStudy.mixture
        let budgetList: [Int] = try list(budgets, "budgets")
        let stepList: [Int] = try list(steps, "steps"), etaStepList: [Int] = try list(etaSteps, "eta-steps")
        let seedList: [UInt64] = try list(seeds, "seeds")
        let etaList: [Double] = try list(eta, "eta"), sNoiseList: [Double] = try list(sNoise, "s-noise")
        let samplerList = try samplers.split(separator: ",").map { try SamplerRegistry.resolve(String($0)) }
        let sigmaSchedule = SamplingSchedule(kind: try SigmaSchedule(named: schedule), sigmaMin: 0.002, sigmaMax: 80)
        let prefix = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: prefix.deletingLastPathComponent(), withIntermediateDirectories: true)
        let command = (["trained-denoiser-study"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        try appendLine(command, to: URL(fileURLWithPath: output + ".command.txt"))

        let metrics = ["sliced_w1", "off_mode", "spread_ratio", "weight_error"]
        var runs = CSVTable(header: ["denoiser", "training_steps", "excess_loss", "sampler", "steps", "nfe", "seed"] + metrics)
        var etaRuns = CSVTable(header: ["denoiser", "training_steps", "excess_loss", "eta", "s_noise", "steps", "seed"] + metrics)
        // Summary: key → (fixed cells, per-seed metric vectors).
        var summaryKeys: [String] = []
        var summary: [String: (cells: [String], values: [[Double]])] = [:]
        func record(_ key: [String], _ m: MixtureSampleMeasurement) {
            let id = key.joined(separator: "|")
            if summary[id] == nil { summaryKeys.append(id); summary[id] = (key, []) }
            summary[id]!.values.append([m.distance, m.modes.offModeFraction, m.modes.spreadRatio, m.modes.weightError])
        }
        func normals(_ seed: UInt64) -> Tensor { var g = SeededGenerator(seed: 1000 &+ seed); return g.normalTensor([count, 2]) }

        /// Rewrites every CSV with what has been measured so far.
        func writeResults() throws {
            try runs.write(to: URL(fileURLWithPath: output + "-samplers.csv"))
            try etaRuns.write(to: URL(fileURLWithPath: output + "-eta.csv"))

            var table = CSVTable(header: ["sweep", "denoiser", "training_steps", "excess_loss", "sampler", "eta", "s_noise", "steps", "seeds"]
                                 + metrics.flatMap { [$0 + "_mean", $0 + "_std"] })
            for id in summaryKeys {
                let (cells, values) = summary[id]!
                var row: [CSVCell?] = cells.map { $0 as CSVCell? } + [values.count]
                for j in 0..<metrics.count {
                    let column = values.map { $0[j] }
                    let mean = column.reduce(0, +) / Double(column.count)
                    let variance = column.count > 1 ? column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count - 1) : 0
                    row += [mean, variance.squareRoot()]
                }
                table.append(row)
            }
            try table.write(to: URL(fileURLWithPath: output + "-summary.csv"))
        }

        // The floor: exact samples of the mixture, one draw per seed.
        for seed in seedList {
            var g = SeededGenerator(seed: 2000 &+ seed)
            let samples = mixture.samples(count: count, using: &g).map { SIMD2($0[0], $0[1]) }
            let m = MixtureSampleMeasurement(distance: SlicedWasserstein.distance(samples, to: mixture),
                                             modes: ModeStatistics(samples: samples, mixture: mixture), evaluations: 0)
            runs.append(["exact-samples", 0, 0, "none", 0, 0, "\(seed)", m.distance, m.modes.offModeFraction, m.modes.spreadRatio, m.modes.weightError])
            record(["floor", "exact-samples", "0", "0", "none", "", "", "0"], m)
        }

        // The denoisers: exact, then one MLP per budget, each trained just before its sweeps;
        // every CSV is rewritten after each denoiser, so a stopped run keeps what it measured.
        var models = CSVTable(header: ["denoiser", "training_steps", "width", "hidden_layers", "batch_size", "lr", "seconds",
                                       "final_loss", "excess_loss"])
        for budget in [nil] + budgetList.map(Optional.some) {
            let label: String, trainingSteps: Int, excess: Double, denoiser: any Denoiser
            if let budget {
                let trained = TrainedDenoiserStudy.train(mixture: mixture, steps: budget, width: width, hiddenLayers: hiddenLayers,
                                                         batchSize: batchSize, learningRate: lr, seed: trainSeed)
                (label, trainingSteps, denoiser) = ("mlp-\(budget)", budget, trained.model)
                excess = TrainedDenoiserStudy.excessLoss(of: trained.model, mixture: mixture)
                FileHandle.standardError.write(Data(String(format: "%@: %.1f s, final loss %.4f, excess loss %.5f\n",
                                                           label, trained.seconds, trained.finalLoss, excess).utf8))
                models.append([label, budget, width, hiddenLayers, batchSize, Double(lr), trained.seconds, trained.finalLoss, excess])
                try models.write(to: URL(fileURLWithPath: output + "-models.csv"))
            } else {
                (label, trainingSteps, excess, denoiser) = ("exact", 0, 0, mixture)
            }
            for choice in samplerList {
                for n in stepList {
                    let sigmas = try sigmaSchedule.sigmas(steps: n)
                    for seed in seedList {
                        let m = try TrainedDenoiserStudy.distribution(sampler: choice.sampler, denoiser: denoiser, mixture: mixture,
                                                                      normals: normals(seed), sigmas: sigmas, seed: seed)
                        runs.append([label, trainingSteps, excess, choice.name.rawValue, n, m.evaluations, "\(seed)",
                                     m.distance, m.modes.offModeFraction, m.modes.spreadRatio, m.modes.weightError])
                        record(["sampler", label, String(trainingSteps), String(excess), choice.name.rawValue, "", "", String(n)], m)
                    }
                }
            }
            for n in etaStepList {
                let sigmas = try sigmaSchedule.sigmas(steps: n)
                for e in etaList {
                    for s in sNoiseList {
                        for seed in seedList {
                            let m = try TrainedDenoiserStudy.distribution(sampler: EulerAncestralSampler(eta: e, sNoise: s), denoiser: denoiser,
                                                                          mixture: mixture, normals: normals(seed), sigmas: sigmas, seed: seed)
                            etaRuns.append([label, trainingSteps, excess, e, s, n, "\(seed)",
                                            m.distance, m.modes.offModeFraction, m.modes.spreadRatio, m.modes.weightError])
                            record(["eta", label, String(trainingSteps), String(excess), "euler_ancestral", String(e), String(s), String(n)], m)
                        }
                    }
                }
            }
            FileHandle.standardError.write(Data("\(label): sampler and eta sweeps done\n".utf8))
            try writeResults()
        }
        print("wrote \(output)-models.csv, -samplers.csv, -eta.csv, -summary.csv")

    }

    func appendLine(_ line: String, to url: URL) throws {
        let previous = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        try AtomicFile.write(previous + line + "\n", to: url)
    }
}

TrainedDenoiserStudyCommand.main()
