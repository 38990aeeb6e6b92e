// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// step for step as `torch.optim.SGD` (Sutskever et al. 2013 for the momentum form):
//   g ← g + λ·θ;  b ← g (first step) or μ·b + (1 − τ)·g;  g ← g + μ·b (Nesterov) or b;  θ ← θ − η·g.
// The Float32 operations are done in torch's order so the sequences agree to rounding.

import Tensor

/// Stochastic gradient descent with `torch.optim.SGD`'s semantics.
public final class SGD: Optimizer {
    /// The parameters, by name.
    public let parameters: [(name: String, variable: Variable)]
    /// The step size η.
    public var learningRate: Float
    /// The momentum factor μ (0 disables momentum).
    public var momentum: Float
    /// The dampening τ applied to new gradients in the momentum buffer.
    public var dampening: Float
    /// The L2 penalty λ added to the gradient.
    public var weightDecay: Float
    /// Whether to use Nesterov momentum (needs momentum > 0 and dampening = 0, as in torch).
    public let nesterov: Bool
    /// The momentum buffer of each parameter (nil until its first step).
    private var buffers: [Tensor?]

    /// Creates the optimizer for `parameters` (named, for example `module.namedParameters()`).
    public init(parameters: [(name: String, variable: Variable)], learningRate: Float, momentum: Float = 0,
                dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires a momentum and zero dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.buffers = Array(repeating: nil, count: parameters.count)
    }

    /// One update of every parameter that has a gradient.
    public func step() {
        let lr = learningRate, mu = momentum, damp = 1 - dampening, wd = weightDecay
        for (index, (_, p)) in parameters.enumerated() {
            guard let grad = p.grad else { continue }
            // d = g + λθ
            var d = grad.contiguous(forceCopy: true)
            if wd != 0 {
                d.withUnsafeMutableBufferPointer { d in
                    p.value.withUnsafeBufferPointer { theta in
                        for i in 0..<d.count { d[i] = d[i] + wd * theta[i] }
                    }
                }
            }
            if mu != 0 {
                // b = d on the first step, else μb + (1 − τ)d; then d = d + μb (Nesterov) or b.
                if var b = buffers[index] {
                    buffers[index] = nil  // unique reference: update in place
                    b.withUnsafeMutableBufferPointer { b in
                        d.withUnsafeBufferPointer { d in
                            for i in 0..<b.count { b[i] = b[i] * mu + damp * d[i] }
                        }
                    }
                    buffers[index] = b
                } else {
                    buffers[index] = d.contiguous(forceCopy: true)
                }
                let b = buffers[index]!
                if nesterov {
                    d.withUnsafeMutableBufferPointer { d in
                        b.withUnsafeBufferPointer { b in
                            for i in 0..<d.count { d[i] = d[i] + mu * b[i] }
                        }
                    }
                } else {
                    d = b
                }
            }
            // θ = θ − ηd
            p.value.withUnsafeMutableBufferPointer { theta in
                d.withUnsafeBufferPointer { d in
                    for i in 0..<theta.count { theta[i] = theta[i] + (-lr) * d[i] }
                }
            }
        }
    }

    /// The momentum buffers as `momentum_buffer.<name>` (only those that exist).
    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (index, (name, _)) in parameters.enumerated() {
            if let b = buffers[index] { out["momentum_buffer.\(name)"] = b }
        }
        return out
    }

    /// Restores momentum buffers; a parameter without a saved buffer starts fresh (as in torch).
    public func loadState(_ tensors: [String: Tensor]) throws {
        var problems: [String] = []
        let known = Set(parameters.map { "momentum_buffer.\($0.name)" })
        for key in tensors.keys.sorted() where !known.contains(key) { problems.append("unexpected \(key)") }
        var restored = buffers
        for (index, (name, p)) in parameters.enumerated() {
            let key = "momentum_buffer.\(name)"
            if tensors[key] != nil { restored[index] = stateTensor(tensors, key, shape: p.shape, problems: &problems) }
            else { restored[index] = nil }
        }
        try throwIfProblems(problems, optimizer: "SGD")
        buffers = restored
    }
}
