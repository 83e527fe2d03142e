import Foundation
import Testing
@testable import Recurrent

/// One bad invocation of the `recurrent` binary: it must fail with one line on standard error.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    /// The group it belongs to (the counts per group are in ``MalformedInputTests``).
    var category: String
    /// What is wrong, for the test's name.
    var name: String
    /// The command line.
    var arguments: [String]
    /// The case's own working folder, which must stay empty (no output, plot or temporary file).
    var folder: URL
    var testDescription: String { "\(category): \(name)" }
}

/// Writes a few hundred malformed inputs (model files, arrays, texts, flag combinations) into a
/// temporary folder and lists the command lines that feed them to `recurrent`.
///
/// The files sit in `inputs/` and are shared; each case gets an empty folder of its own under
/// `cases/`, used as its working directory and for any output it names.
struct MalformedInputs {
    let root: URL
    private(set) var cases: [MalformedCase] = []
    var inputs: URL { root.appendingPathComponent("inputs") }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("recurrent-malformed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("inputs"), withIntermediateDirectories: true)
        try writeBases()
        try modelFiles()
        try arrays()
        try fitCases()
        try overlapCases()
        try exampleCommandCases()
    }

    // MARK: - Writing files

    /// Writes `data` as `inputs/name` and returns its path.
    @discardableResult
    func write(_ name: String, _ data: Data) throws -> String {
        let url = inputs.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    @discardableResult
    func npy(_ name: String, _ shape: [Int], _ scalars: [Float]? = nil) throws -> String {
        let values = scalars ?? (0..<shape.reduce(1, *)).map { Float($0 % 7) / 7 }
        return try write(name, NPY.encode(TensorData(shape: shape, scalars: values)))
    }

    /// A safetensors file built byte by byte, so that it may hold any dtype, shape or name.
    static func safetensors(_ tensors: [(name: String, dtype: String, shape: [Int], bytes: Data)], metadata: [String: String]?) -> Data {
        var header: [String: Any] = [:], body = Data()
        for t in tensors {
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [body.count, body.count + t.bytes.count]]
            body += t.bytes
        }
        if let metadata { header["__metadata__"] = metadata }
        let json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var length = UInt64(json.count).littleEndian
        return Data(bytes: &length, count: 8) + json + body
    }

