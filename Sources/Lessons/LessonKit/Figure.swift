// Figure: a description of a chart, drawn by gnuplot.
//
// Contract: `Figure`, `Plot`, `Series` and `ImageLayer` are plain values that describe what to
// draw; nothing here talks to gnuplot. `Figure+Script.swift` turns a figure into gnuplot script
// text (a pure function, so tests can read it), and `Gnuplot.swift` runs gnuplot over a pipe to
// produce PNG, SVG or terminal text. A figure holds `rows x columns` panels (gnuplot's
// multiplot), filled row by row; each panel is a `Plot` with any number of line, scatter or bar
// series, or one heatmap/RGB image.

import Tensor

/// A colour gnuplot understands: a name (`"red"`, `"dark-green"`) or `"#rrggbb"`.
public struct Color: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The colour as gnuplot reads it after `rgb`, for example `"#1f77b4"`.
    public var specification: String

    /// Creates a colour from a gnuplot colour name or a `"#rrggbb"` string.
    public init(_ specification: String) { self.specification = specification }

    /// Creates a colour from a string literal such as `"#d62728"` or `"black"`.
    public init(stringLiteral value: String) { self.init(value) }

    /// Creates a colour from 8-bit red, green and blue components.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        func hex(_ v: UInt8) -> String { let s = String(v, radix: 16); return s.count == 1 ? "0" + s : s }
        self.init("#" + hex(red) + hex(green) + hex(blue))
    }

    /// The colour specification, as written into the script.
    public var description: String { specification }

    /// The ten colours matplotlib cycles through ("tab10"), used for series without a colour.
    public static let cycle: [Color] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]
}

/// The marker drawn at each point of a scatter or line-and-points series.
public enum PointStyle: Int, Sendable, CaseIterable {
    /// A plus sign.
    case plus = 1
    /// A diagonal cross.
    case cross = 2
    /// An asterisk.
    case star = 3
    /// An open square.
    case openSquare = 4
    /// A filled square.
    case square = 5
    /// An open circle.
    case openCircle = 6
    /// A filled circle.
    case circle = 7
    /// An open triangle.
    case openTriangle = 8
    /// A filled triangle.
    case triangle = 9
    /// A filled diamond.
    case diamond = 13
}

/// A labelled tick mark on an axis, for example a bar's category name.
public struct Tick: Sendable, Hashable {
    /// Where on the axis the tick sits.
    public var value: Double
    /// The text written at the tick.
    public var label: String

    /// Creates a tick labelled `label` at `value`.
    public init(_ value: Double, _ label: String) {
        self.value = value
        self.label = label
    }
}

/// One set of (x, y) points drawn in a plot.
public struct Series: Sendable {
    /// How the points are drawn.
    public enum Style: Sendable, Hashable {
        /// Points joined by straight lines.
        case line
        /// Markers only.
        case scatter
        /// Lines with a marker at every point.
        case linePoints
        /// Filled bars centred on each x, `width` wide in x units.
        case bars(width: Double)
        /// Markers coloured by `values` through the plot's `colorScale` (for example sigma on
        /// each state of a sampler).
        case coloredPoints
    }

    /// The x coordinates.
    public var x: [Double]
    /// The y coordinates; same count as `x`. Non-finite values are gaps.
    public var y: [Double]
    /// How the series is drawn.
    public var style: Style
    /// The legend entry; `nil` leaves the series out of the legend.
    public var title: String?
    /// The colour; `nil` takes the next colour of `Color.cycle`.
    public var color: Color?
    /// Line width in gnuplot units (1 is thin).
    public var lineWidth: Double
    /// The marker for scatter and line-and-points series.
    public var pointStyle: PointStyle
    /// Marker size (1 is gnuplot's default).
    public var pointSize: Double
    /// Dash pattern: 1 is solid, 2 dashed, 3 dotted, 4 dash-dot.
    public var dashType: Int
    /// One value per point for `.coloredPoints`, mapped through the plot's colour scale.
    public var values: [Double]?

