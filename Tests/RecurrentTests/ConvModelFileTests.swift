import Foundation
import Testing
@testable import Recurrent

/// Convolutional recurrent layers in model files and in `recurrent inspect` / `run` / `fit`: the
/// PyTorch fixtures of `Tools/make_conv_fixtures.py` (ndrplz's ConvLSTM, RAFT's ConvGRU and
/// SepConvGRU) saved as plain state dicts under a prefix, inferred, run through the binary and
/// compared with PyTorch's outputs; Recurrent's own files round-trip; fit trains; bad input is
/// one line and a non-zero exit with nothing written.
@Suite(.serialized) struct ConvModelFileTests {
    /// The sequence fixtures (`*_seq_*`): a layer over `[T, B, C, H, W]`.
    static let sequenceFixtures = Fixtures.names(in: "conv").filter { $0.contains("_seq_") }

    /// Writes fixture `name`'s parameters as a plain state dict under `prefix`, and its input and
    /// initial states as .npy files; returns the fixture.
    func writeFixture(_ name: String, prefix: String, to dir: TemporaryDirectory) throws -> SafeTensorsFile {
        let f = try Fixtures.load("conv/" + name)
        let dict = Dictionary(uniqueKeysWithValues: f.stateDict(prefix: "param.").map { (prefix + $0.key, $0.value) })
        try SafeTensorsFile(tensors: dict).write(to: dir.file("model.safetensors"))
        for key in ["input", "h0", "c0"] where f.tensors[key] != nil { try NPY.write(f.tensors[key]!, to: dir.file(key + ".npy")) }
        return f
    }

