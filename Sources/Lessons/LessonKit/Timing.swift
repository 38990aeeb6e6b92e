// Timing: wall-clock timing for lessons (not for tests: speed is measured by `bench`).
//
// Contract: `Timing.measure` runs a closure a few times after a warm-up and keeps every
// wall-clock time. The median shrugs off a single run slowed by another process; the minimum
// is the best estimate of the undisturbed speed on a shared machine, because other processes
// can only ever make a run slower.

import Dispatch

/// Wall-clock times of repeated runs of the same work.
public struct TimingSamples: Sendable {
    /// Seconds of each timed run, in the order they ran.
    public var seconds: [Double]

    /// Wraps measured run times (at least one).
    public init(seconds: [Double]) {
        precondition(!seconds.isEmpty, "TimingSamples: needs at least one time")
        self.seconds = seconds
    }

    /// The median run time in seconds.
    public var median: Double {
        let sorted = seconds.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The fastest run time in seconds.
    public var minimum: Double { seconds.min()! }
}

/// Wall-clock timing helpers for lessons.
public enum Timing {
    /// The 1-minute load average from /proc/loadavg ("?" where it cannot be read), for the line
    /// a lesson page ends with.
    public static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").first.map(String.init) ?? "?"
    }

    /// ": other programs shared the cores" when the load average `load` is above 2 (more than the
    /// two cores one lesson uses), else the empty string.
    public static func busyNote(load: String) -> String {
        (Double(load) ?? 0) > 2 ? ": other programs shared the cores" : ""
    }

    /// Seconds on a monotonic clock from an arbitrary origin.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs `body` `warmup` times untimed, then `repetitions` times, timing each run.
    public static func measure(repetitions: Int, warmup: Int = 1, _ body: () -> Void) -> TimingSamples {
        precondition(repetitions >= 1, "Timing.measure: needs at least one repetition")
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<repetitions {
            let start = now()
            body()
            times.append(now() - start)
        }
        return TimingSamples(seconds: times)
    }

    /// The median wall-clock seconds of `repetitions` runs after `warmup` untimed runs.
    public static func median(repetitions: Int, warmup: Int = 1, _ body: () -> Void) -> Double {
        measure(repetitions: repetitions, warmup: warmup, body).median
    }
}
