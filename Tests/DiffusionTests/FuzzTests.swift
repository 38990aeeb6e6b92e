// The fuzz suite (issue 18): mutates model configs, scheduler configs, safetensors files, PNGs,
// mixture JSON and command-line values with hostile values — boundary integers, NaN, inf,
// negative, empty, huge, wrong type — and asserts that every attempt ends in a result or a
// thrown error with a message, and every `diffuse` run in exit status 0, 1 or 64 with a message:
// never a signal, never a timeout. A crash of an in-process case stops the test run (that is
// the failure report); a subprocess is watched for signals and for a time limit.
//
// Budget: `SWIFTDIFFUSION_FUZZ_SCALE` multiplies every case count (default 1, the CI budget of
// about a minute on two cores); `SWIFTDIFFUSION_FUZZ_SEED` picks another seeded sequence.
// `tools/fuzz.sh` runs the suite with a large budget. docs/reliability.md records the runs.
// Each failure the fuzzer found is a named case in ValidationRegressionTests.swift.

import Autograd
import Diffusion
import DiffusionStudies
import Foundation
import Tensor
import Testing

/// The budget and seed of the fuzz suite, from the environment.
enum FuzzBudget {
    /// Multiplier of every case count.
    static let scale = max(1, Int(ProcessInfo.processInfo.environment["SWIFTDIFFUSION_FUZZ_SCALE"] ?? "") ?? 1)
    /// The seed of the mutation sequence.
    static let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTDIFFUSION_FUZZ_SEED"] ?? "") ?? 18
    /// How many cases a family gets: `base` times the scale.
    static func cases(_ base: Int) -> Int { base * scale }
}

/// Hostile values as JSON text: boundary and huge integers, special and extreme floats, wrong types.
let hostileJSON: [String] = [
    "0", "-1", "-5", "-8", "1", "2", "3", "7", "1000000", "1000000000", "1000000000000", "2147483648",
    "9223372036854775807", "-9223372036854775808", "18446744073709551616", "0.5", "-0.0", "1e308", "-1e308",
    "1e-300", "1e400", "null", "\"text\"", "\"\"", "[]", "{}", "true", "[0]", "[-1, 8]", "[1000000000]", "[8, 0]",
]

/// Hostile command-line values: boundary integers, NaN, inf, negative, empty, huge, wrong type.
let hostileArguments: [String] = [
    "0", "-1", "-8", "1", "2", "3", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    "1000000000000", "1e308", "nan", "inf", "-inf", "", "abc", "0.5", "-0", "0x10", "1,2", "none",
]

/// A seeded choice helper over SplitMix64.
struct Mutator {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
}

/// A JSON object given as (key, raw JSON text) pairs, so that any text (even invalid numbers) can be written.
func jsonText(_ fields: [(String, String)]) -> Data {
    Data(("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}").utf8)
}

/// `fields` with one to three values replaced by hostile ones (or a key removed).
func mutated(_ fields: [(String, String)], _ m: inout Mutator) -> [(String, String)] {
    var out = fields
    for _ in 0...m.int(3) {
        let i = m.int(out.count)
        if m.int(12) == 0 { out.remove(at: i); if out.isEmpty { break }; continue }
        out[i].1 = m.pick(hostileJSON)
    }
    return out
}

/// The configuration of a small valid UNet (two levels, 8 and 16 channels, attention on level 1).
let tinyUNetFields: [(String, String)] = [
    ("_class_name", "\"UNet2DModel\""), ("sample_size", "8"), ("in_channels", "1"), ("out_channels", "1"),
    ("block_out_channels", "[8, 16]"), ("down_block_types", "[\"DownBlock2D\", \"AttnDownBlock2D\"]"),
    ("up_block_types", "[\"AttnUpBlock2D\", \"UpBlock2D\"]"), ("layers_per_block", "1"), ("attention_head_dim", "8"),
    ("norm_num_groups", "4"), ("norm_eps", "1e-05"), ("num_class_embeds", "null"), ("freq_shift", "0"),
    ("time_embedding_dim", "null"), ("dropout", "0"), ("add_attention", "true"), ("flip_sin_to_cos", "true"),
]

