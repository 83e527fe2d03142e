import Foundation
import Recurrent
import SwiftProtobuf

extension RecurrentModel {
    /// The model as an ONNX graph (opset 14, IR 8) that ONNX Runtime runs: one `LSTM` / `GRU` /
    /// `RNN` node, `layout=0`, graph input `X` `[T, N, I]`, outputs `Y` `[T, D, N, H]` and `Y_h`
    /// (and `Y_c`) `[D, N, H]`, with `T` and `N` dynamic; every cell option is written as its
    /// ONNX attribute (peepholes as `P`, `input_forget`, `linear_before_reset`, `activations` with
    /// `activation_alpha/beta` packed as ONNX Runtime reads them, `clip`).
    ///
    /// - Throws: ``ONNXError`` for what this exporter does not write: a projection or layer norm
    ///   (ONNX's operators have neither), token input, more than one layer, or a head.
    public func onnxModel(graphName: String = "recurrent") throws -> Onnx_ModelProto {
        let a = architecture
        let kindName = a.kind.rawValue.uppercased()
        if a.projSize > 0 { throw ONNXError("cannot export: ONNX's LSTM has no projection (proj_size \(a.projSize))") }
        if a.options.layerNorm { throw ONNXError("cannot export: ONNX's \(kindName) has no layer normalisation") }
        if a.inputEncoding != .features { throw ONNXError("cannot export: token input (embedding or one-hot) is not written yet; export a model with feature input") }
        if a.numLayers != 1 { throw ONNXError("cannot export: \(a.numLayers) layers; this exporter writes one-layer models only (yet)") }
        if a.headPrefix != nil { throw ONNXError("cannot export: the Linear head is not written yet") }
        let D = a.bidirectional ? 2 : 1, H = a.hiddenSize, I = a.inputSize
        let gates = a.kind == .lstm ? 4 : a.kind == .gru ? 3 : 1
        let order: [Int] = switch a.kind {  // for each ONNX block, ours
        case .lstm: [0, 3, 1, 2]  // i, o, f, c ← i, f, g, o
        case .gru: [1, 0, 2]      // z, r, h ← r, z, n
        case .rnn: [0]
        }
        let params = Dictionary(uniqueKeysWithValues: layer.namedParameters.map { ($0.name, $0.tensor.scalars) })
        func blocks(_ v: [Float], size: Int, order: [Int]) -> [Float] { order.flatMap { v[($0 * size)..<(($0 + 1) * size)] } }
        var w: [Float] = [], r: [Float] = [], b: [Float] = [], p: [Float] = []
        for d in 0..<D {
            let s = "_l0" + (d == 1 ? "_reverse" : "")
            w += blocks(params["weight_ih" + s]!, size: H * I, order: order)
            r += blocks(params["weight_hh" + s]!, size: H * H, order: order)
            if a.bias {
                b += blocks(params["bias_ih" + s]!, size: H, order: order) + blocks(params["bias_hh" + s]!, size: H, order: order)
            }
            if a.options.peephole { p += blocks(params["weight_peephole" + s]!, size: H, order: [0, 2, 1]) }
        }
        var graph = Onnx_GraphProto()
        graph.name = graphName
        graph.initializer = [Onnx_TensorProto(name: "W", floats: w, dims: [D, gates * H, I]),
                             Onnx_TensorProto(name: "R", floats: r, dims: [D, gates * H, H])]
        var inputs = ["X", "W", "R", "", "", "", "", ""]
        if a.bias {
            graph.initializer.append(Onnx_TensorProto(name: "B", floats: b, dims: [D, 2 * gates * H]))
            inputs[3] = "B"
        }
        if a.options.peephole {
            graph.initializer.append(Onnx_TensorProto(name: "P", floats: p, dims: [D, 3 * H]))
            inputs[7] = "P"
        }
        while inputs.last == "" { inputs.removeLast() }
        var node = Onnx_NodeProto()
        node.opType = kindName
        node.name = a.kind.rawValue
        node.input = inputs
        node.output = ["Y", "Y_h"] + (a.kind == .lstm ? ["Y_c"] : [])
        node.attribute.append(.int("hidden_size", H))
        node.attribute.append(.string("direction", a.bidirectional ? "bidirectional" : "forward"))
        let defaults: [Activation] = switch a.kind {
        case .lstm: [.sigmoid, .tanh, .tanh]
        case .gru: [.sigmoid, .tanh]
        case .rnn: [a.nonlinearity == .relu ? .relu : .tanh]
        }
        let forward = a.options.activations ?? defaults
        let acts = forward + (D == 2 ? (a.options.reverseActivations ?? forward) : [])
        node.attribute.append(.strings("activations", acts.map(\.onnxName)))
        let takesAlpha: Set = ["Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"]
        let takesBeta: Set = ["Affine", "ScaledTanh", "HardSigmoid"]
        let alphas = acts.filter { takesAlpha.contains($0.onnxName) }.map(\.parameters.alpha)
        let betas = acts.filter { takesBeta.contains($0.onnxName) }.map(\.parameters.beta)
        if !alphas.isEmpty { node.attribute.append(.floats("activation_alpha", alphas)) }
        if !betas.isEmpty { node.attribute.append(.floats("activation_beta", betas)) }
        if let clip = a.options.clip { node.attribute.append(.float("clip", clip)) }
        if a.kind == .lstm && a.options.coupledInputForget { node.attribute.append(.int("input_forget", 1)) }
        if a.kind == .gru { node.attribute.append(.int("linear_before_reset", a.options.resetAfter ? 1 : 0)) }
        graph.node = [node]
        graph.input = [.float("X", ["T", "N", I])]
        graph.output = [.float("Y", ["T", D, "N", H]), .float("Y_h", [D, "N", H])] + (a.kind == .lstm ? [.float("Y_c", [D, "N", H])] : [])
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "Recurrent"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = 14
        model.opsetImport = [opset]
        model.graph = graph
        return model
    }

    /// Writes ``onnxModel(graphName:)`` to `url`.
    public func saveONNX(to url: URL) throws {
        let data: Data = try onnxModel().serializedBytes()
        try data.write(to: url, options: .atomic)
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ v: Int) -> Self { var a = Self(); a.name = name; a.type = .int; a.i = Int64(v); return a }
    static func float(_ name: String, _ v: Float) -> Self { var a = Self(); a.name = name; a.type = .float; a.f = v; return a }
    static func floats(_ name: String, _ v: [Float]) -> Self { var a = Self(); a.name = name; a.type = .floats; a.floats = v; return a }
    static func string(_ name: String, _ v: String) -> Self { var a = Self(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a }
    static func strings(_ name: String, _ v: [String]) -> Self { var a = Self(); a.name = name; a.type = .strings; a.strings = v.map { Data($0.utf8) }; return a }
}

extension Onnx_ValueInfoProto {
    /// A float tensor whose dimensions are sizes (Int) or names of dynamic axes (String).
    static func float(_ name: String, _ dims: [Any]) -> Self {
        var v = Self()
        v.name = name
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let n = d as? Int { dim.dimValue = Int64(n) } else { dim.dimParam = "\(d)" }
            return dim
        }
        var t = Onnx_TypeProto.Tensor()
        t.elemType = 1
        t.shape = shape
        v.type.tensorType = t
        return v
    }
}
