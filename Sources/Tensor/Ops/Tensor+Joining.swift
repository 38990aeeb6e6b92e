// Joining and splitting: concatenate, stack, split and chunk along one axis.
//
// Contract: `concatenate` and `stack` return a new contiguous tensor; `split` and `chunked`
// return views that share storage with the input (like `torch.split` / `torch.chunk`).
// Mismatched shapes are programmer errors and stop with a precondition naming the shapes.

extension Tensor {
    /// Joins tensors along an existing `axis`; every other axis must have the same size.
    /// Tensors of size 0 along `axis` contribute nothing.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: no tensors")
        let first = tensors[0]
        precondition(first.rank > 0, "concatenate: cannot concatenate rank-0 tensors; use stack")
        let axis = first.normalizedAxis(axis)
        var shape = first.shape
        shape[axis] = 0
        for t in tensors {
            var expected = first.shape
            expected[axis] = t.rank == first.rank ? t.shape[axis] : -1
            precondition(t.shape == expected, "concatenate: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
            shape[axis] += t.shape[axis]
        }
        let strides = Tensor.contiguousStrides(shape)
        let out = TensorStorage(uninitializedCount: Tensor.elementCount(shape))
        var position = 0
        for t in tensors {
            t.copyElements(to: out.pointer + position * strides[axis], strides: strides)
            position += t.shape[axis]
        }
        return Tensor(storage: out, shape: shape, strides: strides)
    }

    /// Joins tensors of one shape along a new `axis` (which may be `rank`, to stack last).
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: no tensors")
        let shape = tensors[0].shape
        for t in tensors { precondition(t.shape == shape, "stack: shape \(t.shape) differs from \(shape)") }
        let axis = tensors[0].normalizedAxis(axis, rank: shape.count + 1)
        return concatenate(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Views of consecutive pieces along `axis` with the given sizes, which must add up to the
    /// axis size.
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let axis = normalizedAxis(axis)
        precondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[axis],
                     "split: sizes \(sizes) do not add up to \(shape[axis]) (axis \(axis) of \(shape))")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return sliced(axis: axis, start..<(start + size))
        }
    }

    /// Splits `axis` into `count` views of ⌈size / count⌉ elements (the last may be smaller,
    /// and fewer than `count` pieces come back when the size is too small), like `torch.chunk`.
    public func chunked(_ count: Int, axis: Int) -> [Tensor] {
        precondition(count > 0, "chunked: count must be positive, got \(count)")
        let axis = normalizedAxis(axis)
        let size = shape[axis]
        let piece = Swift.max(1, (size + count - 1) / count)
        let pieces = size == 0 ? 1 : (size + piece - 1) / piece
        return split(sizes: (0..<pieces).map { Swift.min(piece, size - $0 * piece) }.map { Swift.max($0, 0) }, axis: axis)
    }
}