    /// Creates a series; `x` and `y` must have the same count.
    public init(
        x: [Double], y: [Double], style: Style = .line, title: String? = nil, color: Color? = nil,
        lineWidth: Double = 2, pointStyle: PointStyle = .circle, pointSize: Double = 1, dashType: Int = 1
    ) {
        precondition(x.count == y.count, "Series: \(x.count) x values but \(y.count) y values")
        self.x = x
        self.y = y
        self.style = style
        self.title = title
        self.color = color
        self.lineWidth = lineWidth
        self.pointStyle = pointStyle
        self.pointSize = pointSize
        self.dashType = dashType
    }
}

/// A picture drawn as the content of a plot: a heatmap of a matrix or an RGB image.
public struct ImageLayer: Sendable {
    /// What the pixels mean.
    public enum Kind: Sendable, Hashable {
        /// One value per pixel, mapped through a colour palette with a colour bar.
        case heatmap
        /// Red, green and blue per pixel, each in [0, 1].
        case rgb
    }

    /// Whether pixels are values or colours.
    public var kind: Kind
    /// Number of pixel rows.
    public var height: Int
    /// Number of pixel columns.
    public var width: Int
    /// Row-major values: `height * width` for a heatmap, `3 * height * width` (planes R, G, B)
    /// for an RGB image.
    public var values: [Double]
    /// gnuplot palette definition for heatmaps, for example `"defined (0 'black', 1 'white')"`.
    public var palette: String
    /// Value range mapped onto the palette; `nil` uses the data's own range.
    public var valueRange: ClosedRange<Double>?
    /// `true` puts row 0 at the top, as images are read; `false` puts it at the bottom.
    public var rowZeroAtTop: Bool
    /// The x range an RGB background covers in plot coordinates (column 0 at its left end), or
    /// `nil` for pixel coordinates with equal aspect. With an extent, the image is a background
    /// under the plot's series, and the axes keep the plot's own ranges and ticks. Only
    /// `init(background:...)` sets it.
    public var xExtent: ClosedRange<Double>?
    /// The y range the image covers in plot coordinates (row 0 at its lower end).
    public var yExtent: ClosedRange<Double>?

    /// An RGB background covering `x` by `y` in plot coordinates; `red`, `green` and `blue` are
    /// row-major `height x width` values in [0, 1], row 0 at the bottom (`y.lowerBound`).
    public init(background red: [Double], green: [Double], blue: [Double], height: Int, width: Int,
                x: ClosedRange<Double>, y: ClosedRange<Double>) {
        precondition(red.count == height * width && green.count == red.count && blue.count == red.count,
                     "ImageLayer: \(red.count) values for \(height)x\(width)")
        self.kind = .rgb
        self.height = height
        self.width = width
        self.values = red + green + blue
        self.palette = ImageLayer.gray
        self.valueRange = nil
        self.rowZeroAtTop = false
        self.xExtent = x
        self.yExtent = y
    }

    /// Creates a heatmap from a row-major `height x width` list of values.
    public init(
        heatmap values: [Double], height: Int, width: Int, palette: String = ImageLayer.viridis,
        valueRange: ClosedRange<Double>? = nil, rowZeroAtTop: Bool = true
    ) {
        precondition(values.count == height * width, "ImageLayer: \(values.count) values for \(height)x\(width)")
        self.kind = .heatmap
        self.height = height
        self.width = width
        self.values = values
        self.palette = palette
        self.valueRange = valueRange
        self.rowZeroAtTop = rowZeroAtTop
    }

    /// Creates a heatmap from rows of equal length (`matrix[row][column]`).
    public init(
        heatmap matrix: [[Double]], palette: String = ImageLayer.viridis,
        valueRange: ClosedRange<Double>? = nil, rowZeroAtTop: Bool = true
    ) {
        let width = matrix.first?.count ?? 0
        precondition(matrix.allSatisfy { $0.count == width }, "ImageLayer: rows of different lengths")
        self.init(heatmap: matrix.flatMap { $0 }, height: matrix.count, width: width, palette: palette,
                  valueRange: valueRange, rowZeroAtTop: rowZeroAtTop)
    }

