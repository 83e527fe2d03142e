import Foundation
import Testing
@testable import Recurrent
import RecurrentONNX

/// Export → re-import → the same numbers, in Swift alone (no Python in CI). With
/// `RECURRENT_ONNX_EXPORT_DIR` set, each exported model and its input and Swift outputs are also
/// written there for `Tools/check_onnx_export.py` to run in ONNX Runtime (by hand).
@Suite struct ONNXExportTests {
    static let cases: [(String, ModelArchitecture)] = {
        func a(_ kind: ModelArchitecture.Kind, bidirectional: Bool = false, bias: Bool = true, nonlinearity: Nonlinearity = .tanh,
               _ options: CellOptions = CellOptions()) -> ModelArchitecture {
            ModelArchitecture(kind: kind, nonlinearity: nonlinearity, inputSize: 4, hiddenSize: 3, bidirectional: bidirectional, bias: bias, options: options)
        }
        return [
            ("lstm", a(.lstm)),
            ("lstm_bidirectional_peephole", a(.lstm, bidirectional: true, CellOptions(peephole: true))),
            ("lstm_coupled_no_bias", a(.lstm, bias: false, CellOptions(coupledInputForget: true))),
            ("gru_reset_after", a(.gru, bidirectional: true)),
            ("gru_reset_before", a(.gru, CellOptions(resetAfter: false))),
            ("rnn_relu_bidirectional", a(.rnn, bidirectional: true, nonlinearity: .relu)),
            ("lstm_activations_clip", a(.lstm, bidirectional: true, CellOptions(
                activations: [.hardSigmoid(alpha: 0.3, beta: 0.4), .scaledTanh(alpha: 0.9, beta: 1.1), .softsign],
                reverseActivations: [.sigmoid, .elu(alpha: 0.7), .affine(alpha: 0.8, beta: 0.1)], clip: 0.7))),
            ("gru_activations", a(.gru, CellOptions(resetAfter: false, activations: [.sigmoid, .leakyRelu(alpha: 0.2)], clip: 0.9))),
        ]
    }()

    @Test(arguments: cases.indices)
    func exportReimportsWithTheSameOutputs(_ index: Int) throws {
        let (name, architecture) = Self.cases[index]
        let model = withRandomSeed(UInt64(index + 1)) { RecurrentModel(architecture) }
        let (T, B, D, H) = (5, 2, architecture.bidirectional ? 2 : 1, architecture.hiddenSize)
        let x = Tensor(shape: [T, B, 4], scalars: testValues(T * B * 4, seed: 7))
        let expected = try withoutGradients { try model(x) }
        let data: Data = try model.onnxModel(graphName: name).serializedBytes()
        let onnx = try ONNXModel(serialized: data)
        let out = try onnx.run(["X": TensorData(shape: x.shape, scalars: x.scalars)])
        // Y [T, D, B, H] back to [T, B, D·H].
        let y = try #require(out["Y"])
        #expect(y.shape == [T, D, B, H])
        var output = [Float](repeating: 0, count: y.scalars.count)
        for t in 0..<T { for d in 0..<D { for b in 0..<B { for h in 0..<H {
            output[((t * B + b) * D + d) * H + h] = y.scalars[((t * D + d) * B + b) * H + h]
        } } } }
        expectClose(output, expected.output.scalars, "\(name) Y")
        expectClose(try #require(out["Y_h"]).scalars, expected.h.scalars, "\(name) Y_h")
        if let c = expected.c { expectClose(try #require(out["Y_c"]).scalars, c.scalars, "\(name) Y_c") }
        // The same weights come back under PyTorch's names.
        let back = try RecurrentModel(onnx: onnx)
        #expect(back.architecture.options == architecture.options || architecture.kind == .rnn)
        for (key, value) in model.stateDict() { #expect(back.stateDict()[key] == value, "\(name): \(key)") }

        if let dir = ProcessInfo.processInfo.environment["RECURRENT_ONNX_EXPORT_DIR"] {
            let url = URL(fileURLWithPath: dir)
            try data.write(to: url.appendingPathComponent("\(name).onnx"))
            var tensors = ["feed.X": TensorData(shape: x.shape, scalars: x.scalars)]
            for (k, v) in out { tensors["swift.\(k)"] = v }
            try SafeTensorsFile(tensors: tensors).write(to: url.appendingPathComponent("\(name).safetensors"))
        }
    }

    @Test func whatONNXCannotExpressIsRefused() throws {
        let projection = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3, projSize: 2))
        #expect(throws: ONNXError("cannot export: ONNX's LSTM has no projection (proj_size 2)")) { try projection.onnxModel() }
        let norm = RecurrentModel(ModelArchitecture(kind: .gru, inputSize: 2, hiddenSize: 3, options: CellOptions(layerNorm: true)))
        #expect(throws: ONNXError("cannot export: ONNX's GRU has no layer normalisation")) { try norm.onnxModel() }
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
