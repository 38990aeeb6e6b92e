// bench: measures the Tensor kernels (GEMM, conv2d, attention) and compares them with NumPy and
// PyTorch timed on the same shapes in the same run.
//
// Usage: swift run -c release bench [--json] [--threads 1,2] [--repetitions 5] [--filter NAME]
//                                    [--python PATH] [--no-reference]
// Each case runs twice to warm up, then `--repetitions` times; the median is reported.
// `--json` prints one JSON object per line: name, shape, threads, milliseconds, gflops, library.
// The reference figures come from tools/bench_reference.py run by `--python` (default `python3`);
// when that fails, bench says so and prints only its own figures.

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
    /// Floating-point operations per second, in billions.
    var gflops: Double
    /// `swift` for this package, `numpy` or `torch` for the references.
    var library: String
}

/// Command-line options.
struct Options {
    var json = false
    var threads = [1, 2]
    var repetitions = 5
    var filter = ""
    var python = "python3"
    var reference = true

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ flag: String) -> String {
            guard let v = rest.popFirst() else { fail("\(flag) needs a value") }
            return v
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--json": options.json = true
            case "--no-reference": options.reference = false
            case "--threads":
                let list = value(argument).split(separator: ",").compactMap { Int($0) }
                guard !list.isEmpty, list.allSatisfy({ $0 > 0 }) else { fail("--threads takes a list like 1,2") }
                options.threads = list
            case "--repetitions":
                guard let n = Int(value(argument)), n > 0 else { fail("--repetitions takes a positive integer") }
                options.repetitions = n
            case "--filter": options.filter = value(argument)
            case "--python": options.python = value(argument)
            case "--help", "-h":
                print("usage: bench [--json] [--threads 1,2] [--repetitions 5] [--filter NAME] [--python PATH] [--no-reference]")
                exit(0)
            default: fail("unknown argument \(argument) (try --help)")
            }
        }
        return options
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

/// The median of a non-empty list.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// Times `benchCase` on `threads` threads: two warm-up runs, then the median of `repetitions`.
func measure(_ benchCase: BenchCase, threads: Int, repetitions: Int) -> Measurement {
    Parallel.threadCount = threads
    let run = benchCase.prepare()
    run()
    run()
    var seconds = [Double]()
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        run()
        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    let t = median(seconds)
    return Measurement(name: benchCase.name, shape: benchCase.shape, threads: threads,
                       milliseconds: t * 1e3, gflops: benchCase.flops / t / 1e9, library: "swift")
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

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let cases = allBenchCases().filter { options.filter.isEmpty || $0.name.contains(options.filter) }
if cases.isEmpty { fail("no case matches --filter \(options.filter)") }

let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
var ours = [Measurement]()
if !options.json {
    print(String(format: "%-26@ %-38@ %7@ %10@ %9@", "case" as NSString, "shape" as NSString, "threads" as NSString,
                 "ms" as NSString, "GFLOP/s" as NSString))
}
for threads in options.threads {
    for benchCase in cases {
        let m = measure(benchCase, threads: threads, repetitions: options.repetitions)
        ours.append(m)
        if options.json {
            print(String(decoding: try encoder.encode(m), as: UTF8.self))
        } else {
            print(String(format: "%-26@ %-38@ %7d %10.3f %9.1f", m.name as NSString, m.shape as NSString, m.threads,
                         m.milliseconds, m.gflops))
        }
    }
}

guard options.reference, let references = referenceMeasurements(options) else { exit(0) }
if !options.json {
    print("\nReferences (same shapes, same run) and ratio ours/theirs in GFLOP/s (> 1: this package is faster):")
    print(String(format: "%-26@ %7@ %-7@ %10@ %9@ %9@", "case" as NSString, "threads" as NSString, "library" as NSString,
                 "ms" as NSString, "GFLOP/s" as NSString, "ratio" as NSString))
}
for reference in references {
    guard let mine = ours.first(where: { $0.name == reference.name && $0.threads == reference.threads }) else { continue }
    let ratio = mine.gflops / reference.gflops
    if options.json {
        print(String(decoding: try encoder.encode(reference), as: UTF8.self))
        print("{\"name\":\"\(reference.name)\",\"threads\":\(reference.threads),\"ratio\":\(String(format: "%.3f", ratio)),"
              + "\"versus\":\"\(reference.library)\"}")
    } else {
        print(String(format: "%-26@ %7d %-7@ %10.3f %9.1f %9.2f", reference.name as NSString, reference.threads,
                     reference.library as NSString, reference.milliseconds, reference.gflops, ratio))
    }
}
