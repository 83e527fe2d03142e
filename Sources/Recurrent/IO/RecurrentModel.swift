import Foundation

/// The architecture of a saved recurrent model: what `__metadata__` records, or what the key
/// names and shapes of a plain PyTorch `state_dict` imply.
public struct ModelArchitecture: Equatable, Sendable, CustomStringConvertible {
    /// `rnn`, `lstm` or `gru`.
    public enum Kind: String, Sendable { case rnn, lstm, gru }
    /// The layer kind.
    public var kind: Kind
    /// For `rnn` only (cannot be inferred from weights; default tanh).
    public var nonlinearity: Nonlinearity = .tanh
    /// `I`.
    public var inputSize: Int
    /// `H`.
    public var hiddenSize: Int
    /// `L`.
    public var numLayers: Int
    /// Whether there is a reverse direction.
    public var bidirectional: Bool
    /// Whether the layer has `bias_ih` / `bias_hh`.
    public var bias: Bool
    /// 0 when there is no projection.
    public var projSize: Int = 0
    /// Cannot be inferred from weights; default time-major.
    public var batchFirst = false
    /// Key prefix of the recurrent layer's parameters, e.g. `"rnn."`, or `""`.
    public var prefix = ""
    /// Key prefix of a `Linear` head applied at every step (e.g. `"head."`), or nil.
    public var headPrefix: String?
    /// The head's output size (0 without a head).
    public var headOutputSize = 0
    /// Whether the head has a bias.
    public var headBias = true

    /// Creates an architecture description.
    public init(kind: Kind, nonlinearity: Nonlinearity = .tanh, inputSize: Int, hiddenSize: Int, numLayers: Int = 1,
                bidirectional: Bool = false, bias: Bool = true, projSize: Int = 0, batchFirst: Bool = false,
                prefix: String = "", headPrefix: String? = nil, headOutputSize: Int = 0, headBias: Bool = true) {
        (self.kind, self.nonlinearity, self.inputSize, self.hiddenSize) = (kind, nonlinearity, inputSize, hiddenSize)
        (self.numLayers, self.bidirectional, self.bias, self.projSize) = (numLayers, bidirectional, bias, projSize)
        (self.batchFirst, self.prefix, self.headPrefix) = (batchFirst, prefix, headPrefix)
        (self.headOutputSize, self.headBias) = (headOutputSize, headBias)
    }

    /// A one-line summary, e.g. `LSTM(input 3, hidden 5, layers 2, bidirectional, proj 2) + head Linear(20 → 1)`.
    public var description: String {
        var parts = ["input \(inputSize)", "hidden \(hiddenSize)", "layers \(numLayers)"]
        if kind == .rnn { parts.append("nonlinearity \(nonlinearity.rawValue)") }
        if bidirectional { parts.append("bidirectional") }
        if !bias { parts.append("no bias") }
        if projSize > 0 { parts.append("proj \(projSize)") }
        if batchFirst { parts.append("batch-first") }
        var s = "\(kind.rawValue.uppercased())(\(parts.joined(separator: ", ")))"
        if prefix != "" { s += " at '\(prefix.dropLast())'" }
        if let headPrefix {
            s += " + head Linear(\((bidirectional ? 2 : 1) * (projSize > 0 ? projSize : hiddenSize)) → \(headOutputSize)) at '\(headPrefix.dropLast())'"
        }
        return s
    }

    /// The metadata written to `__metadata__` (all values strings).
    public var metadata: [String: String] {
        var m = ["format": "recurrent", "kind": kind.rawValue, "input_size": "\(inputSize)", "hidden_size": "\(hiddenSize)",
                 "num_layers": "\(numLayers)", "bidirectional": "\(bidirectional)", "bias": "\(bias)",
                 "proj_size": "\(projSize)", "batch_first": "\(batchFirst)", "prefix": prefix]
        if kind == .rnn { m["nonlinearity"] = nonlinearity.rawValue }
        if let headPrefix {
            m["head_prefix"] = headPrefix
            m["head_output_size"] = "\(headOutputSize)"
            m["head_bias"] = "\(headBias)"
        }
        return m
    }

