// Group and layer normalization on variables.
//
// Normalization over a group of M elements (Ba et al. 2016 for layer norm; Wu & He 2018 for
// group norm): x̂ = (x − μ)·r with r = 1/√(σ² + ε) (biased variance), y = γ·x̂ + β. Backward,
// with ĝ = γ·dy: dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dγ = Σ dy·x̂, dβ = Σ dy (sums over every
// axis but the channel), fused into one kernel in NormalizationBackward.swift. Memory: the
// forward keeps only its input; the backward recomputes μ and r (one extra pass over the input)
// instead of storing x̂, so training holds one tensor per norm.

import Tensor

extension Variable {
    /// Group normalization of [N, C, ...] over groups of C/groups channels and all spatial
    /// positions, with per-channel `weight` and `bias` [C] (as `torch.nn.functional.group_norm`).
    public func groupNorm(groups: Int, weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        let x = value
        precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: \(x.shape[1]) channels do not split into \(groups) groups")
        let y = x.groupNorm(groups: groups, weight: weight?.value, bias: bias?.value, epsilon: epsilon)
        let parents = [self] + [weight, bias].compactMap { $0 }
        return Variable(result: y, parents: parents) { g in
            let n = x.shape[0], c = x.shape[1], spatial = x.count / Swift.max(n * c, 1)
            let needsParameters = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
            let (dx, dWeight, dBias) = normalizationBackward(
                x: x, dy: g, rows: n * groups, rowSize: c / groups * spatial, groups: groups, spatial: spatial,
                weight: weight?.value, epsilon: epsilon, needsParameterGradients: needsParameters)
            self.accumulateGradient(dx)
            if let weight, weight.requiresGrad { weight.accumulateGradient(dWeight) }
            if let bias, bias.requiresGrad { bias.accumulateGradient(dBias) }
        }
    }

    /// SiLU(groupNorm(x)). Without gradient recording the two run as one fused pass with one
    /// output tensor (see `Tensor.groupNorm(thenSiLU:)`); with it, as the two recorded ops.
    public func groupNormSiLU(groups: Int, weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        guard !GradientRecording.isEnabled else {
            return groupNorm(groups: groups, weight: weight, bias: bias, epsilon: epsilon).silu()
        }
        precondition(value.rank >= 2 && value.shape[1] % groups == 0, "groupNorm: \(value.shape[1]) channels do not split into \(groups) groups")
        return Variable(value.groupNorm(groups: groups, weight: weight?.value, bias: bias?.value, epsilon: epsilon, thenSiLU: true))
    }

    /// Layer normalization over the last axis with `weight` and `bias` of that axis' size
    /// (as `torch.nn.functional.layer_norm` with `normalized_shape = [D]`).
    public func layerNorm(weight: Variable?, bias: Variable?, epsilon: Float = 1e-5) -> Variable {
        let x = value
        let y = x.layerNorm(weight: weight?.value, bias: bias?.value, epsilon: epsilon)
        let parents = [self] + [weight, bias].compactMap { $0 }
        return Variable(result: y, parents: parents) { g in
            let d = x.shape[x.rank - 1]
            let needsParameters = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
            let (dx, dWeight, dBias) = normalizationBackward(
                x: x, dy: g, rows: x.count / Swift.max(d, 1), rowSize: d, groups: 1, spatial: 1,
                weight: weight?.value, epsilon: epsilon, needsParameterGradients: needsParameters)
            self.accumulateGradient(dx)
            if let weight, weight.requiresGrad { weight.accumulateGradient(dWeight) }
            if let bias, bias.requiresGrad { bias.accumulateGradient(dBias) }
        }
    }
}
