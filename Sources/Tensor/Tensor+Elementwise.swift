// Elementwise arithmetic with NumPy broadcasting.
//
// Broadcasting (NumPy's rules): shapes are aligned at their last axis; two sizes are compatible
// when equal or when one of them is 1; missing leading axes count as 1. The result of a binary op
// is always a fresh contiguous tensor.

extension Tensor {
    /// The broadcast shape of two shapes under NumPy's rules, or nil if they are incompatible.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else { return nil }
        }
        return out
    }

    /// A new contiguous tensor with `transform` applied to every element.
    @inlinable
    public func map(_ transform: (Float) -> Float) -> Tensor {
        let n = count
        let out = TensorStorage(uninitializedCount: n)
        let dst = out.pointer, src = storage.pointer
        if isContiguous {
            let s = src + offset
            for i in 0..<n { dst[i] = transform(s[i]) }
        } else {
            var i = 0
            Tensor.forEachOffset(shape: shape, strides: strides, offset: offset) { dst[i] = transform(src[$0]); i += 1 }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// A new tensor combining `a` and `b` elementwise after broadcasting them to a common shape.
    @inlinable
    public static func zip(_ a: Tensor, _ b: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("cannot broadcast shapes \(a.shape) and \(b.shape)")
        }
        let n = elementCount(shape)
        let out = TensorStorage(uninitializedCount: n)
        let dst = out.pointer, pa = a.storage.pointer, pb = b.storage.pointer
        if a.shape == shape && b.shape == shape && a.isContiguous && b.isContiguous {
            let sa = pa + a.offset, sb = pb + b.offset
            for i in 0..<n { dst[i] = combine(sa[i], sb[i]) }
        } else if b.count == 1 && a.shape == shape && a.isContiguous {
            let sa = pa + a.offset, y = pb[b.offset]
            for i in 0..<n { dst[i] = combine(sa[i], y) }
        } else {
            let ea = a.expanded(to: shape), eb = b.expanded(to: shape)
            forEachOffset(shape: shape, ea.strides, ea.offset, eb.strides, eb.offset) { i, oa, ob in
                dst[i] = combine(pa[oa], pb[ob])
            }
        }
        return Tensor(storage: out, shape: shape, strides: contiguousStrides(shape))
    }

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(a, b, VectorAdd()) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(a, b, VectorSubtract()) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(a, b, VectorMultiply()) }
    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(a, b, VectorDivide()) }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) -> Tensor { binary(a, Tensor(s), VectorAdd()) }
    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) -> Tensor { binary(a, Tensor(s), VectorSubtract()) }
    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, s: Float) -> Tensor { binary(a, Tensor(s), VectorMultiply()) }
    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) -> Tensor { binary(a, Tensor(s), VectorDivide()) }
    /// Adds every element to a scalar.
    public static func + (s: Float, a: Tensor) -> Tensor { binary(Tensor(s), a, VectorAdd()) }
    /// Subtracts every element from a scalar.
    public static func - (s: Float, a: Tensor) -> Tensor { binary(Tensor(s), a, VectorSubtract()) }
    /// Multiplies a scalar by every element.
    public static func * (s: Float, a: Tensor) -> Tensor { binary(Tensor(s), a, VectorMultiply()) }
    /// Divides a scalar by every element.
    public static func / (s: Float, a: Tensor) -> Tensor { binary(Tensor(s), a, VectorDivide()) }
    /// Negates every element.
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    /// Adds `b` (broadcast to this tensor's shape) in place.
    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    /// Subtracts `b` (broadcast to this tensor's shape) in place.
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    /// Multiplies by `b` (broadcast to this tensor's shape) in place.
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    /// Divides by `b` (broadcast to this tensor's shape) in place.
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
    /// Multiplies every element by a scalar in place.
    public static func *= (a: inout Tensor, s: Float) { a = a * s }
    /// Adds a scalar to every element in place.
    public static func += (a: inout Tensor, s: Float) { a = a + s }
}

// MARK: - Vectorized binary arithmetic

