// Elementwise functions on variables. Forward: the Tensor op; backward: the gradient times the
// function's derivative, written from the saved input or output (whichever is cheaper).

import Foundation
import Tensor

extension Variable {
    /// A unary op whose backward multiplies the gradient by `derivative(input, output)`,
    /// fused into one pass: dx[i] = g[i]·derivative(x[i], y[i]).
    private func elementwise(_ forward: (Tensor) -> Tensor, derivative: @escaping (Float, Float) -> Float) -> Variable {
        let x = value
        let y = forward(x)
        return Variable(result: y, parents: [self]) { g in
            let dx = Tensor(shape: x.shape) { out in
                g.withUnsafeBufferPointer { gs in
                    x.withUnsafeBufferPointer { xs in
                        y.withUnsafeBufferPointer { ys in
                            for i in 0..<out.count { out[i] = gs[i] * derivative(xs[i], ys[i]) }
                        }
                    }
                }
            }
            self.accumulateGradient(dx)
        }
    }

    /// eˣ. d/dx = eˣ (the output).
    public func exp() -> Variable { elementwise({ $0.exp() }) { _, y in y } }
    /// Natural logarithm. d/dx = 1/x.
    public func log() -> Variable { elementwise({ $0.log() }) { x, _ in 1 / x } }
    /// Square root. d/dx = 1/(2√x).
    public func sqrt() -> Variable { elementwise({ $0.sqrt() }) { _, y in 0.5 / y } }
    /// 1/√x. d/dx = -½ x^(-3/2) = -½ y³.
    public func rsqrt() -> Variable { elementwise({ $0.rsqrt() }) { _, y in -0.5 * y * y * y } }
    /// Hyperbolic tangent. d/dx = 1 - tanh²(x).
    public func tanh() -> Variable { elementwise({ $0.tanh() }) { _, y in 1 - y * y } }
    /// Logistic sigmoid σ(x) = 1/(1+e⁻ˣ). d/dx = σ(1-σ).
    public func sigmoid() -> Variable { elementwise({ $0.sigmoid() }) { _, y in y * (1 - y) } }
    /// max(x, 0). d/dx = 1 for x > 0, else 0 (PyTorch's choice at 0). The backward reads the
    /// output (y > 0 exactly when x > 0), so the input need not be kept.
    public func relu() -> Variable {
        let y = value.relu()
        return Variable(result: y, parents: [self]) { g in
            // Every element is written below, so the buffer starts uninitialized.
            let storage = TensorStorage(uninitializedCount: Swift.max(1, y.count))
            g.withUnsafeBufferPointer { gs in
                y.withUnsafeBufferPointer { ys in
                    guard let g0 = gs.baseAddress, let y0 = ys.baseAddress else { return }
                    // Read-only inputs; each chunk writes its own range of the output.
                    nonisolated(unsafe) let (gp, yp, out) = (g0, y0, storage.pointer)
                    parallelFor(chunking: ys.count, minimumChunk: 1 << 16) { range in
                        var i = range.lowerBound
                        while i + 16 <= range.upperBound {
                            let yv = UnsafeRawPointer(yp + i).loadUnaligned(as: SIMD16<Float>.self)
                            let gv = UnsafeRawPointer(gp + i).loadUnaligned(as: SIMD16<Float>.self)
                            UnsafeMutableRawPointer(out + i).storeBytes(of: gv.replacing(with: 0, where: .!(yv .> 0)),
                                                                        as: SIMD16<Float>.self)
                            i += 16
                        }
                        while i < range.upperBound { out[i] = yp[i] > 0 ? gp[i] : 0; i += 1 }
                    }
                }
            }
            self.accumulateGradient(Tensor(storage: storage, shape: y.shape, strides: Tensor.contiguousStrides(y.shape)))
        }
    }
    /// x². d/dx = 2x.
    public func square() -> Variable { elementwise({ $0.square() }) { x, _ in 2 * x } }
    /// xᵖ. d/dx = p·xᵖ⁻¹.
    public func pow(_ p: Float) -> Variable {
        elementwise({ $0.pow(p) }) { x, _ in p * Foundation.pow(x, p - 1) }
    }
    /// |x|. d/dx = sign(x) (0 at 0, as PyTorch).
    public func abs() -> Variable { elementwise({ $0.abs() }) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }

    /// SiLU (swish) x·σ(x) (Elfwing et al. 2017; Ramachandran et al. 2017).
    /// d/dx = σ(x)·(1 + x·(1 - σ(x))).
    public func silu() -> Variable {
        let x = value
        let y = x.silu()
        return Variable(result: y, parents: [self]) { g in
            // σ(x) is recomputed (σ = y/x would lose accuracy near 0) inside one vectorized pass.
            self.accumulateGradient(x.siluBackward(g))
        }
    }

    /// GELU (Hendrycks & Gimpel 2016): x·Φ(x), or its tanh approximation
    /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))) as `torch.nn.functional.gelu(approximate="tanh")`.
    /// Exact derivative: Φ(x) + x·φ(x). Tanh form: ½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715x²).
    public func gelu(approximation: GELUApproximation = .none) -> Variable {
        switch approximation {
        case .none:
            return elementwise({ $0.gelu(approximation: .none) }) { x, _ in
                let cdf = 0.5 * (1 + Foundation.erf(x / Float(2).squareRoot()))
                let pdf = Foundation.exp(-0.5 * x * x) / (2 * Float.pi).squareRoot()
                return cdf + x * pdf
            }
        case .tanh:
            return elementwise({ $0.gelu(approximation: .tanh) }) { x, _ in
                let c = (2 / Float.pi).squareRoot()
                let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
            }
        }
    }

    /// The GEGLU gate a · GELU(g) of the two halves a, g of the last axis (Shazeer 2020,
    /// "GLU Variants Improve Transformer", eq. 6; exact erf GELU): [..., 2n] → [..., n], one
    /// fused pass (`Tensor.gatedGELU`). Backward: da = dy · GELU(g), dg = dy · a · (Φ(g) + g φ(g)).
    public func gatedGELU() -> Variable {
        let x = value
        return Variable(result: x.gatedGELU(), parents: [self]) { dy in
            let n = x.shape[x.rank - 1] / 2
            let a = x.sliced(axis: -1, 0..<n).contiguous(), g = x.sliced(axis: -1, n..<(2 * n)).contiguous()
            let derivative = g.map { v in
                0.5 * (1 + Foundation.erf(v / Float(2).squareRoot())) + v * Foundation.exp(-0.5 * v * v) / (2 * Float.pi).squareRoot()
            }
            self.accumulateGradient(Tensor.concatenate([dy * g.gelu(), dy * a * derivative], axis: -1))
        }
    }
}
