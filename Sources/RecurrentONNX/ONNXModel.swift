import Foundation
import Recurrent
import SwiftProtobuf

/// An ONNX model whose graph Recurrent can run: `LSTM`, `GRU` and `RNN` nodes (every attribute and
/// input) with the shape plumbing and `Linear` heads that exporters write around them, as
/// `torch.onnx.export` does with either exporter.
///
/// The graph is interpreted node by node, in order, on float32 tensors (the data) and int64
/// tensors (shapes, axes, indices). The operators besides the recurrent ones: `Identity`,
/// `Constant`, `Shape`, `Gather`, `Unsqueeze`, `Squeeze`, `Concat`, `ConstantOfShape`, `Expand`,
/// `Transpose`, `Slice`, `Reshape`, `Split`, `Cast`, `Add`, `Sub`, `Mul`, `Div`, `MatMul`, `Gemm`,
/// `Tanh`, `Relu`, `Sigmoid`, each with ONNX's semantics for opsets 7 to 22. Anything else (an
/// operator, an attribute, an input it does not take) is refused when the model loads, with a
/// one-line ``ONNXError`` naming the node; shapes are checked as the graph runs.
///
/// ```swift
/// let onnx = try ONNXModel.load(from: URL(fileURLWithPath: "lstm.onnx"))
/// let outputs = try onnx.run(["X": x])           // like onnxruntime's session.run(None, {"X": x})
/// let model = try RecurrentModel(onnx: onnx)     // the same weights as a PyTorch-style model
/// ```
public struct ONNXModel {
    /// The parsed protobuf.
    public let proto: Onnx_ModelProto
    /// The default domain's opset (7 to 22).
    public let opset: Int
    /// The graph's inputs that must be fed (inputs that are not initializers), in order.
    public let inputNames: [String]
    /// The graph's outputs, in order.
    public let outputNames: [String]
    /// The recurrent nodes, in graph order.
    public let recurrentNodes: [ONNXRecurrentNode]
    /// Initializers, `Constant` outputs and everything computed from them alone (folded at load).
    let constants: [String: ONNXValue]
    /// The declared element type of each graph input that declares one (1 float, 6 int32, 7 int64).
    let inputTypes: [String: Int32]
    /// The declared dimensions of each graph input (nil for a dynamic axis).
    let inputShapes: [String: [Int?]]
    /// The nodes left to run after folding, in order, each with its recurrent node's index.
    let steps: [(node: ONNXNode, recurrent: Int?)]
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

    /// Checks `proto`: every node's operator, attributes and input count, that each input is given
    /// before it is read (no cycle, nothing missing), the initializers' sizes; folds what depends
    /// on constants only (so weights computed from initializers are found) and builds every
    /// recurrent node's model.
    public init(_ proto: Onnx_ModelProto) throws {
        self.proto = proto
        guard proto.hasGraph else { throw ONNXError("the model has no graph") }
        let imports = proto.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let version = imports.first?.version else { throw ONNXError("the model imports no opset of the default domain") }
        guard version >= 7 else { throw ONNXError("opset \(version) is older than 7, the first with today's LSTM/GRU/RNN") }
        guard version <= 22 else { throw ONNXError("opset \(version) is newer than 22, the last whose operators Recurrent implements") }
        opset = Int(version)
        let graph = proto.graph
        if !graph.sparseInitializer.isEmpty { throw ONNXError("sparse initializers are not supported") }
        var constants: [String: ONNXValue] = [:]
        for t in graph.initializer { constants[t.name] = try t.decoded() }
        inputNames = graph.input.map(\.name).filter { constants[$0] == nil }
        outputNames = graph.output.map(\.name)
        var types: [String: Int32] = [:], shapes: [String: [Int?]] = [:]
        for i in graph.input where constants[i.name] == nil && i.type.tensorType.elemType != 0 {
            let t = i.type.tensorType
            guard [1, 6, 7].contains(t.elemType) else {
                throw ONNXError("graph input '\(i.name)' has element type \(t.elemType); Recurrent feeds float (1), int32 (6) and int64 (7)")
            }
            types[i.name] = t.elemType
            if t.hasShape { shapes[i.name] = t.shape.dim.map { $0.dimValue > 0 ? Int($0.dimValue) : nil } }
        }
        inputTypes = types
        inputShapes = shapes
        var known = Set(inputNames).union(constants.keys)
        var nodes: [ONNXRecurrentNode] = [], steps: [(node: ONNXNode, recurrent: Int?)] = []
        for (k, p) in graph.node.enumerated() {
            let node = try ONNXNode(p, index: k, opset: opset)
            for i in p.input where !i.isEmpty && !known.contains(i) {
                throw ONNXError("node '\(node.label)' reads '\(i)', which no graph input, initializer or earlier node gives (a missing input, or a cycle)")
            }
            for o in p.output where !o.isEmpty {
                guard !known.contains(o) else { throw ONNXError("node '\(node.label)' writes '\(o)', which is already given (a graph input, an initializer or an earlier node's output)") }
                known.insert(o)
            }
            if node.isRecurrent {
                nodes.append(try ONNXRecurrentNode(p, label: node.label, constants: constants))
                steps.append((node, nodes.count - 1))
            } else if p.input.allSatisfy({ $0.isEmpty || constants[$0] != nil }) {
                let outputs = try node.apply(p.input.map { $0.isEmpty ? nil : constants[$0] })
                for (name, v) in zip(p.output, outputs) where !name.isEmpty { constants[name] = v }
            } else {
                steps.append((node, nil))
            }
        }
        for o in outputNames where !known.contains(o) { throw ONNXError("graph output '\(o)' is given by no node") }
        recurrentNodes = nodes
        self.steps = steps
        self.constants = constants
        models = try nodes.map { try $0.model() }
    }

