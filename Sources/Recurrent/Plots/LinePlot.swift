import Foundation

/// A line chart of named series against shared axes, written as a standalone SVG file.
///
/// Meant for training curves (loss per epoch or per step) and forecasts (prediction against truth
/// over a time index). Axes get 1-2-5 ticks with compact labels, light grid lines, and a legend above
/// the plot area naming each series in its colour (the Okabe–Ito colour-blind-safe palette, in
/// order). A point whose x or y is not finite (or, on a logarithmic y axis, whose y is not positive)
/// is not drawn and breaks its line in two; the SVG never contains `nan` or `inf`.
///
/// ```swift
/// var plot = LinePlot(title: "LSTM on sine", xAxisTitle: "epoch", yAxisTitle: "loss (MSE)")
/// plot.series.append(LinePlot.Series(name: "training", xs: epochs, ys: trainingLoss))
/// plot.series.append(LinePlot.Series(name: "validation", xs: epochs, ys: validationLoss, line: .dashed))
/// try plot.write(to: URL(fileURLWithPath: "loss.svg"))
/// ```
///
/// Each series is one `<path>` with `class="series"` and a `data-series` attribute holding its name,
/// so scripts can find it. Coordinates are rounded to 0.1 px, and where consecutive points fall in one
/// pixel column only the first, lowest, highest and last are kept (the drawing is the same at that
/// resolution), so a 10 000-point series takes tens of kilobytes, not hundreds.
public struct LinePlot: Sendable, Equatable {
    /// How a series' line is drawn.
    public enum LineStyle: String, Sendable, CaseIterable {
        /// A continuous line.
        case solid
        /// Dashes 6 px long, 4 px apart.
        case dashed
        /// Dots 2 px long, 3 px apart.
        case dotted
    }

    /// One named line: the points (`xs[i]`, `ys[i]`) joined in order.
    public struct Series: Sendable, Equatable {
        /// The name shown in the legend and stored in the path's `data-series` attribute.
        public var name: String
        /// The x coordinates, as many as ``ys``.
        public var xs: [Double]
        /// The y coordinates, as many as ``xs``.
        public var ys: [Double]
        /// How the line is drawn.
        public var line: LineStyle
        /// Whether each point also gets a dot.
        public var showsMarkers: Bool

        /// A series of the points (`xs[i]`, `ys[i]`).
        /// - Parameter showsMarkers: Whether to draw a dot at each point; by default, when the series
        ///   has at most 30 points (a loss per epoch), so that a lone point is visible too.
        public init(name: String, xs: [Double], ys: [Double], line: LineStyle = .solid, showsMarkers: Bool? = nil) {
            self.name = name
            self.xs = xs
            self.ys = ys
            self.line = line
            self.showsMarkers = showsMarkers ?? (ys.count <= 30)
        }

        /// A series of the points (`i`, `ys[i]`) for i = 0, 1, 2, …: a value per step, or per index
        /// into ``LinePlot/xTickLabels``.
        public init(name: String, ys: [Double], line: LineStyle = .solid, showsMarkers: Bool? = nil) {
            self.init(name: name, xs: ys.indices.map(Double.init), ys: ys, line: line, showsMarkers: showsMarkers)
        }
    }

    /// The title above the plot; empty for none.
    public var title: String
    /// The x axis' title, with its unit (for example `"epoch"` or `"date"`).
    public var xAxisTitle: String
    /// The y axis' title, with its unit (for example `"loss (cross-entropy, nats)"` or `"price (USD)"`).
    public var yAxisTitle: String
    /// The lines, drawn in order (later ones on top) in the palette's colours.
    public var series: [Series]
    /// Whether the y axis is logarithmic (base 10); points with y ≤ 0 are then left out.
    public var logarithmicY: Bool
    /// The y interval to show, or nil to fit the data (with 5 % to spare). Lines leaving it are
    /// clipped; useful when the first steps' loss would flatten the rest of the curve.
    public var yRange: ClosedRange<Double>?
    /// Labels for the x positions 0, 1, 2, …: label i is written at x = i, in place of numbers. Meant
    /// for dates (`"2024-03-01"`) with series whose xs are indices into this array; a few evenly
    /// spaced ones (every 1, 2, 5, 10, 20, … positions) are shown so that they never overlap.
    public var xTickLabels: [String]?
    /// The width of the image in pixels.
    public var width: Double
    /// The height of the image in pixels.
    public var height: Double

