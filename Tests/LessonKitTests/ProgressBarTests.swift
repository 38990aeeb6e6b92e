import Foundation
import LessonKit
import Testing

/// Collects what a progress bar writes, and a clock the test moves by hand.
private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [String] = []
    private var time = 0.0
    func write(_ s: String) { lock.lock(); chunks.append(s); lock.unlock() }
    func now() -> Double { lock.lock(); defer { lock.unlock() }; return time }
    func advanceClock(by seconds: Double) { lock.lock(); time += seconds; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return chunks.joined() }
}

@Suite("ProgressBar")
struct ProgressBarTests {
    @Test func lineShowsCountRateElapsedAndETA() {
        // 25 of 100 steps in 10 s: 2.5 it/s, 75 steps left → 30 s.
        let line = ProgressBar.line(label: "train", completed: 25, total: 100, elapsed: 10, message: "loss 0.5", barWidth: 8)
        #expect(line == "train [##......] 25/100 2.50 it/s 0:10<0:30 loss 0.5")
    }

    @Test func slowStepsShowSecondsPerStepAndLongDurationsShowHours() {
        let line = ProgressBar.line(label: "", completed: 2, total: 4, elapsed: 8, barWidth: 0)
        #expect(line == "2/4 4.00 s/it 0:08<0:08")
        #expect(ProgressBar.duration(3 * 3600 + 62) == "3:01:02")
        #expect(ProgressBar.duration(.infinity) == "?")
    }

    @Test func terminalRedrawsOneLineWithCarriageReturns() {
        let recorder = Recorder()
        let bar = ProgressBar(total: 3, label: "x", isTerminal: true, write: recorder.write, clock: recorder.now)
        for _ in 0..<3 {
            recorder.advanceClock(by: 1)
            bar.advance()
        }
        bar.finish()
        let text = recorder.text
        #expect(text.hasPrefix("\r"))
        #expect(text.filter { $0 == "\n" }.count == 1)  // only the final newline
        #expect(text.hasSuffix("\n"))
        #expect(text.contains("3/3 1.00 it/s 0:03<0:00"))
    }

    @Test func logOutputPrintsPlainLinesAtTheInterval() {
        let recorder = Recorder()
        let bar = ProgressBar(total: 100, label: "log", isTerminal: false, logInterval: 5,
                              write: recorder.write, clock: recorder.now)
        for _ in 0..<100 {
            recorder.advanceClock(by: 0.5)
            bar.advance(message: "m")
        }
        bar.finish()
        let lines = recorder.text.split(separator: "\n")
        // 50 s of work: a line at 0.5 s, then every 5 s (5.5, ..., 45.5), then the final one.
        #expect(lines.count == 11)
        #expect(!recorder.text.contains("\r"))
        #expect(lines.last == "log 100/100 2.00 it/s 0:50<0:00 m")
    }
}
