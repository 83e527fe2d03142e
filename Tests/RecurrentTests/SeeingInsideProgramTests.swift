import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import Recurrent

/// README "Seeing inside": the Swift program as written there (only the file paths differ),
/// against the public API alone.
@Suite struct SeeingInsideProgramTests {
    @Test func traceAndGradientNorms() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }

        let lstm = LSTM(inputSize: 2, hiddenSize: 8)
        let x = Tensor.randomNormal([40, 4, 2])                               // [T, B, I]
        let (output, gates) = try lstm.trace(x)                               // gates[l·D + d]: [(name, [T, B, H])]
        let forget = gates[0].first { $0.name == "f" }!.values                // [40, 4, 8], each in (0, 1)
        try Heatmap(title: "forget gate", trace: forget, row: 0).write(to: dir.file("f.svg"))
        // ‖∂L/∂hₜ‖ for t = 0..<40, for a loss on the last step's output
        let norms = try lstm.stateGradientNorms(x) { $0.narrowed(axis: 0, start: 39, length: 1).sum() }
        try LinePlot(title: "‖∂L/∂hₜ‖", xAxisTitle: "t", yAxisTitle: "norm", series: [.init(name: "LSTM", ys: norms[0].map(Double.init))],
                     logarithmicY: true).write(to: dir.file("grad.svg"))

        #expect(output.shape == [40, 4, 8] && forget.shape == [40, 4, 8])
        #expect(forget.scalars.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(norms.count == 1 && norms[0].count == 40 && norms[0].allSatisfy { $0.isFinite && $0 > 0 })
        let svg = try ParsedSVG(String(contentsOf: dir.file("f.svg"), encoding: .utf8))
        #expect(svg.elements("rect", ["class": "colour-bar"]).first?.value("data-scale") == "sequential")
        #expect(dir.contents == ["f.svg", "grad.svg"])
    }
}
