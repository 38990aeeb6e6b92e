// ProgressBar: shows how far a long loop has come, how fast it goes and when it will end.
//
// Contract: on a terminal (standard error is a TTY), one line is redrawn in place with `\r`:
// a bar, `count/total`, rate, elapsed time, ETA and an optional message such as the loss;
// redraws are limited to about ten per second. When standard error is not a terminal (a log
// file, CI), a plain line is printed at most every `logInterval` seconds, plus one at the end.
// The bar writes to standard error, as tqdm does, so a lesson's standard output stays clean.
//
// Thread safety: every method takes an internal lock, so calling from several threads cannot
// corrupt the counters or interleave half-written lines. It is designed for the single-threaded
// training and sampling loops of the lessons; with many threads calling `advance` the display
// is correct but the lock becomes a point of contention.

import Foundation

/// A progress display for a loop of known length.
public final class ProgressBar: @unchecked Sendable {
    /// What the progress bar shows before the bar (for example "training").
    public let label: String
    /// The number of steps expected.
    public let total: Int
    /// Whether the output is an interactive terminal (redrawn line) or a log (plain lines).
    public let isTerminal: Bool
    /// Seconds between plain lines when the output is not a terminal.
    public let logInterval: Double

    private let lock = NSLock()
    private let write: @Sendable (String) -> Void
    private let now: @Sendable () -> Double
    private let start: Double
    private var completed = 0
    private var message = ""
    private var lastDraw = -Double.infinity
    private var finished = false

    /// Creates a progress bar for `total` steps writing to standard error.
    /// - Parameters:
    ///   - isTerminal: overrides the TTY check (`nil` asks `isatty(STDERR_FILENO)`).
    ///   - logInterval: seconds between plain lines when not on a terminal.
    ///   - write: where text goes (tests pass their own); standard error by default.
    ///   - clock: seconds from any fixed origin (tests pass their own); monotonic by default.
    public init(
        total: Int, label: String = "", isTerminal: Bool? = nil, logInterval: Double = 5,
        write: (@Sendable (String) -> Void)? = nil, clock: (@Sendable () -> Double)? = nil
    ) {
        precondition(total >= 0, "ProgressBar: negative total \(total)")
        self.total = total
        self.label = label
        self.isTerminal = isTerminal ?? (isatty(STDERR_FILENO) == 1)
        self.logInterval = logInterval
        self.write = write ?? { text in FileHandle.standardError.write(Data(text.utf8)) }
        self.now = clock ?? { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        self.start = self.now()
    }

    /// Records `steps` more completed steps and an optional message (shown after the numbers).
    public func advance(by steps: Int = 1, message: String? = nil) {
        lock.lock(); defer { lock.unlock() }
        completed = min(total, completed + steps)
        if let message { self.message = message }
        drawIfDue(force: false)
    }

    /// Sets the number of completed steps and an optional message.
    public func update(completed: Int, message: String? = nil) {
        lock.lock(); defer { lock.unlock() }
        self.completed = max(0, min(total, completed))
        if let message { self.message = message }
        drawIfDue(force: false)
    }

    /// Draws the final state and ends the line. Further calls do nothing.
    public func finish(message: String? = nil) {
        lock.lock(); defer { lock.unlock() }
        guard !finished else { return }
        if let message { self.message = message }
        drawIfDue(force: true)
        if isTerminal { write("\n") }
        finished = true
    }

    /// Seconds since the bar was created.
    public var elapsed: Double { now() - start }

    private func drawIfDue(force: Bool) {
        guard !finished else { return }
        let t = now()
        let interval = isTerminal ? 0.1 : logInterval
        // A terminal also redraws on reaching the total; a log gets its last line from `finish`.
        guard force || t - lastDraw >= interval || (isTerminal && completed == total) else { return }
        lastDraw = t
        let line = ProgressBar.line(label: label, completed: completed, total: total, elapsed: t - start,
                                    message: message, barWidth: isTerminal ? 24 : 0)
        // `\r` returns to the line start; `\u{1B}[K` clears what a longer previous line left.
        write(isTerminal ? "\r" + line + "\u{1B}[K" : line + "\n")
    }

    /// The text of one progress line: `label [####....] 12/100 3.4 it/s 0:03<0:25 message`.
    /// `barWidth` 0 leaves out the bar (used for log files).
    public static func line(
        label: String, completed: Int, total: Int, elapsed: Double, message: String = "", barWidth: Int = 24
    ) -> String {
        var parts: [String] = []
        if !label.isEmpty { parts.append(label) }
        let fraction = total > 0 ? Double(completed) / Double(total) : 1
        if barWidth > 0 {
            let filled = Int((fraction * Double(barWidth)).rounded(.down))
            parts.append("[" + String(repeating: "#", count: filled)
                + String(repeating: ".", count: barWidth - filled) + "]")
        }
        parts.append("\(completed)/\(total)")
        let rate = elapsed > 0 ? Double(completed) / elapsed : 0
        parts.append(rateText(rate))
        let remaining = rate > 0 ? Double(total - completed) / rate : .infinity
        parts.append(duration(elapsed) + "<" + duration(remaining))
        if !message.isEmpty { parts.append(message) }
        return parts.joined(separator: " ")
    }

    /// A rate as "12.3 it/s", or "4.5 s/it" when a step takes longer than a second.
    static func rateText(_ rate: Double) -> String {
        if rate <= 0 { return "? it/s" }
        if rate < 1 { return String(format: "%.2f s/it", 1 / rate) }
        return String(format: rate < 100 ? "%.2f it/s" : "%.0f it/s", rate)
    }

    /// A duration as "m:ss" or "h:mm:ss"; "?" when unknown.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        let (h, m, r) = (s / 3600, (s / 60) % 60, s % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, r) : String(format: "%d:%02d", m, r)
    }
}
