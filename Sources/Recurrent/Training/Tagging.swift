import Foundation

/// The sizes of a ``SequenceTagger``.
public struct TaggerConfiguration: Equatable, Sendable, Codable {
    /// Word embedding size `E` (default 64).
    public var wordEmbeddingSize = 64
    /// Character embedding size `Eᶜ` of the character BiLSTM; 0: no character feature (default 16).
    public var charEmbeddingSize = 16
    /// Hidden size `Hᶜ` of the character BiLSTM per direction (default 16); each word's feature is
    /// its final forward and backward states, `2Hᶜ` values.
    public var charHiddenSize = 16
    /// Hidden size `H` of the sentence BiLSTM per direction (default 64).
    public var hiddenSize = 64
    /// Stacked BiLSTM layers (default 1).
    public var numLayers = 1
    /// Dropout on the sentence BiLSTM's input and output while training, in [0, 1) (default 0).
    public var dropout: Float = 0

    /// The defaults above.
    public init() {}

    /// Whether each word also gets the character BiLSTM's feature.
    public var hasCharacterFeature: Bool { charEmbeddingSize > 0 }

    /// The sentence BiLSTM's input size: `E`, plus `2Hᶜ` with the character feature.
    public var tokenFeatureSize: Int { wordEmbeddingSize + (hasCharacterFeature ? 2 * charHiddenSize : 0) }

    /// Checks every size: at most 2¹⁴ (layers at most 64), positive except `charEmbeddingSize`.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the setting.
    public func validate() throws {
        let limit = 1 << 14
        for (name, value, low) in [("word embedding size", wordEmbeddingSize, 1), ("character embedding size", charEmbeddingSize, 0),
                                   ("character hidden size", charHiddenSize, 1), ("hidden size", hiddenSize, 1)] {
            guard (low...limit).contains(value) else { throw RecurrentError.invalidValue("the \(name) must be between \(low) and \(limit), got \(value)") }
        }
        guard (1...64).contains(numLayers) else { throw RecurrentError.invalidValue("the number of layers must be between 1 and 64, got \(numLayers)") }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw RecurrentError.invalidValue("dropout must be in [0, 1), got \(dropout)") }
    }

    enum CodingKeys: String, CodingKey {
        case wordEmbeddingSize = "word_embedding_size", charEmbeddingSize = "char_embedding_size", charHiddenSize = "char_hidden_size"
        case hiddenSize = "hidden_size", numLayers = "num_layers", dropout
    }
}

/// A many-to-many sequence tagger: one tag per token, from a bidirectional LSTM over the sentence
/// (Huang, Xu & Yu 2015's BiLSTM; Lample et al. 2016's character feature, without their CRF).
///
/// For a batch of `B` sentences padded to `T` tokens:
/// ```text
/// words [T, B] → Embedding(V, E) ─────────────────────────────┐
/// each word's characters → Embedding(Vᶜ, Eᶜ) → BiLSTM(Eᶜ, Hᶜ) ┴→ [T, B, E + 2Hᶜ]
///   → BiLSTM(H, layers) with lengths → [T, B, 2H] → Linear(2H, K) → logits [T, B, K]
/// ```
/// Both BiLSTMs run with `lengths:` (PyTorch's packed semantics): no work on padding, and the
/// reverse direction starts at each sentence's (or word's) own end, so a sentence gets the same
/// tags in any batch. Parameters, as a PyTorch module declaring them so would name them:
/// `embedding.weight`, `char_embedding.weight`, `char_rnn.*`, `rnn.*`, `head.weight`, `head.bias`.
///
/// ```swift
/// let tagger = SequenceTagger(training: sentences, configuration: TaggerConfiguration())
/// let loss = try tagger.loss(Array(sentences[0..<32]))
/// let tags = try tagger.predict([["The", "cat", "sat"]])      // [["DT", "NN", "VBD"]]
/// ```
public final class SequenceTagger: Module {
    /// Characters read of each word for its feature (the first 32 Unicode scalars).
    public static let maxWordCharacters = 32
    /// The target value of padded positions in ``loss(_:)`` (PyTorch's `ignore_index` default).
    public static let ignoredTarget = -100

