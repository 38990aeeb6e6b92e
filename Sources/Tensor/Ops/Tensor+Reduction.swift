// Reductions: sum, mean, max, min, variance, argmax and log-sum-exp over any set of axes.
//
// Contract: `axes` may be negative (−1 is the last axis) and must not repeat; nil means every
// axis, and an empty list reduces nothing (the result is a copy). With `keepingDims` the
// reduced axes stay as size 1, otherwise they are removed (reducing every axis gives rank 0).
// Sums are accumulated in blocks of Float lanes whose partial sums are added in Double, so
// the error does not grow with the tensor's size; variance is two-pass (mean first, then
// squared deviations). max/min/argmax propagate NaN as PyTorch does.
//
// How: the input is seen as a contiguous block [outer, reduced, inner]. A contiguous tensor
// whose reduced axes are adjacent is used as it is (last-axis reductions are row sums,
// leading-axis reductions accumulate whole rows of `inner` columns); any other case is
// permuted so the reduced axes come last and copied once.

import Foundation

/// A reduction's input seen as a contiguous block `[outer, reduced, inner]`.
@usableFromInline
struct ReductionPlan {
    /// A contiguous tensor holding the elements in `[outer, reduced, inner]` order.
    var source: Tensor
    var outer: Int, reduced: Int, inner: Int
    /// The result's shape with the reduced axes kept as size 1.
    var keptShape: [Int]
    /// The result's shape without the reduced axes.
    var droppedShape: [Int]

    /// The result shape requested by `keepingDims`.
    func resultShape(keepingDims: Bool) -> [Int] { keepingDims ? keptShape : droppedShape }
}

/// What a reduction kernel computes per output element.
@usableFromInline
enum ReductionKind: Sendable {
    /// Σx times a scale (1 for sum, 1/n for mean), accumulated in Double.
    case sum(scale: Double)
    /// The largest (`max`) or smallest element; NaN wins.
    case extremum(isMax: Bool)
}

