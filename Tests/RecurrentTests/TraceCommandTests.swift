import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Recurrent

/// `recurrent trace` end to end on model files the tests write: every gate under its name with the
/// values `RecurrentLayer.trace` gives through the library, `‖∂L/∂hₜ‖` as `stateGradientNorms`
/// gives it, heatmaps that parse, each row's own steps with unsorted `--lengths`, one-line errors
/// with nothing written; and the demo's gradient-norm plot.
@Suite(.serialized) struct TraceCommandTests {
    static let T = 5, B = 3, I = 3, H = 4

    /// The models traced: kind, layers, directions, layout and input.
    enum Model: String, CaseIterable {
        case lstmTwoLayersBidirectional, gru, rnnBatchFirst, lstmTokens

        var architecture: ModelArchitecture {
            let (I, H) = (TraceCommandTests.I, TraceCommandTests.H)
            return switch self {
            case .lstmTwoLayersBidirectional:
                ModelArchitecture(kind: .lstm, inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, prefix: "rnn.",
                                  headPrefix: "head.", headOutputSize: 2)
            case .gru: ModelArchitecture(kind: .gru, inputSize: I, hiddenSize: H, prefix: "rnn.")
            case .rnnBatchFirst: ModelArchitecture(kind: .rnn, inputSize: I, hiddenSize: H, batchFirst: true, prefix: "rnn.")
            case .lstmTokens:
                ModelArchitecture(kind: .lstm, inputSize: I, hiddenSize: H, prefix: "rnn.", inputEncoding: .embedding(prefix: "embedding.", count: 7))
            }
        }

        var gateNames: [String] {
            switch architecture.kind {
            case .lstm: ["i", "f", "g", "o", "c"]
            case .gru: ["r", "z", "n"]
            case .rnn: ["h"]
            }
        }

        /// The input as the command reads it, and as the recurrent layer sees it.
        func input(_ model: RecurrentModel) -> (file: TensorData, layer: Tensor) {
            let (T, B, I) = (TraceCommandTests.T, TraceCommandTests.B, TraceCommandTests.I)
            switch self {
            case .lstmTokens:
                let tokens = (0..<T * B).map { ($0 * 5 + 2) % 7 }
                return (TensorData(shape: [T, B], scalars: tokens.map(Float.init)), model.embedding!(tokens, shape: [T, B]))
            case .rnnBatchFirst:
                let x = testTensor([B, T, I], seed: 11, requiresGrad: false)
                return (TensorData(shape: x.shape, scalars: x.scalars), x)
            default:
                let x = testTensor([T, B, I], seed: 11, requiresGrad: false)
                return (TensorData(shape: x.shape, scalars: x.scalars), x)
            }
        }
    }

    /// Writes the model and its input; returns the model as the library loads it back.
    func write(_ m: Model, _ dir: TemporaryDirectory) throws -> (model: RecurrentModel, layerInput: Tensor) {
        manualSeed(31)
        try RecurrentModel(m.architecture).save(to: dir.file("model.safetensors"))
        let model = try RecurrentModel.load(from: dir.file("model.safetensors"))
        model.eval()
        let input = m.input(model)
        try NPY.write(input.file, to: dir.file("x.npy"))
        return (model, input.layer)
    }

