// A scalar autograd engine in a few dozen lines (after Karpathy's micrograd, `engine.py`), the
// first rung of lesson 02: each op returns a node holding its value, its parents and a closure
// that applies the chain rule locally (dL/dparent += dL/dnode · dnode/dparent). `backward()`
// visits the graph in reverse topological order, exactly as `Variable.backward()` does on tensors.
// Values are Double, so finite-difference checks are accurate to about 1e-10.

import Foundation

/// A scalar that records how it was computed (micrograd's `Value`).
public final class Scalar {
    /// The forward value.
    public let value: Double
    /// dL/dvalue after `backward()` on L.
    public var grad = 0.0
    /// A label for drawing the graph (the op that made it, or a name).
    public var label: String
    /// The inputs of the op that produced this value.
    public let parents: [Scalar]
    /// Adds this node's gradient, times the local derivatives, into the parents.
    private var backwardRule: () -> Void = {}

    /// A leaf: an input or a parameter.
    public init(_ value: Double, label: String = "") {
        self.value = value
        self.label = label
        self.parents = []
    }

    private init(_ value: Double, _ parents: [Scalar], _ label: String) {
        self.value = value
        self.parents = parents
        self.label = label
    }

    /// a + b; both local derivatives are 1.
    public static func + (a: Scalar, b: Scalar) -> Scalar {
        let out = Scalar(a.value + b.value, [a, b], "+")
        out.backwardRule = { [unowned out] in a.grad += out.grad; b.grad += out.grad }
        return out
    }

    /// a · b; d/da = b, d/db = a.
    public static func * (a: Scalar, b: Scalar) -> Scalar {
        let out = Scalar(a.value * b.value, [a, b], "*")
        out.backwardRule = { [unowned out] in a.grad += b.value * out.grad; b.grad += a.value * out.grad }
        return out
    }

    /// aᵖ for a constant p; d/da = p·aᵖ⁻¹.
    public func pow(_ p: Double) -> Scalar {
        let out = Scalar(Foundation.pow(value, p), [self], "^\(p)")
        out.backwardRule = { [unowned out, unowned self] in self.grad += p * Foundation.pow(self.value, p - 1) * out.grad }
        return out
    }

    /// tanh(a); d/da = 1 − tanh²(a).
    public func tanh() -> Scalar {
        let t = Foundation.tanh(value)
        let out = Scalar(t, [self], "tanh")
        out.backwardRule = { [unowned out, unowned self] in self.grad += (1 - t * t) * out.grad }
        return out
    }

    /// eᵃ; d/da = eᵃ.
    public func exp() -> Scalar {
        let e = Foundation.exp(value)
        let out = Scalar(e, [self], "exp")
        out.backwardRule = { [unowned out, unowned self] in self.grad += e * out.grad }
        return out
    }

    /// a − b.
    public static func - (a: Scalar, b: Scalar) -> Scalar { a + b * Scalar(-1) }
    /// a / b = a · b⁻¹.
    public static func / (a: Scalar, b: Scalar) -> Scalar { a * b.pow(-1) }

    /// The nodes reachable from this one, each after its parents (depth-first post-order).
    public func topologicalOrder() -> [Scalar] {
        var order: [Scalar] = []
        var visited = Set<ObjectIdentifier>()
        func visit(_ node: Scalar) {
            guard visited.insert(ObjectIdentifier(node)).inserted else { return }
            for parent in node.parents { visit(parent) }
            order.append(node)
        }
        visit(self)
        return order
    }

    /// Sets dself/dself = 1 and applies every node's chain rule once, outputs before inputs.
    public func backward() {
        let order = topologicalOrder()
        for node in order { node.grad = 0 }
        grad = 1
        for node in order.reversed() { node.backwardRule() }
    }
}
