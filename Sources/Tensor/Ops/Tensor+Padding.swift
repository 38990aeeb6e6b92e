// Constant padding on every axis.
//
// Contract: `padded` returns a new contiguous tensor with `before` and `after` extra elements
// of `value` on each axis (widths are non-negative; one pair per axis, outermost first —
// note that `torch.nn.functional.pad` lists pairs starting from the last axis instead).

extension Tensor {
    /// This tensor surrounded by `value`: axis `i` grows by `widths[i].before + widths[i].after`.
    public func padded(_ widths: [(before: Int, after: Int)], value: Float = 0) -> Tensor {
        precondition(widths.count == rank, "padded: \(widths.count) width pairs for a tensor of rank \(rank) \(shape)")
        precondition(widths.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "padded: negative width in \(widths)")
        let outShape = Swift.zip(shape, widths).map { $0 + $1.before + $1.after }
        let outStrides = Tensor.contiguousStrides(outShape)
        let out = TensorStorage(count: Tensor.elementCount(outShape), repeating: value)
        let interior = Swift.zip(widths, outStrides).reduce(0) { $0 + $1.0.before * $1.1 }
        copyElements(to: out.pointer + interior, strides: outStrides)
        return Tensor(storage: out, shape: outShape, strides: outStrides)
    }
}
