// Constant padding on variables. Backward: the input receives the interior slice of the gradient.

import Tensor

extension Variable {
    /// Padded with `value` by `widths[axis] = (before, after)` elements on each axis
    /// (non-negative widths). Backward: the interior slice of the gradient.
    public func padded(_ widths: [(before: Int, after: Int)], value fill: Float = 0) -> Variable {
        precondition(widths.count == rank, "padded: \(widths.count) width pairs for rank \(rank)")
        precondition(widths.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "padded: negative widths are not supported")
        let inputShape = shape
        return Variable(result: value.padded(widths, value: fill), parents: [self]) { g in
            var interior = g
            for axis in 0..<inputShape.count {
                interior = interior.sliced(axis: axis, start: widths[axis].before, end: widths[axis].before + inputShape[axis])
            }
            self.accumulateGradient(interior)
        }
    }
}