    func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
        #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)")
        let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-5, "\(what): largest relative difference \(worst)")
    }

    /// `run` on a PyTorch state dict under `model.rnn.`: the architecture is inferred from the
    /// keys and shapes, and output, h_n and c_n equal PyTorch's.
    @Test(arguments: sequenceFixtures)
    func runReproducesPyTorch(_ name: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let f = try writeFixture(name, prefix: "model.rnn.", to: dir)
        var args = ["run", dir.path("model.safetensors"), "--input", dir.path("input.npy"), "--output", dir.path("out.safetensors")]
        for key in ["h0", "c0"] where f.tensors[key] != nil { args += ["--\(key)", dir.path(key + ".npy")] }
        if name.contains("_bf") { args.append("--batch-first") }
        let r = try CommandRunner.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        let out = try SafeTensorsFile.read(from: dir.file("out.safetensors"))
        for key in ["output", "h_n", "c_n"] where f.tensors[key] != nil {
            #expect(out.tensors[key]?.shape == f.tensors[key]!.shape, "\(key)")
            expectClose(out.tensors[key]?.scalars ?? [], f.tensors[key]!.scalars, "\(name) \(key)")
        }
        #expect(Set(out.tensors.keys) == Set(["output", "h_n"] + (f.tensors["c_n"] != nil ? ["c_n"] : [])))

        let inspect = try CommandRunner.run(["inspect", dir.path("model.safetensors")])
        #expect(inspect.status == 0 && inspect.stdout.contains("inferred from key names and shapes") && inspect.stdout.contains("at 'model.rnn'"))
        let kind = name.hasPrefix("convlstm") ? "ConvLSTM(" : name.hasPrefix("convgru") ? "ConvGRU(" : "SepConvGRU("
        #expect(inspect.stdout.contains(kind) && inspect.stdout.contains("layers \(name.contains("L2") ? 2 : 1)"), "\(inspect.stdout)")
    }

    /// RAFT's update step `h = gru(h, x)`: the SepConvGRU's keys as a RAFT checkpoint names them
    /// (`update_block.gru.convz1.weight`, …, one cell, no `cell_list`), `x` as one step `[1, B, C, H, W]`,
    /// `h0` as RAFT's `h` `[B, C, H, W]`.
    @Test func raftUpdateStepFromItsKeys() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let f = try Fixtures.load("conv/raft_sepconvgru")
        try SafeTensorsFile(tensors: f.tensors.filter { $0.key.hasPrefix("update_block.gru.") }).write(to: dir.file("gru.safetensors"))
        let x = f.tensors["x"]!, h = f.tensors["h"]!
        try NPY.write(TensorData(shape: [1] + x.shape, scalars: x.scalars), to: dir.file("x.npy"))
        try NPY.write(h, to: dir.file("h.npy"))
        let inspect = try CommandRunner.run(["inspect", dir.path("gru.safetensors")])
        #expect(inspect.stdout.contains("SepConvGRU(input 10, hidden 6, kernels 1×5, 5×1, layers 1) at 'update_block.gru'"), "\(inspect.stdout)")
        let r = try CommandRunner.run(["run", dir.path("gru.safetensors"), "--input", dir.path("x.npy"), "--h0", dir.path("h.npy"),
                                       "--output", dir.path("out.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try SafeTensorsFile.read(from: dir.file("out.safetensors"))
        #expect(out.tensors["output"]?.shape == [1] + f.tensors["output"]!.shape)
        expectClose(out.tensors["output"]?.scalars ?? [], f.tensors["output"]!.scalars, "RAFT h")
        expectClose(out.tensors["h_n"]?.scalars ?? [], f.tensors["output"]!.scalars, "RAFT h_n")
    }

    /// Recurrent's own files: metadata written and read, the same keys, the same outputs.
    @Test(arguments: [
        ConvModelArchitecture(kind: .convLSTM, inputChannels: 2, hiddenChannels: 3, kernelSize: 5, kernelWidth: 3, numLayers: 2, bias: false,
                              batchFirst: true, prefix: "enc."),
        ConvModelArchitecture(kind: .convLSTM, inputChannels: 1, hiddenChannels: 2, peephole: true, frameSize: [4, 5], cellList: false),
        ConvModelArchitecture(kind: .convGRU, inputChannels: 3, hiddenChannels: 2, numLayers: 2, prefix: "gru."),
        ConvModelArchitecture(kind: .sepConvGRU, inputChannels: 2, hiddenChannels: 2, prefix: "update_block.gru.", cellList: false),
    ])
    func ownFilesRoundTrip(_ architecture: ConvModelArchitecture) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        manualSeed(3)
        let model = ConvRecurrentModel(architecture)
        for (_, p) in model.namedParameters { p.scalars = testValues(p.count, seed: UInt64(p.count)) }  // peepholes start at zero
        try model.save(to: dir.file("m.safetensors"))
        let file = try SafeTensorsFile.read(from: dir.file("m.safetensors"))
        #expect(Set(file.tensors.keys) == Set(architecture.parameterShapes.map(\.name)))
        if !architecture.cellList { #expect(!file.tensors.keys.contains { $0.contains("cell_list") }) }
        let loaded = try ConvRecurrentModel.load(from: dir.file("m.safetensors"))
        #expect(loaded.architecture == architecture)
        let a = architecture
        let x = Tensor(shape: a.batchFirst ? [2, 3, a.inputChannels, 4, 5] : [3, 2, a.inputChannels, 4, 5],
                       scalars: testValues(3 * 2 * a.inputChannels * 20, seed: 9))
        let (y0, h0, c0) = try model(x), (y1, h1, c1) = try loaded(x)
        #expect(y0.scalars == y1.scalars && h0.scalars == h1.scalars && c0?.scalars == c1?.scalars)
        #expect(y0.shape == (a.batchFirst ? [2, 3, a.hiddenChannels, 4, 5] : [3, 2, a.hiddenChannels, 4, 5]) && h0.shape == [a.numLayers, 2, a.hiddenChannels, 4, 5])
    }

    /// `fit` on a ConvGRU file: MSE between the output and the target falls, the trained file
    /// keeps the input's keys, and its weights are what the library's own loop gives.
    @Test func fitTrainsAndKeepsTheKeys() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let f = try writeFixture("convgru_seq_L1_state", prefix: "rnn.", to: dir)
        let target = TensorData(shape: f.tensors["output"]!.shape, scalars: testValues(f.tensors["output"]!.scalars.count, seed: 4).map { $0 * 0.5 })
        try NPY.write(target, to: dir.file("y.npy"))
        let r = try CommandRunner.run(["fit", dir.path("model.safetensors"), "--input", dir.path("input.npy"), "--target", dir.path("y.npy"),
                                       "--h0", dir.path("h0.npy"), "--optimizer", "sgd", "--lr", "0.1", "--steps", "5",
                                       "--output", dir.path("trained.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        let numbers = r.stdout.split(whereSeparator: { $0 == " " }).compactMap { Float($0.trimmingCharacters(in: .punctuationCharacters)) }
        #expect(numbers.count >= 3 && numbers[2] < numbers[1], "loss falls: \(r.stdout)")
        let trained = try SafeTensorsFile.read(from: dir.file("trained.safetensors"))
        #expect(Set(trained.tensors.keys) == Set(try SafeTensorsFile.read(from: dir.file("model.safetensors")).tensors.keys))
        #expect(trained.metadata["kind"] == "convgru" && trained.metadata["prefix"] == "rnn.")

        // The same five steps in the library: SGD on mseLoss(output, target).
        let model = try ConvRecurrentModel.load(from: dir.file("model.safetensors"))
        var sgd = SGD(parameters: model.parameters, learningRate: 0.1)
        let (x, h0, y) = (try f.tensor("input"), try f.tensor("h0"), Tensor(shape: target.shape, scalars: target.scalars))
        for _ in 0..<5 {
            sgd.zeroGrad()
            try mseLoss(model(x, h0: h0).output, y).backward()
            sgd.step()
        }
        for (name, p) in model.namedParameters { expectClose(trained.tensors[name]!.scalars, p.scalars, name) }
    }

    /// Bad input through the binary: one line naming the problem, a non-zero exit, no output file.
    @Test func badInputIsOneLineAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeFixture("convlstm_seq_L1_k3", prefix: "", to: dir)   // input [3, 2, 2, 4, 5], hidden 3
        func array(_ name: String, _ shape: [Int]) throws -> String {
            try NPY.write(TensorData(shape: shape, scalars: testValues(shape.reduce(1, *), seed: 1)), to: dir.file(name))
            return dir.path(name)
        }
        let model = dir.path("model.safetensors"), x = dir.path("input.npy"), out = dir.path("out.safetensors")
        let run = ["run", model, "--output", out]
        let cases: [([String], String)] = [
            (run + ["--input", try array("rank4.npy", [3, 2, 4, 5])], "the input must be [T, B, C, H, W] (rank 5), got [3, 2, 4, 5]"),
            (run + ["--input", try array("c3.npy", [3, 2, 3, 4, 5])], "the input [3, 2, 3, 4, 5] has 3 channels, the model reads 2"),
            (run + ["--input", x, "--h0", try array("hw.npy", [1, 2, 3, 4, 6])], "h0 must be [1, 2, 3, 4, 5] or [2, 3, 4, 5]"),
            (run + ["--input", x, "--h0", try array("hc.npy", [2, 4, 4, 5])], "got [2, 4, 4, 5]"),
            (run + ["--input", x, "--c0", try array("cb.npy", [1, 3, 3, 4, 5])], "c0 must be [1, 2, 3, 4, 5]"),
            (run + ["--input", x, "--lengths", try array("l.npy", [2])], "--lengths applies to dense models"),
            (run + ["--input", x, "--nonlinearity", "relu"], "--nonlinearity applies to RNN models"),
            (["fit", model, "--input", x, "--target", try array("y.npy", [3, 2, 3, 4, 4]), "--steps", "1", "--output", out],
             "the target must have the output's shape [3, 2, 3, 4, 5], got [3, 2, 3, 4, 4]"),
            (["fit", model, "--input", x, "--target", dir.path("y.npy"), "--loss", "cross-entropy", "--steps", "1", "--output", out],
             "--loss must be mse for a convolutional model"),
        ]
        for (args, message) in cases {
            let r = try CommandRunner.run(args)
            #expect(r.status != 0 && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args.last!): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "nothing written for \(message)")
        }
        // c0 for a GRU.
        _ = try writeFixture("convgru_seq_L1_state", prefix: "", to: dir)
        let r = try CommandRunner.run(["run", model, "--input", dir.path("input.npy"), "--c0", dir.path("h0.npy"), "--output", out])
        #expect(r.status != 0 && r.stderr.contains("only a ConvLSTM has a cell state"), "\(r.stderr)")
    }

    /// State dicts that are no such module, or are ambiguous, are one-line errors from inference.
    @Test func inferenceRefusesWhatFitsNoModule() throws {
        func dict(_ shapes: [String: [Int]]) -> [String: TensorData] {
            shapes.mapValues { TensorData(shape: $0, scalars: [Float](repeating: 0, count: $0.reduce(1, *))) }
        }
        let cases: [([String: [Int]], String)] = [
            (["a.conv.weight": [6, 5, 3, 3]], "6 output channels: not the 4 gates"),
            (["convz.weight": [4, 4, 3, 3]], "not the 4 hidden channels plus at least one input channel"),
            (["a.convz.weight": [2, 3, 3, 3], "b.convz1.weight": [2, 3, 1, 5]], "more than one convolutional recurrent module"),
            (["convz1.weight": [2, 3, 5, 1]], "SepConvGRU's first convolutions are 1×k"),
        ]
        for (shapes, message) in cases {
            #expect { _ = try ConvModelArchitecture(inferringFrom: dict(shapes)) } throws: { "\($0)".contains(message) }
        }
        #expect(!ConvModelArchitecture.recognises(dict(["rnn.weight_ih_l0": [4, 2], "conv.weight": [4, 2, 3, 3]])))
        let gru = try ConvModelArchitecture(inferringFrom: dict(["x.cell_list.0.convz.weight": [2, 5, 3, 3], "x.cell_list.1.convz.weight": [2, 4, 3, 3]]))
        #expect(gru.kind == .convGRU && gru.numLayers == 2 && gru.inputChannels == 3 && gru.prefix == "x." && gru.cellList && !gru.bias)
        // Sizes from a file are bounded before anything is allocated.
        var big = ConvModelArchitecture(kind: .convLSTM, inputChannels: 1, hiddenChannels: 65536)
        big.numLayers = 64
        #expect { try big.validate() } throws: { "\($0)".contains("too many parameters") }
    }
}
