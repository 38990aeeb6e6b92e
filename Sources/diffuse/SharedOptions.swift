// Options shared by several `diffuse` subcommands, and the closed option sets as
// `ExpressibleByArgument` types: ArgumentParser parses and checks each value once, lists the
// accepted values in `--help`, and rejects any other value with the list.
//
// Contract: a value that parses is one the library accepts (sampler labels are resolved through
// `SamplerRegistry`), so a command never fails hours into a run on a misspelt option.

import ArgumentParser
import Diffusion

/// `--prediction`: what the trained network predicts.
enum PredictionArgument: String, CaseIterable, ExpressibleByArgument {
    /// The added noise (DDPM).
    case epsilon
    /// The velocity v = alpha·eps − sigma·x0 (Salimans & Ho 2022, §4).
    case v

    /// Accepts the names and their usual spellings: eps, v_prediction, v-prediction.
    init?(argument: String) {
        switch argument.lowercased() {
        case "epsilon", "eps": self = .epsilon
        case "v", "v_prediction", "v-prediction": self = .v
        default: return nil
        }
    }

    /// The library's prediction type.
    var prediction: DiscreteTimeDenoiser.Prediction { self == .epsilon ? .epsilon : .vPrediction }
}

/// `--schedule` of `train`: the discrete beta schedule.
enum BetaScheduleArgument: String, CaseIterable, ExpressibleByArgument {
    /// DDPM's linear betas.
    case linear
    /// The cosine schedule (diffusers `squaredcos_cap_v2`).
    case cosine
    /// Stable Diffusion's scaled-linear betas.
    case scaledLinear = "scaled_linear"

    /// Accepts the names, diffusers' `squaredcos_cap_v2` and `scaled-linear`.
    init?(argument: String) {
        guard let schedule = try? BetaSchedule(named: argument) else { return nil }
        switch schedule {
        case .linear: self = .linear
        case .cosine: self = .cosine
        case .scaledLinear: self = .scaledLinear
        }
    }

    /// The library's beta schedule.
    var schedule: BetaSchedule {
        switch self {
        case .linear: .linear
        case .cosine: .cosine
        case .scaledLinear: .scaledLinear
        }
    }
}

/// `--schedule` of the sampling commands: the model's own timesteps or a continuous sigma
/// schedule (`SigmaSchedule`).
enum SigmaScheduleArgument: String, CaseIterable, ExpressibleByArgument {
    /// The model's own timesteps (`uniform` is accepted for it too).
    case discrete
    /// Karras et al. 2022, eq. 5.
    case karras
    /// Evenly spaced in log sigma.
    case exponential
    /// Polynomial in log sigma.
    case polyexponential
    /// The continuous VP schedule (Song et al. 2021).
    case vp
    /// Evenly spaced in sigma.
    case linear

    /// Accepts the names in any case, and `uniform` for `discrete`.
    init?(argument: String) {
        let name = argument.lowercased()
        self.init(rawValue: name == "uniform" ? "discrete" : name)
    }
}

/// `--sampler`: any label the sampler registry resolves (k-diffusion names, AUTOMATIC1111 labels
/// such as "DPM++ 2M Karras", diffusers scheduler classes); help lists the canonical names.
struct SamplerArgument: ExpressibleByArgument, CustomStringConvertible {
    /// The label as given (the registry resolves it again where the sampler is built).
    let label: String

    /// Accepts a label the registry resolves.
    init?(argument: String) {
        guard (try? SamplerRegistry.resolve(argument)) != nil else { return nil }
        label = argument
    }

    /// The k-diffusion names (aliases are accepted too, see docs/samplers.md).
    static var allValueStrings: [String] { SamplerName.allCases.map(\.rawValue) }

    /// The label as given.
    var description: String { label }
    /// Shown as the default in `--help`.
    var defaultValueDescription: String { label }
}

/// How the sampling commands (`sample`, `fid`) run a sampler: step count, schedule and seed.
struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("steps"), parsing: .unconditional, help: "Sampler steps (default 50; dpm_adaptive chooses its own and refuses this option).")
    var stepsOption: Int?
    @Option(help: "Sigma schedule (default: the model's own timesteps).")
    var schedule: SigmaScheduleArgument?
    @Option(parsing: .unconditional, help: "Seed of the starting noise and of the sampler's noise (fid: batch b uses seed + b * 0x9E3779B97F4A7C15; with --real, of the choice of training images).")
    var seed: UInt64 = 0

    /// The step count (50 unless `--steps` is given).
    var steps: Int { stepsOption ?? 50 }
    /// Whether `--steps` was given.
    var stepsGiven: Bool { stepsOption != nil }

    /// The schedule name the library takes (nil: the model's own timesteps).
    var scheduleName: String? { schedule?.rawValue }

    func validate() throws {
        if let stepsOption, stepsOption < 1 { throw ValidationError("--steps must be at least 1, got \(stepsOption)") }
        if steps > ConfigurationLimits.samplerSteps.upperBound {
            throw ValidationError("--steps must be at most \(ConfigurationLimits.samplerSteps.upperBound), got \(steps)")
        }
    }
}

/// The FID's feature extractor and reference data (`fid`, `fid-sweep`).
struct FIDDataOptions: ParsableArguments {
    @Option(help: "The classifier weights (the feature extractor).")
    var classifier: String = FashionFeatureExtractor.defaultWeightsPath
    @Option(help: "Folder of the Fashion-MNIST idx files (default: $FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist).")
    var data: String?
}