    /// A plot; add series to ``series`` before drawing it.
    public init(
        title: String, xAxisTitle: String, yAxisTitle: String, series: [Series] = [], logarithmicY: Bool = false,
        yRange: ClosedRange<Double>? = nil, xTickLabels: [String]? = nil, width: Double = 800, height: Double = 480
    ) {
        self.title = title
        self.xAxisTitle = xAxisTitle
        self.yAxisTitle = yAxisTitle
        self.series = series
        self.logarithmicY = logarithmicY
        self.yRange = yRange
        self.xTickLabels = xTickLabels
        self.width = width
        self.height = height
    }

    /// The plot as an SVG document.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when there are no series, a series' `xs` and `ys`
    ///   differ in length, no point at all can be drawn, ``yRange`` is empty or not finite (or not
    ///   positive on a logarithmic axis), or the size is below 200 × 150 pixels.
    public func svg() throws -> String {
        try LinePlotLayout(self).draw()
    }

    /// Writes ``svg()`` to `url` atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: What ``svg()`` throws, or ``FileFormatError`` when the file cannot be written.
    public func write(to url: URL) throws {
        try writeAtomically(Data(svg().utf8), to: url)
    }
}

/// Where everything of a ``LinePlot`` goes, worked out once from the data and the image size.
private struct LinePlotLayout {
    let plot: LinePlot
    var x: AxisScale, y: AxisScale
    var xTicks: [Tick] = [], yTicks: [Tick] = []
    var legendRows: [[(series: Int, width: Double)]] = []
    var titleBaseline = 0.0, legendBaseline = 0.0

    static let margin = 14.0, tickLength = 5.0, tickFont = 12.0, titleFont = 16.0, axisTitleFont = 13.0, legendFont = 13.0

    /// Whether point `i` of `s` can be drawn on these axes.
    static func drawable(_ s: LinePlot.Series, _ i: Int, logarithmicY: Bool) -> Bool {
        s.xs[i].isFinite && s.ys[i].isFinite && (!logarithmicY || s.ys[i] > 0)
    }