    /// Reads the architecture from Recurrent's `__metadata__`, or nil if the file has none.
    public init?(metadata m: [String: String]) throws {
        guard m["format"] == "recurrent" else { return nil }
        func int(_ key: String) throws -> Int {
            guard let s = m[key], let v = Int(s), v >= 0 else { throw ModelFileError("metadata '\(key)' is missing or not a count: \(m[key] ?? "absent")") }
            return v
        }
        func bool(_ key: String) throws -> Bool {
            guard let s = m[key], let v = Bool(s) else { throw ModelFileError("metadata '\(key)' is missing or not true/false: \(m[key] ?? "absent")") }
            return v
        }
        guard let kind = m["kind"].flatMap(Kind.init(rawValue:)) else { throw ModelFileError("metadata 'kind' must be rnn, lstm or gru, got \(m["kind"] ?? "absent")") }
        self.init(kind: kind, inputSize: try int("input_size"), hiddenSize: try int("hidden_size"), numLayers: try int("num_layers"),
                  bidirectional: try bool("bidirectional"), bias: try bool("bias"), projSize: try int("proj_size"),
                  batchFirst: try bool("batch_first"), prefix: m["prefix"] ?? "")
        if kind == .rnn {
            guard let n = Nonlinearity(rawValue: m["nonlinearity"] ?? "tanh") else { throw ModelFileError("metadata 'nonlinearity' must be tanh or relu") }
            nonlinearity = n
        }
        if let head = m["head_prefix"] {
            headPrefix = head
            headOutputSize = try int("head_output_size")
            headBias = try bool("head_bias")
        }
    }

    /// Infers the architecture of a plain PyTorch `state_dict` from its key names and shapes.
    ///
    /// The recurrent layer is found by its `weight_ih_l0` key (under any module prefix, such as
    /// `rnn.`); a `Linear` stored beside it (`head.weight`, `head.bias`) becomes an output head.
    /// `nonlinearity` and `batchFirst` cannot be inferred and take the given values.
    public init(inferringFrom tensors: [String: TensorData], nonlinearity: Nonlinearity = .tanh, batchFirst: Bool = false) throws {
        let anchors = tensors.keys.filter { $0.hasSuffix("weight_ih_l0") }.sorted()
        guard anchors.count == 1, let anchor = anchors.first else {
            throw ModelFileError(anchors.isEmpty
                ? "no recurrent layer found: no key ends in 'weight_ih_l0'"
                : "more than one recurrent layer: \(anchors.joined(separator: ", "))")
        }
        let prefix = String(anchor.dropLast("weight_ih_l0".count))
        func shape(_ key: String) -> [Int]? { tensors[prefix + key]?.shape }
        guard let wih = shape("weight_ih_l0"), wih.count == 2, let whh = shape("weight_hh_l0"), whh.count == 2 else {
            throw ModelFileError("'\(prefix)weight_ih_l0' and '\(prefix)weight_hh_l0' must both exist and be matrices")
        }
        var layers = 0
        while shape("weight_ih_l\(layers)") != nil { layers += 1 }
        let projSize = shape("weight_hr_l0")?[0] ?? 0
        let hidden = projSize > 0 ? shape("weight_hr_l0")![1] : whh[1]
        guard hidden > 0, wih[0] % hidden == 0 else {
            throw ModelFileError("'\(prefix)weight_ih_l0' has \(wih[0]) rows, not a multiple of the hidden size \(hidden)")
        }
        let kind: Kind
        switch wih[0] / hidden {
        case 1: kind = .rnn
        case 3: kind = .gru
        case 4: kind = .lstm
        default: throw ModelFileError("'\(prefix)weight_ih_l0' has \(wih[0]) rows: \(wih[0] / hidden) gates of size \(hidden) match no RNN (1), GRU (3) or LSTM (4)")
        }
        self.init(kind: kind, nonlinearity: nonlinearity, inputSize: wih[1], hiddenSize: hidden, numLayers: layers,
                  bidirectional: shape("weight_ih_l0_reverse") != nil, bias: shape("bias_ih_l0") != nil,
                  projSize: projSize, batchFirst: batchFirst, prefix: prefix)
        // A Linear head: the only other keys, `X.weight` [out, D·Hₒ] and optionally `X.bias`.
        let others = tensors.keys.filter { !$0.hasPrefix(prefix) || prefix.isEmpty && $0.contains(".") }.sorted()
        if !others.isEmpty {
            let heads = others.filter { $0.hasSuffix("weight") && tensors[$0]!.shape.count == 2 }
            guard heads.count == 1, let weightKey = heads.first else {
                throw ModelFileError("keys outside the recurrent layer that are not one Linear head: \(others.joined(separator: ", "))")
            }
            let headPrefix = String(weightKey.dropLast("weight".count))
            let expected = Set([weightKey, headPrefix + "bias"])
            if let stray = others.first(where: { !expected.contains($0) }) {
                throw ModelFileError("unexpected key '\(stray)' beside the recurrent layer and the head '\(headPrefix.dropLast())'")
            }
            self.headPrefix = headPrefix
            headOutputSize = tensors[weightKey]!.shape[0]
            headBias = tensors[headPrefix + "bias"] != nil
        }
    }
}

