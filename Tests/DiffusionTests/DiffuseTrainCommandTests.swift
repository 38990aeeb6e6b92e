// `diffuse train`, `sample` and `export` as a user runs them, on a tiny latent model (16 random
// latents [4, 8, 8], channels 8 and 16): a diverging learning rate stops with exit status 1 and
// a message naming the step and the flags, keeping the last good checkpoint; an incomplete
// checkpoint folder is an error that leaves it untouched; NaN weights are refused by `sample`
// and `export`; and a run killed with SIGKILL again and again, mostly inside checkpoint writes
// (one checkpoint per step), always leaves a checkpoint that loads and, resumed, ends with
// weights byte-identical to an uninterrupted run's. The executable is found beside the test
// bundle (`swift test` builds it).

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs diffuse to the end; returns (status, standard error).
private func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("diffuse train: divergence, incomplete checkpoints, kill -9 and resume", .serialized)
struct DiffuseTrainCommandTests {
    /// A scratch folder with a latents file of 16 seeded latents [4, 8, 8].
    final class Scratch {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("diffuse-train-\(UUID().uuidString)")
        var latents: URL { root.appendingPathComponent("latents.safetensors") }
        init() throws {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            var g = TorchGenerator(seed: 11)
            try LatentDataset(latents: g.randn([16, 4, 8, 8]), labels: Array(repeating: 0, count: 16), scalingFactor: 1)
                .write(to: latents)
        }
        deinit { try? FileManager.default.removeItem(at: root) }

        /// `diffuse train` arguments for the tiny model into `run`.
        func train(_ run: String, steps: Int, extra: [String] = []) -> [String] {
            ["train", "--output", root.appendingPathComponent(run).path, "--data", "latents:" + latents.path,
             "--steps", "\(steps)", "--channels", "8,16", "--attention-levels", "none", "--head-dim", "8", "--groups", "4",
             "--batch-size", "4", "--timesteps", "100", "--checkpoint-every", "1", "--sample-every", "0",
             "--vae", root.appendingPathComponent("no-taesd").path, "--seed", "3"] + extra
        }
        func checkpoint(_ run: String) -> URL { root.appendingPathComponent(run).appendingPathComponent("checkpoint") }
    }

