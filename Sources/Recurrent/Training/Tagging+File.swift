import Foundation

extension SequenceTagger {
    /// The `__metadata__` keys of a tagger file: its sizes (a JSON object) and its vocabularies
    /// (JSON arrays of strings; no characters key without the character feature).
    public enum MetadataKey {
        /// `{"word_embedding_size": 64, "char_embedding_size": 16, …}`.
        public static let configuration = "tagger.configuration"
        /// The words, `"<unk>"` first.
        public static let words = "tagger.words"
        /// The characters, `"<unk>"` first.
        public static let characters = "tagger.characters"
        /// The tags.
        public static let tags = "tagger.tags"
    }

    /// Writes the parameters (F32) and, as `__metadata__`, the configuration and vocabularies, atomically.
    public func save(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys   // the same model gives the same file
        var metadata = [MetadataKey.configuration: String(decoding: try encoder.encode(configuration), as: UTF8.self),
                        MetadataKey.words: try Self.json(words.tokens), MetadataKey.tags: try Self.json(tags.tokens)]
        if let characters { metadata[MetadataKey.characters] = try Self.json(characters.tokens) }
        try SafeTensorsFile(tensors: stateDict(), metadata: metadata).write(to: url)
    }

    /// Reads a tagger written by ``save(to:)``.
    ///
    /// The configuration and vocabularies are checked first (sizes within
    /// ``TaggerConfiguration/validate()``, vocabularies within ``TokenVocabulary/maxCount``), then
    /// the parameter count they imply against the file's, before the model is allocated; then every
    /// tensor's name and shape, and that every weight is finite.
    /// - Throws: ``FileFormatError`` naming the file and the problem, on one line.
    public static func load(from url: URL) throws -> SequenceTagger {
        let file = try SafeTensorsFile.read(from: url)
        do {
            return try SequenceTagger(file)
        } catch let error as RecurrentError {
            throw FileFormatError(file: url.path, error.description.replacingOccurrences(of: "SequenceTagger: ", with: ""))
        } catch let error as StateDictError {
            throw FileFormatError(file: url.path, error.description)
        }
    }

    private convenience init(_ file: SafeTensorsFile) throws {
        let m = file.metadata
        guard let settings = m[MetadataKey.configuration], let wordList = m[MetadataKey.words], let tagList = m[MetadataKey.tags] else {
            throw RecurrentError.invalidValue("not a tagger written by `recurrent tag` (no \(MetadataKey.configuration), \(MetadataKey.words) and \(MetadataKey.tags) metadata)")
        }
        let configuration: TaggerConfiguration
        do { configuration = try JSONDecoder().decode(TaggerConfiguration.self, from: Data(settings.utf8)) } catch {
            throw RecurrentError.invalidValue("\(MetadataKey.configuration) is not a tagger configuration: \(shown(settings))")
        }
        try configuration.validate()
        let words = try Self.vocabulary(wordList, key: MetadataKey.words, unknownToken: TokenVocabulary.unknown)
        let tags = try Self.vocabulary(tagList, key: MetadataKey.tags, unknownToken: nil)
        var characters: TokenVocabulary?
        if configuration.hasCharacterFeature {
            guard let list = m[MetadataKey.characters] else { throw RecurrentError.invalidValue("the configuration has a character feature but there is no \(MetadataKey.characters)") }
            characters = try Self.vocabulary(list, key: MetadataKey.characters, unknownToken: TokenVocabulary.unknown)
        }
        let expected = Self.parameterCount(configuration, words: words.count, characters: characters?.count ?? 0, tags: tags.count)
        let stored = file.tensors.values.reduce(0) { $0 + $1.scalars.count }
        guard expected == stored else {
            throw RecurrentError.invalidValue("the configuration and vocabularies need \(expected.map(String.init) ?? "too many") parameters; the file holds \(stored)")
        }
        self.init(configuration: configuration, words: words, characters: characters, tags: tags)
        try loadStateDict(file.tensors)
    }

    /// The number of parameters of a tagger of these sizes, or nil when it overflows.
    static func parameterCount(_ c: TaggerConfiguration, words: Int, characters: Int, tags: Int) -> Int? {
        var total = 0, overflow = false
        func add(_ factors: Int...) {
            var p = 1
            for f in factors where !overflow { (p, overflow) = p.multipliedReportingOverflow(by: f) }
            if !overflow { (total, overflow) = total.addingReportingOverflow(p) }
        }
        // A bidirectional LSTM layer: per direction weight_ih [4H, I], weight_hh [4H, H], two biases [4H].
        func biLSTMLayer(input: Int, hidden: Int) { add(2, 4, hidden, input); add(2, 4, hidden, hidden); add(2, 2, 4, hidden) }
        add(words, c.wordEmbeddingSize)
        if c.hasCharacterFeature {
            add(characters, c.charEmbeddingSize)
            biLSTMLayer(input: c.charEmbeddingSize, hidden: c.charHiddenSize)
        }
        for layer in 0..<c.numLayers { biLSTMLayer(input: layer == 0 ? c.tokenFeatureSize : 2 * c.hiddenSize, hidden: c.hiddenSize) }
        add(tags, 2 * c.hiddenSize)
        add(tags)
        return overflow ? nil : total
    }

    static func json(_ tokens: [String]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: tokens), as: UTF8.self)
    }

    static func vocabulary(_ text: String, key: String, unknownToken: String?) throws -> TokenVocabulary {
        guard let tokens = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] else {
            throw RecurrentError.invalidValue("\(key) is not a JSON array of strings")
        }
        do { return try TokenVocabulary(tokens: tokens, unknownToken: unknownToken) } catch let error as RecurrentError {
            throw RecurrentError.invalidValue("\(key): \(error.description)")
        }
    }
}