    /// The sizes.
    public let configuration: TaggerConfiguration
    /// The words, with the unknown token at index 0.
    public let words: TokenVocabulary
    /// The characters (Unicode scalars), with the unknown token at index 0; nil without the character feature.
    public let characters: TokenVocabulary?
    /// The tags, `K` of them.
    public let tags: TokenVocabulary
    /// `Embedding(V, E)`.
    public let wordEmbedding: Embedding
    /// `Embedding(Vᶜ, Eᶜ)`, or nil.
    public let charEmbedding: Embedding?
    /// `LSTM(Eᶜ, Hᶜ, bidirectional)` over each word's characters, or nil.
    public let charLSTM: LSTM?
    /// `LSTM(E + 2Hᶜ, H, layers, bidirectional)` over the sentence.
    public let lstm: LSTM
    /// `Linear(2H, K)` at every token.
    public let head: Linear

    /// Builds a freshly initialised tagger (PyTorch's initialisations, from the global generator).
    /// The configuration must be valid, `words` must have an unknown token, `tags` none, and
    /// `characters` (with an unknown token) must be given exactly when the configuration has a
    /// character feature (preconditions).
    public init(configuration: TaggerConfiguration, words: TokenVocabulary, characters: TokenVocabulary?, tags: TokenVocabulary) {
        let c = configuration
        precondition((try? c.validate()) != nil, "SequenceTagger: invalid configuration \(c)")
        precondition(words.unknownIndex != nil && tags.unknownIndex == nil, "SequenceTagger: words need an unknown token, tags none")
        precondition((characters != nil) == c.hasCharacterFeature && (characters?.unknownIndex != nil || characters == nil),
                     "SequenceTagger: characters (with an unknown token) go with a character feature")
        (self.configuration, self.words, self.characters, self.tags) = (c, words, characters, tags)
        wordEmbedding = Embedding(count: words.count, dimension: c.wordEmbeddingSize)
        if let characters {
            charEmbedding = Embedding(count: characters.count, dimension: c.charEmbeddingSize)
            charLSTM = LSTM(inputSize: c.charEmbeddingSize, hiddenSize: c.charHiddenSize, bidirectional: true)
        } else {
            (charEmbedding, charLSTM) = (nil, nil)
        }
        lstm = LSTM(inputSize: c.tokenFeatureSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: true)
        head = Linear(inputSize: 2 * c.hiddenSize, outputSize: tags.count)
    }

    /// A fresh tagger whose vocabularies come from `sentences`: the words seen at least
    /// `minCount` times (the rest read as `<unk>`, which then has trained rows), every character
    /// of every word, every tag.
    public convenience init(training sentences: [TaggedSentence], configuration: TaggerConfiguration, minCount: Int = 1) {
        let tokens = sentences.lazy.flatMap(\.tokens)
        let characters = configuration.hasCharacterFeature
            ? TokenVocabulary(counting: tokens.flatMap { $0.unicodeScalars.prefix(Self.maxWordCharacters).map(String.init) }) : nil
        self.init(configuration: configuration, words: TokenVocabulary(counting: tokens, minCount: minCount), characters: characters,
                  tags: TokenVocabulary(counting: sentences.lazy.flatMap(\.tags), unknownToken: nil))
    }

