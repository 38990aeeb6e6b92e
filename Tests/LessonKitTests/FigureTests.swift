import Foundation
import LessonKit
import Tensor
import Testing

/// A two-panel figure exercising lines, scatter, bars, log axes, ticks and an image.
private func sampleFigure() -> Figure {
    var curves = Plot(title: "Loss_curve 'train'", xLabel: "step", yLabel: "loss", logY: true)
    curves.line(x: [1, 2, 3], y: [0.1, 0.2, 1.0 / 3.0], title: "train", color: "#d62728")
    curves.scatter(x: [1, 2], y: [0.5, .nan], title: "val", pointStyle: .diamond)
    var bars = Plot(title: "bars", yRange: 0...10)
    bars.bars(categories: ["naive", "simd"], values: [1, 8])
    var figure = Figure(rows: 1, columns: 3, width: 900, height: 300, title: "All panels")
    figure.add(curves)
    figure.add(bars)
    figure.add(Plot(image: Tensor(shape: [3, 2, 2], scalars: [1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]), title: "rgb"))
    return figure
}

/// Every data line of the datablock `name` in `script`.
private func datablock(_ name: String, in script: String) -> [String] {
    let lines = script.components(separatedBy: "\n")
    guard let start = lines.firstIndex(of: "\(name) << EOD") else { return [] }
    let end = lines[start...].firstIndex(of: "EOD")!
    return Array(lines[(start + 1)..<end])
}

@Suite("Figure: gnuplot script text")
struct FigureScriptTests {
    @Test func terminalAndOutputFollowTheRequestedFormat() {
        let figure = sampleFigure()
        let png = figure.script(for: .png(path: "/tmp/a b.png"))
        #expect(png.contains("set terminal pngcairo size 900,300"))
        #expect(png.contains("set output '/tmp/a b.png'"))
        let svg = figure.script(for: .svg(path: "/tmp/x.svg"))
        #expect(svg.contains("set terminal svg size 900,300"))
        let text = figure.script(for: .text(columns: 80, rows: 25))
        #expect(text.contains("set terminal dumb size 80,25"))
        #expect(!text.contains("pngcairo"))
    }

    @Test func multiplotLayoutAndPanelSettings() {
        let script = sampleFigure().script(for: .png(path: "/tmp/a.png"))
        #expect(script.contains("set multiplot layout 1,3 title 'All panels'"))
        #expect(script.contains("unset multiplot"))
        #expect(script.contains("set logscale y 10"))
        #expect(script.contains("set xlabel 'step'"))
        #expect(script.contains("set ylabel 'loss'"))
        #expect(script.contains("set yrange [0.0:10.0]"))
        // Quotes in titles are doubled for gnuplot's single-quoted strings.
        #expect(script.contains("set title 'Loss_curve ''train'''"))
        #expect(script.contains("set xtics ('naive' 0.0, 'simd' 1.0)"))
        #expect(script.contains("with lines lw 2.0 dt 1 lc rgb '#d62728' title 'train'"))
        #expect(script.contains("with points pt 13"))
        #expect(script.contains("using 1:2:(0.7) with boxes"))
        #expect(script.contains("using 1:2:3:4:5 with rgbimage notitle"))
        // Each of the three panels restores defaults before its own settings.
        #expect(script.components(separatedBy: "unset logscale").count - 1 == 3)
    }

    @Test func dataKeepsFullPrecisionAndWritesGapsAsNaN() {
        let script = sampleFigure().script(for: .png(path: "/tmp/a.png"))
        let rows = datablock("$p0s0", in: script)
        #expect(rows.count == 3)
        let third = rows[2].split(separator: " ").map { Double(String($0))! }
        #expect(third == [3, 1.0 / 3.0])  // exact round trip, not a 6-digit %g
        #expect(datablock("$p0s1", in: script) == ["1.0 0.5", "2.0 NaN"])
    }

    @Test func rgbImageDataIsScaledTo255() {
        let script = sampleFigure().script(for: .png(path: "/tmp/a.png"))
        // Pixel (row 0, col 0): R=1 G=0 B=0; pixel (row 1, col 1): R=1 G=1 B=1.
        let rows = datablock("$image2", in: script)
        #expect(rows.count == 4)
        #expect(rows[0] == "0 0 255.0 0.0 0.0")
        #expect(rows[3] == "1 1 255.0 255.0 255.0")
    }

