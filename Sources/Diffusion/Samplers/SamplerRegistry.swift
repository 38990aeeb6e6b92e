// Contract: sampler names. k-diffusion's names are canonical (`SamplerName`); AUTOMATIC1111's
// web-UI labels ("Euler a", "DPM++ 2M Karras", ...; a " Karras" or " Exponential" suffix
// implies that sigma schedule) and diffusers' scheduler class names are aliases. An unknown
// name is a thrown error listing every accepted name. docs/samplers.md shows the same table.

import Foundation

/// The canonical (k-diffusion) sampler names.
public enum SamplerName: String, CaseIterable, Sendable {
    /// Euler (Karras et al. 2022, Alg. 2).
    case euler
    /// Euler with ancestral noise.
    case eulerAncestral = "euler_ancestral"
    /// Heun (Karras et al. 2022, Alg. 2).
    case heun
    /// DPM-Solver-2 midpoint in log sigma.
    case dpm2 = "dpm_2"
    /// DPM-Solver-2 with ancestral noise.
    case dpm2Ancestral = "dpm_2_ancestral"
    /// Linear multistep, order 4.
    case lms
    /// DPM-Solver++(2S) with ancestral noise.
    case dpmpp2SAncestral = "dpmpp_2s_ancestral"
    /// DPM-Solver++(2M).
    case dpmpp2M = "dpmpp_2m"
    /// Stochastic DPM-Solver++ (2 stages).
    case dpmppSDE = "dpmpp_sde"
    /// DPM-Solver++(2M) SDE.
    case dpmpp2MSDE = "dpmpp_2m_sde"
    /// DPM-Solver++(3M) SDE.
    case dpmpp3MSDE = "dpmpp_3m_sde"
    /// DDPM ancestral sampling.
    case ddpm
    /// DDIM (eta = 0 by default).
    case ddim
    /// CompVis PLMS.
    case plms

    // Issue 17, part A: the ComfyUI / AUTOMATIC1111 samplers beyond k-diffusion's classic set.
    /// DPM-Solver with fixed orders spending the step count as its NFE budget (Lu et al. 2022a).
    case dpmFast = "dpm_fast"
    /// DPM-Solver-23 with adaptive step size (Lu et al. 2022a); chooses its own steps.
    case dpmAdaptive = "dpm_adaptive"
    /// Restart sampling: Heun ODE segments with forward noise jumps (Xu et al. 2023).
    case restart
    /// Improved PNDM: Adams–Bashforth in sigma, orders 1-4 (Zhang & Chen 2022).
    case ipndm
    /// Karras et al. 2022's stochastic sampler (Alg. 2: Heun with churn) at their ImageNet-64 setting.
    case edmStochastic = "edm_stochastic"
    // diffusers' multistep family and consistency sampling (issue 17, part B).
    /// UniPC predictor-corrector (Zhao et al. 2023), bh1, order 3 by default.
    case unipc
    /// DEIS log-rho multistep (Zhang & Chen 2022), order 3 by default.
    case deis
    /// Consistency-model multistep sampling (Luo et al. 2023, "Latent Consistency Models").
    case lcm

    /// The sampler with its default options.
    public func makeSampler() -> any Sampler {
        switch self {
        case .euler: return EulerSampler()
        case .eulerAncestral: return EulerAncestralSampler()
        case .heun: return HeunSampler()
        case .dpm2: return DPM2Sampler()
        case .dpm2Ancestral: return DPM2AncestralSampler()
        case .lms: return LMSSampler()
        case .dpmpp2SAncestral: return DPMPP2SAncestralSampler()
        case .dpmpp2M: return DPMPP2MSampler()
        case .dpmppSDE: return DPMPPSDESampler()
        case .dpmpp2MSDE: return DPMPP2MSDESampler()
        case .dpmpp3MSDE: return DPMPP3MSDESampler()
        case .ddpm: return DDPMSampler()
        case .ddim: return DDIMSampler()
        case .plms: return PLMSSampler()
        case .dpmFast: return DPMFastSampler()
        case .dpmAdaptive: return DPMAdaptiveSampler()
        case .restart: return RestartSampler()
        case .ipndm: return IPNDMSampler()
        case .edmStochastic: return EDMStochasticSampler()
        case .unipc: return UniPCSampler()
        case .deis: return DEISSampler()
        case .lcm: return LCMSampler()
        }
    }