extension Tensor {
    /// Normalized, duplicate-free axes to reduce (`nil` → every axis).
    func reductionAxes(_ axes: [Int]?) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let normalized = axes.map { normalizedAxis($0) }
        precondition(Set(normalized).count == normalized.count, "reduction: axis repeated in \(axes)")
        return normalized.sorted()
    }

    /// Plans a reduction over `axes` (see the file comment).
    func reductionPlan(axes: [Int]) -> ReductionPlan {
        let reducedSet = Set(axes)
        var keptShape = shape
        for a in axes { keptShape[a] = 1 }
        let droppedShape = (0..<rank).filter { !reducedSet.contains($0) }.map { shape[$0] }
        let reducedCount = axes.reduce(1) { $0 * shape[$1] }
        if isContiguous {
            // Size-1 axes do not matter for the layout; the other reduced axes must be adjacent.
            let sized = (0..<rank).filter { shape[$0] != 1 }
            let sizedReduced = sized.filter { reducedSet.contains($0) }
            guard let first = sizedReduced.first, let last = sizedReduced.last else {
                return ReductionPlan(source: self, outer: count, reduced: 1, inner: 1,
                                     keptShape: keptShape, droppedShape: droppedShape)
            }
            let span = sized.firstIndex(of: last)! - sized.firstIndex(of: first)! + 1
            if span == sizedReduced.count {
                let outer = shape[..<first].reduce(1, *), inner = shape[(last + 1)...].reduce(1, *)
                return ReductionPlan(source: self, outer: outer, reduced: reducedCount, inner: inner,
                                     keptShape: keptShape, droppedShape: droppedShape)
            }
        }
        let keptAxes = (0..<rank).filter { !reducedSet.contains($0) }
        let source = permuted(keptAxes + axes).contiguous()
        return ReductionPlan(source: source, outer: count / Swift.max(reducedCount, 1), reduced: reducedCount, inner: 1,
                             keptShape: keptShape, droppedShape: droppedShape)
    }

    /// Runs a sum or extremum reduction over `axes` and shapes the result.
    func reduce(axes: [Int]?, keepingDims: Bool, kind: ReductionKind, name: String) -> Tensor {
        let axes = reductionAxes(axes)
        let plan = reductionPlan(axes: axes)
        if case .extremum = kind {
            precondition(plan.reduced > 0 || plan.outer * plan.inner == 0,
                         "\(name): cannot reduce an empty axis of shape \(shape) over axes \(axes)")
        }
        let resultShape = plan.resultShape(keepingDims: keepingDims)
        let out = TensorStorage(uninitializedCount: plan.outer * plan.inner)
        withExtendedLifetime(plan.source) {
            let src = UnsafePointer(plan.source.storage.pointer + plan.source.offset)
            runReduction(kind, src, out.pointer, outer: plan.outer, reduced: plan.reduced, inner: plan.inner)
        }
        return Tensor(storage: out, shape: resultShape, strides: Tensor.contiguousStrides(resultShape))
    }

    /// The sum of the elements over `axes` (every axis when nil).
    public func sum(axes: [Int]? = nil, keepingDims: Bool = false) -> Tensor {
        reduce(axes: axes, keepingDims: keepingDims, kind: .sum(scale: 1), name: "sum")
    }

    /// The mean of the elements over `axes` (every axis when nil); NaN for an empty reduction.
    public func mean(axes: [Int]? = nil, keepingDims: Bool = false) -> Tensor {
        let n = reductionAxes(axes).reduce(1) { $0 * shape[$1] }
        return reduce(axes: axes, keepingDims: keepingDims, kind: .sum(scale: n == 0 ? .nan : 1 / Double(n)), name: "mean")
    }

    /// The largest element over `axes` (every axis when nil); NaN if any element is NaN.
    public func max(axes: [Int]? = nil, keepingDims: Bool = false) -> Tensor {
        reduce(axes: axes, keepingDims: keepingDims, kind: .extremum(isMax: true), name: "max")
    }

    /// The smallest element over `axes` (every axis when nil); NaN if any element is NaN.
    public func min(axes: [Int]? = nil, keepingDims: Bool = false) -> Tensor {
        reduce(axes: axes, keepingDims: keepingDims, kind: .extremum(isMax: false), name: "min")
    }

    /// The variance over `axes`, Σ(x − mean)² / (n − correction), computed in two passes.
    /// `correction: 1` gives the unbiased estimator (Bessel's correction); `0` the population
    /// variance, as in `torch.var(correction:)`. The divisor is clamped at 0 (giving inf or NaN).
    public func variance(axes: [Int]? = nil, correction: Int = 0, keepingDims: Bool = false) -> Tensor {
        let reduced = reductionAxes(axes)
        let n = reduced.reduce(1) { $0 * shape[$1] }
        let mean = self.mean(axes: reduced, keepingDims: true)
        let squaredDeviations = (self - mean).square()
        let divisor = Double(Swift.max(0, n - correction))
        return squaredDeviations.reduce(axes: reduced, keepingDims: keepingDims, kind: .sum(scale: 1 / divisor), name: "variance")
    }

    /// The index of the largest element along `axis` (the first one on ties; a NaN counts as
    /// largest), stored as Float.
    public func argmax(axis: Int, keepingDims: Bool = false) -> Tensor {
        let axis = normalizedAxis(axis)
        let plan = reductionPlan(axes: [axis])
        precondition(plan.reduced > 0, "argmax: axis \(axis) of shape \(shape) is empty")
        let resultShape = plan.resultShape(keepingDims: keepingDims)
        let out = TensorStorage(uninitializedCount: plan.outer * plan.inner)
        let (outer, reduced, inner) = (plan.outer, plan.reduced, plan.inner)
        withExtendedLifetime(plan.source) {
            // Each task writes only the outputs of its own (outer, column) positions.
            nonisolated(unsafe) let src = UnsafePointer(plan.source.storage.pointer + plan.source.offset)
            nonisolated(unsafe) let dst = out.pointer
            let tasks = outer * inner
            let body: @Sendable (Range<Int>) -> Void = { range in
                for t in range {
                    let o = t / inner, j = t % inner
                    let base = src + o * reduced * inner + j
                    var best = base[0], index = 0
                    for r in 1..<Swift.max(reduced, 1) {
                        let v = base[r * inner]
                        if v > best || (v != v && best == best) { best = v; index = r }
                    }
                    dst[t] = Float(index)
                }
            }
            if tasks * reduced < parallelElementThreshold { body(0..<tasks) } else {
                parallelFor(chunking: tasks, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / reduced), body)
            }
        }
        return Tensor(storage: out, shape: resultShape, strides: Tensor.contiguousStrides(resultShape))
    }

    /// log Σ e^x over `axes`, computed stably as m + log Σ e^(x − m) with m the maximum
    /// (an all −inf slice gives −inf; +inf gives +inf).
    public func logSumExp(axes: [Int], keepingDims: Bool = false) -> Tensor {
        let reduced = reductionAxes(axes)
        // A non-finite maximum is replaced by 0 for the shift so that inf − inf never occurs.
        let shift = self.max(axes: reduced, keepingDims: true).applying(FiniteOrZeroFunction())
        let sums = (self - shift).exp().sum(axes: reduced, keepingDims: true)
        let result = sums.log() + shift
        return keepingDims ? result : result.reshaped(reductionPlan(axes: reduced).droppedShape)
    }
}

/// x where x is finite or NaN, 0 where x is ±inf.
@usableFromInline struct FiniteOrZeroFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let magnitude = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & SIMD16(repeating: 0x7FFF_FFFF), to: SIMD16<Float>.self)
        return x.replacing(with: 0, where: magnitude .== .infinity)
    }
}

// MARK: - Kernels

/// Σ p[0..<n], summed in blocks of 1024 on 32 Float lanes, each block's total added in Double.
@inline(__always) @usableFromInline
func blockedSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var i = 0
    while i < n {
        let end = Swift.min(n, i + 1024)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        while i + 32 <= end { a0 += load16(p + i); a1 += load16(p + i + 16); i += 32 }
        if i + 16 <= end { a0 += load16(p + i); i += 16 }
        if i < end { a1 += loadPartial16(p + i, end - i); i = end }
        total += Double((a0 + a1).sum())
    }
    return total
}