    /// Creates a heatmap from a 2-D tensor `[H, W]` (or `[1, H, W]`).
    public init(
        heatmap tensor: Tensor, palette: String = ImageLayer.viridis,
        valueRange: ClosedRange<Double>? = nil, rowZeroAtTop: Bool = true
    ) {
        let shape = tensor.shape.count == 3 && tensor.shape[0] == 1 ? Array(tensor.shape.dropFirst()) : tensor.shape
        precondition(shape.count == 2, "ImageLayer: a heatmap needs a [H, W] tensor, got \(tensor.shape)")
        self.init(heatmap: tensor.scalars.map(Double.init), height: shape[0], width: shape[1], palette: palette,
                  valueRange: valueRange, rowZeroAtTop: rowZeroAtTop)
    }

    /// Creates an image from a tensor `[C, H, W]` with values in [0, 1]: C = 3 is RGB (a fourth
    /// alpha channel is ignored), C = 1 is shown as gray. Values outside [0, 1] are clamped.
    public init(image tensor: Tensor) {
        precondition(tensor.shape.count == 3 && [1, 3, 4].contains(tensor.shape[0]),
                     "ImageLayer: an image needs a [C, H, W] tensor with C in 1, 3, 4, got \(tensor.shape)")
        let (c, h, w) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
        let scalars = tensor.scalars.map { Swift.min(1, Swift.max(0, Double($0))) }
        let plane = h * w
        var rgb = [Double](repeating: 0, count: 3 * plane)
        for channel in 0..<3 {
            let source = c == 1 ? 0 : channel
            for i in 0..<plane { rgb[channel * plane + i] = scalars[source * plane + i] }
        }
        self.kind = .rgb
        self.height = h
        self.width = w
        self.values = rgb
        self.palette = ImageLayer.gray
        self.valueRange = nil
        self.rowZeroAtTop = true
    }

    /// The viridis palette (perceptually uniform; matplotlib's default).
    public static let viridis =
        "defined (0 '#440154', 1 '#472c7a', 2 '#3b518b', 3 '#2c718e', 4 '#21908d', 5 '#27ad81', 6 '#5cc863', 7 '#aadc32', 8 '#fde725')"
    /// A black-to-white palette.
    public static let gray = "defined (0 'black', 1 'white')"
    /// A blue-white-red palette for signed values centred on zero.
    public static let diverging = "defined (0 '#3b4cc0', 1 'white', 2 '#b40426')"
}

/// Where a plot's legend goes.
public enum LegendPosition: String, Sendable, CaseIterable {
    /// No legend.
    case hidden
    /// Inside the plot, top right.
    case topRight = "top right"
    /// Inside the plot, top left.
    case topLeft = "top left"
    /// Inside the plot, bottom right.
    case bottomRight = "bottom right"
    /// Inside the plot, bottom left.
    case bottomLeft = "bottom left"
    /// Outside the plot area, to the right.
    case outside = "outside right top"
    /// Below the plot area, in a row.
    case below = "below horizontal"
}

/// How `.coloredPoints` values map to colours.
public struct ColorScale: Sendable {
    /// gnuplot palette definition (see `ImageLayer.viridis`).
    public var palette: String
    /// Values mapped onto the palette's ends.
    public var range: ClosedRange<Double>
    /// The colour bar's label.
    public var label: String?
    /// Labelled ticks on the colour bar (for example sigma values on a log10 scale).
    public var ticks: [Tick]?
    /// Whether this panel draws the colour bar.
    public var showsBar: Bool

    /// Creates a colour scale.
    public init(palette: String = ImageLayer.viridis, range: ClosedRange<Double>, label: String? = nil,
                ticks: [Tick]? = nil, showsBar: Bool = true) {
        self.palette = palette
        self.range = range
        self.label = label
        self.ticks = ticks
        self.showsBar = showsBar
    }
}

/// A piece of text at plot coordinates.
public struct PlotLabel: Sendable {
    /// The text.
    public var text: String
    /// Its x coordinate.
    public var x: Double
    /// Its y coordinate.
    public var y: Double
    /// Its colour.
    public var color: Color
    /// `"left"`, `"center"` or `"right"`: which end of the text sits at (x, y).
    public var alignment: String

    /// Creates a label.
    public init(_ text: String, x: Double, y: Double, color: Color = "black", alignment: String = "left") {
        self.text = text
        self.x = x
        self.y = y
        self.color = color
        self.alignment = alignment
    }
}

