// The switch between the fast kernels and the textbook references in this folder.
//
// Contract: `Tensor.matmul` (also with 16-bit weights), `conv2d` and its two backward passes,
// `scaledDotProductAttention`, `layerNorm` and `groupNorm` check `Kernels.current` once per call
// and, in `.reference` mode, return what the matching function of `Reference` computes instead:
// the same semantics, one readable loop nest, Double accumulators, no threads. Everything built
// on them (Autograd's backward rules, the UNets, the samplers, the lessons, `diffuse`) then runs
// on the references without knowing it, and gives the same numbers up to Float32 rounding.
//
// Setting it:
// - the environment: `SWIFTDIFFUSION_KERNELS=reference swift run -c release lesson-04-ddpm`
//   (read once, at the first kernel call; `fast` or unset is the default, and any other value
//   prints a warning and runs the fast kernels);
// - the process-wide value `Kernels.mode = .reference`, set before starting work (as with
//   `Parallel.threadCount`);
// - a scope: `Kernels.withMode(.reference) { ... }` binds a task-local value that follows the
//   task and is invisible to other tasks, which is how tests compare the two paths while other
//   tests run in parallel. Like `GradientRecording.isEnabled`, the binding is seen by the
//   calling task only: the kernels check it on the calling thread, before any `parallelFor`.
//
// The check costs one load and a compare per kernel call (see docs/benchmarks.md, "Reference
// kernels", for the paired measurement against the build without the switch).

import Foundation

/// Which implementation the numeric kernels run: the fast (tiled, packed, threaded) ones or the
/// textbook references of `Sources/Tensor/Reference`.
public enum Kernels {
    /// The two implementations of every kernel family.
    public enum Mode: String, Sendable, CaseIterable {
        /// The tuned kernels of `Sources/Tensor/Kernels` (the default).
        case fast
        /// The loop nests of `Sources/Tensor/Reference`: slow, plain, Double accumulators.
        case reference
    }

    /// The environment variable that sets the process-wide mode (`fast` or `reference`).
    public static let environmentVariable = "SWIFTDIFFUSION_KERNELS"

    /// The process-wide mode: `SWIFTDIFFUSION_KERNELS` when set, else `.fast`. Set it before
    /// starting work; `withMode` overrides it for one task.
    nonisolated(unsafe) public static var mode: Mode = {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable] else { return .fast }
        guard let mode = Mode(rawValue: value.lowercased()) else {
            // A misspelt value must not run the fast path unannounced.
            FileHandle.standardError.write(Data(
                "warning: \(environmentVariable)=\(value) is not a kernel mode (use fast or reference); running the fast kernels\n".utf8))
            return .fast
        }
        return mode
    }()

    /// A mode bound for the current task by `withMode`, overriding `mode`.
    @TaskLocal static var scoped: Mode?

    /// The mode a kernel called now on this task runs: the scoped one, else `mode`.
    @inline(__always)
    public static var current: Mode { scoped ?? mode }

    /// Whether kernels called now take their textbook reference.
    @inline(__always)
    static var useReference: Bool { current == .reference }

    /// Runs `body` with every kernel it calls on this task in `mode`, without changing the
    /// process-wide setting that other tasks see.
    public static func withMode<R>(_ mode: Mode, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(mode, operation: body)
    }
}
