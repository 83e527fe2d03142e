import Foundation
import Testing
@testable import Recurrent
@testable import RecurrentONNX

/// Graphs written by `torch.onnx.export` (both exporters) for nn.RNN / nn.GRU / nn.LSTM with and
/// without a Linear head (`Tools/make_torch_onnx_fixtures.py`), fed at another batch size and
/// length than they were exported with: the graph interpreter and the converted
/// ``RecurrentModel`` must both give PyTorch's outputs to 1e-5 relative, 1e-6 absolute. (The
/// dynamo exporter unrolls nn.RNN for the example's length, `*_dynamo_unrolled`: those graphs run
/// at that length only; the model converted from them runs any length, and must also give
/// PyTorch's outputs at another length, `other_length.*`.)
@Suite struct TorchONNXFixtureTests {
    static var names: [String] { Fixtures.names(in: "onnx_torch") }

    static func load(_ name: String) throws -> (SafeTensorsFile, ONNXModel) {
        (try Fixtures.load("onnx_torch/" + name), try ONNXModel.load(from: Fixtures.root.appendingPathComponent("onnx_torch/\(name).onnx")))
    }

    @Test(arguments: names)
    func graphRunsToPyTorch(_ name: String) throws {
        let (f, onnx) = try Self.load(name)
        let feeds = Dictionary(uniqueKeysWithValues: f.tensors.filter { $0.key.hasPrefix("feed.") }.map { (String($0.key.dropFirst(5)), $0.value) })
        let outputs = try onnx.run(feeds)
        let expected = f.tensors.filter { $0.key.hasPrefix("expect.") }
        #expect(expected.count == onnx.outputNames.count)
        for (key, want) in expected {
            let output = String(key.dropFirst(7))
            let got = try #require(outputs[output], "\(name): no output \(output)")
            #expect(got.shape == want.shape, "\(name): \(output) shape")
            expectClose(got.scalars, want.scalars, "\(name) \(output)")
        }
    }

