// Figures of lesson 06: how the plane, the sigma axis and the measurements are drawn.
//
// Contract: pure functions from measured data to `Plot`s; `main.swift` decides what to show and
// says what it means. Every sampler has its LessonKit `SamplerStyle` colour; every state of a
// sampler is coloured by its sigma on one log scale (viridis: yellow at sigma_max, dark purple
// near 0) and the final samples are black; the exact ODE paths are thin grey lines; the
// background is the density the points are heading for.

import Diffusion
import DiffusionStudies
import Foundation
import LessonKit

/// A rectangle of the plane.
struct Window {
    var x: ClosedRange<Double>
    var y: ClosedRange<Double>

    /// The smallest window around `points`, widened by `margin` and to at least the mixture's window.
    static func around(_ points: [SIMD2<Double>], mixture: GaussianMixture, margin: Double = 0.3) -> Window {
        let base = mixtureWindow(mixture)
        let xs = points.map(\.x) + [base.x.lowerBound, base.x.upperBound]
        let ys = points.map(\.y) + [base.y.lowerBound, base.y.upperBound]
        return Window(x: (xs.min()! - margin)...(xs.max()! + margin), y: (ys.min()! - margin)...(ys.max()! + margin))
    }

    /// Four standard deviations of the widest mode around the means.
    static func mixtureWindow(_ mixture: GaussianMixture) -> Window {
        let xs = mixture.means.map { $0[0] }, ys = mixture.means.map { $0[1] }
        let margin = 4 * (mixture.stds.max() ?? 0) + 0.4
        return Window(x: (xs.min()! - margin)...(xs.max()! + margin), y: (ys.min()! - margin)...(ys.max()! + margin))
    }

    /// The window's outline as a closed line.
    var outline: (x: [Double], y: [Double]) {
        ([x.lowerBound, x.upperBound, x.upperBound, x.lowerBound, x.lowerBound],
         [y.lowerBound, y.lowerBound, y.upperBound, y.upperBound, y.lowerBound])
    }
}

/// The colour scale of sigma: log10(sigma) from sigma_min to sigma_max, labelled in sigma.
func sigmaScale(_ schedule: SamplingSchedule, showsBar: Bool) -> ColorScale {
    let low = log10(schedule.sigmaMin), high = log10(schedule.sigmaMax)
    var ticks = stride(from: ceil(low), through: floor(high), by: 1).map { Tick($0, format(significant: pow(10, $0))) }
    ticks.append(Tick(high, format(significant: schedule.sigmaMax)))
    return ColorScale(palette: "defined (0 '#440154', 1 '#3b518b', 2 '#21908d', 3 '#5cc863', 4 '#fde725')",
                      range: low...high, label: "sigma of the state", ticks: ticks, showsBar: showsBar)
}

/// A light shading of `density` (values >= 0) on a white background, as an RGB layer.
func shading(_ density: [Double], height: Int, width: Int, x: ClosedRange<Double>, y: ClosedRange<Double>) -> ImageLayer {
    let peak = max(density.max() ?? 1, 1e-300)
    let a = density.map { pow($0 / peak, 0.4) }  // a power below 1: faint shoulders stay visible
    return ImageLayer(background: a.map { 1 - 0.6 * $0 }, green: a.map { 1 - 0.45 * $0 }, blue: a.map { 1 - 0.15 * $0 },
                      height: height, width: width, x: x, y: y)
}

/// The density of x_sigma (the mixture with noise of size `sigma` added) over `window`, as a shaded background.
func densityBackground(_ mixture: GaussianMixture, window: Window, sigma: Double = 0, pixels: Int = 140) -> ImageLayer {
    var values: [Double] = []
    values.reserveCapacity(pixels * pixels)
    for r in 0..<pixels {
        let y = window.y.lowerBound + (Double(r) + 0.5) / Double(pixels) * (window.y.upperBound - window.y.lowerBound)
        for c in 0..<pixels {
            let x = window.x.lowerBound + (Double(c) + 0.5) / Double(pixels) * (window.x.upperBound - window.x.lowerBound)
            values.append(exp(mixture.logDensity([x, y], sigma: sigma)))
        }
    }
    return shading(values, height: pixels, width: pixels, x: window.x, y: window.y)
}

/// Circles of two standard deviations around each mode (contours of each component's density).
func modeCircles(_ plot: inout Plot, mixture: GaussianMixture) {
    let angles = (0...48).map { Double($0) * 2 * Double.pi / 48 }
    for k in 0..<mixture.componentCount {
        let r = 2 * mixture.stds[k], m = mixture.means[k]
        plot.line(x: angles.map { m[0] + r * cos($0) }, y: angles.map { m[1] + r * sin($0) }, color: "#303080", lineWidth: 1)
    }
}

