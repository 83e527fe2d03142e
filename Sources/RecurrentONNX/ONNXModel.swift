import Foundation
import Recurrent
import SwiftProtobuf

/// An ONNX model whose graph Recurrent can run: `LSTM`, `GRU` and `RNN` nodes (every attribute and
/// input) joined by `Identity`, with weights from initializers or `Constant` nodes.
///
/// ```swift
/// let onnx = try ONNXModel.load(from: URL(fileURLWithPath: "lstm.onnx"))
/// let outputs = try onnx.run(["X": x])           // like onnxruntime's session.run(None, {"X": x})
/// let model = try RecurrentModel(onnx: onnx)     // the same weights as a PyTorch-style model
/// ```
public struct ONNXModel {
    /// The parsed protobuf.
    public let proto: Onnx_ModelProto
    /// The default domain's opset.
    public let opset: Int
    /// The graph's inputs that must be fed (inputs that are not initializers), in order.
    public let inputNames: [String]
    /// The graph's outputs, in order.
    public let outputNames: [String]
    /// The recurrent nodes, in graph order.
    public let recurrentNodes: [ONNXRecurrentNode]
    let constants: [String: ONNXTensorValue]
    let models: [RecurrentModel]

    /// Reads an `.onnx` file. Throws ``ONNXError`` (one line, naming the file) for malformed
    /// protobuf, an unsupported operator or attribute, or weights that do not fit.
    public static func load(from url: URL) throws -> ONNXModel {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ONNXError("\(url.lastPathComponent): cannot read the file: \(error.localizedDescription)") }
        do { return try ONNXModel(serialized: data) } catch let e as ONNXError { throw ONNXError("\(url.lastPathComponent): \(e.message)") }
    }

    /// Parses a serialized `ModelProto`.
    public init(serialized data: Data) throws {
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError("not an ONNX model (the protobuf does not parse: \(error))")
        }
        try self.init(proto)
    }

    /// Checks `proto` and builds every recurrent node's model.
    public init(_ proto: Onnx_ModelProto) throws {
        self.proto = proto
        guard proto.hasGraph else { throw ONNXError("the model has no graph") }
        let imports = proto.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let version = imports.first?.version else { throw ONNXError("the model imports no opset of the default domain") }
        guard version >= 7 else { throw ONNXError("opset \(version) is older than 7, the first with today's LSTM/GRU/RNN") }
        opset = Int(version)
        let graph = proto.graph
        var constants: [String: ONNXTensorValue] = [:]
        for t in graph.initializer { constants[t.name] = try t.decoded() }
        if !graph.sparseInitializer.isEmpty { throw ONNXError("sparse initializers are not supported") }
        inputNames = graph.input.map(\.name).filter { constants[$0] == nil }
        outputNames = graph.output.map(\.name)
        var known = Set(inputNames).union(constants.keys)
        var nodes: [ONNXRecurrentNode] = []
        for (k, node) in graph.node.enumerated() {
            let label = node.name.isEmpty ? "\(node.opType) #\(k)" : node.name
            guard node.domain == "" || node.domain == "ai.onnx" else { throw ONNXError("node '\(label)': operator \(node.domain).\(node.opType) is not supported") }
            for i in node.input where !i.isEmpty && !known.contains(i) {
                throw ONNXError("node '\(label)' reads '\(i)', which no graph input, initializer or earlier node gives (a missing input, or a cycle)")
            }
            switch node.opType {
            case "LSTM", "GRU", "RNN":
                nodes.append(try ONNXRecurrentNode(node, label: label, constants: constants))
            case "Identity":
                guard node.input.count == 1, node.output.count == 1 else { throw ONNXError("Identity node '\(label)' must have one input and one output") }
                if let c = constants[node.input[0]] { constants[node.output[0]] = c }
            case "Constant":
                guard node.output.count == 1, node.attribute.count == 1, node.attribute[0].name == "value", node.attribute[0].type == .tensor else {
                    throw ONNXError("Constant node '\(label)': only the 'value' attribute (a tensor) is supported")
                }
                constants[node.output[0]] = try node.attribute[0].t.decoded()
            default:
                throw ONNXError("node '\(label)': operator \(node.opType) is not supported (Recurrent runs LSTM, GRU, RNN, Identity and Constant)")
            }
            for o in node.output where !o.isEmpty { known.insert(o) }
        }
        for o in outputNames where !known.contains(o) { throw ONNXError("graph output '\(o)' is given by no node") }
        guard !nodes.isEmpty else { throw ONNXError("the graph has no LSTM, GRU or RNN node") }
        recurrentNodes = nodes
        self.constants = constants
        models = try nodes.map { try $0.model() }
    }

    /// Runs the graph as ONNX Runtime's `session.run(None, feeds)` does: `feeds` by graph input
    /// name (`sequence_lens` as whole numbers), every graph output returned under its name, in
    /// ONNX's shapes (`Y` `[T, D, B, H]`, `Y_h` / `Y_c` `[D, B, H]`; batch first with `layout=1`).
    public func run(_ feeds: [String: TensorData]) throws -> [String: TensorData] {
        for name in inputNames where feeds[name] == nil { throw ONNXError("no feed for graph input '\(name)' (inputs: \(inputNames.joined(separator: ", ")))") }
        for name in feeds.keys where !inputNames.contains(name) { throw ONNXError("'\(name)' is not a graph input (inputs: \(inputNames.joined(separator: ", ")))") }
        var values = constants.mapValues(\.data)
        values.merge(feeds) { _, fed in fed }
        var recurrent = zip(recurrentNodes, models).makeIterator()
        for node in proto.graph.node {
            switch node.opType {
            case "LSTM", "GRU", "RNN":
                let (n, model) = recurrent.next()!
                try run(n, model: model, values: &values)
            case "Identity":
                values[node.output[0]] = values[node.input[0]]
            default:
                break  // Constant: already among the constants
            }
        }
        var out: [String: TensorData] = [:]
        for o in outputNames { out[o] = values[o] }
        return out
    }

    /// One recurrent node: ONNX's inputs to Recurrent's time-major ones, the layer, and back.
    func run(_ n: ONNXRecurrentNode, model: RecurrentModel, values: inout [String: TensorData]) throws {
        func fail(_ s: String) -> ONNXError { ONNXError("\(n.kind.rawValue.uppercased()) node '\(n.name)': \(s)") }
        guard let x = values[n.inputNames.x] else { throw fail("input X '\(n.inputNames.x)' has no value") }
        guard x.shape.count == 3, x.shape[2] == n.inputSize, x.shape[0] > 0, x.shape[1] > 0 else {
            throw fail("X is \(x.shape), expected \(n.layout == 0 ? "[T, B, \(n.inputSize)]" : "[B, T, \(n.inputSize)]")")
        }
        let (T, B) = n.layout == 0 ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
        let D = n.directions, H = n.hiddenSize
        var input = n.layout == 0 ? x.scalars : swap01(x.scalars, x.shape[0], x.shape[1], x.shape[2])
        func state(_ name: String, _ what: String) throws -> Tensor? {
            if name.isEmpty { return nil }
            guard let v = values[name] else { throw fail("input \(what) '\(name)' has no value") }
            let expected = n.layout == 0 ? [D, B, H] : [B, D, H]
            guard v.shape == expected else { throw fail("\(what) is \(v.shape), expected \(expected)") }
            return Tensor(shape: [D, B, H], scalars: n.layout == 0 ? v.scalars : swap01(v.scalars, B, D, H))
        }
        let h0 = try state(n.inputNames.initialH, "initial_h"), c0 = try state(n.inputNames.initialC, "initial_c")
        var lengths: [Int]?
        if !n.inputNames.sequenceLens.isEmpty {
            guard let v = values[n.inputNames.sequenceLens] else { throw fail("input sequence_lens '\(n.inputNames.sequenceLens)' has no value") }
            guard v.shape == [B] else { throw fail("sequence_lens is \(v.shape), expected [\(B)]") }
            let l = try v.scalars.map { s -> Int in
                guard s == s.rounded(), s >= 1, s <= Float(T) else { throw fail("sequence_lens holds \(s); each length must be a whole number in 1...\(T)") }
                return Int(s)
            }
            if l.contains(where: { $0 != T }) { lengths = l }
        }
        // A reverse-only node is the forward layer run on each sequence reversed within its length.
        let I = n.inputSize
        func reversed(_ v: [Float], features F: Int) -> [Float] {
            var r = v
            for b in 0..<B {
                let len = lengths?[b] ?? T
                for t in 0..<len { for f in 0..<F { r[(t * B + b) * F + f] = v[((len - 1 - t) * B + b) * F + f] } }
            }
            return r
        }
        if n.direction == .reverse { input = reversed(input, features: I) }
        let r: (output: Tensor, h: Tensor, c: Tensor?, prediction: Tensor?)
        do {
            r = try withoutGradients { try model(Tensor(shape: [T, B, I], scalars: input), h0: h0, c0: c0, lengths: lengths) }
        } catch {
            throw fail("\(error)")
        }
        var y = r.output.scalars  // [T, B, D·H]
        if n.direction == .reverse { y = reversed(y, features: H) }
        // [T, B, D, H] → [T, D, B, H] (layout 0) or [B, T, D, H] (layout 1).
        var yOut = [Float](repeating: 0, count: y.count)
        for t in 0..<T { for b in 0..<B { for d in 0..<D { for h in 0..<H {
            let src = ((t * B + b) * D + d) * H + h
            let dst = n.layout == 0 ? ((t * D + d) * B + b) * H + h : ((b * T + t) * D + d) * H + h
            yOut[dst] = y[src]
        } } } }
        func stateOut(_ s: Tensor) -> TensorData {
            n.layout == 0 ? TensorData(shape: [D, B, H], scalars: s.scalars) : TensorData(shape: [B, D, H], scalars: swap01(s.scalars, D, B, H))
        }
        if !n.outputNames.y.isEmpty { values[n.outputNames.y] = TensorData(shape: n.layout == 0 ? [T, D, B, H] : [B, T, D, H], scalars: yOut) }
        if !n.outputNames.yH.isEmpty { values[n.outputNames.yH] = stateOut(r.h) }
        if !n.outputNames.yC.isEmpty, let c = r.c { values[n.outputNames.yC] = stateOut(c) }
    }
}

