import Foundation
import LessonKit
import Tensor
import Testing

/// Every data line of the datablock `name` in `script`.
private func datablock(_ name: String, in script: String) -> [String] {
    let lines = script.components(separatedBy: "\n")
    guard let start = lines.firstIndex(of: "\(name) << EOD") else { return [] }
    let end = lines[start...].firstIndex(of: "EOD")!
    return Array(lines[(start + 1)..<end])
}

@Suite("Figure: colour scales, backgrounds, labels and image-grid labels")
struct FigureLayersTests {
    @Test func coloredPointsWriteAThirdColumnAndUseThePalette() {
        var plot = Plot(title: "states")
        plot.colorScale = ColorScale(range: -2...1, label: "sigma", ticks: [Tick(0, "1")])
        plot.coloredPoints(x: [1, 2], y: [3, 4], values: [-1, 0.5])
        let script = Figure(plot).script(for: .svg(path: "/tmp/c.svg"))
        #expect(datablock("$p0s0", in: script) == ["1.0 3.0 -1.0", "2.0 4.0 0.5"])
        #expect(script.contains("using 1:2:3 with points pt 7 ps 1.0 lc palette notitle"))
        #expect(script.contains("set cbrange [-2.0:1.0]"))
        #expect(script.contains("set cblabel 'sigma'"))
        #expect(script.contains("set cbtics ('1' 0.0)"))
        #expect(script.contains("set colorbox"))
    }

    @Test func backgroundImageIsPlacedInPlotCoordinates() {
        // 2 x 4 pixels over x in [0, 8], y in [-1, 1]: pixel centres at x = 1, 3, 5, 7 and y = -0.5, 0.5.
        var plot = Plot(title: "density", xRange: 0...8, yRange: -1...1)
        plot.image = ImageLayer(background: [Double](repeating: 1, count: 8), green: [Double](repeating: 0.5, count: 8),
                                blue: [Double](repeating: 0, count: 8), height: 2, width: 4, x: 0...8, y: -1...1)
        let script = Figure(plot).script(for: .svg(path: "/tmp/b.svg"))
        #expect(script.contains("using (0.0+($1+0.5)*2.0):(-1.0+($2+0.5)*1.0):3:4:5 with rgbimage notitle"))
        #expect(script.contains("set xrange [0.0:8.0]"))  // the plot's own range, not the pixel grid's
        #expect(!script.contains("set size ratio -1"))
        #expect(datablock("$image0", in: script).first == "0 0 255.0 127.5 0.0")
    }

    @Test func reversedAxisLabelsTicksAndEqualAspect() {
        var plot = Plot(title: "sigma", xRange: -3...2)
        plot.reversesX = true
        plot.equalAspect = true
        plot.yTicks = [Tick(0, "zero"), Tick(1.5, "it's")]
        plot.labels = [PlotLabel("box", x: 1, y: 2)]
        plot.line(x: [0, 1], y: [0, 1])
        let script = Figure(plot).script(for: .svg(path: "/tmp/r.svg"))
        #expect(script.contains("set xrange [2.0:-3.0]"))
        #expect(script.contains("set ytics ('zero' 0.0, 'it''s' 1.5)"))
        #expect(script.contains("set label 'box' at 1.0,2.0 left front tc rgb 'black'"))
        #expect(script.contains("set size ratio -1"))
        #expect(script.contains("unset label"))  // each panel starts without the previous panel's labels
    }

    @Test func gridLabelsSitOnTileCentres() {
        // Three 5 x 4 tiles in one row, padding 2, as `imageGrid` lays them out.
        let tiles = (0..<3).map { Tensor(shape: [1, 5, 4], repeating: Float($0 + 1)) }
        let grid = imageGrid(tiles, columns: 3, padding: 2, padValue: 0)
        var plot = Plot(image: grid)
        plot.labelGrid(tileHeight: 5, tileWidth: 4, padding: 2, rows: ["r"], columns: ["a", "b", "c"])
        let xs = plot.xTicks!.map(\.value), y = plot.yTicks!.map(\.value)
        #expect(xs == [3.5, 9.5, 15.5] && y == [4.0])
        // Each tick is at the middle of the pixels of its own tile: the grid's value there is the tile's.
        let width = grid.shape[2]
        for (k, x) in xs.enumerated() {
            for column in [Int(x.rounded(.down)), Int(x.rounded(.up))] {
                #expect(grid.scalars[4 * width + column] == Float(k + 1))
            }
        }
    }
}

@Suite("SamplerStyle: one colour per sampler")
struct SamplerStyleTests {
    static let samplers = [
        "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral", "dpmpp_2m",
        "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde", "ddpm", "ddim", "plms",
        "dpm_fast", "dpm_adaptive", "restart", "ipndm", "edm_stochastic", "unipc", "deis", "lcm",
    ]

    @Test func everySamplerHasItsOwnColour() {
        let colours = Set(Self.samplers.map { SamplerStyle.of($0).color })
        #expect(colours.count == Self.samplers.count)
        #expect(Set(SamplerStyle.table.keys) == Set(Self.samplers))
    }

    @Test func coincidingSamplersAreDashedAndDrawnAfterTheirTwin() {
        let order = SamplerStyle.drawingOrder(["ddim", "euler", "ddpm", "heun", "euler_ancestral"])
        #expect(order == ["euler", "heun", "euler_ancestral", "ddim", "ddpm"])
        for name in ["ddim", "ddpm"] {
            let style = SamplerStyle.of(name)
            #expect(style.dashType != 1)
            #expect(order.firstIndex(of: style.coincidesWith!)! < order.firstIndex(of: name)!)
        }
        #expect(SamplerStyle.of("a_sampler_from_the_future").color == SamplerStyle.of("another_one").color)
    }
}
