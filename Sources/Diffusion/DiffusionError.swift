// Contract: the one error type of the Diffusion module. Bad input from a user (an unknown
// name, an impossible step count, a sigma list that does not decrease, a malformed mixture)
// is reported with a thrown `DiffusionError` whose description names the problem and the fix.

/// A user-facing error of the Diffusion module; its `description` says what is accepted.
public enum DiffusionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A sampler name that is neither canonical, an AUTOMATIC1111 label nor a diffusers class.
    case unknownSampler(String, accepted: [String])
    /// A sigma-schedule name that is not known.
    case unknownSchedule(String, accepted: [String])
    /// A timestep-spacing name that is not `linspace`, `leading` or `trailing`.
    case unknownSpacing(String, accepted: [String])
    /// A step count below 1 (or above what the schedule can give).
    case invalidStepCount(Int, reason: String)
    /// A sigma list that is too short, not strictly decreasing, negative or not finite.
    case invalidSigmas(String)
    /// A parameter outside its domain (for example `sigmaMin >= sigmaMax`, `eta < 0`).
    case invalidParameter(String)
    /// A Gaussian mixture that cannot be used (mismatched sizes, non-positive weights or stds).
    case invalidMixture(String)

    /// A sentence naming the problem and what would be accepted instead.
    public var description: String {
        switch self {
        case let .unknownSampler(name, accepted):
            return "unknown sampler \"\(name)\"; accepted names: \(accepted.joined(separator: ", "))"
        case let .unknownSchedule(name, accepted):
            return "unknown sigma schedule \"\(name)\"; accepted: \(accepted.joined(separator: ", "))"
        case let .unknownSpacing(name, accepted):
            return "unknown timestep spacing \"\(name)\"; accepted: \(accepted.joined(separator: ", "))"
        case let .invalidStepCount(n, reason):
            return "invalid step count \(n): \(reason)"
        case let .invalidSigmas(reason):
            return "invalid sigmas: \(reason); a sampler needs at least two sigmas, finite, "
                + "non-negative and strictly decreasing (for example a schedule ending in 0)"
        case let .invalidParameter(reason):
            return "invalid parameter: \(reason)"
        case let .invalidMixture(reason):
            return "invalid Gaussian mixture: \(reason); expected weights > 0, one mean per weight "
                + "(all of the same dimension) and one std > 0 per weight"
        }
    }
}
