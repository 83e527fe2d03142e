import Foundation

/// A confusion matrix drawn as a grid of shaded cells, written as a standalone SVG file.
///
/// Row i counts the samples whose true class is i, column j those predicted as j, so the diagonal
/// holds the correct predictions. Each cell shows its count and is shaded by the row-normalised
/// fraction (the count divided by its row's total: how often true class i was predicted as j), from
/// white to dark blue, so rare classes are as readable as common ones. Class names label both axes
/// (slanted under the columns when they do not fit the cell width), the axis titles are
/// "predicted class" and "true class", and the subtitle gives the overall accuracy.
///
/// ```swift
/// let plot = try ConfusionMatrixPlot(title: "Fashion-MNIST, test set", classNames: names,
///                                    trueClasses: labels, predictedClasses: predictions)
/// try plot.write(to: URL(fileURLWithPath: "confusion.svg"))
/// ```
///
/// Each cell is a `<rect class="cell">` with `data-row`, `data-column` and `data-count` attributes
/// and a tooltip (`<title>`), followed by its count as `<text class="count">`.
public struct ConfusionMatrixPlot: Sendable, Equatable {
    /// The title above the matrix; empty for none.
    public var title: String
    /// The classes' names, in class-index order.
    public var classNames: [String]
    /// `counts[i][j]`: how many samples of true class i were predicted as class j; square, one row
    /// and one column per class name, no negative counts.
    public var counts: [[Int]]
    /// The side of a cell in pixels, or nil to choose one from the number of classes and the widest count.
    public var cellSize: Double?

    /// A plot of `counts` (rows: true class, columns: predicted class).
    public init(title: String, classNames: [String], counts: [[Int]], cellSize: Double? = nil) {
        self.title = title
        self.classNames = classNames
        self.counts = counts
        self.cellSize = cellSize
    }

    /// A plot of the confusion matrix of `predictedClasses` against `trueClasses` (class indices, as
    /// many of one as of the other).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when the arrays differ in length or a class index
    ///   is outside `0..<classNames.count`.
    public init(title: String, classNames: [String], trueClasses: [Int], predictedClasses: [Int], cellSize: Double? = nil) throws {
        let n = classNames.count
        guard trueClasses.count == predictedClasses.count else {
            throw RecurrentError.invalidValue(
                "ConfusionMatrixPlot: \(trueClasses.count) true classes but \(predictedClasses.count) predicted classes")
        }
        var counts = Array(repeating: Array(repeating: 0, count: n), count: n)
        for (t, p) in zip(trueClasses, predictedClasses) {
            guard (0..<n).contains(t), (0..<n).contains(p) else {
                throw RecurrentError.invalidValue(
                    "ConfusionMatrixPlot: class index \((0..<n).contains(t) ? p : t) is outside 0..<\(n) (\(n) class names)")
            }
            counts[t][p] += 1
        }
        self.init(title: title, classNames: classNames, counts: counts, cellSize: cellSize)
    }

    /// The fraction of samples on the diagonal (correct predictions), or nil when there are none.
    public var accuracy: Double? {
        // Summed as Double so that counts validation would refuse cannot trap here.
        let total = counts.joined().reduce(0.0) { $0 + Double($1) }
        let correct = counts.indices.reduce(0.0) { $0 + ($1 < counts[$1].count ? Double(counts[$1][$1]) : 0) }
        return total > 0 ? correct / total : nil
    }

    /// The plot as an SVG document.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when there are no classes, ``counts`` is not
    ///   square with one row per class name, a count is negative, the total overflows `Int`, or
    ///   ``cellSize`` is not between 8 and 400.
    public func svg() throws -> String {
        try validate()
        return draw()
    }

    /// Writes ``svg()`` to `url` atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: What ``svg()`` throws, or ``FileFormatError`` when the file cannot be written.
    public func write(to url: URL) throws {
        try writeAtomically(Data(svg().utf8), to: url)
    }

    private func validate() throws {
        let n = classNames.count
        func fail(_ problem: String) -> RecurrentError { .invalidValue("ConfusionMatrixPlot: \(problem)") }
        guard n > 0 else { throw fail("no class names") }
        guard counts.count == n else { throw fail("\(counts.count) rows of counts for \(n) class names") }
        var total = 0
        for (i, row) in counts.enumerated() {
            guard row.count == n else { throw fail("row \(i) has \(row.count) counts, expected \(n) (one per class name)") }
            for (j, c) in row.enumerated() {
                guard c >= 0 else { throw fail("count [\(i)][\(j)] is negative (\(c))") }
                let (sum, overflow) = total.addingReportingOverflow(c)
                guard !overflow else { throw fail("the counts add up to more than Int.max") }
                total = sum
            }
        }
        if let cellSize, !(8...400).contains(cellSize) { throw fail("cellSize \(cellSize) is outside 8...400") }
    }

