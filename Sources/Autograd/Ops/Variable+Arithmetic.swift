// Broadcasting arithmetic on variables. Each forward is the Tensor op; each backward multiplies
// by the local derivative and sums the result back to the operand's shape (`summedToShape`),
// because a broadcast operand was used once per repeated position.

import Tensor

extension Variable {
    /// Elementwise sum with broadcasting. d(a+b)/da = 1, d(a+b)/db = 1.
    public static func + (a: Variable, b: Variable) -> Variable {
        Variable(result: a.value + b.value, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulateGradient(g.summedToShape(a.shape)) }
            if b.requiresGrad { b.accumulateGradient(g.summedToShape(b.shape)) }
        }
    }

    /// Elementwise difference with broadcasting. d(a-b)/da = 1, d(a-b)/db = -1.
    public static func - (a: Variable, b: Variable) -> Variable {
        Variable(result: a.value - b.value, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulateGradient(g.summedToShape(a.shape)) }
            if b.requiresGrad { b.accumulateGradient((-g).summedToShape(b.shape)) }
        }
    }

    /// Elementwise product with broadcasting. d(ab)/da = b, d(ab)/db = a.
    public static func * (a: Variable, b: Variable) -> Variable {
        let x = a.value, y = b.value
        return Variable(result: x * y, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulateGradient((g * y).summedToShape(x.shape)) }
            if b.requiresGrad { b.accumulateGradient((g * x).summedToShape(y.shape)) }
        }
    }

    /// Elementwise quotient with broadcasting. d(a/b)/da = 1/b, d(a/b)/db = -a/b².
    public static func / (a: Variable, b: Variable) -> Variable {
        let x = a.value, y = b.value
        return Variable(result: x / y, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulateGradient((g / y).summedToShape(x.shape)) }
            if b.requiresGrad {
                let gb = Tensor.zip(g, Tensor.zip(x, y) { -$0 / ($1 * $1) }, *)
                b.accumulateGradient(gb.summedToShape(y.shape))
            }
        }
    }

    /// Negation. d(-a)/da = -1.
    public static prefix func - (a: Variable) -> Variable {
        Variable(result: -a.value, parents: [a]) { g in a.accumulateGradient(-g) }
    }

    /// Adds a constant to every element.
    public static func + (a: Variable, s: Float) -> Variable {
        Variable(result: a.value + s, parents: [a]) { g in a.accumulateGradient(g) }
    }
    /// Adds every element to a constant.
    public static func + (s: Float, a: Variable) -> Variable { a + s }
    /// Subtracts a constant from every element.
    public static func - (a: Variable, s: Float) -> Variable { a + (-s) }
    /// Subtracts every element from a constant.
    public static func - (s: Float, a: Variable) -> Variable {
        Variable(result: s - a.value, parents: [a]) { g in a.accumulateGradient(-g) }
    }
    /// Multiplies every element by a constant.
    public static func * (a: Variable, s: Float) -> Variable {
        Variable(result: a.value * s, parents: [a]) { g in a.accumulateGradient(g * s) }
    }
    /// Multiplies a constant by every element.
    public static func * (s: Float, a: Variable) -> Variable { a * s }
    /// Divides every element by a constant.
    public static func / (a: Variable, s: Float) -> Variable {
        Variable(result: a.value / s, parents: [a]) { g in a.accumulateGradient(g / s) }
    }
    /// Divides a constant by every element. d(s/a)/da = -s/a².
    public static func / (s: Float, a: Variable) -> Variable {
        let x = a.value
        return Variable(result: s / x, parents: [a]) { g in
            a.accumulateGradient(Tensor.zip(g, x) { gi, xi in -gi * s / (xi * xi) })
        }
    }
}
