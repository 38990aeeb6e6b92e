// Regression tests for every crash, hang and unclear error issue 18 lists (and the fuzz suite
// found): each input now ends in a thrown error naming the field or option, the value and the
// allowed range — or, from the command line, in exit status 1 (64 for usage errors) with that
// message — or runs correctly. Library cases run in process; command-line cases launch the
// built `diffuse` and lesson executables beside the test bundle (helpers in FuzzTests.swift).

import Autograd
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

/// The error message of `body`, or "" when it did not throw.
private func thrownMessage(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return describeFileError(error) }
}

@Suite("Validation regressions (issue 18)")
struct ValidationRegressionTests {
    // MARK: The one validation layer

    @Test("impossible UNet2DModel config numbers are refused, naming the field, the value and the range", arguments: [
        ("norm_num_groups", "0", "norm_num_groups is 0, outside the allowed 1...16384"),
        ("norm_num_groups", "-8", "norm_num_groups is -8, outside the allowed 1...16384"),
        ("attention_head_dim", "0", "attention_head_dim is 0, outside the allowed 1...16384"),
        ("sample_size", "1000000", "sample_size is 1000000, outside the allowed 1...16384"),
        ("layers_per_block", "1000000000", "layers_per_block is 1000000000, outside the allowed 1...256"),
        ("block_out_channels", "[8, 0]", "block_out_channels is 0, outside the allowed 1...16384"),
        ("in_channels", "-1", "in_channels is -1, outside the allowed 1...16384"),
        ("num_class_embeds", "1000000000", "num_class_embeds is 1000000000, outside the allowed 1...1000000"),
        ("norm_eps", "-1", "norm_eps is -1.0; it must be a finite positive number"),
        ("freq_shift", "4", "freq_shift is 4, outside the allowed 0...3"),
        ("dropout", "1.5", "dropout is 1.5, outside the allowed [0, 1)"),
    ])
    func impossibleUNetNumbers(field: String, value: String, expected: String) throws {
        let fields = tinyUNetFields.map { $0.0 == field ? ($0.0, value) : $0 }
        let message = thrownMessage {
            let configuration = try JSONDecoder().decode(UNet2DConfiguration.self, from: jsonText(fields))
            _ = try UNet2D(configuration: configuration, seed: 0)
        }
        #expect(message.hasPrefix("UNet2DModel config: ") && message.contains(expected), "\(field) = \(value): \(message)")
    }

    @Test("group counts must divide the channels and head dimensions the attention widths")
    func divisibility() throws {
        var groups = try JSONDecoder().decode(UNet2DConfiguration.self, from: jsonText(tinyUNetFields))
        groups.normNumGroups = 3
        #expect(thrownMessage { try groups.validate() }.contains("norm_num_groups 3 does not divide the 8 channels of level 0"))
        var heads = try JSONDecoder().decode(UNet2DConfiguration.self, from: jsonText(tinyUNetFields))
        heads.attentionHeadDim = 5
        #expect(thrownMessage { try heads.validate() }.contains("attention_head_dim 5 does not divide the 16 channels of level 1"))
        // Every number in range, but the weights alone (at least 2e13 parameters, 79 TB) exceed any machine's memory.
        let huge = UNet2DConfiguration(blockOutChannels: Array(repeating: 16_384, count: 8), layersPerBlock: 256, attentionLevels: [],
                                       attentionHeadDim: 64, normNumGroups: 32)
        let message = thrownMessage { try huge.validate() }
        #expect(message.hasPrefix("UNet2DModel config: \(huge.minimumParameterCount) Float32 parameters (the least a UNet of these sizes has) would need"), "\(message)")
    }

    @Test("num_train_timesteps -5 and 10^12 are refused before any beta is computed", arguments: [-5, 1, 1_000_000_000_000])
    func impossibleTimesteps(T: Int) throws {
        let message = thrownMessage {
            _ = try DDPMSchedulerConfiguration(trainingTimesteps: T, betaSchedule: .linear, prediction: .epsilon).makeSchedule()
        }
        #expect(message.contains("num_train_timesteps (T) is \(T), outside the allowed 2...1000000"), "\(message)")
        let file = thrownMessage { _ = try DiffusersSchedulerConfiguration(json: jsonText([("num_train_timesteps", "\(T)")])) }
        #expect(file.contains("num_train_timesteps is \(T)"), "\(file)")
    }

