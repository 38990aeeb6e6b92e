// Contract: the one abstraction every sampler speaks, a denoiser D(x, sigma) ≈ E[x0 | x],
// where x = x0 + sigma * n, n ~ N(0, I) (the "variance exploding" parameterization of
// Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
// eq. 1-3). A batch x (any shape, first axis the batch by convention) is denoised at ONE
// sigma per call: all samplers here move the whole batch along the same sigma list.

import Tensor

/// A denoiser `D(x, sigma) -> x0`: the estimate of the clean sample given a noisy one.
///
/// The probability-flow ODE every sampler discretizes is `dx/dsigma = (x - D(x, sigma)) / sigma`
/// (Karras et al. 2022, eq. 3 with sigma(t) = t).
public protocol Denoiser {
    /// Returns the denoised estimate of `x` at noise level `sigma`.
    /// - Parameters:
    ///   - x: the noisy state, any shape (for example `[B, C, H, W]` or `[B, D]`);
    ///     every element sits at the same noise level.
    ///   - sigma: the noise level, > 0 (samplers never call a denoiser at sigma = 0).
    /// - Returns: a tensor of the shape of `x`.
    func denoise(_ x: Tensor, sigma: Double) throws -> Tensor
}

/// A denoiser made from a closure, for tests and quick experiments.
public struct ClosureDenoiser: Denoiser {
    /// The closure evaluated by `denoise(_:sigma:)`.
    public let body: (Tensor, Double) throws -> Tensor

    /// Wraps `body(x, sigma)` as a denoiser.
    public init(_ body: @escaping (Tensor, Double) throws -> Tensor) { self.body = body }

    /// Calls the closure.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor { try body(x, sigma) }
}

/// A denoiser that counts its evaluations (the "NFE" of a sampler run).
public final class CountingDenoiser: Denoiser {
    /// The wrapped denoiser.
    public let base: any Denoiser
    /// Number of `denoise` calls so far.
    public private(set) var count = 0
    /// The sigmas of every call, in order.
    public private(set) var sigmas: [Double] = []

    /// Wraps `base`, starting the count at 0.
    public init(_ base: any Denoiser) { self.base = base }

    /// Forwards to the wrapped denoiser and records the call.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        count += 1
        sigmas.append(sigma)
        return try base.denoise(x, sigma: sigma)
    }
}