    init(_ plot: LinePlot) throws {
        self.plot = plot
        let name = plot.title.isEmpty ? "LinePlot" : "LinePlot \(shown(String(reflecting: plot.title)))"
        guard plot.width.isFinite, plot.height.isFinite, plot.width >= 200, plot.height >= 150 else {
            throw RecurrentError.invalidValue("\(name): the image must be at least 200 × 150 pixels, got \(plot.width) × \(plot.height)")
        }
        guard !plot.series.isEmpty else { throw RecurrentError.invalidValue("\(name): no series to plot") }
        var (xLow, xHigh, yLow, yHigh) = (Double.infinity, -Double.infinity, Double.infinity, -Double.infinity)
        var allIntegerX = true
        for s in plot.series {
            guard s.xs.count == s.ys.count else {
                throw RecurrentError.invalidValue(
                    "\(name): series \(shown(String(reflecting: s.name))) has \(s.xs.count) x values but \(s.ys.count) y values")
            }
            for i in s.xs.indices where Self.drawable(s, i, logarithmicY: plot.logarithmicY) {
                (xLow, xHigh) = (min(xLow, s.xs[i]), max(xHigh, s.xs[i]))
                (yLow, yHigh) = (min(yLow, s.ys[i]), max(yHigh, s.ys[i]))
                allIntegerX = allIntegerX && s.xs[i].rounded() == s.xs[i]
            }
        }
        guard xLow <= xHigh else {
            throw RecurrentError.invalidValue("\(name): no point to draw (every series is empty or "
                + (plot.logarithmicY ? "has no finite positive y for the logarithmic axis)" : "has no finite point)"))
        }
        guard (xHigh - xLow).isFinite, (yHigh - yLow).isFinite else {
            throw RecurrentError.invalidValue("\(name): the data span more than the largest Double (x from \(xLow) to \(xHigh), y from \(yLow) to \(yHigh))")
        }
        if let range = plot.yRange {
            guard range.lowerBound.isFinite, range.upperBound.isFinite, range.lowerBound < range.upperBound,
                  !plot.logarithmicY || range.lowerBound > 0 else {
                throw RecurrentError.invalidValue("\(name): yRange \(range) must be finite, non-empty"
                    + (plot.logarithmicY ? " and positive on a logarithmic axis" : ""))
            }
            (yLow, yHigh) = (range.lowerBound, range.upperBound)
        } else {
            (yLow, yHigh) = paddedInterval(yLow, yHigh, padding: 0.05, logarithmic: plot.logarithmicY)
        }
        // Dots at the ends of the x range would sit on the frame: give them room.
        let xPadding = plot.series.contains { $0.showsMarkers } ? 0.03 : 0
        (xLow, xHigh) = paddedInterval(xLow, xHigh, padding: xPadding, logarithmic: false, stopAtZero: false)

        // Top to bottom: title, legend rows, plot area, x tick labels, x axis title.
        let m = Self.margin
        titleBaseline = plot.title.isEmpty ? m : m + Self.titleFont
        var row: [(series: Int, width: Double)] = [], rowWidth = 0.0
        for (i, s) in plot.series.enumerated() {
            let w = 30 + textWidth(s.name, size: Self.legendFont)
            if !row.isEmpty && rowWidth + 20 + w > plot.width - 2 * m { legendRows.append(row); row = []; rowWidth = 0 }
            rowWidth += (row.isEmpty ? 0 : 20) + w
            row.append((i, w))
        }
        legendRows.append(row)
        legendBaseline = titleBaseline + (plot.title.isEmpty ? Self.legendFont : 24)
        let top = legendBaseline + Double(legendRows.count - 1) * 20 + 16
        let bottom = plot.height - (Self.tickLength + 4 + Self.tickFont + 10 + Self.axisTitleFont + m)
        y = AxisScale(lower: yLow, upper: yHigh, logarithmic: plot.logarithmicY, pixelLower: bottom, pixelUpper: top)
        let yCount = max(2, Int((bottom - top) / 50))
        yTicks = plot.logarithmicY ? logarithmicTicks(yLow, yHigh, count: yCount)
            : linearTicks(yLow, yHigh, count: yCount, nearest: true).ticks

        // Left to right: y axis title, y tick labels, plot area, room for the last x tick label.
        let labelWidth = yTicks.map { textWidth($0.label, size: Self.tickFont) }.max() ?? 0
        let left = m + (plot.yAxisTitle.isEmpty ? 0 : Self.axisTitleFont + 8) + labelWidth + Self.tickLength + 4
        x = AxisScale(lower: xLow, upper: xHigh, pixelLower: left, pixelUpper: plot.width - 2 * m)
        for _ in 0..<2 {
            xTicks = fittingXTicks(integerOnly: allIntegerX)
            guard let last = xTicks.last else { break }
            let overhang = x.pixel(last.value) + textWidth(last.label, size: Self.tickFont) / 2 - (plot.width - m / 2)
            guard overhang > 0 else { break }
            x.pixelUpper -= overhang
        }
    }

    /// The densest 1-2-5 x ticks whose labels stay at least 16 px apart.
    func fittingXTicks(integerOnly: Bool) -> [Tick] {
        let length = x.pixelUpper - x.pixelLower
        var count = max(2, Int(length / 60))
        while true {
            var ticks: [Tick]
            if let labels = plot.xTickLabels {
                let step = niceStep(atLeast: max(1, (x.upper - x.lower) / Double(count)))
                ticks = multiples(of: step, in: x.lower, x.upper).compactMap { m in
                    m.value >= 0 && m.value < Double(labels.count) ? Tick(value: m.value, label: labels[Int(m.value)]) : nil
                }
            } else {
                ticks = linearTicks(x.lower, x.upper, count: count, minimumStep: integerOnly ? 1 : 0).ticks
            }
            let fits = zip(ticks, ticks.dropFirst()).allSatisfy { a, b in
                x.pixel(b.value) - x.pixel(a.value)
                    >= (textWidth(a.label, size: Self.tickFont) + textWidth(b.label, size: Self.tickFont)) / 2 + 16
            }
            if fits || count == 1 { return ticks }
            count -= 1
        }
    }