    private func draw() -> String {
        let n = classNames.count, margin = 14.0, font = 12.0, titleFont = 16.0, axisTitleFont = 13.0
        let countWidth = counts.joined().map { textWidth(String($0), size: font) }.max() ?? 0
        // By default the cells fit the widest count, and the rows are at least as tall as "true class".
        let cell = cellSize ?? max(36, min(56, 640 / Double(n)), countWidth + 10,
                                   (textWidth("true class", size: axisTitleFont) + 8) / Double(n)).rounded()
        let countFont = min(font, (cell - 4) / max(countWidth / font, 1))

        // Column labels sit level when every name fits its cell, else they slant at 45° to the left.
        let nameWidths = classNames.map { textWidth($0, size: font) }
        let widestName = nameWidths.max() ?? 0
        let slanted = widestName > cell - 6
        let columnLabelDepth = slanted ? (widestName + font) * 0.7071 + 8 : font + 8

        let rowTotals = counts.map { $0.reduce(0, +) }
        let total = rowTotals.reduce(0, +)
        let correct = (0..<n).reduce(0) { $0 + counts[$1][$1] }
        let subtitle = total == 0 ? "no samples"
            : "accuracy \(String(format: "%.2f", 100 * Double(correct) / Double(total)))% (\(correct) of \(total)); "
                + "shading: fraction of each true class"

        var left = margin + axisTitleFont + 8 + widestName + 8
        if slanted {  // the first column's slanted label must not run off the left edge
            left = max(left, margin + (nameWidths[0] + font) * 0.7071 - cell / 2)
        }
        let titleBaseline = title.isEmpty ? margin : margin + titleFont
        let top = titleBaseline + 8 + font + 14
        let gridSide = cell * Double(n)
        let needed = left + gridSide + margin
        let width = max(needed, 2 * margin + max(textWidth(title, size: titleFont), textWidth(subtitle, size: font))).rounded(.up)
        left += (width - needed) / 2  // a long title widens the image: keep the matrix in the middle
        let height = (top + gridSide + columnLabelDepth + 8 + axisTitleFont + margin).rounded(.up)

        var doc = SVGDocument(width: width, height: height)
        if !title.isEmpty {
            doc.text(title, x: width / 2, y: titleBaseline, size: titleFont, anchor: "middle", bold: true, className: "title")
        }
        doc.text(subtitle, x: width / 2, y: titleBaseline + 8 + font, size: font, anchor: "middle", fill: "#444",
                 className: "subtitle")

        let fractions = (0..<n).map { i in (0..<n).map { j in rowTotals[i] > 0 ? Double(counts[i][j]) / Double(rowTotals[i]) : 0 } }
        doc.open("g", ["class": "cells", "stroke": "#ffffff", "stroke-width": "1"])
        for i in 0..<n {
            for j in 0..<n {
                let tooltip = "true \(classNames[i]), predicted \(classNames[j]): \(counts[i][j])"
                    + (rowTotals[i] > 0 ? " (\(String(format: "%.1f", 100 * fractions[i][j]))% of \(classNames[i]))" : "")
                doc.open("rect", ["class": "cell", "data-row": String(i), "data-column": String(j), "data-count": String(counts[i][j]),
                                  "x": svgNumber(left + Double(j) * cell), "y": svgNumber(top + Double(i) * cell),
                                  "width": svgNumber(cell), "height": svgNumber(cell), "fill": shade(fractions[i][j])])
                doc.element("title", [:], content: tooltip)
                doc.close("rect")
            }
        }
        doc.close("g")
        doc.open("g", ["font-size": svgNumber(countFont), "text-anchor": "middle"])
        for i in 0..<n {
            for j in 0..<n {
                // White on the darker half of the colour map, where dark text would not stand out.
                doc.element("text", ["class": "count", "x": svgNumber(left + (Double(j) + 0.5) * cell),
                                     "y": svgNumber(top + (Double(i) + 0.5) * cell + 0.35 * countFont),
                                     "fill": fractions[i][j] > 0.5 ? "#ffffff" : "#222"], content: String(counts[i][j]))
            }
        }
        doc.close("g")
        doc.element("rect", ["class": "frame", "x": svgNumber(left), "y": svgNumber(top), "width": svgNumber(gridSide),
                             "height": svgNumber(gridSide), "stroke": "#888", "stroke-width": "1", "fill": "none"])

        doc.open("g", ["class": "row-labels", "font-size": svgNumber(font), "fill": "#222", "text-anchor": "end"])
        for (i, name) in classNames.enumerated() {
            doc.element("text", ["x": svgNumber(left - 8), "y": svgNumber(top + (Double(i) + 0.5) * cell + 0.35 * font)], content: name)
        }
        doc.close("g")
        doc.open("g", ["class": "column-labels", "font-size": svgNumber(font), "fill": "#222",
                       "text-anchor": slanted ? "end" : "middle"])
        for (j, name) in classNames.enumerated() {
            let cx = left + (Double(j) + 0.5) * cell
            if slanted {
                // Anchored at its end just below the column's centre, rising to the right.
                let (ax, ay) = (svgNumber(cx + 0.35 * font), svgNumber(top + gridSide + 8))
                doc.element("text", ["x": ax, "y": ay, "transform": "rotate(-45 \(ax) \(ay))"], content: name)
            } else {
                doc.element("text", ["x": svgNumber(cx), "y": svgNumber(top + gridSide + 6 + font)], content: name)
            }
        }
        doc.close("g")

        doc.text("predicted class", x: left + gridSide / 2, y: height - margin, size: axisTitleFont, anchor: "middle",
                 className: "x-title")
        doc.text("true class", x: left - widestName - 20, y: top + gridSide / 2, size: axisTitleFont, anchor: "middle",
                 rotate: -90, className: "y-title")
        return doc.text
    }

    /// The colour for a row-normalised fraction in [0, 1]: matplotlib's "Blues" map (from ColorBrewer),
    /// interpolated linearly between its nine stops.
    private func shade(_ fraction: Double) -> String {
        let stops: [(Double, Double, Double)] = [
            (247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
            (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107),
        ]
        let t = min(max(fraction, 0), 1) * Double(stops.count - 1)
        let k = min(Int(t), stops.count - 2), f = t - Double(k)
        let (a, b) = (stops[k], stops[k + 1])
        func channel(_ x: Double, _ y: Double) -> String {
            let v = Int((x + (y - x) * f).rounded())
            return (v < 16 ? "0" : "") + String(v, radix: 16)
        }
        return "#" + channel(a.0, b.0) + channel(a.1, b.1) + channel(a.2, b.2)
    }
}
