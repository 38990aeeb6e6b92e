// HalfPrecisionTensor: a row-major array of 16-bit floats (binary16 or bfloat16) kept as stored.
//
// Contract: a `HalfPrecisionTensor` is immutable. Its bytes are either owned (a heap buffer
// written by `init(narrowing:format:)` or `init(shape:format:bitPatterns:)`) or borrowed from a
// memory-mapped safetensors file (`SafetensorsFile.halfPrecisionTensor(named:)`), in which case
// the tensor keeps the mapping alive and copies nothing. Compute stays Float32: `widened()` makes
// the exact Float32 `Tensor` (through `HalfPrecision`'s bulk converters, split across threads),
// and the GEMM reads the bits directly, widening them while it packs B
// (`Tensor.matmul(transposed:)`, Kernels/GEMM+HalfPrecision.swift). This is how model weights
// take half the memory of Float32 without a second rounding anywhere: widening is exact, so a
// product with the 16-bit weight equals the product with the widened weight bit for bit.
//
// Views: `reshaped` and `slicedRows` (a range of the first axis) share the bytes, as a row-major
// array allows without strides.

import Foundation

/// An immutable row-major array of binary16 or bfloat16 values, owned or mapped from a file.
public struct HalfPrecisionTensor: Sendable {
    /// The 16-bit storage formats.
    public enum Format: Sendable, Equatable, CaseIterable {
        /// IEEE binary16 (`Float16`): 5 exponent and 10 fraction bits.
        case float16
        /// bfloat16: the top 16 bits of a Float32 (8 exponent and 7 fraction bits).
        case bfloat16

        /// The safetensors dtype that stores this format.
        public var dtype: SafetensorsDType { self == .float16 ? .f16 : .bf16 }

        /// The format of a safetensors dtype; nil for F32 and the integer types.
        public init?(_ dtype: SafetensorsDType) {
            switch dtype {
            case .f16: self = .float16
            case .bf16: self = .bfloat16
            default: return nil
            }
        }
    }

    /// The size of each dimension, outermost first.
    public let shape: [Int]
    /// How the 16 bits of each element are read.
    public let format: Format
    /// The bytes (owned or mapped).
    let storage: HalfPrecisionStorage
    /// Where element 0 starts in `storage`, in bytes.
    let byteOffset: Int

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { Tensor.elementCount(shape) }
    /// The number of bytes the elements take (2 per element).
    public var byteCount: Int { 2 * count }
    /// Whether the bytes are borrowed from a memory-mapped file rather than owned.
    public var isMapped: Bool { storage.owner != nil }

