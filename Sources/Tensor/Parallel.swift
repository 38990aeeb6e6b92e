// One shared way to run work on several cores: `parallelFor` over a small pool of worker threads
// that spin briefly between loops.
//
// Every multithreaded kernel in the project goes through here, so the thread count is set in
// one place: `Parallel.threadCount` (default: the number of active processors, or the
// environment variable `DIFFUSION_THREADS` when set).
//
// Why not `DispatchQueue.concurrentPerform`: a training step runs hundreds of short parallel
// loops (0.1-1 ms each), and Dispatch parks its workers between them, so each loop may first have
// to wake one. The workers here spin for up to `spinMicroseconds` after a loop before they sleep
// (as OpenMP runtimes do), so back-to-back loops find them awake. The training steps measured
// with each are in docs/benchmarks.md ("Design measurements").
//
// Protocol: one loop ("job") at a time. The caller publishes the job's body and size, then bumps
// `state` = generation (16 bits) | count (24 bits) | next index (24 bits) with a release store;
// every thread (the caller too) claims indices by compare-and-swap on `state`, so an index is
// claimed only while its own job is current, and runs them; the caller waits until `remaining`
// reaches 0. A loop started while another runs (nested in a body, or from a second thread), or
// one too large for the 24-bit fields, runs on the calling thread instead.

import Dispatch
import Foundation
import Synchronization

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

/// The worker threads behind `parallelFor` (see the file comment).
final class WorkerPool: @unchecked Sendable {
    // @unchecked: `body` is written only by the job's caller before it publishes the job (release
    // store of `state`) and read by workers only after they claim an index of that job (acquire),
    // and the caller clears it only after every index has finished.
    static let shared = WorkerPool()
    /// How long an idle worker keeps checking for the next loop before it sleeps.
    static let spinMicroseconds: UInt64 = 300

    private let state = Atomic<UInt64>(0)
    private let remaining = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// Workers (by index) that take part in the current job: `threads - 1` of the caller's request.
    private let participants = Atomic<Int>(0)
    private let wake = DispatchSemaphore(value: 0)
    private let startLock = NSLock()
    nonisolated(unsafe) private var started = 0
    nonisolated(unsafe) private var body: ((Int) -> Void)?

    private static func generation(_ v: UInt64) -> UInt64 { v >> 48 }

    /// Runs `body(i)` for `i < count` on up to `threads` threads (the caller included); false,
    /// without running anything, when another job is in flight or `count` is too large.
    func run(_ count: Int, threads: Int, _ body: @Sendable (Int) -> Void) -> Bool {
        guard count < (1 << 24), busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        startWorkers(threads - 1)
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            participants.store(threads - 1, ordering: .relaxed)
            remaining.store(count, ordering: .relaxed)
            let generation = (WorkerPool.generation(state.load(ordering: .relaxed)) &+ 1) & 0xFFFF
            state.store(generation << 48 | UInt64(count) << 24, ordering: .releasing)
            let asleep = sleepers.load(ordering: .acquiring)
            for _ in 0..<Swift.min(asleep, threads - 1) { wake.signal() }
            claim(generation)
            while remaining.load(ordering: .acquiring) > 0 {}
            self.body = nil
        }
        return true
    }

    /// Claims and runs indices of job `generation` until none are left (or the job changed).
    private func claim(_ generation: UInt64) {
        while true {
            let v = state.load(ordering: .acquiring)
            let next = v & 0xFFFFFF, count = (v >> 24) & 0xFFFFFF
            if WorkerPool.generation(v) != generation || next >= count { return }
            if state.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing).exchanged {
                body!(Int(next))
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Starts worker threads until there are `count`.
    private func startWorkers(_ count: Int) {
        if started >= count { return }
        startLock.lock()
        defer { startLock.unlock() }
        while started < count {
            let index = started
            let thread = Thread { [self] in self.work(index) }
            thread.stackSize = 1 << 20
            thread.start()
            started += 1
        }
    }

    /// A worker's loop: wait (spinning, then sleeping) for a new job, take part if asked, repeat.
    private func work(_ index: Int) {
        var seen = WorkerPool.generation(state.load(ordering: .acquiring))
        while true {
            var spinStart = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while WorkerPool.generation(state.load(ordering: .acquiring)) == seen {
                spins += 1
                if spins & 255 != 0 { continue }
                if DispatchTime.now().uptimeNanoseconds - spinStart < WorkerPool.spinMicroseconds * 1000 { continue }
                sleepers.add(1, ordering: .acquiringAndReleasing)
                if WorkerPool.generation(state.load(ordering: .acquiring)) == seen { wake.wait() }
                sleepers.subtract(1, ordering: .acquiringAndReleasing)
                spinStart = DispatchTime.now().uptimeNanoseconds
            }
            seen = WorkerPool.generation(state.load(ordering: .acquiring))
            if index < participants.load(ordering: .acquiring) { claim(seen) }
        }
    }
}

/// Runs `body(i)` for every `i` in `0..<count`, spread over up to `Parallel.threadCount` threads.
/// Iterations must be independent: each writes only memory no other iteration touches.
public func parallelFor(_ count: Int, _ body: @Sendable (Int) -> Void) {
    if count <= 0 { return }
    let threads = Swift.min(Parallel.threadCount, count)
    if threads <= 1 || !WorkerPool.shared.run(count, threads: threads, body) {
        for i in 0..<count { body(i) }
    }
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