    @Test(arguments: Model.allCases)
    func writesEveryGateAsTheLibraryRecordsIt(_ m: Model) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (model, x) = try write(m, dir)
        let plots = dir.file("plots/deeper")  // created, parents too
        let r = try CommandRunner.run(["trace", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--output", dir.path("trace.safetensors"),
                                       "--svg", plots.path, "--row", "1", "--gradient-norms"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(dir.path("trace.safetensors")): output"), "\(r.stdout)")
        let file = try SafeTensorsFile.read(from: dir.file("trace.safetensors")).tensors

        let a = m.architecture, D = a.bidirectional ? 2 : 1
        let prefixes = (0..<a.numLayers * D).map { "layer\($0 / D).\($0 % D == 0 ? "forward" : "reverse")" }
        let expectedNames = Set(["output"] + prefixes.flatMap { p in (m.gateNames + ["grad_norm"]).map { "\(p).\($0)" } })
        #expect(Set(file.keys) == expectedNames)

        let (output, gates) = try model.layer.trace(x)
        #expect(file["output"]?.shape == output.shape && file["output"]?.scalars == output.scalars)
        for (k, recorded) in gates.enumerated() {
            #expect(recorded.map(\.name) == m.gateNames)
            for g in recorded {
                let written = try #require(file["\(prefixes[k]).\(g.name)"])
                #expect(written.shape == [Self.T, Self.B, Self.H], "\(prefixes[k]).\(g.name)")
                #expect(written.scalars == g.values.scalars, "\(prefixes[k]).\(g.name) equals RecurrentLayer.trace")
            }
        }
        // L = the sum of the last step's output (time is axis 1 when batch-first).
        let timeAxis = a.batchFirst ? 1 : 0
        let norms = try model.layer.stateGradientNorms(x) { $0.narrowed(axis: timeAxis, start: Self.T - 1, length: 1).sum() }
        for (k, n) in norms.enumerated() {
            let written = try #require(file["\(prefixes[k]).grad_norm"])
            #expect(written.shape == [Self.T])
            #expect(zip(written.scalars, n).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(written.scalars) vs \(n)")
        }

        let svgs = Set(prefixes.flatMap { p in m.gateNames.map { p.replacingOccurrences(of: ".", with: "-") + "-\($0).svg" } } + ["grad-norm.svg"])
        let listed = Set(try FileManager.default.contentsOfDirectory(atPath: plots.path))
        #expect(listed == svgs)
        for name in listed.subtracting(["grad-norm.svg"]) {
            let svg = try ParsedSVG(String(contentsOf: plots.appendingPathComponent(name), encoding: .utf8))
            #expect(svg.elements("rect", under: svg.elements("g", ["class": "cells"]).first).count == Self.T * Self.H, "\(name)")
            #expect(svg.text("title")?.hasSuffix("batch row 1") == true, "\(name)")
        }
        let gradient = try ParsedSVG(String(contentsOf: plots.appendingPathComponent("grad-norm.svg"), encoding: .utf8))
        #expect(gradient.elements("path", ["class": "series"]).map { $0.value("data-series") ?? "" } == prefixes)
    }

    /// Unsorted lengths: each row's gates are those of its own sequence run alone, zero past its end,
    /// and the gradient's loss reads each sequence's own last step.
    @Test func lengthsKeepEachRowsOwnSteps() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (model, x) = try write(.lstmTwoLayersBidirectional, dir)
        let lengths = [4, 5, 2]
        try NPY.write(TensorData(shape: [3], scalars: lengths.map(Float.init)), to: dir.file("lengths.npy"))
        let r = try CommandRunner.run(["trace", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--lengths", dir.path("lengths.npy"),
                                       "--output", dir.path("trace.safetensors"), "--gradient-norms"])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafeTensorsFile.read(from: dir.file("trace.safetensors")).tensors
        let (T, B, H) = (Self.T, Self.B, Self.H)
        for (b, length) in lengths.enumerated() {
            let alone = try model.layer.trace(x.narrowed(axis: 0, start: 0, length: length).narrowed(axis: 1, start: b, length: 1)).gates
            for (k, prefix) in ["layer0.forward", "layer0.reverse", "layer1.forward", "layer1.reverse"].enumerated() {
                for g in alone[k] {
                    let written = try #require(file["\(prefix).\(g.name)"]).scalars
                    for t in 0..<T {
                        for j in 0..<H {
                            let value = written[(t * B + b) * H + j]
                            let expected = t < length ? g.values.scalars[t * H + j] : 0
                            #expect(abs(value - expected) <= 1e-5, "\(prefix).\(g.name) row \(b) t \(t) unit \(j): \(value) vs \(expected)")
                        }
                    }
                }
            }
        }
        let norms = try model.layer.stateGradientNorms(x, lengths: lengths) { output in
            (0..<B).map { output.narrowed(axis: 0, start: lengths[$0] - 1, length: 1).narrowed(axis: 1, start: $0, length: 1).sum() }.reduce(Tensor(0), +)
        }
        let written = try #require(file["layer1.forward.grad_norm"]).scalars
        #expect(zip(written, norms[2]).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(written) vs \(norms[2])")
    }

