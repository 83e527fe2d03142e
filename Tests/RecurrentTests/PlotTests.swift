import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Recurrent

/// SVG plots: well-formed documents, one path per series, legends, axes, ticks, escaping, bad input,
/// confusion matrices, atomic files, and (with `rsvg-convert` installed) rendering to PNG.
@Suite struct LinePlotTests {
    @Test(arguments: PlotSample.allCases)
    func documentIsWellFormedSVG(_ sample: PlotSample) throws {
        let text = try sample.svg()
        #expect(text.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" "))
        #expect(!text.lowercased().contains("nan") && !text.lowercased().contains("inf"), "no non-finite numbers")
        let svg = try ParsedSVG(text)
        let (width, height) = (svg.root.value("width"), svg.root.value("height"))
        #expect(width != nil && height != nil)
        #expect(svg.root.value("viewBox") == "0 0 \(width ?? "") \(height ?? "")")
        #expect(svg.root.value("font-family") == "sans-serif")
        let background = try #require(svg.root.children?.first as? XMLElement)
        #expect(background.name == "rect" && background.value("fill") == "white")
    }

    @Test func oneLinePerSeriesWithEveryPointLegendAndTitles() throws {
        let plot = try #require(PlotSample.lossPerEpoch.linePlot)
        let svg = try ParsedSVG(plot.svg())
        for s in plot.series {
            let runs = try #require(svg.runs(ofSeries: s.name))
            #expect(runs.count == 1 && runs[0].count == s.ys.count, "\(s.name): one run of \(s.ys.count) points")
            // x grows with the data, y shrinks (SVG's y axis points down).
            #expect(zip(runs[0], runs[0].dropFirst()).allSatisfy { $0.x < $1.x })
            let markers = try #require(svg.elements("g", ["class": "markers", "data-series": s.name]).first)
            #expect(svg.elements("circle", under: markers).count == 20)
        }
        #expect(svg.elements("path", ["class": "series"]).count == 2)
        #expect(svg.texts(inGroup: "legend") == ["training", "validation"])
        #expect(svg.text("title") == "GRU on Fashion-MNIST rows")
        #expect(svg.text("x-title") == "epoch")
        #expect(svg.text("y-title") == "loss (cross-entropy, nats)")
        #expect(svg.elements("path", ["data-series": "validation"]).first?.value("stroke-dasharray") == "6 4")
        // Epochs are whole numbers: no tick at 2.5.
        #expect(svg.texts(inGroup: "x-ticks").allSatisfy { Int($0) != nil })
    }

    @Test(arguments: PlotSample.allCases.filter { $0.linePlot != nil && $0 != .forecast })
    func ticksAreNiceNumbersCoveringTheAxis(_ sample: PlotSample) throws {
        let plot = try #require(sample.linePlot)
        let svg = try ParsedSVG(plot.svg())
        for group in ["x-ticks", "y-ticks"] {
            let labels = svg.texts(inGroup: group)
            let values = labels.compactMap(Double.init)
            #expect(values.count == labels.count && labels.count >= 2, "\(group): \(labels)")
            #expect(labels.allSatisfy { $0.count <= 7 }, "\(group): compact labels \(labels)")
            if plot.logarithmicY && group == "y-ticks" {
                #expect(values.allSatisfy { [1, 2, 5].contains(($0 / pow(10, floor(log10($0)))).rounded()) }, "\(labels)")
                continue
            }
            let steps = zip(values, values.dropFirst()).map { $1 - $0 }
            let step = try #require(steps.first)
            #expect(steps.allSatisfy { abs($0 - step) < 1e-9 * step }, "\(group): evenly spaced \(labels)")
            let mantissa = step / pow(10, floor(log10(step) + 1e-9))
            #expect([1, 2, 5].contains { abs(mantissa - $0) < 1e-6 }, "\(group): a 1-2-5 step, got \(step)")
        }
    }

    @Test(arguments: [
        (0.30000000000000004, 0.1, "0.3"), (0.0, 0.2, "0"), (-1e-17, 0.1, "0"), (-0.2, 0.1, "-0.2"), (150.0, 50.0, "150"),
        (0.25, 0.05, "0.25"), (1e6, 5e5, "1e6"), (1.5e6, 5e5, "1.5e6"), (2e-5, 1e-5, "2e-5"), (0.001, 0.001, "0.001"),
        (7e-5, 1e-5, "7e-5"), (1e-4, 1e-4, "0.0001"), (300_000.0, 100_000.0, "300000"),
    ])
    func tickLabelsAreCompact(_ value: Double, _ step: Double, _ expected: String) {
        #expect(tickLabel(value, step: step) == expected)
    }

