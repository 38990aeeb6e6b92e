// Gnuplot: runs gnuplot over a pipe and draws figures to PNG, SVG or terminal text.
//
// Contract: `Gnuplot.run(script:)` starts one `gnuplot` process, writes the whole script to its
// standard input, closes it, and collects standard output and standard error (read on their own
// threads, so neither pipe can fill up and stall gnuplot). A missing gnuplot, a non-zero exit or
// an output file that was not written is a thrown `PlotError` whose description carries
// gnuplot's own messages and the fix. PNG and SVG files are written atomically: gnuplot draws
// into a temporary file in the destination folder, which is renamed over the destination only
// after gnuplot has finished without error; a failure (gnuplot's error, a full disk) is a
// `PlotError.figureFailed` naming the destination, and leaves the file there unchanged.

import Foundation
import Tensor

/// Why a figure could not be drawn.
public enum PlotError: Error, CustomStringConvertible {
    /// No `gnuplot` executable on `PATH` (or at `$GNUPLOT`).
    case gnuplotNotFound(searched: [String])
    /// gnuplot could not be started at all.
    case launchFailed(path: String, reason: String)
    /// gnuplot ran but reported an error (exit status and its standard error).
    case gnuplotFailed(status: Int32, message: String)
    /// gnuplot exited cleanly but the expected output file is missing or empty.
    case outputMissing(path: String, message: String)
    /// Drawing the figure file at `path` failed (the file there, if any, is left unchanged).
    case figureFailed(path: String, reason: String)

    /// A message naming the problem and the fix.
    public var description: String {
        switch self {
        case .gnuplotNotFound(let searched):
            return "gnuplot was not found (looked in: \(searched.joined(separator: ", "))). "
                + "Install it with `apt-get install gnuplot-nox` (Debian/Ubuntu), "
                + "or set GNUPLOT to the path of a gnuplot executable."
        case .launchFailed(let path, let reason):
            return "could not start gnuplot at \(path): \(reason)"
        case .gnuplotFailed(let status, let message):
            return "gnuplot failed (exit status \(status)):\n\(message)"
        case .outputMissing(let path, let message):
            return "gnuplot did not write \(path)" + (message.isEmpty ? "" : ":\n\(message)")
        case .figureFailed(let path, let reason):
            return "could not draw the figure \(path) (nothing was written there): \(reason)"
        }
    }
}

/// What a gnuplot run printed.
public struct GnuplotResult: Sendable {
    /// Everything gnuplot wrote to standard output (the drawing, for the `dumb` terminal).
    public var output: String
    /// Everything gnuplot wrote to standard error (warnings, when it succeeded).
    public var warnings: String
}

/// Finds and runs the `gnuplot` program.
public enum Gnuplot {
    /// The gnuplot executable: `$GNUPLOT` if set, otherwise the first `gnuplot` on `PATH`.
    /// - Parameter environment: the variables to read (the process environment by default).
    /// - Throws: `PlotError.gnuplotNotFound`, whose description names `apt-get install gnuplot-nox`.
    public static func executableURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let fileManager = FileManager.default
        if let explicit = environment["GNUPLOT"], !explicit.isEmpty {
            guard fileManager.isExecutableFile(atPath: explicit) else { throw PlotError.gnuplotNotFound(searched: [explicit]) }
            return URL(fileURLWithPath: explicit)
        }
        let directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent("gnuplot")
            if fileManager.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw PlotError.gnuplotNotFound(searched: directories)
    }

    /// Whether a gnuplot executable can be found (tests skip rendering without one).
    public static var isAvailable: Bool { (try? executableURL()) != nil }

    /// Runs gnuplot on `script` and returns what it printed.
    /// - Throws: `PlotError.gnuplotNotFound` without gnuplot; `PlotError.gnuplotFailed` with
    ///   gnuplot's standard error when it exits with a non-zero status.
    public static func run(script: String) throws -> GnuplotResult {
        let executable = try executableURL()
        let process = Process()
        process.executableURL = executable
        process.arguments = []
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw PlotError.launchFailed(path: executable.path, reason: "\(error)")
        }

        // Drain both output pipes concurrently while this thread writes the script.
        let collected = Collected()
        let group = DispatchGroup()
        let outHandle = output.fileHandleForReading, errHandle = errors.fileHandleForReading
        DispatchQueue.global().async(group: group) { collected.setOutput(outHandle.readDataToEndOfFile()) }
        DispatchQueue.global().async(group: group) { collected.setErrors(errHandle.readDataToEndOfFile()) }
        let writer = input.fileHandleForWriting
        // A write fails only if gnuplot already exited (its error is then in standard error).
        try? writer.write(contentsOf: Data(script.utf8))
        try? writer.close()
        process.waitUntilExit()
        group.wait()

        let (outData, errData) = collected.values
        let stdout = String(decoding: outData, as: UTF8.self)
        let stderr = String(decoding: errData, as: UTF8.self)
        if process.terminationReason != .exit || process.terminationStatus != 0 {
            throw PlotError.gnuplotFailed(status: process.terminationStatus, message: lastLines(stderr, 30))
        }
        return GnuplotResult(output: stdout, warnings: stderr)
    }

    /// The last `count` non-empty lines of `text` (gnuplot's error is at the end).
    static func lastLines(_ text: String, _ count: Int) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        return lines.suffix(count).joined(separator: "\n")
    }
}

/// Output of the two reader threads, guarded by a lock.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var output = Data()
    private var errors = Data()
    func setOutput(_ data: Data) { lock.lock(); output = data; lock.unlock() }
    func setErrors(_ data: Data) { lock.lock(); errors = data; lock.unlock() }
    var values: (Data, Data) { lock.lock(); defer { lock.unlock() }; return (output, errors) }
}

extension Figure {
    /// Draws the figure into a PNG file (pngcairo, `width x height` pixels), atomically.
    public func savePNG(to url: URL) throws {
        try saveFile(to: url) { .png(path: $0) }
    }

    /// Draws the figure into an SVG file (`width x height`), atomically.
    public func saveSVG(to url: URL) throws {
        try saveFile(to: url) { .svg(path: $0) }
    }

    /// Draws the figure as text with gnuplot's `dumb` terminal and returns it, ready to print.
    /// Images and heatmaps come out as coarse characters; line and scatter plots read well.
    public func renderText(columns: Int = 100, rows: Int = 30) throws -> String {
        let result = try Gnuplot.run(script: script(for: .text(columns: columns, rows: rows)))
        // The dumb terminal starts each page with a form feed; drop it and trailing blank lines.
        var text = result.output.replacingOccurrences(of: "\u{0C}", with: "")
        while text.hasPrefix("\n") { text.removeFirst() }
        while let last = text.last, last == "\n" || last == " " { text.removeLast() }
        return text
    }

    private func saveFile(to url: URL, output: (String) -> FigureOutput) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = AtomicFile.temporaryURL(besides: url)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let result: GnuplotResult
        do {
            result = try Gnuplot.run(script: script(for: output(temporary.path)))
        } catch let error as PlotError {
            // Name the figure the caller asked for, not the temporary file gnuplot was drawing.
            throw PlotError.figureFailed(path: url.path, reason: error.description.replacingOccurrences(of: temporary.path, with: url.path))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: temporary.path)[.size] as? Int) ?? nil
        guard let size, size > 0 else {
            throw PlotError.outputMissing(path: url.path, message: Gnuplot.lastLines(result.warnings, 30))
        }
        try AtomicFile.replace(url, withFileAt: temporary)
    }
}
