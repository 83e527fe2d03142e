import Foundation
import Recurrent

/// Writes the graph of ``RecurrentModel/onnxModel(initialStates:graphName:)``, in the order its
/// DocC comment gives: input (transposed, encoded), one recurrent node per layer joined by
/// reshapes, the states concatenated, the output (transposed back), the head.
struct ONNXGraphBuilder {
    let model: RecurrentModel
    let initialStates: Bool
    var graph = Onnx_GraphProto()
    /// `D`, `H`, `L`.
    let directions: Int, hidden: Int, layers: Int

    init(model: RecurrentModel, initialStates: Bool) {
        self.model = model
        self.initialStates = initialStates
        let a = model.architecture
        (directions, hidden, layers) = (a.bidirectional ? 2 : 1, a.hiddenSize, a.numLayers)
    }

    /// The layer's parameters by PyTorch's name (`weight_ih_l0`, …), as flat arrays.
    var parameters: [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.layer.namedParameters.map { ($0.name, $0.tensor.scalars) })
    }

    mutating func build() throws -> Onnx_GraphProto {
        let a = model.architecture
        let (D, H, L) = (directions, hidden, layers)
        let isLSTM = a.kind == .lstm
        let tokens = a.tokenCount != nil
        let inputDims: [Any] = tokens ? (a.batchFirst ? ["N", "T"] : ["T", "N"]) : (a.batchFirst ? ["N", "T", a.inputSize] : ["T", "N", a.inputSize])
        graph.input = [.tensor("input", elementType: tokens ? .int64 : .float, inputDims)]
        if initialStates {
            graph.input.append(.float("h0", [D * L, "N", H]))
            if isLSTM { graph.input.append(.float("c0", [D * L, "N", H])) }
        }

        // 1–2. Time-major, then encoded: x [T, N, I].
        var x = "input"
        if a.batchFirst {
            x = node("Transpose", [x], "input_time_major", [.ints("perm", tokens ? [1, 0] : [1, 0, 2])])
        }
        switch a.inputEncoding {
        case .features: break
        case .embedding:
            let weight = model.embedding!.weight
            x = node("Gather", [initializer("embedding", weight.scalars, weight.shape), x], "input_encoded", [.int("axis", 0)])
        case .oneHot:
            let I = a.inputSize
            var eye = [Float](repeating: 0, count: I * I)
            for i in 0..<I { eye[i * I + i] = 1 }
            x = node("Gather", [initializer("one_hot", eye, [I, I]), x], "input_encoded", [.int("axis", 0)])
        }

        // 3. One node per layer; h_n and c_n gathered from every layer's.
        let params = parameters
        var hs: [String] = [], cs: [String] = []
        for l in 0..<L {
            var h0 = "", c0 = ""
            if initialStates {
                h0 = L == 1 ? "h0" : rows(of: "h0", layer: l)
                if isLSTM { c0 = L == 1 ? "c0" : rows(of: "c0", layer: l) }
            }
            let outputs = (y: "Y_l\(l)", h: L == 1 ? "h_n" : "h_n_l\(l)", c: L == 1 ? "c_n" : "c_n_l\(l)")
            try recurrentNode(layer: l, input: x, inputSize: l == 0 ? a.inputSize : D * H, h0: h0, c0: c0, params: params, outputs: outputs)
            hs.append(outputs.h)
            cs.append(outputs.c)
            // Y [T, D, N, H] → [T, N, D·H]: the next layer's input, or the time-major output.
            let joined = l < L - 1 ? "X_l\(l + 1)" : a.batchFirst ? "output_time_major" : "output"
            if D == 1 {
                x = node("Squeeze", [outputs.y, int64s("axes_1", [1])], joined)
            } else {
                let t = node("Transpose", [outputs.y], "Y_l\(l)_transposed", [.ints("perm", [0, 2, 1, 3])])
                x = node("Reshape", [t, int64s("shape_T_N_DH", [0, 0, Int64(D * H)])], joined)
            }
        }
        if L > 1 {
            node("Concat", hs, "h_n", [.int("axis", 0)])
            if isLSTM { node("Concat", cs, "c_n", [.int("axis", 0)]) }
        }

        // 4. The output in the model's layout.
        let timeMajor = x
        if a.batchFirst { node("Transpose", [timeMajor], "output", [.ints("perm", [1, 0, 2])]) }
        let F = D * H
        let outputDims: [Any] = a.batchFirst ? ["N", "T", F] : ["T", "N", F]
        graph.output = [.float("output", outputDims), .float("h_n", [D * L, "N", H])]
        if isLSTM { graph.output.append(.float("c_n", [D * L, "N", H])) }

        // 5. The head, as RecurrentModel applies it.
        if let head = model.head {
            let out = a.headOutputSize
            switch a.headPlacement {
            case .everyStep:
                var wT = [Float](repeating: 0, count: F * out)  // weightᵀ [F, out]
                let w = head.weight.scalars
                for o in 0..<out { for f in 0..<F { wT[f * out + o] = w[o * F + f] } }
                let product = node("MatMul", ["output", initializer("head_weight_t", wT, [F, out])], head.bias == nil ? "prediction" : "head_product")
                if let bias = head.bias {
                    node("Add", [product, initializer("head_bias", bias.scalars, [out])], "prediction")
                }
                graph.output.append(.float("prediction", a.batchFirst ? ["N", "T", out] : ["T", "N", out]))
            case .lastStep:
                // The last step of the time-major output: Gather with the scalar index −1 → [N, F].
                graph.initializer.append(Onnx_TensorProto(name: "index_last", int64s: [-1], dims: []))
                let lastStep = node("Gather", [timeMajor, "index_last"], "output_last_step", [.int("axis", 0)])
                var inputs = [lastStep, initializer("head_weight", head.weight.scalars, [out, F])]
                if let bias = head.bias { inputs.append(initializer("head_bias", bias.scalars, [out])) }
                node("Gemm", inputs, "prediction", [.int("transB", 1)])
                graph.output.append(.float("prediction", ["N", out]))
            }
        }
        return graph
    }

    /// Adds a node named after its (one) output and returns that output.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = output
        n.input = inputs
        n.output = [output]
        n.attribute = attributes
        graph.node.append(n)
        return output
    }

    /// Adds a float initializer and returns its name.
    mutating func initializer(_ name: String, _ values: [Float], _ dims: [Int]) -> String {
        graph.initializer.append(Onnx_TensorProto(name: name, floats: values, dims: dims))
        return name
    }

    /// Adds a 1-D int64 initializer unless one of that name is there, and returns its name.
    mutating func int64s(_ name: String, _ values: [Int64]) -> String {
        if !graph.initializer.contains(where: { $0.name == name }) {
            graph.initializer.append(Onnx_TensorProto(name: name, int64s: values, dims: [values.count]))
        }
        return name
    }

    /// `Slice` of `state` `[D·L, N, H]`: layer `l`'s rows `l·D ..< (l+1)·D` → `[D, N, H]`.
    mutating func rows(of state: String, layer l: Int) -> String {
        let D = Int64(directions)
        return node("Slice", [state, int64s("start_l\(l)", [Int64(l) * D]), int64s("end_l\(l)", [Int64(l + 1) * D]), int64s("axes_0", [0])],
                    "\(state)_l\(l)")
    }

    /// Layer `l`'s `LSTM` / `GRU` / `RNN` node: `X` `[T, N, inputSize]` → `Y` `[T, D, N, H]`, `Y_h`
    /// (`Y_c`) `[D, N, H]`, its weights as initializers in ONNX's gate orders.
    mutating func recurrentNode(layer l: Int, input: String, inputSize I: Int, h0: String, c0: String, params: [String: [Float]],
                                outputs: (y: String, h: String, c: String)) throws {
        let a = model.architecture
        let (D, H) = (directions, hidden)
        let gates = a.kind == .lstm ? 4 : a.kind == .gru ? 3 : 1
        let order: [Int] = switch a.kind {  // for each ONNX block, ours
        case .lstm: [0, 3, 1, 2]  // i, o, f, c ← i, f, g, o
        case .gru: [1, 0, 2]      // z, r, h ← r, z, n
        case .rnn: [0]
        }
        func parameter(_ name: String) throws -> [Float] {
            guard let v = params[name] else { throw ONNXError("cannot export: the model has no parameter '\(name)'") }
            return v
        }
        func blocks(_ v: [Float], size: Int, order: [Int]) -> [Float] { order.flatMap { v[($0 * size)..<(($0 + 1) * size)] } }
        var w: [Float] = [], r: [Float] = [], b: [Float] = [], p: [Float] = []
        for d in 0..<D {
            let s = "_l\(l)" + (d == 1 ? "_reverse" : "")
            w += blocks(try parameter("weight_ih" + s), size: H * I, order: order)
            r += blocks(try parameter("weight_hh" + s), size: H * H, order: order)
            if a.bias {
                b += blocks(try parameter("bias_ih" + s), size: H, order: order) + blocks(try parameter("bias_hh" + s), size: H, order: order)
            }
            if a.options.peephole { p += blocks(try parameter("weight_peephole" + s), size: H, order: [0, 2, 1]) }
        }
        // Inputs: X, W, R, B, sequence_lens, initial_h, initial_c, P ("" where not given).
        var inputs = [input, initializer("W_l\(l)", w, [D, gates * H, I]), initializer("R_l\(l)", r, [D, gates * H, H]), "", "", h0, c0, ""]
        if a.bias { inputs[3] = initializer("B_l\(l)", b, [D, 2 * gates * H]) }
        if a.options.peephole { inputs[7] = initializer("P_l\(l)", p, [D, 3 * H]) }
        if a.kind != .lstm { inputs.removeLast(2) }
        while inputs.last == "" { inputs.removeLast() }

        var n = Onnx_NodeProto()
        n.opType = a.kind.rawValue.uppercased()
        n.name = "\(a.kind.rawValue)_l\(l)"
        n.input = inputs
        n.output = [outputs.y, outputs.h] + (a.kind == .lstm ? [outputs.c] : [])
        n.attribute.append(.int("hidden_size", H))
        n.attribute.append(.string("direction", D == 2 ? "bidirectional" : "forward"))
        let defaults: [Activation] = switch a.kind {
        case .lstm: [.sigmoid, .tanh, .tanh]
        case .gru: [.sigmoid, .tanh]
        case .rnn: [a.nonlinearity == .relu ? .relu : .tanh]
        }
        let forward = a.options.activations ?? defaults
        let acts = forward + (D == 2 ? (a.options.reverseActivations ?? forward) : [])
        n.attribute.append(.strings("activations", acts.map(\.onnxName)))
        // ONNX Runtime reads activation_alpha / activation_beta packed: one entry per activation
        // that takes the parameter, in order (see CellVariants.md).
        let takesAlpha: Set = ["Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"]
        let takesBeta: Set = ["Affine", "ScaledTanh", "HardSigmoid"]
        let alphas = acts.filter { takesAlpha.contains($0.onnxName) }.map(\.parameters.alpha)
        let betas = acts.filter { takesBeta.contains($0.onnxName) }.map(\.parameters.beta)
        if !alphas.isEmpty { n.attribute.append(.floats("activation_alpha", alphas)) }
        if !betas.isEmpty { n.attribute.append(.floats("activation_beta", betas)) }
        if let clip = a.options.clip { n.attribute.append(.float("clip", clip)) }
        if a.kind == .lstm && a.options.coupledInputForget { n.attribute.append(.int("input_forget", 1)) }
        if a.kind == .gru { n.attribute.append(.int("linear_before_reset", a.options.resetAfter ? 1 : 0)) }
        graph.node.append(n)
    }
}
