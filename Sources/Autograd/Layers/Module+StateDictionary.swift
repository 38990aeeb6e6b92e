// State dictionaries: a module's parameters as a name → tensor map with PyTorch's keys, and
// loading such a map back by name. Loading checks everything before changing anything and
// reports every missing key, unexpected key and shape mismatch in one error (strict by default,
// as `load_state_dict(strict=True)`; non-strict ignores missing and unexpected keys but never a
// shape mismatch, as torch).

import Foundation
import Tensor

/// A state dictionary that does not fit a module.
public struct StateDictionaryError: Error, CustomStringConvertible {
    /// Parameter names of the module absent from the dictionary.
    public var missingKeys: [String]
    /// Dictionary names the module has no parameter for.
    public var unexpectedKeys: [String]
    /// Names present on both sides with different shapes: (name, expected, found).
    public var shapeMismatches: [(name: String, expected: [Int], found: [Int])]

    /// Every problem, one per line, with a hint on the usual cause.
    public var description: String {
        var lines = ["state dictionary does not match the model (was it saved for another configuration?):"]
        if !missingKeys.isEmpty { lines.append("  missing keys: " + missingKeys.joined(separator: ", ")) }
        if !unexpectedKeys.isEmpty { lines.append("  unexpected keys: " + unexpectedKeys.joined(separator: ", ")) }
        for m in shapeMismatches { lines.append("  \(m.name): model expects shape \(m.expected), file has \(m.found)") }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Every parameter's value under its dotted name (PyTorch's `state_dict()` keys).
    public func stateDictionary() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.name, $0.variable.value) })
    }

    /// Sets parameters from `dictionary` by name. Nothing is changed when an error is thrown.
    ///
    /// - Parameter strict: when true (the default), missing and unexpected keys are errors too.
    /// - Throws: `StateDictionaryError` listing every problem at once.
    public func loadStateDictionary(_ dictionary: [String: Tensor], strict: Bool = true) throws {
        let named = namedParameters()
        var error = StateDictionaryError(missingKeys: [], unexpectedKeys: [], shapeMismatches: [])
        for (name, p) in named {
            guard let t = dictionary[name] else { error.missingKeys.append(name); continue }
            if t.shape != p.shape { error.shapeMismatches.append((name, p.shape, t.shape)) }
        }
        let known = Set(named.map(\.name))
        error.unexpectedKeys = dictionary.keys.filter { !known.contains($0) }.sorted()
        if !error.shapeMismatches.isEmpty || (strict && !(error.missingKeys.isEmpty && error.unexpectedKeys.isEmpty)) {
            throw error
        }
        for (name, p) in named {
            if let t = dictionary[name] { p.value = t.contiguous() }
        }
    }
}

extension Module {
    /// Writes the parameters to a safetensors file (Float32, PyTorch's key names), atomically.
    public func saveWeights(to url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(stateDictionary(), dtype: .f32, metadata: metadata, to: url)
    }

    /// Reads parameters by name from a safetensors file (any stored float type is widened to
    /// Float32). Strict by default; throws `StateDictionaryError` listing every problem.
    public func loadWeights(from url: URL, strict: Bool = true) throws {
        let file = try SafetensorsFile(contentsOf: url)
        var dictionary: [String: Tensor] = [:]
        for name in file.names { dictionary[name] = try file.tensor(named: name) }
        try loadStateDictionary(dictionary, strict: strict)
    }
}
