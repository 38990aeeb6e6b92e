// Tensor: an n-dimensional array of Float32 with value semantics.
//
// Contract: a `Tensor` is a view (shape, strides, offset) into a reference-counted
// `TensorStorage`. Views (reshape of a contiguous tensor, permute, slice, expand, squeeze,
// unsqueeze) share storage and cost no copy. Mutation goes through copy-on-write: a tensor
// whose storage is shared is copied to a fresh contiguous buffer before it is written, so a
// `Tensor` behaves like any Swift value. Compute is Float32; Float16/BFloat16 are storage
// formats converted on load (see `IO/HalfPrecision.swift`).
//
// Shape errors in arithmetic are programmer errors and stop with a `precondition` naming the
// shapes, as Swift's own collections do; bad *input* (files, configurations, user options) is
// reported with thrown errors elsewhere.

import Foundation

/// A reference-counted, 64-byte aligned buffer of `Float` values shared by tensor views.
public final class TensorStorage: @unchecked Sendable {
    /// The first element of the buffer.
    public let pointer: UnsafeMutablePointer<Float>
    /// The number of `Float` elements the buffer holds.
    public let count: Int

    /// Allocates an uninitialized buffer of `count` elements.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        self.count = count
    }

    /// Allocates a buffer of `count` elements, each equal to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// An n-dimensional array of `Float` with NumPy-style shapes and strides and value semantics.
public struct Tensor: Sendable {
    /// The size of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The distance in elements between neighbours along each dimension (0 for broadcast axes).
    public private(set) var strides: [Int]
    /// The position of element `[0, 0, ...]` in `storage`.
    public private(set) var offset: Int
    /// The buffer this tensor is a view of.
    public private(set) var storage: TensorStorage

