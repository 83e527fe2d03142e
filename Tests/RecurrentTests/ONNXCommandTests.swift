import Foundation
import Testing
@testable import Recurrent
import RecurrentONNX

/// `recurrent run | import | inspect | fit` on `.onnx` files (the graphs of
/// `Tools/make_torch_onnx_fixtures.py` and `Tools/make_onnx_fixtures.py`): outputs equal to
/// PyTorch's / ONNX Runtime's, and one-line errors with a non-zero exit and no file for bad use.
@Suite(.serialized) struct ONNXCommandTests {
    static func fixture(_ folder: String, _ name: String) throws -> (onnx: String, file: SafeTensorsFile) {
        (Fixtures.root.appendingPathComponent("\(folder)/\(name).onnx").path, try Fixtures.load("\(folder)/\(name)"))
    }

    /// The bytes of a `.npy` file of whole numbers as `'<i4'` or `'<i8'`.
    static func integerNPY(_ values: [Int], wide: Bool) -> Data {
        var header = "{'descr': '\(wide ? "<i8" : "<i4")', 'fortran_order': False, 'shape': (\(values.count),), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count + 1), 0])
        data.append(contentsOf: Array((header + "\n").utf8))
        for v in values {
            if wide { withUnsafeBytes(of: Int64(v).littleEndian) { data.append(contentsOf: $0) } } else { withUnsafeBytes(of: Int32(v).littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }

    func expectOutputs(_ path: String, _ f: SafeTensorsFile, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let written = try SafeTensorsFile.read(from: URL(fileURLWithPath: path))
        let expected = f.tensors.filter { $0.key.hasPrefix("expect.") }
        #expect(Set(written.tensors.keys) == Set(expected.keys.map { String($0.dropFirst(7)) }), "\(label)", sourceLocation: sourceLocation)
        for (key, want) in expected {
            let got = try #require(written.tensors[String(key.dropFirst(7))], sourceLocation: sourceLocation)
            #expect(got.shape == want.shape, "\(label) \(key)", sourceLocation: sourceLocation)
            expectClose(got.scalars, want.scalars, "\(label) \(key)", sourceLocation: sourceLocation)
        }
    }

    @Test func runWithFeedsAndWithInput() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Three graph inputs, each by name; four outputs under their ONNX names.
        let (lstm, f) = try Self.fixture("onnx_torch", "lstm_l2_bi_bf_head_states_dynamo")
        for k in ["X", "h0", "c0"] { try NPY.write(f.tensors["feed.\(k)"]!, to: dir.file("\(k).npy")) }
        let r = try CommandRunner.run(["run", lstm, "--feed", "X=\(dir.path("X.npy"))", "--feed", "h0=\(dir.path("h0.npy"))",
                                       "--feed", "c0=\(dir.path("c0.npy"))", "--output", dir.path("out.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(dir.path("out.safetensors")): prediction [3, 7, 2], output [3, 7, 8], h_n [4, 3, 4], c_n [4, 3, 4]"), "\(r.stdout)")
        try expectOutputs(dir.path("out.safetensors"), f, "run --feed")

        // One graph input: --input feeds it.
        let (gru, g) = try Self.fixture("onnx_torch", "gru_l1_ts")
        try NPY.write(g.tensors["feed.X"]!, to: dir.file("gx.npy"))
        let r2 = try CommandRunner.run(["run", gru, "--input", dir.path("gx.npy"), "--output", dir.path("g.safetensors")])
        #expect(r2.status == 0, "\(r2.stderr)")
        try expectOutputs(dir.path("g.safetensors"), g, "run --input")
    }

    /// `sequence_lens` fed from int32 and int64 `.npy` files (ONNX's type is int32).
    @Test(arguments: [false, true])
    func runFeedsIntegerLengths(_ wide: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (gru, f) = try Self.fixture("onnx", "gru_linear_before_reset_seq_lens")
        try NPY.write(f.tensors["feed.X"]!, to: dir.file("x.npy"))
        try NPY.write(f.tensors["feed.initial_h"]!, to: dir.file("h.npy"))
        try Self.integerNPY(f.tensors["feed.sequence_lens"]!.scalars.map { Int($0) }, wide: wide).write(to: dir.file("lens.npy"))
        let r = try CommandRunner.run(["run", gru, "--feed", "X=\(dir.path("x.npy"))", "--feed", "initial_h=\(dir.path("h.npy"))",
                                       "--feed", "sequence_lens=\(dir.path("lens.npy"))", "--output", dir.path("out.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        try expectOutputs(dir.path("out.safetensors"), f, "sequence_lens \(wide ? "int64" : "int32")")
    }

    @Test func importInspectAndFit() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (lstm, f) = try Self.fixture("onnx_torch", "lstm_l2_last_head_ts")
        let imported = try CommandRunner.run(["import", lstm, "--output", dir.path("m.safetensors")])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("model: LSTM(input 3, hidden 4, layers 2) + head Linear(4 → 2) on the last step at 'head'"), "\(imported.stdout)")
        let model = try RecurrentModel.load(from: dir.file("m.safetensors"))
        let p = try withoutGradients { try model(try f.tensor("feed.X")).prediction }
        expectClose(p, shape: try f.shape("expect.prediction"), try f.values("expect.prediction"), "imported prediction")

        let inspect = try CommandRunner.run(["inspect", lstm])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("inputs: X float [time, batch, 3]"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("as a Recurrent model: LSTM(input 3, hidden 4, layers 2) + head Linear(4 → 2) on the last step at 'head'"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("parameters: \(model.parameterCount)"), "\(inspect.stdout)")
        let reverse = try CommandRunner.run(["inspect", Fixtures.root.appendingPathComponent("onnx/lstm_reverse_layout0.onnx").path])
        #expect(reverse.status == 0, "\(reverse.stderr)")
        #expect(reverse.stdout.contains("not convertible: LSTM node 'lstm_node': direction reverse has no PyTorch equivalent"), "\(reverse.stdout)")

        // fit trains the converted model and writes it.
        try NPY.write(f.tensors["feed.X"]!, to: dir.file("x.npy"))
        try NPY.write(TensorData(shape: [3, 2], scalars: [0.1, -0.2, 0.3, 0.4, -0.5, 0.6]), to: dir.file("y.npy"))
        let fit = try CommandRunner.run(["fit", lstm, "--input", dir.path("x.npy"), "--target", dir.path("y.npy"), "--steps", "2",
                                         "--output", dir.path("trained.safetensors")])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(try RecurrentModel.load(from: dir.file("trained.safetensors")).architecture == model.architecture)
    }

    /// dynamo's unrolled nn.RNN (no RNN node): `inspect` shows the fixed length in the input's
    /// shape and the model it converts to; `import` writes that model, which runs another length.
    @Test func importAndInspectUnrolled() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (rnn, f) = try Self.fixture("onnx_torch", "rnn_tanh_l2_bi_bf_head_states_dynamo_unrolled")
        let inspect = try CommandRunner.run(["inspect", rnn])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("inputs: X float [batch, 5, 3]; h0 float [4, batch, 4]"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("as a Recurrent model: RNN(input 3, hidden 4, layers 2, nonlinearity tanh, bidirectional, batch-first) + head Linear(8 → 2) at 'head'"),
                "\(inspect.stdout)")
        let imported = try CommandRunner.run(["import", rnn, "--output", dir.path("m.safetensors")])
        #expect(imported.status == 0, "\(imported.stderr)")
        let model = try RecurrentModel.load(from: dir.file("m.safetensors"))
        let h0 = try f.tensor("other_length.feed.h0")
        let p = try withoutGradients { try model(try f.tensor("other_length.feed.X"), h0: h0).prediction }
        expectClose(p, shape: try f.shape("other_length.expect.prediction"), try f.values("other_length.expect.prediction"), "imported, T=7")

        // A graph with neither a recurrent node nor an unrolled recurrence: import refuses it.
        let none = Fixtures.root.appendingPathComponent("onnx_torch/ops/activations.onnx").path
        let r = try CommandRunner.run(["import", none, "--output", dir.path("n.safetensors")])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no LSTM, GRU or RNN node and no unrolled recurrence"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("n.safetensors")))
    }

    @Test func badUseFailsCleanly() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (lstm, f) = try Self.fixture("onnx_torch", "lstm_l2_bi_bf_head_states_dynamo")
        try NPY.write(f.tensors["feed.X"]!, to: dir.file("X.npy"))
        let out = dir.path("out.safetensors")
        for (args, message) in [
            (["run", lstm, "--input", dir.path("X.npy"), "--output", out], "the graph has 3 inputs (X, h0, c0); give each with --feed"),
            (["run", lstm, "--feed", "X=\(dir.path("X.npy"))", "--output", out], "no feed for graph input 'h0'"),
            (["run", lstm, "--feed", "X", "--output", out], "--feed must be NAME=FILE.npy"),
            (["run", lstm, "--feed", "Z=\(dir.path("X.npy"))", "--feed", "X=\(dir.path("X.npy"))", "--output", out], "no feed for graph input"),
            (["run", lstm, "--input", dir.path("X.npy"), "--feed", "X=\(dir.path("X.npy"))", "--output", out], "either --input"),
            (["run", lstm, "--feed", "X=\(dir.path("X.npy"))", "--h0", dir.path("X.npy"), "--output", out], "not --h0"),
            (["run", lstm, "--batch-first", "--input", dir.path("X.npy"), "--output", out], "an .onnx graph says these itself"),
            (["import", lstm, "--output", dir.path("m.npy")], "--output must end in .safetensors"),
            (["import", Fixtures.root.appendingPathComponent("onnx/gru_reverse_layout0.onnx").path, "--output", out], "direction reverse"),
        ] {
            let r = try CommandRunner.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args)")
        }
    }
}
