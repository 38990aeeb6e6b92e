// Gradient-norm clipping as `torch.nn.utils.clip_grad_norm_` (Pascanu et al. 2013):
// the total 2-norm over all gradients ‖g‖ = √Σ‖gᵢ‖²; if it exceeds `maxNorm`, every gradient is
// scaled by maxNorm/(‖g‖ + 1e-6).

import Tensor

/// Scales the gradients of `parameters` so their total 2-norm is at most `maxNorm`.
/// - Returns: the total norm before clipping (as torch returns it).
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters {
        guard let g = p.grad else { continue }
        g.withUnsafeBufferPointer { for x in $0 { total += Double(x) * Double(x) } }
    }
    let norm = Float(total.squareRoot())
    let coefficient = Swift.min(maxNorm / (norm + 1e-6), 1)
    if coefficient < 1 {
        for p in parameters where p.grad != nil { p.grad = p.grad! * coefficient }
    }
    return norm
}
