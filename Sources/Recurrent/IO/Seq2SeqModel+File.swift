import Foundation

// A sequence-to-sequence model file: the weights (F32) under ``Seq2SeqModel/namedParameters``'s
// names, and the configuration with both vocabularies in `__metadata__`, so that a file alone
// is enough to translate.

extension Seq2SeqModel {
    /// The `format` value of a sequence-to-sequence model's `__metadata__`.
    public static let fileFormat = "recurrent-seq2seq"

    /// The `__metadata__` the model is saved with: `format` (``fileFormat``), `cell`,
    /// `embedding_size`, `hidden_size`, `num_layers`, `bidirectional`, `reverse_source`,
    /// `max_output_length`, `source_vocabulary` and `target_vocabulary` (each character in token
    /// order after the special tokens), and `special_tokens` (`<pad> <s> </s>`, for readers).
    public var metadata: [String: String] {
        let c = configuration
        return ["format": Self.fileFormat, "cell": c.cell.rawValue, "embedding_size": "\(c.embeddingSize)",
                "hidden_size": "\(c.hiddenSize)", "num_layers": "\(c.numLayers)", "bidirectional": "\(c.bidirectional)",
                "reverse_source": "\(c.reverseSource)", "max_output_length": "\(c.maxOutputLength)",
                "source_vocabulary": c.sourceVocabulary.symbols, "target_vocabulary": c.targetVocabulary.symbols,
                "special_tokens": Seq2SeqVocabulary.specialTokens.joined(separator: " ")]
    }

    /// Writes the model atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: ``FileFormatError`` naming the file.
    public func save(to url: URL) throws {
        try SafeTensorsFile(tensors: stateDict(), metadata: metadata).write(to: url)
    }

    /// Reads a model written by ``save(to:)``.
    ///
    /// The configuration is checked (``Seq2SeqConfiguration/validate()``) and the parameter count
    /// it implies compared with the file's before anything is allocated; then every name, shape
    /// and value (NaN and infinities are refused) as ``Module/loadStateDict(_:strict:)`` checks them.
    /// - Throws: ``FileFormatError`` for an unreadable or malformed file, ``ModelFileError`` for
    ///   another kind of model or metadata and weights that do not fit; each names the file.
    public static func load(from url: URL) throws -> Seq2SeqModel {
        let file = try SafeTensorsFile.read(from: url)
        do {
            let configuration = try Seq2SeqConfiguration(metadata: file.metadata)
            let stored = file.tensors.values.reduce(0) { $0 + $1.scalars.count }
            guard stored == configuration.parameterCount else {
                throw ModelFileError("the file holds \(stored) weights, but its metadata describes a model of \(configuration.parameterCount) (\(configuration))")
            }
            let model = Seq2SeqModel(configuration)
            try model.loadStateDict(file.tensors)
            return model
        } catch let error as ModelFileError {
            throw ModelFileError("\(url.lastPathComponent): \(error.message)")
        } catch let error as StateDictError {
            throw ModelFileError("\(url.lastPathComponent): \(error.description)")
        }
    }
}

extension Seq2SeqConfiguration {
    /// Reads the configuration from a model file's `__metadata__` (see ``Seq2SeqModel/metadata``).
    /// - Throws: ``ModelFileError`` for another kind of file or a value that is missing or out of range.
    public init(metadata m: [String: String]) throws {
        guard m["format"] == Seq2SeqModel.fileFormat else {
            throw ModelFileError("not a sequence-to-sequence model written by `recurrent seq2seq train` (metadata 'format' is \(shown(m["format"].map { "'\($0)'" } ?? "absent")), not '\(Seq2SeqModel.fileFormat)')")
        }
        func int(_ key: String) throws -> Int {
            guard let s = m[key], let v = Int(s) else { throw ModelFileError("metadata '\(key)' is missing or not a number: \(shown(m[key] ?? "absent"))") }
            return v
        }
        func bool(_ key: String) throws -> Bool {
            guard let s = m[key], let v = Bool(s) else { throw ModelFileError("metadata '\(key)' is missing or not true/false: \(shown(m[key] ?? "absent"))") }
            return v
        }
        func vocabulary(_ key: String) throws -> Seq2SeqVocabulary {
            do { return try Seq2SeqVocabulary(symbols: m[key] ?? "") } catch { throw ModelFileError("metadata '\(key)': \(error)") }
        }
        guard let cell = m["cell"].flatMap(Cell.init(rawValue:)) else {
            throw ModelFileError("metadata 'cell' must be lstm or gru, got \(shown(m["cell"] ?? "absent"))")
        }
        self.init(cell: cell, sourceVocabulary: try vocabulary("source_vocabulary"), targetVocabulary: try vocabulary("target_vocabulary"),
                  embeddingSize: try int("embedding_size"), hiddenSize: try int("hidden_size"), numLayers: try int("num_layers"),
                  bidirectional: try bool("bidirectional"), reverseSource: try bool("reverse_source"),
                  maxOutputLength: try int("max_output_length"))
        do { try validate() } catch { throw ModelFileError("\(error)") }
    }
}