    @Test(arguments: names)
    func convertedModelMatchesPyTorch(_ name: String) throws {
        let (f, onnx) = try Self.load(name)
        #expect(onnx.recurrentNodes.isEmpty == f.flag("unrolled"), "\(name)")  // dynamo's nn.RNN: MatMul/Add/Tanh per step
        let model = try RecurrentModel(onnx: onnx)
        let a = model.architecture
        #expect(a.numLayers == f.int("layers"), "\(name)")
        #expect(a.bidirectional == f.flag("bidirectional"), "\(name)")
        #expect(a.batchFirst == f.flag("batch_first"), "\(name)")
        let head = f.metadata["head"] ?? "?"
        #expect(a.headPrefix == (head == "none" ? nil : "head."), "\(name)")
        // head(h_n[-1]) of a forward layer is its last step's output: a last-step head.
        if head != "none" { #expect(a.headPlacement.rawValue == (head == "last_hidden" ? "last_step" : head), "\(name)") }
        if a.kind == .rnn { #expect(a.nonlinearity.rawValue == (f.metadata["kind"] == "rnn_relu" ? "relu" : "tanh"), "\(name)") }
        model.eval()
        try Self.expectPyTorchOutputs(model, f, prefix: "", name)
        if f.flag("unrolled") {
            // The graph is fixed at its export length (5); the model runs any: PyTorch's at T=7.
            #expect(try f.shape("other_length.feed.X")[a.batchFirst ? 1 : 0] == 7, "\(name)")
            try Self.expectPyTorchOutputs(model, f, prefix: "other_length.", name)
        }
    }

    /// The model's outputs on `\(prefix)feed.*` equal `\(prefix)expect.*`.
    static func expectPyTorchOutputs(_ model: RecurrentModel, _ f: SafeTensorsFile, prefix p: String, _ name: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let h0 = f.tensors[p + "feed.h0"].map { Tensor(shape: $0.shape, scalars: $0.scalars) }
        let c0 = f.tensors[p + "feed.c0"].map { Tensor(shape: $0.shape, scalars: $0.scalars) }
        let r = try withoutGradients { try model(try f.tensor(p + "feed.X"), h0: h0, c0: c0) }
        let label = "\(name) \(p)"
        expectClose(r.output, shape: try f.shape(p + "expect.output"), try f.values(p + "expect.output"), "\(label)output", sourceLocation: sourceLocation)
        expectClose(r.h, shape: try f.shape(p + "expect.h_n"), try f.values(p + "expect.h_n"), "\(label)h_n", sourceLocation: sourceLocation)
        if f.tensors[p + "expect.c_n"] != nil {
            expectClose(r.c, shape: try f.shape(p + "expect.c_n"), try f.values(p + "expect.c_n"), "\(label)c_n", sourceLocation: sourceLocation)
        }
        if f.tensors[p + "expect.prediction"] != nil {
            expectClose(r.prediction, shape: try f.shape(p + "expect.prediction"), try f.values(p + "expect.prediction"), "\(label)prediction",
                        sourceLocation: sourceLocation)
        } else {
            #expect(r.prediction == nil, "\(label)", sourceLocation: sourceLocation)
        }
    }

    /// The single-node graphs of `Tools/make_onnx_fixtures.py` convert too (initial states and
    /// `sequence_lens` as the model's `h0`, `c0` and `lengths`; layout 1 as batch-first), and the
    /// model's final states equal ONNX Runtime's `Y_h` / `Y_c`; reverse-only nodes are refused.
    @Test(arguments: Fixtures.names(in: "onnx"))
    func singleNodeGraphsConvert(_ name: String) throws {
        let f = try Fixtures.load("onnx/" + name)
        let onnx = try ONNXModel.load(from: Fixtures.root.appendingPathComponent("onnx/\(name).onnx"))
        let node = onnx.recurrentNodes[0]
        guard node.direction != .reverse else {
            #expect(throws: ONNXError("\(node.kind.rawValue.uppercased()) node '\(node.name)': direction reverse has no PyTorch equivalent (run the ONNX model instead)")) {
                try RecurrentModel(onnx: onnx)
            }
            return
        }
        let model = try RecurrentModel(onnx: onnx)
        #expect(model.architecture.batchFirst == (node.layout == 1), "\(name)")
        model.eval()
        let (D, H) = (node.directions, node.hiddenSize)
        // ONNX's layout-1 states are [B, D, H]; the model's are [D, B, H].
        func state(_ key: String) -> Tensor? {
            f.tensors[key].map { t in node.layout == 0 ? Tensor(shape: t.shape, scalars: t.scalars)
                : Tensor(shape: [D, t.shape[0], H], scalars: swap01(t.scalars, t.shape[0], D, H)) }
        }
        let lengths = f.tensors["feed.sequence_lens"].map { $0.scalars.map { Int($0) } }
        let r = try withoutGradients { try model(try f.tensor("feed.X"), h0: state("feed.initial_h"), c0: state("feed.initial_c"), lengths: lengths) }
        for (key, got) in [("expect.Y_h", r.h), ("expect.Y_c", r.c)] {
            guard let want = state(key) else { continue }
            expectClose(got, shape: want.shape, want.scalars, "\(name) \(key)")
        }
    }

    static var operatorNames: [String] { Fixtures.names(in: "onnx_torch/ops") }

    /// One small graph per operator semantic (`ops/`): the interpreter gives ONNX Runtime's
    /// outputs, integer ones exactly.
    @Test(arguments: operatorNames)
    func operatorMatchesONNXRuntime(_ name: String) throws {
        let f = try Fixtures.load("onnx_torch/ops/" + name)
        let onnx = try ONNXModel.load(from: Fixtures.root.appendingPathComponent("onnx_torch/ops/\(name).onnx"))
        let feeds = Dictionary(uniqueKeysWithValues: f.tensors.filter { $0.key.hasPrefix("feed.") }.map { (String($0.key.dropFirst(5)), $0.value) })
        let outputs = try onnx.run(feeds)
        let expected = f.tensors.filter { $0.key.hasPrefix("expect.") }
        #expect(!expected.isEmpty && expected.count == onnx.outputNames.count)
        for (key, want) in expected {
            let output = String(key.dropFirst(7))
            let got = try #require(outputs[output], "\(name): no output \(output)")
            #expect(got.shape == want.shape, "\(name): \(output) shape \(got.shape), expected \(want.shape)")
            if want.dtype == .i64 {
                #expect(got.dtype == .i64 && got.scalars == want.scalars, "\(name): \(output) \(got.scalars), expected \(want.scalars)")
            } else {
                expectClose(got.scalars, want.scalars, "\(name) \(output)")
            }
        }
    }

    /// The grid really is covered (a script change that dropped cases would fail here).
    @Test func gridIsCovered() {
        #expect(Self.names.count == 48)
        #expect(Self.names.filter { $0.hasSuffix("_unrolled") }.count == 12)
        #expect(Self.operatorNames.count >= 25)
        for kind in ["rnn_tanh", "rnn_relu", "gru", "lstm"] {
            for shape in ["l1", "l2_bi_bf_head_states", "l3_bf_states", "l2_last_head", "l1_bi_head_states", "l2_bf_hn_head"] {
                #expect(Self.names.contains("\(kind)_\(shape)_ts"))
                #expect(Self.names.contains("\(kind)_\(shape)_dynamo" + (kind.hasPrefix("rnn") ? "_unrolled" : "")))
            }
        }
    }
}