/// A DDPM scheduler configuration with the fields diffusers' schedulers read.
let tinySchedulerFields: [(String, String)] = [
    ("_class_name", "\"DDPMScheduler\""), ("num_train_timesteps", "100"), ("beta_start", "0.0001"), ("beta_end", "0.02"),
    ("beta_schedule", "\"linear\""), ("prediction_type", "\"epsilon\""), ("clip_sample", "true"), ("steps_offset", "0"),
    ("timestep_spacing", "\"leading\""), ("trained_betas", "null"), ("solver_order", "2"), ("clip_sample_range", "1.0"),
]

/// Describes an error as the tools print it; fails the test when the description is empty.
func expectMessage(_ error: any Error, _ context: @autoclosure () -> String) {
    let text = describeFileError(error)
    #expect(!text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "empty error message for \(context())")
}

@Suite("Fuzz: hostile configs, files, mixtures and command-line values")
struct FuzzTests {
    @Test("UNet2DModel config.json: every mutation is refused with a message or builds and runs")
    func unetConfigurations() throws {
        var m = Mutator(seed: FuzzBudget.seed)
        var refused = 0, built = 0
        for _ in 0..<FuzzBudget.cases(300) {
            let data = jsonText(mutated(tinyUNetFields, &m))
            let text = String(decoding: data, as: UTF8.self)
            do {
                let configuration = try JSONDecoder().decode(UNet2DConfiguration.self, from: data)
                try configuration.validate()
                // Accepted: it must build and run (small enough to try; larger ones stop at validate's memory check).
                guard configuration.minimumParameterCount < 5_000_000, configuration.sampleSize <= 64 else { continue }
                let unet = try UNet2D(configuration: configuration, seed: 0)
                let side = configuration.downsamplingFactor * 2
                let labels = configuration.numClassEmbeds.map { _ in [0] }
                let y = withoutGradients { unet.predict(Tensor(shape: [1, configuration.inChannels, side, side], repeating: 0.1), timestep: 10, classLabels: labels) }
                #expect(y.shape == [1, configuration.outChannels, side, side], "\(text)")
                built += 1
            } catch {
                expectMessage(error, text)
                refused += 1
            }
        }
        #expect(refused + built > 0)
        print("fuzz: \(FuzzBudget.cases(300)) UNet configs: \(built) built and ran, \(refused) refused with a message")
    }

    @Test("scheduler_config.json: every mutation is refused with a message or plans every scheduler class")
    func schedulerConfigurations() throws {
        var m = Mutator(seed: FuzzBudget.seed &+ 1)
        let classes = ["DDPMScheduler", "DDIMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler", "PNDMScheduler"]
        var planned = 0, refused = 0
        defer { print("fuzz: \(FuzzBudget.cases(300)) scheduler configs: \(planned) planned, \(refused) refused with a message") }
        for _ in 0..<FuzzBudget.cases(300) {
            let data = jsonText(mutated(tinySchedulerFields, &m))
            let text = String(decoding: data, as: UTF8.self)
            let steps = m.pick([0, 1, 2, 10, 99, 100, 101, 1000, Int.max, -1])
            do {
                let configuration = try DiffusersSchedulerConfiguration(json: data)
                let schedule = try configuration.makeNoiseSchedule()
                #expect(schedule.sigmas.allSatisfy { $0.isFinite }, "\(text)")
                let plan = try DiffusersSchedulerPlan(className: m.pick(classes), configuration: configuration, steps: steps)
                #expect(plan.sigmas.allSatisfy { $0.isFinite && $0 >= 0 }, "\(text), \(steps) steps")
                planned += 1
            } catch {
                expectMessage(error, "\(text), \(steps) steps")
                refused += 1
            }
        }
    }

