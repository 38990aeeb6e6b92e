// Concatenation and padding on variables. Backward: each input of a concatenation receives its
// slice of the gradient; a padded tensor's input receives the interior slice.

import Tensor

extension Variable {
    /// Variables joined along `axis` (all other sizes equal). Backward: each input receives its
    /// slice of the gradient.
    public static func concatenate(_ variables: [Variable], axis: Int) -> Variable {
        precondition(!variables.isEmpty, "concatenate: no variables")
        let a = variables[0].value.normalizedAxis(axis)
        let sizes = variables.map { $0.shape[a] }
        return Variable(result: Tensor.concatenate(variables.map(\.value), axis: a), parents: variables) { g in
            var start = 0
            for (v, size) in zip(variables, sizes) {
                if v.requiresGrad { v.accumulateGradient(g.sliced(axis: a, start: start, end: start + size)) }
                start += size
            }
        }
    }

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