/// One of the four arithmetic operators, on 16 lanes and on one element.
@usableFromInline
protocol VectorBinaryOperator: Sendable {
    /// The operator on 16 lanes.
    func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
    /// The operator on one element (tails and the general broadcasting path).
    func scalar(_ a: Float, _ b: Float) -> Float
}

@usableFromInline struct VectorAdd: VectorBinaryOperator {
    @usableFromInline init() {}
    @inlinable func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a + b }
    @inlinable func scalar(_ a: Float, _ b: Float) -> Float { a + b }
}
@usableFromInline struct VectorSubtract: VectorBinaryOperator {
    @usableFromInline init() {}
    @inlinable func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a - b }
    @inlinable func scalar(_ a: Float, _ b: Float) -> Float { a - b }
}
@usableFromInline struct VectorMultiply: VectorBinaryOperator {
    @usableFromInline init() {}
    @inlinable func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a * b }
    @inlinable func scalar(_ a: Float, _ b: Float) -> Float { a * b }
}
@usableFromInline struct VectorDivide: VectorBinaryOperator {
    @usableFromInline init() {}
    @inlinable func callAsFunction(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a / b }
    @inlinable func scalar(_ a: Float, _ b: Float) -> Float { a / b }
}

extension Tensor {
    /// `op` applied elementwise with broadcasting. Same-shape contiguous operands and a
    /// one-element operand take a 16-lane loop split across threads for large tensors, and so
    /// do a value broadcast over trailing axes (`trailingBroadcast`) and a row broadcast over
    /// leading axes (`leadingBroadcast`); other broadcasts take the general strided path of `zip`.
    @inlinable
    static func binary<Op: VectorBinaryOperator>(_ a: Tensor, _ b: Tensor, _ op: Op) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            preconditionFailure("cannot broadcast shapes \(a.shape) and \(b.shape)")
        }
        let n = elementCount(shape)
        // Fast when each operand is contiguous and either covers the result or is one element.
        guard a.isContiguous, b.isContiguous, a.count == n || a.count == 1, b.count == n || b.count == 1 else {
            return trailingBroadcast(a, b, shape, op) ?? leadingBroadcast(a, b, shape, op) ?? zip(a, b, op.scalar)
        }
        let out = TensorStorage(uninitializedCount: n)
        // Each chunk reads its own range of the inputs and writes its own range of `out`.
        nonisolated(unsafe) let pa = a.storage.pointer + a.offset
        nonisolated(unsafe) let pb = b.storage.pointer + b.offset
        nonisolated(unsafe) let dst = out.pointer
        let aStep = a.count == n ? 1 : 0, bStep = b.count == n ? 1 : 0
        parallelFor(chunking: n, minimumChunk: 1 << 15) { range in
            var i = range.lowerBound
            let sa = SIMD16<Float>(repeating: pa[0]), sb = SIMD16<Float>(repeating: pb[0])
            while i + 16 <= range.upperBound {
                let x = aStep == 1 ? UnsafeRawPointer(pa + i).loadUnaligned(as: SIMD16<Float>.self) : sa
                let y = bStep == 1 ? UnsafeRawPointer(pb + i).loadUnaligned(as: SIMD16<Float>.self) : sb
                UnsafeMutableRawPointer(dst + i).storeBytes(of: op(x, y), as: SIMD16<Float>.self)
                i += 16
            }
            while i < range.upperBound {
                dst[i] = op.scalar(pa[i * aStep], pb[i * bStep])
                i += 1
            }
        }
        return Tensor(storage: out, shape: shape, strides: contiguousStrides(shape))
    }

    /// `op` for a contiguous operand covering `shape` and a contiguous one that varies only along
    /// leading axes and is broadcast over the trailing ones (a per-channel value [N, C, 1, 1] or
    /// [C, 1, 1] against [N, C, H, W]: biases, time embeddings, scales), as a 16-lane loop over
    /// each run of `inner` elements that share one value, split across threads. Nil when the
    /// operands do not have this form or the runs are shorter than 16.
    @inlinable
    static func trailingBroadcast<Op: VectorBinaryOperator>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ op: Op) -> Tensor? {
        let n = elementCount(shape)
        guard let (full, small, smallIsLeft) = broadcastOperands(a, b, count: n) else { return nil }
        let padded = [Int](repeating: 1, count: shape.count - small.rank) + small.shape
        var split = shape.count
        while split > 0 && padded[split - 1] == 1 { split -= 1 }
        guard padded[..<split].elementsEqual(shape[..<split]) else { return nil }
        let inner = shape[split...].reduce(1, *)
        guard inner >= 16 else { return nil }
        return broadcastRows(full, small, smallIsLeft: smallIsLeft, rows: n / inner, inner: inner, valuePerRow: true,
                             shape: shape, op)
    }

    /// `op` for a contiguous operand covering `shape` and a contiguous one equal to its trailing
    /// axes, repeated along the leading ones (a bias [C] against [N, T, C]), as a 16-lane loop over
    /// each row of `inner` elements, split across threads. Nil when the operands do not have this form.
    @inlinable
    static func leadingBroadcast<Op: VectorBinaryOperator>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ op: Op) -> Tensor? {
        let n = elementCount(shape)
        guard let (full, small, smallIsLeft) = broadcastOperands(a, b, count: n) else { return nil }
        let inner = small.count
        guard inner > 0, small.rank <= shape.count else { return nil }
        // The small operand's shape, less its leading 1s, must be the result's trailing axes.
        let trimmed = small.shape.drop { $0 == 1 }
        guard shape.suffix(trimmed.count).elementsEqual(trimmed), elementCount(Array(trimmed)) == inner else { return nil }
        return broadcastRows(full, small, smallIsLeft: smallIsLeft, rows: n / inner, inner: inner, valuePerRow: false,
                             shape: shape, op)
    }

    /// For `trailingBroadcast` and `leadingBroadcast`: the contiguous operand of `n` elements, the
    /// smaller contiguous one, and whether the smaller is `a`; nil when the operands are not so.
    @inlinable
    static func broadcastOperands(_ a: Tensor, _ b: Tensor, count n: Int) -> (full: Tensor, small: Tensor, smallIsLeft: Bool)? {
        guard a.isContiguous, b.isContiguous, a.count == n || b.count == n, a.count != b.count else { return nil }
        return a.count < n ? (b, a, true) : (a, b, false)
    }

    /// The loop of `trailingBroadcast` and `leadingBroadcast`: row r of the contiguous `full`
    /// (`inner` elements) combined with element r of the contiguous `small`, repeated over the
    /// row (`valuePerRow`), or with `small`'s `inner` elements (otherwise), as a 16-lane loop
    /// with rows split across threads. `smallIsLeft` puts `small` on the left of `op`.
    @inlinable
    static func broadcastRows<Op: VectorBinaryOperator>(
        _ full: Tensor, _ small: Tensor, smallIsLeft: Bool, rows: Int, inner: Int, valuePerRow: Bool,
        shape: [Int], _ op: Op
    ) -> Tensor {
        let out = TensorStorage(uninitializedCount: rows * inner)
        // Each chunk of rows reads its own rows of `full` (and `small`) and writes its own rows of `out`.
        nonisolated(unsafe) let pf = full.storage.pointer + full.offset
        nonisolated(unsafe) let ps = small.storage.pointer + small.offset
        nonisolated(unsafe) let dst = out.pointer
        parallelFor(chunking: rows, minimumChunk: Swift.max(1, (1 << 15) / inner)) { range in
            for row in range {
                let source = pf + row * inner, target = dst + row * inner
                let splat = SIMD16<Float>(repeating: valuePerRow ? ps[row] : 0)
                var i = 0
                while i + 16 <= inner {
                    let x = UnsafeRawPointer(source + i).loadUnaligned(as: SIMD16<Float>.self)
                    let y = valuePerRow ? splat : UnsafeRawPointer(ps + i).loadUnaligned(as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(target + i).storeBytes(of: smallIsLeft ? op(y, x) : op(x, y), as: SIMD16<Float>.self)
                    i += 16
                }
                while i < inner {
                    let y = valuePerRow ? ps[row] : ps[i]
                    target[i] = smallIsLeft ? op.scalar(y, source[i]) : op.scalar(source[i], y)
                    i += 1
                }
            }
        }
        return Tensor(storage: out, shape: shape, strides: contiguousStrides(shape))
    }
}