/// `[A, B, F]` → `[B, A, F]`.
func swap01(_ v: [Float], _ a: Int, _ b: Int, _ f: Int) -> [Float] {
    var r = v
    for i in 0..<a { for j in 0..<b { for k in 0..<f { r[(j * a + i) * f + k] = v[(i * b + j) * f + k] } } }
    return r
}

extension RecurrentModel {
    /// The Recurrent model of a one-node ONNX graph (PyTorch's names, gate orders and shapes; the
    /// model runs time-major like the node with `layout=0`).
    ///
    /// A reverse-only node has no PyTorch equivalent (`nn.LSTM` has no such direction) and is
    /// refused here; ``ONNXModel/run(_:)`` runs it.
    public convenience init(onnx: ONNXModel) throws {
        guard onnx.recurrentNodes.count == 1, let n = onnx.recurrentNodes.first else {
            throw ONNXError("the graph has \(onnx.recurrentNodes.count) recurrent nodes; a Recurrent model is made from one")
        }
        guard n.direction != .reverse else {
            throw ONNXError("\(n.kind.rawValue.uppercased()) node '\(n.name)': direction reverse has no PyTorch equivalent (run the ONNX model instead)")
        }
        self.init(n.architecture)
        try loadStateDict(n.stateDict)
    }
}
