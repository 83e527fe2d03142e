import Foundation
import Testing
@testable import Recurrent

/// The library's side of the validation layer (issue 25): values from files and callers throw,
/// never trap. `MalformedInputTests` covers the same ground through the binary.
@Suite struct ValidationTests {
    @Test(arguments: [("hidden_size", 1 << 62), ("input_size", 1 << 61), ("num_layers", 1_000_000_000), ("head_output_size", 1 << 62),
                      ("hidden_size", 1 << 24)])
    func hugeSizesAreRefusedWithTheLimit(_ key: String, _ value: Int) throws {
        var a = ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3, headPrefix: "head.", headOutputSize: 2)
        switch key {
        case "hidden_size": a.hiddenSize = value
        case "input_size": a.inputSize = value
        case "num_layers": a.numLayers = value
        default: a.headOutputSize = value
        }
        let error = try #require(throws: ModelFileError.self) { try a.validate() }
        #expect(error.message.contains("limit is"), "\(error)")
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteWeightsAreRefusedOnLoad(_ bad: Float) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var dict = LSTM(inputSize: 2, hiddenSize: 3).stateDict()
        dict["bias_hh_l0"]!.scalars[5] = bad
        try SafeTensorsFile(tensors: dict).write(to: dir.file("m.safetensors"))
        let error = try #require(throws: ModelFileError.self) { try RecurrentModel.load(from: dir.file("m.safetensors")) }
        #expect(error.description.contains("'bias_hh_l0' holds \(bad) at flat index 5"), "\(error)")
    }

    @Test func zeroBatchThrows() {
        #expect(throws: RecurrentError.self) { try LSTM(inputSize: 3, hiddenSize: 4)(Tensor.zeros([4, 0, 3])) }
        #expect(throws: RecurrentError.self) { try GRU(inputSize: 3, hiddenSize: 4, batchFirst: true)(Tensor.zeros([0, 4, 3])) }
    }

    enum FitCase: String, CaseIterable {
        case hugeTarget, targetBatchFullBatch, targetBatchMiniBatch, h0Batch, diverging, tooManyUpdates
    }

    @Test(arguments: FitCase.allCases)
    func fitRefuses(_ c: FitCase) throws {
        manualSeed(0)
        let model = RecurrentModel(ModelArchitecture(kind: .gru, inputSize: 2, hiddenSize: 3, headPrefix: "head.", headOutputSize: 2))
        let x = Tensor.zeros([3, 2, 2])
        var config = FitConfiguration()
        config.steps = 2
        var target = Tensor.zeros([3, 2, 2]), h0: Tensor?
        switch c {
        case .hugeTarget:
            config.loss = .crossEntropy
            target = Tensor(shape: [3, 2], scalars: [0, 1, 3e38, 0, 1, 0])
        case .targetBatchFullBatch: target = Tensor.zeros([3, 3, 2])
        case .targetBatchMiniBatch: (target, config.steps, config.epochs, config.batchSize) = (Tensor.zeros([3, 3, 2]), nil, 1, 1)
        case .h0Batch: (h0, config.batchSize) = (Tensor.zeros([1, 1, 3]), 1)
        case .diverging: (config.optimizer, config.learningRate) = (.sgd, 1e38)
        case .tooManyUpdates: (config.steps, config.epochs, config.batchSize) = (nil, Int.max, 1)
        }
        let before = model.parameters.map(\.scalars)
        #expect(throws: RecurrentError.self) { try fit(model, input: x, target: target, h0: h0, configuration: config) }
        if c != .diverging { #expect(model.parameters.map(\.scalars) == before, "\(c): parameters changed before the error") }
    }

    @Test func stateDictErrorIsOneLine() {
        let error = StateDictError(missingKeys: ["a\nb"], unexpectedKeys: ["c\rd"], shapeMismatches: [])
        #expect(!error.description.contains { $0.isNewline })
        #expect(error.description.contains("a\\u{A}b"))
    }
}

/// `loadStateDict` (the library's own loading path, not only the model files) refuses NaN and
/// infinite values, naming the key and the first bad index, and changes nothing.
@Suite struct StateDictFiniteTests {
    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteValuesAreRefused(_ bad: Float) throws {
        let layer = withRandomSeed(3) { GRU(inputSize: 2, hiddenSize: 3) }
        var dict = layer.stateDict()
        let before = layer.parameters.map(\.scalars)
        dict["bias_hh_l0"]!.scalars[4] = bad
        #expect { try layer.loadStateDict(dict) } throws: { error in
            let message = "\(error)"
            return error is StateDictError && message.contains("bias_hh_l0: \(bad) at flat index 4") && !message.contains("\n")
        }
        #expect(layer.parameters.map(\.scalars) == before, "nothing is loaded")
    }
}

/// Inputs `Tools/fuzz` found that trapped (`Tools/fuzz/regressions`): a bidirectional layer of
/// hidden size 2⁶² whose `2 · H` overflowed while the head was matched, before validation.
@Suite struct FuzzRegressionTests {
    /// The state dict (zero-valued tensors of huge shapes) through `load` and through the binary.
    @Test func hugeInferredBidirectionalLayerIsRefused() throws {
        let url = Fixtures.root.appendingPathComponent("regressions/outputfeatures-overflow-inferred.safetensors")
        #expect(throws: ModelFileError.self) { try RecurrentModel.load(from: url) }
        let result = try CommandRunner.run(["inspect", url.path])
        #expect(result.status == 1 && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// The same size from metadata: described without trapping, refused by validation.
    @Test func hugeSizeFromMetadataIsDescribedAndRefused() throws {
        let metadata = ["format": "recurrent", "kind": "rnn", "input_size": "1", "hidden_size": "4611686018427387904",
                        "num_layers": "1", "bidirectional": "true", "bias": "true", "proj_size": "0", "batch_first": "false",
                        "head_prefix": "h.", "head_output_size": "1", "head_bias": "true"]
        let architecture = try #require(try ModelArchitecture(metadata: metadata))
        #expect(architecture.outputFeatures == .max)
        #expect(architecture.description.contains("hidden 4611686018427387904"))
        #expect(throws: ModelFileError.self) { try architecture.validate() }
    }
}
