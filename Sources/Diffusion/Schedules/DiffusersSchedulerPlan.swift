// Contract: what a diffusers scheduler class name means as a sampler. Given the class
// (`DDIMScheduler`, `PNDMScheduler`, `DDPMScheduler`, the Euler family, `LMSDiscreteScheduler`,
// `DPMSolverMultistepScheduler`, `DPMSolverSinglestepScheduler`), a model's scheduler
// configuration (read as `from_config` reads it) and a step count, this builds exactly the
// timesteps and sigmas that class's `set_timesteps` builds — spacing, `steps_offset`,
// `set_alpha_to_one`, linear-in-sigma interpolation, `use_karras_sigmas`, the final sigma —
// the timestep the network is given at each sigma, the scale of the starting noise
// (`init_noise_sigma`), clipping, and the sampler whose steps equal the class's `step`.
//
// Everything runs on the variance-exploding state x = x_vp sqrt(1 + sigma^2) of the project's
// samplers; DDIM/PNDM/DDPM/DPM-Solver work on x_vp in diffusers, so their starting noise is
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

    /// The sampler for the whole run.
    public var sampler: any Sampler { makeSampler(0) }

    /// The sampler for a run that starts at step `start` (img2img), with per-step settings cut as
    /// diffusers' `set_begin_index` cuts them.
    public func sampler(startingAt start: Int) -> any Sampler { makeSampler(start) }

    /// The number of steps of the full run.
    public var steps: Int { sigmas.count - 1 }

    /// The diffusers class names this port reproduces.
    public static let supportedClassNames = [
        "DDIMScheduler", "PNDMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
        "HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler",
        "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
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
            // PNDM steps to t - T // n too; this port follows it where that is the next timestep.
            for i in 1..<max(ts.count, 1) where ts[i - 1] - ts[i] != ratio {
                throw DiffusionError.invalidParameter("PNDMScheduler with timestep_spacing \"\(spacing.rawValue)\" and \(n) steps steps off its own timestep grid (from \(ts[i - 1]) to \(ts[i - 1] - ratio), then calls the model at \(ts[i])); this port does not reproduce that: use leading spacing or the plms sampler")
            }
            let last = ts[ts.count - 1] - ratio >= 0 ? try sigma(ts[ts.count - 1] - ratio) : final
            // A last step from alphabar_0 to alphabar_0 (set_alpha_to_one=False, last timestep 0) changes nothing.
            sigmas = last < modelSigmas[modelSigmas.count - 1] ? modelSigmas + [last] : modelSigmas
            guard sigmas.count >= 2 else {
                throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler needs at least 2 steps here")
            }
            var midpoints: [Double] = []
            if !(c.skipPrkSteps ?? false) {
                guard n >= 4 else {
                    throw DiffusionError.invalidStepCount(n, reason: "PNDMScheduler's Runge–Kutta warm-up (skip_prk_steps false) needs at least 4 steps")
                }
                let half = T / n / 2
                for t in ts.prefix(3) {
                    let m = try sigma(t - half)
                    midpoints.append(m)
                    timesteps[m] = Double(t - half)
                }
            }
            modelTimesteps = timesteps
            initialNoiseScale = vpInitial(modelSigmas[0])
            outputScale = 1 / (1 + sigmas[sigmas.count - 1] * sigmas[sigmas.count - 1]).squareRoot()
            clipDenoised = nil
            let velocity = prediction == .vPrediction
            makeSampler = { start in PNDMSampler(warmupMidpoints: Array(midpoints.dropFirst(start)), combinesVelocity: velocity) }

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
            var ts: [Int]
            switch singlestep ? .linspace : spacing {
            case .linspace: ts = linspaceDouble(0, Double(T - 1), n + 1).map { Int($0.rounded(.toNearestOrEven)) }.reversed().dropLast()
            case .leading: ts = (0...n).reversed().dropLast().map { $0 * (T / (n + 1)) + offset }
            case .trailing: ts = Self.trailing(T: T, steps: n).map { Int($0) }
            }
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
