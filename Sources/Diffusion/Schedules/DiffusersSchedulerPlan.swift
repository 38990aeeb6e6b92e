// Contract: what a diffusers scheduler class name means as a sampler. Given the class
// (`DDIMScheduler`, `PNDMScheduler`, `DDPMScheduler`, the Euler family, `LMSDiscreteScheduler`,
// `DPMSolverMultistepScheduler`, `DPMSolverSinglestepScheduler`, `UniPCMultistepScheduler`,
// `DEISMultistepScheduler`, `LCMScheduler`), a model's scheduler
// configuration (read as `from_config` reads it) and a step count, this builds exactly the
// timesteps and sigmas that class's `set_timesteps` builds — spacing, `steps_offset`,
// `set_alpha_to_one`, linear-in-sigma interpolation, `use_karras_sigmas`, the final sigma —
// the timestep the network is given at each sigma, the scale of the starting noise
// (`init_noise_sigma`), clipping, and the sampler whose steps equal the class's `step`.
//
// Everything runs on the variance-exploding state x = x_vp sqrt(1 + sigma^2) of the project's
// samplers; DDIM/PNDM/DDPM/DPM-Solver/UniPC/DEIS/LCM work on x_vp in diffusers, so their starting noise is
// scaled by sqrt(1 + sigma_0^2) here and their result by `outputScale`.

import Foundation

/// The sigmas, timesteps, starting-noise scale and sampler of a diffusers scheduler run.
public struct DiffusersSchedulerPlan {
    /// The diffusers class name, as diffusers spells it.
    public let className: String
    /// The noise levels of the run, from the first model call to the final level (the last step
    /// may land on sigma_min or alphabar_0's sigma instead of 0).
    public let sigmas: [Double]
    /// The timestep the network is given at each sigma it is called at (`timesteps` of the class).
    public let modelTimesteps: [Double: Double]
    /// The starting state is `initialNoiseScale * N(0, I)` (diffusers `init_noise_sigma`, on the VE state).
    public let initialNoiseScale: Double
    /// diffusers' final latents are `outputScale * x` (1 / sqrt(1 + sigma_last^2) for VP schedulers).
    public let outputScale: Double
    /// Clamp every denoised estimate to [-r, r] before the step (DDPM and Heun `clip_sample`;
    /// DDIM clips inside its sampler).
    public let clipDenoised: Double?
    /// The training noise schedule.
    public let schedule: DiscreteNoiseSchedule
    /// What the network predicts.
    public let prediction: DiscreteTimeDenoiser.Prediction
    private let makeSampler: (Int) -> any Sampler
    /// The run from step `start` where it is not `sigmas[start...]` with `makeSampler(start)` (PNDM).
    private var makeRun: ((Int) throws -> (sigmas: [Double], sampler: any Sampler))?

    /// The sampler for the whole run.
    public var sampler: any Sampler { makeSampler(0) }

    /// The sampler for a run that starts at step `start` (img2img), with per-step settings cut as
    /// diffusers' `set_begin_index` cuts them. PNDM's cut runs need their own sigmas: use `run(startingAt:)`.
    public func sampler(startingAt start: Int) -> any Sampler { makeSampler(start) }

    /// The sigmas and sampler of a run that starts at step `start` of `steps` (img2img and
    /// inpainting with `strength` s start at `steps - int(steps * s)`), as diffusers' pipelines
    /// cut the class's timesteps: `sigmas[start...]` for every class but PNDM, whose duplicated
    /// second timestep the cut counts as a step (its run starts one timestep earlier and its first
    /// transfers step off the grid). The starting noise level is the first sigma.
    /// - Throws: `DiffusionError` when the cut run cannot be reproduced (named, with what to use).
    public func run(startingAt start: Int) throws -> (sigmas: [Double], sampler: any Sampler) {
        if let makeRun { return try makeRun(start) }
        guard start >= 0, start < sigmas.count - 1 else {
            throw DiffusionError.invalidStepCount(steps, reason: "a run starting at step \(start) of \(steps) has no step")
        }
        return (Array(sigmas[start...]), makeSampler(start))
    }

    /// The number of steps of the full run.
    public var steps: Int { sigmas.count - 1 }

    /// Whether the class calls the model a second time in a step at an interpolated sigma
    /// (KDPM2 and KDPM2 ancestral: DPM-Solver-2's midpoint) while its `add_noise` after that
    /// predictor half reads `sigmas[step_index]`, the step's next whole sigma. diffusers'
    /// `StableDiffusionInpaintPipeline` re-noises the kept region with `add_noise` after every
    /// `step`, so at the midpoint call the kept region is at the next sigma, not the midpoint's.
    public var renoisesHalfStepAtNextSigma: Bool { className.hasPrefix("KDPM2") }