    /// Whether the sampler chooses its own steps (only the two ends of the sigma list matter and a
    /// step count is an error where one is asked for).
    public var choosesOwnSteps: Bool { self == .dpmAdaptive }

    /// The order of the deterministic part (the ODE solver obtained with eta = 0 / no churn);
    /// `plms` is nominal (Adams–Bashforth 4 for equal steps).
    public var order: Int {
        switch self {
        case .euler, .eulerAncestral, .ddpm, .ddim: return 1
        case .heun, .dpm2, .dpm2Ancestral, .dpmpp2SAncestral, .dpmpp2M, .dpmppSDE, .dpmpp2MSDE: return 2
        case .dpmpp3MSDE, .dpmFast, .dpmAdaptive: return 3
        case .restart, .edmStochastic: return 2
        case .lms, .plms, .ipndm: return 4
        case .unipc, .deis: return 3
        case .lcm: return 1
        }
    }

    /// Denoiser evaluations per step (the last step to sigma = 0 may take fewer; `plms` takes one
    /// extra on its first step; `dpm_fast` spends exactly one per step of the list, on fewer,
    /// longer steps; `dpm_adaptive` three per attempted step of its own).
    public var evaluationsPerStep: Int {
        switch self {
        case .dpmAdaptive: return 3
        case .heun, .dpm2, .dpm2Ancestral, .dpmpp2SAncestral, .dpmppSDE, .restart, .edmStochastic: return 2
        default: return 1
        }
    }

    /// Whether the default options make the sampler draw noise.
    public var isStochastic: Bool {
        switch self {
        case .eulerAncestral, .dpm2Ancestral, .dpmpp2SAncestral, .dpmppSDE, .dpmpp2MSDE, .dpmpp3MSDE, .ddpm: return true
        case .restart, .edmStochastic: return true
        case .euler, .heun, .dpm2, .lms, .dpmpp2M, .ddim, .plms: return false
        case .dpmFast, .dpmAdaptive, .ipndm: return false
        case .unipc, .deis: return false
        case .lcm: return true
        }
    }

    /// Whether the sampler is meant for a discrete model's own sigmas (ddpm, ddim, plms).
    public var isDiscreteTime: Bool { self == .ddpm || self == .ddim || self == .plms }
}

/// A resolved sampler name: the canonical sampler, its configured instance, and the sigma
/// schedule an AUTOMATIC1111 label implies (nil: the caller's choice).
public struct SamplerChoice: Sendable {
    /// The canonical name.
    public let name: SamplerName
    /// The sampler, configured as the label asks (for example Heun weights for "DPM++ 2M SDE Heun").
    public let sampler: any Sampler
    /// The schedule implied by a " Karras"/" Exponential" suffix.
    public let schedule: SigmaSchedule?
}

