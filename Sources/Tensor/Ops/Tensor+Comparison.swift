// Comparisons, selection and elementwise extrema, with NumPy broadcasting.
//
// Contract: comparisons return masks of 0 and 1 (Float) of the broadcast shape; a comparison
// involving NaN is false (so `equal(nan, nan)` is 0), as in IEEE 754 and PyTorch.
// `where(condition, a, b)` picks `a` where the condition is nonzero (NaN counts as nonzero)
// and broadcasts all three operands. `maximum`/`minimum` propagate NaN like `torch.maximum`.

extension Tensor {
    /// 1 where a > b, else 0 (broadcasting).
    public static func greater(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { $0 > $1 ? 1 : 0 } }
    /// 1 where a < b, else 0 (broadcasting).
    public static func less(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { $0 < $1 ? 1 : 0 } }
    /// 1 where a ≥ b, else 0 (broadcasting).
    public static func greaterEqual(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { $0 >= $1 ? 1 : 0 } }
    /// 1 where a ≤ b, else 0 (broadcasting).
    public static func lessEqual(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { $0 <= $1 ? 1 : 0 } }
    /// 1 where a == b, else 0 (broadcasting).
    public static func equal(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { $0 == $1 ? 1 : 0 } }

    /// The larger of a and b elementwise (broadcasting); NaN if either is NaN.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        zip(a, b) { x, y in x != x || x > y ? x : y }
    }

    /// The smaller of a and b elementwise (broadcasting); NaN if either is NaN.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        zip(a, b) { x, y in x != x || x < y ? x : y }
    }

    /// `a` where `condition` is nonzero, `b` elsewhere; the three operands broadcast together.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        guard let ab = broadcastShape(a.shape, b.shape), let shape = broadcastShape(condition.shape, ab) else {
            preconditionFailure("where: cannot broadcast shapes \(condition.shape), \(a.shape) and \(b.shape)")
        }
        // Broadcast views copied to contiguous buffers; a no-op for operands already of that shape.
        let c = condition.expanded(to: shape).contiguous()
        let x = a.expanded(to: shape).contiguous(), y = b.expanded(to: shape).contiguous()
        let n = elementCount(shape)
        let out = TensorStorage(uninitializedCount: n)
        withExtendedLifetime((c, x, y)) {
            let pc = c.storage.pointer + c.offset, px = x.storage.pointer + x.offset, py = y.storage.pointer + y.offset
            let dst = out.pointer
            for i in 0..<n { dst[i] = pc[i] != 0 ? px[i] : py[i] }
        }
        return Tensor(storage: out, shape: shape, strides: contiguousStrides(shape))
    }
}
