// Variable: a tensor that remembers how it was made, so gradients can flow back through it.
//
// Contract (reverse-mode automatic differentiation, as in micrograd's `Value`, on tensors):
// - every differentiable op computes its forward result with `Tensor` kernels and, next to it,
//   a backward closure that receives dLoss/dOutput and adds dLoss/dInput into each parent;
// - `backward()` sorts the graph reachable from the output topologically and runs each backward
//   closure exactly once, in reverse order, so a value used twice receives the sum of both
//   gradients before its own rule runs;
// - after a node's rule has run, the node drops its closure (and with it every tensor the
//   forward saved), its parents and — unless it is a leaf or `retainsGradient` — its gradient;
//   the graph is therefore single-use, like PyTorch's default `retain_graph=False`;
// - inside `withoutGradients { }` (see `GradientRecording`) no op records anything.
//
// A `Variable` is a reference type: the same parameter object appears in many graphs, and the
// optimizer updates it in place. It is not thread-safe; one graph is built and differentiated
// on one task at a time.

import Tensor

/// A node in the autograd graph: a tensor value, its gradient, and the rule that sends the
/// gradient on to the values it was computed from.
public final class Variable {
    /// The forward value. Optimizers assign new values to parameters (leaves); assigning to a
    /// computed variable does not change the graph it was recorded in.
    public var value: Tensor
    /// The accumulated gradient dLoss/dValue, or nil before `backward()` reaches this variable.
    public var grad: Tensor?
    /// Whether gradients are computed for this variable (true for trainable parameters).
    public var requiresGrad: Bool
    /// Keep the gradient of a computed (non-leaf) variable after `backward()` (for inspection).
    public var retainsGradient = false

    /// The variables this one was computed from (empty for leaves and after backward).
    var parents: [Variable]
    /// Adds the gradients of the parents given the gradient of this variable; nil for leaves.
    var backwardRule: ((Tensor) -> Void)?
    /// Whether this variable was created by the user rather than by an op.
    public let isLeaf: Bool

    /// Creates a leaf variable (an input or a parameter).
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.parents = []
        self.backwardRule = nil
        self.isLeaf = true
    }

    /// Creates the result of an op. The backward rule is recorded only when gradient recording
    /// is enabled and some parent requires a gradient; otherwise the result is a constant and
    /// the closure (with every tensor it captured) is released at once.
    ///
    /// - Parameters:
    ///   - value: the forward result.
    ///   - parents: the inputs the result depends on differentiably.
    ///   - backward: called once with dLoss/dResult; it must call `accumulateGradient(_:)` on
    ///     each parent that `requiresGrad`, with a tensor of that parent's shape.
    public init(result value: Tensor, parents: [Variable], backward: @escaping (Tensor) -> Void) {
        self.value = value
        self.isLeaf = false
        if GradientRecording.isEnabled && parents.contains(where: \.requiresGrad) {
            self.requiresGrad = true
            self.parents = parents
            self.backwardRule = backward
        } else {
            self.requiresGrad = false
            self.parents = []
            self.backwardRule = nil
        }
    }

    /// The shape of the value.
    public var shape: [Int] { value.shape }
    /// The rank of the value.
    public var rank: Int { value.rank }

    /// A new leaf with the same value that is cut off from this graph (like `tensor.detach()`).
    public func detached() -> Variable { Variable(value) }

    /// Forgets the accumulated gradient (optimizers call this between steps).
    public func zeroGrad() { grad = nil }

    /// Adds `gradient` into `grad` (the sum over every use of this variable).
    public func accumulateGradient(_ gradient: Tensor) {
        guard requiresGrad else { return }
        precondition(gradient.shape == value.shape,
                     "accumulateGradient: gradient shape \(gradient.shape) differs from value shape \(value.shape)")
        if var existing = grad {
            grad = nil  // leave `existing` as the only reference so the addition can reuse it
            existing.withUnsafeMutableBufferPointer { dst in
                gradient.withUnsafeBufferPointer { src in
                    for i in 0..<dst.count { dst[i] += src[i] }
                }
            }
            grad = existing
        } else {
            grad = gradient
        }
    }

    /// Back-propagates from this variable: computes dSelf/dLeaf for every leaf that requires a
    /// gradient and adds it into the leaf's `grad`.
    ///
    /// - Parameter seed: dLoss/dSelf; defaults to 1 for a one-element variable (a loss).
    public func backward(_ seed: Tensor? = nil) {
        precondition(requiresGrad, "backward: this variable does not require a gradient (no parameter reaches it, or it was computed without gradient recording)")
        let start: Tensor
        if let seed {
            precondition(seed.shape == value.shape, "backward: seed shape \(seed.shape) differs from value shape \(value.shape)")
            start = seed
        } else {
            precondition(value.count == 1, "backward: a seed gradient is needed for a non-scalar output of shape \(value.shape)")
            start = Tensor(shape: value.shape, repeating: 1)
        }
        let order = topologicalOrder()
        accumulateGradient(start)
        for node in order.reversed() {
            guard let rule = node.backwardRule else { continue }
            if let g = node.grad { rule(g) }
            // Release what the forward saved, the edges, and intermediate gradients.
            node.backwardRule = nil
            node.parents = []
            if !node.retainsGradient { node.grad = nil }
        }
    }

    /// The variables reachable from this one that take part in backward, each after all of
    /// its parents (depth-first post-order, iterative so deep graphs cannot overflow the stack).
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(node: Variable, nextParent: Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while !stack.isEmpty {
            let (node, next) = stack[stack.count - 1]
            if next < node.parents.count {
                stack[stack.count - 1].nextParent += 1
                let parent = node.parents[next]
                if parent.requiresGrad && visited.insert(ObjectIdentifier(parent)).inserted {
                    stack.append((parent, 0))
                }
            } else {
                order.append(node)
                stack.removeLast()
            }
        }
        return order
    }
}

extension Variable: CustomStringConvertible {
    /// The value's description, marked when the variable requires a gradient.
    public var description: String {
        "Variable(\(value)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
