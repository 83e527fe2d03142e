import Foundation
import Testing
@testable import Recurrent

/// Model files: save/load round trips, architecture inference from plain PyTorch state dicts,
/// strict loading and malformed files.
@Suite struct ModelFileTests {
    static let architectures: [ModelArchitecture] = [
        ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, projSize: 2,
                          prefix: "rnn.", headPrefix: "head.", headOutputSize: 2),
        ModelArchitecture(kind: .gru, inputSize: 4, hiddenSize: 3, numLayers: 3, bias: false),
        ModelArchitecture(kind: .rnn, nonlinearity: .relu, inputSize: 2, hiddenSize: 6, batchFirst: true,
                          prefix: "encoder.", headPrefix: "out.", headOutputSize: 1, headBias: false),
    ]

    @Test(arguments: architectures)
    func saveAndLoadKeepsEverything(_ architecture: ModelArchitecture) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        manualSeed(4)
        let model = RecurrentModel(architecture)
        try model.save(to: dir.file("m.safetensors"))
        let loaded = try RecurrentModel.load(from: dir.file("m.safetensors"))
        #expect(loaded.architecture == architecture)
        #expect(loaded.namedParameters.map(\.name) == model.namedParameters.map(\.name))
        for (a, b) in zip(loaded.parameters, model.parameters) { #expect(a.scalars == b.scalars && a.shape == b.shape) }
        let x = testTensor(architecture.batchFirst ? [2, 4, architecture.inputSize] : [4, 2, architecture.inputSize], seed: 3)
        let (r1, r2) = (try model(x), try loaded(x))
        #expect(r1.output.scalars == r2.output.scalars)
        #expect(r1.prediction?.scalars == r2.prediction?.scalars)
        #expect(dir.contents == ["m.safetensors"], "no temporary files left behind")
    }

    @Test(arguments: architectures)
    func plainStateDictIsInferred(_ architecture: ModelArchitecture) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let model = RecurrentModel(architecture)
        // What `save_file(model.state_dict(), path)` writes: the weights and no metadata.
        try SafeTensorsFile(tensors: model.stateDict()).write(to: dir.file("plain.safetensors"))
        let loaded = try RecurrentModel.load(from: dir.file("plain.safetensors"), nonlinearity: architecture.nonlinearity,
                                             batchFirst: architecture.batchFirst)
        #expect(loaded.architecture == architecture)
    }

    @Test func strictLoadingReportsEveryProblemAtOnce() throws {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4)
        var dict = lstm.stateDict()
        dict["bias_hh_l0"] = nil
        dict["weight_ih_l0"] = TensorData(shape: [16, 2], scalars: Array(repeating: 0, count: 32))
        dict["weight_ih_l1"] = TensorData(shape: [1], scalars: [0])
        let before = lstm.parameters.map(\.scalars)
        #expect {
            try lstm.loadStateDict(dict)
        } throws: { error in
            let e = error as! StateDictError
            return e.missingKeys == ["bias_hh_l0"] && e.unexpectedKeys == ["weight_ih_l1"]
                && e.shapeMismatches == ["weight_ih_l0: expected [16, 3], got [16, 2]"]
                && !e.description.contains("\n")
        }
        #expect(lstm.parameters.map(\.scalars) == before, "a failed load changes nothing")
        dict["weight_ih_l0"] = TensorData(shape: [16, 3], scalars: Array(repeating: 1, count: 48))
        try lstm.loadStateDict(dict, strict: false)
        #expect(lstm.parameters[0].scalars.allSatisfy { $0 == 1 })
    }

    enum Malformed: String, CaseIterable { case noRecurrentLayer, twoLayers, badGateCount, strayKey, truncated, notSafetensors }

    @Test(arguments: Malformed.allCases)
    func malformedModelFilesThrowOneLine(_ c: Malformed) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("bad.safetensors")
        let gru = GRU(inputSize: 3, hiddenSize: 4).stateDict()
        func m(_ shape: [Int]) -> TensorData { TensorData(shape: shape, scalars: Array(repeating: 0, count: shape.reduce(1, *))) }
        switch c {
        case .noRecurrentLayer: try SafeTensorsFile(tensors: ["head.weight": m([2, 4])]).write(to: url)
        case .twoLayers:
            var t = gru
            for (k, v) in gru { t["second." + k] = v }
            try SafeTensorsFile(tensors: t).write(to: url)
        case .badGateCount: try SafeTensorsFile(tensors: ["weight_ih_l0": m([8, 3]), "weight_hh_l0": m([8, 4])]).write(to: url)
        case .strayKey:
            var t = gru
            t["head.weight"] = m([2, 4]); t["head.extra"] = m([3])
            try SafeTensorsFile(tensors: t).write(to: url)
        case .truncated:
            let bytes = try SafeTensorsFile(tensors: gru).encoded()
            try bytes.prefix(bytes.count - 10).write(to: url)
        case .notSafetensors: try Data("hello".utf8).write(to: url)
        }
        do {
            _ = try RecurrentModel.load(from: url)
            Issue.record("\(c): loaded")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("bad.safetensors"), "\(c): \(message)")
            #expect(!message.contains("\n"), "\(c): \(message)")
        }
    }
}
