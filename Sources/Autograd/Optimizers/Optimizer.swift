// The optimizer protocol: named parameters, one `step()` per batch, and state that a checkpoint
// can save and restore by name (so resuming continues exactly where it stopped).

import Tensor

/// An algorithm that updates parameters from their gradients (the `torch.optim` contract).
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`, under their state-dict names.
    var parameters: [(name: String, variable: Variable)] { get }
    /// The learning rate used by the next `step()` (schedules assign it before each step).
    var learningRate: Float { get set }
    /// Updates every parameter that has a gradient; parameters without one are skipped.
    func step()
    /// The optimizer's state as named tensors (for example `exp_avg.conv1.weight`), including
    /// per-parameter step counts, for checkpoints.
    func stateTensors() -> [String: Tensor]
    /// Restores state written by `stateTensors()`; throws when a name or shape does not match.
    func loadState(_ tensors: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears the gradient of every parameter (call before each backward pass).
    public func zeroGrad() {
        for (_, p) in parameters { p.zeroGrad() }
    }
}

/// Names for anonymous parameter lists: "0", "1", ... (as torch numbers an optimizer's params).
public func numberedParameters(_ variables: [Variable]) -> [(name: String, variable: Variable)] {
    variables.enumerated().map { (String($0.offset), $0.element) }
}

/// An optimizer state that could not be restored.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What was wrong, naming every offending key.
    public var description: String
}

/// Reads `name` from `tensors` with the expected shape, collecting problems in `problems`.
func stateTensor(_ tensors: [String: Tensor], _ name: String, shape: [Int], problems: inout [String]) -> Tensor? {
    guard let t = tensors[name] else { problems.append("missing \(name)"); return nil }
    guard t.shape == shape else { problems.append("\(name): shape \(t.shape), expected \(shape)"); return nil }
    return t
}

/// Throws one error listing every problem found while loading optimizer state.
func throwIfProblems(_ problems: [String], optimizer: String) throws {
    if !problems.isEmpty {
        throw OptimizerStateError(description: "\(optimizer) state does not match the parameters (was it saved for another model?): " + problems.joined(separator: "; "))
    }
}