/// A problem with a model file; the message is one line.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public var message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A recurrent layer with an optional `Linear` head applied at every step, saved as one
/// safetensors file whose `__metadata__` records the architecture.
public final class RecurrentModel: Module {
    /// What the model is.
    public let architecture: ModelArchitecture
    /// The recurrent layer.
    public let layer: RecurrentLayer
    /// The head, `Linear(D·Hₒ, headOutputSize)`, or nil.
    public let head: Linear?

    /// Builds a freshly initialised model of `architecture`.
    public init(_ architecture: ModelArchitecture) {
        self.architecture = architecture
        let a = architecture
        switch a.kind {
        case .rnn: layer = RNN(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, nonlinearity: a.nonlinearity,
                               bias: a.bias, batchFirst: a.batchFirst, bidirectional: a.bidirectional)
        case .lstm: layer = LSTM(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, bias: a.bias,
                                 batchFirst: a.batchFirst, bidirectional: a.bidirectional, projSize: a.projSize)
        case .gru: layer = GRU(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, bias: a.bias,
                               batchFirst: a.batchFirst, bidirectional: a.bidirectional)
        }
        head = a.headPrefix == nil ? nil
            : Linear(inputSize: layer.outputSize * (a.bidirectional ? 2 : 1), outputSize: a.headOutputSize, bias: a.headBias)
    }

    /// The parameters under the file's key names (the layer's under `prefix`, the head's under `headPrefix`).
    public var namedParameters: [(name: String, tensor: Tensor)] {
        layer.namedParameters.map { (architecture.prefix + $0.name, $0.tensor) }
            + (head.map { h in h.namedParameters.map { (architecture.headPrefix! + $0.name, $0.tensor) } } ?? [])
    }

    /// Training mode of the recurrent layer.
    public var isTraining: Bool {
        get { layer.isTraining }
        set { layer.isTraining = newValue }
    }

    /// Loads a model file: Recurrent's own (architecture from `__metadata__`), or a plain PyTorch
    /// `state_dict` (architecture inferred; `nonlinearity` and `batchFirst` from the arguments).
    /// - Throws: ``FileFormatError``, ``ModelFileError`` or ``StateDictError``, each naming the file.
    public static func load(from url: URL, nonlinearity: Nonlinearity? = nil, batchFirst: Bool? = nil) throws -> RecurrentModel {
        let file = try SafeTensorsFile.read(from: url)
        do {
            var architecture = try ModelArchitecture(metadata: file.metadata)
                ?? ModelArchitecture(inferringFrom: file.tensors, nonlinearity: nonlinearity ?? .tanh, batchFirst: batchFirst ?? false)
            if let nonlinearity { architecture.nonlinearity = nonlinearity }
            if let batchFirst { architecture.batchFirst = batchFirst }
            try architecture.validate()
            let model = RecurrentModel(architecture)
            try model.loadStateDict(file.tensors)
            return model
        } catch let error as ModelFileError {
            throw ModelFileError("\(url.lastPathComponent): \(error.message)")
        } catch let error as StateDictError {
            throw ModelFileError("\(url.lastPathComponent): \(error.description)")
        }
    }

    /// Writes the weights (F32) and the architecture as `__metadata__`, atomically.
    public func save(to url: URL) throws {
        try SafeTensorsFile(tensors: stateDict(), metadata: architecture.metadata).write(to: url)
    }

    /// Runs the model.
    ///
    /// - Parameters:
    ///   - input: `[T, B, I]` (`[B, T, I]` when batch-first, `[T, I]` unbatched).
    ///   - h0, c0: initial states as for ``LSTM`` / ``GRU`` / ``RNN``.
    /// - Returns: the layer's `output`, `h`, `c` (LSTM), and `prediction` = head(output) when there is a head.
    public func callAsFunction(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil) throws
        -> (output: Tensor, h: Tensor, c: Tensor?, prediction: Tensor?)
    {
        if c0 != nil && architecture.kind != .lstm { throw RecurrentError.shapeMismatch("c0 given, but the model is a \(architecture.kind.rawValue.uppercased()) (only an LSTM has a cell state)") }
        let r = try layer.stack.run(input, h0: h0, c0: c0, layerName: architecture.kind.rawValue.uppercased())
        return (r.output, r.h, r.c, head.map { $0(r.output) })
    }
}

extension ModelArchitecture {
    /// Checks the sizes before building layers (whose preconditions would otherwise stop the process).
    func validate() throws {
        guard inputSize > 0, hiddenSize > 0, numLayers > 0 else {
            throw ModelFileError("sizes must be positive: input \(inputSize), hidden \(hiddenSize), layers \(numLayers)")
        }
        guard projSize == 0 || (kind == .lstm && projSize < hiddenSize) else {
            throw ModelFileError("proj_size \(projSize) needs an LSTM with hidden size above it (hidden \(hiddenSize))")
        }
        guard headPrefix == nil || headOutputSize > 0 else { throw ModelFileError("the head has no outputs") }
    }
}
