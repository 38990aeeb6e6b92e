// The no-grad scope: inside `withoutGradients { }` ops record no graph.
//
// The flag is a task-local value (`@TaskLocal`), not a global or thread-local: Swift Testing
// and async code run many tasks on a shared thread pool, and a task-local binding follows the
// task across threads and is invisible to every other task. Synchronous code outside any task
// also works (the binding then lives for the duration of the closure on the calling thread).
// Work that `parallelFor` spreads over threads is Tensor kernels only, which never read the flag.

/// Whether ops record the graph for `backward()`.
public enum GradientRecording {
    /// True unless inside `withoutGradients`.
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` with gradient recording off: every op result is a constant with no parents and
/// no saved tensors, so inference through the same layers costs only the forward kernels.
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientRecording.$isEnabled.withValue(false, operation: body)
}
