// State dictionaries: a module's parameters as a name → tensor map with PyTorch's keys, and
// loading such a map back by name. Loading checks everything before changing anything and
// reports every missing key, unexpected key and shape mismatch in one error (strict by default,
// as `load_state_dict(strict=True)`; non-strict ignores missing and unexpected keys but never a
// shape mismatch, as torch).
//
// 16-bit parameters: `stateDictionary()` returns every value in Float32 (a 16-bit one widened).
// A dictionary of `ParameterValue`s loads values that may stay 16-bit (`.halfPrecision`: the
// variable's `halfPrecisionValue`, zero-copy when it comes from a mapped file), and
// `loadWeights(from:strict:keepingHalfPrecision:)` keeps a file's F16/BF16 matrices and
// kernels (rank >= 2) that way, widening only the small vectors (biases, norms).

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
        let named = try checkedParameters(shapes: dictionary.mapValues(\.shape), strict: strict)
        for (name, p) in named {
            if let t = dictionary[name] { p.value = t.contiguous() }
        }
    }

    /// Sets parameters from `dictionary` by name, keeping `.halfPrecision` values in 16 bits
    /// (each becomes the variable's `halfPrecisionValue`; `.float32` values are assigned to
    /// `value`). Same checks as the Float32 form; nothing is changed when an error is thrown.
    ///
    /// - Parameter strict: when true (the default), missing and unexpected keys are errors too.
    /// - Throws: `StateDictionaryError` listing every problem at once.
    public func loadStateDictionary(_ dictionary: [String: ParameterValue], strict: Bool = true) throws {
        let named = try checkedParameters(shapes: dictionary.mapValues(\.shape), strict: strict)
        for (name, p) in named {
            switch dictionary[name] {
            case .float32(let t)?: p.value = t.contiguous()
            case .halfPrecision(let h)?: p.halfPrecisionValue = h
            case nil: break
            }
        }
    }

    /// The named parameters, after checking the shapes a dictionary provides against them.
    private func checkedParameters(shapes: [String: [Int]], strict: Bool) throws -> [(name: String, variable: Variable)] {
        let named = namedParameters()
        var error = StateDictionaryError(missingKeys: [], unexpectedKeys: [], shapeMismatches: [])
        for (name, p) in named {
            guard let shape = shapes[name] else { error.missingKeys.append(name); continue }
            if shape != p.shape { error.shapeMismatches.append((name, p.shape, shape)) }
        }
        let known = Set(named.map(\.name))
        error.unexpectedKeys = shapes.keys.filter { !known.contains($0) }.sorted()
        if !error.shapeMismatches.isEmpty || (strict && !(error.missingKeys.isEmpty && error.unexpectedKeys.isEmpty)) {
            throw error
        }
        return named
    }
}

/// A parameter value to load: Float32, or 16-bit kept as stored (see
/// `Module.loadStateDictionary(_:strict:)` and `Variable.halfPrecisionValue`).
public enum ParameterValue: Sendable {
    /// A Float32 value, assigned to `Variable.value`.
    case float32(Tensor)
    /// A binary16 or bfloat16 value, kept in 16 bits as `Variable.halfPrecisionValue`.
    case halfPrecision(HalfPrecisionTensor)

    /// The value's shape.
    public var shape: [Int] {
        switch self {
        case .float32(let t): return t.shape
        case .halfPrecision(let h): return h.shape
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
    ///
    /// - Parameter keepingHalfPrecision: when true, F16/BF16 tensors of rank 2 or more (linear
    ///   and convolution weights, embedding tables) stay 16-bit, read in place from the mapped
    ///   file (`Variable.halfPrecisionValue`); smaller ones and F32 tensors are widened/copied.
    public func loadWeights(from url: URL, strict: Bool = true, keepingHalfPrecision: Bool = false) throws {
        let file = try SafetensorsFile(contentsOf: url)
        var dictionary: [String: ParameterValue] = [:]
        for name in file.names {
            if keepingHalfPrecision, try file.info(named: name).shape.count >= 2,
               let half = try file.halfPrecisionTensor(named: name) {
                dictionary[name] = .halfPrecision(half)
            } else {
                dictionary[name] = .float32(try file.tensor(named: name))
            }
        }
        try loadStateDictionary(dictionary, strict: strict)
    }
}