    @Test func aDivergingLearningRateExitsWithTheStepAndKeepsTheLastGoodCheckpoint() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let scratch = try Scratch()
        let result = try run(diffuse, scratch.train("diverge", steps: 30, extra: ["--lr", "1e3", "--warmup", "0"]))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("error: training diverged at step"), "\(result.stderr)")
        #expect(result.stderr.contains("--lr 1000.0 with --warmup 0"), "\(result.stderr)")
        // Whatever checkpoint there is holds finite values and loads (sample would refuse NaN).
        let checkpoint = scratch.checkpoint("diverge")
        if try Checkpoint.location(of: checkpoint) != nil {
            let model = try DDPMModel.load(from: checkpoint)
            let weights = model.unet.stateDictionary()
            let finite = weights.values.allSatisfy { $0.isFinite }
            #expect(finite)
            #expect(result.stderr.contains("The last good checkpoint (step"), "\(result.stderr)")
        }
    }

    @Test func weightsWithoutTrainingStateAreNotOverwritten() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let scratch = try Scratch()
        #expect(try run(diffuse, scratch.train("run", steps: 2)).status == 0)
        let checkpoint = scratch.checkpoint("run")
        try FileManager.default.removeItem(at: checkpoint.appendingPathComponent(Checkpoint.stateFile))
        let weights = try Data(contentsOf: checkpoint.appendingPathComponent(Checkpoint.weightsFile))
        let again = try run(diffuse, scratch.train("run", steps: 4))
        #expect(again.status == 1)
        #expect(again.stderr.contains("no training.json"), "\(again.stderr)")
        #expect(try Data(contentsOf: checkpoint.appendingPathComponent(Checkpoint.weightsFile)) == weights)
    }

    @Test func sampleAndExportRefuseNaNWeights() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let scratch = try Scratch()
        #expect(try run(diffuse, scratch.train("run", steps: 2)).status == 0)
        let url = scratch.checkpoint("run").appendingPathComponent(Checkpoint.weightsFile)
        let stored = try SafetensorsFile(contentsOf: url)
        var tensors: [String: Tensor] = [:]
        for name in stored.names { tensors[name] = try stored.tensor(named: name) }
        tensors["ema.conv_out.bias"] = tensors["ema.conv_out.bias"]!.map { _ in .nan }
        try Safetensors.write(tensors, metadata: stored.metadata, to: url)
        let png = scratch.root.appendingPathComponent("grid.png")
        let sample = try run(diffuse, ["sample", "--model", scratch.checkpoint("run").path, "--count", "4", "--steps", "3",
                                       "-o", png.path])
        #expect(sample.status == 1)
        #expect(sample.stderr.contains("ema.conv_out.bias holds 4 NaN or infinite value(s)"), "\(sample.stderr)")
        #expect(!FileManager.default.fileExists(atPath: png.path))
        let export = try run(diffuse, ["export", "--checkpoint", scratch.checkpoint("run").path,
                                       "-o", scratch.root.appendingPathComponent("exported").path])
        #expect(export.status == 1)
        #expect(export.stderr.contains("NaN or infinite"), "\(export.stderr)")
    }

    @Test func killedDuringCheckpointWritesAndResumedEqualsAnUninterruptedRun() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let scratch = try Scratch()
        let steps = 40
        let clock = ContinuousClock(), start = clock.now
        let straight = try run(diffuse, scratch.train("straight", steps: steps))
        #expect(straight.status == 0, "\(straight.stderr)")
        let duration = (clock.now - start) / .seconds(1)

        // Kill moments drawn from a seeded generator, between 10% and 25% of the uninterrupted
        // run's duration after each start, so that about five kills fit before the last step
        // on a fast or a loaded machine (a run also spends time starting and loading the data).
        var moments = SplitMix64(seed: 18)
        var kills = 0, resumedSteps: [Int] = []
        let checkpoint = scratch.checkpoint("killed")
        for _ in 0..<12 where kills < 5 {
            let process = Process()
            process.executableURL = diffuse
            process.arguments = scratch.train("killed", steps: steps)
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: duration * (0.10 + 0.15 * Double(moments.next() % 1000) / 1000))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
            if process.terminationReason == .exit { break }      // it reached the last step first
            // The checkpoint on disk loads, all of it, and never goes back in time.
            guard try Checkpoint.location(of: checkpoint) != nil else {
                #expect(resumedSteps.isEmpty, "a checkpoint existed and then none did")
                continue
            }
            let configuration = try DDPMTrainer.storedConfiguration(at: checkpoint)
            let trainer = try DDPMTrainer.resume(from: checkpoint, configuration: configuration,
                                                 dataset: configuration.data.load())
            #expect(trainer.step >= (resumedSteps.last ?? 0))
            resumedSteps.append(trainer.step)
        }
        #expect(kills >= 3, "only \(kills) runs were killed before they finished")
        #expect(resumedSteps.count >= 2, "checkpoints seen after kills: \(resumedSteps)")

        let resumed = try run(diffuse, scratch.train("killed", steps: steps))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        if !resumed.stderr.contains("nothing to do") {     // the last save cleans up what kills left
            let left = try FileManager.default.contentsOfDirectory(atPath: checkpoint.deletingLastPathComponent().path)
            #expect(!left.contains { $0.contains(".discarded-") || $0.hasSuffix(".partial") }, "left over: \(left.sorted())")
        }
        let a = try #require(try Checkpoint.location(of: scratch.checkpoint("straight")))
        let b = try #require(try Checkpoint.location(of: checkpoint))
        for file in [Checkpoint.weightsFile, Checkpoint.stateFile] {
            #expect(try Data(contentsOf: a.appendingPathComponent(file)) == Data(contentsOf: b.appendingPathComponent(file)),
                    "\(file) differs after \(kills) kills (checkpoints at steps \(resumedSteps))")
        }
    }
}
