import Foundation

/// The architecture of a saved recurrent model: what `__metadata__` records, or what the key
/// names and shapes of a plain PyTorch `state_dict` imply.
///
/// A model is an optional input encoding (an `nn.Embedding`, or one-hot vectors) for token
/// inputs, a recurrent layer, and an optional `nn.Linear` head applied at every step or to the
/// last step's output (PyTorch's `head(output[:, -1, :])`).
public struct ModelArchitecture: Equatable, Sendable, CustomStringConvertible {
    /// `rnn`, `lstm` or `gru`.
    public enum Kind: String, Sendable { case rnn, lstm, gru }

    /// Where the head reads the recurrent layer's output.
    public enum HeadPlacement: String, Sendable, CaseIterable {
        /// At every step: `prediction` `[T, B, out]` (a tagger, a language model).
        case everyStep = "every_step"
        /// At the last step only: `prediction` `[B, out]` (a classifier or regressor of whole
        /// sequences, PyTorch's `head(output[:, -1, :])` with `batch_first`, `head(output[-1])` without).
        case lastStep = "last_step"
    }

    /// What the model's input holds.
    public enum InputEncoding: Equatable, Sendable {
        /// Feature vectors of size `inputSize` at every step (`[T, B, I]`).
        case features
        /// Token indices looked up in an `nn.Embedding` `[count, inputSize]` stored under `prefix`
        /// (for example `"embedding."`); the input is `[T, B]` of indices.
        case embedding(prefix: String, count: Int)
        /// Token indices turned into one-hot vectors of size `inputSize` (the input is `[T, B]`).
        case oneHot
    }

    /// The layer kind.
    public var kind: Kind
    /// For `rnn` only (cannot be inferred from weights; default tanh).
    public var nonlinearity: Nonlinearity = .tanh
    /// `I`: features per step seen by the recurrent layer (the embedding's dimension, or the
    /// number of token classes for one-hot input).
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
    /// Key prefix of a `Linear` head (e.g. `"head."`), or nil.
    public var headPrefix: String?
    /// The head's output size (0 without a head).
    public var headOutputSize = 0
    /// Whether the head has a bias.
    public var headBias = true
    /// Where the head applies (cannot be inferred from weights; default every step).
    public var headPlacement: HeadPlacement = .everyStep
    /// How the input is encoded (default: feature vectors).
    public var inputEncoding: InputEncoding = .features
    /// The cell variant (peepholes, coupled gate, reset placement, layer norm, activations, clip);
    /// the standard cell by default. Peepholes and layer norm can be inferred from key names, the
    /// rest only from metadata.
    public var options = CellOptions()

    /// Creates an architecture description.
    public init(kind: Kind, nonlinearity: Nonlinearity = .tanh, inputSize: Int, hiddenSize: Int, numLayers: Int = 1,
                bidirectional: Bool = false, bias: Bool = true, projSize: Int = 0, batchFirst: Bool = false,
                prefix: String = "", headPrefix: String? = nil, headOutputSize: Int = 0, headBias: Bool = true,
                headPlacement: HeadPlacement = .everyStep, inputEncoding: InputEncoding = .features,
                options: CellOptions = CellOptions()) {
        (self.kind, self.nonlinearity, self.inputSize, self.hiddenSize) = (kind, nonlinearity, inputSize, hiddenSize)
        (self.numLayers, self.bidirectional, self.bias, self.projSize) = (numLayers, bidirectional, bias, projSize)
        (self.batchFirst, self.prefix, self.headPrefix) = (batchFirst, prefix, headPrefix)
        (self.headOutputSize, self.headBias, self.headPlacement) = (headOutputSize, headBias, headPlacement)
        self.inputEncoding = inputEncoding
        self.options = options
    }

    /// `D·Hₒ`: the features of the layer's output at each step (what the head reads).
    /// Saturates at `Int.max` instead of overflowing, so that a size from a file that
    /// ``validate()`` will refuse cannot trap on the way there (found by `Tools/fuzz`).
    public var outputFeatures: Int {
        let (features, overflow) = (projSize > 0 ? projSize : hiddenSize).multipliedReportingOverflow(by: bidirectional ? 2 : 1)
        return overflow ? .max : features
    }

