// Contract: reads a diffusers or transformers `config.json` field by field, so that every field
// a model's configuration does not know — or knows but does not implement with the value found —
// is a thrown error naming the field, the value and what is supported, never silently ignored.
// Keys starting with "_" (`_class_name`, `_diffusers_version`, `_name_or_path`) and the fields a
// configuration lists as informational are skipped.

import Foundation
import Tensor

/// An error in a Stable Diffusion model folder, checkpoint or configuration; its description
/// names the file, the key or field, what was expected and what was found.
public struct StableDiffusionError: Error, CustomStringConvertible, Sendable {
    /// The message.
    public let description: String
    /// Creates the error with its message.
    public init(_ description: String) { self.description = description }
}

/// A value of `config.json`: Tensor's `JSONValue` (decoded by `JSONDecoder`, which keeps
/// `true` and `1` apart), with the lenient readings a configuration needs.
typealias ConfigurationValue = JSONValue

extension JSONValue {
    /// An integer, also from a number with no fractional part.
    var integer: Int? {
        switch self {
        case .integer(let i): return i
        case .number(let d) where d == d.rounded() && abs(d) < 1e15: return Int(d)
        default: return nil
        }
    }

    /// A number.
    var number: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }
}

/// Field-by-field reader of a JSON configuration that remembers which fields were read.
struct ConfigurationReader {
    /// The file (for messages).
    let source: String
    /// The decoded object.
    let fields: [String: ConfigurationValue]
    /// Names read so far.
    private(set) var read: Set<String> = []

    /// Reads `url` as a JSON object.
    init(url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw StableDiffusionError("cannot read \(url.path): the file is missing (a diffusers model folder has a config.json in each part)")
        }
        try self.init(data: data, source: url.path)
    }

    /// Reads `data` as a JSON object; `source` names it in messages.
    init(data: Data, source: String) throws {
        guard let value = try? JSONValue.parse(data), case .object(let dictionary) = value else {
            throw StableDiffusionError("\(source) is not a JSON object (corrupt or not a config.json)")
        }
        self.source = source
        self.fields = dictionary
    }

    private func fail(_ name: String, _ expected: String) -> StableDiffusionError {
        StableDiffusionError("\(source): field \"\(name)\" is \(fields[name]?.text ?? "absent"); expected \(expected)")
    }

    /// The field, or nil when absent or null (marks it read).
    private mutating func value(_ name: String) -> ConfigurationValue? {
        read.insert(name)
        guard let v = fields[name], v != .null else { return nil }
        return v
    }

    /// An integer field, or `fallback` when absent or null.
    mutating func int(_ name: String, _ fallback: Int) throws -> Int {
        guard let v = value(name) else { return fallback }
        guard let i = v.integer else { throw fail(name, "an integer") }
        return i
    }

    /// A number field.
    mutating func float(_ name: String, _ fallback: Float) throws -> Float {
        guard let v = value(name) else { return fallback }
        guard let d = v.number else { throw fail(name, "a number") }
        return Float(d)
    }

    /// A Boolean field.
    mutating func bool(_ name: String, _ fallback: Bool) throws -> Bool {
        guard let v = value(name) else { return fallback }
        guard case .bool(let b) = v else { throw fail(name, "true or false") }
        return b
    }

    /// A string field.
    mutating func string(_ name: String, _ fallback: String) throws -> String {
        guard let v = value(name) else { return fallback }
        guard case .string(let s) = v else { throw fail(name, "a string") }
        return s
    }

    /// A list of integers.
    mutating func ints(_ name: String, _ fallback: [Int]) throws -> [Int] {
        guard let v = value(name) else { return fallback }
        guard case .array(let list) = v, let ints = Optional(list.compactMap(\.integer)), ints.count == list.count else {
            throw fail(name, "a list of integers")
        }
        return ints
    }

    /// A list of strings.
    mutating func strings(_ name: String, _ fallback: [String]) throws -> [String] {
        guard let v = value(name) else { return fallback }
        guard case .array(let list) = v else { throw fail(name, "a list of strings") }
        return try list.map {
            guard case .string(let s) = $0 else { throw fail(name, "a list of strings") }
            return s
        }
    }

    /// An integer or a list of integers (one per block); nil when absent or null.
    mutating func intOrInts(_ name: String) throws -> [Int]? {
        guard let v = value(name) else { return nil }
        if let i = v.integer { return [i] }
        if case .array = v { return try ints(name, []) }
        throw fail(name, "an integer or a list of integers")
    }

    /// A field this port implements only with the value `supported` (absent or null also
    /// accepted): anything else is an error naming the field.
    mutating func require(_ name: String, equals supported: ConfigurationValue, meaning: String) throws {
        guard let v = value(name) else { return }
        let matches = v == supported || (v.number != nil && v.number == supported.number)
        if !matches {
            throw StableDiffusionError("\(source): field \"\(name)\" = \(v.text) is not implemented by this port "
                + "(supported: \(supported == .null ? "null or absent" : supported.text); \(meaning))")
        }
    }

    /// Marks informational fields (sizes used only for documentation, token ids for the
    /// tokenizer, dropout probabilities at inference) as read.
    mutating func ignore(_ names: [String]) { read.formUnion(names) }

    /// Throws if some field was never read: a field the port does not know.
    func finish() throws {
        let unknown = fields.keys.filter { !$0.hasPrefix("_") && !read.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw StableDiffusionError("\(source): unknown field\(unknown.count > 1 ? "s" : "") "
                + unknown.map { "\"\($0)\" = \(fields[$0]!.text)" }.joined(separator: ", ")
                + "; this port does not implement \(unknown.count > 1 ? "them" : "it") (a newer or different architecture?)")
        }
    }
}
