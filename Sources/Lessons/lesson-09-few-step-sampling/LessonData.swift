// lesson-09-few-step-sampling: the committed measurements the lesson reads (docs/data/*.csv), and
// the claims it collects for its closing table. Plumbing, not narration: the sections are in
// `main.swift`, `Images.swift` and `Convergence.swift`.

import Foundation
import LessonKit
import Tensor

/// A problem the reader can fix (a missing file or folder), reported with the fix.
struct LessonError: Error, CustomStringConvertible {
    let description: String
}

/// The folder of committed CSV files (`--data`, docs/data by default) and how to read them.
struct LessonData {
    /// The folder as the user named it (relative paths stay relative, for the page).
    let path: String

    /// The file `name` in the folder, as written on the page (`docs/data/name`).
    func display(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The file `name` in the folder, found from the working directory or the package.
    func url(_ name: String) -> URL { lessonPath(display(name)) }

    /// Whether `name` exists.
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: url(name).path) }

    /// The command lines committed next to `stem`.csv (`stem.command.txt`), if any.
    func command(_ stem: String) -> String? {
        (try? String(contentsOf: url(stem + ".command.txt"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Reads `name`; a missing file is an error that says which command makes it.
    func table(_ name: String, madeBy command: String) throws -> CSVTable {
        guard exists(name) else {
            throw LessonError(description: "\(display(name)) is missing: restore it from git, or make it with `\(command)`")
        }
        do {
            return try CSVTable(contentsOf: url(name))
        } catch {
            throw LessonError(description: "cannot read \(display(name)) (\(describeFileError(error))): restore it from git, or make it again with `\(command)`")
        }
    }

    /// Groups the rows of `name` (see `CSVGroups`), naming the file in errors.
    func groups(_ table: CSVTable, _ name: String, by keys: [String], values: [String],
                where include: ([String: String]) -> Bool = { _ in true }) throws -> CSVGroups {
        do {
            return try CSVGroups(table, by: keys, values: values, source: display(name), where: include)
        } catch {
            throw LessonError(description: "\(error): the lesson needs this column; make the file again with the command in \(display(name.replacingOccurrences(of: ".csv", with: ".command.txt")))")
        }
    }
}

/// One row of the closing table: a claim, the numbers that test it, and whether they bear it out.
struct Finding {
    /// The claim, as the folklore or an earlier section states it.
    let claim: String
    /// "holds", "does not hold", "partly" or "not measured".
    let verdict: String
    /// The numbers behind the verdict.
    let evidence: String
}
