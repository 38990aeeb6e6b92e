// Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter 2019, Algorithm 2), step
// for step as `torch.optim.Adam` / `torch.optim.AdamW` (single-tensor path):
//   t ← t + 1
//   Adam:  g ← g + λ·θ            AdamW:  θ ← θ·(1 − η·λ)
//   m ← m + (1 − β₁)·(g − m)                   (torch's lerp)
//   v ← β₂·v + (1 − β₂)·g²
//   θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// ε is added after dividing √v by the bias correction, as torch does (not inside the root).
// Scalars are computed in Double (Python floats) and the tensor arithmetic in Float32 in
// torch's order, so the update sequences agree with torch to rounding.

import Foundation
import Tensor

/// Adam or AdamW with `torch.optim` semantics.
public final class Adam: Optimizer {
    /// How weight decay enters the update.
    public enum WeightDecayMode: Sendable {
        /// L2 penalty added to the gradient (`torch.optim.Adam`).
        case l2
        /// Decoupled decay of the weights (`torch.optim.AdamW`).
        case decoupled
    }

    /// The parameters, by name.
    public let parameters: [(name: String, variable: Variable)]
    /// The step size η.
    public var learningRate: Float
    /// The decay rates (β₁, β₂) of the first and second moment estimates.
    public var betas: (Float, Float)
    /// The term ε added to the denominator for numerical stability.
    public var epsilon: Float
    /// The weight decay λ.
    public var weightDecay: Float
    /// Whether λ is an L2 penalty (Adam) or a decoupled decay (AdamW).
    public let weightDecayMode: WeightDecayMode
    /// Per-parameter state: steps taken, first and second moments.
    private var steps: [Int]
    private var firstMoments: [Tensor?]
    private var secondMoments: [Tensor?]

    /// Creates Adam (`weightDecayMode: .l2`, torch's defaults) for the named parameters.
    public init(parameters: [(name: String, variable: Variable)], learningRate: Float = 1e-3,
                betas: (Float, Float) = (0.9, 0.999), epsilon: Float = 1e-8, weightDecay: Float = 0,
                weightDecayMode: WeightDecayMode = .l2) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.betas = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.weightDecayMode = weightDecayMode
        steps = Array(repeating: 0, count: parameters.count)
        firstMoments = Array(repeating: nil, count: parameters.count)
        secondMoments = Array(repeating: nil, count: parameters.count)
    }

    /// AdamW with torch's defaults (weight decay 0.01, decoupled).
    public static func adamW(parameters: [(name: String, variable: Variable)], learningRate: Float = 1e-3,
                             betas: (Float, Float) = (0.9, 0.999), epsilon: Float = 1e-8, weightDecay: Float = 1e-2) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, betas: betas, epsilon: epsilon,
             weightDecay: weightDecay, weightDecayMode: .decoupled)
    }

    /// One update of every parameter that has a gradient.
    public func step() {
        // Python-float scalars, rounded to Float32 where torch passes them to a Float32 kernel.
        let lr = Double(learningRate), beta1 = Double(betas.0), beta2 = Double(betas.1)
        let wd = weightDecay
        let oneMinusBeta1 = Float(1 - beta1), oneMinusBeta2 = Float(1 - beta2), b2 = betas.1
        let eps = epsilon
        let decay = Float(1 - lr * Double(wd))
        for (index, (_, p)) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            steps[index] += 1
            let t = Double(steps[index])
            let stepSize = Float(lr / (1 - Foundation.pow(beta1, t)))
            let correction2 = Float((1 - Foundation.pow(beta2, t)).squareRoot())
            if firstMoments[index] == nil {
                firstMoments[index] = Tensor(shape: p.shape, repeating: 0)
                secondMoments[index] = Tensor(shape: p.shape, repeating: 0)
            }
            var m = firstMoments[index]!, v = secondMoments[index]!
            firstMoments[index] = nil; secondMoments[index] = nil   // unique references: update in place
            let mode = weightDecayMode
            grad.withUnsafeBufferPointer { gs in
                p.value.withUnsafeMutableBufferPointer { theta in
                    m.withUnsafeMutableBufferPointer { m in
                        v.withUnsafeMutableBufferPointer { v in
                            // 16 lanes at a time, then one by one; the same operations in the
                            // same order either way (no fused multiply-adds), so the lanes round
                            // exactly as the scalar loop does.
                            let (l2, decoupled) = (wd != 0 && mode == .l2, wd != 0 && mode != .l2)
                            let (gp, tp, mp, vp) = (gs.baseAddress!, theta.baseAddress!, m.baseAddress!, v.baseAddress!)
                            func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
                                UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
                            }
                            func store(_ x: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
                                UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD16<Float>.self)
                            }
                            var i = 0
                            while i + 16 <= theta.count {
                                var g = load(gp + i), th = load(tp + i)
                                if l2 { g = g + wd * th } else if decoupled { th = th * decay }
                                let mi = load(mp + i) + oneMinusBeta1 * (g - load(mp + i))
                                let vi = load(vp + i) * b2 + oneMinusBeta2 * g * g
                                let denominator = vi.squareRoot() / correction2 + eps
                                store(mi, mp + i)
                                store(vi, vp + i)
                                store(th + (-stepSize) * (mi / denominator), tp + i)
                                i += 16
                            }
                            while i < theta.count {
                                var g = gs[i]
                                if l2 { g = g + wd * theta[i] } else if decoupled { theta[i] = theta[i] * decay }
                                m[i] = m[i] + oneMinusBeta1 * (g - m[i])
                                v[i] = v[i] * b2 + oneMinusBeta2 * g * g
                                let denominator = v[i].squareRoot() / correction2 + eps
                                theta[i] = theta[i] + (-stepSize) * (m[i] / denominator)
                                i += 1
                            }
                        }
                    }
                }
            }
            firstMoments[index] = m
            secondMoments[index] = v
        }
    }

    /// `exp_avg.<name>`, `exp_avg_sq.<name>` and `step.<name>` (a one-element tensor) for every
    /// parameter that has taken a step.
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (index, (name, _)) in parameters.enumerated() where steps[index] > 0 {
            out["exp_avg.\(name)"] = firstMoments[index]
            out["exp_avg_sq.\(name)"] = secondMoments[index]
            out["step.\(name)"] = Tensor(shape: [1], scalars: [Float(steps[index])])
        }
        return out
    }

    /// Restores the state saved by `stateTensors()`; throws naming every mismatch.
    public func loadState(_ tensors: [String: Tensor]) throws {
        var problems: [String] = []
        var known = Set<String>()
        var newSteps = steps, newM = firstMoments, newV = secondMoments
        for (index, (name, p)) in parameters.enumerated() {
            let keys = ["exp_avg.\(name)", "exp_avg_sq.\(name)", "step.\(name)"]
            known.formUnion(keys)
            guard tensors[keys[2]] != nil else { newSteps[index] = 0; newM[index] = nil; newV[index] = nil; continue }
            newM[index] = stateTensor(tensors, keys[0], shape: p.shape, problems: &problems)
            newV[index] = stateTensor(tensors, keys[1], shape: p.shape, problems: &problems)
            if let s = stateTensor(tensors, keys[2], shape: [1], problems: &problems) { newSteps[index] = Int(s.item) }
        }
        for key in tensors.keys.sorted() where !known.contains(key) { problems.append("unexpected \(key)") }
        try throwIfProblems(problems, optimizer: "Adam")
        steps = newSteps; firstMoments = newM; secondMoments = newV
    }
}
