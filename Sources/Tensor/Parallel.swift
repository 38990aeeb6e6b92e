// One shared way to run work on several cores: `parallelFor` over `DispatchQueue.concurrentPerform`.
//
// Every multithreaded kernel in the project goes through here, so the thread count is set in
// one place: `Parallel.threadCount` (default: the number of active processors, or the
// environment variable `DIFFUSION_THREADS` when set).

import Dispatch
import Foundation

/// The project's thread-count setting for `parallelFor`.
public enum Parallel {
    /// How many threads `parallelFor` uses at most; 1 runs every loop on the calling thread.
    /// Set it before starting work (benchmarks compare 1 and 2 threads this way).
    nonisolated(unsafe) public static var threadCount: Int = {
        if let value = ProcessInfo.processInfo.environment["DIFFUSION_THREADS"], let n = Int(value), n > 0 {
            return n
        }
        return Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()
}

/// Runs `body(i)` for every `i` in `0..<count`, spread over up to `Parallel.threadCount` threads.
/// Iterations must be independent: each writes only memory no other iteration touches.
public func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count <= 0 { return }
    if count == 1 || Parallel.threadCount <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
}

/// Splits `0..<count` into at most `Parallel.threadCount` contiguous chunks (at least
/// `minimumChunk` long) and runs `body(range)` for each chunk on its own thread.
public func parallelFor(chunking count: Int, minimumChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = Swift.max(1, Swift.min(Parallel.threadCount, count / Swift.max(minimumChunk, 1)))
    if chunks == 1 { body(0..<count); return }
    let size = (count + chunks - 1) / chunks
    parallelFor(chunks) { c in
        let start = c * size
        let end = Swift.min(count, start + size)
        if start < end { body(start..<end) }
    }
}
