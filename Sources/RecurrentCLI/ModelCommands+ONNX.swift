import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// `recurrent inspect MODEL.onnx`: the graph (opset, inputs, outputs, operators, recurrent nodes)
/// and the Recurrent model it converts to, or why it does not.
func inspectONNX(_ options: ModelOptions) throws {
    let url = URL(fileURLWithPath: options.model)
    let onnx = try ONNXModel.load(from: url)
    let graph = onnx.proto.graph
    var counts: [String: Int] = [:]
    for n in graph.node { counts[n.opType, default: 0] += 1 }
    let producer = onnx.proto.producerName.isEmpty ? "" : ", from " + [onnx.proto.producerName, onnx.proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
    print(escaped("\(url.lastPathComponent): ONNX opset \(onnx.opset)\(producer), \(graph.node.count) nodes (\(counts.keys.sorted().map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")))"))
    func described(_ v: Onnx_ValueInfoProto) -> String {
        let t = v.type.tensorType
        let type = [1: "float", 6: "int32", 7: "int64"][t.elemType] ?? "type \(t.elemType)"
        guard t.hasShape else { return "\(v.name) \(type)" }
        return "\(v.name) \(type) [\(t.shape.dim.map { $0.dimParam.isEmpty ? ($0.dimValue > 0 ? "\($0.dimValue)" : "?") : $0.dimParam }.joined(separator: ", "))]"
    }
    let inputs = graph.input.filter { onnx.inputNames.contains($0.name) }
    print(escaped("inputs: " + inputs.map(described).joined(separator: "; ")))
    print(escaped("outputs: " + graph.output.map(described).joined(separator: "; ")))
    for n in onnx.recurrentNodes {
        print(escaped("\(n.kind.rawValue.uppercased()) node '\(n.name)': input \(n.inputSize), hidden \(n.hiddenSize), \(n.direction.rawValue), layout \(n.layout)"))
    }
    do {
        let model = try RecurrentModel(onnx: onnx)
        print(escaped("as a Recurrent model: \(model.architecture)"))
        print("parameters: \(model.parameterCount)")
    } catch let e as ONNXError {
        print(escaped("as a Recurrent model: not convertible: \(e)"))
    }
}

/// `recurrent run MODEL.onnx`: the graph run as ONNX Runtime's `session.run(None, feeds)` does,
/// every graph output written under its ONNX name.
func runONNX(_ options: ModelOptions, input: String?, feeds: [String], output: String) throws {
    var paths: [String: String] = [:]
    for f in feeds {
        guard let eq = f.firstIndex(of: "="), eq != f.startIndex, f.index(after: eq) != f.endIndex else {
            throw ValidationError("--feed must be NAME=FILE.npy, got '\(f)'")
        }
        let name = String(f[..<eq])
        guard paths[name] == nil else { throw ValidationError("--feed gives '\(name)' twice") }
        paths[name] = String(f[f.index(after: eq)...])
    }
    try checkDistinct(output: output, from: [options.model, input] + paths.values.map { $0 })
    let onnx = try ONNXModel.load(from: URL(fileURLWithPath: options.model))
    if let input {
        guard onnx.inputNames.count == 1 else {
            throw CommandError("the graph has \(onnx.inputNames.count) inputs (\(onnx.inputNames.joined(separator: ", "))); give each with --feed NAME=FILE.npy")
        }
        paths[onnx.inputNames[0]] = input
    }
    var data: [String: TensorData] = [:]
    for (name, path) in paths { data[name] = try NPY.read(from: URL(fileURLWithPath: path)) }
    let outputs = try onnx.run(data)
    for name in onnx.outputNames {
        if let bad = outputs[name]!.scalars.firstIndex(where: { !$0.isFinite }) {
            throw CommandError("the graph's output '\(escaped(name))' is \(outputs[name]!.scalars[bad]) at flat index \(bad) (an overflow: check the input's scale); nothing written")
        }
    }
    let url = URL(fileURLWithPath: output)
    if output.hasSuffix(".npy") {
        guard onnx.outputNames.count == 1 else {
            throw CommandError("the graph has \(onnx.outputNames.count) outputs; write them to a .safetensors file (a .npy file holds one)")
        }
        try NPY.write(TensorData(shape: outputs[onnx.outputNames[0]]!.shape, scalars: outputs[onnx.outputNames[0]]!.scalars), to: url)
    } else {
        try SafeTensorsFile(tensors: outputs.mapValues { TensorData(shape: $0.shape, scalars: $0.scalars) }).write(to: url)
    }
    print(escaped("wrote \(output): " + onnx.outputNames.map { "\($0) \(outputs[$0]!.shape)" }.joined(separator: ", ")))
}