/// The largest (`isMax`) or smallest of p[0..<n] (n > 0); a NaN anywhere gives NaN.
@inline(__always) @usableFromInline
func extremum(_ p: UnsafePointer<Float>, _ n: Int, isMax: Bool) -> Float {
    let fill: Float = isMax ? -.infinity : .infinity
    var m = SIMD16<Float>(repeating: fill)
    var i = 0
    while i + 16 <= n {
        let v = load16(p + i)
        m = m.replacing(with: v, where: (isMax ? v .> m : v .< m) .| (v .!= v))
        i += 16
    }
    if i < n {
        let v = loadPartial16(p + i, n - i, padding: fill)
        m = m.replacing(with: v, where: (isMax ? v .> m : v .< m) .| (v .!= v))
    }
    var result = m[0]
    for j in 1..<16 { result = combineExtremum(result, m[j], isMax: isMax) }
    return result
}

/// The better of two candidates for max/min, NaN winning.
@inline(__always) @usableFromInline
func combineExtremum(_ a: Float, _ b: Float, isMax: Bool) -> Float {
    if a != a { return a }
    if b != b { return b }
    return isMax ? Swift.max(a, b) : Swift.min(a, b)
}

/// Reduces the contiguous block `src` = [outer, reduced, inner] to `dst` = [outer, inner].
func runReduction(
    _ kind: ReductionKind, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    outer: Int, reduced: Int, inner: Int
) {
    let total = outer * reduced * inner
    if outer * inner == 0 { return }
    // Kernels write only the outputs of their own rows or (row, column block) tasks.
    nonisolated(unsafe) let src = src
    nonisolated(unsafe) let dst = dst
    if inner == 1 {
        // Row reductions: one output per contiguous row of `reduced` elements.
        @Sendable func row(_ o: Int) -> Float {
            let p = src + o * reduced
            switch kind {
            case .sum(let scale): return Float(blockedSum(p, reduced) * scale)
            case .extremum(let isMax): return extremum(p, reduced, isMax: isMax)
            }
        }
        if total < parallelElementThreshold {
            for o in 0..<outer { dst[o] = row(o) }
        } else if outer >= Parallel.threadCount {
            parallelFor(chunking: outer, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / Swift.max(reduced, 1))) { range in
                for o in range { dst[o] = row(o) }
            }
        } else {
            // Few long rows: split each row into chunks and combine the partial results in order.
            let chunks = Parallel.threadCount
            let size = (reduced + chunks - 1) / chunks
            let partials = UnsafeMutablePointer<Double>.allocate(capacity: chunks)
            defer { partials.deallocate() }
            partials.initialize(repeating: 0, count: chunks)
            nonisolated(unsafe) let part = partials  // chunk c writes part[c] only
            for o in 0..<outer {
                nonisolated(unsafe) let p = src + o * reduced  // chunks read disjoint ranges
                parallelFor(chunks) { c in
                    let start = c * size, end = Swift.min(reduced, start + size)
                    guard start < end else { return }
                    switch kind {
                    case .sum: part[c] = blockedSum(p + start, end - start)
                    case .extremum(let isMax): part[c] = Double(extremum(p + start, end - start, isMax: isMax))
                    }
                }
                let used = (reduced + size - 1) / size
                switch kind {
                case .sum(let scale):
                    var s = 0.0
                    for c in 0..<used { s += part[c] }
                    dst[o] = Float(s * scale)
                case .extremum(let isMax):
                    var m = Float(part[0])
                    for c in 1..<used { m = combineExtremum(m, Float(part[c]), isMax: isMax) }
                    dst[o] = m
                }
            }
        }
        return
    }
    // Column reductions: accumulate `reduced` rows of `inner` columns, in blocks of columns.
    let block = 2048
    let blocksPerRow = (inner + block - 1) / block
    let tasks = outer * blocksPerRow
    let task: @Sendable (Int) -> Void = { t in
        let o = t / blocksPerRow, start = (t % blocksPerRow) * block
        let width = Swift.min(block, inner - start)
        let base = src + o * reduced * inner + start
        let out = dst + o * inner + start
        switch kind {
        case .sum(let scale):
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: width)
            defer { acc.deallocate() }
            acc.initialize(repeating: 0, count: width)
            for r in 0..<reduced {
                let p = base + r * inner
                for j in 0..<width { acc[j] += Double(p[j]) }
            }
            for j in 0..<width { out[j] = Float(acc[j] * scale) }
        case .extremum(let isMax):
            out.update(from: base, count: width)
            for r in 1..<Swift.max(reduced, 1) {
                let p = base + r * inner
                for j in 0..<width {
                    let v = p[j], m = out[j]
                    out[j] = ((isMax ? v > m : v < m) || v != v) && m == m ? v : m
                }
            }
        }
    }
    if total < parallelElementThreshold {
        for t in 0..<tasks { task(t) }
    } else {
        parallelFor(tasks, task)
    }
}
