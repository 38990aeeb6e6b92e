// Shared helpers for the autograd tests: seeded random tensors and the fixture folder.

import Foundation
import Tensor
import Autograd

/// A seeded random tensor with elements uniform in [low, high).
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var generator = SplitMix64(seed: seed)
    return generator.uniform(shape, low: low, high: high)
}

/// A tensor whose elements are a seeded permutation of evenly spaced values `0.1·k − offset`,
/// so no two elements are within 0.1 of each other (safe for finite differences through max).
func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let n = Tensor.elementCount(shape)
    var values = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }
    values.shuffle(using: &generator)
    return Tensor(shape: shape, scalars: values)
}

/// The folder holding the fixtures written by tools/make_autograd_fixtures.py.
let fixtureFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The largest absolute elementwise difference between two tensors of equal shape.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "maxAbsDifference: shapes \(a.shape) and \(b.shape)")
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

/// A tensor as the fixture script writes it: `{"shape": [...], "data": [...]}` (row-major).
struct TensorJSON: Decodable {
    var shape: [Int]
    var data: [Float]
    var tensor: Tensor { Tensor(shape: shape, scalars: data) }
}

/// Decodes a fixture file.
func loadFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let data = try Data(contentsOf: fixtureFolder.appendingPathComponent(name))
    return try JSONDecoder().decode(T.self, from: data)
}
