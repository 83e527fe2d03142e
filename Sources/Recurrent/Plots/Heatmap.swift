import Foundation

/// A matrix drawn as coloured cells with a colour bar beside it, written as a standalone SVG file.
///
/// Meant for traces of a recurrent layer: time steps along the x axis, units down the y axis, one
/// gate's activation per cell (see ``RecurrentLayer/trace(_:h0:c0:lengths:)``). Two colour maps:
///
/// - *sequential* (matplotlib's viridis: dark purple → yellow) for values with a natural zero at
///   one end, such as sigmoid gates in [0, 1];
/// - *diverging* (ColorBrewer's RdBu reversed: blue → near-white at 0 → red) for signed values
///   such as `tanh` outputs, the LSTM's `g` and its cell state `c`, on a range symmetric about 0.
///
/// ```swift
/// let (_, gates) = try lstm.trace(x)                           // gates[l·D + d]: [(name, [T, B, H])]
/// let forget = try Heatmap(title: "forget gate", trace: gates[0][1].values, row: 0)
/// try forget.write(to: URL(fileURLWithPath: "forget.svg"))    // viridis on [0, 1]
/// ```
///
/// The cells sit in `<g class="cells">`, one `<rect>` each, row by row from the top; the colour
/// bar is `<rect class="colour-bar">` with `data-scale`, `data-low` and `data-high` attributes and
/// its tick labels in `<g class="colour-ticks">`. At most ``maxCells`` cells, so a file stays
/// under about 15 MB.
public struct Heatmap: Sendable, Equatable {
    /// How values map to colours.
    public enum ColorScale: String, Sendable, CaseIterable {
        /// Sequential when no value is negative (on [0, 1] when no value exceeds 1, as for a
        /// sigmoid gate; else on [0, largest]), diverging otherwise.
        case automatic
        /// Viridis from the range's lower end to its upper end.
        case sequential
        /// RdBu (reversed) from −m (blue) through 0 (near-white) to +m (red).
        case diverging
    }

    /// The title above the matrix; empty for none.
    public var title: String
    /// The title under the x axis (the columns).
    public var xAxisTitle: String
    /// The title beside the y axis (the rows).
    public var yAxisTitle: String
    /// `values[r][c]`: the cell in row `r` (from the top) and column `c` (from the left). Every row
    /// as long as the first, every value finite.
    public var values: [[Double]]
    /// The colour map.
    public var colorScale: ColorScale
    /// The values at the two ends of the colour map (values beyond them take the end colours), or
    /// nil for one chosen from the data: see ``ColorScale``; an explicit `.sequential` spans the
    /// data's minimum to maximum and `.diverging` ±(largest magnitude).
    public var valueRange: ClosedRange<Double>?

    /// The largest number of cells drawn.
    public static let maxCells = 250_000

    /// A heatmap of `values` (rows top to bottom, columns left to right).
    public init(title: String, xAxisTitle: String = "time step", yAxisTitle: String = "unit", values: [[Double]],
                colorScale: ColorScale = .automatic, valueRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.xAxisTitle = xAxisTitle
        self.yAxisTitle = yAxisTitle
        self.values = values
        self.colorScale = colorScale
        self.valueRange = valueRange
    }

    /// A heatmap of one batch row of a trace `[T, B, H]`: time steps as columns, units as rows.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when `trace` is not rank 3 or `row` is not in `0..<B`.
    public init(title: String, trace: Tensor, row: Int = 0, colorScale: ColorScale = .automatic,
                valueRange: ClosedRange<Double>? = nil) throws {
        guard trace.rank == 3 else {
            throw RecurrentError.invalidValue("Heatmap: a trace must be [T, B, H], got shape \(trace.shape)")
        }
        let (T, B, H) = (trace.shape[0], trace.shape[1], trace.shape[2])
        guard (0..<B).contains(row) else {
            throw RecurrentError.invalidValue("Heatmap: row \(row) is outside 0..<\(B) (the batch of a trace of shape \(trace.shape))")
        }
        let s = trace.scalars
        let values = (0..<H).map { j in (0..<T).map { t in Double(s[(t * B + row) * H + j]) } }
        self.init(title: title, values: values, colorScale: colorScale, valueRange: valueRange)
    }