    /// The diffusers class names this port reproduces.
    public static let supportedClassNames = [
        "DDIMScheduler", "PNDMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
        "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler",
        "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler", "DEISMultistepScheduler", "LCMScheduler",
    ]

    /// The class name `name` spells (case-insensitive), or nil when it is not a diffusers class.
    public static func className(matching name: String) -> String? {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased()
        return supportedClassNames.first { $0.lowercased() == key }
    }

    /// Builds the plan of `className` over `steps` steps for a model with `configuration`.
    /// - Throws: `DiffusionError.unknownSampler` for another class name,
    ///   `DiffusionError.invalidStepCount` for a step count the class cannot take, and
    ///   `DiffusionError.invalidParameter` naming a configuration field this port does not
    ///   implement (thresholding, zero-SNR rescaling, solver order 3, ...).
    public init(className name: String, configuration c: DiffusersSchedulerConfiguration, steps n: Int) throws {
        guard let cls = Self.className(matching: name) else {
            throw DiffusionError.unknownSampler(name, accepted: Self.supportedClassNames)
        }
        if let (field, value) = c.unimplemented.sorted(by: { $0.key < $1.key }).first {
            throw DiffusionError.invalidParameter("the scheduler configuration sets \(field) = \(value), which this port does not implement for \(cls)")
        }
        var c = c
        if cls == "LCMScheduler" {  // LCMScheduler's own defaults are SD's betas
            c.betaStart = c.betaStart ?? 0.00085
            c.betaEnd = c.betaEnd ?? 0.012
            c.betaSchedule = c.betaSchedule ?? "scaled_linear"
        }
        let schedule = try c.makeNoiseSchedule()
        let T = schedule.trainingSteps
        guard n >= 1, n <= T else {
            throw DiffusionError.invalidStepCount(n, reason: "\(cls) takes 1 to \(T) steps for a model with \(T) training timesteps")
        }
        className = cls
        self.schedule = schedule
        prediction = try c.prediction()
        let offset = c.stepsOffset ?? 0
        func sigma(_ t: Int) throws -> Double {
            guard (0..<T).contains(t) else {
                throw DiffusionError.invalidParameter("\(cls) with steps_offset \(offset) and \(n) steps reaches timestep \(t), outside 0...\(T - 1)")
            }
            return schedule.sigmas[t]
        }
        let spacing = try TimestepSpacing(named: c.timestepSpacing ?? Self.defaultSpacing(cls))
        let clipRange = (c.clipSample ?? Self.defaultClipSample(cls)) ? (c.clipSampleRange ?? 1) : nil
        let vpInitial = { (s0: Double) in (1 + s0 * s0).squareRoot() }

        switch cls {
        case "DDIMScheduler", "PNDMScheduler", "DDPMScheduler":
            let ratio = T / n
            var ts: [Int]
            switch spacing {
            case .linspace: ts = linspaceDouble(0, Double(T - 1), n).map { Int($0.rounded(.toNearestOrEven)) }.reversed()
            case .leading: ts = (0..<n).reversed().map { $0 * ratio + offset }
            case .trailing: ts = Self.trailing(T: T, steps: n).map { Int($0) }
            }
            if cls == "PNDMScheduler", spacing == .trailing { ts = ts.sorted(by: >) }
            let modelSigmas = try ts.map(sigma)
            var timesteps: [Double: Double] = [:]
            for (s, t) in zip(modelSigmas, ts) { timesteps[s] = Double(t) }
            if cls == "DDPMScheduler" {
                guard (c.varianceType ?? "fixed_small") == "fixed_small" else {
                    throw DiffusionError.invalidParameter("DDPMScheduler variance_type \"\(c.varianceType!)\" is not implemented (fixed_small is)")
                }
                sigmas = modelSigmas + [0]
                modelTimesteps = timesteps
                initialNoiseScale = vpInitial(modelSigmas[0])
                outputScale = 1
                clipDenoised = clipRange
                makeSampler = { _ in DDPMSampler() }
                return
            }
            let setAlphaToOne = c.setAlphaToOne ?? (cls == "DDIMScheduler")
            let final = setAlphaToOne ? 0 : schedule.sigmas[0]
            if cls == "DDIMScheduler" {
                // Each step lands on t - T // n (diffusers' prev_timestep), whatever the spacing.
                let targets = try ts.map { $0 - ratio >= 0 ? try sigma($0 - ratio) : final }
                sigmas = modelSigmas + [targets[targets.count - 1]]
                modelTimesteps = timesteps
                initialNoiseScale = vpInitial(modelSigmas[0])
                outputScale = 1 / (1 + targets[targets.count - 1] * targets[targets.count - 1]).squareRoot()
                clipDenoised = nil
                makeSampler = { start in DiffusersDDIMSampler(targets: Array(targets[start...]), clipRange: clipRange) }
                return
            }
            let velocity = prediction == .vPrediction
            initialNoiseScale = vpInitial(modelSigmas[0])
            clipDenoised = nil
            guard c.skipPrkSteps ?? false else {
                // PNDM's Runge–Kutta warm-up (skip_prk_steps false), on its own grid only.
                for i in 1..<max(ts.count, 1) where ts[i - 1] - ts[i] != ratio {
                    throw DiffusionError.invalidParameter("PNDMScheduler's Runge–Kutta warm-up (skip_prk_steps false) with timestep_spacing \"\(spacing.rawValue)\" and \(n) steps steps off its own timestep grid (from \(ts[i - 1]) to \(ts[i - 1] - ratio), then calls the model at \(ts[i])); this port reproduces that only without the warm-up: use skip_prk_steps true, leading spacing, or the plms sampler")
                }
                let last = ts[ts.count - 1] - ratio >= 0 ? try sigma(ts[ts.count - 1] - ratio) : final
                // A last step from alphabar_0 to alphabar_0 (set_alpha_to_one=False, last timestep 0) changes nothing.
                sigmas = last < modelSigmas[modelSigmas.count - 1] ? modelSigmas + [last] : modelSigmas
                guard n >= 4, sigmas.count >= 2 else {
                    throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler's Runge–Kutta warm-up (skip_prk_steps false) needs at least 4 steps")
                }
                var midpoints: [Double] = []
                let half = T / n / 2
                for t in ts.prefix(3) {
                    let m = try sigma(t - half)
                    midpoints.append(m)
                    timesteps[m] = Double(t - half)
                }
                modelTimesteps = timesteps
                outputScale = 1 / (1 + sigmas[sigmas.count - 1] * sigmas[sigmas.count - 1]).squareRoot()
                let full = sigmas
                makeRun = { start in
                    // diffusers' strength cut slices the warm-up's 12 timesteps (3 calls x 4) as if they were steps.
                    guard start == 0 else {
                        throw DiffusionError.invalidParameter("PNDMScheduler's Runge–Kutta warm-up (skip_prk_steps false) in img2img or inpainting below strength 1: diffusers' strength cut slices the warm-up's four calls per step as if each were a step; this port does not reproduce that: use skip_prk_steps true or another scheduler")
                    }
                    return (full, PNDMSampler(warmupMidpoints: midpoints, combinesVelocity: velocity))
                }
                makeSampler = { _ in PNDMSampler(warmupMidpoints: midpoints, combinesVelocity: velocity) }
                return
            }
            // PLMS (skip_prk_steps true): diffusers' timesteps are t_0, t_1, t_1, t_2, ..., t_{n-1} (the
            // improved-Euler start calls the network twice); img2img runs them from index n - int(n s).
            guard n >= 2 else {
                throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler with 1 step stops after its improved-Euler predictor; this port does not reproduce that: use 2 or more steps, or DDIMScheduler")
            }
            let calls = [ts[0]] + ts.dropFirst().flatMap { t in t == ts[1] ? [t, t] : [t] }
            // Where a step from t lands: t - T // n (diffusers' prev_timestep), or the final alpha below 0.
            func level(_ t: Int) throws -> Double { t >= 0 ? try sigma(t) : final }
            // The run over calls[start...]: each call's transfer lands on level(t - T // n) and the state
            // is read at the next call; the second call is the improved-Euler start's.
            func run(from start: Int) throws -> (sigmas: [Double], sampler: PNDMSampler) {
                guard start >= 0, start < calls.count else {
                    throw DiffusionError.invalidStepCount(n, reason: "a PNDMScheduler run starting at timestep index \(start) of \(calls.count) has no step")
                }
                let l = Array(calls[start...])
                guard l.count >= 2 else {
                    throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler's run from timestep index \(start) has one call, which stops after its improved-Euler predictor; use more steps or a higher strength")
                }
                var levels = [try sigma(l[0])] + (try l.dropFirst(2).map(sigma))
                var targets = [try sigma(l[1])] + (try l.dropFirst(2).map { try level($0 - ratio) })
                levels.append(targets[targets.count - 1])
                if levels.count >= 3, !(levels[levels.count - 1] < levels[levels.count - 2]) {
                    // A last step from alphabar_0 to alphabar_0 (set_alpha_to_one false, last timestep 0) changes nothing.
                    levels.removeLast()
                    targets.removeLast()
                }
                guard levels[1] < levels[0] else {
                    throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler's run from timestep index \(start) ends at the level it starts from (its improved-Euler start calls the network twice at \(l[0])); use more steps or another strength")
                }
                let start = PNDMSampler.OffGridStart(predictorTarget: try level(l[0] - ratio), secondCall: try sigma(l[1]),
                                                     correctorStart: try sigma(l[1] + ratio))
                let onGrid = zip(targets, levels.dropFirst()).allSatisfy { $0 == $1 }
                    && start.predictorTarget == levels[1] && start.secondCall == levels[1] && start.correctorStart == levels[0]
                return (levels, PNDMSampler(combinesVelocity: velocity, targets: onGrid ? nil : targets,
                                            offGridStart: onGrid ? nil : start))
            }
            let full = try run(from: 0)
            sigmas = full.sigmas
            modelTimesteps = timesteps
            outputScale = 1 / (1 + sigmas[sigmas.count - 1] * sigmas[sigmas.count - 1]).squareRoot()
            makeRun = { start in
                let cut = try run(from: start)
                return (cut.sigmas, cut.sampler)
            }
            makeSampler = { _ in full.sampler }

        case "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
             "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler":
            if cls == "EulerDiscreteScheduler", let kind = c.interpolationType, kind != "linear" {
                throw DiffusionError.invalidParameter("EulerDiscreteScheduler interpolation_type \"\(kind)\" is not implemented (linear is)")
            }
            var ts: [Double]
            switch spacing {
            // np.linspace(0, T - 1, n, dtype=np.float32): fractional timesteps rounded to Float.
            case .linspace: ts = linspaceDouble(0, Double(T - 1), n).map { Double(Float($0)) }.reversed()
            case .leading: ts = (0..<n).reversed().map { Double($0 * (T / n) + offset) }
            case .trailing: ts = Self.trailing(T: T, steps: n)
            }
            var modelSigmas = ts.map { schedule.sigma(atTimestep: $0, interpolation: .sigma) }
            if (c.useKarrasSigmas ?? false) && cls != "EulerAncestralDiscreteScheduler" && cls != "KDPM2AncestralDiscreteScheduler" {
                modelSigmas = Array(try SigmaSchedule.karras(count: n, sigmaMin: modelSigmas[n - 1], sigmaMax: modelSigmas[0]).dropLast())
                ts = modelSigmas.map { schedule.timestep(forSigma: $0) }
                if cls == "KDPM2DiscreteScheduler" { ts = ts.map { $0.rounded(.toNearestOrEven) } }
            }
            var timesteps: [Double: Double] = [:]
            for (s, t) in zip(modelSigmas, ts) { timesteps[s] = t }
            var final = 0.0
            if cls == "EulerDiscreteScheduler", let type = c.finalSigmasType, type != "zero" {
                guard type == "sigma_min" else { throw DiffusionError.invalidParameter("final_sigmas_type \"\(type)\": use zero or sigma_min") }
                final = schedule.sigmas[0]
            }
            // A last step from sigma_min to sigma_min (Euler, dt = 0) changes nothing.
            sigmas = final < modelSigmas[n - 1] ? modelSigmas + [final] : modelSigmas
            guard sigmas.count >= 2 else { throw DiffusionError.invalidStepCount(n, reason: "\(cls) needs at least 2 steps here") }
            modelTimesteps = timesteps
            initialNoiseScale = spacing == .leading ? vpInitial(modelSigmas.max()!) : modelSigmas.max()!
            outputScale = 1
            clipDenoised = cls == "HeunDiscreteScheduler" ? clipRange : nil
            let canonical: SamplerName = switch cls {
            case "EulerDiscreteScheduler": .euler
            case "EulerAncestralDiscreteScheduler": .eulerAncestral
            case "HeunDiscreteScheduler": .heun
            case "KDPM2DiscreteScheduler": .dpm2
            case "KDPM2AncestralDiscreteScheduler": .dpm2Ancestral
            default: .lms
            }
            makeSampler = { _ in canonical.makeSampler() }

        case "UniPCMultistepScheduler", "DEISMultistepScheduler":
            let unipc = cls == "UniPCMultistepScheduler"
            let order = c.solverOrder ?? 2
            guard (1...3).contains(order) else {
                throw DiffusionError.invalidParameter("\(cls) solver_order \(order) is not implemented (1, 2 and 3 are)")
            }
            if unipc, !(c.predictX0 ?? true) {
                throw DiffusionError.invalidParameter("UniPCMultistepScheduler predict_x0 false (the noise-prediction form) is not implemented")
            }
            if !unipc, let algorithm = c.algorithmType, !["deis", "dpmsolver", "dpmsolver++"].contains(algorithm) {
                throw DiffusionError.invalidParameter("DEISMultistepScheduler algorithm_type \"\(algorithm)\" is not implemented (deis is)")
            }
            let ts = Self.multistepTimesteps(spacing, T: T, steps: n, offset: offset)
            var modelSigmas = try ts.map(sigma)
            var modelTs = ts.map(Double.init)
            var final = schedule.sigmas[0]  // DEIS always ends at alphabar_0's sigma
            if c.useKarrasSigmas ?? false {
                guard unipc else {
                    throw DiffusionError.invalidParameter("DEISMultistepScheduler with use_karras_sigmas is not implemented (its last step repeats sigma_min)")
                }
                modelSigmas = Array(try SigmaSchedule.karras(count: n, sigmaMin: schedule.sigmaMin, sigmaMax: schedule.sigmaMax).dropLast())
                modelTs = modelSigmas.map { schedule.timestep(forSigma: $0).rounded(.toNearestOrEven) }
                final = modelSigmas[n - 1]
            }
            if unipc {
                switch c.finalSigmasType ?? "zero" {
                case "zero": final = 0
                case "sigma_min": break
                case let other: throw DiffusionError.invalidParameter("final_sigmas_type \"\(other)\": use zero or sigma_min")
                }
            }
            var timesteps: [Double: Double] = [:]
            for (s, t) in zip(modelSigmas, modelTs) { timesteps[s] = t }
            sigmas = final < modelSigmas[n - 1] ? modelSigmas + [final] : modelSigmas
            guard sigmas.count >= 2 else { throw DiffusionError.invalidStepCount(n, reason: "\(cls) needs at least 2 steps here") }
            modelTimesteps = timesteps
            initialNoiseScale = vpInitial(modelSigmas[0])
            outputScale = 1 / (1 + final * final).squareRoot()
            clipDenoised = nil
            let lowerOrderFinal = c.lowerOrderFinal ?? true
            if unipc {
                // diffusers' solver_type: bh1 or bh2; the DPM-Solver names map to bh2 (UniPC's __init__).
                let variant: UniPCSampler.Variant = c.solverType == "bh1" ? .bh1 : .bh2
                let disabled = c.disableCorrector ?? []
                makeSampler = { start in
                    UniPCSampler(variant: variant, order: order, lowerOrderFinal: lowerOrderFinal,
                                 disableCorrector: Set(disabled.map { $0 - start }))
                }
            } else {
                makeSampler = { _ in DEISSampler(order: order, lowerOrderFinal: lowerOrderFinal && n < 15) }
            }

        case "LCMScheduler":
            // LCM ignores timestep_spacing and steps_offset: n timesteps picked from the
            // distillation grid k - 1, 2k - 1, ..., T - 1 (k = T // original_inference_steps).
            let original = c.originalInferenceSteps ?? 50
            guard original >= 1, original <= T else {
                throw DiffusionError.invalidParameter("LCMScheduler original_inference_steps \(original) must be in 1...\(T)")
            }
            guard n <= original else {
                throw DiffusionError.invalidStepCount(n, reason: "LCMScheduler takes at most original_inference_steps = \(original) steps")
            }
            let k = T / original
            let grid = (1...original).reversed().map { $0 * k - 1 }
            let ts = (0..<n).map { grid[Int((Double($0) * (Double(original) / Double(n))).rounded(.down))] }
            let modelSigmas = try ts.map(sigma)
            var timesteps: [Double: Double] = [:]
            for (s, t) in zip(modelSigmas, ts) { timesteps[s] = Double(t) }
            sigmas = modelSigmas + [0]
            modelTimesteps = timesteps
            initialNoiseScale = vpInitial(modelSigmas[0])
            outputScale = 1
            clipDenoised = (c.clipSample ?? false) ? (c.clipSampleRange ?? 1) : nil
            let scaling = c.timestepScaling ?? 10
            makeSampler = { start in
                LCMSampler(boundaryCondition: .init(timesteps: ts.dropFirst(start).map(Double.init), timestepScaling: scaling))
            }

        default:  // DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler
            let singlestep = cls == "DPMSolverSinglestepScheduler"
            guard (c.solverOrder ?? 2) == 2 else {
                throw DiffusionError.invalidParameter("\(cls) solver_order \(c.solverOrder!) is not implemented (2 is)")
            }
            let algorithm = c.algorithmType ?? "dpmsolver++", solver = c.solverType ?? "midpoint"
            let sde = algorithm == "sde-dpmsolver++" && !singlestep
            guard algorithm == "dpmsolver++" || sde, solver == "midpoint" || (sde && solver == "heun") else {
                throw DiffusionError.invalidParameter("\(cls) algorithm_type \"\(algorithm)\" with solver_type \"\(solver)\" is not implemented (dpmsolver++ midpoint\(singlestep ? "" : ", sde-dpmsolver++") is)")
            }
            if let type = c.finalSigmasType, type != "zero" {
                throw DiffusionError.invalidParameter("\(cls) final_sigmas_type \"\(type)\" is not implemented (zero is)")
            }
            let ts = Self.multistepTimesteps(singlestep ? .linspace : spacing, T: T, steps: n, offset: offset)
            var modelSigmas = try ts.map(sigma)
            var modelTs = ts.map(Double.init)
            if c.useKarrasSigmas ?? false {
                modelSigmas = Array(try SigmaSchedule.karras(count: n, sigmaMin: schedule.sigmaMin, sigmaMax: schedule.sigmaMax).dropLast())
                modelTs = modelSigmas.map { schedule.timestep(forSigma: $0) }
                if c.betaSchedule != "squaredcos_cap_v2" || singlestep { modelTs = modelTs.map { $0.rounded(.toNearestOrEven) } }
            }
            var timesteps: [Double: Double] = [:]
            for (s, t) in zip(modelSigmas, modelTs) { timesteps[s] = t }
            sigmas = modelSigmas + [0]
            modelTimesteps = timesteps
            initialNoiseScale = vpInitial(modelSigmas[0])
            outputScale = 1
            clipDenoised = nil
            if singlestep {
                let orders = DPMPP2SSinglestepSampler.diffusersOrders(steps: n)
                makeSampler = { start in DPMPP2SSinglestepSampler(orders: Array(orders[start...])) }
            } else if sde {
                let type: DPMPP2MSDESampler.SolverType = solver == "heun" ? .heun : .midpoint
                makeSampler = { _ in DPMPP2MSDESampler(solverType: type) }
            } else {
                makeSampler = { _ in DPMPP2MSampler() }
            }
        }
    }

