import Foundation
import Testing
@testable import Recurrent

/// PyTorch fixtures written by `Tools/make_fixtures.py` (safetensors files with `__metadata__`).
enum Fixtures {
    static var root: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures") }

    /// File names (without `.safetensors`) in a fixture folder, sorted; used as test arguments.
    static func names(in folder: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return files.filter { $0.hasSuffix(".safetensors") }.map { String($0.dropLast(".safetensors".count)) }.sorted()
    }

    static func load(_ path: String) throws -> SafeTensorsFile {
        try SafeTensorsFile.read(from: root.appendingPathComponent(path + ".safetensors"))
    }
}

extension SafeTensorsFile {
    /// The tensor `key`, failing the test (by throwing) when the fixture lacks it.
    func tensor(_ key: String, requiresGrad: Bool = false) throws -> Tensor {
        guard let t = tensors[key] else { throw FixtureError.missing(key) }
        return Tensor(shape: t.shape, scalars: t.scalars, requiresGrad: requiresGrad)
    }

    func values(_ key: String) throws -> [Float] {
        guard let t = tensors[key] else { throw FixtureError.missing(key) }
        return t.scalars
    }

    func shape(_ key: String) throws -> [Int] {
        guard let t = tensors[key] else { throw FixtureError.missing(key) }
        return t.shape
    }

    /// The parameters stored under `prefix` (e.g. `param.`), with the prefix removed.
    func stateDict(prefix: String) -> [String: TensorData] {
        Dictionary(uniqueKeysWithValues: tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
    }

    func flag(_ key: String) -> Bool { metadata[key] == "true" }
    func int(_ key: String) -> Int { Int(metadata[key] ?? "") ?? -1 }
}

enum FixtureError: Error { case missing(String) }
