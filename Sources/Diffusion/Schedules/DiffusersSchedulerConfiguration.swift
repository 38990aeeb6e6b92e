// Contract: a diffusers `scheduler/scheduler_config.json` read the way diffusers reads it in
// `SomeScheduler.from_config(config)`: every field the noise levels depend on is kept as
// written, and a field the file does not have takes the default of the class being BUILT (not
// of the class that wrote the file). So `DDIMScheduler.from_config` of a `DDPMScheduler` file
// without `timestep_spacing` uses DDIM's "leading", and `EulerDiscreteScheduler.from_config` of
// SD 1.5's `PNDMScheduler` file uses Euler's "linspace". `DiffusersSchedulerPlan` turns it
// into sigmas and a sampler.

import Foundation
import Tensor

/// The fields of a diffusers scheduler configuration that decide the noise levels and steps.
/// `nil` means "absent from the file": the built class's default applies.
public struct DiffusersSchedulerConfiguration: Sendable, Equatable {
    /// `_class_name`: the scheduler that wrote the file (for example `PNDMScheduler`).
    public var className: String?
    /// `num_train_timesteps` (T; default 1000).
    public var numTrainTimesteps: Int?
    /// `beta_start` (default 0.0001).
    public var betaStart: Double?
    /// `beta_end` (default 0.02).
    public var betaEnd: Double?
    /// `beta_schedule`: `linear`, `scaled_linear` or `squaredcos_cap_v2` (default `linear`).
    public var betaSchedule: String?
    /// `trained_betas`: explicit betas that replace the schedule.
    public var trainedBetas: [Double]?
    /// `prediction_type`: `epsilon` or `v_prediction` (default `epsilon`).
    public var predictionType: String?
    /// `timestep_spacing`: `linspace`, `leading` or `trailing` (default per class).
    public var timestepSpacing: String?
    /// `steps_offset` (default 0; SD 1.x files say 1).
    public var stepsOffset: Int?
    /// `set_alpha_to_one`: DDIM/PNDM's alpha after the last step is 1 (true) or alphabar_0.
    public var setAlphaToOne: Bool?
    /// `clip_sample`: clamp the predicted x0 (DDIM, DDPM, Heun).
    public var clipSample: Bool?
    /// `clip_sample_range` (default 1).
    public var clipSampleRange: Double?
    /// `skip_prk_steps`: PNDM without its Runge–Kutta warm-up (PLMS); default false.
    public var skipPrkSteps: Bool?
    /// `interpolation_type` of `EulerDiscreteScheduler` (`linear`).
    public var interpolationType: String?
    /// `use_karras_sigmas` (default false).
    public var useKarrasSigmas: Bool?
    /// `final_sigmas_type`: `zero` or `sigma_min` (Euler, DPM-Solver; default `zero`).
    public var finalSigmasType: String?
    /// `solver_order` of the DPM-Solver schedulers (default 2).
    public var solverOrder: Int?
    /// `algorithm_type` of the DPM-Solver schedulers (default `dpmsolver++`).
    public var algorithmType: String?
    /// `solver_type` of the DPM-Solver schedulers (default `midpoint`).
    public var solverType: String?
    /// `variance_type` of `DDPMScheduler` (default `fixed_small`).
    public var varianceType: String?
    /// `lower_order_final` of the multistep schedulers (default true).
    public var lowerOrderFinal: Bool?
    /// `disable_corrector` of `UniPCMultistepScheduler`: step indices whose corrector is skipped.
    public var disableCorrector: [Int]?
    /// `predict_x0` of `UniPCMultistepScheduler` (default true; false is not implemented).
    public var predictX0: Bool?
    /// `original_inference_steps` of `LCMScheduler` (default 50): the distillation grid.
    public var originalInferenceSteps: Int?
    /// `timestep_scaling` of `LCMScheduler` (default 10).
    public var timestepScaling: Double?
    /// Fields that change the noise levels in ways this port does not implement, with the value
    /// found (`thresholding: true`, `rescale_betas_zero_snr: true`, `use_exponential_sigmas: true`, ...).
    public var unimplemented: [String: String] = [:]

    /// An empty configuration: every field at the built class's default.
    public init() {}