    func draw() -> String {
        var doc = SVGDocument(width: plot.width, height: plot.height)
        let (left, right, top, bottom) = (x.pixelLower, x.pixelUpper, y.pixelUpper, y.pixelLower)
        let m = Self.margin
        if !plot.title.isEmpty {
            doc.text(plot.title, x: plot.width / 2, y: titleBaseline, size: Self.titleFont, anchor: "middle", bold: true, className: "title")
        }

        // Grid, frame, ticks and their labels.
        var grid = ""
        for t in yTicks { grid += "M\(svgNumber(left)),\(svgNumber(y.pixel(t.value)))H\(svgNumber(right))" }
        for t in xTicks { grid += "M\(svgNumber(x.pixel(t.value))),\(svgNumber(top))V\(svgNumber(bottom))" }
        doc.element("path", ["class": "grid", "d": grid, "stroke": "#e3e3e3", "stroke-width": "1", "fill": "none"])
        var marks = ""
        for t in yTicks { marks += "M\(svgNumber(left - Self.tickLength)),\(svgNumber(y.pixel(t.value)))h\(svgNumber(Self.tickLength))" }
        for t in xTicks { marks += "M\(svgNumber(x.pixel(t.value))),\(svgNumber(bottom))v\(svgNumber(Self.tickLength))" }
        doc.element("path", ["class": "ticks", "d": marks, "stroke": "#444", "stroke-width": "1", "fill": "none"])
        doc.element("rect", ["class": "frame", "x": svgNumber(left), "y": svgNumber(top), "width": svgNumber(right - left),
                             "height": svgNumber(bottom - top), "stroke": "#444", "stroke-width": "1", "fill": "none"])
        doc.open("g", ["class": "y-ticks", "font-size": svgNumber(Self.tickFont), "fill": "#444", "text-anchor": "end"])
        for t in yTicks {
            doc.element("text", ["x": svgNumber(left - Self.tickLength - 4), "y": svgNumber(y.pixel(t.value) + 0.35 * Self.tickFont)],
                        content: t.label)
        }
        doc.close("g")
        doc.open("g", ["class": "x-ticks", "font-size": svgNumber(Self.tickFont), "fill": "#444", "text-anchor": "middle"])
        for t in xTicks {
            doc.element("text", ["x": svgNumber(x.pixel(t.value)), "y": svgNumber(bottom + Self.tickLength + 4 + Self.tickFont)],
                        content: t.label)
        }
        doc.close("g")
        doc.text(plot.xAxisTitle, x: (left + right) / 2, y: plot.height - m, size: Self.axisTitleFont, anchor: "middle",
                 className: "x-title")
        doc.text(plot.yAxisTitle, x: m + Self.axisTitleFont - 2, y: (top + bottom) / 2, size: Self.axisTitleFont, anchor: "middle",
                 rotate: -90, className: "y-title")

        // The lines, clipped to the plot area (with room for the dots on its edges, unless a fixed y
        // range cuts the lines off: then exactly at the frame).
        let (dx, dy) = (4.0, plot.yRange == nil ? 4.0 : 0)
        doc.open("defs")
        doc.open("clipPath", ["id": "plot-area"])
        doc.element("rect", ["x": svgNumber(left - dx), "y": svgNumber(top - dy), "width": svgNumber(right - left + 2 * dx),
                             "height": svgNumber(bottom - top + 2 * dy)])
        doc.close("clipPath")
        doc.close("defs")
        doc.open("g", ["clip-path": "url(#plot-area)", "fill": "none", "stroke-width": "1.5", "stroke-linejoin": "round",
                       "stroke-linecap": "round"])
        for (i, s) in plot.series.enumerated() {
            let colour = plotPalette[i % plotPalette.count]
            doc.element("path", ["class": "series", "data-series": s.name, "stroke": colour, "stroke-dasharray": dashes(s.line),
                                 "d": pathData(s)])
            if s.showsMarkers {
                doc.open("g", ["class": "markers", "data-series": s.name, "fill": colour, "stroke": "none"])
                for j in s.xs.indices where Self.drawable(s, j, logarithmicY: plot.logarithmicY) {
                    doc.element("circle", ["cx": svgNumber(x.pixel(s.xs[j])), "cy": svgNumber(y.pixel(s.ys[j])), "r": "2.5"])
                }
                doc.close("g")
            }
        }
        doc.close("g")

        // The legend: a sample of each line and its name, in rows centred above the plot area.
        doc.open("g", ["class": "legend", "font-size": svgNumber(Self.legendFont), "fill": "#222"])
        for (r, row) in legendRows.enumerated() {
            let baseline = legendBaseline + Double(r) * 20
            var at = (plot.width - (row.map(\.width).reduce(0, +) + 20 * Double(row.count - 1))) / 2
            for (i, w) in row {
                let s = plot.series[i], colour = plotPalette[i % plotPalette.count], mid = baseline - 0.35 * Self.legendFont
                doc.element("path", ["d": "M\(svgNumber(at)),\(svgNumber(mid))h24", "stroke": colour, "stroke-width": "2",
                                     "stroke-dasharray": dashes(s.line)])
                if s.showsMarkers {
                    doc.element("circle", ["cx": svgNumber(at + 12), "cy": svgNumber(mid), "r": "2.5", "fill": colour])
                }
                doc.element("text", ["x": svgNumber(at + 30), "y": svgNumber(baseline)], content: s.name)
                at += w + 20
            }
        }
        doc.close("g")
        return doc.text
    }