/// One sampler's run in the plane: density (shaded, with 2-std circles), exact ODE paths (grey),
/// the sampler's path in its colour with every state coloured by sigma, final samples black.
/// Only the first `paths` starting points are drawn.
func planePanel(
    _ name: SamplerName, run: TrajectoryRun, exact: [[SIMD2<Double>]], mixture: GaussianMixture, window: Window,
    schedule: SamplingSchedule, showsBar: Bool, pointSize: Double = 1.1, paths: Int = 16
) -> Plot {
    let count = min(paths, run.trajectory.sampleCount, exact.count)
    var plot = Plot(title: "\(name.rawValue): \(run.steps) steps, \(run.evaluations) NFE", xLabel: "x1", yLabel: "x2",
                    xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
    plot.equalAspect = true
    plot.image = densityBackground(mixture, window: window)
    plot.colorScale = sigmaScale(schedule, showsBar: showsBar)
    modeCircles(&plot, mixture: mixture)
    for path in exact.prefix(count) { plot.line(x: path.map(\.x), y: path.map(\.y), color: "#8a8a8a", lineWidth: 1) }
    let trajectory = run.trajectory, style = SamplerStyle.of(name.rawValue)
    for sample in 0..<count {
        let states = trajectory.states.map { $0[sample] }
        plot.line(x: states.map(\.x), y: states.map(\.y), color: style.color, lineWidth: 2)
    }
    let positive = trajectory.sigmas.indices.filter { trajectory.sigmas[$0] > 0 }
    let points = positive.flatMap { i in trajectory.states[i].prefix(count) }
    let sigmas = positive.flatMap { i in Array(repeating: log10(trajectory.sigmas[i]), count: count) }
    plot.coloredPoints(x: points.map(\.x), y: points.map(\.y), values: sigmas, pointSize: pointSize)
    let finals = Array(trajectory.states[trajectory.states.count - 1].prefix(count))
    plot.scatter(x: finals.map(\.x), y: finals.map(\.y), color: "black", pointStyle: .circle, pointSize: pointSize)
    return plot
}

/// The zoomed-out view: where the paths come from (radius about sigma_max), with the zoom window outlined.
func overviewPanel(
    _ name: SamplerName, run: TrajectoryRun, exact: [[SIMD2<Double>]], zoom: Window, schedule: SamplingSchedule, paths: Int = 16
) -> Plot {
    let count = min(paths, run.trajectory.sampleCount, exact.count)
    let all = exact.prefix(count).flatMap { $0 } + run.trajectory.states.flatMap { $0.prefix(count) }
    let reach = (all.map { max(abs($0.x), abs($0.y)) }.max() ?? 1) * 1.05
    var plot = Plot(title: "Zoomed out: \(name.rawValue) from sigma = \(format(significant: schedule.sigmaMax)) (box: the window above)",
                    xLabel: "x1", yLabel: "x2", xRange: -reach...reach, yRange: -reach...reach, showsGrid: false, legend: .hidden)
    plot.equalAspect = true
    plot.colorScale = sigmaScale(schedule, showsBar: true)
    for path in exact.prefix(count) { plot.line(x: path.map(\.x), y: path.map(\.y), color: "#8a8a8a", lineWidth: 1) }
    let trajectory = run.trajectory
    for sample in 0..<count {
        let states = trajectory.states.map { $0[sample] }
        plot.line(x: states.map(\.x), y: states.map(\.y), color: SamplerStyle.of(name.rawValue).color, lineWidth: 1.5)
    }
    let positive = trajectory.sigmas.indices.filter { trajectory.sigmas[$0] > 0 }
    plot.coloredPoints(x: positive.flatMap { trajectory.states[$0].prefix(count).map(\.x) },
                       y: positive.flatMap { trajectory.states[$0].prefix(count).map(\.y) },
                       values: positive.flatMap { Array(repeating: log10(trajectory.sigmas[$0]), count: count) })
    let box = zoom.outline
    plot.line(x: box.x, y: box.y, color: "black", lineWidth: 1.5)
    return plot
}

/// The sigma axis of the Karras-style figure: u = log10(sigma), with sigma = 0 drawn half a
/// decade right of sigma_min.
struct SigmaAxis {
    let low: Double, high: Double
    init(_ schedule: SamplingSchedule) { low = log10(schedule.sigmaMin); high = log10(schedule.sigmaMax) }
    var zero: Double { low - 0.5 }
    func u(_ sigma: Double) -> Double { sigma > 0 ? log10(sigma) : zero }
    var range: ClosedRange<Double> { (zero - 0.15)...(high + 0.1) }
    var ticks: [Tick] {
        stride(from: ceil(low), through: floor(high), by: 1).map { Tick($0, format(significant: pow(10, $0))) }
            + [Tick(high, format(significant: pow(10, high))), Tick(zero, "0")]
    }
}

/// x → asinh(x / scale): linear near 0, logarithmic far out, so that nothing is clipped.
let signedLogScale = 0.5
func signedLog(_ x: Double) -> Double { asinh(x / signedLogScale) }
func signedLogTicks(upTo reach: Double) -> [Tick] {
    let values = [0.0, 1, 3, 10, 30, 100, 300].filter { $0 <= reach }
    return values.flatMap { v in v == 0 ? [Tick(0, "0")] : [Tick(signedLog(v), format(significant: v)), Tick(signedLog(-v), format(significant: -v))] }
}

/// First coordinate against sigma in the style of Karras et al. 2022, Fig. 2-3: sigma on a
/// reversed log axis (noise left, data right), the density of x1 at each sigma as background,
/// the exact paths grey and the sampler's states on top.
func sigmaPanel(
    _ name: SamplerName, run: TrajectoryRun, exact: [[SIMD2<Double>]], denseSigmas: [Double], mixture: GaussianMixture,
    schedule: SamplingSchedule, reach: Double
) -> Plot {
    let axis = SigmaAxis(schedule)
    let yMax = signedLog(reach)
    var plot = Plot(title: "\(name.rawValue): \(run.steps) steps, \(run.evaluations) NFE", xLabel: "sigma (log scale; sampling runs left to right)",
                    yLabel: "x1 (linear within ±0.5, log beyond)", xRange: axis.range, yRange: -yMax...yMax, xTicks: axis.ticks,
                    showsGrid: false, legend: .hidden)
    plot.reversesX = true
    plot.yTicks = signedLogTicks(upTo: reach)
    // Density of x1 at each sigma (the mixture's first coordinate plus noise), per column scaled to its peak.
    let (columns, rows) = (160, 140)
    var values = [Double](repeating: 0, count: rows * columns)
    for c in 0..<columns {
        let u = axis.range.lowerBound + (Double(c) + 0.5) / Double(columns) * (axis.range.upperBound - axis.range.lowerBound)
        let sigma = u < axis.low ? 0 : pow(10, u)
        var column = (0..<rows).map { r -> Double in
            let y = -yMax + (Double(r) + 0.5) / Double(rows) * 2 * yMax
            let x = signedLogScale * sinh(y), jacobian = signedLogScale * cosh(y)
            return jacobian * zip(zip(mixture.weights, mixture.means), mixture.stds).reduce(0.0) { sum, component in
                let ((w, mean), s) = component
                let variance = s * s + sigma * sigma
                return sum + w * exp(-(x - mean[0]) * (x - mean[0]) / (2 * variance)) / (2 * Double.pi * variance).squareRoot()
            }
        }
        let peak = max(column.max() ?? 1, 1e-300)
        column = column.map { $0 / peak }
        for r in 0..<rows { values[r * columns + c] = column[r] }
    }
    plot.image = shading(values, height: rows, width: columns, x: axis.range, y: -yMax...yMax)
    for path in exact { plot.line(x: denseSigmas.map(axis.u), y: path.map { signedLog($0.x) }, color: "#6e6e6e", lineWidth: 1) }
    let trajectory = run.trajectory, style = SamplerStyle.of(name.rawValue)
    for sample in 0..<min(exact.count, trajectory.sampleCount) {
        plot.line(x: trajectory.sigmas.map(axis.u), y: trajectory.states.map { signedLog($0[sample].x) }, color: style.color,
                  lineWidth: 2, points: .circle)
    }
    return plot
}

/// One measurement against NFE for every sampler in `names`, in `SamplerStyle` colours, pairs
/// that coincide dashed and on top.
func againstNFE(
    _ title: String, yLabel: String, names: [SamplerName], logY: Bool, yRange: ClosedRange<Double>? = nil,
    legend: LegendPosition = .hidden, value: (SamplerName) -> [(nfe: Double, value: Double)]
) -> Plot {
    var plot = Plot(title: title, xLabel: "NFE (denoiser evaluations)", yLabel: yLabel, yRange: yRange, logX: true, logY: logY,
                    legend: legend)
    for label in SamplerStyle.drawingOrder(names.map(\.rawValue)) {
        guard let name = SamplerName(rawValue: label) else { continue }
        let style = SamplerStyle.of(label), points = value(name)
        let twin = style.coincidesWith != nil
        plot.series.append(Series(x: points.map(\.nfe), y: points.map(\.value), style: .linePoints, title: label, color: style.color,
                                  lineWidth: twin ? 2.5 : 1.5, pointStyle: twin ? .openCircle : .circle,
                                  pointSize: twin ? 1.6 : 0.8, dashType: style.dashType))
    }
    return plot
}

/// Samples in the plane over the density, in the sampler's colour.
func samplesPanel(_ title: String, points: [SIMD2<Double>], color: Color, mixture: GaussianMixture, window: Window) -> Plot {
    var plot = Plot(title: title, xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
    plot.equalAspect = true
    plot.image = densityBackground(mixture, window: window)
    modeCircles(&plot, mixture: mixture)
    plot.scatter(x: points.map(\.x), y: points.map(\.y), color: color, pointStyle: .circle, pointSize: 0.35)
    return plot
}

/// One sampler's particles on their way from noise to data: `columns` snapshots of the states
/// (evenly spaced in step index, the last one the final samples), each over the density of
/// x_sigma at that sigma, in a window that grows with sigma so that the cloud fits.
func particleRow(_ name: SamplerName, trajectory: Trajectory, mixture: GaussianMixture, columns: Int) -> [Plot] {
    let last = trajectory.states.count - 1
    let indices = (0..<columns).map { Int((Double($0) / Double(columns - 1) * Double(last)).rounded()) }
    return indices.map { i in
        let sigma = trajectory.sigmas[i], base = Window.mixtureWindow(mixture)
        let window = Window(x: (base.x.lowerBound - 2.5 * sigma)...(base.x.upperBound + 2.5 * sigma),
                            y: (base.y.lowerBound - 2.5 * sigma)...(base.y.upperBound + 2.5 * sigma))
        var plot = Plot(title: "\(name.rawValue), " + (sigma > 0 ? "sigma = \(format(significant: sigma))" : "samples"),
                        xRange: window.x, yRange: window.y, showsGrid: false, legend: .hidden)
        plot.equalAspect = true
        // Three ticks per axis (−m, 0, m with m a one-digit number): automatic ticks crowd the small panels.
        let half = max(window.x.upperBound, -window.x.lowerBound), scale = pow(10, floor(log10(0.6 * half)))
        let m = (0.6 * half / scale).rounded(.down) * scale
        plot.xTicks = [-m, 0, m].map { Tick($0, format(significant: $0)) }
        plot.yTicks = plot.xTicks
        plot.image = densityBackground(mixture, window: window, sigma: sigma, pixels: 90)
        let points = trajectory.states[i]
        plot.scatter(x: points.map(\.x), y: points.map(\.y), color: SamplerStyle.of(name.rawValue).color, pointStyle: .circle, pointSize: 0.3)
        return plot
    }
}

/// The appendix: every sampler's paths from all 16 starting points, each panel zoomed on its last steps.
func appendix(_ report: Report, names: [SamplerName], run: [SamplerName: TrajectoryRun], exact: [[SIMD2<Double>]],
              mixture: GaussianMixture, schedule: SamplingSchedule, steps: Int,
              lateStates: (SamplerName) -> [SIMD2<Double>]) throws {
    report.heading("Appendix: every sampler's paths")
    let sheet = names.map { name in
        planePanel(name, run: run[name]!, exact: exact, mixture: mixture, window: Window.around(lateStates(name), mixture: mixture),
                   schedule: schedule, showsBar: false, pointSize: 0.8)
    }
    let sheetColumns = min(4, sheet.count), sheetRows = (sheet.count + sheetColumns - 1) / sheetColumns
    try report.figure(Figure(rows: sheetRows, columns: sheetColumns, width: 440 * sheetColumns, height: 420 * sheetRows,
                             title: "Every sampler from the same 16 starting points, at most \(steps) NFE (restart and dpm_adaptive: what the table shows) (colours of the states: sigma, as in the first figure)",
                             font: "sans,11", plots: sheet),
                      name: "trajectories-all", caption: "The first figure for all \(names.count) samplers and all 16 starting points, each panel zoomed on its own last steps (states below sigma = 1 and the final samples).", showInTerminal: false)
}