    /// The colour map actually used and the values at its ends, as ``svg()`` draws them.
    /// - Throws: What ``svg()`` throws for bad values.
    public func resolvedScale() throws -> (scale: ColorScale, range: ClosedRange<Double>) {
        try validate()
        let all = values.joined()
        let (low, high) = (all.min()!, all.max()!)
        let scale = colorScale == .automatic ? (low >= 0 ? .sequential : .diverging) : colorScale
        if let valueRange { return (scale, valueRange) }
        switch (colorScale, scale) {
        case (.automatic, .sequential): return (scale, 0...max(1, high))
        case (_, .sequential):
            let (a, b) = paddedInterval(low, high, padding: 0, logarithmic: false, stopAtZero: false)
            return (scale, a...b)
        default:
            let m = max(abs(low), abs(high))
            return (scale, m > 0 ? -m...m : -1...1)
        }
    }

    /// The plot as an SVG document.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when there are no values, rows differ in
    ///   length, a value is not finite, there are more than ``maxCells`` cells, or ``valueRange``
    ///   is not finite and non-empty.
    public func svg() throws -> String {
        let (scale, range) = try resolvedScale()
        return draw(scale: scale, range: range)
    }

    /// Writes ``svg()`` to `url` atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: What ``svg()`` throws, or ``FileFormatError`` when the file cannot be written.
    public func write(to url: URL) throws {
        try writeAtomically(Data(svg().utf8), to: url)
    }

    private func validate() throws {
        let name = title.isEmpty ? "Heatmap" : "Heatmap \(shown(String(reflecting: title)))"
        func fail(_ problem: String) -> RecurrentError { .invalidValue("\(name): \(problem)") }
        guard let columns = values.first?.count, columns > 0 else { throw fail("no values to draw") }
        for (r, row) in values.enumerated() {
            guard row.count == columns else { throw fail("row \(r) has \(row.count) values, row 0 has \(columns)") }
            if let c = row.firstIndex(where: { !$0.isFinite }) { throw fail("value [\(r)][\(c)] is \(row[c]); every value must be finite") }
        }
        guard values.count <= Self.maxCells / columns else {
            throw fail("\(values.count) × \(columns) cells are more than the limit of \(Self.maxCells)")
        }
        if let valueRange, !(valueRange.lowerBound.isFinite && valueRange.upperBound.isFinite && valueRange.lowerBound < valueRange.upperBound) {
            throw fail("valueRange \(valueRange) must be finite and non-empty")
        }
    }

    static let margin = 14.0, tickLength = 5.0, tickFont = 12.0, titleFont = 16.0, axisTitleFont = 13.0, barWidth = 14.0

