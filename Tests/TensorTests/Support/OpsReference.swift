// Helpers for the ops tests: a seeded generator, multi-index enumeration, element access by
// multi-index, and the same logical tensor in several memory layouts (contiguous, permuted
// storage, strided slices), so each op is checked on views as well as on plain buffers.
// References built on these read elements one at a time through `storageIndex`, independently
// of the kernels under test.

import Foundation
import Tensor

/// Uniform test data from the Tensor module's seeded `SplitMix64`.
struct OpsTestRandom {
    private var bits: SplitMix64
    init(seed: UInt64) { bits = SplitMix64(seed: seed) }

    /// The next 64 random bits.
    mutating func next() -> UInt64 { bits.next() }

    /// A uniform value in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// `count` uniform values in [low, high).
    mutating func uniforms(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(low, high) }
    }
}

/// A contiguous tensor of uniform values in [low, high) from a seeded generator.
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var random = OpsTestRandom(seed: seed)
    return Tensor(shape: shape, scalars: random.uniforms(shape.reduce(1, *), low, high))
}

/// Every multi-index of `shape` in row-major order (one empty index for rank 0).
func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for size in shape {
        result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } }
    }
    return result
}

/// The row-major position of `index` in a contiguous tensor of `shape`.
func rowMajorPosition(_ shape: [Int], _ index: [Int]) -> Int {
    var position = 0
    for (size, i) in zip(shape, index) { position = position * size + i }
    return position
}

/// The element of `t` at a multi-index, read through its strides, as Double.
func element(_ t: Tensor, _ index: [Int]) -> Double {
    Double(t.storage.pointer[t.storageIndex(index)])
}

/// All elements of `t` in row-major order, read one by one through `element`.
func naiveScalars(_ t: Tensor) -> [Double] {
    allIndices(t.shape).map { element(t, $0) }
}

/// The same logical tensor (`values` in row-major order over `shape`) in several layouts:
/// contiguous, stored transposed then permuted back, and a stepped slice of a larger buffer
/// whose unused elements are NaN (so a kernel that reads outside the view shows it).
func layouts(_ values: [Float], shape: [Int]) -> [(name: String, tensor: Tensor)] {
    var result: [(String, Tensor)] = [("contiguous", Tensor(shape: shape, scalars: values))]
    let rank = shape.count
    if rank >= 2 {
        let reversedShape = Array(shape.reversed())
        var stored = [Float](repeating: .nan, count: values.count)
        for index in allIndices(shape) {
            stored[rowMajorPosition(reversedShape, index.reversed())] = values[rowMajorPosition(shape, index)]
        }
        let base = Tensor(shape: reversedShape, scalars: stored)
        result.append(("permuted", base.permuted(Array((0..<rank).reversed()))))
    }
    if rank >= 1 {
        let bigShape = shape.map { 2 * $0 + 1 }
        var stored = [Float](repeating: .nan, count: bigShape.reduce(1, *))
        for index in allIndices(shape) {
            stored[rowMajorPosition(bigShape, index.map { 2 * $0 + 1 })] = values[rowMajorPosition(shape, index)]
        }
        var view = Tensor(shape: bigShape, scalars: stored)
        for axis in 0..<rank { view = view.sliced(axis: axis, start: 1, step: 2) }
        result.append(("stepped slice", view))
    }
    return result
}

/// A broadcast view: a random tensor with size 1 at `axis`, expanded to `shape`.
func expandedTensor(_ shape: [Int], axis: Int, seed: UInt64) -> Tensor {
    var small = shape
    small[axis] = 1
    return randomTensor(small, seed: seed).expanded(to: shape)
}

/// Reference reduction: folds every element into the output position obtained by dropping
/// (or zeroing, with `keepingDims`) the reduced axes. Returns the output shape and values.
func naiveReduce(
    _ t: Tensor, axes: [Int]?, keepingDims: Bool, initial: Double, _ combine: (Double, Double) -> Double
) -> (shape: [Int], values: [Double]) {
    let reduced = Set((axes ?? Array(0..<t.rank)).map { $0 < 0 ? $0 + t.rank : $0 })
    let outShape = keepingDims
        ? t.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        : t.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
    var values = [Double](repeating: initial, count: outShape.reduce(1, *))
    for index in allIndices(t.shape) {
        let outIndex = keepingDims
            ? index.enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }
            : index.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
        let p = rowMajorPosition(outShape, outIndex)
        values[p] = combine(values[p], element(t, index))
    }
    return (outShape, values)
}
