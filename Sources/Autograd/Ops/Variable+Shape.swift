// Shape ops on variables: reshape, permute, slice, expand, squeeze. Their backward rules move
// the gradient back to where each element came from: the inverse reshape or permutation, a zero
// tensor with the gradient written into the sliced region, or a sum over broadcast axes.

import Tensor

extension Variable {
    /// The same elements under a new shape (one size may be -1). Backward: reshape back.
    public func reshaped(_ newShape: [Int]) -> Variable {
        let original = shape
        return Variable(result: value.reshaped(newShape), parents: [self]) { g in
            self.accumulateGradient(g.reshaped(original))
        }
    }

    /// The same elements laid out row-major: a copy when the value is a strided view (a
    /// transpose), `self` when it is contiguous already. Backward: the gradient unchanged.
    public func contiguous() -> Variable {
        if value.isContiguous { return self }
        return Variable(result: value.contiguous(), parents: [self]) { g in self.accumulateGradient(g) }
    }

    /// Axes `startAxis...endAxis` merged into one.
    public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Variable {
        reshaped(value.flattened(startAxis: startAxis, endAxis: endAxis).shape)
    }

    /// Axes reordered: axis `i` of the result is axis `order[i]`. Backward: the inverse permutation.
    public func permuted(_ order: [Int]) -> Variable {
        let order = order.map { value.normalizedAxis($0) }
        var inverse = [Int](repeating: 0, count: order.count)
        for (i, axis) in order.enumerated() { inverse[axis] = i }
        return Variable(result: value.permuted(order), parents: [self]) { g in
            self.accumulateGradient(g.permuted(inverse))
        }
    }

    /// Two axes swapped.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Variable {
        var order = Array(0..<rank)
        order.swapAt(value.normalizedAxis(a), value.normalizedAxis(b))
        return permuted(order)
    }

    /// Elements `start..<end` (every `step`-th) along `axis`. Backward: the gradient written
    /// into that region of a zero tensor of the input's shape.
    public func sliced(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Variable {
        let inputShape = shape
        return Variable(result: value.sliced(axis: axis, start: start, end: end, step: step), parents: [self]) { g in
            self.accumulateGradient(Tensor.scattering(g, into: inputShape) {
                $0.sliced(axis: axis, start: start, end: end, step: step)
            })
        }
    }

    /// Elements in `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Variable {
        sliced(axis: axis, start: range.lowerBound, end: range.upperBound)
    }

    /// Broadcast to `newShape` (NumPy rules). Backward: sum over the broadcast axes.
    public func expanded(to newShape: [Int]) -> Variable {
        let original = shape
        return Variable(result: value.expanded(to: newShape), parents: [self]) { g in
            self.accumulateGradient(g.summedToShape(original))
        }
    }

    /// A size-1 axis inserted at `axis`.
    public func unsqueezed(axis: Int) -> Variable {
        reshaped(value.unsqueezed(axis: axis).shape)
    }

    /// Without the size-1 axis `axis` (or every size-1 axis when nil).
    public func squeezed(axis: Int? = nil) -> Variable {
        reshaped(value.squeezed(axis: axis).shape)
    }
}
