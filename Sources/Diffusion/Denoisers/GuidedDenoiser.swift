// Contract: classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion
// Guidance", eq. 6) as a denoiser wrapping denoisers. Guidance in x0-space is the same
// linear combination as in eps-space because D = x - sigma * eps is affine in eps.
// `GuidedDenoiser` evaluates the two halves as two calls (any two denoisers);
// `BatchedGuidedDenoiser` evaluates them in ONE call on the stacked batch [x; x], as Stable
// Diffusion pipelines do, so a guided step costs one network call on twice the batch.

import Tensor

/// Classifier-free guidance: `D(x) = D_u(x) + g * (D_c(x) - D_u(x))`.
///
/// `g = 1` gives the conditional denoiser, `g = 0` the unconditional one. The two denoisers
/// are called one after the other; `BatchedGuidedDenoiser` is the same arithmetic in one call.
public struct GuidedDenoiser: Denoiser {
    /// The denoiser without the condition (the empty prompt in Stable Diffusion).
    public var unconditional: any Denoiser
    /// The denoiser with the condition.
    public var conditional: any Denoiser
    /// The guidance scale `g` (7.5 is Stable Diffusion's default).
    public var scale: Double

    /// Creates the guided denoiser `uncond + scale * (cond - uncond)`.
    public init(unconditional: any Denoiser, conditional: any Denoiser, scale: Double) {
        self.unconditional = unconditional
        self.conditional = conditional
        self.scale = scale
    }

    /// Evaluates both denoisers and combines them.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        let u = try unconditional.denoise(x, sigma: sigma)
        let c = try conditional.denoise(x, sigma: sigma)
        return Self.combine(unconditional: u, conditional: c, scale: scale)
    }

    /// `u + g * (c - u)`, element by element (eq. 6 of Ho & Salimans 2022).
    public static func combine(unconditional u: Tensor, conditional c: Tensor, scale: Double) -> Tensor {
        let g = Float(scale)
        return Tensor.zip(u, c) { u, c in u + g * (c - u) }
    }
}

/// Classifier-free guidance with both halves in one call: `paired` denoises the stacked batch
/// [x; x] of 2B states, its first B rows without the condition and its last B with it (for a
/// class-conditional UNet: the "no class" label for the first half, the requested labels for
/// the second), and the halves are combined as in `GuidedDenoiser`.
public struct BatchedGuidedDenoiser: Denoiser {
    /// The denoiser of the stacked batch [unconditional half; conditional half].
    public var paired: any Denoiser
    /// The guidance scale `g`.
    public var scale: Double

    /// Creates the guided denoiser over `paired`'s two halves.
    public init(paired: any Denoiser, scale: Double) {
        self.paired = paired
        self.scale = scale
    }

    /// Stacks `x` [B, ...] twice, denoises the [2B, ...] batch in one call and combines the halves.
    public func denoise(_ x: Tensor, sigma: Double) throws -> Tensor {
        let batch = x.shape[0]
        let both = try paired.denoise(Tensor.concatenate([x, x], axis: 0), sigma: sigma)
        precondition(both.shape[0] == 2 * batch, "the paired denoiser returned \(both.shape[0]) rows for \(2 * batch)")
        let u = both.sliced(axis: 0, 0..<batch), c = both.sliced(axis: 0, batch..<(2 * batch))
        return GuidedDenoiser.combine(unconditional: u, conditional: c, scale: scale)
    }
}
