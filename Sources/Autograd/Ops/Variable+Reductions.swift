// Reductions on variables. The gradient of a sum is the output gradient broadcast back over
// the reduced axes; a mean divides it by the number of reduced elements; a max sends it to the
// first position that attains the maximum (as `torch.max(x, dim)` does).

import Tensor

extension Variable {
    /// The reduced axes (all when nil), normalized and sorted.
    private func reductionAxes(_ axes: [Int]?) -> [Int] {
        (axes ?? Array(0..<rank)).map { value.normalizedAxis($0) }.sorted()
    }

    /// The output shape with size-1 reduced axes kept, so a gradient can be broadcast back.
    private func keptShape(_ axes: [Int]) -> [Int] {
        var kept = shape
        for a in axes { kept[a] = 1 }
        return kept
    }

    /// Sum over `axes` (all when nil). Backward: broadcast the gradient back over them.
    public func sum(axes: [Int]? = nil, keepingDims: Bool = false) -> Variable {
        let axes = reductionAxes(axes)
        let kept = keptShape(axes), inputShape = shape
        return Variable(result: value.sum(axes: axes, keepingDims: keepingDims), parents: [self]) { g in
            self.accumulateGradient(g.reshaped(kept).expanded(to: inputShape).contiguous())
        }
    }

    /// Mean over `axes` (all when nil). Backward: the broadcast gradient divided by the count.
    public func mean(axes: [Int]? = nil, keepingDims: Bool = false) -> Variable {
        let axes = reductionAxes(axes)
        let kept = keptShape(axes), inputShape = shape
        let n = Float(axes.reduce(1) { $0 * inputShape[$1] })
        return Variable(result: value.mean(axes: axes, keepingDims: keepingDims), parents: [self]) { g in
            self.accumulateGradient((g / n).reshaped(kept).expanded(to: inputShape).contiguous())
        }
    }

    /// Maximum over `axes` (all when nil). Backward: the gradient goes to the first maximal
    /// element of each reduced group (row-major order within the group); the others get 0.
    public func max(axes: [Int]? = nil, keepingDims: Bool = false) -> Variable {
        let axes = reductionAxes(axes)
        let x = value, inputShape = shape
        return Variable(result: value.max(axes: axes, keepingDims: keepingDims), parents: [self]) { g in
            // Move the reduced axes last: x viewed as [groups, groupSize].
            let kept = (0..<inputShape.count).filter { !axes.contains($0) }
            let order = kept + axes
            let moved = x.permuted(order).contiguous()
            let groupSize = axes.reduce(1) { $0 * inputShape[$1] }
            let groups = moved.count / Swift.max(groupSize, 1)
            let gFlat = g.contiguous()
            var movedGrad = Tensor(shape: moved.shape, repeating: 0)
            moved.withUnsafeBufferPointer { xs in
                gFlat.withUnsafeBufferPointer { gs in
                    movedGrad.withUnsafeMutableBufferPointer { out in
                        for group in 0..<groups {
                            let base = group * groupSize
                            var best = base
                            for i in base..<(base + groupSize) where xs[i] > xs[best] { best = i }
                            out[best] = gs[group]
                        }
                    }
                }
            }
            var inverse = [Int](repeating: 0, count: order.count)
            for (i, axis) in order.enumerated() { inverse[axis] = i }
            self.accumulateGradient(movedGrad.permuted(inverse))
        }
    }
}
