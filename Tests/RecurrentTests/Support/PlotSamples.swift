import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Recurrent

/// An SVG document parsed with Foundation's XML parser, with the queries the plot tests need.
struct ParsedSVG {
    let root: XMLElement

    /// Parses `text`; throws when it is not well-formed XML.
    init(_ text: String) throws {
        let document = try XMLDocument(xmlString: text, options: [])
        guard let root = document.rootElement() else { throw RecurrentError.invalidValue("no root element") }
        self.root = root
    }

    /// Every element under `element` (itself included) named `name` whose attributes include `attributes`.
    func elements(_ name: String, _ attributes: [String: String] = [:], under element: XMLElement? = nil) -> [XMLElement] {
        var found: [XMLElement] = []
        func walk(_ e: XMLElement) {
            if (e.localName ?? e.name) == name && attributes.allSatisfy({ e.value($0.key) == $0.value }) {
                found.append(e)
            }
            for case let child as XMLElement in e.children ?? [] { walk(child) }
        }
        walk(element ?? root)
        return found
    }

    /// The text of every `<text>` element inside the group with `class="\(groupClass)"`.
    func texts(inGroup groupClass: String) -> [String] {
        elements("g", ["class": groupClass]).flatMap { elements("text", under: $0) }.map { $0.stringValue ?? "" }
    }

    /// The text of the one `<text>` element with `class="\(className)"`.
    func text(_ className: String) -> String? { elements("text", ["class": className]).first?.stringValue }

    /// The path of series `name`, split into runs (one per `M`) of (x, y) points.
    func runs(ofSeries name: String) -> [[(x: Double, y: Double)]]? {
        guard let d = elements("path", ["class": "series", "data-series": name]).first?.value("d")
        else { return nil }
        return d.split(separator: "M").map { run in
            run.split(separator: " ").map { pair in
                let xy = pair.split(separator: ",").map { Double($0)! }
                return (xy[0], xy[1])
            }
        }
    }
}

extension XMLElement {
    /// The value of attribute `name`. (`attribute(forName:)` finds nothing on elements in a default
    /// namespace, such as SVG's, in swift-corelibs-foundation, so this searches the list itself.)
    func value(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
}

/// Plots the tests draw and `RenderedPlotTests` renders, with data chosen to look like what the
/// command-line examples produce (and deterministic, so a failure can be reproduced).
enum PlotSample: String, CaseIterable, CustomStringConvertible {
    case lossPerEpoch, lossPerStep, logarithmicLoss, forecast, constant, gaps, escaping, confusion, confusionShortNames, heatmapGate, heatmapSigned

    var description: String { rawValue }

    static let fashionNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// A training loss falling from about 2.3 nats towards 0.3, with a little wobble.
    static func loss(at t: Double, scale: Double) -> Double { 2.0 * exp(-t / scale) + 0.3 + 0.04 * sin(7.3 * t) }

    /// `count` ISO dates, one a day from 2019-01-01.
    static func dates(_ count: Int) -> [String] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let start = formatter.date(from: "2019-01-01")!
        return (0..<count).map { formatter.string(from: start.addingTimeInterval(Double($0) * 86_400)) }
    }

    /// A confusion matrix for 10 classes and 10 000 samples: mostly right, with the usual
    /// shirt / T-shirt / pullover / coat mix-ups.
    static func fashionCounts() -> [[Int]] {
        (0..<10).map { i in
            (0..<10).map { j in
                if i == j { return [850, 970, 800, 880, 820, 960, 610, 950, 975, 955][i] }
                let confusable: Set<Int> = [0, 2, 3, 4, 6]
                return confusable.contains(i) && confusable.contains(j) ? 20 + (i * 7 + j * 3) % 30 : (i + 2 * j) % 4
            }
        }
    }

