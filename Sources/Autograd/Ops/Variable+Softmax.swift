// Softmax and log-softmax on variables. Backward rules use the saved output y:
// softmax: dx = y·(dy − Σ dy·y); log-softmax: dx = dy − eʸ·Σ dy (sums along the axis).

import Tensor

extension Variable {
    /// Softmax along `axis`: yᵢ = e^{xᵢ}/Σⱼ e^{xⱼ}. Backward: dx = y·(dy − Σ dy·y).
    public func softmax(axis: Int = -1) -> Variable {
        let a = value.normalizedAxis(axis)
        let y = value.softmax(axis: a)
        return Variable(result: y, parents: [self]) { g in
            let dot = (g * y).sum(axes: [a], keepingDims: true)
            self.accumulateGradient(y * (g - dot))
        }
    }

    /// Log-softmax along `axis`: xᵢ − log Σⱼ e^{xⱼ}. Backward: dx = dy − softmax(x)·Σ dy.
    public func logSoftmax(axis: Int = -1) -> Variable {
        let a = value.normalizedAxis(axis)
        let y = value.logSoftmax(axis: a)
        return Variable(result: y, parents: [self]) { g in
            let total = g.sum(axes: [a], keepingDims: true)
            self.accumulateGradient(g - y.exp() * total)
        }
    }
}