    /// Runs the graph as ONNX Runtime's `session.run(None, feeds)` does: `feeds` by graph input
    /// name, every graph output returned under its name (integer outputs as whole floats with
    /// dtype `i64`). A feed for an integer input (such as `sequence_lens`) must hold whole numbers;
    /// a feed's shape must match the dimensions the graph declares.
    public func run(_ feeds: [String: TensorData]) throws -> [String: TensorData] {
        let values = try evaluate(feeds)
        var out: [String: TensorData] = [:]
        for o in outputNames { out[o] = values[o]!.data }
        return out
    }

    /// Every value the graph computes for `feeds` (constants included), by name.
    func evaluate(_ feeds: [String: TensorData]) throws -> [String: ONNXValue] {
        for name in inputNames where feeds[name] == nil { throw ONNXError("no feed for graph input '\(name)' (inputs: \(inputNames.joined(separator: ", ")))") }
        for name in feeds.keys where !inputNames.contains(name) { throw ONNXError("'\(name)' is not a graph input (inputs: \(inputNames.joined(separator: ", ")))") }
        var values = constants
        for (name, feed) in feeds { values[name] = try value(of: feed, for: name) }
        for (node, recurrent) in steps {
            if let r = recurrent {
                try recurrentNodes[r].run(models[r], values: &values)
                continue
            }
            let inputs = try node.inputs.map { name -> ONNXValue? in
                if name.isEmpty { return nil }
                guard let v = values[name] else { throw node.fail("input '\(name)' has no value") }
                return v
            }
            for (name, v) in zip(node.outputs, try node.apply(inputs)) where !name.isEmpty { values[name] = v }
        }
        for o in outputNames where values[o] == nil { throw ONNXError("graph output '\(o)' was not computed (an optional output no node gave)") }
        return values
    }

    /// A feed as a graph value of the input's declared type, its shape checked against the
    /// declared dimensions.
    func value(of feed: TensorData, for name: String) throws -> ONNXValue {
        if let dims = inputShapes[name] {
            guard dims.count == feed.shape.count, zip(dims, feed.shape).allSatisfy({ $0 == nil || $0 == $1 }) else {
                throw ONNXError("feed '\(name)' is \(feed.shape), the graph declares [\(dims.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))]")
            }
        }
        let integer = inputTypes[name].map { $0 != 1 } ?? ![.f32, .f64, .f16, .bf16, .f8e4m3, .f8e5m2].contains(feed.dtype)
        guard integer else {
            if let bad = feed.scalars.firstIndex(where: { !$0.isFinite }) { throw ONNXError("feed '\(name)' holds \(feed.scalars[bad]) at flat index \(bad)") }
            return ONNXValue(shape: feed.shape, floats: feed.scalars)
        }
        let ints = try feed.scalars.enumerated().map { i, v -> Int in
            guard v.isFinite, v == v.rounded(), abs(v) <= 16_777_216 else { throw ONNXError("feed '\(name)' is an integer input, but holds \(v) at flat index \(i)") }
            return Int(v)
        }
        return ONNXValue(shape: feed.shape, ints: ints)
    }
}
