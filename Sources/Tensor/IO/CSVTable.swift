// A small CSV table, e.g. for the data behind every lesson figure (RFC 4180 quoting, "\n" line ends),
// written and read back.
//
// Contract: `header` fixes the column count; every row has exactly that many cells (a
// programmer error when appending, a thrown `CSVError` naming the line when reading). Numbers are written in Swift's shortest round-trip form, so a
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

    /// Reads a table written by `write(to:)` or any RFC 4180 file: the first row is the header.
    /// - Throws: `CSVError` for an empty file, a row with another cell count than the header,
    ///   or a quoted cell left open; errors reading the file itself.
    public init(contentsOf url: URL) throws {
        try self.init(parsing: String(contentsOf: url, encoding: .utf8), source: url.path)
    }

    /// Parses CSV text whose first row is the header; `source` names it in errors.
    /// - Throws: `CSVError` for empty text, a row with another cell count than the header, or a
    ///   quoted cell left open.
    public init(parsing text: String, source: String = "CSV text") throws(CSVError) {
        let rows = try Self.parseRows(text, source: source)
        guard let header = rows.first, !header.isEmpty else { throw .empty(source: source) }
        self.header = header
        for (index, row) in rows.dropFirst().enumerated() {
            guard row.count == header.count else {
                throw .cellCount(source: source, line: index + 2, cells: row.count, expected: header.count)
            }
            self.rows.append(row)
        }
    }

    /// Splits RFC 4180 CSV text into rows of cells (quoted cells may hold commas, quotes as "",
    /// and line breaks; lines end in "\n" or "\r\n").
    static func parseRows(_ text: String, source: String) throws(CSVError) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], cell = ""
        var quoted = false, afterQuote = false
        for character in text {
            if quoted {
                if character == "\"" { quoted = false; afterQuote = true } else { cell.append(character) }
                continue
            }
            switch character {
            case "\"":
                if afterQuote { cell.append("\"") }   // "" inside a quoted cell
                quoted = true
                afterQuote = false
            case ",":
                row.append(cell); cell = ""; afterQuote = false
            case "\n", "\r\n":
                row.append(cell); rows.append(row); row = []; cell = ""; afterQuote = false
            default:
                cell.append(character); afterQuote = false
            }
        }
        if quoted { throw .unterminatedQuote(source: source) }
        if !cell.isEmpty || !row.isEmpty { row.append(cell); rows.append(row) }
        return rows
    }

    static func quoted(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Why CSV text could not be read as a table.
public enum CSVError: Error, Equatable, CustomStringConvertible {
    /// There is no header row.
    case empty(source: String)
    /// A row has another number of cells than the header (`line` counts from 1, the header).
    case cellCount(source: String, line: Int, cells: Int, expected: Int)
    /// The text ends inside a quoted cell.
    case unterminatedQuote(source: String)

    /// The problem, naming the file and line.
    public var description: String {
        switch self {
        case .empty(let source): "\(source): no header row (the file is empty)"
        case .cellCount(let source, let line, let cells, let expected):
            "\(source): line \(line) has \(cells) cells, the header has \(expected)"
        case .unterminatedQuote(let source): "\(source): the text ends inside a quoted cell (a missing closing \")"
        }
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
