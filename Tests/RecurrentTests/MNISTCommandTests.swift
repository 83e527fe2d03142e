import Foundation
import Testing
@testable import Recurrent

/// `recurrent mnist` end to end on a tiny IDX folder the test writes: 3 classes of 4×5 images
/// (class c lights row c), 60 training and 12 test images.
@Suite(.serialized) struct MNISTCommandTests {
    static let (rows, cols, classes) = (4, 5, 3)

    static func images(_ labels: [Int], seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        return labels.flatMap { label in
            (0..<(rows * cols)).map { k in k / cols == label ? UInt8(200 + generator.next() % 56) : UInt8(generator.next() % 60) }
        }
    }

    static let trainingLabels = (0..<60).map { $0 % classes }, testLabels = (0..<12).map { ($0 * 7) % classes }

    /// Writes the four files; training images gzipped, test images raw (both forms are read).
    static func writeData(to dir: URL, change: (inout [String: Data]) -> Void = { _ in }) throws {
        func labels(_ l: [Int]) -> IDXArray { IDXArray(shape: [l.count], dataType: .uint8, bytes: l.map(UInt8.init)) }
        var files = [
            "train-images-idx3-ubyte.gz": storedGzip(IDX.encode(IDXArray(shape: [60, rows, cols], dataType: .uint8, bytes: images(trainingLabels, seed: 1)))),
            "train-labels-idx1-ubyte": IDX.encode(labels(trainingLabels)),
            "t10k-images-idx3-ubyte": IDX.encode(IDXArray(shape: [12, rows, cols], dataType: .uint8, bytes: images(testLabels, seed: 2))),
            "t10k-labels-idx1-ubyte": IDX.encode(labels(testLabels)),
        ]
        change(&files)
        for (name, data) in files { try data.write(to: dir.appendingPathComponent(name)) }
    }

    func train(_ data: TemporaryDirectory, into out: TemporaryDirectory, seed: String = "3") throws -> (json: [String: Any], stdout: String) {
        try ExampleCommands.runJSON(["mnist", "--data", data.url.path, "--epochs", "6", "--batch-size", "10", "--hidden-size", "12",
                                     "--lr", "0.02", "--test-subset", "8", "--eval-every", "3", "--seed", seed,
                                     "--output", out.path("m.safetensors"), "--plots", out.path("plots")])
    }