    /// The number of token classes for token input (the embedding's rows, or `inputSize` for
    /// one-hot), nil for feature input.
    public var tokenCount: Int? {
        switch inputEncoding {
        case .features: nil
        case .embedding(_, let count): count
        case .oneHot: inputSize
        }
    }

    /// A one-line summary, e.g. `Embedding(65 → 32) at 'embed' + LSTM(input 32, hidden 64, layers 1) at 'rnn' + head Linear(64 → 65) at 'fc'`.
    public var description: String {
        var parts = ["input \(inputSize)", "hidden \(hiddenSize)", "layers \(numLayers)"]
        if kind == .rnn { parts.append("nonlinearity \(nonlinearity.rawValue)") }
        if bidirectional { parts.append("bidirectional") }
        if !bias { parts.append("no bias") }
        if projSize > 0 { parts.append("proj \(projSize)") }
        if batchFirst { parts.append("batch-first") }
        parts += options.summary
        var s = ""
        switch inputEncoding {
        case .features: break
        case .embedding(let p, let count): s += "Embedding(\(count) → \(inputSize))" + (p.isEmpty ? "" : " at '\(p.dropLast())'") + " + "
        case .oneHot: s += "one-hot(\(inputSize)) + "
        }
        s += "\(kind.rawValue.uppercased())(\(parts.joined(separator: ", ")))"
        if prefix != "" { s += " at '\(prefix.dropLast())'" }
        if let headPrefix {
            s += " + head Linear(\(outputFeatures) → \(headOutputSize))" + (headPlacement == .lastStep ? " on the last step" : "")
            if headPrefix != "" { s += " at '\(headPrefix.dropLast())'" }
        }
        return s
    }

    /// The keys this description writes to `__metadata__`.
    static let metadataKeys: Set<String> = Set([
        "format", "kind", "input_size", "hidden_size", "num_layers", "bidirectional", "bias", "proj_size", "batch_first",
        "prefix", "nonlinearity", "head_prefix", "head_output_size", "head_bias", "head_placement", "input",
        "embedding_prefix", "embedding_count",
    ]).union(CellOptions.metadataKeys)

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
            m["head_placement"] = headPlacement.rawValue
        }
        switch inputEncoding {
        case .features: break
        case .embedding(let p, let count):
            m["input"] = "embedding"
            m["embedding_prefix"] = p
            m["embedding_count"] = "\(count)"
        case .oneHot: m["input"] = "one_hot"
        }
        m.merge(options.metadata(directions: bidirectional ? 2 : 1)) { a, _ in a }
        return m
    }

    /// Reads the architecture from Recurrent's `__metadata__`, or nil if the file has none.
    public init?(metadata m: [String: String]) throws {
        guard m["format"] == "recurrent" else { return nil }
        func int(_ key: String) throws -> Int {
            guard let s = m[key], let v = Int(s), v >= 0 else { throw ModelFileError("metadata '\(key)' is missing or not a count: \(shown(m[key] ?? "absent"))") }
            return v
        }
        func bool(_ key: String) throws -> Bool {
            guard let s = m[key], let v = Bool(s) else { throw ModelFileError("metadata '\(key)' is missing or not true/false: \(shown(m[key] ?? "absent"))") }
            return v
        }
        guard let kind = m["kind"].flatMap(Kind.init(rawValue:)) else { throw ModelFileError("metadata 'kind' must be rnn, lstm or gru, got \(shown(m["kind"] ?? "absent"))") }
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
            guard let placement = HeadPlacement(rawValue: m["head_placement"] ?? "every_step") else {
                throw ModelFileError("metadata 'head_placement' must be every_step or last_step, got \(shown(m["head_placement"]!))")
            }
            headPlacement = placement
        }
        switch m["input"] ?? "features" {
        case "features": break
        case "embedding": inputEncoding = .embedding(prefix: m["embedding_prefix"] ?? "", count: try int("embedding_count"))
        case "one_hot": inputEncoding = .oneHot
        case let other: throw ModelFileError("metadata 'input' must be features, embedding or one_hot, got \(shown(other))")
        }
        do {
            options = try CellOptions(metadata: m, kind: kind, directions: bidirectional ? 2 : 1)
        } catch {
            throw ModelFileError("\(error)")
        }
    }
}

/// A problem with a model file; the message is one line.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public var message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message, with control characters (say, in a key name) escaped so it stays one line.
    public var description: String { oneLine(message) }
}