    /// The bytes of a version 1.0 `.npy` header with `descr` and `shape` (a Python tuple), padded to 64 bytes.
    static func npyHeader(_ descr: String, _ shape: String) -> Data {
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
        dict += "\n"
        let n = UInt16(dict.utf8.count)
        return Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0, UInt8(n & 0xFF), UInt8(n >> 8)]) + Data(dict.utf8)
    }

    static func f32(_ values: [Float]) -> Data { values.withUnsafeBufferPointer { Data(buffer: $0) } }

    /// `tensors` as F32 entries.
    static func entries(_ tensors: [String: TensorData]) -> [(name: String, dtype: String, shape: [Int], bytes: Data)] {
        tensors.keys.sorted().map { ($0, "F32", tensors[$0]!.shape, f32(tensors[$0]!.scalars)) }
    }

    /// The valid models the malformed ones are made from.
    var lstm: RecurrentModel { Self.model(ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3, prefix: "rnn.", headPrefix: "head.", headOutputSize: 2)) }
    var tokens: RecurrentModel {
        Self.model(ModelArchitecture(kind: .gru, inputSize: 2, hiddenSize: 3, prefix: "rnn.", headPrefix: "head.", headOutputSize: 5,
                                     inputEncoding: .embedding(prefix: "embedding.", count: 5)))
    }
    var plain: RecurrentModel { Self.model(ModelArchitecture(kind: .lstm, inputSize: 2, hiddenSize: 3)) }

    static func model(_ a: ModelArchitecture) -> RecurrentModel {
        manualSeed(0)
        return RecurrentModel(a)
    }

    /// Valid models and arrays: `lstm.safetensors` (LSTM(2, 3) + Linear(3, 2) every step),
    /// `tokens.safetensors` (Embedding(5, 2) + GRU(2, 3) + Linear(3, 5)), `plain.safetensors` (a
    /// PyTorch LSTM(2, 3) state dict), `x.npy` [3, 2, 2], `y.npy` [3, 2, 2], `classes.npy` [3, 2],
    /// `t.npy` (tokens [3, 2]), `h0.npy` and `c0.npy` [1, 2, 3].
    func writeBases() throws {
        try lstm.save(to: inputs.appendingPathComponent("lstm.safetensors"))
        try tokens.save(to: inputs.appendingPathComponent("tokens.safetensors"))
        try write("plain.safetensors", Self.safetensors(Self.entries(plain.stateDict()), metadata: nil))
        try npy("x.npy", [3, 2, 2])
        try npy("y.npy", [3, 2, 2])
        try npy("classes.npy", [3, 2], [0, 1, 1, 0, 0, 1])
        try npy("t.npy", [3, 2], [0, 1, 2, 3, 4, 0])
        try npy("h0.npy", [1, 2, 3])
        try npy("c0.npy", [1, 2, 3])
    }

    func path(_ name: String) -> String { inputs.appendingPathComponent(name).path }

    /// Adds a case; `arguments` may use `OUT` for a file in the case's own folder (`OUT.npy`, `OUT.safetensors`).
    mutating func add(_ category: String, _ name: String, _ arguments: [String]) throws {
        let folder = root.appendingPathComponent("cases/\(cases.count)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let resolved = arguments.map { $0.hasPrefix("OUT") ? folder.appendingPathComponent("out" + $0.dropFirst(3)).path : $0 }
        cases.append(MalformedCase(category: category, name: name, arguments: resolved, folder: folder))
    }

    /// `run` and `inspect` of a model file (with the input that suits it).
    mutating func runAndInspect(_ category: String, _ name: String, _ model: String, tokens: Bool = false) throws {
        try add(category, "run: " + name, ["run", model, "--input", path(tokens ? "t.npy" : "x.npy"), "--output", "OUT.npy"])
        try add(category, "inspect: " + name, ["inspect", model])
    }

    // MARK: - Model files

    mutating func modelFiles() throws {
        let counts = ["0", "-1", "16777216", "16777217", "1000000000", "4611686018427387904", "9223372036854775807",
                      "99999999999999999999", "abc", ""]
        let lstmMeta = lstm.architecture.metadata, lstmTensors = Self.entries(lstm.stateDict())
        let tokenMeta = tokens.architecture.metadata, tokenTensors = Self.entries(tokens.stateDict())
        for key in ["input_size", "hidden_size", "num_layers", "proj_size", "head_output_size", "embedding_count"] {
            for value in counts where !(key == "proj_size" && value == "0") {
                let isToken = key == "embedding_count"
                var meta = isToken ? tokenMeta : lstmMeta
                meta[key] = value
                let file = try write("meta-\(key)-\(value.prefix(12)).safetensors", Self.safetensors(isToken ? tokenTensors : lstmTensors, metadata: meta))
                try runAndInspect("metadata sizes", "\(key) = '\(value)'", file, tokens: isToken)
            }
        }
        for (key, value) in [("kind", "lstmx"), ("kind", ""), ("bidirectional", "maybe"), ("bias", ""), ("batch_first", "yes"),
                             ("nonlinearity", "sigmoid"), ("head_placement", "middle"), ("input", "pixels"), ("head_bias", "1"),
                             ("prefix", "rnn\n."), ("prefix", "other.")] {
            var meta = lstmMeta
            meta[key] = value
            if key == "nonlinearity" { meta["kind"] = "rnn" }
            let file = try write("meta-\(key)-\(cases.count).safetensors", Self.safetensors(lstmTensors, metadata: meta))
            try runAndInspect("metadata values", "\(key) = '\(value)'", file)
        }

        // Plain state dicts whose shapes or names cannot describe a model.
        let sd = plain.stateDict()
        func variant(_ name: String, _ change: (inout [(name: String, dtype: String, shape: [Int], bytes: Data)]) -> Void) throws {
            var e = Self.entries(sd)
            change(&e)
            try runAndInspect("state dict shapes", name, try write("sd-\(cases.count).safetensors", Self.safetensors(e, metadata: nil)))
        }
        func replace(_ key: String, shape: [Int]) -> (inout [(name: String, dtype: String, shape: [Int], bytes: Data)]) -> Void {
            { e in
                e.removeAll { $0.name == key }
                e.append((key, "F32", shape, Self.f32([Float](repeating: 0.5, count: shape.reduce(1, *)))))
            }
        }
        for shape in [[], [3], [3, 3, 1], [1, 1, 1, 1]] {
            try variant("weight_hr_l0 of shape \(shape)", replace("weight_hr_l0", shape: shape))
            try variant("weight_ih_l0 of shape \(shape)", replace("weight_ih_l0", shape: shape))
            try variant("weight_hh_l0 of shape \(shape)", replace("weight_hh_l0", shape: shape))
        }
        for shape in [[0, 2], [12, 0], [5, 2], [6, 2], [24, 2], [2, 2]] {
            try variant("weight_ih_l0 of shape \(shape)", replace("weight_ih_l0", shape: shape))
        }
        try variant("weight_hr_l0 [0, 3]", replace("weight_hr_l0", shape: [0, 3]))
        try variant("weight_hr_l0 [3, 3] (not smaller)", replace("weight_hr_l0", shape: [3, 3]))
        try variant("bias_ih_l0 [11]", replace("bias_ih_l0", shape: [11]))
        try variant("no weight_hh_l0") { $0.removeAll { $0.name == "weight_hh_l0" } }
        try variant("weight_ih_l1 alone", replace("weight_ih_l1", shape: [12, 3]))
        try variant("two recurrent layers", replace("rnn.weight_ih_l0", shape: [12, 2]))
        try variant("a stray key with a newline", replace("stray\nkey", shape: [2]))
        try variant("a stray key with an escape", replace("x\u{1B}[2Jy.weight", shape: [1, 1]))
        try variant("head [2, 4] of the wrong width", replace("head.weight", shape: [2, 4]))
        try variant("head weight of rank 1", replace("head.weight", shape: [2]))
        try variant("nothing but a bias", { $0 = [("bias", "F32", [1], Self.f32([1]))] })
        try runAndInspect("state dict shapes", "no tensors", try write("empty.safetensors", Self.safetensors([], metadata: nil)))
        try runAndInspect("state dict shapes", "a name with a newline",
                          try write("bad\nname.safetensors", Self.safetensors([("w", "F32", [1], Self.f32([1]))], metadata: nil)))

        // Non-finite weights in F32, F16, BF16 and F64, in files with and without metadata.
        for (dtype, label, bad, fine) in [("F32", "NaN", Data([0, 0, 0xC0, 0x7F]), Data([0, 0, 0, 0x3F])),
                                          ("F32", "+Inf", Data([0, 0, 0x80, 0x7F]), Data([0, 0, 0, 0x3F])),
                                          ("F32", "-Inf", Data([0, 0, 0x80, 0xFF]), Data([0, 0, 0, 0x3F])),
                                          ("F16", "NaN", Data([0x00, 0x7E]), Data([0x00, 0x38])),
                                          ("F16", "+Inf", Data([0x00, 0x7C]), Data([0x00, 0x38])),
                                          ("F16", "-Inf", Data([0x00, 0xFC]), Data([0x00, 0x38])),
                                          ("BF16", "NaN", Data([0xC0, 0x7F]), Data([0x00, 0x3F])),
                                          ("F64", "+Inf", Data([0, 0, 0, 0, 0, 0, 0xF0, 0x7F]), Data([0, 0, 0, 0, 0, 0, 0xE0, 0x3F]))] {
            for (index, (file, meta, key)) in [("plain", nil as [String: String]?, "weight_hh_l0"), ("lstm", lstmMeta, "head.bias"),
                                                ("lstm", lstmMeta, "rnn.bias_ih_l0")].enumerated() {
                let dict = file == "plain" ? sd : lstm.stateDict()
                let e = dict.keys.sorted().map { name -> (name: String, dtype: String, shape: [Int], bytes: Data) in
                    let n = dict[name]!.scalars.count
                    let at = name == key ? (index == 0 ? n - 1 : 0) : -1
                    return (name, dtype, dict[name]!.shape, (0..<n).reduce(into: Data()) { $0 += $1 == at ? bad : fine })
                }
                let model = try write("nonfinite-\(dtype)-\(label)-\(index).safetensors", Self.safetensors(e, metadata: meta))
                try runAndInspect("non-finite weights", "\(dtype) \(label) in \(key)", model)
                try add("non-finite weights", "fit: \(dtype) \(label) in \(key)",
                        ["fit", model, "--input", path("x.npy"), "--target", path(file == "plain" ? "x3.npy" : "y.npy"), "--steps", "1", "--output", "OUT.safetensors"])
            }
        }
        try npy("x3.npy", [3, 2, 3])
    }

    // MARK: - Arrays given to `run`

    mutating func arrays() throws {
        let lstmModel = path("lstm.safetensors"), tokenModel = path("tokens.safetensors")
        for (name, shape, values) in [("zero batch", [4, 0, 2], nil), ("zero steps", [0, 2, 2], nil), ("rank 0", [], nil), ("rank 1", [2], nil),
                                      ("rank 4", [3, 2, 2, 1], nil), ("5 features", [3, 2, 5], nil), ("zero everything", [0, 0, 0], nil),
                                      ("NaN", [3, 2, 2], [Float](repeating: .nan, count: 12)),
                                      ("Inf", [3, 2, 2], [Float](repeating: .infinity, count: 12))] {
            let file = try npy("x-\(cases.count).npy", shape, values)
            try add("input arrays", "run: \(name)", ["run", lstmModel, "--input", file, "--output", "OUT.npy"])
            try add("input arrays", "run batch-first: \(name)", ["run", lstmModel, "--batch-first", "--input", file, "--output", "OUT.safetensors"])
        }
        for (name, values) in [("3e38", [Float](repeating: 3e38, count: 6)), ("-1", [0, 1, -1, 0, 1, 2]), ("0.5", [0, 0.5, 1, 2, 3, 4]),
                               ("5 (= the vocabulary)", [0, 1, 2, 3, 4, 5]), ("-3e38", [Float](repeating: -3e38, count: 6))] {
            try add("input arrays", "tokens: \(name)", ["run", tokenModel, "--input", try npy("tok-\(cases.count).npy", [3, 2], values), "--output", "OUT.npy"])
        }
        try add("input arrays", "tokens of rank 3", ["run", tokenModel, "--input", path("x.npy"), "--output", "OUT.npy"])
        try add("input arrays", "tokens with zero batch", ["run", tokenModel, "--input", try npy("tok0.npy", [3, 0]), "--output", "OUT.npy"])
        for (name, shape) in [("h0 [2, 2, 3]", [2, 2, 3]), ("h0 [1, 3, 3]", [1, 3, 3]), ("h0 [1, 2, 4]", [1, 2, 4]), ("h0 [1, 2]", [1, 2]),
                              ("h0 []", []), ("h0 [1, 0, 3]", [1, 0, 3])] {
            try add("input arrays", name, ["run", lstmModel, "--input", path("x.npy"), "--h0", try npy("h-\(cases.count).npy", shape), "--output", "OUT.npy"])
            try add("input arrays", "c0 as " + name.dropFirst(3), ["run", lstmModel, "--input", path("x.npy"), "--c0", try npy("c-\(cases.count).npy", shape), "--output", "OUT.npy"])
        }
        try add("input arrays", "c0 for a GRU", ["run", tokenModel, "--input", path("t.npy"), "--c0", path("c0.npy"), "--output", "OUT.npy"])
        for (name, bytes) in [("empty .npy", Data()), ("truncated .npy", Data(NPY.encode(TensorData(shape: [3, 2, 2], scalars: [Float](repeating: 1, count: 12))).dropLast(5))),
                              ("text, not .npy", Data("hello\n".utf8)),
                              ("huge shape", Self.npyHeader("<f4", "(4611686018427387904, 4611686018427387904, 2)")),
                              ("a negative axis", Self.npyHeader("<f4", "(3, -2, 2)") + Self.f32([Float](repeating: 1, count: 12))),
                              ("string dtype", Self.npyHeader("<U4", "(3, 2, 2)") + Data(count: 192)),
                              ("big-endian object dtype", Self.npyHeader("|O", "(3, 2, 2)") + Data(count: 96))] {
            try add("input arrays", name, ["run", lstmModel, "--input", try write("bad-\(cases.count).npy", bytes), "--output", "OUT.npy"])
        }
        try add("input arrays", "a missing input", ["run", lstmModel, "--input", path("missing.npy"), "--output", "OUT.npy"])
        try add("input arrays", "an input path with a newline", ["run", lstmModel, "--input", path("miss\ning.npy"), "--output", "OUT.npy"])
        try add("input arrays", "a folder as the model", ["run", inputs.path, "--input", path("x.npy"), "--output", "OUT.npy"])
    }
}
