// Indexing: pick slices or elements by integer indices.
//
// Contract: `indexSelect` copies whole slices along one axis (like `torch.index_select`);
// `gather` picks one element per output position along one axis (like `torch.gather`).
// Indices are checked: an index out of range is a programmer error (precondition naming it).
// Both return a new contiguous tensor.

extension Tensor {
    /// The slices at `indices` along `axis`, in that order (repeats allowed):
    /// `out[..., j, ...] = self[..., indices[j], ...]`.
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        let axis = normalizedAxis(axis)
        var outShape = shape
        outShape[axis] = indices.count
        let outStrides = Tensor.contiguousStrides(outShape)
        let out = TensorStorage(uninitializedCount: Tensor.elementCount(outShape))
        for (j, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "indexSelect: index \(index) out of range 0..<\(shape[axis]) (axis \(axis) of \(shape))")
            sliced(axis: axis, index..<(index + 1)).copyElements(to: out.pointer + j * outStrides[axis], strides: outStrides)
        }
        return Tensor(storage: out, shape: outShape, strides: outStrides)
    }

    /// Elements picked along `axis` by `indices` (integers stored as Float), like `torch.gather`:
    /// `out[i₀, …, i_axis, …] = self[i₀, …, indices[i₀, …, i_axis, …], …]`. `indices` has this
    /// tensor's rank and no axis larger than this tensor's (except `axis`); the result has its shape.
    public func gather(axis: Int, indices: Tensor) -> Tensor {
        let axis = normalizedAxis(axis)
        precondition(indices.rank == rank, "gather: indices of rank \(indices.rank) for a tensor of rank \(rank)")
        for a in 0..<rank where a != axis {
            precondition(indices.shape[a] <= shape[a], "gather: indices shape \(indices.shape) exceeds \(shape) at axis \(a)")
        }
        let outShape = indices.shape
        let n = indices.count
        let out = TensorStorage(uninitializedCount: n)
        let index = indices.contiguous()
        let src = storage.pointer, dst = out.pointer, idx = index.storage.pointer + index.offset
        withExtendedLifetime((self, index)) {
            var position = [Int](repeating: 0, count: rank)
            for i in 0..<n {
                let raw = idx[i]
                let k = Int(exactly: raw) ?? -1
                precondition(k >= 0 && k < shape[axis], "gather: index \(raw) out of range 0..<\(shape[axis]) (axis \(axis) of \(shape))")
                var o = offset + k * strides[axis]
                for a in 0..<rank where a != axis { o += position[a] * strides[a] }
                dst[i] = src[o]
                // Advance the multi-index over the output shape like an odometer.
                var a = rank - 1
                while a >= 0 {
                    position[a] += 1
                    if position[a] < outShape[a] { break }
                    position[a] = 0
                    a -= 1
                }
            }
        }
        return Tensor(storage: out, shape: outShape, strides: Tensor.contiguousStrides(outShape))
    }
}