    /// Found by the fuzz suite (scale 10, seed 18): T = 1,000,000 linear betas up to 0.02 drive
    /// alphabar below Double's range, and the schedule had infinite sigmas.
    @Test("betas whose alphabar underflows are refused, naming the timestep")
    func underflowingSchedule() throws {
        let message = thrownMessage { _ = try DiscreteNoiseSchedule.linear(trainingSteps: 1_000_000) }
        #expect(message.contains("where sigma is not finite in Double; use fewer training timesteps or smaller betas"), "\(message)")
        let file = thrownMessage {
            _ = try DiffusersSchedulerConfiguration(json: jsonText([("num_train_timesteps", "1000000")])).makeNoiseSchedule()
        }
        #expect(file.contains("where sigma is not finite"), "\(file)")
        #expect(try DiscreteNoiseSchedule.linear(trainingSteps: 4000).sigmas.allSatisfy { $0.isFinite })
    }

    @Test("sigma schedules refuse step counts beyond the cap instead of allocating them")
    func hugeStepCounts() {
        for count in [Int.max, 100_001] {
            #expect(thrownMessage { _ = try SigmaSchedule.karras(count: count, sigmaMin: 0.01, sigmaMax: 80) }.contains("at most 100000 steps"))
            #expect(thrownMessage { _ = try SigmaSchedule.vp(count: count) }.contains("at most 100000 steps"))
        }
    }

    @Test("a request larger than memory says what it would need and what fits")
    func memoryMessages() {
        let message = thrownMessage {
            try ConfigurationLimits.checkMemory(count: 1_000_000_000_000, bytesEach: 4096, what: "images", source: "--count", budget: 16e9)
        }
        #expect(message == "--count: 1000000000000 images would need 4.1 PB; at most 3906250 fit in this machine's 16 GB of memory", "\(message)")
    }

    @Test("an image grid with more columns than images (up to Int.max) is one row")
    func gridColumns() {
        let grid = imageGrid(Tensor(shape: [3, 1, 4, 4], repeating: 1), columns: Int.max, padding: 2)
        #expect(grid.shape == [1, 4 + 4, 3 * 6 + 2])
    }

    // MARK: Mixtures and the ODE solver

    @Test("mixtures of extreme numbers are refused with the allowed ranges", arguments: [
        #"{"weights": [1e308, 1e308], "means": [[-1, 0], [1, 0]], "stds": [0.3, 0.3]}"#,
        #"{"weights": [0.5, 0.5], "means": [[-1, 0], [1, 0]], "stds": [1e-300, 0.3]}"#,
        #"{"weights": [0.5, 0.5], "means": [[-1e308, 0], [1e308, 0]], "stds": [0.3, 0.3]}"#,
    ])
    func extremeMixtures(json: String) {
        let message = thrownMessage { _ = try GaussianMixture(json: Data(json.utf8)) }
        #expect(message.contains("weights must lie in 1e-12...1000000000000.0"), "\(message)")
        let direct = thrownMessage { _ = try GaussianMixture(weights: [1e308, 1], means: [[0], [1]], stds: [1, 1]) }
        #expect(direct.contains("outside"), "\(direct)")
    }

    @Test("the exact ODE solver ends on the widest mixture the ranges allow")
    func solverOnExtremeButValidMixture() throws {
        let mixture = try GaussianMixture(weights: [1e-12, 1e12], means: [[-1e6, 1e6], [1e6, -1e6]], stds: [1e-6, 1e6])
        do {
            let end = try mixture.solveProbabilityFlow(from: [3, -2], sigma: 80, to: 0)
            #expect(end.allSatisfy { $0.isFinite })
        } catch {
            #expect(describeFileError(error).contains("probability-flow ODE solver"), "\(error)")
        }
    }

    // MARK: Files