/// Resolution of canonical names, AUTOMATIC1111 labels and diffusers class names.
public enum SamplerRegistry {
    /// AUTOMATIC1111 labels (without schedule suffix) → canonical name ("DPM++ 2M SDE Heun" also
    /// selects `solverType: .heun`). A1111 has no DDPM sampler; "DDPM" resolves as the canonical name.
    public static let automatic1111Labels: [(label: String, name: SamplerName)] = [
        ("Euler", .euler), ("Euler a", .eulerAncestral), ("Heun", .heun), ("DPM2", .dpm2),
        ("DPM2 a", .dpm2Ancestral), ("LMS", .lms), ("DPM++ 2S a", .dpmpp2SAncestral), ("DPM++ 2M", .dpmpp2M),
        ("DPM++ SDE", .dpmppSDE), ("DPM++ 2M SDE", .dpmpp2MSDE), ("DPM++ 2M SDE Heun", .dpmpp2MSDE),
        ("DPM++ 3M SDE", .dpmpp3MSDE), ("DDIM", .ddim), ("PLMS", .plms),
        ("DPM fast", .dpmFast), ("DPM adaptive", .dpmAdaptive), ("Restart", .restart),
        ("UniPC", .unipc), ("LCM", .lcm),
    ]

    /// AUTOMATIC1111's old API aliases (`k_euler_a`, ...).
    public static let automatic1111Aliases: [(alias: String, name: SamplerName)] = [
        ("k_euler", .euler), ("k_euler_a", .eulerAncestral), ("k_heun", .heun), ("k_dpm_2", .dpm2),
        ("k_dpm_2_a", .dpm2Ancestral), ("k_lms", .lms), ("k_dpmpp_2s_a", .dpmpp2SAncestral), ("k_dpmpp_2m", .dpmpp2M),
        ("k_dpmpp_sde", .dpmppSDE), ("k_dpmpp_2m_sde", .dpmpp2MSDE), ("k_dpmpp_3m_sde", .dpmpp3MSDE),
        ("k_dpm_fast", .dpmFast), ("k_dpm_ad", .dpmAdaptive),
    ]

    /// ComfyUI's KSampler names of the canonical samplers (most are k-diffusion's own names;
    /// `uni_pc` is UniPC bh1, `uni_pc_bh2` bh2;
    /// ComfyUI's `ddim` runs Euler, which our `ddim` equals on sigmas; PLMS, DDPM-as-diffusers
    /// and Restart are not in ComfyUI's core list).
    public static let comfyUINames: [(name: String, sampler: SamplerName)] = [
        ("euler", .euler), ("euler_ancestral", .eulerAncestral), ("heun", .heun), ("dpm_2", .dpm2),
        ("dpm_2_ancestral", .dpm2Ancestral), ("lms", .lms), ("dpm_fast", .dpmFast), ("dpm_adaptive", .dpmAdaptive),
        ("dpmpp_2s_ancestral", .dpmpp2SAncestral), ("dpmpp_sde", .dpmppSDE), ("dpmpp_2m", .dpmpp2M),
        ("dpmpp_2m_sde", .dpmpp2MSDE), ("dpmpp_3m_sde", .dpmpp3MSDE), ("ddpm", .ddpm), ("ddim", .ddim),
        ("ipndm", .ipndm), ("uni_pc", .unipc), ("uni_pc_bh2", .unipc),
    ]

    /// diffusers scheduler classes → the k-diffusion sampler they implement (see docs/samplers.md
    /// for where the two differ in defaults).
    public static let diffusersSchedulers: [(className: String, name: SamplerName)] = [
        ("EulerDiscreteScheduler", .euler), ("EulerAncestralDiscreteScheduler", .eulerAncestral),
        ("HeunDiscreteScheduler", .heun), ("KDPM2DiscreteScheduler", .dpm2),
        ("KDPM2AncestralDiscreteScheduler", .dpm2Ancestral), ("LMSDiscreteScheduler", .lms),
        ("DPMSolverMultistepScheduler", .dpmpp2M),
        ("DPMSolverMultistepScheduler(algorithm_type=sde-dpmsolver++)", .dpmpp2MSDE),
        ("DPMSolverSDEScheduler", .dpmppSDE), ("DDPMScheduler", .ddpm), ("DDIMScheduler", .ddim),
        ("PNDMScheduler", .plms),
        ("UniPCMultistepScheduler", .unipc), ("UniPCMultistepScheduler(solver_type=bh1)", .unipc),
        ("DEISMultistepScheduler", .deis), ("DEISMultistepScheduler(solver_order=3)", .deis), ("LCMScheduler", .lcm),
    ]

