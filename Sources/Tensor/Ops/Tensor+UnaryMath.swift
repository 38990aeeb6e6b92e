// Unary math: one function applied to every element.
//
// Contract: each op returns a new contiguous tensor of the same shape (any input layout is
// accepted). exp, tanh, sigmoid, SiLU and GELU run on 16 lanes at a time through `VectorMath`
// (a few ULP from the C library); log, sin, cos and general powers call the C library per
// element. Tensors of 64K elements or more are split across `Parallel.threadCount` threads.

import Foundation

/// Which formula `Tensor.gelu(approximation:)` evaluates.
public enum GELUApproximation: Sendable, Hashable {
    /// The exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)) (Hendrycks & Gimpel 2016, eq. 1).
    case none
    /// The tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel 2016, §2).
    case tanh
}

/// Applies a scalar function to each lane (for functions without a vector implementation).
@usableFromInline
struct LaneWise: VectorFunction {
    @usableFromInline let f: @Sendable (Float) -> Float
    @usableFromInline init(_ f: @escaping @Sendable (Float) -> Float) { self.f = f }
    @inline(__always) @usableFromInline
    func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var r = x
        for j in 0..<16 { r[j] = f(x[j]) }
        return r
    }
}

@usableFromInline struct ExpFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.exp(x) }
}

@usableFromInline struct TanhFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.tanh(x) }
}

@usableFromInline struct SigmoidFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.sigmoid(x) }
}

/// SiLU x·σ(x), written as x / (1 + e^−x).
@usableFromInline struct SiLUFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x / (SIMD16(repeating: 1) + VectorMath.exp(-x))
    }
}

/// (x, g) → g·σ(x)·(1 + x·(1 − σ(x))), the SiLU derivative times an incoming gradient.
@usableFromInline struct SiLUGradientOperator: VectorBinaryOperator {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>, _ g: SIMD16<Float>) -> SIMD16<Float> {
        let s = VectorMath.sigmoid(x)
        return g * s * (SIMD16(repeating: 1) + x * (SIMD16(repeating: 1) - s))
    }
    /// One element through the same vector formula, so tails round like the body.
    @inline(__always) @usableFromInline func scalar(_ x: Float, _ g: Float) -> Float {
        self(SIMD16(repeating: x), SIMD16(repeating: g))[0]
    }
}

@usableFromInline struct GELUErfFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let half = SIMD16<Float>(repeating: 0.5) * x
        return half + half * VectorMath.erf(x * SIMD16(repeating: 0.707_106_781_186_547_5))
    }
}

@usableFromInline struct GELUTanhFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let inner = SIMD16<Float>(repeating: 0.797_884_560_802_865_4) * (x + SIMD16(repeating: 0.044_715) * x * x * x)
        let half = SIMD16<Float>(repeating: 0.5) * x
        return half + half * VectorMath.tanh(inner)
    }
}

@usableFromInline struct SquareRootFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x.squareRoot() }
}

@usableFromInline struct ReciprocalSquareRootFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        SIMD16(repeating: 1) / x.squareRoot()
    }
}

@usableFromInline struct AbsoluteValueFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & SIMD16(repeating: 0x7FFF_FFFF), to: SIMD16<Float>.self)
    }
}

@usableFromInline struct SquareFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x * x }
}

/// max(x, 0), with NaN kept as NaN (as in PyTorch).
@usableFromInline struct ReLUFunction: VectorFunction {
    @usableFromInline init() {}
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x.replacing(with: 0, where: x .< 0)
    }
}

/// Clamps to [lower, upper] (either may be infinite); NaN stays NaN.
@usableFromInline struct ClampFunction: VectorFunction {
    @usableFromInline let lower: Float, upper: Float
    @usableFromInline init(lower: Float, upper: Float) { self.lower = lower; self.upper = upper }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let low = x.replacing(with: lower, where: x .< lower)
        return low.replacing(with: upper, where: low .> upper)
    }
}

extension Tensor {
    /// e^x for every element.
    public func exp() -> Tensor { applying(ExpFunction()) }

    /// The natural logarithm of every element (NaN below 0, −inf at 0).
    public func log() -> Tensor { applying(LaneWise { Foundation.log($0) }) }

    /// The square root of every element.
    public func sqrt() -> Tensor { applying(SquareRootFunction()) }

    /// 1/√x for every element.
    public func rsqrt() -> Tensor { applying(ReciprocalSquareRootFunction()) }

    /// The hyperbolic tangent of every element.
    public func tanh() -> Tensor { applying(TanhFunction()) }

    /// The sine of every element (radians).
    public func sin() -> Tensor { applying(LaneWise { Foundation.sin($0) }) }