    @Test(arguments: [
        (0.07, 0.1, 0.05), (0.1, 0.1, 0.1), (0.11, 0.2, 0.1), (3.0, 5.0, 2.0), (6.0, 10.0, 5.0), (8.0, 10.0, 10.0),
        (1234.0, 2000.0, 1000.0), (2e-7, 2e-7, 2e-7),
    ])
    func stepsAreOneTwoOrFiveTimesAPowerOfTen(_ raw: Double, _ atLeast: Double, _ near: Double) {
        #expect(abs(niceStep(atLeast: raw) - atLeast) < 1e-12 * atLeast)
        #expect(abs(niceStep(near: raw) - near) < 1e-12 * near)
    }

    @Test func constantSeriesStillGetsAnAxisAroundItsValue() throws {
        let svg = try ParsedSVG(#require(PlotSample.constant.linePlot).svg())
        let values = svg.texts(inGroup: "y-ticks").compactMap(Double.init)
        #expect(values.count >= 2 && values.first! < 0.5 && values.last! > 0.5, "\(values)")
        let run = try #require(svg.runs(ofSeries: "flat")?.first)
        #expect(Set(run.map(\.y)).count == 1)
    }

    @Test func nonFinitePointsBreakTheLine() throws {
        let svg = try ParsedSVG(#require(PlotSample.gaps.linePlot).svg())
        let runs = try #require(svg.runs(ofSeries: "with gaps"))
        #expect(runs.map(\.count) == [3, 3, 4], "NaN at 3 and 7 splits 12 points into 0-2, 4-6, 8-11")
        // A lone point is a zero-length run, drawn as a dot by the round line caps.
        let lone = try #require(svg.runs(ofSeries: "lone point"))
        #expect(lone.count == 1 && lone[0].count == 2 && lone[0][0] == lone[0][1])
    }

    @Test func logarithmicAxisLeavesOutNonPositiveValuesAndTicksPowersOfTen() throws {
        let plot = LinePlot(title: "log", xAxisTitle: "step", yAxisTitle: "loss", series: [
            .init(name: "s", ys: [10, 1, 0, 0.1, -1, 0.01, 0.001]),
        ], logarithmicY: true)
        let svg = try ParsedSVG(plot.svg())
        #expect(try #require(svg.runs(ofSeries: "s")).map(\.count) == [2, 1 + 1, 2])
        #expect(svg.texts(inGroup: "y-ticks") == ["0.001", "0.01", "0.1", "1", "10"])
    }

    @Test func stringTickLabelsAreSpreadOutAndDoNotOverlap() throws {
        let plot = try #require(PlotSample.forecast.linePlot)
        let svg = try ParsedSVG(plot.svg())
        let dates = PlotSample.dates(1_500)
        let ticks = svg.elements("text", under: svg.elements("g", ["class": "x-ticks"]).first)
        let labels = ticks.map { $0.stringValue ?? "" }
        #expect((3...12).contains(labels.count), "\(labels)")
        let indices = labels.compactMap { dates.firstIndex(of: $0) }
        #expect(indices.count == labels.count, "every label is a date: \(labels)")
        let gaps = zip(indices, indices.dropFirst()).map { $1 - $0 }
        #expect(Set(gaps).count == 1, "evenly spaced: \(indices)")
        let xs = ticks.map { Double($0.value("x")!)! }
        let widest = labels.map { textWidth($0, size: 12) }.max()!
        #expect(zip(xs, xs.dropFirst()).allSatisfy { $1 - $0 > widest + 10 }, "labels \(widest) px wide at \(xs)")
    }

    @Test func textIsEscaped() throws {
        let text = try PlotSample.escaping.svg()
        #expect(text.contains("a&lt;b &amp; &quot;c&quot;"))
        let svg = try ParsedSVG(text)
        #expect(svg.texts(inGroup: "legend") == ["a<b & \"c\""])
        #expect(svg.elements("path", ["data-series": "a<b & \"c\""]).count == 1)
        #expect(svg.text("title") == "<Title> & 'quotes'")
        #expect(svg.text("x-title") == "x < 1 & \"y\"")
        #expect(svg.text("y-title") == "a\tb")
        #expect(escapeXML("bell\u{7}\u{FFFF}") == "bell\u{FFFD}\u{FFFD}", "characters XML 1.0 forbids are replaced")
    }

    @Test func tenThousandPointsMakeASmallFile() throws {
        let n = 10_000
        let plot = LinePlot(title: "long", xAxisTitle: "t", yAxisTitle: "y", series: [
            .init(name: "sine", ys: (0..<n).map { sin(Double($0) / 50) + 0.1 * sin(Double($0) * 2.1) }),
            .init(name: "noise", ys: (0..<n).map { cos(Double($0 * $0 % 997)) }),
        ])
        let text = try plot.svg()
        #expect(text.utf8.count < 80_000, "\(text.utf8.count) bytes")
        let svg = try ParsedSVG(text)
        let allYs = plot.series.flatMap(\.ys)
        for s in plot.series {
            let runs = try #require(svg.runs(ofSeries: s.name))
            #expect(runs.count == 1 && runs[0].count <= 4 * 800, "\(s.name): \(runs[0].count) points kept")
            // The thinning keeps the extremes of every pixel column.
            let ys = runs[0].map(\.y), frameHeight = Double(try #require(svg.elements("rect", ["class": "frame"]).first?.value("height")))!
            // The axis spans all data with 5 % to spare at each end.
            let expected = (s.ys.max()! - s.ys.min()!) / (1.1 * (allYs.max()! - allYs.min()!)) * frameHeight
            #expect(abs(ys.max()! - ys.min()! - expected) < 0.2, "the full vertical extent is drawn: \(ys.min()!) to \(ys.max()!)")
        }
    }

    enum BadLinePlot: String, CaseIterable { case noSeries, lengthMismatch, allNotFinite, emptySeries, emptyYRange, logNothingPositive, tooSmall }

    @Test(arguments: BadLinePlot.allCases)
    func invalidInputThrowsOneLine(_ c: BadLinePlot) {
        var plot = LinePlot(title: "t", xAxisTitle: "x", yAxisTitle: "y", series: [.init(name: "s", ys: [1, 2, 3])])
        switch c {
        case .noSeries: plot.series = []
        case .lengthMismatch: plot.series.append(.init(name: "bad\nname", xs: [1, 2], ys: [1]))
        case .allNotFinite: plot.series = [.init(name: "s", ys: [.nan, .infinity]), .init(name: "t", xs: [.nan], ys: [1])]
        case .emptySeries: plot.series = [.init(name: "s", ys: []), .init(name: "t", ys: [])]
        case .emptyYRange: plot.yRange = 1...1
        case .logNothingPositive: plot.series = [.init(name: "s", ys: [0, -1])]; plot.logarithmicY = true
        case .tooSmall: plot.width = 50
        }
        #expect {
            try plot.svg()
        } throws: { error in
            guard case RecurrentError.invalidValue(let message) = error else { return false }
            return !message.contains("\n")
        }
    }
}

@Suite struct ConfusionMatrixPlotTests {
    @Test func everyCellHoldsItsCountAndTheSubtitleTheAccuracy() throws {
        let plot = try #require(PlotSample.confusion.confusionPlot)
        let svg = try ParsedSVG(plot.svg())
        let counts = PlotSample.fashionCounts()
        let cells = svg.elements("rect", ["class": "cell"])
        #expect(cells.count == 100)
        for cell in cells {
            let (i, j) = (Int(cell.value("data-row")!)!, Int(cell.value("data-column")!)!)
            #expect(cell.value("data-count") == String(counts[i][j]))
        }
        #expect(svg.elements("text", ["class": "count"]).map { $0.stringValue ?? "" } == counts.joined().map(String.init))
        let correct = (0..<10).reduce(0) { $0 + counts[$1][$1] }, total = counts.joined().reduce(0, +)
        #expect(plot.accuracy == Double(correct) / Double(total))
        let subtitle = try #require(svg.text("subtitle"))
        #expect(subtitle.contains(String(format: "accuracy %.2f%% (%d of %d)", 100 * plot.accuracy!, correct, total)), "\(subtitle)")
        #expect(svg.texts(inGroup: "row-labels") == PlotSample.fashionNames)
        #expect(svg.texts(inGroup: "column-labels") == PlotSample.fashionNames)
        #expect(svg.text("x-title") == "predicted class" && svg.text("y-title") == "true class")
        // Long names do not fit under a cell: they slant.
        #expect(svg.elements("text", under: svg.elements("g", ["class": "column-labels"]).first)
            .allSatisfy { $0.value("transform")?.hasPrefix("rotate(-45 ") == true })
    }

    @Test func shortNamesStayLevelAndAnEmptyRowIsWhite() throws {
        let svg = try ParsedSVG(#require(PlotSample.confusionShortNames.confusionPlot).svg())
        #expect(svg.elements("text", under: svg.elements("g", ["class": "column-labels"]).first)
            .allSatisfy { $0.value("transform") == nil })
        let fills = svg.elements("rect", ["class": "cell"]).map { $0.value("fill")! }
        #expect(fills[8..<12].allSatisfy { $0 == "#f7fbff" }, "row 2 has no samples")
        #expect(Int(fills[15].dropFirst().prefix(2), radix: 16)! < 0x20, "a row's largest fraction is dark: \(fills[15])")
    }

    @Test func predictionsAreCounted() throws {
        let plot = try ConfusionMatrixPlot(title: "", classNames: ["a", "b", "c"], trueClasses: [0, 0, 1, 2, 2, 2],
                                           predictedClasses: [0, 1, 1, 2, 0, 2])
        #expect(plot.counts == [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
        #expect(plot.accuracy == 4.0 / 6)
        #expect(try ParsedSVG(plot.svg()).text("subtitle")?.hasPrefix("accuracy 66.67% (4 of 6)") == true)
    }

    enum BadMatrix: String, CaseIterable { case noClasses, notSquare, rowsDoNotMatchNames, negative, tinyCells, classOutOfRange, lengthsDiffer }

    @Test(arguments: BadMatrix.allCases)
    func invalidInputThrowsOneLine(_ c: BadMatrix) {
        let names = ["a", "b"]
        #expect {
            switch c {
            case .noClasses: _ = try ConfusionMatrixPlot(title: "", classNames: [], counts: []).svg()
            case .notSquare: _ = try ConfusionMatrixPlot(title: "", classNames: names, counts: [[1, 2], [3]]).svg()
            case .rowsDoNotMatchNames: _ = try ConfusionMatrixPlot(title: "", classNames: names + ["c"], counts: [[1, 2], [3, 4]]).svg()
            case .negative: _ = try ConfusionMatrixPlot(title: "", classNames: names, counts: [[1, -2], [3, 4]]).svg()
            case .tinyCells: _ = try ConfusionMatrixPlot(title: "", classNames: names, counts: [[1, 2], [3, 4]], cellSize: 2).svg()
            case .classOutOfRange: _ = try ConfusionMatrixPlot(title: "", classNames: names, trueClasses: [0, 2], predictedClasses: [0, 1])
            case .lengthsDiffer: _ = try ConfusionMatrixPlot(title: "", classNames: names, trueClasses: [0], predictedClasses: [0, 1])
            }
        } throws: { error in
            guard case RecurrentError.invalidValue(let message) = error else { return false }
            return !message.contains("\n")
        }
    }
}

