// Contract: the one validation layer for the numbers of model and scheduler configurations
// (`UNet2DConfiguration`, the noise schedules, the Stable Diffusion configs) and for the sizes
// a command is asked to allocate. A value the code cannot run (0 groups, 10⁹ layers, −5
// timesteps, NaN) is a thrown `ConfigurationError` naming the field, the value and the allowed
// range before any layer is built or any buffer allocated; a size whose memory exceeds the
// machine's is refused with what it would need and what fits ("would need 4.1 TB; at most
// 5,600 images fit in 23.0 GB"). The bounds are generous (every released SD 1.x/2.x/XL-size
// model and every small model of this project is far inside them) but finite, so no
// configuration can make a loader loop or allocate without bound.

import Foundation

/// A configuration value or requested size the code cannot run; `description` names the field
/// or option, the value and what is allowed.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// The message.
    public var description: String
    /// Creates the error with its message.
    public init(description: String) { self.description = description }
}

/// A `UNet2DConfiguration` that cannot be built, or that does not match a checkpoint (the
/// shared `ConfigurationError`).
public typealias UNet2DConfigurationError = ConfigurationError

/// Range checks for configuration numbers and memory checks for requested sizes.
public enum ConfigurationLimits {
    /// Channel counts and widths.
    public static let width = 1...16_384
    /// Layers per block or per encoder, levels, heads.
    public static let count = 1...256
    /// Resolution levels of a UNet or autoencoder.
    public static let levels = 1...8
    /// Training timesteps T of a discrete noise schedule (diffusers models use 1000; some 4000).
    public static let trainingTimesteps = 2...1_000_000
    /// Sampler steps of a continuous sigma schedule.
    public static let samplerSteps = 1...100_000
    /// Class counts of a class-conditional model.
    public static let classes = 1...1_000_000
    /// Classifier-free guidance scales the evaluation commands accept (0 = unconditional,
    /// 1 = plain conditional; Stable Diffusion's default is 7.5).
    public static let guidanceScale: ClosedRange<Double> = 0...1000

    /// The memory a request may use: the machine's physical memory (`ProcessInfo.physicalMemory`).
    public static var memoryBudget: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    /// Throws unless every value of `field` lies in `range`.
    public static func check(_ values: [Int], _ field: String, in range: ClosedRange<Int>, source: String) throws {
        for value in values where !range.contains(value) {
            throw ConfigurationError(description: "\(source): \(field) is \(value), outside the allowed \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// Throws unless `value` is finite and positive.
    public static func checkPositive(_ value: Float, _ field: String, source: String) throws {
        try checkPositive(Double(value), field, source: source)
    }

    /// Throws unless `value` is finite and positive.
    public static func checkPositive(_ value: Double, _ field: String, source: String) throws {
        guard value.isFinite, value > 0 else {
            throw ConfigurationError(description: "\(source): \(field) is \(value); it must be a finite positive number")
        }
    }

    /// Throws unless `value` is finite and lies in `range`.
    public static func check(_ value: Double, _ field: String, in range: ClosedRange<Double>, source: String) throws {
        guard value.isFinite, range.contains(value) else {
            throw ConfigurationError(description: "\(source): \(field) is \(value), outside the allowed \(range.lowerBound)...\(range.upperBound)")
        }
    }

    /// Throws when `count` items of `bytesEach` bytes do not fit in `memoryBudget`, saying what
    /// the request would need and how many items fit; `what` names the items in the plural
    /// ("images of 1x32x32"), `source` the option or field that asked for them.
    public static func checkMemory(count: Int, bytesEach: Double, what: String, source: String,
                                   budget: Double = memoryBudget) throws {
        let need = Double(count) * bytesEach
        guard count >= 0, bytesEach > 0, need > budget else { return }
        let fit = Int((budget / bytesEach).rounded(.down))
        throw ConfigurationError(description: "\(source): \(count) \(what) would need \(formatBytes(need)); "
            + "at most \(fit) fit in this machine's \(formatBytes(budget)) of memory")
    }

    /// A byte count in B, kB, MB, GB, TB, PB, EB, ZB or YB with three significant digits
    /// (beyond, in bytes with an exponent).
    public static func formatBytes(_ bytes: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
        var value = bytes, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        if value >= 1000 { return String(format: "%.3g", bytes) + " B" }
        return String(format: unit == 0 ? "%.0f" : "%.3g", value) + " " + units[unit]
    }
}
