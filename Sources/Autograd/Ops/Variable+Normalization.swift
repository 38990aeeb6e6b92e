// Group and layer normalization on variables.
//
// Normalization over a group of M elements (Ba et al. 2016 for layer norm; Wu & He 2018 for
// group norm): x̂ = (x − μ)·r with r = 1/√(σ² + ε) (biased variance), y = γ·x̂ + β. Backward,
// with ĝ = γ·dy: dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dγ = Σ dy·x̂, dβ = Σ dy (sums over every
// axis but the channel). Memory: the forward keeps only its input; the backward recomputes μ and
// r (one extra pass over the input) instead of storing x̂, so training holds one tensor per norm.

import Tensor

extension Variable {
    /// The normalized x̂ of `x` viewed as [groups..., M] normalized over the last axis.
    private static func normalized(_ x: Tensor, epsilon: Float) -> (xhat: Tensor, rstd: Tensor) {
        let mean = x.mean(axes: [-1], keepingDims: true)
        let rstd = (x.variance(axes: [-1], keepingDims: true) + epsilon).rsqrt()
        return ((x - mean) * rstd, rstd)
    }

    /// dx for normalization over the last axis, given ĝ = γ·dy, x̂ and r (all [..., M]).
    private static func normalizationInputGradient(_ ghat: Tensor, xhat: Tensor, rstd: Tensor) -> Tensor {
        let meanG = ghat.mean(axes: [-1], keepingDims: true)
        let meanGX = (ghat * xhat).mean(axes: [-1], keepingDims: true)
        return (ghat - meanG - xhat * meanGX) * rstd
    }

    /// Group normalization of [N, C, ...] over groups of C/groups channels and all spatial
    /// positions, with per-channel `weight` and `bias` [C] (as `torch.nn.functional.group_norm`).
    public func groupNorm(groups: Int, weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        let x = value
        precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: \(x.shape[1]) channels do not split into \(groups) groups")
        let y = x.groupNorm(groups: groups, weight: weight?.value, bias: bias?.value, epsilon: epsilon)
        let parents = [self] + [weight, bias].compactMap { $0 }
        return Variable(result: y, parents: parents) { g in
            let n = x.shape[0], c = x.shape[1], spatial = x.count / Swift.max(n * c, 1)
            let (xhatGroups, rstd) = Variable.normalized(x.reshaped([n, groups, -1]), epsilon: epsilon)
            let xhat = xhatGroups.reshaped([n, c, spatial])
            let dy = g.reshaped([n, c, spatial])
            if self.requiresGrad {
                let ghat = weight.map { dy * $0.value.reshaped([1, c, 1]) } ?? dy
                let dx = Variable.normalizationInputGradient(ghat.reshaped([n, groups, -1]), xhat: xhatGroups, rstd: rstd)
                self.accumulateGradient(dx.reshaped(x.shape))
            }
            if let weight, weight.requiresGrad { weight.accumulateGradient((dy * xhat).sum(axes: [0, 2])) }
            if let bias, bias.requiresGrad { bias.accumulateGradient(dy.sum(axes: [0, 2])) }
        }
    }

    /// Layer normalization over the last axis with `weight` and `bias` of that axis' size
    /// (as `torch.nn.functional.layer_norm` with `normalized_shape = [D]`).
    public func layerNorm(weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        let x = value
        let y = x.layerNorm(weight: weight?.value, bias: bias?.value, epsilon: epsilon)
        let parents = [self] + [weight, bias].compactMap { $0 }
        return Variable(result: y, parents: parents) { g in
            let d = x.shape[x.rank - 1]
            let (xhat, rstd) = Variable.normalized(x.reshaped([-1, d]), epsilon: epsilon)
            let dy = g.reshaped([-1, d])
            if self.requiresGrad {
                let ghat = weight.map { dy * $0.value } ?? dy
                self.accumulateGradient(Variable.normalizationInputGradient(ghat, xhat: xhat, rstd: rstd).reshaped(x.shape))
            }
            if let weight, weight.requiresGrad { weight.accumulateGradient((dy * xhat).sum(axes: [0])) }
            if let bias, bias.requiresGrad { bias.accumulateGradient(dy.sum(axes: [0])) }
        }
    }
}
