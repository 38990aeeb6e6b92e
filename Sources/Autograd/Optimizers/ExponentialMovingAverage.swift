// An exponential moving average of weights (Polyak averaging; the EMA of DDPM, Ho et al. 2020,
// §4 with decay 0.9999): after each optimizer step, s ← s − (1 − β)·(s − θ), the update used by
// diffusers' `EMAModel.step`. Sampling with the averaged weights gives smoother results than the
// last iterate.

import Tensor

/// Shadow copies of parameters that track their exponential moving average.
public final class ExponentialMovingAverage {
    /// The decay β (the weight of the old average).
    public var decay: Float
    /// The averaged values by parameter name.
    public private(set) var shadows: [String: Tensor]
    private let parameters: [(name: String, variable: Variable)]

    /// Starts the average at the parameters' current values.
    public init(parameters: [(name: String, variable: Variable)], decay: Float = 0.9999) {
        self.parameters = parameters
        self.decay = decay
        shadows = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.variable.value.contiguous(forceCopy: true)) })
    }

    /// Moves every shadow towards its parameter: s ← s − (1 − β)·(s − θ).
    public func update() {
        let rate = 1 - decay
        for (name, p) in parameters {
            var s = shadows.removeValue(forKey: name)!
            s.withUnsafeMutableBufferPointer { s in
                p.value.withUnsafeBufferPointer { theta in
                    for i in 0..<s.count { s[i] = s[i] - rate * (s[i] - theta[i]) }
                }
            }
            shadows[name] = s
        }
    }

    /// Copies the averaged values into the parameters (for example before sampling).
    public func copyToParameters() {
        for (name, p) in parameters { p.value = shadows[name]! }
    }

    /// Replaces the averages (when resuming from a checkpoint); throws naming any mismatch.
    public func loadShadows(_ tensors: [String: Tensor]) throws {
        var problems: [String] = []
        for (name, p) in parameters { _ = stateTensor(tensors, name, shape: p.shape, problems: &problems) }
        let known = Set(parameters.map(\.name))
        for key in tensors.keys.sorted() where !known.contains(key) { problems.append("unexpected \(key)") }
        try throwIfProblems(problems, optimizer: "EMA")
        for (name, _) in parameters { shadows[name] = tensors[name]! }
    }
}
