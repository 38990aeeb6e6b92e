// CSVWriter: lesson data as comma-separated values (RFC 4180), written atomically.
//
// Contract: a header row, then rows of cells. Numbers keep full precision (Swift's shortest
// round-trip text for `Double` and `Float`); a cell containing a comma, a quote or a line break
// is quoted with inner quotes doubled. `write(to:)` replaces the file atomically.

import Foundation

/// A CSV table built row by row.
public struct CSVWriter: Sendable {
    /// The column names.
    public let header: [String]
    /// The rows added so far, as text cells.
    public private(set) var rows: [[String]] = []

    /// Starts a table with the given column names.
    public init(header: [String]) {
        self.header = header
    }

    /// Appends a row of text cells; it must have one cell per column.
    public mutating func append(_ cells: [String]) {
        precondition(cells.count == header.count, "CSVWriter: \(cells.count) cells for \(header.count) columns")
        rows.append(cells)
    }

    /// Appends a row of numbers written with full precision (`Double.description`).
    public mutating func append(_ numbers: [Double]) {
        append(numbers.map { $0.description })
    }

    /// The table as CSV text with `\n` line ends.
    public var text: String {
        ([header] + rows).map { $0.map(CSVWriter.escape).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Writes the table to `url` atomically.
    public func write(to url: URL) throws {
        try AtomicFile.write(text, to: url)
    }

    /// A cell as CSV text: quoted when it contains `,`, `"`, `\r` or `\n`.
    public static func escape(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