    private func draw(scale: ColorScale, range: ClosedRange<Double>) -> String {
        let (rows, columns) = (values.count, values[0].count)
        let m = Self.margin, font = Self.tickFont
        // Cells up to 24 px a side, filling about 720 × 360 px, at least 1 px; in whole tenths of a
        // pixel so that neighbours meet exactly after rounding.
        func side(_ room: Double, _ n: Int) -> Double { (min(24, max(1, room / Double(n))) * 10).rounded(.down) / 10 }
        let (cellWidth, cellHeight) = (side(720, columns), side(360, rows))
        let (gridWidth, gridHeight) = (cellWidth * Double(columns), cellHeight * Double(rows))

        // Ticks on the cells' centres: the rows' and columns' indices in 1-2-5 steps, labels apart,
        // about ten at most.
        func indexTicks(_ n: Int, room: Double, spacing: (Double) -> Double) -> [Tick] {
            guard n > 1 else { return [Tick(value: 0, label: "0")] }
            let widest = spacing(Double(String(n - 1).count))
            let step = niceStep(atLeast: max(1, widest * Double(n) / room, Double(n) / 10))
            return multiples(of: step, in: 0, Double(n - 1)).map { Tick(value: $0.value, label: String($0.index * Int(step))) }
        }
        let xTicks = indexTicks(columns, room: gridWidth) { 0.64 * font * $0 + 16 }
        let yTicks = indexTicks(rows, room: gridHeight) { _ in font + 8 }
        let barTicks = linearTicks(range.lowerBound, range.upperBound, count: 5, nearest: true).ticks

        // Left to right: y title, y tick labels, the cells, the colour bar and its labels.
        let yLabelWidth = yTicks.map { textWidth($0.label, size: font) }.max() ?? 0
        let barLabelWidth = barTicks.map { textWidth($0.label, size: font) }.max() ?? 0
        var left = (m + (yAxisTitle.isEmpty ? 0 : Self.axisTitleFont + 8) + yLabelWidth + Self.tickLength + 4).rounded(.up)
        let needed = left + gridWidth + 16 + Self.barWidth + Self.tickLength + 4 + barLabelWidth + m
        let width = max(needed, 2 * m + textWidth(title, size: Self.titleFont), 200).rounded(.up)
        left += ((width - needed) / 2).rounded(.down)  // a long title widens the image: keep the matrix in the middle
        // Top to bottom: title, the cells (the colour bar at least 100 px tall), x ticks, x title.
        let top = ((title.isEmpty ? m : m + Self.titleFont + 10) + 4).rounded(.up)
        let barHeight = max(gridHeight, 100)
        let bottom = top + gridHeight
        let height = (top + barHeight + Self.tickLength + 4 + font + 10 + Self.axisTitleFont + m).rounded(.up)

        var doc = SVGDocument(width: width, height: height)
        if !title.isEmpty {
            doc.text(title, x: width / 2, y: m + Self.titleFont, size: Self.titleFont, anchor: "middle", bold: true, className: "title")
        }
        let stops = scale == .diverging ? Self.divergingStops : Self.sequentialStops
        doc.open("g", ["class": "cells", "shape-rendering": "crispEdges"])
        let (w, h) = (svgNumber(cellWidth), svgNumber(cellHeight))
        for (r, row) in values.enumerated() {
            let y = svgNumber(top + Double(r) * cellHeight)
            for (c, v) in row.enumerated() {
                let fraction = (v - range.lowerBound) / (range.upperBound - range.lowerBound)
                doc.element("rect", ["x": svgNumber(left + Double(c) * cellWidth), "y": y, "width": w, "height": h,
                                     "fill": Self.colour(stops, fraction)])
            }
        }
        doc.close("g")
        doc.element("rect", ["class": "frame", "x": svgNumber(left), "y": svgNumber(top), "width": svgNumber(gridWidth),
                             "height": svgNumber(gridHeight), "stroke": "#444", "stroke-width": "1", "fill": "none"])

        var marks = ""
        for t in yTicks { marks += "M\(svgNumber(left - Self.tickLength)),\(svgNumber(top + (t.value + 0.5) * cellHeight))h\(svgNumber(Self.tickLength))" }
        for t in xTicks { marks += "M\(svgNumber(left + (t.value + 0.5) * cellWidth)),\(svgNumber(bottom))v\(svgNumber(Self.tickLength))" }
        doc.element("path", ["class": "ticks", "d": marks, "stroke": "#444", "stroke-width": "1", "fill": "none"])
        doc.open("g", ["class": "y-ticks", "font-size": svgNumber(font), "fill": "#444", "text-anchor": "end"])
        for t in yTicks {
            doc.element("text", ["x": svgNumber(left - Self.tickLength - 4), "y": svgNumber(top + (t.value + 0.5) * cellHeight + 0.35 * font)],
                        content: t.label)
        }
        doc.close("g")
        doc.open("g", ["class": "x-ticks", "font-size": svgNumber(font), "fill": "#444", "text-anchor": "middle"])
        for t in xTicks {
            doc.element("text", ["x": svgNumber(left + (t.value + 0.5) * cellWidth), "y": svgNumber(bottom + Self.tickLength + 4 + font)],
                        content: t.label)
        }
        doc.close("g")
        doc.text(xAxisTitle, x: left + gridWidth / 2, y: bottom + Self.tickLength + 4 + font + 10 + Self.axisTitleFont, size: Self.axisTitleFont,
                 anchor: "middle", className: "x-title")
        doc.text(yAxisTitle, x: m + Self.axisTitleFont - 2, y: top + gridHeight / 2, size: Self.axisTitleFont, anchor: "middle",
                 rotate: -90, className: "y-title")

        // The colour bar: the map as a vertical gradient, the upper end at the top.
        let barLeft = left + gridWidth + 16
        doc.open("defs")
        doc.open("linearGradient", ["id": "colour-scale", "x1": "0", "y1": "1", "x2": "0", "y2": "0"])
        for k in stops.indices {
            doc.element("stop", ["offset": svgNumber(100 * Double(k) / Double(stops.count - 1)) + "%",
                                 "stop-color": Self.colour(stops, Double(k) / Double(stops.count - 1))])
        }
        doc.close("linearGradient")
        doc.close("defs")
        doc.element("rect", ["class": "colour-bar", "data-scale": scale.rawValue, "data-low": String(range.lowerBound),
                             "data-high": String(range.upperBound), "x": svgNumber(barLeft), "y": svgNumber(top),
                             "width": svgNumber(Self.barWidth), "height": svgNumber(barHeight), "fill": "url(#colour-scale)",
                             "stroke": "#444", "stroke-width": "1"])
        func barY(_ v: Double) -> Double { top + barHeight * (range.upperBound - v) / (range.upperBound - range.lowerBound) }
        var barMarks = ""
        for t in barTicks { barMarks += "M\(svgNumber(barLeft + Self.barWidth)),\(svgNumber(barY(t.value)))h\(svgNumber(Self.tickLength))" }
        doc.element("path", ["d": barMarks, "stroke": "#444", "stroke-width": "1", "fill": "none"])
        doc.open("g", ["class": "colour-ticks", "font-size": svgNumber(font), "fill": "#444"])
        for t in barTicks {
            doc.element("text", ["x": svgNumber(barLeft + Self.barWidth + Self.tickLength + 4), "y": svgNumber(barY(t.value) + 0.35 * font)],
                        content: t.label)
        }
        doc.close("g")
        return doc.text
    }

    /// Matplotlib's viridis at nine evenly spaced points (van der Walt & Smith, 2015): perceptually
    /// uniform, readable in grey and under the common colour-vision deficiencies.
    static let sequentialStops: [(Double, Double, Double)] = [
        (68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
        (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37),
    ]

    /// ColorBrewer's 11-class RdBu, reversed: negative blue, zero near-white, positive red.
    static let divergingStops: [(Double, Double, Double)] = [
        (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
        (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
    ]

    /// The colour at `fraction` (clamped to [0, 1]) of the way along `stops`, interpolated linearly.
    static func colour(_ stops: [(Double, Double, Double)], _ fraction: Double) -> String {
        let t = min(max(fraction.isNaN ? 0 : fraction, 0), 1) * Double(stops.count - 1)
        let k = min(Int(t), stops.count - 2), f = t - Double(k)
        let (a, b) = (stops[k], stops[k + 1])
        func channel(_ x: Double, _ y: Double) -> String {
            let v = Int((x + (y - x) * f).rounded())
            return (v < 16 ? "0" : "") + String(v, radix: 16)
        }
        return "#" + channel(a.0, b.0) + channel(a.1, b.1) + channel(a.2, b.2)
    }
}
