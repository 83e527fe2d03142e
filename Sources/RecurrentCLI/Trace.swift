import ArgumentParser
import Foundation
import Recurrent

/// `recurrent trace`: every gate of a model's recurrent layer at every step, as tensors and heatmaps.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record every gate of a model's recurrent layer at every step (and ‖∂L/∂hₜ‖), as tensors and SVG heatmaps.",
        discussion: """
            Writes `output` (the recurrent layer's output, as `run` writes it) and, for each layer l and \
            direction (forward, reverse), `layer{l}.{direction}.{gate}` [T, B, H] in time order: LSTM i, f, \
            g, o, c; GRU r, z, n; RNN h (zeros past a sequence's --lengths). Token models are traced after \
            their embedding or one-hot encoding; a head takes no part. --gradient-norms adds \
            `layer{l}.{direction}.grad_norm` [T]: ‖∂L/∂hₜ‖ over the batch for L = the sum of the last step's \
            output (each sequence's own last step with --lengths). --svg DIR writes one heatmap per layer, \
            direction and gate for batch row --row (`layer0-forward-i.svg`: time steps across, units down) \
            and, with --gradient-norms, `grad-norm.svg`.
            """)

    @OptionGroup var options: ModelOptions
    @OptionGroup var arrays: InputArrays
    @Option(help: "Where to write the tensors (.safetensors).")
    var output: String
    @Option(help: "Folder for the SVG heatmaps (created if missing).")
    var svg: String?
    @Option(help: "The batch row the heatmaps show (default 0; with --svg).")
    var row: Int?
    @Flag(help: "Also record ‖∂L/∂hₜ‖ for the loss L = sum of the last step's output.")
    var gradientNorms = false

    func validate() throws {
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors, got '\(output)'") }
        if let row {
            guard svg != nil else { throw ValidationError("--row applies with --svg only") }
            try checkCount("--row", row, in: 0...(1 << 24))
        }
    }

    func run() throws {
        let inputs = [options.model] + arrays.paths
        try checkDistinct(output: output, from: inputs)
        var isFolder: ObjCBool = false
        if let svg {
            if FileManager.default.fileExists(atPath: svg, isDirectory: &isFolder), !isFolder.boolValue {
                throw CommandError("--svg \(svg) is a file, not a folder")
            }
            guard URL(fileURLWithPath: svg).standardizedFileURL.path != URL(fileURLWithPath: output).standardizedFileURL.path else {
                throw CommandError("--svg \(svg) names the --output file; choose a folder")
            }
        }
        let model = try options.load()
        model.eval()
        let (x, h, c, l) = try arrays.read()
        let (out, gates) = try model.trace(x, h0: h, c0: c, lengths: l)
        let norms = gradientNorms ? try model.stateGradientNorms(x, h0: h, c0: c, lengths: l) : nil

        // Every tensor by name; a finite input can still overflow: refuse to write infinities or NaNs.
        let D = model.layer.bidirectional ? 2 : 1
        func prefix(_ k: Int) -> String { "layer\(k / D).\(k % D == 0 ? "forward" : "reverse")" }
        var tensors = ["output": TensorData(shape: out.shape, scalars: out.scalars)]
        for (k, recorded) in gates.enumerated() {
            for g in recorded { tensors["\(prefix(k)).\(g.name)"] = TensorData(shape: g.values.shape, scalars: g.values.scalars) }
            if let norms { tensors["\(prefix(k)).grad_norm"] = TensorData(shape: [norms[k].count], scalars: norms[k]) }
        }
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
            if let bad = t.scalars.firstIndex(where: { !$0.isFinite }) {
                throw CommandError("the model's \(name) is \(t.scalars[bad]) at flat index \(bad) (an overflow: check the input's scale); nothing written")
            }
        }

        // The plots, checked before anything is written (a heatmap is drawn only as it is written,
        // so that forty large ones are not all held in memory at once).
        var heatmaps: [(name: String, plot: Heatmap)] = [], gradientSVG: String?
        if let svg {
            let B = gates.first?.first?.values.shape[1] ?? 0, row = row ?? 0
            guard row < B else { throw CommandError("--row \(row) is outside 0..<\(B) (the input's batch)") }
            for (k, recorded) in gates.enumerated() {
                let (layerIndex, direction) = (k / D, k % D == 0 ? "forward" : "reverse")
                for g in recorded {
                    let title = "layer \(layerIndex) \(direction): \(g.name) (\(Self.meaning[g.name] ?? g.name)), batch row \(row)"
                    let plot = try Heatmap(title: title, trace: g.values, row: row)
                    _ = try plot.resolvedScale()  // throws what svg() would
                    heatmaps.append(("layer\(layerIndex)-\(direction)-\(g.name).svg", plot))
                }
            }
            if let norms { gradientSVG = try gradientPlot(norms, prefix: prefix) }
            for name in heatmaps.map(\.name) + ["grad-norm.svg"] {
                try checkDistinct(output: URL(fileURLWithPath: svg).appendingPathComponent(name).path, from: inputs, option: "--svg")
            }
            let folder = URL(fileURLWithPath: svg)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw CommandError("cannot create the --svg folder \(svg): \(error.localizedDescription)")
            }
            for h in heatmaps { try h.plot.write(to: folder.appendingPathComponent(h.name)) }
            if let gradientSVG { try writeAtomically(Data(gradientSVG.utf8), to: folder.appendingPathComponent("grad-norm.svg")) }
        }
        try SafeTensorsFile(tensors: tensors).write(to: URL(fileURLWithPath: output))
        let shape = gates.first?.first?.values.shape ?? []
        print("wrote \(output): output \(out.shape), \(gates.map(\.count).reduce(0, +)) gate tensors \(shape) for \(gates.count) layer·direction(s)"
            + (norms == nil ? "" : ", grad_norm [\(shape.first ?? 0)] each")
            + (svg.map { "; \(heatmaps.count + (gradientSVG == nil ? 0 : 1)) SVGs in \($0)" } ?? ""))
    }

    /// ‖∂L/∂hₜ‖ against t, one line per layer and direction, on a logarithmic axis (linear when no
    /// norm is positive).
    func gradientPlot(_ norms: [[Float]], prefix: (Int) -> String) throws -> String {
        var plot = LinePlot(title: "‖∂L/∂hₜ‖, L = sum of the last step's output", xAxisTitle: "time step t", yAxisTitle: "‖∂L/∂hₜ‖",
                            series: norms.enumerated().map { k, n in .init(name: prefix(k), ys: n.map(Double.init)) }, logarithmicY: true)
        if !norms.joined().contains(where: { $0 > 0 }) { plot.logarithmicY = false }
        return try plot.svg()
    }

    /// What each recorded name stands for, for the heatmaps' titles.
    static let meaning = ["i": "input gate", "f": "forget gate", "g": "cell candidate", "o": "output gate", "c": "cell state",
                          "r": "reset gate", "z": "update gate", "n": "candidate state", "h": "hidden state"]
}