/// One panel of a figure: axes, and the series or image drawn on them.
public struct Plot: Sendable {
    /// The panel's title.
    public var title: String?
    /// The x-axis label.
    public var xLabel: String?
    /// The y-axis label.
    public var yLabel: String?
    /// Fixed x range; `nil` lets gnuplot choose.
    public var xRange: ClosedRange<Double>?
    /// Fixed y range; `nil` lets gnuplot choose.
    public var yRange: ClosedRange<Double>?
    /// Draw the x axis on a logarithmic scale (base 10).
    public var logX: Bool
    /// Draw the y axis on a logarithmic scale (base 10).
    public var logY: Bool
    /// Labelled ticks replacing gnuplot's automatic x ticks (for example bar categories).
    public var xTicks: [Tick]?
    /// Rotate x tick labels by this many degrees (45 fits long category names).
    public var xTickRotation: Double
    /// Draw grid lines at the major ticks.
    public var showsGrid: Bool
    /// Where the legend goes.
    public var legend: LegendPosition
    /// The series drawn, in order (later series on top).
    public var series: [Series]
    /// An image or heatmap drawn beneath the series.
    public var image: ImageLayer?
    /// Labelled ticks replacing gnuplot's automatic y ticks.
    public var yTicks: [Tick]?
    /// Draw the x axis from its upper to its lower end (noise on the left of a sigma axis).
    public var reversesX: Bool = false
    /// Draw x and y with the same unit length (a map of the plane).
    public var equalAspect: Bool = false
    /// The colour scale of `.coloredPoints` series, shown as a colour bar when `showsBar`.
    public var colorScale: ColorScale?
    /// Text placed at plot coordinates.
    public var labels: [PlotLabel] = []

    /// Creates an empty panel.
    public init(
        title: String? = nil, xLabel: String? = nil, yLabel: String? = nil,
        xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil,
        logX: Bool = false, logY: Bool = false, xTicks: [Tick]? = nil, xTickRotation: Double = 0,
        showsGrid: Bool = true, legend: LegendPosition = .topRight,
        series: [Series] = [], image: ImageLayer? = nil
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xRange = xRange
        self.yRange = yRange
        self.logX = logX
        self.logY = logY
        self.xTicks = xTicks
        self.xTickRotation = xTickRotation
        self.showsGrid = showsGrid
        self.legend = legend
        self.series = series
        self.image = image
    }

    /// Creates a panel showing an image `[C, H, W]` in [0, 1] without axes decoration.
    public init(image tensor: Tensor, title: String? = nil) {
        self.init(title: title, showsGrid: false, legend: .hidden, image: ImageLayer(image: tensor))
    }

    /// Creates a panel showing a heatmap of a `[H, W]` tensor with a colour bar.
    public init(heatmap tensor: Tensor, title: String? = nil, palette: String = ImageLayer.viridis,
                valueRange: ClosedRange<Double>? = nil) {
        self.init(title: title, showsGrid: false, legend: .hidden,
                  image: ImageLayer(heatmap: tensor, palette: palette, valueRange: valueRange))
    }

    /// Creates a panel showing a heatmap of a matrix given as rows (`matrix[row][column]`).
    public init(heatmap matrix: [[Double]], title: String? = nil, palette: String = ImageLayer.viridis,
                valueRange: ClosedRange<Double>? = nil) {
        self.init(title: title, showsGrid: false, legend: .hidden,
                  image: ImageLayer(heatmap: matrix, palette: palette, valueRange: valueRange))
    }

    /// Adds a line through the points `(x[i], y[i])`.
    public mutating func line(
        x: [Double], y: [Double], title: String? = nil, color: Color? = nil,
        lineWidth: Double = 2, dashType: Int = 1, points: PointStyle? = nil
    ) {
        series.append(Series(x: x, y: y, style: points == nil ? .line : .linePoints, title: title, color: color,
                             lineWidth: lineWidth, pointStyle: points ?? .circle, dashType: dashType))
    }

    /// Adds a line through `y[i]` at `x = 0, 1, 2, ...`.
    public mutating func line(y: [Double], title: String? = nil, color: Color? = nil, lineWidth: Double = 2) {
        line(x: y.indices.map(Double.init), y: y, title: title, color: color, lineWidth: lineWidth)
    }