    @Test func heatmapWritesOneTextRowPerMatrixRow() {
        let matrix = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        let figure = Figure(Plot(heatmap: matrix, title: "h", valueRange: 0...5))
        let script = figure.script(for: .svg(path: "/tmp/h.svg"))
        #expect(datablock("$image0", in: script) == ["0.0 1.0 2.0", "3.0 4.0 5.0"])
        #expect(script.contains("matrix with image"))
        #expect(script.contains("set cbrange [0.0:5.0]"))
        #expect(script.contains("set yrange [1.5:-0.5]"))  // row 0 at the top
        #expect(!script.contains("set multiplot"))  // one panel, no figure title
        // The same matrix given as rows produces the same data.
        let rowsScript = Figure(Plot(heatmap: [[0, 1, 2], [3, 4, 5]], title: "h", valueRange: 0...5))
            .script(for: .svg(path: "/tmp/h.svg"))
        #expect(rowsScript == script)
    }
}

@Suite("Figure: rendering with gnuplot")
struct FigureRenderTests {
    static let skipMessage = "gnuplot not installed: skipping render tests (apt-get install gnuplot-nox)"

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lessonkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(.enabled(if: Gnuplot.isAvailable, Comment(rawValue: skipMessage)))
    func rendersPNGWithMagicBytes() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("figure.png")
        try sampleFigure().savePNG(to: url)
        let data = try Data(contentsOf: url)
        #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // Only the figure is left in the folder: the temporary file was renamed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["figure.png"])
    }

    @Test(.enabled(if: Gnuplot.isAvailable, Comment(rawValue: skipMessage)))
    func rendersSVG() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("figure.svg")
        try sampleFigure().saveSVG(to: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.contains("<svg"))
    }

    @Test(.enabled(if: Gnuplot.isAvailable, Comment(rawValue: skipMessage)))
    func rendersTextWithTheDumbTerminal() throws {
        var plot = Plot(title: "parabola")
        plot.line(x: (0...20).map(Double.init), y: (0...20).map { Double($0 * $0) }, title: "x^2")
        let text = try Figure(plot).renderText(columns: 60, rows: 20)
        #expect(text.contains("parabola"))
        #expect(text.split(separator: "\n").count >= 10)
    }

    @Test(.enabled(if: Gnuplot.isAvailable, Comment(rawValue: skipMessage)))
    func gnuplotErrorsAreThrownWithItsMessage() throws {
        do {
            _ = try Gnuplot.run(script: "set terminal dumb\nplot $nosuchblock using 1:2\n")
            Issue.record("expected gnuplot to fail")
        } catch let error as PlotError {
            guard case .gnuplotFailed(_, let message) = error else { Issue.record("wrong error \(error)"); return }
            #expect(!message.isEmpty)
            #expect(error.description.contains("gnuplot failed"))
        }
    }

    /// A figure gnuplot cannot draw (a 40000x40000 canvas: "Cairo is unhappy: invalid value",
    /// exit status 1, after gnuplot has created its output file, empty — as on a full disk)
    /// leaves the file under the final name as it was, no temporary file beside it, and an
    /// error naming the final name.
    @Test(.enabled(if: Gnuplot.isAvailable, Comment(rawValue: skipMessage)))
    func aFailedDrawingLeavesTheFigureFileUnchanged() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("figure-fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("loss.png")
        let previous = Data("the previous figure".utf8)
        try previous.write(to: url)
        #expect {
            try Figure(Plot(title: "t"), width: 40_000, height: 40_000).savePNG(to: url)
        } throws: { error in
            guard let error = error as? PlotError, case .figureFailed(let path, _) = error else { return false }
            return path == url.path && error.description.contains("loss.png") && !error.description.contains(".tmp")
        }
        #expect(try Data(contentsOf: url) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["loss.png"])
    }

    @Test func missingGnuplotIsAThrownErrorNamingThePackage() {
        for environment in [["PATH": "/nonexistent-dir"], ["GNUPLOT": "/nonexistent-dir/gnuplot"]] {
            #expect {
                _ = try Gnuplot.executableURL(environment: environment)
            } throws: { error in
                guard let error = error as? PlotError, case .gnuplotNotFound = error else { return false }
                return error.description.contains("apt-get install gnuplot-nox")
            }
        }
    }
}
