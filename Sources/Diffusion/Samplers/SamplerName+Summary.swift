// SamplerName+Summary: each sampler's update rule and source in one line, stated once.
//
// Contract: the lessons and the documentation read a sampler's rule from here instead of
// restating it. Notation: the step goes from sigma to sigma', h = log(sigma / sigma'),
// d = (x − D(x, sigma)) / sigma (k-diffusion's `to_d`), eps = d, z fresh N(0, I) noise,
// sigma_down and sigma_up the ancestral split of sigma' (sigma_down² + sigma_up² = sigma'²).
// Each sampler's own file has the full algorithm with its equations.

extension SamplerName {
    /// The update from sigma to sigma' in one line of the notation above.
    public var updateRule: String { Self.summaries[self]?.rule ?? "" }

    /// The paper or code the sampler follows.
    public var source: String { Self.summaries[self]?.source ?? "" }

    /// The sampler whose steps this one reproduces exactly on the sigma-parameterized state
    /// (`ddim` is Euler's step, `ddpm` the Euler ancestral step), or `nil`.
    public var coincidesWith: SamplerName? {
        switch self {
        case .ddim: return .euler
        case .ddpm: return .eulerAncestral
        default: return nil
        }
    }

    private static let summaries: [SamplerName: (rule: String, source: String)] = [
        .euler: ("x' = x + (σ'−σ)·d", "Karras et al. 2022, Alg. 2 (no churn)"),
        .eulerAncestral: ("x' = x + (σ↓−σ)·d + σ↑·z", "k-diffusion; DDPM's ancestral step (Ho et al. 2020)"),
        .heun: ("x̃ = x + (σ'−σ)·d;  x' = x + (σ'−σ)·(d + d̃)/2", "Karras et al. 2022, Alg. 1"),
        .dpm2: ("x' = x + (σ'−σ)·d(x + (σm−σ)·d, σm),  σm = √(σσ')", "DPM-Solver-2, Lu et al. 2022a; k-diffusion"),
        .dpm2Ancestral: ("dpm_2 step to σ↓, then + σ↑·z", "k-diffusion"),
        .lms: ("x' = x + Σⱼ cⱼ·dᵢ₋ⱼ  (Adams, last 4 d)", "k-diffusion; Karras et al. 2022 baseline"),
        .dpmpp2SAncestral: ("DPM-Solver++(2S) step to σ↓, then + σ↑·z", "Lu et al. 2022b (DPM-Solver++); k-diffusion"),
        .dpmpp2M: ("x' = (σ'/σ)x + (1−σ'/σ)D̂,  D̂ = (1+1/2r)Dᵢ − (1/2r)Dᵢ₋₁", "DPM-Solver++(2M), Lu et al. 2022b"),
        .dpmppSDE: ("2-stage DPM-Solver++, Brownian noise", "Lu et al. 2022b; k-diffusion"),
        .dpmpp2MSDE: ("x' = (σ'/σ)e⁻ʰx + (1−e⁻²ʰ)D̂ + σ'√(1−e⁻²ʰ)·z", "SDE-DPM-Solver++(2M), Lu et al. 2022b"),
        .dpmpp3MSDE: ("3rd-order multistep D̂ + σ'√(1−e⁻²ʰ)·z", "k-diffusion, after Lu et al. 2022b"),
        .ddpm: ("x' = D + (σ'²/σ)·ε + σ↑·z", "Ho et al. 2020, Alg. 2, in sigma form"),
        .ddim: ("x' = D + σ'·ε,  ε = (x − D)/σ", "Song, Meng & Ermon 2021, eq. 12 (η = 0)"),
        .plms: ("ε̂ = (55εᵢ − 59εᵢ₋₁ + 37εᵢ₋₂ − 9εᵢ₋₃)/24, DDIM step", "Liu et al. 2022 (PNDM); CompVis"),
        // Issue 17, part A.
        .dpmFast: ("DPM-Solver-3 steps (then 2, 1) evenly spaced in log σ, n NFE in all",
                   "Lu et al. 2022a (DPM-Solver-fast, Sec. 3.4); k-diffusion"),
        .dpmAdaptive: ("DPM-Solver-2 vs -3 error estimate picks h: h' = h·f(E), accept if f ≥ 0.81",
                       "Lu et al. 2022a (Sec. 3.3, adaptive step size); k-diffusion"),
        .restart: ("Heun steps; at σ≈0.1: x += √(σ_max² − σ²)·z, back down to σ by Heun (K times)",
                   "Xu et al. 2023 (Restart Sampling, Alg. 1); AUTOMATIC1111"),
        .ipndm: ("x' = x + (σ'−σ)(55dᵢ − 59dᵢ₋₁ + 37dᵢ₋₂ − 9dᵢ₋₃)/24", "Zhang & Chen 2022 (DEIS paper, iPNDM); ComfyUI"),
        .edmStochastic: ("σ̂ = σ(1+γ), x += √(σ̂²−σ²)·S_noise·z; Heun σ̂ → σ'",
                         "Karras et al. 2022, Alg. 2 (S_churn 80, S_tmin 0.05, S_tmax 50, S_noise 1.003)"),
        .unipc: ("x' = (σ'/σ)x + (1−σ'/σ)Dᵢ + B(h)Σρₖ(Dᵢ₋ₖ−Dᵢ)/rₖ, then UniC corrects x' with D(x')",
                 "Zhao et al. 2023 (UniPC), bh1/bh2; diffusers UniPCMultistepScheduler"),
        .deis: ("x' = x + Σⱼ cⱼ·εᵢ₋ⱼ,  cⱼ = ∫σ→σ' ℓⱼ(log ρ) dρ  (ε interpolated in log σ)",
                "Zhang & Chen 2022 (DEIS, log-ρ AB); diffusers DEISMultistepScheduler"),
        .lcm: ("x' = D + σ'·z  (with c_skip, c_out at timestep t in diffusers)",
               "Song et al. 2023 (Consistency Models, Alg. 1); Luo et al. 2023 (LCM)"),
    ]
}
