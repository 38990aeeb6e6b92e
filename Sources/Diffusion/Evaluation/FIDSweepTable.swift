// Contract: the CSV schema of `diffuse fid-sweep` — one row per configuration (model, sampler,
// schedule, steps, guidance scale, count, seed, batch size, classifier fingerprint) with its FID,
// time, improved precision and recall, and the classifier's accuracy on the requested class.
// `guidance` and `class_accuracy` are empty for unconditional models. A CSV written before those
// two columns existed is read as the same rows with both cells empty (so an old sweep resumes
// and is rewritten with the full header); a CSV with any other columns is an error naming
// them, never overwritten.

import Foundation
import Tensor

/// The `diffuse fid-sweep` CSV: its columns, the columns that identify a configuration, and the
/// reader that accepts the current and the previous layout.
public enum FIDSweepTable {
    /// The columns before guidance was added (docs/data/pr-sweep-*.csv).
    public static let headerWithoutGuidance = ["model", "sampler", "schedule", "steps", "model_evaluations", "count", "seed",
                                               "batch_size", "classifier", "fid", "seconds", "precision", "recall"]
    /// The columns: the previous ones, then the guidance scale and the class accuracy.
    public static let header = headerWithoutGuidance + ["guidance", "class_accuracy"]
    /// The columns that identify a configuration (a row with the same values is not run again).
    public static let keyColumns = ["model", "sampler", "schedule", "steps", "count", "seed", "batch_size", "classifier", "guidance"]

    /// The key of `row` (a row of a table with `header`): its cells in `keyColumns`' order.
    public static func key(of row: [String]) -> [String] {
        keyColumns.map { row[header.firstIndex(of: $0)!] }
    }

    /// The guidance cell of a configuration: empty for an unconditional model, else the scale
    /// in Swift's shortest round-trip form ("1.0", "7.5").
    public static func guidanceCell(_ scale: Double?) -> String {
        scale.map { $0.csvText } ?? ""
    }

    /// The sweep table at `url`: an empty table with `header` when there is no file, the file's
    /// rows when it has `header`, and the rows of a file with `headerWithoutGuidance` with
    /// empty `guidance` and `class_accuracy` cells.
    /// - Throws: `FIDSweepTableError.otherColumns` for any other header; `CSVError` for a
    ///   malformed file.
    public static func read(at url: URL) throws -> CSVTable {
        guard FileManager.default.fileExists(atPath: url.path) else { return CSVTable(header: header) }
        return try upgraded(CSVTable(contentsOf: url), source: url.path)
    }

    /// `table` in the current layout (see `read(at:)`); `source` names it in errors.
    /// - Throws: `FIDSweepTableError.otherColumns` unless its header is `header` or `headerWithoutGuidance`.
    public static func upgraded(_ table: CSVTable, source: String) throws -> CSVTable {
        if table.header == header { return table }
        guard table.header == headerWithoutGuidance else {
            throw FIDSweepTableError.otherColumns(source: source, found: table.header)
        }
        var out = CSVTable(header: header)
        for row in table.rows { out.append(row + ["", ""]) }
        return out
    }
}

/// A file that is not a `diffuse fid-sweep` CSV.
public enum FIDSweepTableError: Error, Equatable, CustomStringConvertible {
    /// The file's columns are neither the current nor the previous layout.
    case otherColumns(source: String, found: [String])

    /// The problem and the fix.
    public var description: String {
        switch self {
        case let .otherColumns(source, found):
            "\(source) exists with the columns \(found.joined(separator: ",")), which are not a fid-sweep table's "
                + "(\(FIDSweepTable.header.joined(separator: ",")), or the same without guidance,class_accuracy); "
                + "choose another --output"
        }
    }
}
