// Timing: wall-clock timing for lessons (not for tests: speed is measured by `bench`).
//
// Contract: `Timing.median` runs a closure a few times after a warm-up and returns the median
// wall-clock seconds, which shrugs off a single run slowed by another process on a shared machine.

import Dispatch

/// Wall-clock timing helpers for lessons.
public enum Timing {
    /// Seconds on a monotonic clock from an arbitrary origin.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs `body` `warmup` times untimed, then `repetitions` times, and returns the median
    /// wall-clock seconds of the timed runs.
    public static func median(repetitions: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
        precondition(repetitions >= 1, "Timing.median: needs at least one repetition")
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<repetitions {
            let start = now()
            body()
            times.append(now() - start)
        }
        times.sort()
        let mid = times.count / 2
        return times.count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2
    }
}
