// bench: measures the Tensor kernels (GEMM, conv2d, attention) and compares them with NumPy and
// PyTorch timed on the same shapes in the same run.
//
// Usage: swift run -c release bench [--json] [--threads 1,2] [--repetitions 5] [--filter NAME]
//                                    [--python PATH] [--no-reference] [--cpu-time] [--sd15-peak-memory [--sd15-keep-weights-resident]]
// Each case runs twice to warm up, then `--repetitions` times; the median is reported.
// `--json` prints one JSON object per line: name, shape, threads, milliseconds, gflops, library
// (reference lines also carry `ratio`: their time over ours, i.e. our speed over theirs), and
// `imagesPerSecond` for the throughput cases of the shipped models.
// The reference figures come from tools/bench_reference.py run by `--python` (default `python3`);
// when that fails, bench says so and prints only its own figures.
// `--cpu-time` times with process CPU seconds instead of wall seconds, here and in the reference
// script: on a busy machine this measures one thread fairly (time spent waiting for a core is
// not counted); with several threads it reports work per core, not speed.

import ArgumentParser
import Foundation
import Tensor

/// One timed result.
struct Measurement: Codable {
    /// The case name shared with the reference script.
    var name: String
    /// The shapes, for people.
    var shape: String
    /// `Parallel.threadCount` (or the reference library's thread setting).
    var threads: Int
    /// The median wall time of one run.
    var milliseconds: Double
    /// Floating-point operations per second, in billions (0 for cases whose operations are not counted).
    var gflops: Double
    /// Images per second, for throughput cases (training and sampling of the shipped models).
    var imagesPerSecond: Double?
    /// `swift` for this package, `numpy` or `torch` for the references.
    var library: String
    /// For a reference: the reference's time divided by this package's at the same case and threads
    /// (this package's speed over the reference's; > 1: this package is faster).
    var ratio: Double?
}

/// Command-line options (see the file comment).
struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench")

    @Flag(help: "Print one JSON object per line instead of tables.")
    var json = false
    @Option(help: ArgumentHelp("Thread counts to measure, comma-separated.", valueName: "1,2"),
            transform: { text in
                let list = text.split(separator: ",").compactMap { Int($0) }
                guard !list.isEmpty, list.allSatisfy({ $0 > 0 }) else { throw ValidationError("--threads takes a list like 1,2") }
                return list
            })
    var threads: [Int] = [1, 2]
    @Option(help: "Timed runs per case (after two warm-up runs); the median is reported.")
    var repetitions = 5
    @Option(help: "Only cases whose name contains this text.")
    var filter = ""
    @Option(help: "The Python that runs tools/bench_reference.py (NumPy, PyTorch).")
    var python = "python3"
    @Flag(name: .customLong("no-reference"), help: "Do not run the NumPy/PyTorch reference.")
    var noReference = false
    @Flag(help: "Time with process CPU seconds instead of wall seconds (here and in the reference).")
    var cpuTime = false
    @Flag(name: .customLong("sd15-peak-memory"),
          help: "Only measure the peak resident memory of Stable Diffusion 1.5 (load, one UNet call, one decode) here and in diffusers; needs SWIFTDIFFUSION_SD15_RANDOM.")
    var sd15PeakMemory = false
    @Flag(name: .customLong("sd15-keep-weights-resident"),
          help: "With --sd15-peak-memory: keep every model's weights resident instead of releasing the text encoder's after encoding and the UNet's before decoding.")
    var sd15KeepWeightsResident = false

    /// Whether the reference script runs.
    var reference: Bool { !noReference }

    func validate() throws {
        guard repetitions > 0 else { throw ValidationError("--repetitions takes a positive integer") }
    }
}

/// Prints `message` to standard error and exits with status 2.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench: \(message)\n".utf8))
    exit(2)
}

/// Prints a note to standard error (so `--json` output stays machine-readable).
func note(_ message: String) {
    FileHandle.standardError.write(Data("bench: \(message)\n".utf8))
}

/// `text` padded with spaces to `width` characters (left-aligned), or right-aligned when `right`.
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: Swift.max(0, width - text.count))
    return right ? fill + text : text + fill
}

/// The median of a non-empty list.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// Seconds of CPU time this process has used (all threads).
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Seconds of wall time on a monotonic clock.
func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Times `benchCase` on `threads` threads: two warm-up runs, then the median of `repetitions`.
/// With `cpuTime`, CPU seconds replace wall seconds (for tuning one thread on a busy machine:
/// time spent waiting for a core is not counted).
func measure(_ benchCase: BenchCase, threads: Int, repetitions: Int, cpuTime: Bool) -> Measurement {
    let clock = cpuTime ? processCPUSeconds : wallSeconds
    Parallel.threadCount = threads
    let run = benchCase.prepare()
    run()
    run()
    var seconds = [Double]()
    for _ in 0..<repetitions {
        let start = clock()
        run()
        seconds.append(clock() - start)
    }
    let t = median(seconds)
    return Measurement(name: benchCase.name, shape: benchCase.shape, threads: threads,
                       milliseconds: t * 1e3, gflops: benchCase.flops / t / 1e9,
                       imagesPerSecond: benchCase.images.map { Double($0) / t }, library: "swift")
}

