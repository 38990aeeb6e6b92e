// Contract: classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion
// Guidance", eq. 6) as a denoiser wrapping two denoisers. Guidance in x0-space is the same
// linear combination as in eps-space because D = x - sigma * eps is affine in eps.

import Tensor

/// Classifier-free guidance: `D(x) = D_u(x) + g * (D_c(x) - D_u(x))`.
///
/// `g = 1` gives the conditional denoiser, `g = 0` the unconditional one. Stable Diffusion
/// pipelines batch the two evaluations; here they are two calls, which is the same arithmetic.
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
        let g = Float(scale)
        return Tensor.zip(u, c) { u, c in u + g * (c - u) }
    }
}
