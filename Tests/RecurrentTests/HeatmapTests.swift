import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Recurrent

/// Heatmaps: one cell per value in row-major order, the colour map's ends at the data's extremes,
/// sequential for values in [0, 1] and diverging for signed ones, a trace's batch row, index ticks,
/// escaping, and bad input as one-line errors. (Rendering to PNG: `RenderedPlotTests`, samples
/// `heatmapGate` and `heatmapSigned`.)
@Suite struct HeatmapTests {
    /// The cells' fills, row by row.
    func fills(_ svg: ParsedSVG) -> [String] {
        svg.elements("rect", under: svg.elements("g", ["class": "cells"]).first).map { $0.value("fill") ?? "" }
    }

    @Test func gatesInZeroOneAreSequentialOnZeroOne() throws {
        // 3 units × 5 steps, the smallest 0.1 and the largest 0.8: the map still spans [0, 1].
        let values: [[Double]] = [[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5], [0.8, 0.7, 0.6, 0.5, 0.4]]
        let plot = Heatmap(title: "forget gate", values: values)
        let svg = try ParsedSVG(plot.svg())
        let cells = svg.elements("rect", under: svg.elements("g", ["class": "cells"]).first)
        #expect(cells.count == 15)
        let bar = try #require(svg.elements("rect", ["class": "colour-bar"]).first)
        #expect(bar.value("data-scale") == "sequential" && bar.value("data-low") == "0.0" && bar.value("data-high") == "1.0")
        #expect(fills(svg)[6] == Heatmap.colour(Heatmap.sequentialStops, 0.5), "row 1 column 1 holds 0.5")
        // Row-major: x grows along a row, y down the rows, and neighbours meet exactly.
        let xs = cells.map { Double($0.value("x")!)! }, ys = cells.map { Double($0.value("y")!)! }
        let w = Double(cells[0].value("width")!)!, h = Double(cells[0].value("height")!)!
        for k in 1..<15 where k % 5 != 0 { #expect(abs(xs[k] - xs[k - 1] - w) < 1e-9 && ys[k] == ys[k - 1]) }
        #expect(abs(ys[5] - ys[0] - h) < 1e-9 && xs[5] == xs[0])
        #expect(svg.text("title") == "forget gate" && svg.text("x-title") == "time step" && svg.text("y-title") == "unit")
        #expect(svg.texts(inGroup: "x-ticks") == ["0", "1", "2", "3", "4"])
        #expect(svg.texts(inGroup: "y-ticks") == ["0", "1", "2"])
        #expect(svg.texts(inGroup: "colour-ticks").compactMap(Double.init).allSatisfy { (0...1).contains($0) })
    }

    @Test func extremesTakeTheMapsEnds() throws {
        let values: [[Double]] = [[0, 1], [3, 2]]
        let sequential = try ParsedSVG(Heatmap(title: "", values: values, colorScale: .sequential).svg())
        let c = { Heatmap.colour(Heatmap.sequentialStops, $0) }
        #expect(fills(sequential) == ["#440154", c(1.0 / 3), "#fde725", c(2.0 / 3)], "the data's minimum to maximum")
        // Signed values: diverging, symmetric about 0 (blue, near-white at 0, red).
        let signed = try ParsedSVG(Heatmap(title: "", values: [[-2, 0, 1], [0.5, 2, -1]]).svg())
        #expect(fills(signed)[0] == "#053061" && fills(signed)[1] == "#f7f7f7" && fills(signed)[4] == "#67001f")
        let bar = try #require(signed.elements("rect", ["class": "colour-bar"]).first)
        #expect(bar.value("data-scale") == "diverging" && bar.value("data-low") == "-2.0" && bar.value("data-high") == "2.0")
        // A given range clamps what lies beyond it.
        let clamped = try ParsedSVG(Heatmap(title: "", values: [[-5, 5]], colorScale: .diverging, valueRange: -1...1).svg())
        #expect(fills(clamped) == ["#053061", "#67001f"])
        #expect(try Heatmap(title: "", values: [[0, 0]], colorScale: .diverging).resolvedScale().range == -1...1, "all zeros")
        #expect(try Heatmap(title: "", values: [[0, 2.5]]).resolvedScale().range == 0...2.5, "non-negative beyond 1: [0, max]")
    }

    @Test func aTracesBatchRowBecomesUnitsByTime() throws {
        let (T, B, H) = (6, 3, 4)
        let trace = testTensor([T, B, H], seed: 5, requiresGrad: false)
        let plot = try Heatmap(title: "g", trace: trace, row: 2)
        #expect(plot.values.count == H && plot.values.allSatisfy { $0.count == T })
        for t in 0..<T { for j in 0..<H { #expect(plot.values[j][t] == Double(trace.scalars[(t * B + 2) * H + j])) } }
        #expect(throws: RecurrentError.self) { try Heatmap(title: "", trace: trace, row: 3) }
        #expect(throws: RecurrentError.self) { try Heatmap(title: "", trace: trace.reshaped([T * B, H]), row: 0) }
    }

    @Test func longSequencesGetSpreadOutTicksAndThinCells() throws {
        let values = (0..<64).map { j in (0..<1_000).map { t in sin(Double(t * (j + 1)) / 50) } }
        let text = try Heatmap(title: "h", values: values).svg()
        let svg = try ParsedSVG(text)
        #expect(fills(svg).count == 64_000)
        #expect(text.utf8.count < 64_000 * 70, "\(text.utf8.count) bytes")
        let labels = svg.texts(inGroup: "x-ticks").compactMap(Int.init)
        #expect((3...12).contains(labels.count) && labels.allSatisfy { (0..<1_000).contains($0) }, "\(labels)")
        let steps = Set(zip(labels, labels.dropFirst()).map { $1 - $0 })
        #expect(steps.count == 1 && [1, 2, 5].contains(steps.first! / Int(pow(10, floor(log10(Double(steps.first!)))))), "\(labels)")
    }

    @Test func textIsEscaped() throws {
        let text = try Heatmap(title: "<c> & 'd'", xAxisTitle: "t < \"T\"", yAxisTitle: "a&b", values: [[1]]).svg()
        #expect(text.contains("&lt;c&gt; &amp; &apos;d&apos;"))
        let svg = try ParsedSVG(text)
        #expect(svg.text("title") == "<c> & 'd'" && svg.text("x-title") == "t < \"T\"" && svg.text("y-title") == "a&b")
    }

    enum Bad: String, CaseIterable { case empty, emptyRow, ragged, notFinite, tooManyCells, emptyRange, infiniteRange }

    @Test(arguments: Bad.allCases)
    func invalidInputThrowsOneLine(_ c: Bad) {
        var plot = Heatmap(title: "bad\ntitle", values: [[1, 2], [3, 4]])
        switch c {
        case .empty: plot.values = []
        case .emptyRow: plot.values = [[]]
        case .ragged: plot.values = [[1, 2], [3]]
        case .notFinite: plot.values[1][0] = .nan
        case .tooManyCells: plot.values = Array(repeating: Array(repeating: 0, count: 1_000), count: Heatmap.maxCells / 1_000 + 1)
        case .emptyRange: plot.valueRange = 1...1
        case .infiniteRange: plot.valueRange = 0...Double.infinity
        }
        #expect {
            try plot.svg()
        } throws: { error in
            guard case RecurrentError.invalidValue(let message) = error else { return false }
            return !message.contains("\n")
        }
    }
}
