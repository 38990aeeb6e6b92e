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
//
// 16-bit values: a parameter loaded from a Float16/BFloat16 file can keep its value as stored
// (`halfPrecisionValue`, zero-copy from the mapped file), half the memory of Float32. `shape`,
// `rank` and `count` are answered without widening; `Linear` multiplies by the 16-bit weight
// directly (the GEMM widens while packing); anything else that reads `value` gets a transient
// Float32 copy, exact, made on each read. Writing `value` (assignment or in-place mutation,
// as optimizers do) stores Float32 and drops the 16-bit value.
// Why `value` is a computed property with `_read`/`_modify` accessors rather than `get`/`set`:
// optimizers update parameters in place (`p.value.withUnsafeMutableBufferPointer { ... }`). With
// a getter and a setter, that becomes get (a second reference to the storage), mutate (which
// then copies the whole buffer, copy-on-write) and set. `_modify` yields the stored Float32
// tensor itself (`yield &storedValue`), so the update stays in place, exactly as with the stored
// property this replaced, and `_read` lends it without a copy; the only added cost on the
// Float32 path is one nil check of `storedHalfPrecision`.

import Tensor

/// A node in the autograd graph: a tensor value, its gradient, and the rule that sends the
/// gradient on to the values it was computed from.
public final class Variable {
    /// The forward value. Optimizers assign new values to parameters (leaves); assigning to a
    /// computed variable does not change the graph it was recorded in.
    ///
    /// When the variable holds a 16-bit value (`halfPrecisionValue`), reading `value` returns a
    /// transient Float32 copy widened on each read (exact, but it costs the time and the memory of
    /// a Float32 tensor while it is held); assigning or mutating it stores Float32 and drops the
    /// 16-bit value. Mutation in place (`value.withUnsafeMutableBufferPointer`) does not copy a
    /// Float32 value (see the file comment).
    public var value: Tensor {
        _read {
            if let half = storedHalfPrecision { yield half.widened() } else { yield storedValue }
        }
        set {
            storedHalfPrecision = nil
            storedValue = newValue
        }
        _modify {
            if let half = storedHalfPrecision {
                storedValue = half.widened()
                storedHalfPrecision = nil
            }
            yield &storedValue
        }
    }

    /// The value kept in 16 bits (binary16 or bfloat16), or nil when the value is Float32.
    ///
    /// Setting a tensor makes it the value (the Float32 storage is released); setting nil keeps
    /// the value, widened to Float32. Parameters loaded from a 16-bit file for inference are set
    /// this way (see `Module.loadStateDictionary(_:strict:)` with `ParameterValue`s).
    public var halfPrecisionValue: HalfPrecisionTensor? {
        get { storedHalfPrecision }
        set {
            if let newValue {
                storedValue = Variable.releasedValue
                storedHalfPrecision = newValue
            } else if let half = storedHalfPrecision {
                storedValue = half.widened()
                storedHalfPrecision = nil
            }
        }
    }

    /// The Float32 value, when `storedHalfPrecision` is nil.
    private var storedValue: Tensor
    /// The 16-bit value, when there is one.
    private var storedHalfPrecision: HalfPrecisionTensor?
    /// What `storedValue` holds while the value is 16-bit: one shared empty tensor.
    private static let releasedValue = Tensor(shape: [0])
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
        self.storedValue = value
        self.requiresGrad = requiresGrad
        self.parents = []
        self.backwardRule = nil
        self.isLeaf = true
    }

    /// Creates a leaf variable whose value stays in 16 bits (see `halfPrecisionValue`).
    public init(halfPrecision value: HalfPrecisionTensor, requiresGrad: Bool = false) {
        self.storedValue = Variable.releasedValue
        self.storedHalfPrecision = value
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
        self.storedValue = value
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

    /// Releases a graph that was never differentiated without recursion: a chain of 100 000
    /// ops would otherwise free node by node through nested deinitializers and could overflow
    /// a thread's stack. Nodes only this one still references are unlinked from a work list.
    deinit {
        guard !parents.isEmpty else { return }
        backwardRule = nil
        var pending = parents
        parents = []
        while var node = pending.popLast() {
            guard isKnownUniquelyReferenced(&node) else { continue }
            node.backwardRule = nil
            pending.append(contentsOf: node.parents)
            node.parents = []
        }
    }

    /// The shape of the value (a 16-bit value is not widened to answer).
    public var shape: [Int] { storedHalfPrecision?.shape ?? storedValue.shape }
    /// The rank of the value.
    public var rank: Int { storedHalfPrecision?.rank ?? storedValue.rank }
    /// The number of elements of the value.
    public var count: Int { storedHalfPrecision?.count ?? storedValue.count }

    /// A new leaf with the same value that is cut off from this graph (like `tensor.detach()`);
    /// a 16-bit value stays 16-bit and shared.
    public func detached() -> Variable {
        if let half = storedHalfPrecision { return Variable(halfPrecision: half) }
        return Variable(storedValue)
    }

    /// Forgets the accumulated gradient (optimizers call this between steps).
    public func zeroGrad() { grad = nil }

    /// Adds `gradient` into `grad` (the sum over every use of this variable).
    public func accumulateGradient(_ gradient: Tensor) {
        guard requiresGrad else { return }
        precondition(gradient.shape == shape,
                     "accumulateGradient: gradient shape \(gradient.shape) differs from value shape \(shape)")
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
            precondition(seed.shape == shape, "backward: seed shape \(seed.shape) differs from value shape \(shape)")
            start = seed
        } else {
            precondition(count == 1, "backward: a seed gradient is needed for a non-scalar output of shape \(shape)")
            start = Tensor(shape: shape, repeating: 1)
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
    /// The value's description, marked when the variable requires a gradient or holds 16 bits.
    public var description: String {
        let format = storedHalfPrecision.map { ", \($0.format)" } ?? ""
        return "Variable(\(value)\(format)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