    @Test("a 10000x10000 PNG is refused from its header when a limit is given")
    func hugePNG() throws {
        var bytes = [UInt8](try PNG.encode(Tensor(shape: [1, 8, 8], repeating: 0.5)))
        for (offset, side) in [(16, UInt32(10_000)), (20, UInt32(10_000))] {
            for k in 0..<4 { bytes[offset + k] = UInt8((side >> (24 - 8 * UInt32(k))) & 0xff) }
        }
        let crc = crc32(Array(bytes[12..<29]))
        for k in 0..<4 { bytes[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xff) }
        let message = thrownMessage { _ = try PNG.decode(Data(bytes), path: "big.png", maxPixels: ImageFolder.maxPixels) }
        #expect(message == "PNG big.png: image of 10000x10000 pixels is larger than the 4194304 pixels accepted here; scale it down first", "\(message)")
    }

    @Test("Foundation's file errors name the path and the system's reason")
    func fileErrors() throws {
        let folder = try temporaryFolder("file-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let message = thrownMessage { _ = try Data(contentsOf: folder) }
        #expect(message.hasPrefix("cannot read \(folder.path): "), "\(message)")
        #expect(!message.contains("NSCocoaErrorDomain") && !message.contains("256"), "\(message)")
        let missing = thrownMessage { _ = try Data(contentsOf: folder.appendingPathComponent("none.json")) }
        #expect(missing == "cannot read \(folder.path)/none.json: No such file or directory", "\(missing)")
    }

    @Test("a model folder whose unet/config.json is a folder: the model loader names the path and the reason")
    func configThatIsAFolder() throws {
        let folder = try temporaryFolder("config-folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("unet/config.json"), withIntermediateDirectories: true)
        do {
            _ = try DDPMModel.load(from: folder)
            Issue.record("a folder in place of unet/config.json was accepted")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("config.json") && message.contains("Is a directory"), "\(message)")
            #expect(!message.contains("NSCocoaErrorDomain"), "\(message)")
        }
    }

    // MARK: diffuse

    @Test("diffuse: the issue's flags and files end in exit 1 or 64 with a message, or run")
    func diffuseCases() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let folder = try temporaryFolder("regressions-cli")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try makeTinyModel(in: folder)
        let images = try makeTrainingImages(in: folder)
        let out = folder.appendingPathComponent("s.png").path
        let train = ["train", "--output", folder.appendingPathComponent("run").path, "--data", "folder:" + images.path,
                     "--steps", "1", "--batch-size", "2", "--channels", "8,16", "--groups", "4", "--head-dim", "8",
                     "--attention-levels", "1", "--timesteps", "50", "--sample-every", "0", "--sample-count", "2", "--sample-steps", "2"]
        let sample = ["sample", "--model", model.path, "--count", "2", "--steps", "2", "-o", out]
        let classifier = packageRoot.appendingPathComponent(FashionFeatureExtractor.defaultWeightsPath).path

        // A model whose config says norm_num_groups 0 or -8, and a scheduler with T = -5.
        func mutatedModel(_ name: String, unet: [(String, String)]? = nil, scheduler: [(String, String)]? = nil) throws -> String {
            let copy = folder.appendingPathComponent(name)
            try FileManager.default.copyItem(at: model, to: copy)
            if let unet { try jsonText(unet).write(to: copy.appendingPathComponent("unet/config.json")) }
            if let scheduler { try jsonText(scheduler).write(to: copy.appendingPathComponent("scheduler/scheduler_config.json")) }
            return copy.path
        }
        let groups0 = try mutatedModel("groups0", unet: tinyUNetFields.map { $0.0 == "norm_num_groups" ? ($0.0, "0") : $0 })
        let groupsNegative = try mutatedModel("groups-8", unet: tinyUNetFields.map { $0.0 == "norm_num_groups" ? ($0.0, "-8") : $0 })
        let negativeT = try mutatedModel("t-5", scheduler: tinySchedulerFields.map { $0.0 == "num_train_timesteps" ? ($0.0, "-5") : $0 })
        // Training data: one 10000x10000 PNG header, and non-square images.
        let big = folder.appendingPathComponent("big"), wide = folder.appendingPathComponent("wide")
        try FileManager.default.createDirectory(at: big, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: wide, withIntermediateDirectories: true)
        var bytes = [UInt8](try PNG.encode(Tensor(shape: [1, 8, 8], repeating: 0.5)))
        for offset in [16, 20] { bytes[offset + 2] = 0x27; bytes[offset + 3] = 0x10 }      // 10000 = 0x2710
        let crc = crc32(Array(bytes[12..<29]))
        for k in 0..<4 { bytes[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xff) }
        try Data(bytes).write(to: big.appendingPathComponent("0.png"))
        for i in 0..<2 { try PNG.write(Tensor(shape: [1, 8, 16], repeating: 0.5), to: wide.appendingPathComponent("\(i).png")) }

        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (train + ["--limit", "0"], 64, "--limit must be at least 1"),
            (train + ["--groups", "0"], 64, "--groups must lie in 1...16384"),
            (train + ["--head-dim", "0"], 64, "--head-dim must lie in 1...16384"),
            (train + ["--timesteps", "100000000000"], 64, "--timesteps must lie in 2...1000000, got 100000000000"),
            (train + ["--steps", "-1"], 64, "--steps must be at least 1, got -1"),
            (train + ["--lr", "nan"], 64, "--lr must be a finite positive number"),
            (train + ["--groups", "3"], 1, "norm_num_groups 3 does not divide the 8 channels"),
            (train + ["--data", "folder:" + big.path], 1, "image of 10000x10000 pixels is larger than"),
            (train + ["--data", "folder:" + wide.path], 1, "8x16 (height x width); the UNet trains on square images"),
            (sample + ["--count", "1000000000000"], 1, "--count: 1000000000000 images"),
            (sample + ["--count", "9223372036854775807"], 1, "would need"),
            (sample + ["--steps", "-1"], 64, "--steps must be at least 1"),
            (sample + ["--columns", "9223372036854775807"], 0, ""),
            (["sample", "--model", groups0, "-o", out], 1, "norm_num_groups is 0, outside the allowed 1...16384"),
            (["export", "--checkpoint", groupsNegative, "-o", folder.appendingPathComponent("e").path], 1, "norm_num_groups is -8"),
            (["sample", "--model", negativeT, "-o", out], 1, "num_train_timesteps (T) is -5"),
            (["sample", "--model", folder.path, "-o", out], 1, "no model at"),
            (["fid", "--model", model.path, "--sampler", "dpm_adaptive", "--steps", "5"], 64, "dpm_adaptive chooses its own steps"),
            (["fid-sweep", "--model", model.path, "--samplers", "euler,dpm_adaptive", "--output", folder.appendingPathComponent("sweep.csv").path],
             1, "dpm_adaptive chooses its own steps"),
            // Guidance: a negative or non-finite scale, guidance on --real images or on an unconditional model.
            (["fid", "--model", model.path, "--guidance", "-1"], 64, "--guidance: the guidance scale must be a finite number in 0.0...1000.0"),
            (["fid", "--model", model.path, "--guidance", "nan"], 64, "got nan"),
            (["fid", "--real", "train", "--guidance", "2"], 64, "--guidance applies to a model's samples"),
            (["fid", "--model", model.path, "--guidance", "2", "--classifier", classifier], 1, "is an unconditional model; guidance needs a class-conditional one"),
            (["fid-sweep", "--model", model.path, "--guidance", "1,inf", "--output", folder.appendingPathComponent("g.csv").path], 64, "got inf"),
            (["fid-sweep", "--model", model.path, "--guidance", "1,x", "--output", folder.appendingPathComponent("g.csv").path], 64,
             "is not a comma-separated list of numbers"),
            (["fid-sweep", "--model", model.path, "--guidance", "2", "--classifier", classifier, "--output", folder.appendingPathComponent("g.csv").path],
             1, "is an unconditional model; guidance needs a class-conditional one"),
        ]
        for (arguments, status, message) in cases {
            let result = try runProcess(diffuse, arguments, timeout: 120)
            let command = "diffuse " + arguments.joined(separator: " ")
            #expect(!result.signalled && !result.timedOut, "\(command): \(result.stderr.suffix(1500))")
            #expect(result.status == status, "\(command) exited \(result.status), expected \(status): \(result.stderr.suffix(1500))")
            #expect(message.isEmpty || result.stderr.contains(message), "\(command): \(result.stderr.suffix(1500))")
            #expect(!result.stderr.contains("Missing value") && !result.stderr.contains("NSCocoaErrorDomain"), "\(command): \(result.stderr)")
        }
    }

    // MARK: Lessons

    @Test("every lesson's --help prints help, exits 0 and writes nothing", arguments: [
        "lesson-01-tensors", "lesson-02-autograd", "lesson-03-training", "lesson-04-ddpm", "lesson-05-ddim",
        "lesson-06-samplers", "lesson-07-latent-diffusion", "lesson-08-stable-diffusion",
    ])
    func lessonHelp(lesson: String) throws {
        guard let executable = builtExecutable(lesson) else {
            Issue.record("\(lesson) was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let pages = packageRoot.appendingPathComponent("docs/lessons")
        let before = try modificationDates(pages)
        let directory = try temporaryFolder("lesson-help")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runProcess(executable, ["--help"], timeout: 60, directory: directory)
        #expect(result.status == 0 && !result.signalled, "\(lesson) --help: \(result.status) \(result.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".stderr-") }
        #expect(left.isEmpty, "\(lesson) --help wrote \(left)")
        #expect(try modificationDates(pages) == before, "\(lesson) --help changed docs/lessons/")
    }

    @Test("lesson flags the issue lists end in exit 64 or 1 with a message", arguments: [
        (["lesson-06-samplers", "--steps", "9223372036854775807"], Int32(64), "--steps must lie in 1...1000"),
        (["lesson-06-samplers", "--steps", "-1"], Int32(64), "got -1"),
        (["lesson-05-ddim", "--frames", "3"], Int32(64), "--frames must lie in 4...32"),
        (["lesson-05-ddim", "--model", "models/ldm-fmnist"], Int32(64), "this lesson needs a pixel DDPM of 1-channel 32x32 images"),
        (["lesson-04-ddpm", "--sample-steps", "-1"], Int32(64), "--sample-steps must lie in 12...1000, got -1"),
        (["lesson-04-ddpm", "--train-steps", "9223372036854775807"], Int32(64), "--train-steps must lie in 1...100000"),
    ])
    func lessonFlags(arguments: [String], status: Int32, message: String) throws {
        guard let executable = builtExecutable(arguments[0]) else {
            Issue.record("\(arguments[0]) was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let out = try temporaryFolder("lesson-flags")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try runProcess(executable, Array(arguments.dropFirst()) + ["--out", out.path], timeout: 120, directory: packageRoot)
        #expect(result.status == status && !result.signalled, "\(arguments): \(result.status) \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("Missing value"), "\(arguments): \(result.stderr)")
    }

    @Test("lesson-06-samplers --gmm with extreme numbers exits 1 naming the field", arguments: [
        #"{"weights": [1e308, 1e308], "means": [[-1, 0], [1, 0]], "stds": [0.3, 0.3]}"#,
        #"{"weights": [0.5, 0.5], "means": [[-1, 0], [1, 0]], "stds": [1e-300, 0.3]}"#,
        #"{"weights": [0.5, 0.5], "means": [[-1e308, 0], [1e308, 0]], "stds": [0.3, 0.3]}"#,
    ])
    func lessonMixtures(json: String) throws {
        guard let executable = builtExecutable("lesson-06-samplers") else {
            Issue.record("lesson-06-samplers was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let directory = try temporaryFolder("lesson-gmm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gmm.json")
        try Data(json.utf8).write(to: file)
        let result = try runProcess(executable, ["--gmm", file.path, "--out", directory.path], timeout: 60, directory: directory)
        #expect(result.status == 1 && !result.signalled, "\(json): \(result.status) \(result.stderr)")
        #expect(result.stderr.contains("gmm.json") && result.stderr.contains("must lie in"), "\(result.stderr)")
    }
}

/// The package root (the folder holding Package.swift above this file).
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url = url.deletingLastPathComponent()
    }
    return url
}()

/// The modification date of every file under `folder`, by relative path.
func modificationDates(_ folder: URL) throws -> [String: Date] {
    var out: [String: Date] = [:]
    guard let enumerator = FileManager.default.enumerator(atPath: folder.path) else { return out }
    while let path = enumerator.nextObject() as? String {
        let attributes = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(path).path)
        out[path] = attributes[.modificationDate] as? Date
    }
    return out
}
