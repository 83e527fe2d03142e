import Foundation
import Testing
@testable import Recurrent
@testable import RecurrentONNX

/// Bad ONNX files and graphs for the interpreter: truncated or mistyped protobuf, initializers that
/// do not fit, external data, cycles, missing inputs, and every interpreter operator met with
/// shapes it cannot take. Each is a one-line ``ONNXError`` naming what is wrong, never a crash.
/// (The single-node cases are in `ONNXExportTests.swift`'s `ONNXMalformedTests`.)
@Suite struct ONNXGraphMalformedTests {
    // MARK: Building small graphs

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = "the_\(op.lowercased())"
        n.input = inputs
        n.output = outputs
        n.attribute = attributes
        return n
    }

    static func ints(_ name: String, _ v: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v.map(Int64.init); return a
    }

    static func value(_ name: String, elemType: Int32 = 1) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        v.type.tensorType.elemType = elemType
        return v
    }

    /// A model of `nodes` with float graph inputs `inputs`, int64 initializers `constants`, output `y`.
    static func model(_ nodes: [Onnx_NodeProto], inputs: [String] = ["x"], constants: [String: [Int]] = [:],
                      floats: [String: ([Float], [Int])] = [:], opset: Int64 = 17) -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.node = nodes
        g.input = inputs.map { value($0) }
        g.output = [value(nodes.last?.output.first ?? "y")]
        for (k, v) in constants.sorted(by: { $0.key < $1.key }) { g.initializer.append(Onnx_TensorProto(name: k, int64s: v.map(Int64.init), dims: [v.count])) }
        for (k, v) in floats.sorted(by: { $0.key < $1.key }) { g.initializer.append(Onnx_TensorProto(name: k, floats: v.0, dims: v.1)) }
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto(); o.version = opset
        m.opsetImport = [o]
        m.graph = g
        return m
    }

    static func data(_ shape: [Int]) -> TensorData { TensorData(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float($0) }) }

    /// Expects loading (and, when it loads, running on `feeds`) to throw a one-line error containing `text`.
    func expectError(_ m: Onnx_ModelProto, _ feeds: [String: TensorData] = [:], containing text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let onnx = try ONNXModel(m)
            _ = try onnx.run(feeds)
            Issue.record("no error; expected one containing '\(text)'", sourceLocation: sourceLocation)
        } catch let e as ONNXError {
            #expect(e.description.contains(text), "\(e)", sourceLocation: sourceLocation)
            #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("not an ONNXError: \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Bytes

    @Test func truncatedAtEveryOffset() throws {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("onnx_torch/gru_l1_ts.onnx"))
        var refused = 0
        for cut in 0..<data.count {
            do {
                let onnx = try ONNXModel(serialized: data.prefix(cut))
                // A cut at a field boundary can leave a well-formed, smaller model: it must still run or fail cleanly.
                _ = try? onnx.run(["X": Self.data([2, 1, 3])])
            } catch let e as ONNXError {
                refused += 1
                #expect(!e.description.contains("\n"))
            }
        }
        #expect(refused >= data.count - 2, "\(refused) of \(data.count) cuts refused")
    }

    @Test func wrongWireTypes() throws {
        // Field 7 (graph, a message) as a varint; field 1 (ir_version, a varint) as bytes; field 8
        // (opset_import) with a length past the end; a group wire type.
        for bytes: [UInt8] in [[0x38, 0x01], [0x0A, 0x01, 0x00], [0x42, 0x7F, 0x00], [0x3B, 0x3C], [0x3A, 0x02, 0x0D, 0x00]] {
            #expect(throws: ONNXError.self) { try ONNXModel(serialized: Data(bytes)) }
        }
        // A node's attribute whose type says int but that holds floats.
        var m = Self.model([Self.node("Gather", ["x", "i"], ["y"], [.float("axis", 1)])], constants: ["i": [0]])
        expectError(m, containing: "Gather node 'the_gather': attribute 'axis' must be of type int")  // when it loads
        m = Self.model([Self.node("Transpose", ["x"], ["y"], [.int("perm", 1)])])
        expectError(m, containing: "attribute 'perm' must be of type ints")
    }

    @Test func initializersThatDoNotFit() throws {
        var m = Self.model([Self.node("Identity", ["w"], ["y"])], inputs: [], floats: ["w": ([1, 2, 3], [2, 2])])
        expectError(m, containing: "initializer 'w': dims [2, 2] need 4 values, the data holds 3")
        m = Self.model([Self.node("Identity", ["w"], ["y"])], inputs: [], constants: ["w": [1, 2]])
        m.graph.initializer[0].dims = [3]
        expectError(m, containing: "need 3 values, the data holds 2")
        m.graph.initializer[0].dims = [-1]
        expectError(m, containing: "negative or huge dimension")
        m.graph.initializer[0].dims = [2]
        m.graph.initializer[0].dataType = 9
        expectError(m, containing: "data type 9")
        m = Self.model([Self.node("Identity", ["w"], ["y"])], inputs: [], floats: ["w": ([1, 2], [2])])
        var entry = Onnx_StringStringEntryProto(); entry.key = "location"; entry.value = "weights.bin"
        m.graph.initializer[0].externalData = [entry]
        expectError(m, containing: "external file")
    }

    // MARK: Graph structure

    @Test func cyclesMissingInputsAndDuplicates() throws {
        expectError(Self.model([Self.node("Add", ["x", "b"], ["a"]), Self.node("Mul", ["a", "x"], ["b"])]),
                    containing: "node 'the_add' reads 'b', which no graph input, initializer or earlier node gives (a missing input, or a cycle)")
        expectError(Self.model([Self.node("Identity", ["nowhere"], ["y"])]), containing: "reads 'nowhere'")
        expectError(Self.model([Self.node("Identity", ["x"], ["x"])]), containing: "writes 'x', which is already given")
        var m = Self.model([Self.node("Identity", ["x"], ["y"])])
        m.graph.output[0].name = "z"
        expectError(m, containing: "graph output 'z' is given by no node")
        expectError(Self.model([Self.node("Identity", ["x"], ["y"])]), [:], containing: "no feed for graph input 'x'")
        expectError(Self.model([Self.node("Identity", ["x"], ["y"])]), ["x": Self.data([1]), "q": Self.data([1])], containing: "'q' is not a graph input")
    }

    @Test func operatorsAttributesAndOpsets() throws {
        expectError(Self.model([Self.node("Conv", ["x"], ["y"])]), containing: "node 'the_conv': operator Conv is not supported")
        var custom = Self.node("Identity", ["x"], ["y"]); custom.domain = "com.microsoft"
        expectError(Self.model([custom]), containing: "operator com.microsoft.Identity is not supported")
        // Unsqueeze's axes became an input at opset 13; Slice's starts/ends inputs at 10.
        expectError(Self.model([Self.node("Unsqueeze", ["x"], ["y"], [Self.ints("axes", [0])])], opset: 13),
                    containing: "Unsqueeze node 'the_unsqueeze': attribute 'axes' is not supported at opset 13")
        expectError(Self.model([Self.node("Unsqueeze", ["x", "a"], ["y"])], constants: ["a": [0]], opset: 11),
                    containing: "has 2 inputs; at opset 11 the operator takes 1")
        expectError(Self.model([Self.node("Slice", ["x"], ["y"], [Self.ints("starts", [0]), Self.ints("ends", [1])])], opset: 10),
                    containing: "attribute 'starts' is not supported at opset 10")
        expectError(Self.model([Self.node("Constant", [], ["y"], [.int("value_int", 1), .float("value_float", 1)])], inputs: []),
                    containing: "needs exactly one value attribute, has 2")
        expectError(Self.model([Self.node("Constant", [], ["y"], [.string("value_string", "a")])], inputs: []),
                    containing: "attribute 'value_string' is not supported")
        expectError(Self.model([Self.node("Cast", ["x"], ["y"], [.int("to", 11)])]), ["x": Self.data([2])], containing: "cast to data type 11 is not supported")
        expectError(Self.model([Self.node("Identity", ["x"], ["y"])], opset: 6), containing: "opset 6 is older than 7")
        expectError(Self.model([Self.node("Identity", ["x"], ["y"])], opset: 23), containing: "opset 23 is newer than 22")
    }

    /// Each interpreter operator met with shapes or values it cannot take: the node is named.
    @Test(arguments: [
        ("Gather", 0), ("Gather", 1), ("Unsqueeze", 0), ("Unsqueeze", 1), ("Squeeze", 0), ("Concat", 0), ("Concat", 1),
        ("ConstantOfShape", 0), ("ConstantOfShape", 1), ("Expand", 0), ("Expand", 1), ("Transpose", 0), ("Slice", 0), ("Slice", 1),
        ("Reshape", 0), ("Reshape", 1), ("Reshape", 2), ("Split", 0), ("Split", 1), ("Cast", 0), ("Add", 0), ("Add", 1), ("Div", 0),
        ("MatMul", 0), ("MatMul", 1), ("Gemm", 0), ("Gemm", 1), ("Tanh", 0), ("LSTM", 0),
    ])
    func badShapes(_ op: String, _ variant: Int) throws {
        let x = Self.data([2, 3])
        let (nodes, constants, floats, feeds, text): ([Onnx_NodeProto], [String: [Int]], [String: ([Float], [Int])], [String: TensorData], String)
        switch (op, variant) {
        case ("Gather", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "i"], ["y"])], ["i": [2]], [:], ["x": x], "index 2 is out of range for axis 0 of size 2")
        case ("Gather", 1): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "i"], ["y"], [.int("axis", 2)])], ["i": [0]], [:], ["x": x], "axis 2 is out of range for rank 2")
        case ("Unsqueeze", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "a"], ["y"])], ["a": [1, -3]], [:], ["x": x], "name an axis twice")
        case ("Unsqueeze", 1): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "a"], ["y"])], ["a": [3]], [:], ["x": x], "axis 3 is out of range for rank 3")
        case ("Squeeze", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "a"], ["y"])], ["a": [1]], [:], ["x": x], "cannot squeeze axis 1 of [2, 3]: its size is 3")
        case ("Concat", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "x2"], ["y"], [.int("axis", 0)])], [:], ["x2": ([1, 2], [1, 2])], ["x": x], "differ outside axis 0")
        case ("Concat", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "i"], ["y"], [.int("axis", 0)])], ["i": [1, 2, 3]], [:], ["x": x], "inputs mix float and int64")
        case ("ConstantOfShape", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["s"], ["y"]), Self.node("Add", ["y", "x"], ["z"])], ["s": [2, -1]], [:], ["x": x], "negative dimension")
        case ("ConstantOfShape", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["s"], ["y"]), Self.node("Add", ["y", "x"], ["z"])], ["s": [1 << 20, 1 << 20]], [:], ["x": x], "more than 67108864 elements")
        case ("Expand", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y"])], ["s": [4, 4]], [:], ["x": x], "[2, 3] does not broadcast to [4, 4]")
        case ("Expand", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y"])], ["s": [1 << 30, 2, 3]], [:], ["x": x], "more than 67108864 elements")
        case ("Transpose", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x"], ["y"], [Self.ints("perm", [0, 0])])], [:], [:], ["x": x], "perm [0, 0] is not a permutation")
        case ("Slice", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s", "e", "a", "st"], ["y"])], ["s": [0], "e": [2], "a": [1], "st": [0]], [:], ["x": x], "step 0 on axis 1")
        case ("Slice", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s", "e"], ["y"])], ["s": [0, 0], "e": [1]], [:], ["x": x], "differ in length")
        case ("Reshape", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y"])], ["s": [4, -1]], [:], ["x": x], "cannot reshape [2, 3] (6 elements) to [4, -1]")
        case ("Reshape", 1): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y"])], ["s": [-1, -1]], [:], ["x": x], "more than one -1")
        case ("Reshape", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y"])], ["s": [5]], [:], ["x": x], "(6 elements) to [5] (5 elements)")
        case ("Split", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x"], ["y", "z"], [.int("axis", 1)])], [:], [:], ["x": x], "axis 1 of size 3 does not split into 2 equal parts")
        case ("Split", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "s"], ["y", "z"])], ["s": [1, 2]], [:], ["x": x], "split [1, 2] does not cut axis 0 of size 2")
        case ("Cast", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x"], ["y"], [.int("to", 6)])], [:], [:], ["x": TensorData(shape: [1], scalars: [3e9])], "cannot cast 3e+09 to int32")
        case ("Add", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "x2"], ["y"])], [:], ["x2": ([1, 2], [2])], ["x": x], "shapes [2, 3] and [2] do not broadcast")
        case ("Add", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "i"], ["y"])], ["i": [1]], [:], ["x": x], "inputs are float and int64")
        case ("Div", _): (nodes, constants, floats, feeds, text) = ([Self.node("Shape", ["x"], ["s"]), Self.node(op, ["s", "z"], ["y"])], ["z": [0]], [:], ["x": x], "integer division by zero")
        case ("MatMul", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "x"], ["y"])], [:], [:], ["x": x], "shapes [2, 3] and [2, 3] do not multiply")
        case ("MatMul", _): (nodes, constants, floats, feeds, text) = ([Self.node("Shape", ["x"], ["s"]), Self.node(op, ["s", "s"], ["y"])], [:], [:], ["x": x], "MatMul of int64 and int64")
        case ("Gemm", 0): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "x"], ["y"])], [:], [:], ["x": x], "do not multiply (transA 0, transB 0)")
        case ("Gemm", _): (nodes, constants, floats, feeds, text) = ([Self.node(op, ["x", "x", "c"], ["y"], [.int("transB", 1)])], [:], ["c": ([1, 2, 3], [3])], ["x": x], "C [3] does not broadcast to [2, 2]")
        case ("Tanh", _): (nodes, constants, floats, feeds, text) = ([Self.node("Shape", ["x"], ["s"]), Self.node(op, ["s"], ["y"])], [:], [:], ["x": x], "input must be float, got int64")
        default:  // an LSTM fed the wrong number of features
            let lstm = Self.node("LSTM", ["x", "w", "r"], ["y"], [.int("hidden_size", 1)])
            (nodes, constants, floats, feeds, text) = ([lstm], [:], ["w": ([Float](repeating: 0.1, count: 8), [1, 4, 2]), "r": ([0.1, 0.2, 0.3, 0.4], [1, 4, 1])],
                                                      ["x": Self.data([2, 1, 3])], "X is [2, 1, 3], expected [T, B, 2]")
        }
        let failing = try #require(nodes.first { $0.opType == op })
        expectError(Self.model(nodes, constants: constants, floats: floats), feeds, containing: "\(op) node '\(failing.name)': ")
        expectError(Self.model(nodes, constants: constants, floats: floats), feeds, containing: text)
    }

    // MARK: What a RecurrentModel cannot express

    @Test func conversionRefusesWhatItCannotExpress() throws {
        let url = Fixtures.root.appendingPathComponent("onnx_torch/lstm_l1_bi_head_states_ts.onnx")
        let proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        // The head's bias subtracted instead of added: the graph still runs, the model would differ.
        var m = proto
        let add = try #require(m.graph.node.firstIndex { $0.opType == "Add" })
        m.graph.node[add].opType = "Sub"
        let onnx = try ONNXModel(m)
        #expect(throws: Never.self) { try onnx.run(["X": Self.data([2, 1, 3]), "h0": Self.data([2, 1, 4]), "c0": Self.data([2, 1, 4])]) }
        do {
            _ = try RecurrentModel(onnx: onnx)
            Issue.record("converted a graph whose head subtracts its bias")
        } catch let e as ONNXError {
            #expect(e.description.contains("graph output 'prediction' [5, 3, 2] equals none of the converted model's outputs"), "\(e)")
        }
        // A graph input the layers do not read.
        m = proto
        m.graph.input.append(Self.value("extra"))
        #expect(throws: ONNXError("graph input 'extra' is neither the sequence, the sequence lengths, the initial hidden state nor the initial cell state of the recurrent layers")) {
            try RecurrentModel(onnx: ONNXModel(m))
        }
        // No recurrent node at all, and no unrolled one.
        #expect(throws: ONNXError("the graph has no LSTM, GRU or RNN node and no unrolled recurrence (Tanh or Relu of a sum of two products by constant matrices): there is no recurrent layer to convert")) {
            try RecurrentModel(onnx: ONNXModel(Self.model([Self.node("Tanh", ["x"], ["y"])])))
        }
    }

    // MARK: Unrolled recurrences that are not an nn.RNN

    /// dynamo's unrolled nn.RNN (`rnn_tanh_l1_dynamo_unrolled`: steps `tanh` … `tanh_4`, the
    /// state product of step t reading step t−1's activation), edited so that it is not one
    /// `nn.RNN` layer any more; the graph still runs, conversion refuses it with one line.
    @Test(arguments: ["state matrix of step 3", "no b_ih", "bias of step 2", "activation of step 4", "loose constant", "reverse names swapped"])
    func unrolledRecurrenceRefused(_ variant: String) throws {
        let bidirectional = variant == "reverse names swapped"
        let file = bidirectional ? "rnn_tanh_l1_bi_head_states_dynamo_unrolled" : "rnn_tanh_l1_dynamo_unrolled"
        let url = Fixtures.root.appendingPathComponent("onnx_torch/\(file).onnx")
        var m = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: url))
        let nodes = m.graph.node
        func index(_ op: String, reading value: String) throws -> Int { try #require(nodes.firstIndex { $0.opType == op && $0.input.contains(value) }) }
        func scaledCopy(_ name: String, as copy: String) throws {
            var t = try #require(m.graph.initializer.first { $0.name == name })
            let v = try t.decoded()
            t = Onnx_TensorProto(name: copy, floats: v.floats.map { $0 * 1.5 }, dims: v.shape)
            m.graph.initializer.append(t)
        }
        let text: String
        switch variant {
        case "state matrix of step 3":  // each step its own W_hh
            let k = try index("MatMul", reading: "tanh_2")
            try scaledCopy(nodes[k].input[1], as: "other_w_hh")
            m.graph.node[k].input[1] = "other_w_hh"
            text = "step 3 ('\(nodes[try index("Tanh", reading: "add_3")].name)') of the unrolled recurrence starting at '\(nodes[try index("Tanh", reading: "add")].name)' multiplies the state by another matrix than its first step"
        case "no b_ih":  // x·W_ihᵀ without its bias
            let k = try index("Add", reading: "rnn.bias_ih_l0")
            m.graph.node[k] = Self.node("Identity", [nodes[k].input[0]], nodes[k].output)
            text = "adds b_hh but no b_ih; nn.RNN has both biases or neither"
        case "bias of step 2":
            let k = try index("Add", reading: "val_39")
            try scaledCopy("rnn.bias_hh_l0", as: "other_b_hh")
            m.graph.node[k].input[1] = "other_b_hh"
            text = "adds other biases than its first step"
        case "activation of step 4":
            m.graph.node[try index("Tanh", reading: "add_4")].opType = "Relu"
            text = "applies Relu, the first step Tanh"
        case "loose constant":  // a constant added to the step's sum, not to a product
            let k = try index("Tanh", reading: "add_2")
            try scaledCopy("rnn.bias_hh_l0", as: "shift")
            m.graph.node.insert(Self.node("Add", ["add_2", "shift"], ["shifted"]), at: k)
            m.graph.node[k + 1].input[0] = "shifted"
            text = "adds constant 'shift', which is not added to a product by a constant matrix"
        default:  // the forward direction's biases named …_reverse: taken as the reverse direction, the probe refuses it
            func swapped(_ n: String) -> String { !n.hasPrefix("rnn.bias") ? n : n.hasSuffix("_reverse") ? String(n.dropLast(8)) : n + "_reverse" }
            for i in m.graph.initializer.indices { m.graph.initializer[i].name = swapped(m.graph.initializer[i].name) }
            for i in m.graph.node.indices { m.graph.node[i].input = m.graph.node[i].input.map(swapped) }
            text = "equals none of the converted model's outputs"
        }
        let onnx = try ONNXModel(m)
        let feeds = Dictionary(uniqueKeysWithValues: onnx.inputNames.map { ($0, Self.data([$0 == "X" ? 5 : 2, 2, $0 == "X" ? 3 : 4]).scaledDown) })
        #expect(throws: Never.self) { try onnx.run(feeds) }
        do {
            _ = try RecurrentModel(onnx: onnx)
            Issue.record("\(variant): converted")
        } catch let e as ONNXError {
            #expect(e.description.contains(text), "\(variant): \(e)")
            #expect(!e.description.contains("\n"), "\(variant)")
        }
    }
}