    /// The timesteps of diffusers' multistep solvers (DPM-Solver, UniPC, DEIS): linspace over n + 1
    /// points without the last, leading with ratio T // (n + 1), or trailing.
    static func multistepTimesteps(_ spacing: TimestepSpacing, T: Int, steps n: Int, offset: Int) -> [Int] {
        switch spacing {
        case .linspace: return linspaceDouble(0, Double(T - 1), n + 1).map { Int($0.rounded(.toNearestOrEven)) }.reversed().dropLast()
        case .leading: return (0...n).reversed().dropLast().map { $0 * (T / (n + 1)) + offset }
        case .trailing: return Self.trailing(T: T, steps: n).map { Int($0) }
        }
    }

    /// diffusers' default `timestep_spacing` of each class.
    static func defaultSpacing(_ cls: String) -> String {
        ["DDIMScheduler", "PNDMScheduler", "DDPMScheduler"].contains(cls) ? "leading" : "linspace"
    }

    /// diffusers' default `clip_sample` of each class that has the field.
    static func defaultClipSample(_ cls: String) -> Bool {
        cls == "DDIMScheduler" || cls == "DDPMScheduler"
    }

    /// `round(arange(T, 0, -T / n)) - 1`, the first `n` values (diffusers' "trailing").
    static func trailing(T: Int, steps n: Int) -> [Double] {
        let ratio = Double(T) / Double(n)
        return (0..<n).map { (Double(T) - Double($0) * ratio).rounded(.toNearestOrEven) - 1 }
    }
}