    /// Every parameter under its file name.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var named = prefixed("embedding", wordEmbedding.namedParameters)
        if let charEmbedding, let charLSTM {
            named += prefixed("char_embedding", charEmbedding.namedParameters) + prefixed("char_rnn", charLSTM.namedParameters)
        }
        return named + prefixed("rnn", lstm.namedParameters) + prefixed("head", head.namedParameters)
    }

    /// Training mode (dropout active).
    public var isTraining: Bool {
        get { lstm.isTraining }
        set { lstm.isTraining = newValue; charLSTM?.isTraining = newValue }
    }

    /// The tag scores of every token of a batch of sentences.
    ///
    /// - Parameter sentences: `B` sentences of at least one non-empty token each (`Tᵦ` tokens).
    /// - Returns: logits `[T, B, K]`, `T` the longest sentence; rows past a sentence's end hold the
    ///   head's bias (the BiLSTM's output is zero there) and mean nothing.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for no sentences, an empty sentence or an empty token.
    public func logits(_ sentences: [[String]]) throws -> Tensor {
        guard !sentences.isEmpty else { throw RecurrentError.invalidValue("SequenceTagger: no sentences to tag") }
        if let b = sentences.firstIndex(where: \.isEmpty) { throw RecurrentError.invalidValue("SequenceTagger: sentence \(b + 1) has no tokens") }
        let B = sentences.count, lengths = sentences.map(\.count), T = lengths.max()!
        // Padding reads the unknown word's row; the BiLSTM never sees it (lengths).
        var wordIndices = [Int](repeating: 0, count: T * B)
        for (b, s) in sentences.enumerated() {
            for (t, w) in s.enumerated() { wordIndices[t * B + b] = words.encode(w)! }
        }
        var x = wordEmbedding(wordIndices, shape: [T, B])                       // [T, B, E]
        if configuration.hasCharacterFeature { x = concat([x, try characterFeatures(sentences, steps: T)], axis: 2) }
        x = dropout(x, p: configuration.dropout, training: isTraining)          // [T, B, E + 2Hᶜ]
        let (output, _) = try lstm(x, lengths: lengths)                          // [T, B, 2H], zero past each length
        return head(dropout(output, p: configuration.dropout, training: isTraining))   // [T, B, K]
    }

    /// Each token's character feature, `[T, B, 2Hᶜ]` (zero past each sentence's end): the final
    /// forward and backward states of the character BiLSTM over the word, each distinct word of
    /// the batch run once.
    func characterFeatures(_ sentences: [[String]], steps T: Int) throws -> Tensor {
        let B = sentences.count, Hc = configuration.charHiddenSize
        var distinct: [String: Int] = [:], spellings: [[Int]] = []
        var rows = [Int](repeating: -1, count: T * B)
        for (b, s) in sentences.enumerated() {
            for (t, w) in s.enumerated() {
                if let row = distinct[w] { rows[t * B + b] = row; continue }
                guard !w.isEmpty else { throw RecurrentError.invalidValue("SequenceTagger: token \(t + 1) of sentence \(b + 1) is empty") }
                distinct[w] = spellings.count
                rows[t * B + b] = spellings.count
                spellings.append(w.unicodeScalars.prefix(Self.maxWordCharacters).map { characters!.encode(String($0))! })
            }
        }
        let N = spellings.count, charLengths = spellings.map(\.count), L = charLengths.max()!
        var chars = [Int](repeating: 0, count: L * N)                            // [L, N], time-major
        for (n, spelling) in spellings.enumerated() {
            for (l, c) in spelling.enumerated() { chars[l * N + n] = c }
        }
        let (_, (h, _)) = try charLSTM!(charEmbedding!(chars, shape: [L, N]), lengths: charLengths)  // h [2, N, Hᶜ]
        let features = h.transposed(0, 1).reshaped([N, 2 * Hc])                // [N, 2Hᶜ]: forward ⊕ backward
        let table = concat([features, Tensor.zeros([1, 2 * Hc])], axis: 0)     // row N: padding
        return embedding(rows.map { $0 < 0 ? N : $0 }, shape: [T, B], weight: table)
    }

    /// The mean cross-entropy over the real tokens of a batch (padding ignored:
    /// `F.cross_entropy(logits.view(-1, K), targets.view(-1), ignore_index=-100)`).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for a tag that is not one of ``tags``, or as ``logits(_:)``.
    public func loss(_ sentences: [TaggedSentence]) throws -> Tensor {
        let logits = try self.logits(sentences.map(\.tokens))
        let (T, B, K) = (logits.shape[0], logits.shape[1], logits.shape[2])
        return try crossEntropy(logits: logits.reshaped([T * B, K]), targets: try targets(sentences, steps: T), ignoreIndex: Self.ignoredTarget)
    }

    /// The tag index of every position of the padded batch, time-major (`T·B`), ``ignoredTarget`` past each end.
    func targets(_ sentences: [TaggedSentence], steps T: Int) throws -> [Int] {
        let B = sentences.count
        var targets = [Int](repeating: Self.ignoredTarget, count: T * B)
        for (b, s) in sentences.enumerated() {
            for (t, tag) in s.tags.enumerated() {
                guard let k = tags.index(of: tag) else {
                    throw RecurrentError.invalidValue("SequenceTagger: sentence \(b + 1) has the tag '\(shown(tag))', not one of the model's \(tags.count) tags")
                }
                targets[t * B + b] = k
            }
        }
        return targets
    }

    /// The likeliest tag of every token, in evaluation mode and without gradients (the mode is
    /// restored after), `batchSize` sentences of similar length at a time.
    /// - Returns: one tag per token of each sentence, in the given order.
    /// - Throws: as ``logits(_:)``.
    public func predict(_ sentences: [[String]], batchSize: Int = 64) throws -> [[String]] {
        try scored(sentences, batchSize: batchSize, tags: nil).predicted
    }

    /// The mean cross-entropy per real token and the predicted tags of tagged sentences (evaluation
    /// mode, no gradients).
    /// - Throws: as ``loss(_:)``.
    public func evaluate(_ sentences: [TaggedSentence], batchSize: Int = 64) throws -> (loss: Float, predicted: [[String]]) {
        let r = try scored(sentences.map(\.tokens), batchSize: batchSize, tags: sentences)
        return (r.loss, r.predicted)
    }

    private func scored(_ sentences: [[String]], batchSize: Int, tags gold: [TaggedSentence]?) throws -> (loss: Float, predicted: [[String]]) {
        precondition(batchSize > 0, "SequenceTagger: batchSize must be positive")
        let wasTraining = isTraining
        eval()
        defer { isTraining = wasTraining }
        return try withoutGradients {
            var predicted = [[String]](repeating: [], count: sentences.count), total: Double = 0, tokens = 0
            for batch in lengthBatches(lengths: sentences.map(\.count), batchSize: batchSize) {
                let logits = try self.logits(batch.map { sentences[$0] })
                let (T, B, K) = (logits.shape[0], logits.shape[1], logits.shape[2])
                let best = argmaxRows(logits.reshaped([T * B, K]))
                for (b, i) in batch.enumerated() { predicted[i] = (0..<sentences[i].count).map { tags.tokens[best[$0 * B + b]] } }
                if let gold {
                    let targets = try targets(batch.map { gold[$0] }, steps: T)
                    let sum = try crossEntropy(logits: logits.reshaped([T * B, K]), targets: targets, reduction: .sum, ignoreIndex: Self.ignoredTarget)
                    total += Double(sum.item)
                    tokens += batch.reduce(0) { $0 + sentences[$1].count }
                }
            }
            return (tokens > 0 ? Float(total / Double(tokens)) : 0, predicted)
        }
    }
}