    enum BadInput: String, CaseIterable { case missingInput, wrongShape, rowOutOfRange, svgIsAFile, svgIsTheOutput, rowWithoutSVG, c0ForGRU, outputIsTheInput }

    @Test(arguments: BadInput.allCases)
    func badInputFailsCleanly(_ c: BadInput) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try write(c == .c0ForGRU ? .gru : .lstmTwoLayersBidirectional, dir)
        var args = ["trace", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--output", dir.path("trace.safetensors"),
                    "--svg", dir.path("plots"), "--gradient-norms"]
        switch c {
        case .missingInput: args[3] = dir.path("nope.npy")
        case .wrongShape: try NPY.write(TensorData(shape: [5, 3, 2], scalars: testValues(30, seed: 1)), to: dir.file("x.npy"))
        case .rowOutOfRange: args += ["--row", "3"]
        case .svgIsAFile:
            try Data("not a folder".utf8).write(to: dir.file("plots"))
        case .svgIsTheOutput: args[7] = dir.path("trace.safetensors")
        case .rowWithoutSVG: args = Array(args.prefix(6)) + ["--row", "0"]
        case .c0ForGRU:
            try NPY.write(TensorData(shape: [1, 3, 4], scalars: Array(repeating: 0, count: 12)), to: dir.file("c0.npy"))
            args += ["--c0", dir.path("c0.npy")]
        case .outputIsTheInput: args[5] = dir.path("model.safetensors")
        }
        let before = dir.contents
        let modelBytes = try Data(contentsOf: dir.file("model.safetensors"))
        let r = try CommandRunner.run(args)
        #expect(r.status != 0, "\(c): exit status")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[0].hasPrefix("Error: ") && lines[1].isEmpty, "\(c): stderr was \(r.stderr)")
        #expect(dir.contents == before, "\(c): nothing written")
        #expect(try Data(contentsOf: dir.file("model.safetensors")) == modelBytes)
        let mentions: String = switch c {
        case .missingInput: "nope.npy"
        case .wrongShape: "Expected 3, got 2"
        case .rowOutOfRange: "--row 3 is outside 0..<3"
        case .svgIsAFile: "is a file, not a folder"
        case .svgIsTheOutput: "names the --output file"
        case .rowWithoutSVG: "--row applies with --svg only"
        case .c0ForGRU: "c0 given"
        case .outputIsTheInput: "would overwrite the input"
        }
        #expect(r.stderr.contains(mentions), "\(c): stderr was \(r.stderr)")
    }

    /// The demo keeps its table and adds ‖∂L/∂hₜ‖ against the distance from the last step, one line per model.
    @Test func demoPlotsTheGradientReachingEachStep() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try CommandRunner.run(["demo", "--seq-len", "8", "--hidden-size", "4", "--steps", "3", "--batch-size", "4",
                                       "--plots", dir.path("plots")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("model  params  train MSE  test MSE  vs baseline  time    verdict"))
        for name in ["RNN", "LSTM", "GRU"] { #expect(r.stdout.contains("\n" + name + " "), "\(name) row") }
        #expect(r.stdout.contains("wrote \(dir.path("plots"))/demo-gradient-norms.svg"), "\(r.stdout)")
        let svg = try ParsedSVG(String(contentsOf: dir.file("plots/demo-gradient-norms.svg"), encoding: .utf8))
        #expect(svg.elements("path", ["class": "series"]).map { $0.value("data-series") ?? "" } == ["RNN", "LSTM", "GRU"])
        for name in ["RNN", "LSTM", "GRU"] {
            let points = try #require(svg.runs(ofSeries: name)).joined()
            #expect((1...8).contains(points.count), "\(name): \(points.count) points")
        }
        #expect(svg.text("x-title")?.hasPrefix("distance from the last step") == true)
    }

    @Test func demoRefusesAPlotsFolderThatIsAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data("x".utf8).write(to: dir.file("plots"))
        let r = try CommandRunner.run(["demo", "--steps", "1", "--plots", dir.path("plots")], timeout: 30, directory: dir.url)
        #expect(r.status != 0 && r.stderr.hasPrefix("Error: --plots ") && r.stderr.hasSuffix("is a file, not a folder\n"), "\(r.stderr)")
        #expect(r.stdout.isEmpty && dir.contents == ["plots"], "stopped before training; nothing written")
    }
}
