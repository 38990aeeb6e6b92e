// The Gaussian-mixture file format of `lesson-06-samplers --gmm FILE`:
//
//     {"weights": [0.5, 0.5], "means": [[-1, 0], [1, 0]], "stds": [0.1, 0.1]}
//
// Contract: `GaussianMixture(json:)` either returns a mixture that every experiment can use
// (weights, standard deviations and means finite and within `GaussianMixture`'s ranges, means
// all of one dimension >= 1)
// or throws a `MixtureFileError` that names the field and component at fault and shows the
// expected format. Weights are normalized to sum to 1. Component k is N(means[k], stds[k]^2 I).
import Diffusion
import Foundation
import Tensor

/// Reading and writing the mixture file format of `lesson-06-samplers --gmm FILE`.
extension GaussianMixture {
    /// Decodes and checks a mixture from JSON `{"weights": [...], "means": [[x, y], ...], "stds": [...]}`.
    /// - Throws: `MixtureFileError` naming the problem (invalid JSON, missing or mistyped field,
    ///   inconsistent lengths, non-positive weight or standard deviation, non-finite mean).
    public init(json data: Data) throws {
        let raw: RawMixture
        do {
            raw = try JSONDecoder().decode(RawMixture.self, from: data)
        } catch let error as DecodingError {
            throw MixtureFileError.malformedJSON(Self.explain(error))
        } catch {
            throw MixtureFileError.malformedJSON(String(describing: error))
        }
        try Self.check(weights: raw.weights, means: raw.means, stds: raw.stds)
        try self.init(weights: raw.weights, means: raw.means, stds: raw.stds)
    }

    /// Reads and checks a mixture from a JSON file.
    /// - Throws: `MixtureFileError.unreadableFile` when the file cannot be read, or any error of
    ///   `init(json:)` with the file's path added.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw MixtureFileError.unreadableFile(path: url.path, reason: fileErrorReason(error))
        }
        do {
            try self.init(json: data)
        } catch let error as MixtureFileError {
            throw MixtureFileError.inFile(path: url.path, error)
        }
    }

    /// The mixture as pretty-printed JSON in the format `init(json:)` reads.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(RawMixture(weights: weights, means: means, stds: stds))
    }

    /// The file's fields before any check.
    private struct RawMixture: Codable {
        var weights: [Double]
        var means: [[Double]]
        var stds: [Double]
    }

    /// The checks of the file format, each with a message naming the field and component.
    private static func check(weights: [Double], means: [[Double]], stds: [Double]) throws {
        guard !weights.isEmpty else { throw MixtureFileError.empty }
        guard means.count == weights.count, stds.count == weights.count else {
            throw MixtureFileError.lengthMismatch(weights: weights.count, means: means.count, stds: stds.count)
        }
        let dimension = means[0].count
        guard dimension >= 1 else { throw MixtureFileError.dimensionMismatch(component: 0, expected: 1, found: 0) }
        for (k, mean) in means.enumerated() {
            guard mean.count == dimension else {
                throw MixtureFileError.dimensionMismatch(component: k, expected: dimension, found: mean.count)
            }
            if let bad = mean.first(where: { !$0.isFinite || abs($0) > meanLimit }) {
                throw MixtureFileError.invalidValue(field: "means", component: k, value: bad)
            }
        }
        for (k, weight) in weights.enumerated() where !weightRange.contains(weight) {
            throw MixtureFileError.invalidValue(field: "weights", component: k, value: weight)
        }
        for (k, std) in stds.enumerated() where !stdRange.contains(std) {
            throw MixtureFileError.invalidValue(field: "stds", component: k, value: std)
        }
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _):
            return "the field \"\(key.stringValue)\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)) has the wrong type (\(context.debugDescription))"
        case .dataCorrupted(let context):
            return "not valid JSON at \(path(context)) (\(context.debugDescription))"
        @unknown default:
            return String(describing: error)
        }
    }
}

/// Why a mixture description was rejected; `description` names the problem and the fix.
public indirect enum MixtureFileError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadableFile(path: String, reason: String)
    /// The bytes are not JSON of the expected shape.
    case malformedJSON(String)
    /// No components.
    case empty
    /// `weights`, `means` and `stds` have different lengths.
    case lengthMismatch(weights: Int, means: Int, stds: Int)
    /// A mean has a different number of coordinates than the first one.
    case dimensionMismatch(component: Int, expected: Int, found: Int)
    /// A weight or standard deviation that is not positive and finite, or a non-finite mean.
    case invalidValue(field: String, component: Int, value: Double)
    /// Another error, found in the named file.
    case inFile(path: String, MixtureFileError)

    private static let format =
        #"expected {"weights": [w1, w2, ...], "means": [[x1, y1], [x2, y2], ...], "stds": [s1, s2, ...]}"#

    /// A one-line explanation that names the problem and the expected format.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read the mixture file \(path): \(reason)"
        case .malformedJSON(let detail):
            return "malformed mixture JSON: \(detail); \(Self.format)"
        case .empty:
            return "the mixture has no components; \(Self.format)"
        case .lengthMismatch(let w, let m, let s):
            return "the mixture lists \(w) weights, \(m) means and \(s) stds: give one of each per component"
        case .dimensionMismatch(let k, let expected, let found):
            return "mean \(k) has \(found) coordinates but the mixture has dimension \(expected): give every mean the same number of coordinates (at least 1)"
        case .invalidValue(let field, let k, let value):
            return "\(field)[\(k)] is \(value): weights must lie in \(GaussianMixture.weightRange.lowerBound)...\(GaussianMixture.weightRange.upperBound), "
                + "stds in \(GaussianMixture.stdRange.lowerBound)...\(GaussianMixture.stdRange.upperBound) and mean coordinates in "
                + "-\(GaussianMixture.meanLimit)...\(GaussianMixture.meanLimit) (finite sizes the exact solver handles in Double)"
        case .inFile(let path, let error):
            return "\(path): \(error.description)"
        }
    }
}