    /// Creates a view of `storage`. The caller guarantees every addressed element is in bounds.
    public init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int = 0) {
        precondition(shape.count == strides.count, "Tensor: \(shape.count) sizes but \(strides.count) strides")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative size in shape \(shape)")
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// Creates a contiguous tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        let n = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(count: n, repeating: value), shape: shape,
                  strides: Tensor.contiguousStrides(shape))
    }

    /// Creates a contiguous tensor of the given shape from elements listed in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        let n = Tensor.elementCount(shape)
        precondition(scalars.count == n, "Tensor(shape: \(shape)) needs \(n) scalars, got \(scalars.count)")
        let storage = TensorStorage(uninitializedCount: n)
        scalars.withUnsafeBufferPointer { storage.pointer.initialize(from: $0.baseAddress!, count: n) }
        self.init(storage: storage, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Creates a contiguous tensor whose elements are written by `body` in row-major order.
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = Tensor.elementCount(shape)
        let storage = TensorStorage(count: n, repeating: 0)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: n))
        self.init(storage: storage, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// Creates a rank-0 tensor holding one value.
    public init(_ scalar: Float) {
        self.init(shape: [], scalars: [scalar])
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

    /// The values `start, start + step, ...` below `end`, as a rank-1 tensor (like `torch.arange`).
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int((Double(end - start) / Double(step)).rounded(.up)))
        return Tensor(shape: [n]) { for i in 0..<n { $0[i] = start + Float(i) * step } }
    }

    /// `count` evenly spaced values from `start` to `end` inclusive (like `torch.linspace`).
    public static func linspace(_ start: Float, _ end: Float, count: Int) -> Tensor {
        precondition(count >= 0, "linspace: negative count")
        return Tensor(shape: [count]) { buffer in
            let step = count > 1 ? (Double(end) - Double(start)) / Double(count - 1) : 0
            for i in 0..<count { buffer[i] = Float(Double(start) + Double(i) * step) }
            if count > 1 { buffer[count - 1] = end }
        }
    }

    // MARK: - Properties

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { Tensor.elementCount(shape) }
    /// Whether the elements are laid out in row-major order without gaps (size-1 axes ignored).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The product of the sizes in `shape`.
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = step
            step *= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// Normalizes a possibly negative axis (`-1` is the last) and checks it is in range.
    public func normalizedAxis(_ axis: Int, rank r: Int? = nil) -> Int {
        let r = r ?? rank
        let a = axis < 0 ? axis + r : axis
        precondition(a >= 0 && a < Swift.max(r, 1), "axis \(axis) out of range for rank \(r)")
        return a
    }

    // MARK: - Element access

    /// The elements in row-major (logical) order.
    public var scalars: [Float] {
        if isContiguous {
            return Array(UnsafeBufferPointer(start: storage.pointer + offset, count: count))
        }
        var out = [Float]()
        out.reserveCapacity(count)
        let p = storage.pointer
        Tensor.forEachOffset(shape: shape, strides: strides, offset: offset) { out.append(p[$0]) }
        return out
    }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer[offset]
    }

    /// The storage position of the element at `indices`.
    @inlinable
    public func storageIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "index \(indices) has \(indices.count) coordinates; tensor has rank \(rank)")
        var position = offset
        for axis in 0..<rank {
            let i = indices[axis]
            precondition(i >= 0 && i < shape[axis], "index \(indices) out of range for shape \(shape)")
            position += i * strides[axis]
        }
        return position
    }

    /// Reads or writes one element.
    public subscript(_ indices: Int...) -> Float {
        get { storage.pointer[storageIndex(indices)] }
        set {
            makeUniqueContiguous()
            storage.pointer[storageIndex(indices)] = newValue
        }
    }

    /// Calls `body` with the elements in row-major order, copying only when the tensor is not contiguous.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if isContiguous {
            return try body(UnsafeBufferPointer(start: storage.pointer + offset, count: count))
        }
        let c = contiguous()
        return try body(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// Calls `body` with writable elements in row-major order. The tensor first becomes the
    /// unique, contiguous owner of its buffer (copy-on-write), so writes never reach another value.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        makeUniqueContiguous()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer + offset, count: count))
    }

    /// Copies into a fresh contiguous buffer unless this tensor already is the contiguous sole
    /// owner of a buffer with no broadcast (stride 0) axes.
    @usableFromInline
    mutating func makeUniqueContiguous() {
        if isKnownUniquelyReferenced(&storage) && isContiguous { return }
        self = contiguous(forceCopy: true)
    }

    // MARK: - Strided iteration

    /// Calls `body` with the storage offset of every element, in row-major order of `shape`.
    @inlinable
    public static func forEachOffset(shape: [Int], strides: [Int], offset: Int, _ body: (Int) -> Void) {
        let n = elementCount(shape)
        if n == 0 { return }
        let rank = shape.count
        if rank == 0 { body(offset); return }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var base = offset
        var done = 0
        while done < n {
            var o = base
            for _ in 0..<inner { body(o); o += innerStride }
            done += inner
            // Advance the outer index like an odometer.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                base += strides[axis]
                if index[axis] < shape[axis] { break }
                base -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Calls `body(i, a, b)` for every element `i` (row-major over `shape`) with the storage
    /// offsets of the matching elements of two views of that shape.
    @inlinable
    public static func forEachOffset(
        shape: [Int], _ stridesA: [Int], _ offsetA: Int, _ stridesB: [Int], _ offsetB: Int,
        _ body: (Int, Int, Int) -> Void
    ) {
        let n = elementCount(shape)
        if n == 0 { return }
        let rank = shape.count
        if rank == 0 { body(0, offsetA, offsetB); return }
        let inner = shape[rank - 1], sa = stridesA[rank - 1], sb = stridesB[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var baseA = offsetA, baseB = offsetB
        var done = 0
        while done < n {
            var a = baseA, b = baseB
            for k in 0..<inner { body(done + k, a, b); a += sa; b += sb }
            done += inner
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                baseA += stridesA[axis]
                baseB += stridesB[axis]
                if index[axis] < shape[axis] { break }
                baseA -= stridesA[axis] * shape[axis]
                baseB -= stridesB[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// A short description: the shape and up to the first eight elements.
    public var description: String {
        let values = scalars
        let shown = values.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(values.count > 8 ? ", ..." : "")])"
    }
}