extension ONNXGraphMalformedTests {
    /// One unrolled step, `tanh(x·W_ihᵀ + b_ih + h0·W_hhᵀ + b_hh)` (an export at length 1): which
    /// product is the state's cannot be told, so conversion refuses it (the graph still runs).
    @Test func unrolledRecurrenceOfOneStepRefused() throws {
        func n(_ op: String, _ inputs: [String], _ outputs: [String]) -> Onnx_NodeProto { Self.node(op, inputs, outputs) }
        let nodes = [n("MatMul", ["x", "w_ih_t"], ["a"]), n("Add", ["a", "b_ih"], ["b"]), n("MatMul", ["h0", "w_hh_t"], ["c"]),
                     n("Add", ["c", "b_hh"], ["d"]), n("Add", ["d", "b"], ["e"]), n("Tanh", ["e"], ["y"])]
        let floats: [String: ([Float], [Int])] = ["w_ih_t": ((0..<12).map { Float($0) / 12 }, [3, 4]), "w_hh_t": ((0..<16).map { Float($0) / 16 }, [4, 4]),
                                                  "b_ih": ([0.1, 0.2, 0.3, 0.4], [4]), "b_hh": ([0.4, 0.3, 0.2, 0.1], [4])]
        let onnx = try ONNXModel(Self.model(nodes, inputs: ["x", "h0"], floats: floats))
        #expect(throws: Never.self) { try onnx.run(["x": Self.data([1, 2, 3]), "h0": Self.data([1, 2, 4])]) }
        #expect(throws: ONNXError("Tanh node 'the_tanh' is an unrolled recurrence of one step, which does not tell the state's matrix from the input's; export at a length of 2 or more")) {
            try RecurrentModel(onnx: onnx)
        }
    }
}

private extension TensorData {
    /// Values in (-1, 1), so that the unrolled graphs stay finite.
    var scaledDown: TensorData { TensorData(shape: shape, scalars: scalars.map { Foundation.sin($0) }) }
}