    func dashes(_ style: LinePlot.LineStyle) -> String {
        switch style {
        case .solid: "none"
        case .dashed: "6 4"
        case .dotted: "2 3"
        }
    }

    /// The `d` attribute of a series' path: one `M x,y x,y …` run per stretch of drawable points,
    /// rounded to 0.1 px and thinned to the first, lowest, highest and last point of each pixel
    /// column. A lone point becomes a zero-length run, which the round line caps draw as a dot.
    func pathData(_ s: LinePlot.Series) -> String {
        var d = "", run: [(x: Double, y: Double)] = []
        func flush() {
            defer { run.removeAll(keepingCapacity: true) }
            guard !run.isEmpty else { return }
            var kept: [(x: Double, y: Double)] = []
            var start = 0
            while start < run.count {
                let column = floor(run[start].x)
                var end = start
                while end + 1 < run.count && floor(run[end + 1].x) == column { end += 1 }
                if end - start < 4 {
                    kept += run[start...end]
                } else {
                    let low = (start...end).min { run[$0].y < run[$1].y }!, high = (start...end).max { run[$0].y < run[$1].y }!
                    for k in Set([start, low, high, end]).sorted() { kept.append(run[k]) }
                }
                start = end + 1
            }
            var previous: (x: Double, y: Double)?
            var pairs = 0
            for p in kept where previous.map({ $0 != p }) ?? true {
                d += (previous == nil ? "M" : " ") + svgNumber(p.x) + "," + svgNumber(p.y)
                previous = p
                pairs += 1
            }
            if pairs == 1, let p = previous { d += " " + svgNumber(p.x) + "," + svgNumber(p.y) }
        }
        for i in s.xs.indices {
            if LinePlotLayout.drawable(s, i, logarithmicY: plot.logarithmicY) {
                run.append(((x.pixel(s.xs[i]) * 10).rounded() / 10, (y.pixel(s.ys[i]) * 10).rounded() / 10))
            } else {
                flush()
            }
        }
        flush()
        return d
    }
}