    /// The cosine of every element (radians).
    public func cos() -> Tensor { applying(LaneWise { Foundation.cos($0) }) }

    /// The absolute value of every element.
    public func abs() -> Tensor { applying(AbsoluteValueFunction()) }

    /// x² for every element.
    public func square() -> Tensor { applying(SquareFunction()) }

    /// x^p for every element, with C `powf` semantics (NaN for negative x and non-integer p).
    /// The exponents 1, 2, 0.5 and −0.5 take exact fast paths.
    public func pow(_ p: Float) -> Tensor {
        switch p {
        case 1: return contiguous(forceCopy: true)
        case 2: return square()
        case 0.5: return sqrt()
        case -0.5: return rsqrt()
        default: return applying(LaneWise { Foundation.pow($0, p) })
        }
    }

    /// max(x, 0) for every element (NaN stays NaN).
    public func relu() -> Tensor { applying(ReLUFunction()) }

    /// The logistic sigmoid σ(x) = 1 / (1 + e^−x) of every element.
    public func sigmoid() -> Tensor { applying(SigmoidFunction()) }

    /// SiLU (swish), x·σ(x) (Elfwing et al. 2017, eq. 4; Ramachandran et al. 2017).
    public func silu() -> Tensor { applying(SiLUFunction()) }

    /// The chain rule through SiLU at these inputs: `gradient` · d(x·σ(x))/dx =
    /// g·σ(x)·(1 + x·(1 − σ(x))), in one vectorized pass (split across threads for large tensors).
    public func siluBackward(_ gradient: Tensor) -> Tensor {
        precondition(gradient.shape == shape, "siluBackward: gradient \(gradient.shape) does not match \(shape)")
        return Tensor.binary(self, gradient, SiLUGradientOperator())
    }

    /// GELU, x·Φ(x) with Φ the standard normal CDF (Hendrycks & Gimpel 2016).
    /// - Parameter approximation: `.none` for the exact erf form, `.tanh` for the tanh form
    ///   (PyTorch's `approximate="tanh"`).
    public func gelu(approximation: GELUApproximation = .none) -> Tensor {
        switch approximation {
        case .none: return applying(GELUErfFunction())
        case .tanh: return applying(GELUTanhFunction())
        }
    }

    /// Every element limited to `[min, max]`; a nil bound leaves that side open. NaN stays NaN.
    public func clamped(min: Float? = nil, max: Float? = nil) -> Tensor {
        applying(ClampFunction(lower: min ?? -.infinity, upper: max ?? .infinity))
    }
}

extension Tensor {
    /// The GEGLU gate (Shazeer 2020, "GLU Variants Improve Transformer", eq. 6) in one pass: the
    /// last axis of length 2n splits into halves a = x[..., ..<n] and g = x[..., n...], and the
    /// result [..., n] is a · GELU(g) with the exact (erf) GELU, equal to
    /// `sliced(axis: -1, 0..<n) * sliced(axis: -1, n..<2n).gelu()` without the two strided
    /// intermediates; rows are split across threads for large tensors.
    public func gatedGELU() -> Tensor {
        precondition(rank >= 1 && shape[rank - 1] % 2 == 0,
                     "gatedGELU: the last axis of \(shape) must have an even length (the value and gate halves)")
        let width = shape[rank - 1], half = width / 2
        let rows = width == 0 ? 0 : count / width
        let resultShape = Array(shape.dropLast()) + [half]
        let out = TensorStorage(uninitializedCount: Swift.max(1, rows * half))
        let source = contiguous()
        withExtendedLifetime(source) {
            // Each chunk reads and writes only its own rows.
            nonisolated(unsafe) let src = UnsafePointer(source.storage.pointer + source.offset)
            nonisolated(unsafe) let dst = out.pointer
            let gelu = GELUErfFunction()
            let body: @Sendable (Range<Int>) -> Void = { range in
                for r in range {
                    let a = src + r * width, g = a + half, y = dst + r * half
                    var i = 0
                    while i + 16 <= half {
                        store16(load16(a + i) * gelu(load16(g + i)), y + i)
                        i += 16
                    }
                    if i < half {
                        let n = half - i
                        storePartial16(loadPartial16(a + i, n) * gelu(loadPartial16(g + i, n)), y + i, n)
                    }
                }
            }
            if rows * width < parallelElementThreshold || rows < 2 {
                body(0..<rows)
            } else {
                parallelFor(chunking: rows, minimumChunk: Swift.max(1, parallelElementThreshold / 2 / width), body)
            }
        }
        return Tensor(storage: out, shape: resultShape, strides: Tensor.contiguousStrides(resultShape))
    }
}
