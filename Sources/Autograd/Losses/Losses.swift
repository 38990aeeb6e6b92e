// Losses: mean squared error and cross-entropy from logits, with torch's reductions.
//
// Cross-entropy from logits z [N, C] and class labels yₙ: ℓₙ = −log softmax(zₙ)[yₙ]
// = logsumexp(zₙ) − zₙ[yₙ], computed through the stable log-softmax (max subtracted), so
// large logits never overflow. Backward: ∂ℓₙ/∂zₙ = softmax(zₙ) − onehot(yₙ).

import Tensor

/// How per-element losses are combined (`reduction=` in torch).
public enum LossReduction: Sendable {
    /// The average over elements.
    case mean
    /// The sum over elements.
    case sum
    /// No reduction: one loss per element (per sample for cross-entropy).
    case none
}

extension Variable {
    /// Applies a reduction to per-element losses.
    fileprivate func reduced(_ reduction: LossReduction) -> Variable {
        switch reduction {
        case .mean: return mean()
        case .sum: return sum()
        case .none: return self
        }
    }
}

/// Mean squared error (`torch.nn.functional.mse_loss`): reduce((prediction − target)²).
public func meanSquaredError(_ prediction: Variable, _ target: Variable, reduction: LossReduction = .mean) -> Variable {
    precondition(prediction.shape == target.shape, "meanSquaredError: shapes \(prediction.shape) and \(target.shape) differ")
    return (prediction - target).square().reduced(reduction)
}

/// Cross-entropy of `logits` [N, C] against class indices `labels` (N values in 0..<C), as
/// `torch.nn.functional.cross_entropy`. With `.none` the result is [N].
public func crossEntropy(logits: Variable, labels: [Int], reduction: LossReduction = .mean) -> Variable {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "crossEntropy: logits \(logits.shape) need one label per row (\(labels.count) labels)")
    let n = logits.shape[0], c = logits.shape[1]
    precondition(labels.allSatisfy { $0 >= 0 && $0 < c }, "crossEntropy: a label is outside 0..<\(c)")
    let logProbabilities = logits.value.logSoftmax(axis: 1)
    let losses = logProbabilities.withUnsafeBufferPointer { lp in
        Tensor(shape: [n]) { out in for i in 0..<n { out[i] = -lp[i * c + labels[i]] } }
    }
    let perSample = Variable(result: losses, parents: [logits]) { g in
        // dℓᵢ/dzᵢ = softmax(zᵢ) − onehot(yᵢ), scaled by the incoming gradient of ℓᵢ.
        var dz = logProbabilities.exp()
        let gs = g.contiguous()
        dz.withUnsafeMutableBufferPointer { d in
            gs.withUnsafeBufferPointer { gs in
                for i in 0..<n {
                    d[i * c + labels[i]] -= 1
                    for j in 0..<c { d[i * c + j] *= gs[i] }
                }
            }
        }
        logits.accumulateGradient(dz)
    }
    return perSample.reduced(reduction)
}