    @Test("mixture JSON: refused with a message, or the exact ODE solve ends (iteration cap)")
    func mixtures() throws {
        var m = Mutator(seed: FuzzBudget.seed &+ 2)
        let numbers = ["1e308", "-1e308", "1e-300", "0", "-1", "1e6", "1e7", "1e-6", "1e-7", "1e12", "1e13", "1e-12", "nan", "\"x\"", "null", "0.3"]
        var solved = 0, refused = 0
        defer { print("fuzz: \(FuzzBudget.cases(120)) mixtures: \(solved) solved, \(refused) refused with a message") }
        for _ in 0..<FuzzBudget.cases(120) {
            var slots = ["0.5", "0.5", "-1", "0", "1", "0", "0.3", "0.3"]
            for _ in 0...m.int(3) { slots[m.int(slots.count)] = m.pick(numbers) }
            let json = "{\"weights\": [\(slots[0]), \(slots[1])], \"means\": [[\(slots[2]), \(slots[3])], [\(slots[4]), \(slots[5])]], \"stds\": [\(slots[6]), \(slots[7])]}"
            do {
                let mixture = try GaussianMixture(json: Data(json.utf8))
                let end = try mixture.solveProbabilityFlow(from: [3, -2], sigma: 80, to: 0)
                #expect(end.allSatisfy { $0.isFinite }, "\(json)")
                solved += 1
            } catch {
                expectMessage(error, json)
                refused += 1
            }
        }
    }