    /// Reads `scheduler_config.json` (or a folder holding `scheduler/scheduler_config.json`).
    /// - Throws: `DiffusionError.invalidParameter` naming the file when it is missing, not JSON,
    ///   or has a field of the wrong type.
    public init(contentsOf url: URL) throws {
        var file = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            file = url.appendingPathComponent("scheduler/scheduler_config.json")
            if !FileManager.default.fileExists(atPath: file.path) { file = url.appendingPathComponent("scheduler_config.json") }
        }
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw DiffusionError.invalidParameter("cannot read the scheduler configuration \(file.path): \(fileErrorReason(error))")
        }
        try self.init(json: data, file: file.path)
    }

    /// Parses the JSON text of a scheduler configuration; `file` names it in errors.
    public init(json data: Data, file: String = "scheduler_config.json") throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw DiffusionError.invalidParameter("\(file) is not a JSON object")
        }
        func value<T>(_ key: String, as type: T.Type) throws -> T? {
            guard let raw = fields[key], !(raw is NSNull) else { return nil }
            if T.self == Double.self, let n = raw as? NSNumber { return n.doubleValue as? T }
            if T.self == Int.self, let n = raw as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 0x1p53 {
                return n.intValue as? T
            }
            if T.self == Bool.self, let n = raw as? NSNumber { return n.boolValue as? T }
            if let v = raw as? T { return v }
            throw DiffusionError.invalidParameter("\(file): field \"\(key)\" has the value \(raw), expected a \(T.self)")
        }
        className = try value("_class_name", as: String.self)
        numTrainTimesteps = try value("num_train_timesteps", as: Int.self)
        betaStart = try value("beta_start", as: Double.self)
        betaEnd = try value("beta_end", as: Double.self)
        betaSchedule = try value("beta_schedule", as: String.self)
        if let list = fields["trained_betas"], !(list is NSNull) {
            guard let numbers = list as? [NSNumber] else {
                throw DiffusionError.invalidParameter("\(file): trained_betas must be a list of numbers")
            }
            trainedBetas = numbers.map(\.doubleValue)
        }
        predictionType = try value("prediction_type", as: String.self)
        timestepSpacing = try value("timestep_spacing", as: String.self)
        stepsOffset = try value("steps_offset", as: Int.self)
        setAlphaToOne = try value("set_alpha_to_one", as: Bool.self)
        clipSample = try value("clip_sample", as: Bool.self)
        clipSampleRange = try value("clip_sample_range", as: Double.self)
        skipPrkSteps = try value("skip_prk_steps", as: Bool.self)
        interpolationType = try value("interpolation_type", as: String.self)
        useKarrasSigmas = try value("use_karras_sigmas", as: Bool.self)
        finalSigmasType = try value("final_sigmas_type", as: String.self)
        solverOrder = try value("solver_order", as: Int.self)
        algorithmType = try value("algorithm_type", as: String.self)
        solverType = try value("solver_type", as: String.self)
        varianceType = try value("variance_type", as: String.self)
        lowerOrderFinal = try value("lower_order_final", as: Bool.self)
        if let list = fields["disable_corrector"], !(list is NSNull) {
            guard let numbers = list as? [NSNumber] else {
                throw DiffusionError.invalidParameter("\(file): disable_corrector must be a list of step indices")
            }
            disableCorrector = numbers.map(\.intValue)
        }
        predictX0 = try value("predict_x0", as: Bool.self)
        originalInferenceSteps = try value("original_inference_steps", as: Int.self)
        timestepScaling = try value("timestep_scaling", as: Double.self)
        for key in ["thresholding", "rescale_betas_zero_snr", "use_exponential_sigmas", "use_beta_sigmas",
                    "use_lu_lambdas", "use_flow_sigmas", "use_dynamic_shifting"] {
            if let on = try? value(key, as: Bool.self), on { unimplemented[key] = "true" }
        }
        if let type = try? value("timestep_type", as: String.self), type != "discrete" { unimplemented["timestep_type"] = type }
        if let clipped = fields["lambda_min_clipped"] as? NSNumber, clipped.doubleValue.isFinite {
            unimplemented["lambda_min_clipped"] = "\(clipped.doubleValue)"
        }
        try validate(file: file)
    }

    /// Range-checks the numbers (`ConfigurationLimits`): T, the betas, `steps_offset`,
    /// `clip_sample_range` and `solver_order`, so that a file cannot make a schedule allocate
    /// without bound or compute with NaN.
    func validate(file: String) throws {
        typealias L = ConfigurationLimits
        do {
            if let T = numTrainTimesteps { try L.check([T], "num_train_timesteps", in: L.trainingTimesteps, source: file) }
            if let b = betaStart { try L.check(b, "beta_start", in: 0...1, source: file) }
            if let b = betaEnd { try L.check(b, "beta_end", in: 0...1, source: file) }
            if let betas = trainedBetas {
                try L.check([betas.count], "the length of trained_betas", in: L.trainingTimesteps, source: file)
            }
            if let offset = stepsOffset { try L.check([offset], "steps_offset", in: 0...L.trainingTimesteps.upperBound, source: file) }
            if let range = clipSampleRange { try L.checkPositive(range, "clip_sample_range", source: file) }
            if let order = solverOrder { try L.check([order], "solver_order", in: 1...3, source: file) }
        } catch let error as ConfigurationError {
            throw DiffusionError.invalidParameter(error.description)
        }
    }

    /// The training noise schedule these fields describe (T, betas), computed in Double.
    /// - Throws: `DiffusionError.invalidParameter` for an unknown `beta_schedule`.
    public func makeNoiseSchedule() throws -> DiscreteNoiseSchedule {
        if let trainedBetas { return try DiscreteNoiseSchedule(betas: trainedBetas) }
        let T = numTrainTimesteps ?? 1000
        let start = betaStart ?? 0.0001, end = betaEnd ?? 0.02
        switch betaSchedule ?? "linear" {
        case "linear": return try .linear(trainingSteps: T, betaStart: start, betaEnd: end)
        case "scaled_linear": return try .scaledLinear(trainingSteps: T, betaStart: start, betaEnd: end)
        case "squaredcos_cap_v2": return try .cosine(trainingSteps: T)
        case let other:
            throw DiffusionError.invalidParameter("beta_schedule \"\(other)\" is not supported; use linear, scaled_linear or squaredcos_cap_v2")
        }
    }

    /// What the network predicts (`prediction_type`, default epsilon).
    /// - Throws: `DiffusionError.invalidParameter` for another value (`sample` is not supported).
    public func prediction() throws -> DiscreteTimeDenoiser.Prediction {
        guard let p = DiscreteTimeDenoiser.Prediction(rawValue: predictionType ?? "epsilon") else {
            throw DiffusionError.invalidParameter("prediction_type \"\(predictionType ?? "")\" is not supported; use epsilon or v_prediction")
        }
        return p
    }
}
