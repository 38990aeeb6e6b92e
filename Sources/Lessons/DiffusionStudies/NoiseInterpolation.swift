// Contract: interpolating between two starting noises of a deterministic sampler (lesson 05).
// `slerp` walks the great circle between two tensors seen as flat vectors (Shoemake 1985,
// "Animating Rotation with Quaternion Curves"; used for diffusion latents since DDIM, Song et al.
// 2021, sec. 5.3 / Fig. 6), so every point keeps the norm a Gaussian noise of that size has;
// `lerp` is the straight line, whose midpoint is shorter. Both work in Double and return Float32.

import Diffusion
import Foundation
import Tensor

/// Interpolations between two noise tensors of the same shape.
public enum NoiseInterpolation {
    /// The angle between `a` and `b` as flat vectors, in radians: `acos(<a, b> / (|a| |b|))`.
    public static func angle(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape, "NoiseInterpolation.angle: shapes \(a.shape) and \(b.shape) differ")
        let x = a.scalars, y = b.scalars
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in x.indices {
            dot += Double(x[i]) * Double(y[i]); na += Double(x[i]) * Double(x[i]); nb += Double(y[i]) * Double(y[i])
        }
        guard na > 0, nb > 0 else { return 0 }
        return Foundation.acos(Swift.min(1, Swift.max(-1, dot / (na * nb).squareRoot())))
    }

    /// Spherical linear interpolation (Shoemake 1985):
    /// `slerp(a, b; f) = sin((1 − f) θ) / sin θ · a + sin(f θ) / sin θ · b`, θ = `angle(a, b)`.
    /// f = 0 gives `a`, f = 1 gives `b`; for two vectors of equal norm every point has that norm.
    /// When θ is below 1e-6 (nearly parallel vectors) it falls back to `lerp`.
    public static func slerp(_ a: Tensor, _ b: Tensor, fraction f: Double) -> Tensor {
        let theta = angle(a, b)
        guard theta > 1e-6 else { return lerp(a, b, fraction: f) }
        let s = Foundation.sin(theta)
        return combine(a, Foundation.sin((1 - f) * theta) / s, b, Foundation.sin(f * theta) / s)
    }

    /// Linear interpolation `(1 − f) a + f b`.
    public static func lerp(_ a: Tensor, _ b: Tensor, fraction f: Double) -> Tensor {
        combine(a, 1 - f, b, f)
    }

    /// The Euclidean norm of a tensor seen as a flat vector.
    public static func norm(_ a: Tensor) -> Double {
        a.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    private static func combine(_ a: Tensor, _ ca: Double, _ b: Tensor, _ cb: Double) -> Tensor {
        precondition(a.shape == b.shape, "NoiseInterpolation: shapes \(a.shape) and \(b.shape) differ")
        let x = a.scalars, y = b.scalars
        return Tensor(shape: a.shape, scalars: x.indices.map { Float(ca * Double(x[$0]) + cb * Double(y[$0])) })
    }
}
