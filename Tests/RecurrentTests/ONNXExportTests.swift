import Foundation
import Testing
@testable import Recurrent
import RecurrentONNX

/// `onnxModel(initialStates:)` / `recurrent export`: the graph's structure (inputs and outputs with
/// PyTorch's names and symbolic `T`, `N`; one node per layer with every attribute; initializers in
/// ONNX's gate orders; the helper nodes), refusals, and the Swift round trip export →
/// `ONNXModel(serialized:)` → `run` → the model's own outputs. ONNX Runtime runs a larger grid of
/// the same exports in `Tools/check_onnx_export.py` (by hand, where it is installed).
@Suite struct ONNXExportTests {
    /// One exported model: its architecture and whether the graph takes `h0` / `c0`.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var architecture: ModelArchitecture
        var initialStates = false
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        func a(_ kind: ModelArchitecture.Kind, layers: Int = 1, bidirectional: Bool = false, bias: Bool = true, nonlinearity: Nonlinearity = .tanh,
               batchFirst: Bool = false, head: ModelArchitecture.HeadPlacement? = nil, headBias: Bool = true,
               encoding: ModelArchitecture.InputEncoding = .features, _ options: CellOptions = CellOptions()) -> ModelArchitecture {
            ModelArchitecture(kind: kind, nonlinearity: nonlinearity, inputSize: encoding == .oneHot ? 5 : 4, hiddenSize: 3, numLayers: layers,
                              bidirectional: bidirectional, bias: bias, batchFirst: batchFirst, prefix: "rnn.", headPrefix: head == nil ? nil : "fc.",
                              headOutputSize: head == nil ? 0 : 2, headBias: headBias, headPlacement: head ?? .everyStep,
                              inputEncoding: encoding, options: options)
        }
        let lstmActivations = CellOptions(activations: [.hardSigmoid(alpha: 0.3, beta: 0.4), .scaledTanh(alpha: 0.9, beta: 1.1), .softsign],
                                          reverseActivations: [.sigmoid, .elu(alpha: 0.7), .affine(alpha: 0.8, beta: 0.1)], clip: 0.7)
        return [
            Case(name: "lstm", architecture: a(.lstm)),
            Case(name: "lstm_peephole_bidirectional", architecture: a(.lstm, bidirectional: true, CellOptions(peephole: true))),
            Case(name: "lstm_coupled_no_bias", architecture: a(.lstm, bias: false, CellOptions(coupledInputForget: true))),
            Case(name: "lstm_2_layers_bi_batch_first_head_h0", architecture: a(.lstm, layers: 2, bidirectional: true, batchFirst: true, head: .everyStep),
                 initialStates: true),
            Case(name: "lstm_3_layers_peephole_coupled_last_h0", architecture: a(.lstm, layers: 3, head: .lastStep,
                                                                               CellOptions(peephole: true, coupledInputForget: true)), initialStates: true),
            Case(name: "lstm_2_layers_bi_activations_clip", architecture: a(.lstm, layers: 2, bidirectional: true, lstmActivations)),
            Case(name: "gru_reset_after_bi", architecture: a(.gru, bidirectional: true)),
            Case(name: "gru_reset_before_3_layers_bi_batch_first_last", architecture: a(.gru, layers: 3, bidirectional: true, batchFirst: true,
                                                                                       head: .lastStep, CellOptions(resetAfter: false))),
            Case(name: "gru_2_layers_activations_h0", architecture: a(.gru, layers: 2, CellOptions(
                resetAfter: false, activations: [.sigmoid, .leakyRelu(alpha: 0.2)], clip: 0.9)), initialStates: true),
            Case(name: "gru_2_layers_head_no_bias", architecture: a(.gru, layers: 2, head: .everyStep, headBias: false)),
            Case(name: "rnn_relu_2_layers_bi_h0", architecture: a(.rnn, layers: 2, bidirectional: true, nonlinearity: .relu), initialStates: true),
            Case(name: "rnn_tanh_3_layers_batch_first_head", architecture: a(.rnn, layers: 3, batchFirst: true, head: .everyStep)),
            Case(name: "rnn_activations_bi", architecture: a(.rnn, bidirectional: true, CellOptions(
                activations: [.leakyRelu(alpha: 0.2)], reverseActivations: [.thresholdedRelu(alpha: 0.1)]))),
            Case(name: "lstm_embedding_2_layers_batch_first_last", architecture: a(.lstm, layers: 2, batchFirst: true, head: .lastStep,
                                                                                  encoding: .embedding(prefix: "embedding.", count: 6))),
            Case(name: "gru_one_hot_bi_head_h0", architecture: a(.gru, bidirectional: true, head: .everyStep, encoding: .oneHot), initialStates: true),
        ]
    }()

    /// ONNX's gate blocks, each as PyTorch's block: LSTM `i, o, f, c` ← `i, f, g, o`; GRU `z, r, h`
    /// ← `r, z, n`; peepholes `i, o, f` ← `i, f, o` (written out here, not taken from the exporter).
    static func onnxBlocks(_ kind: ModelArchitecture.Kind) -> [Int] {
        switch kind {
        case .lstm: [0, 3, 1, 2]
        case .gru: [1, 0, 2]
        case .rnn: [0]
        }
    }

    static func model(_ c: Case) -> RecurrentModel {
        withRandomSeed(UInt64(c.name.utf8.count)) { RecurrentModel(c.architecture) }
    }

    func dims(_ v: Onnx_ValueInfoProto) -> [String] {
        v.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }
    }

    func floats(_ graph: Onnx_GraphProto, _ name: String) throws -> (dims: [Int], values: [Float]) {
        let t = try #require(graph.initializer.first { $0.name == name }, "initializer \(name)")
        #expect(t.dataType == 1, "\(name) is float")
        let values = stride(from: 0, to: t.rawData.count, by: 4).map { i in
            Float(bitPattern: t.rawData[(t.rawData.startIndex + i)..<(t.rawData.startIndex + i + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        }
        return (t.dims.map { Int($0) }, values)
    }

    /// Inputs and outputs, node by node: one recurrent node per layer reading the right input and
    /// states, with every attribute, and its initializers in ONNX's shapes and gate orders.
    @Test(arguments: cases)
    func graphStructure(_ c: Case) throws {
        let a = c.architecture, m = Self.model(c)
        let proto = try m.onnxModel(initialStates: c.initialStates)
        let g = proto.graph
        let (D, H, L) = (a.bidirectional ? 2 : 1, a.hiddenSize, a.numLayers)
        let isLSTM = a.kind == .lstm, tokens = a.inputEncoding != .features
        #expect(proto.opsetImport.map(\.version) == [14])
        #expect(proto.irVersion == 8)

        // Inputs and outputs: PyTorch's names and shapes, T and N symbolic.
        let (t, n) = a.batchFirst ? ("N", "T") : ("T", "N")
        var inputs = [("input", tokens ? [t, n] : [t, n, "4"])]
        if c.initialStates { inputs += [("h0", ["\(D * L)", "N", "\(H)"])] + (isLSTM ? [("c0", ["\(D * L)", "N", "\(H)"])] : []) }
        #expect(g.input.map(\.name) == inputs.map(\.0))
        for (v, (_, want)) in zip(g.input, inputs) { #expect(dims(v) == want, "\(v.name)") }
        #expect(g.input[0].type.tensorType.elemType == (tokens ? 7 : 1))
        var outputs = [("output", [t, n, "\(D * H)"]), ("h_n", ["\(D * L)", "N", "\(H)"])]
        if isLSTM { outputs.append(("c_n", ["\(D * L)", "N", "\(H)"])) }
        if a.headPrefix != nil { outputs.append(("prediction", a.headPlacement == .lastStep ? ["N", "2"] : [t, n, "2"])) }
        #expect(g.output.map(\.name) == outputs.map(\.0))
        for (v, (_, want)) in zip(g.output, outputs) { #expect(dims(v) == want, "\(v.name)") }

        // Only the operators the Swift interpreter runs; every node's inputs given before it.
        let allowed: Set = ["LSTM", "GRU", "RNN", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Concat", "Slice", "Gather", "Shape", "MatMul",
                            "Add", "Gemm", "Identity"]
        var known = Set(g.input.map(\.name) + g.initializer.map(\.name))
        for node in g.node {
            #expect(allowed.contains(node.opType), "\(node.opType)")
            for i in node.input where !i.isEmpty { #expect(known.contains(i), "\(node.name) reads \(i) before it is given") }
            known.formUnion(node.output)
        }
        for o in g.output { #expect(known.contains(o.name)) }

        // One recurrent node per layer, in order.
        let recurrent = g.node.filter { ["LSTM", "GRU", "RNN"].contains($0.opType) }
        try #require(recurrent.count == L)
        let params = Dictionary(uniqueKeysWithValues: m.layer.namedParameters.map { ($0.name, $0.tensor.scalars) })
        let gates = isLSTM ? 4 : a.kind == .gru ? 3 : 1
        for (l, node) in recurrent.enumerated() {
            #expect(node.opType == a.kind.rawValue.uppercased())
            let attributes = Dictionary(uniqueKeysWithValues: node.attribute.map { ($0.name, $0) })
            #expect(attributes["hidden_size"]?.i == Int64(H))
            #expect(attributes["direction"].map { String(decoding: $0.s, as: UTF8.self) } == (D == 2 ? "bidirectional" : "forward"))
            #expect(attributes["layout"] == nil, "layout 0, the default (ONNX Runtime refuses 1)")
            let defaults: [Activation] = switch a.kind {
            case .lstm: [.sigmoid, .tanh, .tanh]
            case .gru: [.sigmoid, .tanh]
            case .rnn: [a.nonlinearity == .relu ? .relu : .tanh]
            }
            let forward = a.options.activations ?? defaults
            let acts = forward + (D == 2 ? (a.options.reverseActivations ?? forward) : [])
            #expect(attributes["activations"]?.strings.map { String(decoding: $0, as: UTF8.self) } == acts.map(\.onnxName))
            #expect(attributes["clip"]?.f == a.options.clip)
            #expect(attributes["input_forget"]?.i == (a.options.coupledInputForget ? 1 : nil))
            #expect(attributes["linear_before_reset"]?.i == (a.kind == .gru ? (a.options.resetAfter ? 1 : 0) : nil))
            // X: the (encoded, time-major) input for layer 0, the previous layer's joined output after.
            if l > 0 { #expect(node.input[0] == "X_l\(l)") }
            let I = l == 0 ? a.inputSize : D * H
            if c.initialStates {
                #expect(node.input[5] == (L == 1 ? "h0" : "h0_l\(l)"))
                if isLSTM { #expect(node.input[6] == (L == 1 ? "c0" : "c0_l\(l)")) }
            } else {
                #expect(node.input.count <= 5 || node.input[5].isEmpty)
            }
            // W, R, B, P: every ONNX block is PyTorch's block of that gate.
            let w = try floats(g, node.input[1]), r = try floats(g, node.input[2])
            #expect(w.dims == [D, gates * H, I] && r.dims == [D, gates * H, H])
            let b = a.bias ? try floats(g, node.input[3]) : nil
            #expect(a.bias || node.input.count < 4 || node.input[3].isEmpty)
            if let b { #expect(b.dims == [D, 2 * gates * H]) }
            let p = a.options.peephole ? try floats(g, node.input[7]) : nil
            if let p { #expect(p.dims == [D, 3 * H]) }
            for d in 0..<D {
                let s = "_l\(l)" + (d == 1 ? "_reverse" : "")
                for (k, ours) in Self.onnxBlocks(a.kind).enumerated() {
                    let wBlock = Array(w.values[((d * gates + k) * H * I)..<((d * gates + k + 1) * H * I)])
                    #expect(wBlock == Array(params["weight_ih" + s]![(ours * H * I)..<((ours + 1) * H * I)]), "W\(s) block \(k)")
                    let rBlock = Array(r.values[((d * gates + k) * H * H)..<((d * gates + k + 1) * H * H)])
                    #expect(rBlock == Array(params["weight_hh" + s]![(ours * H * H)..<((ours + 1) * H * H)]), "R\(s) block \(k)")
                    if let b {
                        let wb = Array(b.values[((2 * d * gates + k) * H)..<((2 * d * gates + k + 1) * H)])
                        let rb = Array(b.values[(((2 * d + 1) * gates + k) * H)..<(((2 * d + 1) * gates + k + 1) * H)])
                        #expect(wb == Array(params["bias_ih" + s]![(ours * H)..<((ours + 1) * H)]), "Wb\(s) block \(k)")
                        #expect(rb == Array(params["bias_hh" + s]![(ours * H)..<((ours + 1) * H)]), "Rb\(s) block \(k)")
                    }
                }
                if let p {
                    for (k, ours) in [0, 2, 1].enumerated() {
                        #expect(Array(p.values[((3 * d + k) * H)..<((3 * d + k + 1) * H)]) ==
                                Array(params["weight_peephole" + s]![(ours * H)..<((ours + 1) * H)]), "P\(s) block \(k)")
                    }
                }
            }
        }
    }

    /// The whole graph of one model, node by node, as the DocC comment describes it.
    @Test func twoLayerBidirectionalBatchFirstGraph() throws {
        let c = Self.cases.first { $0.name == "lstm_2_layers_bi_batch_first_head_h0" }!
        let g = try Self.model(c).onnxModel(initialStates: true).graph
        let nodes = g.node.map { "\($0.opType)(\($0.input.filter { !$0.isEmpty }.joined(separator: ", "))) → \($0.output.joined(separator: ", "))" }
        #expect(nodes == [
            "Transpose(input) → input_time_major",
            "Slice(h0, start_l0, end_l0, axes_0) → h0_l0",
            "Slice(c0, start_l0, end_l0, axes_0) → c0_l0",
            "LSTM(input_time_major, W_l0, R_l0, B_l0, h0_l0, c0_l0) → Y_l0, h_n_l0, c_n_l0",
            "Transpose(Y_l0) → Y_l0_transposed",
            "Reshape(Y_l0_transposed, shape_T_N_DH) → X_l1",
            "Slice(h0, start_l1, end_l1, axes_0) → h0_l1",
            "Slice(c0, start_l1, end_l1, axes_0) → c0_l1",
            "LSTM(X_l1, W_l1, R_l1, B_l1, h0_l1, c0_l1) → Y_l1, h_n_l1, c_n_l1",
            "Transpose(Y_l1) → Y_l1_transposed",
            "Reshape(Y_l1_transposed, shape_T_N_DH) → output_time_major",
            "Concat(h_n_l0, h_n_l1) → h_n",
            "Concat(c_n_l0, c_n_l1) → c_n",
            "Transpose(output_time_major) → output",
            "MatMul(output, head_weight_t) → head_product",
            "Add(head_product, head_bias) → prediction",
        ])
        let ints = Dictionary(uniqueKeysWithValues: g.initializer.filter { $0.dataType == 7 }.map { ($0.name, $0.int64Data) })
        #expect(ints == ["start_l0": [0], "end_l0": [2], "start_l1": [2], "end_l1": [4], "axes_0": [0], "shape_T_N_DH": [0, 0, 6]])
        #expect(g.node[0].attribute.first { $0.name == "perm" }?.ints == [1, 0, 2])
        #expect(g.node[4].attribute.first { $0.name == "perm" }?.ints == [0, 2, 1, 3])
        // The head weight transposed: head_weight_t[f, o] = fc.weight[o, f].
        let m = Self.model(c)
        let wT = try floats(g, "head_weight_t")
        #expect(wT.dims == [6, 2])
        let w = m.head!.weight.scalars
        #expect(wT.values == (0..<6).flatMap { f in (0..<2).map { o in w[o * 6 + f] } })
    }

    /// One layer, one direction: the node's `Y` squeezed, its states named `h_n` / `c_n` directly;
    /// a last-step head is `Gather` of step −1 and `Gemm`; token input is a `Gather` from the table.
    @Test func oneLayerLastStepAndTokenGraphs() throws {
        let last = Self.cases.first { $0.name == "lstm_3_layers_peephole_coupled_last_h0" }!
        var g = try Self.model(last).onnxModel().graph
        #expect(g.node.suffix(2).map(\.opType) == ["Gather", "Gemm"])
        #expect(g.node.suffix(2).first!.input == ["output", "index_last"])
        #expect(g.node.last!.attribute.first { $0.name == "transB" }?.i == 1)
        let index = try #require(g.initializer.first { $0.name == "index_last" })
        #expect(index.dims.isEmpty && index.int64Data == [-1])

        let plain = Self.cases[0]
        g = try Self.model(plain).onnxModel().graph
        #expect(g.node.map(\.opType) == ["LSTM", "Squeeze"])
        #expect(g.node[0].output == ["Y_l0", "h_n", "c_n"] && g.node[1].output == ["output"])

        let tokens = Self.cases.first { $0.name == "lstm_embedding_2_layers_batch_first_last" }!
        let m = Self.model(tokens)
        g = try m.onnxModel().graph
        #expect(Array(g.node.prefix(2).map(\.opType)) == ["Transpose", "Gather"])
        #expect(g.node[1].input == ["embedding", "input_time_major"])
        #expect(try floats(g, "embedding").values == m.embedding!.weight.scalars)
        let oneHot = Self.cases.first { $0.name == "gru_one_hot_bi_head_h0" }!
        g = try Self.model(oneHot).onnxModel().graph
        let eye = try floats(g, "one_hot")
        #expect(eye.dims == [5, 5] && eye.values == (0..<25).map { $0 % 6 == 0 ? 1 : 0 })
    }

    /// Export → re-import → run: the same `output`, `h_n`, `c_n`, `prediction` as the model, on a
    /// batch and length the graph does not fix.
    @Test(arguments: cases)
    func exportReimportsWithTheSameOutputs(_ c: Case) throws {
        let a = c.architecture, m = Self.model(c)
        let (T, B, D, L, H) = (6, 5, a.bidirectional ? 2 : 1, a.numLayers, a.hiddenSize)
        let shape = a.batchFirst ? [B, T] : [T, B]
        let x: Tensor
        if let count = a.tokenCount {
            x = Tensor(shape: shape, scalars: (0..<(T * B)).map { Float(($0 * 7 + 3) % count) })
        } else {
            x = Tensor(shape: shape + [a.inputSize], scalars: testValues(T * B * a.inputSize, seed: 7))
        }
        var feeds = ["input": TensorData(shape: x.shape, scalars: x.scalars)]
        var h0: Tensor?, c0: Tensor?
        if c.initialStates {
            h0 = Tensor(shape: [D * L, B, H], scalars: testValues(D * L * B * H, seed: 8))
            feeds["h0"] = TensorData(shape: h0!.shape, scalars: h0!.scalars)
            if a.kind == .lstm {
                c0 = Tensor(shape: [D * L, B, H], scalars: testValues(D * L * B * H, seed: 9))
                feeds["c0"] = TensorData(shape: c0!.shape, scalars: c0!.scalars)
            }
        }
        let expected = try withoutGradients { try m(x, h0: h0, c0: c0) }
        let data: Data = try m.onnxModel(initialStates: c.initialStates, graphName: c.name).serializedBytes()
        let out = try ONNXModel(serialized: data).run(feeds)
        var want = ["output": expected.output, "h_n": expected.h]
        if let c = expected.c { want["c_n"] = c }
        if let p = expected.prediction { want["prediction"] = p }
        #expect(Set(out.keys) == Set(want.keys))
        for (name, tensor) in want {
            let got = try #require(out[name], "\(c.name): \(name)")
            #expect(got.shape == tensor.shape, "\(c.name): \(name)")
            expectClose(got.scalars, tensor.scalars, "\(c.name) \(name)")
        }
    }

    /// Export → `RecurrentModel(onnx:)`: the same architecture (kind, layers, directions, layout,
    /// cell variant, head placement) and the same weights under PyTorch's names (feature input; the
    /// converter reads no embedding).
    @Test(arguments: cases.filter { $0.architecture.inputEncoding == .features })
    func exportConvertsBackToTheSameModel(_ c: Case) throws {
        let a = c.architecture, m = Self.model(c)
        let back = try RecurrentModel(onnx: ONNXModel(serialized: m.onnxModel(initialStates: c.initialStates).serializedBytes()))
        let b = back.architecture
        #expect(b.kind == a.kind && b.numLayers == a.numLayers && b.bidirectional == a.bidirectional && b.batchFirst == a.batchFirst)
        #expect(b.bias == a.bias && b.hiddenSize == a.hiddenSize && b.inputSize == a.inputSize)
        #expect(b.options == a.options || a.kind == .rnn, "\(b.options) vs \(a.options)")
        #expect((b.headPrefix == nil) == (a.headPrefix == nil))
        if a.headPrefix != nil { #expect(b.headPlacement == a.headPlacement && b.headBias == a.headBias) }
        let ours = Dictionary(uniqueKeysWithValues: m.layer.namedParameters.map { ($0.name, $0.tensor.scalars) })
        let theirs = Dictionary(uniqueKeysWithValues: back.layer.namedParameters.map { ($0.name, $0.tensor.scalars) })
        #expect(ours == theirs)
        #expect(m.head?.weight.scalars == back.head?.weight.scalars && m.head?.bias?.scalars == back.head?.bias?.scalars)
    }

    /// ONNX's operators have no projection and no layer normalisation: a one-line error saying so,
    /// and `saveONNX` leaves no file (and an existing one as it was).
    @Test func whatONNXCannotExpressIsRefused() throws {
        let projection = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3, numLayers: 2, projSize: 2))
        #expect(throws: ONNXError("cannot export: ONNX's LSTM has no projection (proj_size 2); the operator's hidden state is its output")) {
            try projection.onnxModel()
        }
        let norm = RecurrentModel(ModelArchitecture(kind: .gru, inputSize: 2, hiddenSize: 3, options: CellOptions(layerNorm: true)))
        #expect(throws: ONNXError("cannot export: ONNX's GRU has no layer normalisation (the operator has no input for its gains)")) {
            try norm.onnxModel(initialStates: true)
        }
        let wide = RecurrentModel(ModelArchitecture(kind: .rnn, inputSize: RecurrentModel.maxOneHotClasses + 1, hiddenSize: 1, inputEncoding: .oneHot))
        #expect(throws: ONNXError.self) { try wide.onnxModel() }

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(throws: ONNXError.self) { try norm.saveONNX(to: dir.file("norm.onnx")) }
        #expect(dir.contents.isEmpty)
        try Data("keep".utf8).write(to: dir.file("old.onnx"))
        #expect(throws: ONNXError.self) { try projection.saveONNX(to: dir.file("old.onnx")) }
        #expect(try Data(contentsOf: dir.file("old.onnx")) == Data("keep".utf8))
        #expect(throws: FileFormatError.self) { try Self.model(Self.cases[0]).saveONNX(to: dir.file("missing/folder.onnx")) }
        #expect(dir.contents == ["old.onnx"])
    }

    /// `recurrent export` writes the file, says what it wrote, and refuses with one line and no file.
    @Test func exportCommand() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = Self.cases.first { $0.name == "gru_reset_before_3_layers_bi_batch_first_last" }!
        try Self.model(c).save(to: dir.file("gru.safetensors"))
        let r = try CommandRunner.run(["export", dir.path("gru.safetensors"), "--output", dir.path("gru.onnx"), "--initial-states"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            model: GRU(input 4, hidden 3, layers 3, bidirectional, batch-first, reset gate before the product) at 'rnn' + head Linear(6 → 2) on the last step at 'fc'
            graph: input [N, T, 4], h0 [6, N, 3] → output [N, T, 6], h_n [6, N, 3], prediction [N, 2]; 17 nodes (Concat, GRU, Gather, Gemm, Reshape, Slice, Transpose)
            wrote \(dir.path("gru.onnx"))

            """)
        let written = try Onnx_ModelProto(serializedBytes: Data(contentsOf: dir.file("gru.onnx")))
        #expect(written == (try Self.model(c).onnxModel(initialStates: true)))

        try RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3, projSize: 2)).save(to: dir.file("proj.safetensors"))
        let refused = try CommandRunner.run(["export", dir.path("proj.safetensors"), "--output", dir.path("proj.onnx")])
        #expect(refused.status != 0)
        #expect(refused.stderr == "Error: cannot export: ONNX's LSTM has no projection (proj_size 2); the operator's hidden state is its output\n")
        let badName = try CommandRunner.run(["export", dir.path("gru.safetensors"), "--output", dir.path("gru.safetensors.out")])
        #expect(badName.status != 0 && badName.stderr.contains("--output must end in .onnx"))
        #expect(dir.contents == ["gru.onnx", "gru.safetensors", "proj.safetensors"])
    }
}

/// Bad ONNX files: each a one-line ``ONNXError``, no crash.
@Suite struct ONNXMalformedTests {
    static func fixture(_ name: String) throws -> Onnx_ModelProto {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("onnx/\(name).onnx"))
        return try Onnx_ModelProto(serializedBytes: data)
    }

    func expectError(_ proto: Onnx_ModelProto, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ONNXModel(proto)
            Issue.record("no error; expected one containing '\(text)'", sourceLocation: sourceLocation)
        } catch let e as ONNXError {
            #expect(e.description.contains(text), "\(e)", sourceLocation: sourceLocation)
            #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("not an ONNXError: \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedAndGarbageBytes() throws {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("onnx/lstm_forward_layout0.onnx"))
        for cut in [1, 7, data.count / 2, data.count - 3] {
            #expect(throws: ONNXError.self) { try ONNXModel(serialized: data.prefix(cut)) }
        }
        #expect(throws: ONNXError.self) { try ONNXModel(serialized: Data("not a protobuf at all".utf8)) }
    }

    @Test func initializerSizeAndExternalData() throws {
        var m = try Self.fixture("lstm_forward_layout0")
        m.graph.initializer[0].dims[1] += 1
        expectError(m, containing: "need")
        m = try Self.fixture("lstm_forward_layout0")
        m.graph.initializer[0].dataLocation = .external
        expectError(m, containing: "external")
    }

    @Test func unsupportedOperatorAttributeAndMissingInput() throws {
        var m = try Self.fixture("gru_forward_layout0")
        m.graph.node[0].opType = "Conv"
        expectError(m, containing: "operator Conv is not supported")
        m = try Self.fixture("gru_forward_layout0")
        var a = Onnx_AttributeProto(); a.name = "output_sequence"; a.type = .int; a.i = 1
        m.graph.node[0].attribute.append(a)
        expectError(m, containing: "attribute 'output_sequence' is not supported")
        m = try Self.fixture("gru_forward_layout0")
        m.graph.node[0].input[0] = "nowhere"
        expectError(m, containing: "reads 'nowhere'")
        m = try Self.fixture("rnn_forward_layout0")
        m.graph.node[0].attribute = m.graph.node[0].attribute.map { var x = $0; if x.name == "hidden_size" { x.type = .float }; return x }
        expectError(m, containing: "'hidden_size' must be an int")
    }
}