extension SequenceTagger: CustomStringConvertible {
    /// The layers and their sizes on one line, for example
    /// `Embedding(3012 → 64) at 'embedding' + characters Embedding(60 → 16) + BiLSTM(16 → 16) at 'char_rnn' + BiLSTM(input 96, hidden 64, layers 1) at 'rnn' + Linear(128 → 9) at 'head'`.
    public var description: String {
        let c = configuration
        var parts = ["Embedding(\(words.count) → \(c.wordEmbeddingSize)) at 'embedding'"]
        if let characters {
            parts.append("characters Embedding(\(characters.count) → \(c.charEmbeddingSize)) + BiLSTM(\(c.charEmbeddingSize) → \(c.charHiddenSize)) at 'char_rnn'")
        }
        parts.append("BiLSTM(input \(c.tokenFeatureSize), hidden \(c.hiddenSize), layers \(c.numLayers)) at 'rnn'")
        parts.append("Linear(\(2 * c.hiddenSize) → \(tags.count)) at 'head'")
        return parts.joined(separator: " + ")
    }
}

/// Mini-batches of sequences of similar length, each longest first, in a fixed order: the
/// sequences sorted by length (longest first; ties in index order) and cut into batches of
/// `batchSize` (the last may be smaller).
/// - Returns: `⌈N / batchSize⌉` batches of indices into `lengths`.
public func lengthBatches(lengths: [Int], batchSize: Int) -> [[Int]] {
    precondition(batchSize > 0, "lengthBatches: batchSize must be positive")
    let order = lengths.indices.sorted { lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
    return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
}

/// Shuffled mini-batches of sequences of similar length (torchtext's `BucketIterator`): the
/// indices shuffled, cut into pools of `poolBatches` batches, each pool sorted by length (longest
/// first) and cut into batches of `batchSize`, and the batches shuffled. Each batch then wastes
/// little of a step on finished sequences, and each epoch still draws new batches.
/// - Returns: `⌈N / batchSize⌉` batches of indices into `lengths` (only the last pool's last batch may be smaller).
public func lengthBatches(lengths: [Int], batchSize: Int, poolBatches: Int = 50, using generator: inout SeededGenerator) -> [[Int]] {
    precondition(batchSize > 0 && poolBatches > 0, "lengthBatches: batchSize and poolBatches must be positive")
    var order = Array(lengths.indices)
    order.shuffle(using: &generator)
    var batches: [[Int]] = []
    let pool = batchSize * poolBatches
    for start in stride(from: 0, to: order.count, by: pool) {
        let indices = Array(order[start..<min(start + pool, order.count)])
        batches += lengthBatches(lengths: indices.map { lengths[$0] }, batchSize: batchSize).map { $0.map { indices[$0] } }
    }
    batches.shuffle(using: &generator)
    return batches
}