/// Runs tools/bench_reference.py and parses its JSON lines; nil (after a note) when it cannot run.
func referenceMeasurements(_ options: Options) -> [Measurement]? {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../tools/bench_reference.py").standardizedFileURL
    guard FileManager.default.fileExists(atPath: script.path) else {
        note("reference script \(script.path) not found; printing only this package's figures")
        return nil
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [options.python, script.path, "--threads", options.threads.map(String.init).joined(separator: ","),
                         "--repetitions", String(options.repetitions), "--filter", options.filter]
        + (options.cpuTime ? ["--cpu-time"] : [])
    var environment = ProcessInfo.processInfo.environment
    environment["GLIBC_TUNABLES"] = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647"
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    do { try process.run() } catch {
        note("could not start \(options.python) (\(error)); printing only this package's figures")
        return nil
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        note("\(options.python) \(script.lastPathComponent) failed (status \(process.terminationStatus)); "
             + "is NumPy installed? Use --python PATH for a virtual environment. Printing only this package's figures")
        return nil
    }
    let decoder = JSONDecoder()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
        try? decoder.decode(Measurement.self, from: Data($0.utf8))
    }
}

let options = Options.parseOrExit()
if options.sd15PeakMemory {
    // Before `keepFreedMemoryForReuse`: memory is measured with the C allocator's defaults, as
    // the reference is.
    measureStableDiffusionPeakMemory(options)
    exit(0)
}
// As `diffuse train` does: large buffers stay in the heap between runs instead of being mapped
// fresh (and page-faulted) every time. The reference processes get the same glibc settings.
TensorStorage.keepFreedMemoryForReuse()
if stableDiffusionFolder() == nil && options.filter.contains("sd15") {
    note("the sd15 cases need SWIFTDIFFUSION_SD15_RANDOM=DIR (tools/make_sd_fixtures.py --full-size DIR)")
}
let cases = (allBenchCases() + stableDiffusionCases()).filter { options.filter.isEmpty || $0.name.contains(options.filter) }
if cases.isEmpty { fail("no case matches --filter \(options.filter)") }

let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
var ours = [Measurement]()
if !options.json {
    print(pad("case", 24), pad("shape", 36), pad("threads", 7, right: true), pad("ms", 10, right: true),
          pad("GFLOP/s", 9, right: true), pad("images/s", 9, right: true))
}

/// A table cell: GFLOP/s, or a dash for cases whose operations are not counted.
func gflopsCell(_ m: Measurement) -> String { m.gflops > 0 ? String(format: "%.1f", m.gflops) : "–" }

/// A table cell: images per second for throughput cases, empty otherwise.
func imagesCell(_ m: Measurement) -> String { m.imagesPerSecond.map { String(format: "%.1f", $0) } ?? "" }
for threads in options.threads {
    for benchCase in cases {
        let m = measure(benchCase, threads: threads, repetitions: options.repetitions, cpuTime: options.cpuTime)
        ours.append(m)
        if options.json {
            print(String(decoding: try encoder.encode(m), as: UTF8.self))
        } else {
            print(pad(m.name, 24), pad(m.shape, 36), pad(String(m.threads), 7, right: true),
                  pad(String(format: "%.3f", m.milliseconds), 10, right: true), pad(gflopsCell(m), 9, right: true),
                  pad(imagesCell(m), 9, right: true))
        }
    }
}

guard options.reference, let references = referenceMeasurements(options) else { exit(0) }
if references.isEmpty {
    note("\(options.python) has neither NumPy nor PyTorch; use --python PATH (e.g. a virtual environment's python). "
         + "Printing only this package's figures")
    exit(0)
}
if !options.json {
    print("\nReferences (same shapes, same run) and speed ratio ours/theirs (their time / our time; > 1: this package is faster):")
    print(pad("case", 24), pad("threads", 7, right: true), pad("library", 7), pad("ms", 10, right: true),
          pad("GFLOP/s", 9, right: true), pad("images/s", 9, right: true), pad("ours/theirs", 11, right: true))
}
for reference in references {
    guard let mine = ours.first(where: { $0.name == reference.name && $0.threads == reference.threads }) else { continue }
    let ratio = reference.milliseconds / mine.milliseconds  // the same work on both sides
    if options.json {
        var line = reference
        line.ratio = (ratio * 1000).rounded() / 1000
        print(String(decoding: try encoder.encode(line), as: UTF8.self))
    } else {
        print(pad(reference.name, 24), pad(String(reference.threads), 7, right: true), pad(reference.library, 7),
              pad(String(format: "%.3f", reference.milliseconds), 10, right: true),
              pad(gflopsCell(reference), 9, right: true), pad(imagesCell(reference), 9, right: true),
              pad(String(format: "%.2f", ratio), 11, right: true))
    }
}