/// Files on disk, and PNGs rendered from them by librsvg.
///
/// Set `RECURRENT_PLOT_SAMPLES` to a folder to keep every sample's SVG and PNG there for a look.
@Suite struct RenderedPlotTests {
    static let rsvgConvert: URL? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        .split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("rsvg-convert") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }

    @Test func writtenFilesAreCompleteAndNoTemporaryFileIsLeft() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let line = try #require(PlotSample.forecast.linePlot), matrix = try #require(PlotSample.confusion.confusionPlot)
        try line.write(to: dir.file("forecast.svg"))
        try matrix.write(to: dir.file("confusion.svg"))
        try line.write(to: dir.file("forecast.svg"))  // over an existing file
        #expect(try String(contentsOf: dir.file("forecast.svg"), encoding: .utf8) == line.svg())
        #expect(try String(contentsOf: dir.file("confusion.svg"), encoding: .utf8) == matrix.svg())
        #expect(dir.contents == ["confusion.svg", "forecast.svg"])
        #expect(throws: FileFormatError.self) { try line.write(to: dir.file("missing/forecast.svg")) }
        #expect(throws: RecurrentError.self) { try LinePlot(title: "", xAxisTitle: "", yAxisTitle: "").write(to: dir.file("empty.svg")) }
        #expect(dir.contents == ["confusion.svg", "forecast.svg"], "a failed write leaves nothing behind")
    }

    @Test(.enabled(if: rsvgConvert != nil, "rsvg-convert (librsvg2-bin) is not installed"), arguments: PlotSample.allCases)
    func rendersToPNG(_ sample: PlotSample) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let keep = ProcessInfo.processInfo.environment["RECURRENT_PLOT_SAMPLES"].map { URL(fileURLWithPath: $0) }
        let folder = keep ?? dir.url
        let (svgFile, pngFile) = (folder.appendingPathComponent("\(sample).svg"), folder.appendingPathComponent("\(sample).png"))
        let text = try sample.svg()
        try writeAtomically(Data(text.utf8), to: svgFile)
        let process = Process()
        process.executableURL = Self.rsvgConvert
        process.arguments = ["--format", "png", "--output", pngFile.path, svgFile.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "rsvg-convert: \(message)")
        let png = try Data(contentsOf: pngFile)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "PNG signature")
        #expect(png.count > 8_000, "\(png.count) bytes")
        // IHDR: the image is as wide and tall as the SVG says.
        let size = try ParsedSVG(text).root
        func be32(_ offset: Int) -> Int { png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        #expect(String(be32(16)) == size.value("width"))
        #expect(String(be32(20)) == size.value("height"))
    }
}
