// A small CSV table, e.g. for the data behind every lesson figure (RFC 4180 quoting, "\n" line ends).
//
// Contract: `header` fixes the column count; every row has exactly that many cells (a
// programmer error otherwise). Numbers are written in Swift's shortest round-trip form, so a
// reader gets back the exact Float or Double; `nil` becomes an empty cell. `write(to:)` is
// atomic: it writes a temporary file in the same folder and renames it over the destination.
import Foundation

/// A CSV table: one header line, then rows of cells.
public struct CSVTable: Sendable, Equatable {
    /// Column names.
    public let header: [String]
    /// Rows of already-formatted cells, each as long as `header`.
    public private(set) var rows: [[String]] = []

    /// Creates an empty table with the given column names.
    public init(header: [String]) {
        precondition(!header.isEmpty, "CSVTable: a table needs at least one column")
        self.header = header
    }

    /// Appends a row of cells; `nil` becomes an empty cell.
    public mutating func append(_ cells: [CSVCell?]) {
        precondition(cells.count == header.count, "CSVTable: row has \(cells.count) cells, header has \(header.count)")
        rows.append(cells.map { $0?.csvText ?? "" })
    }

    /// The whole table as CSV text, ending in a newline.
    public var text: String {
        var out = header.map(Self.quoted).joined(separator: ",") + "\n"
        for row in rows { out += row.map(Self.quoted).joined(separator: ",") + "\n" }
        return out
    }

    /// Writes the table atomically (temporary file in the same folder, then rename), creating
    /// the folder when needed.
    public func write(to url: URL) throws {
        try AtomicFile.write(text, to: url)
    }

    static func quoted(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A value that can stand in a CSV cell.
public protocol CSVCell {
    /// The cell's text before quoting.
    var csvText: String { get }
}

extension String: CSVCell {
    /// The string itself.
    public var csvText: String { self }
}

extension Int: CSVCell {
    /// The decimal digits.
    public var csvText: String { String(self) }
}

extension Double: CSVCell {
    /// Swift's shortest representation that reads back to the same Double.
    public var csvText: String { description }
}

extension Float: CSVCell {
    /// Swift's shortest representation that reads back to the same Float.
    public var csvText: String { description }
}