    @Test("safetensors bytes: flipped, truncated, lengths at the boundaries — refused with a message or read")
    func safetensorsFiles() throws {
        let folder = try temporaryFolder("fuzz-safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let valid = folder.appendingPathComponent("valid.safetensors")
        try Safetensors.write(["a": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), "b": Tensor(shape: [4], repeating: 0.5)],
                              metadata: ["format": "pt"], to: valid)
        let original = try Data(contentsOf: valid)
        let headerLength = Int(original.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var m = Mutator(seed: FuzzBudget.seed &+ 3)
        let file = folder.appendingPathComponent("case.safetensors")
        var read = 0, refused = 0
        defer { print("fuzz: \(FuzzBudget.cases(300)) safetensors files: \(read) read, \(refused) refused with a message") }
        for _ in 0..<FuzzBudget.cases(300) {
            var bytes = [UInt8](original)
            switch m.int(4) {
            case 0:   // flip bytes, mostly in the header
                for _ in 0...m.int(4) { bytes[m.int(min(bytes.count, 8 + headerLength + 8))] ^= UInt8(1 << m.int(8)) }
            case 1:   // truncate
                bytes = Array(bytes.prefix(m.int(bytes.count)))
            case 2:   // header length at the boundaries
                let n = UInt64(truncatingIfNeeded: m.pick([0, 1, 7, 8, headerLength - 1, headerLength + 1, bytes.count - 8,
                                                           bytes.count - 7, bytes.count, bytes.count + 8, Int.max, -1]))
                withUnsafeBytes(of: n.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
            default:  // replace a header number by a hostile one
                var header = Array(bytes[8..<(8 + headerLength)])
                var runs: [Range<Int>] = []          // the runs of ASCII digits
                var i = 0
                while i < header.count {
                    if (48...57).contains(header[i]) {
                        var j = i
                        while j < header.count, (48...57).contains(header[j]) { j += 1 }
                        runs.append(i..<j)
                        i = j
                    } else { i += 1 }
                }
                if !runs.isEmpty {
                    let value = m.pick(["0", "99999999999999999999", "9223372036854775807", "-1", "1e3", "24", "25"])
                    header.replaceSubrange(runs[m.int(runs.count)], with: Array(value.utf8))
                }
                var length = UInt64(header.count).littleEndian
                bytes = withUnsafeBytes(of: &length) { Array($0) } + header + Array(bytes[(8 + headerLength)...])
            }
            try Data(bytes).write(to: file)
            do {
                let opened = try SafetensorsFile(contentsOf: file)
                for name in opened.names { _ = try opened.tensor(named: name) }
                read += 1
            } catch {
                expectMessage(error, "safetensors mutation")
                refused += 1
            }
        }
    }

    @Test("PNG bytes: flipped, truncated, huge header sizes — refused with a message or decoded")
    func pngFiles() throws {
        var generator = SplitMix64(seed: 5)
        let original = [UInt8](try PNG.encode(generator.uniform([1, 8, 8])))
        var m = Mutator(seed: FuzzBudget.seed &+ 4)
        var decoded = 0, refused = 0
        defer { print("fuzz: \(FuzzBudget.cases(300)) PNG files: \(decoded) decoded, \(refused) refused with a message") }
        for _ in 0..<FuzzBudget.cases(300) {
            var bytes = original
            switch m.int(3) {
            case 0: for _ in 0...m.int(4) { bytes[m.int(bytes.count)] ^= UInt8(1 << m.int(8)) }
            case 1: bytes = Array(bytes.prefix(m.int(bytes.count)))
            default:
                // IHDR width and height (bytes 16..<24) with a correct CRC, so libpng reads them.
                let sides: [UInt32] = [0, 1, 10_000, 65_535, 1 << 20, 0x7fff_ffff, 0xffff_ffff]
                for (offset, side) in [(16, m.pick(sides)), (20, m.pick(sides))] {
                    for k in 0..<4 { bytes[offset + k] = UInt8((side >> (24 - 8 * UInt32(k))) & 0xff) }
                }
                let crc = crc32(Array(bytes[12..<29]))
                for k in 0..<4 { bytes[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xff) }
            }
            do {
                let image = try PNG.decode(Data(bytes), maxPixels: 4096 * 4096)
                #expect(image.rank == 3)
                decoded += 1
            } catch {
                expectMessage(error, "PNG mutation")
                refused += 1
            }
        }
    }

    @Test("diffuse sample, export and train with hostile options and mutated model folders: exit 0, 1 or 64 with a message")
    func commandLine() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let folder = try temporaryFolder("fuzz-cli")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try makeTinyModel(in: folder)
        let images = try makeTrainingImages(in: folder)
        var m = Mutator(seed: FuzzBudget.seed &+ 5)
        let sampleOptions = ["--count", "--columns", "--steps", "--seed", "--guidance", "--schedule", "--sampler", "--class"]
        let trainOptions = ["--limit", "--groups", "--head-dim", "--timesteps", "--batch-size", "--lr", "--warmup", "--layers-per-block",
                            "--channels", "--attention-levels", "--dropout", "--ema-decay", "--max-grad-norm", "--checkpoint-every",
                            "--sample-count", "--sample-steps", "--weight-decay", "--seed"]
        var statuses: [String: Int] = [:]
        for index in 0..<FuzzBudget.cases(24) {
            let out = folder.appendingPathComponent("out-\(index).png").path
            var arguments: [String]
            let family = ["sample option", "sample mutated model", "export mutated model", "train option"][index % 4]
            switch index % 4 {
            case 0:   // sample with one hostile option
                let option = m.pick(sampleOptions)
                arguments = ["sample", "--model", model.path, "--count", "2", "--steps", "2", "-o", out]
                arguments += [option, m.pick(hostileArguments)]
            case 1, 2:   // sample or export of a model whose unet or scheduler config is mutated
                let copy = folder.appendingPathComponent("model-\(index)")
                try FileManager.default.copyItem(at: model, to: copy)
                if m.int(2) == 0 {
                    try jsonText(mutated(tinyUNetFields, &m)).write(to: copy.appendingPathComponent("unet/config.json"))
                } else {
                    try jsonText(mutated(tinySchedulerFields, &m)).write(to: copy.appendingPathComponent("scheduler/scheduler_config.json"))
                }
                arguments = index % 4 == 1
                    ? ["sample", "--model", copy.path, "--count", "1", "--steps", "2", "-o", out]
                    : ["export", "--checkpoint", copy.path, "-o", folder.appendingPathComponent("export-\(index)").path]
            default:   // train one step with one hostile option
                let option = m.pick(trainOptions)
                arguments = ["train", "--output", folder.appendingPathComponent("run-\(index)").path, "--data", "folder:" + images.path,
                             "--steps", "1", "--batch-size", "2", "--channels", "8,16", "--groups", "4", "--head-dim", "8",
                             "--attention-levels", "1", "--timesteps", "50", "--sample-every", "0", "--sample-count", "2",
                             "--sample-steps", "2", "--vae", folder.path]
                arguments += [option, m.pick(hostileArguments)]
            }
            let result = try runProcess(diffuse, arguments, timeout: 120)
            let command = "diffuse " + arguments.map { $0.isEmpty ? "''" : $0 }.joined(separator: " ")
            #expect(!result.signalled, "\(command) ended by signal \(result.status): \(result.stderr.suffix(2000))")
            #expect(!result.timedOut, "\(command) did not end within 120 s")
            #expect([0, 1, 64].contains(result.status), "\(command) exited \(result.status): \(result.stderr.suffix(2000))")
            if result.status != 0 {
                #expect(!result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(command): no message")
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("NSCocoaErrorDomain"),
                        "\(command): \(result.stderr.suffix(2000))")
            }
            statuses["\(family): exit \(result.status)", default: 0] += 1
        }
        print("fuzz: \(FuzzBudget.cases(24)) diffuse runs: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
    }
}

// MARK: - Helpers shared with ValidationRegressionTests

/// A fresh folder under the temporary directory.
func temporaryFolder(_ prefix: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// An executable product (`diffuse`, a lesson) beside the test bundle, or nil when it was not built.
func builtExecutable(_ name: String) -> URL? {
    var folder = Bundle.main.bundleURL
    for _ in 0..<4 {
        let candidate = folder.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    return nil
}

/// How a subprocess ended.
struct ProcessResult {
    /// The exit status, or the signal number when `signalled`.
    var status: Int32
    /// Ended by a signal (a crash, or the kill after a timeout).
    var signalled: Bool
    /// Killed after the time limit.
    var timedOut: Bool
    /// Its standard error.
    var stderr: String
}

/// Runs `executable` with `arguments` in `directory` (default: a fresh temporary folder, so
/// that nothing is written into the package), killing it after `timeout` seconds.
func runProcess(_ executable: URL, _ arguments: [String], timeout: Double, directory: URL? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let workingDirectory = try directory ?? temporaryFolder("fuzz-cwd")
    process.currentDirectoryURL = workingDirectory
    let errorFile = workingDirectory.appendingPathComponent(".stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    let handle = try FileHandle(forWritingTo: errorFile)
    process.standardError = handle
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline { timedOut = true; process.terminate(); break }
        Thread.sleep(forTimeInterval: 0.02)
    }
    process.waitUntilExit()
    try handle.close()
    let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(at: errorFile)
    if directory == nil { try? FileManager.default.removeItem(at: workingDirectory) }
    return ProcessResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                         timedOut: timedOut, stderr: stderr)
}

/// Exports a tiny pixel DDPM (the `tinyUNetFields` network, T = 100) to `folder/model`.
func makeTinyModel(in folder: URL) throws -> URL {
    let configuration = try JSONDecoder().decode(UNet2DConfiguration.self, from: jsonText(tinyUNetFields))
    let model = try DDPMModel(unet: UNet2D(configuration: configuration, seed: 0),
                              scheduler: DDPMSchedulerConfiguration(trainingTimesteps: 100, betaSchedule: .linear, prediction: .epsilon))
    let url = folder.appendingPathComponent("model")
    try model.export(to: url, dtype: .f32)
    return url
}

/// Four 8x8 gray PNGs for one-step training runs, in `folder/images`.
func makeTrainingImages(in folder: URL) throws -> URL {
    let url = folder.appendingPathComponent("images")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    var generator = SplitMix64(seed: 3)
    for i in 0..<4 { try PNG.write(generator.uniform([1, 8, 8]), to: url.appendingPathComponent("\(i).png")) }
    return url
}

/// CRC-32 (ISO 3309, the PNG chunk checksum), bit by bit.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

// MARK: - Stable Diffusion

extension FuzzTests {
    /// The options of `diffuse txt2img` the Stable Diffusion family varies.
    static let generateOptions = ["--width", "--height", "--steps", "--cfg", "--seed", "--batch", "--batch-count", "--clip-skip",
                                  "--sampler", "--schedule", "--prompt", "--negative-prompt", "--preview-every"]

    @Test("diffuse txt2img and img2img with hostile options, mutated configs and damaged weights of an SD folder: exit 0, 1 or 64 with a message")
    func stableDiffusionCommandLine() throws {
        guard let diffuse = builtExecutable("diffuse") else {
            Issue.record("the diffuse executable was not found beside the test bundle; build it (swift build -c release)")
            return
        }
        let folder = try temporaryFolder("fuzz-sd")
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = TinySD.url("tiny-sd1")
        let initImage = Fixtures.folder.appendingPathComponent("sd/pipeline-init.png").path
        var m = Mutator(seed: FuzzBudget.seed &+ 6)
        var statuses: [String: Int] = [:]
        let count = FuzzBudget.cases(12)
        for index in 0..<count {
            let out = folder.appendingPathComponent("out-\(index).png").path
            let base = ["--steps", "2", "--width", "64", "--height", "64", "--out", out, "--overwrite"]
            var arguments: [String]
            let family = ["option", "strength", "mutated config", "damaged weights"][index % 4]
            switch index % 4 {
            case 0:   // txt2img with one hostile option (or a hostile prompt)
                let option = m.pick(Self.generateOptions)
                let value = option.hasSuffix("prompt")
                    ? m.pick(["", String(repeating: "a ", count: 5000), "\u{0}\u{1}\u{7F}", "😀🇫🇷 ŝ ∑", "&amp;&lt;"]) : m.pick(hostileArguments)
                arguments = ["txt2img", "--model", source.path, "--prompt", "a photo"] + base + [option, value]
            case 1:   // img2img with a hostile strength
                arguments = ["img2img", "--model", source.path, "--prompt", "a photo", "--init-image", initImage] + base
                    + ["--strength", m.pick(hostileArguments)]
            default:   // a copy of the folder with one config number mutated, or one weights file damaged
                let copy = folder.appendingPathComponent("model-\(index)")
                try FileManager.default.copyItem(at: source, to: copy)
                let part = m.pick(["unet", "vae", "text_encoder"])
                if index % 4 == 2 {
                    let url = copy.appendingPathComponent("\(part)/config.json")
                    var fields = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
                    let key = m.pick(fields.keys.filter { fields[$0] is NSNumber || fields[$0] is [Any] }.sorted())
                    fields[key] = nil
                    let rest = String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
                    try Data(("{\"\(key)\": \(m.pick(hostileJSON))," + rest.dropFirst()).utf8).write(to: url)
                } else {
                    let name = part == "text_encoder" ? "model.safetensors" : "diffusion_pytorch_model.safetensors"
                    let url = copy.appendingPathComponent("\(part)/\(name)")
                    var bytes = [UInt8](try Data(contentsOf: url))
                    switch m.int(3) {
                    case 0: bytes = Array(bytes.prefix(m.int(bytes.count)))                        // truncated
                    case 1: for _ in 0..<8 { bytes[m.int(min(bytes.count, 4096))] ^= UInt8(1 + m.int(255)) }   // header bytes flipped
                    default:                                                                          // NaN in the data
                        for _ in 0..<16 { let at = bytes.count - 4 * (1 + m.int(1000)); bytes[at + 2] = 0xC0; bytes[at + 3] = 0x7F }
                    }
                    try Data(bytes).write(to: url)
                }
                arguments = ["txt2img", "--model", copy.path, "--prompt", "a photo"] + base
            }
            let result = try runProcess(diffuse, arguments, timeout: 120)
            let command = "diffuse " + arguments.map { $0.isEmpty ? "''" : String($0.prefix(40)) }.joined(separator: " ")
            #expect(!result.signalled, "\(command) ended by signal \(result.status): \(result.stderr.suffix(2000))")
            #expect(!result.timedOut, "\(command) did not end within 120 s")
            #expect([0, 1, 64].contains(result.status), "\(command) exited \(result.status): \(result.stderr.suffix(2000))")
            if result.status != 0 {
                #expect(!result.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(command): no message")
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("NSCocoaErrorDomain"),
                        "\(command): \(result.stderr.suffix(2000))")
                #expect(!FileManager.default.fileExists(atPath: out), "\(command) failed but left \(out)")
            }
            statuses["\(family): exit \(result.status)", default: 0] += 1
        }
        print("fuzz: \(count) diffuse txt2img/img2img runs: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
    }
}
