// Contract: the noise options a user may set on a named sampler, k-diffusion's `eta` (how much
// of the DDPM noise an ancestral/SDE step adds) and `s_noise` (a scale on every added noise),
// applied to the sampler a name resolves to. An option the sampler does not have, a negative
// or non-finite value is a thrown error naming the samplers that take it.

import Foundation

/// `eta` and `s_noise` for a named sampler (nil: the sampler's default).
public struct SamplerOptions: Sendable, Equatable {
    /// Fraction of the DDPM noise an ancestral or SDE step adds (k-diffusion `eta`).
    public var eta: Double?
    /// Scale of every added noise (k-diffusion `s_noise`; for euler/heun/dpm_2 the churn noise).
    public var sNoise: Double?

    /// Creates options; nil keeps the sampler's default.
    public init(eta: Double? = nil, sNoise: Double? = nil) { self.eta = eta; self.sNoise = sNoise }

    /// Whether no option is set.
    public var isEmpty: Bool { eta == nil && sNoise == nil }
}

extension SamplerName {
    /// The samplers that take `eta` (k-diffusion's ancestral and SDE samplers, DPM-Solver, DDIM).
    public static let takingEta: [SamplerName] = [.eulerAncestral, .dpm2Ancestral, .dpmpp2SAncestral, .dpmppSDE,
                                                   .dpmpp2MSDE, .dpmpp3MSDE, .ddim, .dpmFast, .dpmAdaptive]
    /// The samplers that take `s_noise`.
    public static let takingSNoise: [SamplerName] = [.euler, .heun, .dpm2, .eulerAncestral, .dpm2Ancestral, .dpmpp2SAncestral,
                                                      .dpmppSDE, .dpmpp2MSDE, .dpmpp3MSDE, .dpmFast, .dpmAdaptive,
                                                      .restart, .edmStochastic]

    /// `sampler` (this name's sampler, possibly configured by its label) with `options` applied.
    /// - Throws: `DiffusionError.invalidParameter` for an option this sampler does not take, or a
    ///   value that is negative or not finite.
    public func applying(_ options: SamplerOptions, to sampler: any Sampler) throws -> any Sampler {
        for (label, value) in [("eta", options.eta), ("s_noise", options.sNoise)] {
            if let value, !(value.isFinite && value >= 0) {
                throw DiffusionError.invalidParameter("\(label) must be a finite number >= 0, got \(value)")
            }
        }
        if options.eta != nil, !Self.takingEta.contains(self) {
            throw DiffusionError.invalidParameter("\(rawValue) has no eta; samplers with eta: \(Self.takingEta.map(\.rawValue).joined(separator: ", "))")
        }
        if options.sNoise != nil, !Self.takingSNoise.contains(self) {
            throw DiffusionError.invalidParameter("\(rawValue) adds no noise to scale (no s_noise); samplers with s_noise: \(Self.takingSNoise.map(\.rawValue).joined(separator: ", "))")
        }
        let eta = options.eta, sNoise = options.sNoise
        switch sampler {
        case var s as EulerAncestralSampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPM2AncestralSampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMPP2SAncestralSampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMPPSDESampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMPP2MSDESampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMPP3MSDESampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMFastSampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DPMAdaptiveSampler: s.eta = eta ?? s.eta; s.sNoise = sNoise ?? s.sNoise; return s
        case var s as DDIMSampler: s.eta = eta ?? s.eta; return s
        case var s as EulerSampler: s.churn.sNoise = sNoise ?? s.churn.sNoise; return s
        case var s as HeunSampler: s.churn.sNoise = sNoise ?? s.churn.sNoise; return s
        case var s as DPM2Sampler: s.churn.sNoise = sNoise ?? s.churn.sNoise; return s
        case var s as RestartSampler: s.sNoise = sNoise ?? s.sNoise; return s
        case var s as EDMStochasticSampler: s.heun.churn.sNoise = sNoise ?? s.heun.churn.sNoise; return s
        default:
            if options.isEmpty { return sampler }
            throw DiffusionError.invalidParameter("\(rawValue): eta/s_noise cannot be set on \(type(of: sampler))")
        }
    }
}
