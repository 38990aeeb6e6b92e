// Strided copy: the one routine shape ops use to move a view's elements into another layout.
//
// Contract: `copyElements(of:to:strides:)` writes every element of a tensor (in any layout) to
// `destination + Σ index·stride`. Adjacent axes that are contiguous in both layouts are merged
// first, so copying a contiguous block into a slice of a contiguous tensor becomes a few long
// `memcpy`s instead of an element loop.

extension Tensor {
    /// Writes every element of this tensor to `destination` laid out with `destinationStrides`
    /// (one stride per axis of this tensor's shape).
    func copyElements(to destination: UnsafeMutablePointer<Float>, strides destinationStrides: [Int]) {
        precondition(destinationStrides.count == rank, "copyElements: \(destinationStrides.count) strides for rank \(rank)")
        if count == 0 { return }
        // Drop size-1 axes, then merge neighbours that are contiguous in both layouts.
        var sizes = [Int](), from = [Int](), to = [Int]()
        for a in 0..<rank where shape[a] != 1 {
            if let last = sizes.last, from.last! == strides[a] * shape[a], to.last! == destinationStrides[a] * shape[a] {
                sizes[sizes.count - 1] = last * shape[a]
                from[from.count - 1] = strides[a]
                to[to.count - 1] = destinationStrides[a]
            } else {
                sizes.append(shape[a]); from.append(strides[a]); to.append(destinationStrides[a])
            }
        }
        // Read-only source, kept alive by `storage`; the destination's runs are split between
        // threads below so that each writes its own elements.
        nonisolated(unsafe) let src = UnsafePointer(storage.pointer + offset)
        nonisolated(unsafe) let target = destination
        withExtendedLifetime(storage) {
            if sizes.isEmpty { target[0] = src[0]; return }
            let inner = sizes.removeLast(), innerFrom = from.removeLast(), innerTo = to.removeLast()
            let outerCount = sizes.reduce(1, *)
            // Runs `first ..< last` of the outer index, each `inner` elements long.
            let copyRuns: @Sendable (Range<Int>) -> Void = { [sizes, from, to] runs in
                // The odometer's start: run index → per-axis index and the two offsets.
                var index = [Int](repeating: 0, count: sizes.count)
                var a = 0, b = 0, rest = runs.lowerBound
                for axis in stride(from: sizes.count - 1, through: 0, by: -1) {
                    index[axis] = rest % sizes[axis]
                    rest /= sizes[axis]
                    a += index[axis] * from[axis]; b += index[axis] * to[axis]
                }
                for _ in runs {
                    if innerFrom == 1 && innerTo == 1 {
                        (target + b).update(from: src + a, count: inner)
                    } else {
                        for k in 0..<inner { target[b + k * innerTo] = src[a + k * innerFrom] }
                    }
                    // Advance the outer index like an odometer.
                    var axis = sizes.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        a += from[axis]; b += to[axis]
                        if index[axis] < sizes[axis] { break }
                        a -= from[axis] * sizes[axis]; b -= to[axis] * sizes[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
            if count >= parallelElementThreshold && outerCount > 1 {
                // Distinct indices map to distinct destination offsets, so chunks never overlap.
                parallelFor(chunking: outerCount, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / inner), copyRuns)
            } else {
                copyRuns(0..<outerCount)
            }
        }
    }
}
