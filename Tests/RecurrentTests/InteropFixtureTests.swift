import Foundation
import Testing
@testable import Recurrent

/// Models saved by PyTorch (`save_file(model.state_dict())`, no metadata) loaded, run and
/// fine-tuned from Swift, against `Tools/make_interop_fixtures.py`.
@Suite struct InteropFixtureTests {
    static var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.root.appendingPathComponent("interop").path)) ?? [])
            .filter { $0.hasSuffix(".run.safetensors") }.map { String($0.dropLast(".run.safetensors".count)) }.sorted()
    }

    static var fitCases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.root.appendingPathComponent("interop").path)) ?? [])
            .filter { $0.contains(".fit_") }.map { String($0.dropLast(".safetensors".count)) }.sorted()
    }

    func url(_ name: String) -> URL { Fixtures.root.appendingPathComponent("interop/\(name)") }

    func array(_ name: String) throws -> Tensor? {
        guard FileManager.default.fileExists(atPath: url(name).path) else { return nil }
        let t = try NPY.read(from: url(name))
        return Tensor(shape: t.shape, scalars: t.scalars)
    }

    func load(_ name: String, _ expected: SafeTensorsFile) throws -> RecurrentModel {
        try RecurrentModel.load(from: url(name + ".model.safetensors"),
                                nonlinearity: Nonlinearity(rawValue: expected.metadata["nonlinearity"] ?? "tanh"),
                                batchFirst: expected.metadata["batch_first"] == "true")
    }

    @Test(arguments: cases)
    func runMatchesPyTorch(_ name: String) throws {
        let expected = try SafeTensorsFile.read(from: url(name + ".run.safetensors"))
        let model = try load(name, expected)
        #expect((model.architecture.headPrefix != nil) == (expected.metadata["has_head"] == "true"), "\(name): head inferred")
        let r = try withoutGradients {
            try model(try array(name + ".input.npy")!, h0: try array(name + ".h0.npy"), c0: try array(name + ".c0.npy"))
        }
        expectClose(r.output, shape: try expected.shape("output"), try expected.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) output")
        expectClose(r.h, shape: try expected.shape("h_n"), try expected.values("h_n"), rtol: 1e-5, atol: 1e-6, "\(name) h_n")
        if expected.tensors["c_n"] != nil {
            expectClose(r.c, shape: try expected.shape("c_n"), try expected.values("c_n"), rtol: 1e-5, atol: 1e-6, "\(name) c_n")
        }
        if expected.tensors["prediction"] != nil {
            expectClose(r.prediction, shape: try expected.shape("prediction"), try expected.values("prediction"), rtol: 1e-5, atol: 1e-6, "\(name) prediction")
        }
    }

    /// PyTorch → Swift → file keeps every tensor bit for bit, under the same keys.
    @Test(arguments: cases)
    func roundTripIsBitExact(_ name: String) throws {
        let original = try SafeTensorsFile.read(from: url(name + ".model.safetensors"))
        let expected = try SafeTensorsFile.read(from: url(name + ".run.safetensors"))
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try load(name, expected).save(to: dir.file("m.safetensors"))
        let saved = try SafeTensorsFile.read(from: dir.file("m.safetensors"))
        #expect(Set(saved.tensors.keys) == Set(original.tensors.keys), "\(name): keys")
        for (key, t) in original.tensors {
            #expect(saved.tensors[key]?.shape == t.shape, "\(name) \(key) shape")
            #expect(saved.tensors[key]?.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(name) \(key) bits")
        }
    }

    /// `fit` with --steps N (full batch, no shuffling) reproduces PyTorch's losses and weights.
    /// Tolerance 1e-4 relative: several updates compound the ~1e-6 forward and gradient differences.
    @Test(arguments: fitCases)
    func fitMatchesPyTorch(_ fitName: String) throws {
        let name = String(fitName[..<fitName.range(of: ".fit_")!.lowerBound])
        let expected = try SafeTensorsFile.read(from: url(fitName + ".safetensors"))
        let run = try SafeTensorsFile.read(from: url(name + ".run.safetensors"))
        let model = try load(name, run)
        var config = FitConfiguration()
        config.optimizer = FitConfiguration.OptimizerKind(rawValue: expected.metadata["optimizer"]!)!
        config.learningRate = Float(expected.metadata["lr"]!)!
        config.momentum = Float(expected.metadata["momentum"]!)!
        config.weightDecay = Float(expected.metadata["weight_decay"]!)!
        config.steps = Int(expected.metadata["steps"]!)!
        config.clipGradNorm = Float(expected.metadata["clip_grad_norm"] ?? "none")  // nil for "none"
        let losses = try fit(model, input: try array(name + ".input.npy")!, target: try array(name + ".target.npy")!,
                             h0: try array(name + ".h0.npy"), c0: try array(name + ".c0.npy"), configuration: config)
        let expectedLosses = expected.metadata["losses"]!.split(separator: ",").map { Float($0)! }
        expectClose(losses, expectedLosses, rtol: 1e-4, atol: 1e-6, "\(fitName) losses")
        for (key, p) in model.namedParameters {
            expectClose(p.scalars, try expected.values(key), rtol: 1e-4, atol: 1e-5, "\(fitName) \(key)")
        }
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count == 78, "run cases: \(Self.cases.count)")
        #expect(Self.fitCases.count == 8, "fit cases: \(Self.fitCases.count)")
    }
}
