// CSVTable+Groups: the rows of a measurement table grouped by some columns, with the mean and
// spread of others — what a lesson quotes when a sweep was run with several seeds.
//
// Contract: `CSVGroups(table, by: keys, values: columns)` groups the rows whose key cells are
// equal, in the order each group first appears, and summarises each value column over the
// group's rows as a `Spread` (mean, sample standard deviation, count). An empty value cell is a
// measurement that was not made and is left out of that column's spread; any other cell that is
// not a number, or a column the table lacks, is a thrown `CSVGroupError` naming the file, the
// line and the column.

import Foundation
import Tensor

/// The mean, sample standard deviation and count of a set of measurements (for example one
/// configuration run with several seeds).
public struct Spread: Sendable, Equatable {
    /// The arithmetic mean (NaN for no values).
    public let mean: Double
    /// The sample standard deviation, sqrt(Σ(x − mean)² / (n − 1)); 0 for one value.
    public let standardDeviation: Double
    /// The number of values.
    public let count: Int
    /// The smallest and largest value (NaN for no values).
    public let minimum: Double, maximum: Double

    /// Summarises `values`.
    public init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else {
            (mean, standardDeviation, minimum, maximum) = (.nan, .nan, .nan, .nan)
            return
        }
        let m = values.reduce(0, +) / Double(values.count)
        mean = m
        standardDeviation = values.count > 1
            ? (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
        minimum = values.min()!
        maximum = values.max()!
    }

    /// "0.412 ± 0.021" (mean ± standard deviation) with `digits` decimals, or the mean alone for
    /// one value; "–" for none.
    public func text(digits: Int = 3) -> String {
        guard count > 0 else { return "–" }
        return count > 1 ? "\(format(mean, digits: digits)) ± \(format(standardDeviation, digits: digits))" : format(mean, digits: digits)
    }

    /// Whether `self` is below `other` by more than the two spreads together
    /// (mean + sd < other.mean − other.sd): a difference the seeds do not explain.
    public func isClearlyBelow(_ other: Spread) -> Bool {
        mean + standardDeviation < other.mean - other.standardDeviation
    }
}

/// Why a table could not be grouped.
public enum CSVGroupError: Error, Equatable, CustomStringConvertible {
    /// The table has no column of this name.
    case missingColumn(source: String, column: String, available: [String])
    /// A value cell is not a number (`line` counts from 1, the header).
    case notANumber(source: String, line: Int, column: String, text: String)

    /// The problem, naming the file, and the line or the columns there are.
    public var description: String {
        switch self {
        case .missingColumn(let source, let column, let available):
            "\(source) has no column \"\(column)\" (columns: \(available.joined(separator: ", ")))"
        case .notANumber(let source, let line, let column, let text):
            "\(source): line \(line), column \"\(column)\": \"\(text)\" is not a number"
        }
    }
}

/// The rows of a CSV table grouped by key columns, with the spread of value columns per group.
public struct CSVGroups: Sendable {
    /// One group: its key cells and the spread of each value column.
    public struct Group: Sendable {
        /// The key columns' cells, by column name.
        public let key: [String: String]
        /// The spread of each value column over the group's rows, by column name.
        public let values: [String: Spread]
        /// The group's rows (cells by column name), in table order.
        public let rows: [[String: String]]

        /// The spread of `column` (an empty spread for a column that was not summarised).
        public subscript(column: String) -> Spread { values[column] ?? Spread([]) }
    }

    /// The groups, in the order each first appears in the table.
    public let groups: [Group]

    /// Groups `table`'s rows by `keys` and summarises `values`; only rows for which `include`
    /// returns true are used (cells by column name).
    /// - Parameter source: names the table in errors (its file, usually).
    /// - Throws: `CSVGroupError` for a missing column or a value cell that is not a number.
    public init(_ table: CSVTable, by keys: [String], values: [String], source: String = "CSV table",
                where include: ([String: String]) -> Bool = { _ in true }) throws(CSVGroupError) {
        for column in keys + values where !table.header.contains(column) {
            throw .missingColumn(source: source, column: column, available: table.header)
        }
        var order: [[String]] = []
        var members: [[String]: (rows: [[String: String]], values: [String: [Double]])] = [:]
        for (index, cells) in table.rows.enumerated() {
            let row = Dictionary(zip(table.header, cells), uniquingKeysWith: { first, _ in first })   // a repeated column name: its first cell
            guard include(row) else { continue }
            let key = keys.map { row[$0]! }
            if members[key] == nil { order.append(key); members[key] = ([], [:]) }
            members[key]!.rows.append(row)
            for column in values {
                let text = row[column]!.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                guard let value = Double(text) else {
                    throw .notANumber(source: source, line: index + 2, column: column, text: text)
                }
                members[key]!.values[column, default: []].append(value)
            }
        }
        groups = order.map { key in
            let member = members[key]!
            return Group(key: Dictionary(uniqueKeysWithValues: zip(keys, key)), values: Dictionary(uniqueKeysWithValues: values.map { ($0, Spread(member.values[$0] ?? [])) }),
                         rows: member.rows)
        }
    }

    /// The first group whose key cells equal every entry of `key`.
    public func group(_ key: [String: String]) -> Group? {
        groups.first { group in key.allSatisfy { group.key[$0.key] == $0.value } }
    }

    /// The groups whose key cells equal every entry of `key`, in table order.
    public func groups(_ key: [String: String]) -> [Group] {
        groups.filter { group in key.allSatisfy { group.key[$0.key] == $0.value } }
    }

    /// The distinct values of key column `column`, in the order they first appear.
    public func distinct(_ column: String) -> [String] {
        var seen: [String] = []
        for group in groups { if let value = group.key[column], !seen.contains(value) { seen.append(value) } }
        return seen
    }
}
