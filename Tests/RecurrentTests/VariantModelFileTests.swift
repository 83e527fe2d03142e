import Foundation
import Testing
@testable import Recurrent

/// The variants in model files and through the commands: the file records the variant, so
/// `inspect`, `run` and `fit` need no flags; peepholes and layer norm are also found by their keys
/// in a plain state dict; malformed variant metadata is a one-line error.
@Suite struct VariantModelFileTests {
    static let architectures: [ModelArchitecture] = [
        ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, projSize: 2,
                          prefix: "rnn.", headPrefix: "head.", headOutputSize: 2, options: CellOptions(peephole: true)),
        ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4,
                          options: CellOptions(peephole: true, coupledInputForget: true, clip: 0.75)),
        ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, bidirectional: true,
                          options: CellOptions(activations: [.hardSigmoid(alpha: 0.3, beta: 0.4), .elu(alpha: 0.5), .softsign],
                                               reverseActivations: [.sigmoid, .scaledTanh(alpha: 2, beta: 0.5), .tanh])),
        ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 6, numLayers: 2, batchFirst: true, headPrefix: "fc.",
                          headOutputSize: 3, options: CellOptions(layerNorm: true)),
        ModelArchitecture(kind: .gru, inputSize: 4, hiddenSize: 3, numLayers: 2, bidirectional: true,
                          options: CellOptions(resetAfter: false)),
        ModelArchitecture(kind: .gru, inputSize: 4, hiddenSize: 3, bias: false, options: CellOptions(layerNorm: true)),
        ModelArchitecture(kind: .rnn, inputSize: 2, hiddenSize: 6, options: CellOptions(activations: [.leakyRelu(alpha: 0.1)], clip: 2)),
    ]

    @Test(arguments: architectures)
    func saveAndLoadKeepsTheVariant(_ architecture: ModelArchitecture) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let model = RecurrentModel(architecture)
        try model.save(to: dir.file("m.safetensors"))
        let loaded = try RecurrentModel.load(from: dir.file("m.safetensors"))
        #expect(loaded.architecture == architecture)
        #expect(loaded.layer.options == architecture.options)
        let x = testTensor(architecture.batchFirst ? [2, 4, architecture.inputSize] : [4, 2, architecture.inputSize], seed: 3)
        #expect(try model(x).output.scalars == (try loaded(x)).output.scalars)
    }

    @Test(arguments: [CellOptions(peephole: true), CellOptions(layerNorm: true)])
    func keysNameTheVariant(_ options: CellOptions) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let architecture = ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true,
                                             prefix: "lstm.", options: options)
        try SafeTensorsFile(tensors: RecurrentModel(architecture).stateDict()).write(to: dir.file("plain.safetensors"))
        #expect(try RecurrentModel.load(from: dir.file("plain.safetensors")).architecture == architecture)
    }

    @Test func commandsHandleVariantsWithoutFlags() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let architecture = ModelArchitecture(kind: .gru, inputSize: 3, hiddenSize: 4, bidirectional: true, headPrefix: "head.",
                                             headOutputSize: 2, options: CellOptions(resetAfter: false, clip: 1.5))
        let model = RecurrentModel(architecture)
        try model.save(to: dir.file("model.safetensors"))
        try NPY.write(TensorData(shape: [5, 3, 3], scalars: testValues(45, seed: 1)), to: dir.file("x.npy"))
        try NPY.write(TensorData(shape: [5, 3, 2], scalars: testValues(30, seed: 2)), to: dir.file("y.npy"))

        let inspect = try CommandRunner.run(["inspect", dir.path("model.safetensors")])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("GRU(input 3, hidden 4, layers 1, bidirectional, reset gate before the product, clip 1.5)"),
                "\(inspect.stdout)")

        let run = try CommandRunner.run(["run", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--output", dir.path("out.safetensors")])
        #expect(run.status == 0, "\(run.stderr)")
        let out = try SafeTensorsFile.read(from: dir.file("out.safetensors"))
        let expected = try model(Tensor(shape: [5, 3, 3], scalars: testValues(45, seed: 1)))
        #expect(out.tensors["output"]!.scalars == expected.output.scalars)

        let fit = try CommandRunner.run(["fit", dir.path("model.safetensors"), "--input", dir.path("x.npy"), "--target", dir.path("y.npy"),
                                         "--steps", "3", "--output", dir.path("trained.safetensors")])
        #expect(fit.status == 0, "\(fit.stderr)")
        let trained = try RecurrentModel.load(from: dir.file("trained.safetensors"))
        #expect(trained.architecture == architecture)
        #expect(trained.parameters[1].scalars != model.parameters[1].scalars, "fit changed the weights")
    }

    @Test(arguments: [
        ("activations", "Sigmoid,Tanh,Bogus", "unknown activation"),
        ("activations", "Sigmoid,Tanh", "expected 3 per direction"),
        ("activation_alpha", "1,2", "must list 3 numbers"),
        ("clip", "-3", "clip must be a positive"),
        ("clip", "lots", "'clip' must be a number"),
        ("reset_after", "false", "the reset gate placement is a GRU option"),
        ("peephole", "maybe", "'peephole' must be true or false"),
        ("layer_norm", "true", "missing"),
    ])
    func malformedVariantMetadataIsOneLine(_ key: String, _ value: String, _ message: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let architecture = ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4)
        var metadata = architecture.metadata
        metadata[key] = value
        if key == "activation_alpha" { metadata["activations"] = "Sigmoid,Tanh,Tanh" }
        try SafeTensorsFile(tensors: RecurrentModel(architecture).stateDict(), metadata: metadata).write(to: dir.file("m.safetensors"))
        #expect { try RecurrentModel.load(from: dir.file("m.safetensors")) } throws: { "\($0)".contains(message) && !"\($0)".contains("\n") }
        let inspect = try CommandRunner.run(["inspect", dir.path("m.safetensors")])
        #expect(inspect.status != 0 && inspect.stderr.contains(message), "\(key)=\(value): \(inspect.stderr)")
    }
}