    /// The sampler a diffusers class name or ComfyUI name selects when its defaults differ from the
    /// canonical sampler's: diffusers' `UniPCMultistepScheduler` is bh2 of order 2 and its
    /// `DEISMultistepScheduler` of order 2 (both lower the order at the end; diffusers' DEIS does
    /// so only below 15 steps, which `DiffusersSchedulerPlan` applies), `uni_pc_bh2` is bh2.
    static func configuredSampler(for label: String) -> (any Sampler)? {
        switch label {
        case "UniPCMultistepScheduler", "uni_pc_bh2": return UniPCSampler(variant: .bh2, order: label == "uni_pc_bh2" ? 3 : 2)
        case "UniPCMultistepScheduler(solver_type=bh1)": return UniPCSampler(variant: .bh1, order: 2)
        case "DEISMultistepScheduler": return DEISSampler(order: 2)
        case "DEISMultistepScheduler(solver_order=3)": return DEISSampler(order: 3)
        default: return nil
        }
    }

    /// Every accepted name: canonical, AUTOMATIC1111 (each also with " Karras"/" Exponential"), diffusers.
    public static var acceptedNames: [String] {
        SamplerName.allCases.map(\.rawValue) + automatic1111Labels.map(\.label)
            + automatic1111Labels.map { $0.label + " Karras" } + ["(any A1111 label) Exponential"]
            + automatic1111Aliases.map(\.alias) + comfyUINames.map(\.name).filter { SamplerName(rawValue: $0) == nil }
            + diffusersSchedulers.map(\.className)
    }

    /// Resolves any accepted name (case-insensitive, spaces around it ignored).
    /// - Throws: `DiffusionError.unknownSampler` listing `acceptedNames`.
    public static func resolve(_ label: String) throws -> SamplerChoice {
        let key = normalize(label)
        if let name = SamplerName.allCases.first(where: { $0.rawValue == key }) {
            return SamplerChoice(name: name, sampler: name.makeSampler(), schedule: nil)
        }
        if let hit = comfyUINames.first(where: { $0.name == key }) {
            return SamplerChoice(name: hit.sampler, sampler: configuredSampler(for: hit.name) ?? hit.sampler.makeSampler(), schedule: nil)
        }
        if let hit = automatic1111Aliases.first(where: { $0.alias == key }) {
            return SamplerChoice(name: hit.name, sampler: hit.name.makeSampler(), schedule: nil)
        }
        if let hit = diffusersSchedulers.first(where: { normalize($0.className) == key }) {
            return SamplerChoice(name: hit.name, sampler: configuredSampler(for: hit.className) ?? hit.name.makeSampler(), schedule: nil)
        }
        var base = key
        var schedule: SigmaSchedule?
        for (suffix, s) in [(" karras", SigmaSchedule.karras), (" exponential", .exponential)] where base.hasSuffix(suffix) {
            base = String(base.dropLast(suffix.count))
            schedule = s
        }
        if let hit = automatic1111Labels.first(where: { normalize($0.label) == base }) {
            let sampler: any Sampler = hit.label == "DPM++ 2M SDE Heun"
                ? DPMPP2MSDESampler(solverType: .heun) : hit.name.makeSampler()
            return SamplerChoice(name: hit.name, sampler: sampler, schedule: schedule)
        }
        throw DiffusionError.unknownSampler(label, accepted: acceptedNames)
    }

    private static func normalize(_ s: String) -> String {
        s.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            .replacingOccurrences(of: "( ", with: "(").replacingOccurrences(of: " )", with: ")")
            .replacingOccurrences(of: " = ", with: "=").replacingOccurrences(of: "\"", with: "")
            .replacingOccurrences(of: "'", with: "")
    }
}
