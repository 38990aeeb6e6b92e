// Views: new shapes and strides over the same storage, without copying elements.
// Only `contiguous()` (and `reshaped` of a non-contiguous tensor) copies.

extension Tensor {
    /// A contiguous tensor with the same elements; returns `self` when already contiguous
    /// (unless `forceCopy`, which always gives a fresh buffer owned by the result).
    public func contiguous(forceCopy: Bool = false) -> Tensor {
        if !forceCopy && isContiguous { return self }
        let n = count
        let out = TensorStorage(uninitializedCount: n)
        if isContiguous {
            out.pointer.initialize(from: storage.pointer + offset, count: n)
        } else {
            // Runs contiguous in both layouts (a channel slice's planes, say) move as whole memcpys.
            copyElements(to: out.pointer, strides: Tensor.contiguousStrides(shape))
        }
        return Tensor(storage: out, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// The same elements under a new shape with the same count; one size may be `-1` (inferred).
    /// A view when the tensor is contiguous, otherwise a contiguous copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) elements")
            newShape[inferred] = count / known
        }
        precondition(Tensor.elementCount(newShape) == count,
                     "reshape: shape \(shape) has \(count) elements, \(newShape) has \(Tensor.elementCount(newShape))")
        let base = contiguous()
        return Tensor(storage: base.storage, shape: newShape, strides: Tensor.contiguousStrides(newShape), offset: base.offset)
    }

    /// A view with the axes reordered: axis `i` of the result is axis `order[i]` of `self`.
    public func permuted(_ order: [Int]) -> Tensor {
        let order = order.map { normalizedAxis($0) }
        precondition(order.count == rank && Set(order).count == rank, "permute: \(order) is not a permutation of \(rank) axes")
        return Tensor(storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
    }

    /// A view with two axes swapped.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(normalizedAxis(a), normalizedAxis(b))
        return permuted(order)
    }

    /// A view of the elements `start..<end` (every `step`-th) along `axis`.
    /// Negative `start`/`end` count from the end, as in Python.
    public func sliced(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let axis = normalizedAxis(axis)
        precondition(step > 0, "slice: step must be positive, got \(step)")
        let size = shape[axis]
        func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + size : v, 0), size) }
        let s = clamp(start), e = Swift.max(clamp(end ?? size), s)
        var newShape = shape, newStrides = strides
        newShape[axis] = (e - s + step - 1) / step
        newStrides[axis] = strides[axis] * step
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset + s * strides[axis])
    }

    /// A view of the elements in `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        sliced(axis: axis, start: range.lowerBound, end: range.upperBound)
    }

    /// The sub-tensor at `index` along the first axis (rank decreases by one), as a view.
    public subscript(index index: Int) -> Tensor {
        precondition(rank > 0, "index: cannot index a rank-0 tensor")
        precondition(index >= 0 && index < shape[0], "index \(index) out of range 0..<\(shape[0])")
        return Tensor(storage: storage, shape: Array(shape.dropFirst()), strides: Array(strides.dropFirst()),
                      offset: offset + index * strides[0])
    }

    /// A broadcast view with the given shape: size-1 axes (and missing leading axes) repeat by
    /// stride 0, following NumPy's broadcasting rules.
    public func expanded(to newShape: [Int]) -> Tensor {
        precondition(newShape.count >= rank, "expand: cannot expand \(shape) to fewer axes \(newShape)")
        let lead = newShape.count - rank
        var newStrides = [Int](repeating: 0, count: newShape.count)
        for axis in 0..<rank {
            let size = shape[axis], target = newShape[lead + axis]
            if size == target {
                newStrides[lead + axis] = strides[axis]
            } else {
                precondition(size == 1, "expand: size \(size) of axis \(axis) in \(shape) cannot become \(target)")
            }
        }
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    /// A view with a size-1 axis inserted at `axis` (which may be `rank`).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank + 1)
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: a)
        newStrides.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    /// A view without the size-1 axis `axis`, or without every size-1 axis when `axis` is nil.
    public func squeezed(axis: Int? = nil) -> Tensor {
        var newShape = [Int](), newStrides = [Int]()
        let only = axis.map { normalizedAxis($0) }
        if let only { precondition(shape[only] == 1, "squeeze: axis \(only) of \(shape) has size \(shape[only]), not 1") }
        for a in 0..<rank where !(shape[a] == 1 && (only == nil || only == a)) {
            newShape.append(shape[a])
            newStrides.append(strides[a])
        }
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    /// A view with axes `start...end` merged into one (the tensor is copied if they are not contiguous).
    public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = normalizedAxis(startAxis), e = normalizedAxis(endAxis)
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }
}
