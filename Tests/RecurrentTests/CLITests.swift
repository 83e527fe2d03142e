import Foundation
import Testing
@testable import Recurrent

/// The `recurrent` command: inspect, run and fit on files it is given, and one-line errors with a
/// non-zero exit (and no output file) for bad input.
@Suite(.serialized) struct CLITests {
    /// A PyTorch-style model (`rnn.` LSTM + `head.` Linear, no metadata), an input and a target.
    func makeFiles(_ dir: TemporaryDirectory) throws -> RecurrentModel {
        manualSeed(21)
        let model = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true,
                                                     prefix: "rnn.", headPrefix: "head.", headOutputSize: 2))
        try SafeTensorsFile(tensors: model.stateDict()).write(to: dir.file("model.safetensors"))
        try NPY.write(TensorData(shape: [5, 3, 3], scalars: testValues(45, seed: 1)), to: dir.file("x.npy"))
        try NPY.write(TensorData(shape: [5, 3, 2], scalars: testValues(30, seed: 2)), to: dir.file("y.npy"))
        return model
    }

    /// `recurrent bench --json` prints one JSON object with the timings the issue names (no timing
    /// is asserted), for layers, training, the plain matrix product and the FMA ceiling; bad options
    /// fail cleanly.
    @Test(arguments: [["--mode", "lstm", "--bidirectional", "--layers", "2"], ["--mode", "gru", "--train", "--threads", "2"],
                      ["--mode", "rnn-relu", "--train"], ["--mode", "matmul"], ["--mode", "peak"],
                      ["--mode", "lstm", "--variant", "coupled-peephole", "--train"], ["--mode", "lstm", "--variant", "layer-norm", "--train"],
                      ["--mode", "gru", "--variant", "reset-before", "--train"], ["--mode", "gru", "--variant", "layer-norm"]])
    func benchPrintsJSON(_ options: [String]) throws {
        let result = try CommandRunner.run(["bench", "--input-size", "4", "--hidden-size", "8", "--batch", "3", "--seq-len", "5",
                                            "--repeat", "2", "--json"] + options)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(result.stdout)")
        let object = try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any]
        for key in ["min_ms", "median_ms", "gflops", "gflop", "peak_rss_mb"] {
            #expect((object?[key] as? Double).map { $0 > 0 } == true, "\(options): \(key) in \(result.stdout)")
        }
        #expect(object?["mode"] as? String == options[1])
        #expect(object?["variant"] as? String == (options.firstIndex(of: "--variant").map { options[$0 + 1] } ?? "standard"))
    }

    @Test func benchRejectsBadOptions() throws {
        for options in [["--mode", "transformer"], ["--mode", "matmul", "--train"], ["--mode", "peak", "--layers", "2"],
                        ["--batch", "0"], ["--variant", "fancy"], ["--mode", "gru", "--variant", "peephole"],
                        ["--mode", "rnn-tanh", "--variant", "layer-norm"], ["--mode", "matmul", "--variant", "peephole"]] {
            let result = try CommandRunner.run(["bench", "--repeat", "1"] + options)
            #expect(result.status != 0, "\(options) should fail")
            #expect(result.stderr.contains("Error:"), "\(options): \(result.stderr)")
        }
    }

    @Test func inspectRunAndFit() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let model = try makeFiles(dir)

        let inspect = try CommandRunner.run(["inspect", dir.path("model.safetensors")])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("LSTM(input 3, hidden 4, layers 2, bidirectional) at 'rnn' + head Linear(8 → 2) at 'head' (inferred"))
        #expect(inspect.stdout.contains("rnn.weight_hh_l1_reverse  F32    [16, 4]"))
        #expect(inspect.stdout.contains("parameters: \(model.parameterCount)"))

        let run = try CommandRunner.run(["run", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--output", dir.path("out.safetensors")])
        #expect(run.status == 0, "\(run.stderr)")
        let out = try SafeTensorsFile.read(from: dir.file("out.safetensors"))
        #expect(Set(out.tensors.keys) == ["output", "h_n", "c_n", "prediction"])
        let x = Tensor(shape: [5, 3, 3], scalars: testValues(45, seed: 1))
        let expected = try model(x)
        #expect(out.tensors["output"]!.scalars == expected.output.scalars)
        #expect(out.tensors["c_n"]!.shape == [4, 3, 4])
        #expect(out.tensors["prediction"]!.scalars == expected.prediction!.scalars)

        let npy = try CommandRunner.run(["run", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--output", dir.path("p.npy")])
        #expect(npy.status == 0)
        #expect(try NPY.read(from: dir.file("p.npy")).scalars == expected.output.scalars, "--output X.npy writes `output`")

        let fit = try CommandRunner.run(["fit", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--target", dir.path("y.npy"),
                                         "--optimizer", "sgd", "--lr", "0.1", "--steps", "3", "--output", dir.path("trained.safetensors")])
        #expect(fit.status == 0, "\(fit.stderr)")
        // The same three steps through the library.
        let reference = try RecurrentModel.load(from: dir.file("model.safetensors"))
        var config = FitConfiguration()
        (config.optimizer, config.learningRate, config.steps) = (.sgd, 0.1, 3)
        _ = try Recurrent.fit(reference, input: x, target: Tensor(shape: [5, 3, 2], scalars: testValues(30, seed: 2)), configuration: config)
        let trained = try SafeTensorsFile.read(from: dir.file("trained.safetensors"))
        #expect(Set(trained.tensors.keys) == Set(model.namedParameters.map(\.name)), "same keys as the input file")
        for (name, p) in reference.namedParameters { #expect(trained.tensors[name]!.scalars == p.scalars, "\(name)") }

        let epochs = try CommandRunner.run(["fit", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--target", dir.path("y.npy"),
                                            "--epochs", "2", "--batch-size", "2", "--output", dir.path("e.safetensors")])
        #expect(epochs.status == 0, "\(epochs.stderr)")
        #expect(epochs.stdout.contains("trained 4 updates"))
    }

    enum BadInput: String, CaseIterable {
        case missingModel, truncatedModel, wrongFeatureSize, wrongRank, nonFiniteInput, fortranInput, badH0, unknownLoss, divergingFit
    }

    @Test(arguments: BadInput.allCases)
    func badInputFailsCleanly(_ c: BadInput) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try makeFiles(dir)
        let model = dir.path("model.safetensors"), output = dir.path("out.safetensors")
        var args = ["run", model, "--input", dir.path("x.npy"), "--output", output]
        switch c {
        case .missingModel: args[1] = dir.path("nope.safetensors")
        case .truncatedModel:
            let bytes = try Data(contentsOf: dir.file("model.safetensors"))
            try bytes.prefix(100).write(to: dir.file("model.safetensors"))
        case .wrongFeatureSize: try NPY.write(TensorData(shape: [5, 3, 4], scalars: testValues(60, seed: 1)), to: dir.file("x.npy"))
        case .wrongRank: try NPY.write(TensorData(shape: [5, 3, 3, 1], scalars: testValues(45, seed: 1)), to: dir.file("x.npy"))
        case .nonFiniteInput:
            var v = testValues(45, seed: 1); v[7] = .nan
            try NPY.write(TensorData(shape: [5, 3, 3], scalars: v), to: dir.file("x.npy"))
        case .fortranInput:
            var bytes = NPY.encode(TensorData(shape: [5, 3, 3], scalars: testValues(45, seed: 1)))
            let range = bytes.range(of: Data("False".utf8))!
            bytes.replaceSubrange(range, with: Data("True ".utf8))
            try bytes.write(to: dir.file("x.npy"))
        case .badH0:
            try NPY.write(TensorData(shape: [4, 2, 4], scalars: Array(repeating: 0, count: 32)), to: dir.file("h0.npy"))
            args += ["--h0", dir.path("h0.npy")]
        case .unknownLoss:
            args = ["fit", model, "--input", dir.path("x.npy"), "--target", dir.path("y.npy"), "--loss", "hinge", "--steps", "1", "--output", output]
        case .divergingFit:
            args = ["fit", model, "--input", dir.path("x.npy"), "--target", dir.path("y.npy"), "--optimizer", "sgd", "--lr", "1e30", "--steps", "5", "--output", output]
        }
        let before = dir.contents
        let result = try CommandRunner.run(args)
        #expect(result.status != 0, "\(c): exit status")
        // One error line (progress lines from `fit` may precede it).
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        #expect(errors.count == 1, "\(c): stderr was \(result.stderr)")
        #expect(dir.contents == before, "\(c): no output or temporary file written")
        let mentions: String = switch c {
        case .missingModel: "nope.safetensors"
        case .truncatedModel: "model.safetensors"
        case .wrongFeatureSize: "Expected 3, got 4"
        case .wrongRank: "[5, 3, 3, 1]"
        case .nonFiniteInput: "nan"
        case .fortranInput: "Fortran"
        case .badH0: "expected h0 of shape [4, 3, 4], got [4, 2, 4]"
        case .unknownLoss: "hinge"
        case .divergingFit: "loss"
        }
        #expect(result.stderr.contains(mentions), "\(c): stderr was \(result.stderr)")
    }
}