    @Test func trainsReportsPlotsAndSavesAModelThatRunAgrees() throws {
        let (data, out) = (try TemporaryDirectory(), try TemporaryDirectory())
        defer { data.remove(); out.remove() }
        try Self.writeData(to: data.url)
        let (json, stdout) = try train(data, into: out)

        // The tutorial's report: the first 10 predictions beside their labels, both accuracies.
        #expect(stdout.contains("real number:       \(Array(Self.testLabels[0..<10]))"), "\(stdout)")
        for key in ["test_accuracy", "test_accuracy_full"] {
            let value = try #require(ExampleCommands.number(json, key))
            #expect(value >= 0 && value <= 1, "\(key) is a fraction")
        }
        #expect(try #require(ExampleCommands.number(json, "epoch_seconds")) > 0)
        let losses = try #require(json["epoch_losses"] as? [Double])
        #expect(losses.count == 6 && losses.last! < losses.first!, "the training loss falls: \(losses)")
        #expect(try #require(ExampleCommands.number(json, "test_accuracy_full")) >= 0.75, "the classes are easy to tell apart")

        // The saved model describes itself and `recurrent run` gives the same predictions.
        let model = try RecurrentModel.load(from: out.file("m.safetensors"))
        #expect(model.architecture.headPlacement == .lastStep && model.architecture.batchFirst)
        #expect(model.namedParameters.map(\.name) == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                                                      "out.weight", "out.bias"])
        let test = try MNISTData.load(directory: data.url).test
        try NPY.write(TensorData(shape: [12, Self.rows, Self.cols], scalars: test.images(at: 0..<12)), to: out.file("x.npy"))
        let prediction = try #require(try ExampleCommands.runPrediction(model: out.path("m.safetensors"), input: out.path("x.npy"),
                                                                       output: out.path("p.safetensors")))
        #expect(prediction.shape == [12, Self.classes])
        let printed = stdout.split(separator: "\n").first { $0.hasPrefix("prediction number:") }.map(String.init) ?? ""
        let classes = argmaxRows(Tensor(shape: prediction.shape, scalars: prediction.scalars))
        #expect(printed == "prediction number: \(Array(classes[0..<10]))", "run agrees with the command's predictions")

        // Both plots parse, hold their series, and render where rsvg-convert is installed.
        let loss = out.file("plots/mnist-loss.svg"), confusion = out.file("plots/mnist-confusion.svg")
        #expect(try ExampleCommands.seriesNames(inSVG: loss) == ["training (moving average)", "test subset (8 images)"])
        _ = try ExampleCommands.seriesNames(inSVG: confusion)
        let svg = try String(contentsOf: confusion, encoding: .utf8)
        #expect(svg.components(separatedBy: "data-count=").count - 1 == Self.classes * Self.classes, "one cell per pair of classes")
        try ExampleCommands.renders(loss)
        try ExampleCommands.renders(confusion)
    }

    /// A fixed seed gives the same model, bit for bit, and the same metrics.
    @Test func sameSeedSameModel() throws {
        let (data, a, b) = (try TemporaryDirectory(), try TemporaryDirectory(), try TemporaryDirectory())
        defer { data.remove(); a.remove(); b.remove() }
        try Self.writeData(to: data.url)
        let first = try train(data, into: a), second = try train(data, into: b)
        #expect(try Data(contentsOf: a.file("m.safetensors")) == Data(contentsOf: b.file("m.safetensors")))
        #expect(first.json["test_accuracy_full"] as? Double == second.json["test_accuracy_full"] as? Double)
        #expect(first.json["epoch_losses"] as? [Double] == second.json["epoch_losses"] as? [Double])
        let other = try train(data, into: b, seed: "4")
        #expect(other.json["epoch_losses"] as? [Double] != first.json["epoch_losses"] as? [Double], "another seed, another run")
    }

    enum BadData: String, CaseIterable {
        case missingFile, truncated, wrongMagic, countMismatch
    }

    @Test(arguments: BadData.allCases)
    func badDataIsOneLineAndWritesNothing(_ bad: BadData) throws {
        let (data, out) = (try TemporaryDirectory(), try TemporaryDirectory())
        defer { data.remove(); out.remove() }
        try Self.writeData(to: data.url) { files in
            switch bad {
            case .missingFile: files["t10k-labels-idx1-ubyte"] = nil
            case .truncated: files["t10k-images-idx3-ubyte"] = files["t10k-images-idx3-ubyte"]!.dropLast(7)
            case .wrongMagic: files["train-labels-idx1-ubyte"]![0] = 7
            case .countMismatch: files["t10k-labels-idx1-ubyte"] = IDX.encode(IDXArray(shape: [3], dataType: .uint8, bytes: [0, 1, 2]))
            }
        }
        let fragment = switch bad {
        case .missingFile: "t10k-labels-idx1-ubyte"
        case .truncated: "t10k-images-idx3-ubyte"
        case .wrongMagic: "train-labels-idx1-ubyte"
        case .countMismatch: "3"
        }
        try ExampleCommands.expectFailure(["mnist", "--data", data.url.path, "--output", out.path("m.safetensors"), "--threads", "1"],
                                          fragment, in: out, keep: [])
    }

    @Test(arguments: [["--cell", "transformer"], ["--hidden-size", "0"], ["--epochs", "-1"], ["--lr", "nan"], ["--batch-size", "0"],
                      ["--output", "m.npy"], ["--threads", "0"], ["--class-names", "a,b"]])
    func badFlagsAreOneLine(_ flags: [String]) throws {
        let (data, out) = (try TemporaryDirectory(), try TemporaryDirectory())
        defer { data.remove(); out.remove() }
        try Self.writeData(to: data.url)
        let result = try CommandRunner.run(["mnist", "--data", data.url.path, "--output", out.path("m.safetensors"), "--epochs", "1"] + flags)
        #expect(result.status != 0, "\(flags) should fail")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.hasPrefix("Error:"), "\(flags): \(result.stderr)")
        #expect(out.contents.isEmpty, "nothing written for \(flags): \(out.contents)")
    }
}
