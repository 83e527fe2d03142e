import Foundation
import Testing
@testable import Recurrent

/// The worked examples' models against PyTorch (`Tools/make_example_fixtures.py`): the module's
/// state dict is inferred (embedding and head included), then prediction, loss and every
/// gradient must match PyTorch's.
@Suite struct ExampleFixtureTests {
    @Test(arguments: Fixtures.names(in: "examples"))
    func matchesPyTorch(_ name: String) throws {
        let fixture = try Fixtures.load("examples/\(name)")
        let batchFirst = fixture.metadata["batch_first"] == "true"
        let placement = try #require(ModelArchitecture.HeadPlacement(rawValue: fixture.metadata["head_placement"] ?? ""))
        let dict = fixture.stateDict(prefix: "param.")
        let architecture = try ModelArchitecture(inferringFrom: dict, batchFirst: batchFirst, headPlacement: placement)
        #expect(architecture.headPrefix != nil, "\(name): the head is found")
        if name.hasPrefix("charlm") {
            #expect(architecture.inputEncoding == .embedding(prefix: "embedding.", count: 9), "\(name): the embedding is found")
            #expect(architecture.headPrefix == "fc.")
        }
        let model = RecurrentModel(architecture)
        try model.loadStateDict(dict)

        let tokenInput = architecture.tokenCount != nil
        let input = try fixture.tensor("input", requiresGrad: !tokenInput)
        let prediction = try #require(try model(input).prediction)
        expectClose(prediction.scalars, try fixture.values("prediction"), rtol: 1e-5, atol: 1e-6, "\(name): prediction")
        #expect(prediction.shape == (try fixture.shape("prediction")))

        let targets = try fixture.tensor("targets")
        let loss: Tensor = fixture.metadata["loss"] == "mse"
            ? try mseLoss(prediction, targets)
            : try crossEntropy(logits: prediction.reshaped([-1, prediction.shape.last!]), targets: targets.scalars.map { Int($0) })
        expectClose([loss.item], try fixture.values("loss"), rtol: 1e-5, atol: 1e-6, "\(name): loss")
        loss.backward()
        for (key, parameter) in model.namedParameters {
            expectClose(try #require(parameter.grad).scalars, try fixture.values("grad.param.\(key)"), rtol: 1e-4, atol: 1e-6,
                        "\(name): grad of \(key)")
        }
        if !tokenInput {
            expectClose(try #require(input.grad).scalars, try fixture.values("grad.input"), rtol: 1e-4, atol: 1e-6, "\(name): grad of the input")
        }
    }

    /// The same models saved by Recurrent describe themselves: loaded back without any hint, they
    /// give the same predictions (and a file from another program is read as PyTorch wrote it).
    @Test(arguments: Fixtures.names(in: "examples"))
    func saveAndLoadKeepTheArchitecture(_ name: String) throws {
        let fixture = try Fixtures.load("examples/\(name)")
        let dict = fixture.stateDict(prefix: "param.")
        let placement = ModelArchitecture.HeadPlacement(rawValue: fixture.metadata["head_placement"]!)!
        let architecture = try ModelArchitecture(inferringFrom: dict, batchFirst: fixture.metadata["batch_first"] == "true",
                                                 headPlacement: placement)
        let model = RecurrentModel(architecture)
        try model.loadStateDict(dict)
        model.annotations["note"] = "kept"
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try model.save(to: dir.file("m.safetensors"))
        let loaded = try RecurrentModel.load(from: dir.file("m.safetensors"))
        #expect(loaded.architecture == architecture)
        #expect(loaded.annotations == ["note": "kept"])
        let input = try fixture.tensor("input")
        #expect(try loaded(input).prediction!.scalars == model(input).prediction!.scalars)
    }

    @Test func everyCaseIsThere() {
        #expect(Fixtures.names(in: "examples") == ["charlm_embedding", "charlm_rnn_2layer", "forecast_lstm", "mnist_bigru_2layer", "mnist_tutorial"])
    }

    /// Tokens outside the vocabulary, or not integers, are a thrown error, not a trap.
    @Test func badTokensThrow() throws {
        let model = RecurrentModel(ModelArchitecture(kind: .gru, inputSize: 4, hiddenSize: 3, headPrefix: "fc.", headOutputSize: 5,
                                                     inputEncoding: .embedding(prefix: "embedding.", count: 5)))
        for bad: Float in [5, -1, 1.5, .nan] {
            #expect(throws: RecurrentError.self) { try model(Tensor(shape: [2, 1], scalars: [0, bad])) }
        }
        let oneHot = RecurrentModel(ModelArchitecture(kind: .rnn, inputSize: 4, hiddenSize: 3, inputEncoding: .oneHot))
        #expect(throws: RecurrentError.self) { try oneHot(Tensor(shape: [1, 1], scalars: [4])) }
        #expect(throws: RecurrentError.self) { try oneHot(Tensor(shape: [1, 1, 1], scalars: [0])) }
        #expect(try oneHot(Tensor(shape: [3, 2], scalars: [0, 1, 2, 3, 3, 0])).output.shape == [3, 2, 3])
    }
}