    /// Names the rows and columns of an image grid made by `imageGrid` (tiles `tileHeight` x
    /// `tileWidth` with `padding` pixels around each): `columns` become x tick labels under the
    /// tiles and `rows` y tick labels left of them. An empty list leaves that axis unlabelled.
    public mutating func labelGrid(tileHeight: Int, tileWidth: Int, padding: Int = 2, rows: [String] = [], columns: [String] = []) {
        func centre(_ i: Int, _ size: Int) -> Double { Double(padding + i * (size + padding)) + Double(size - 1) / 2 }
        if !columns.isEmpty { xTicks = columns.enumerated().map { Tick(centre($0.offset, tileWidth), $0.element) } }
        if !rows.isEmpty { yTicks = rows.enumerated().map { Tick(centre($0.offset, tileHeight), $0.element) } }
    }

    /// Adds markers at `(x[i], y[i])` coloured by `values[i]` through `colorScale`.
    public mutating func coloredPoints(
        x: [Double], y: [Double], values: [Double], pointStyle: PointStyle = .circle, pointSize: Double = 1
    ) {
        precondition(values.count == x.count, "Plot.coloredPoints: \(x.count) points but \(values.count) values")
        var points = Series(x: x, y: y, style: .coloredPoints, pointStyle: pointStyle, pointSize: pointSize)
        points.values = values
        series.append(points)
    }

    /// Adds markers at the points `(x[i], y[i])`.
    public mutating func scatter(
        x: [Double], y: [Double], title: String? = nil, color: Color? = nil,
        pointStyle: PointStyle = .circle, pointSize: Double = 1
    ) {
        series.append(Series(x: x, y: y, style: .scatter, title: title, color: color,
                             pointStyle: pointStyle, pointSize: pointSize))
    }

    /// Adds bars of height `y[i]` centred on `x[i]`.
    public mutating func bars(
        x: [Double], y: [Double], width: Double = 0.7, title: String? = nil, color: Color? = nil
    ) {
        series.append(Series(x: x, y: y, style: .bars(width: width), title: title, color: color))
    }

    /// Adds one bar per category at x = 0, 1, 2, ... and labels the x axis with the categories.
    public mutating func bars(
        categories: [String], values: [Double], width: Double = 0.7, title: String? = nil, color: Color? = nil
    ) {
        precondition(categories.count == values.count, "Plot.bars: \(categories.count) categories, \(values.count) values")
        let x = categories.indices.map(Double.init)
        xTicks = zip(x, categories).map { Tick($0, $1) }
        if xRange == nil, !x.isEmpty { xRange = -0.6...(Double(x.count) - 0.4) }
        bars(x: x, y: values, width: width, title: title, color: color)
    }
}

/// A whole picture: one or more panels laid out in a grid, with a size and an optional title.
public struct Figure: Sendable {
    /// Number of panel rows.
    public var rows: Int
    /// Number of panel columns.
    public var columns: Int
    /// Width of a PNG/SVG rendering in pixels.
    public var width: Int
    /// Height of a PNG/SVG rendering in pixels.
    public var height: Int
    /// A title above all panels.
    public var title: String?
    /// Font name and size for PNG/SVG output, as gnuplot reads it (`"sans,11"`).
    public var font: String
    /// The panels, filled row by row; at most `rows * columns`.
    public var plots: [Plot]

    /// Creates a figure with a grid of `rows x columns` panels.
    public init(
        rows: Int = 1, columns: Int = 1, width: Int = 800, height: Int = 500,
        title: String? = nil, font: String = "sans,11", plots: [Plot] = []
    ) {
        precondition(rows >= 1 && columns >= 1, "Figure: needs at least one row and column, got \(rows)x\(columns)")
        precondition(width > 0 && height > 0, "Figure: size must be positive, got \(width)x\(height)")
        self.rows = rows
        self.columns = columns
        self.width = width
        self.height = height
        self.title = title
        self.font = font
        self.plots = plots
    }

    /// Creates a figure with a single panel.
    public init(_ plot: Plot, width: Int = 800, height: Int = 500) {
        self.init(width: width, height: height, plots: [plot])
    }

    /// Appends a panel (the next free cell, row by row).
    public mutating func add(_ plot: Plot) {
        precondition(plots.count < rows * columns, "Figure: all \(rows)x\(columns) panels are used")
        plots.append(plot)
    }
}
