// Softmax and log-softmax along one axis, numerically stable.
//
// Contract: softmax(x)_i = e^(x_i − m) / Σ_j e^(x_j − m) and
// logSoftmax(x)_i = (x_i − m) − log Σ_j e^(x_j − m), with m = max_j x_j (subtracting the maximum
// changes nothing mathematically and keeps every exponent ≤ 0, so nothing overflows; see
// Goodfellow, Bengio & Courville, "Deep Learning", §4.1). A slice that is entirely −inf gives
// NaN, as in PyTorch. The result is a new contiguous tensor of the same shape.
//
// How: rows along the last axis of a contiguous tensor are processed in place of the output,
// 16 lanes at a time, rows split across threads for large tensors. Another axis is moved last
// (one copy), processed, and moved back (one more copy).

import Foundation

extension Tensor {
    /// The softmax along `axis`: non-negative values that sum to 1 over that axis.
    public func softmax(axis: Int = -1) -> Tensor { rowwise(axis: axis, logarithm: false) }

    /// The logarithm of the softmax along `axis`, computed without forming the softmax.
    public func logSoftmax(axis: Int = -1) -> Tensor { rowwise(axis: axis, logarithm: true) }

    /// Applies (log-)softmax along `axis` by running the last-axis kernel on a moved copy if needed.
    private func rowwise(axis: Int, logarithm: Bool) -> Tensor {
        if rank == 0 { return reshaped([1]).softmaxLastAxis(logarithm: logarithm).reshaped([]) }
        let axis = normalizedAxis(axis)
        if axis == rank - 1 { return softmaxLastAxis(logarithm: logarithm) }
        var order = Array(0..<rank)
        order.remove(at: axis)
        order.append(axis)
        var inverse = [Int](repeating: 0, count: rank)
        for (position, a) in order.enumerated() { inverse[a] = position }
        return permuted(order).softmaxLastAxis(logarithm: logarithm).permuted(inverse).contiguous()
    }

    /// (Log-)softmax over the last axis.
    private func softmaxLastAxis(logarithm: Bool) -> Tensor {
        let n = count
        let length = shape[rank - 1]
        let rows = length == 0 ? 0 : n / length
        let out = TensorStorage(uninitializedCount: n)
        let source = contiguous()
        withExtendedLifetime(source) {
            // Each row reads and writes only its own elements.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            let body: @Sendable (Range<Int>) -> Void = { range in
                for r in range { softmaxRow(src + r * length, dst + r * length, length, logarithm: logarithm) }
            }
            if n < parallelElementThreshold { body(0..<rows) } else {
                parallelFor(chunking: rows, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / length), body)
            }
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }
}

/// Writes the (log-)softmax of the `n` floats at `x` to `y`.
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, logarithm: Bool) {
    let m = extremum(x, n, isMax: true)
    let shift = SIMD16<Float>(repeating: m)
    var sum = SIMD16<Float>()
    var i = 0
    if logarithm {
        while i + 16 <= n { sum += VectorMath.exp(load16(x + i) - shift); i += 16 }
        if i < n {
            // Padding lanes hold −inf so that they add e^−inf = 0.
            sum += VectorMath.exp(loadPartial16(x + i, n - i, padding: -.infinity) - shift)
        }
        // (x − m) − log Σ: subtracting m first keeps the small differences exact (x − (m + log Σ)
        // would round m + log Σ at the scale of m, e.g. 3e−5 for m = 1000).
        let logTotal = SIMD16<Float>(repeating: Foundation.log(sum.sum()))
        i = 0
        while i + 16 <= n { store16((load16(x + i) - shift) - logTotal, y + i); i += 16 }
        if i < n { storePartial16((loadPartial16(x + i, n - i) - shift) - logTotal, y + i, n - i) }
    } else {
        while i + 16 <= n {
            let e = VectorMath.exp(load16(x + i) - shift)
            store16(e, y + i)
            sum += e
            i += 16
        }
        if i < n {
            let e = VectorMath.exp(loadPartial16(x + i, n - i, padding: -.infinity) - shift)
            storePartial16(e, y + i, n - i)
            sum += e
        }
        let scale = SIMD16<Float>(repeating: 1 / sum.sum())
        i = 0
        while i + 16 <= n { store16(load16(y + i) * scale, y + i); i += 16 }
        if i < n { storePartial16(loadPartial16(y + i, n - i) * scale, y + i, n - i) }
    }
}