    var linePlot: LinePlot? {
        switch self {
        case .lossPerEpoch:
            let epochs = (1...20).map(Double.init)
            return LinePlot(title: "GRU on Fashion-MNIST rows", xAxisTitle: "epoch", yAxisTitle: "loss (cross-entropy, nats)", series: [
                .init(name: "training", xs: epochs, ys: epochs.map { Self.loss(at: $0, scale: 4) }),
                .init(name: "validation", xs: epochs, ys: epochs.map { Self.loss(at: $0, scale: 4) + 0.05 + 0.004 * $0 }, line: .dashed),
            ])
        case .lossPerStep:
            let steps = (0..<2_000).map(Double.init)
            let epochs = (1...10).map(Double.init)
            return LinePlot(title: "LSTM training, per step", xAxisTitle: "epoch", yAxisTitle: "loss (cross-entropy, nats)", series: [
                .init(name: "training (per step)", xs: steps.map { $0 / 200 }, ys: steps.map { (s: Double) -> Double in Self.loss(at: s / 200, scale: 2) + 0.15 * sin(s * 0.9) }),
                .init(name: "validation (per epoch)", xs: epochs, ys: epochs.map { Self.loss(at: $0, scale: 2) + 0.08 }, line: .dashed),
            ])
        case .logarithmicLoss:
            let steps = (1...300).map(Double.init)
            return LinePlot(title: "Adding problem", xAxisTitle: "step", yAxisTitle: "loss (MSE)", series: [
                .init(name: "training", xs: steps, ys: steps.map { 0.2 * exp(-$0 / 40) + 2e-4 }),
            ], logarithmicY: true)
        case .forecast:
            let n = 1_500, start = 1_200
            // A seasonal trend plus a random walk (a fixed-seed generator), and a forecast that lags it a little.
            var generator = SeededGenerator(seed: 7), walk = 0.0
            let truth = (0..<n).map { (t: Int) -> Double in
                walk += Double(generator.nextUniform(-1, 1))
                return 100 + 20 * sin(Double(t) / 60) + 0.01 * Double(t) + walk
            }
            let prediction = (start..<n).map { (t: Int) -> Double in 0.6 * truth[t - 1] + 0.4 * truth[t - 3] + 0.5 }
            return LinePlot(title: "Closing price forecast", xAxisTitle: "date", yAxisTitle: "price (USD)", series: [
                .init(name: "truth", ys: truth),
                .init(name: "prediction", xs: (start..<n).map(Double.init), ys: prediction, line: .dashed),
            ], xTickLabels: Self.dates(n), width: 1000, height: 420)
        case .constant:
            return LinePlot(title: "Constant", xAxisTitle: "step", yAxisTitle: "value", series: [
                .init(name: "flat", xs: (0..<50).map(Double.init), ys: Array(repeating: 0.5, count: 50)),
            ])
        case .gaps:
            let ys = (0..<12).map { Double($0) * 0.1 } .enumerated().map { [3, 7].contains($0.offset) ? .nan : $0.element }
            return LinePlot(title: "", xAxisTitle: "step", yAxisTitle: "y", series: [
                .init(name: "with gaps", ys: ys),
                .init(name: "lone point", ys: [.nan, 0.5, .infinity], showsMarkers: false),
            ])
        case .escaping:
            return LinePlot(title: "<Title> & 'quotes'", xAxisTitle: "x < 1 & \"y\"", yAxisTitle: "a\tb", series: [
                .init(name: "a<b & \"c\"", xs: [0, 1, 2], ys: [1, 2, 3]),
            ])
        case .confusion, .confusionShortNames, .heatmapGate, .heatmapSigned: return nil
        }
    }

    var confusionPlot: ConfusionMatrixPlot? {
        switch self {
        case .confusion:
            return ConfusionMatrixPlot(title: "Fashion-MNIST test set", classNames: Self.fashionNames, counts: Self.fashionCounts())
        case .confusionShortNames:
            return ConfusionMatrixPlot(title: "Digits", classNames: (0..<4).map(String.init), counts: [
                [50, 2, 0, 1], [3, 45, 4, 0], [0, 0, 0, 0], [1, 0, 2, 60],
            ])
        default: return nil
        }
    }

    /// A forget gate over 40 steps of 16 units (sigmoid, in [0, 1]) and a cell state (signed).
    var heatmap: Heatmap? {
        let gate = (0..<16).map { j in (0..<40).map { t in 1 / (1 + exp(-3 * sin(Double(t) / 6 + Double(j)))) } }
        switch self {
        case .heatmapGate: return Heatmap(title: "layer 0 forward: f (forget gate), batch row 0", values: gate)
        case .heatmapSigned:
            return Heatmap(title: "cell state", values: gate.enumerated().map { j, row in row.map { 2.5 * ($0 - 0.5) * Double(j % 3 - 1) } })
        default: return nil
        }
    }

    func svg() throws -> String {
        if let plot = linePlot { return try plot.svg() }
        if let plot = heatmap { return try plot.svg() }
        return try confusionPlot!.svg()
    }
}
