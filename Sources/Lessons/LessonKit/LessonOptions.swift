// LessonOptions: what every lesson's command line shares: where the page goes, and how a
// thrown error reaches the user.
//
// Contract: a lesson writes its page, figures and data files to `out/lesson-NN/` (or `--out
// DIR`) unless `--docs` is given, in which case the page and figures go to `docs/lessons/`
// (the committed, rendered lesson) and the data files still go to the output folder. Nothing
// shipped is overwritten by a plain run.

import ArgumentParser
import Foundation
import Tensor

/// The `--out` and `--docs` options of every lesson.
public struct LessonOutputOptions: ParsableArguments {
    /// The output folder; `nil` means `out/lesson-NN`.
    @Option(help: ArgumentHelp("Output folder for the page, figures and data files (default out/lesson-NN).", valueName: "dir"))
    public var out: String?

    /// Write the page and figures to `docs/lessons/` instead.
    @Flag(help: "Write the page and figures to docs/lessons/ (the committed lesson) instead of the output folder.")
    public var docs = false

    /// Creates the options with their defaults.
    public init() {}

    /// The options parsed from the command line (for lessons without options of their own);
    /// `--help` prints them, a bad option exits with its message.
    public static func parseCommandLine() -> LessonOutputOptions { LessonCommand.parseOrExit().options }

    /// The output folder as the user named it (relative paths stay relative, for the page):
    /// `--out`, or `out/lesson-NN` for the lesson whose page is `NN-topic`.
    public func outPath(slug: String) -> String { out ?? "out/lesson-\(slug.prefix { $0.isNumber })" }

    /// The output folder for data files.
    public func directory(slug: String) -> URL { URL(fileURLWithPath: outPath(slug: slug), isDirectory: true) }

    /// The lesson's page: in the output folder, or in `docs/lessons/` with `--docs`.
    /// - Parameters:
    ///   - lesson: the executable's name, for example `"lesson-06-samplers"`.
    ///   - slug: the page's name, for example `"06-samplers"`.
    public func report(lesson: String, slug: String, title: String, callerFile: String = #filePath) -> Report {
        Report(slug: slug, title: title, directory: docs ? nil : directory(slug: slug),
               command: docs ? "swift run -c release \(lesson) --docs" : nil, callerFile: callerFile)
    }
}

/// The command line of a lesson without options of its own (`--out`, `--docs`, `--help`),
/// named after the executable in its help.
struct LessonCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: URL(fileURLWithPath: CommandLine.arguments.first ?? "lesson").lastPathComponent)
    }

    @OptionGroup var options: LessonOutputOptions
}

/// Runs a lesson's body: a usage error (`ValidationError`, from an option's check) passes through
/// to ArgumentParser, which prints it with the usage and exits with 64; any other thrown error
/// (a missing file, an impossible configuration, a failed figure) is printed as one
/// `error: …` line naming the problem and the process exits with 1 — never a crash or a raw dump.
public func runLesson(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(describeFileError(error))\n".utf8))
        throw ExitCode.failure
    }
}

/// Runs one statement of a top-level lesson script (lessons 01-03): a thrown error is printed as
/// `error: …` and the process exits with 1 (an error escaping top-level code would be a crash).
@discardableResult
public func exitOnError<T>(_ body: () throws -> T) -> T {
    do {
        return try body()
    } catch {
        FileHandle.standardError.write(Data("error: \(describeFileError(error))\n".utf8))
        exit(1)
    }
}

/// A number with `digits` digits after the point, or in scientific notation; "—" if not finite.
public func format(_ value: Double, digits: Int = 3, scientific: Bool = false) -> String {
    guard value.isFinite else { return "—" }
    return String(format: scientific ? "%.\(digits)e" : "%.\(digits)f", value)
}

/// `value` with `significant` significant digits (`%g`).
public func format(significant value: Double, _ significant: Int = 3) -> String {
    guard value.isFinite else { return "—" }
    return String(format: "%.\(significant)g", value)
}

/// A percentage with one decimal, for example "12.5 %".
public func percent(_ fraction: Double, digits: Int = 1) -> String { format(100 * fraction, digits: digits) + " %" }

/// The mean roughness of images `[N, C, H, W]`: the mean absolute difference between
/// neighbouring pixels (right and down), in the images' own units. Speckle raises it; a smooth
/// image has little.
public func roughness(_ images: Tensor) -> Double {
    let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
    let x = images.contiguous().scalars
    var sum = 0.0, count = 0
    for plane in 0..<(n * c) {
        let base = plane * h * w
        for i in 0..<h {
            for j in 0..<w {
                let v = Double(x[base + i * w + j])
                if j + 1 < w { sum += abs(v - Double(x[base + i * w + j + 1])); count += 1 }
                if i + 1 < h { sum += abs(v - Double(x[base + (i + 1) * w + j])); count += 1 }
            }
        }
    }
    return sum / Double(max(count, 1))
}