    /// For a tensor mapped from a file, tells the OS that its pages are not needed for now
    /// (`madvise(MADV_DONTNEED)` on the whole pages inside its bytes), so resident memory drops
    /// by about its size. The tensor stays valid: the next read faults the pages back in from
    /// the file (usually from the page cache). The mapping is private and never written, so
    /// nothing is lost. Does nothing for a tensor in its own heap buffer.
    public func releaseResidentPages() {
        guard isMapped, byteCount > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: storage.base + byteOffset), end = start + byteCount
        let first = (start + page - 1) / page * page, last = end / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, last - first, Int32(MADV_DONTNEED))
    }

    /// A tensor over `count` elements at `storage + byteOffset`.
    init(shape: [Int], format: Format, storage: HalfPrecisionStorage, byteOffset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "HalfPrecisionTensor: negative size in shape \(shape)")
        precondition(byteOffset >= 0 && byteOffset + 2 * Tensor.elementCount(shape) <= storage.byteCount,
                     "HalfPrecisionTensor: shape \(shape) does not fit \(storage.byteCount - byteOffset) bytes")
        self.shape = shape
        self.format = format
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// A tensor of the given 16-bit patterns, in row-major order.
    public init(shape: [Int], format: Format, bitPatterns: [UInt16]) {
        let n = Tensor.elementCount(shape)
        precondition(bitPatterns.count == n, "HalfPrecisionTensor(shape: \(shape)) needs \(n) values, got \(bitPatterns.count)")
        let storage = HalfPrecisionStorage(allocatingByteCount: 2 * n)
        bitPatterns.withUnsafeBytes { storage.mutableBase.copyMemory(from: $0.baseAddress!, byteCount: 2 * n) }
        self.init(shape: shape, format: format, storage: storage)
    }

    /// `tensor` rounded to `format` (to nearest, ties to even; see `HalfPrecision`), in a new
    /// owned buffer.
    public init(narrowing tensor: Tensor, format: Format) {
        let source = tensor.contiguous()
        let n = source.count
        let storage = HalfPrecisionStorage(allocatingByteCount: 2 * n)
        // Each chunk writes its own range of the new buffer.
        nonisolated(unsafe) let from = source.storage.pointer + source.offset
        nonisolated(unsafe) let to = storage.mutableBase
        parallelFor(chunking: n, minimumChunk: 1 << 16) { range in
            switch format {
            case .float16: HalfPrecision.convertFloatToFloat16(from + range.lowerBound, to + 2 * range.lowerBound, count: range.count)
            case .bfloat16: HalfPrecision.convertFloatToBFloat16(from + range.lowerBound, to + 2 * range.lowerBound, count: range.count)
            }
        }
        withExtendedLifetime(source) {}
        self.init(shape: tensor.shape, format: format, storage: storage)
    }

    /// The exact Float32 values as a new contiguous `Tensor` (twice the bytes of this one).
    public func widened() -> Tensor {
        let n = count
        let out = TensorStorage(uninitializedCount: n)
        // Each chunk writes its own range of the new tensor.
        nonisolated(unsafe) let to = out.pointer
        let (source, format) = (self, self.format)
        parallelFor(chunking: n, minimumChunk: 1 << 16) { range in
            source.withUnsafeBytes { bytes in
                HalfPrecisionTensor.widen(bytes.baseAddress! + 2 * range.lowerBound, format: format,
                                          into: to + range.lowerBound, count: range.count)
            }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Rows `indices` of the first axis widened to Float32, [indices.count, rest of the shape]
    /// (an embedding lookup that widens only the rows it returns).
    public func widenedRows(at indices: [Int]) -> Tensor {
        precondition(rank >= 1, "widenedRows: a rank-0 tensor has no rows")
        let rows = shape[0], rowLength = count / Swift.max(rows, 1)
        precondition(indices.allSatisfy { $0 >= 0 && $0 < rows }, "widenedRows: an index is outside 0..<\(rows)")
        let resultShape = [indices.count] + shape.dropFirst()
        let out = TensorStorage(uninitializedCount: indices.count * rowLength)
        withUnsafeBytes { bytes in
            for (row, index) in indices.enumerated() {
                HalfPrecisionTensor.widen(bytes.baseAddress! + 2 * index * rowLength, format: format,
                                          into: out.pointer + row * rowLength, count: rowLength)
            }
        }
        return Tensor(storage: out, shape: resultShape, strides: Tensor.contiguousStrides(resultShape))
    }

    /// The same elements under a new shape with the same element count (one size may be -1,
    /// inferred). Shares the bytes.
    public func reshaped(_ newShape: [Int]) -> HalfPrecisionTensor {
        var newShape = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) elements")
            newShape[inferred] = count / known
        }
        precondition(Tensor.elementCount(newShape) == count,
                     "reshape: shape \(shape) has \(count) elements, \(newShape) has \(Tensor.elementCount(newShape))")
        return HalfPrecisionTensor(shape: newShape, format: format, storage: storage, byteOffset: byteOffset)
    }

    /// Rows `range` of the first axis (contiguous in a row-major array). Shares the bytes.
    public func slicedRows(_ range: Range<Int>) -> HalfPrecisionTensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "slicedRows: rows \(range) are outside the first axis of \(shape)")
        let rowLength = shape.dropFirst().reduce(1, *)
        return HalfPrecisionTensor(shape: [range.count] + shape.dropFirst(), format: format, storage: storage,
                                   byteOffset: byteOffset + 2 * range.lowerBound * rowLength)
    }

    /// The 16-bit patterns in row-major order.
    public var bitPatterns: [UInt16] {
        withUnsafeBytes { bytes in (0..<count).map { bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) } }
    }

    /// Calls `body` with the elements' bytes (little-endian 16-bit values; read them with
    /// unaligned loads), valid only during the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeRawBufferPointer(start: storage.base + byteOffset, count: byteCount))
        }
    }

    /// Widens `count` values of `format` at `source` into `destination` (exact), through the bulk
    /// converters of `HalfPrecision` (vectorized loops; F16C `vcvtph2ps` for binary16).
    @inline(__always)
    static func widen(_ source: UnsafeRawPointer, format: Format, into destination: UnsafeMutablePointer<Float>, count: Int) {
        switch format {
        case .float16: HalfPrecision.convertFloat16ToFloat(source, destination, count: count)
        case .bfloat16: HalfPrecision.convertBFloat16ToFloat(source, destination, count: count)
        }
    }
}

/// The bytes behind one or more `HalfPrecisionTensor`s: a heap buffer this object frees, or a
/// range of a mapped file whose mapping (`owner`) it keeps alive.
final class HalfPrecisionStorage: @unchecked Sendable {
    // @unchecked: the bytes are never written after the initializer that fills them returns.
    /// The first byte.
    let base: UnsafeRawPointer
    /// The number of bytes.
    let byteCount: Int
    /// The object that owns mapped bytes (a safetensors file's mapping); nil for a heap buffer.
    let owner: (any AnyObject & Sendable)?

    /// A new heap buffer of `byteCount` bytes, 64-byte aligned, for the initializer to fill.
    init(allocatingByteCount byteCount: Int) {
        base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 2), alignment: 64))
        self.byteCount = byteCount
        owner = nil
    }

    /// `byteCount` bytes at `base` that stay valid while `owner` lives.
    init(borrowing base: UnsafeRawPointer, byteCount: Int, owner: any AnyObject & Sendable) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
    }

    /// The heap buffer, for the initializer that fills it.
    var mutableBase: UnsafeMutableRawPointer { UnsafeMutableRawPointer(mutating: base) }

    deinit { if owner == nil { UnsafeMutableRawPointer(mutating: base).deallocate() } }
}
