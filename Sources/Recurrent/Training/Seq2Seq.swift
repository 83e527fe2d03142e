import Foundation

/// What a ``Seq2SeqModel`` is: its cell, sizes and vocabularies, everything its file records.
public struct Seq2SeqConfiguration: Equatable, Sendable, CustomStringConvertible {
    /// The recurrent cell of both the encoder and the decoder.
    public enum Cell: String, Sendable, CaseIterable {
        /// ``LSTM``: the state is `(h, c)`.
        case lstm
        /// ``GRU``: the state is `h`.
        case gru
    }

    /// The encoder's and decoder's cell.
    public var cell: Cell
    /// The source side's tokens (`V_src`).
    public var sourceVocabulary: Seq2SeqVocabulary
    /// The target side's tokens (`V`), the head's output size.
    public var targetVocabulary: Seq2SeqVocabulary
    /// `E`: the size of both embeddings.
    public var embeddingSize: Int
    /// `H`: the encoder's and decoder's hidden size.
    public var hiddenSize: Int
    /// `L`: stacked layers in the encoder and in the decoder.
    public var numLayers: Int
    /// Whether the encoder reads the source in both directions (the decoder is always one direction).
    public var bidirectional: Bool
    /// Whether the encoder reads each source backwards, last character first (Sutskever et al.
    /// 2014; Keras' `addition_rnn` with `REVERSE = True`). Applied by ``Seq2SeqModel/sourceTokens(_:)``.
    public var reverseSource: Bool
    /// The most tokens decoding writes before it stops without `</s>`.
    public var maxOutputLength: Int

    /// Sizes above this are refused (`embeddingSize`, `hiddenSize`), as is a `numLayers` above 64
    /// or a `maxOutputLength` above 65536: no value read from a file can make the model allocate
    /// more than its file holds, and the product of the limits fits in `Int`.
    public static let maxSize = 1 << 14

    /// Creates a configuration; ``validate()`` checks it.
    public init(cell: Cell = .lstm, sourceVocabulary: Seq2SeqVocabulary, targetVocabulary: Seq2SeqVocabulary, embeddingSize: Int = 32,
                hiddenSize: Int = 128, numLayers: Int = 1, bidirectional: Bool = false, reverseSource: Bool = false,
                maxOutputLength: Int = 100) {
        (self.cell, self.sourceVocabulary, self.targetVocabulary) = (cell, sourceVocabulary, targetVocabulary)
        (self.embeddingSize, self.hiddenSize, self.numLayers) = (embeddingSize, hiddenSize, numLayers)
        (self.bidirectional, self.reverseSource, self.maxOutputLength) = (bidirectional, reverseSource, maxOutputLength)
    }

    /// Checks every size.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the first size out of range.
    public func validate() throws {
        for (name, value, limit) in [("embedding size", embeddingSize, Self.maxSize), ("hidden size", hiddenSize, Self.maxSize),
                                     ("layers", numLayers, 64), ("maximum output length", maxOutputLength, 1 << 16),
                                     ("source vocabulary", sourceVocabulary.count, 1 << 20), ("target vocabulary", targetVocabulary.count, 1 << 20)] {
            guard (1...limit).contains(value) else { throw RecurrentError.invalidValue("the \(name) must be between 1 and \(limit), got \(value)") }
        }
    }

    /// The number of parameters a model of this configuration has (without building it).
    public var parameterCount: Int {
        let (e, h, l) = (embeddingSize, hiddenSize, numLayers), gates = cell == .lstm ? 4 : 3, d = bidirectional ? 2 : 1
        // Per layer and direction: weight_ih [G·H, in], weight_hh [G·H, H], two biases [G·H].
        func layers(input: Int, directions: Int) -> Int {
            (0..<l).reduce(0) { sum, k in sum + directions * gates * h * ((k == 0 ? input : directions * h) + h + 2) }
        }
        let bridges = bidirectional ? (cell == .lstm ? 2 : 1) * (2 * h * h + h) : 0
        return sourceVocabulary.count * e + layers(input: e, directions: d) + bridges
            + targetVocabulary.count * e + layers(input: e, directions: 1) + targetVocabulary.count * (h + 1)
    }

    /// One line, e.g. `LSTM encoder-decoder: hidden 128, layers 1, embeddings 32, source 14 tokens, target 13 tokens`.
    public var description: String {
        var parts = ["hidden \(hiddenSize)", "layers \(numLayers)", "embeddings \(embeddingSize)"]
        if bidirectional { parts.append("bidirectional encoder") }
        if reverseSource { parts.append("sources reversed") }
        parts += ["source \(sourceVocabulary.count) tokens", "target \(targetVocabulary.count) tokens"]
        return "\(cell.rawValue.uppercased()) encoder-decoder: " + parts.joined(separator: ", ")
    }
}

/// An encoder–decoder over token sequences (Sutskever, Vinyals & Le 2014; Cho et al. 2014), as
/// PyTorch's seq2seq tutorials build it without attention:
///
/// ```text
/// source [S, B] → embedding [S, B, E] → encoder (LSTM or GRU, L layers, D directions) → final state [D·L, B, H]
///   D = 2: each layer's forward and backward states concatenated, [L, B, 2H], then
///          h₀ = tanh(bridge.h(·)) and c₀ = bridge.c(·) (Linear(2H → H), c without tanh), [L, B, H]
/// target [T, B] → embedding [T, B, E] → decoder (same cell, L layers, from that state) → Linear(H → V) → logits [T, B, V]
/// ```
///
/// Training uses teacher forcing: the decoder reads `<s> y₁ … yₙ` and is scored on `y₁ … yₙ </s>`
/// with ``crossEntropy(logits:targets:reduction:ignoreIndex:)``, padding ignored. Decoding feeds
/// the decoder its own tokens: greedily (``greedyDecode(_:maxLength:)``) or by beam search
/// (``beamSearch(_:beamWidth:maxLength:)``).
///
/// Parameter names: `encoder.embedding.weight`, `encoder.rnn.weight_ih_l0`, … (PyTorch's names
/// inside), `bridge.h.weight` / `bridge.c.weight` (bidirectional encoders), `decoder.embedding.weight`,
/// `decoder.rnn.…`, `decoder.fc_out.weight`, `decoder.fc_out.bias`.
public final class Seq2SeqModel: Module {
    /// The cell, sizes and vocabularies.
    public let configuration: Seq2SeqConfiguration
    /// `[V_src, E]`.
    public let sourceEmbedding: Embedding
    /// The encoder: an ``LSTM`` or a ``GRU`` of `E` inputs, `H` units, `L` layers, `D` directions.
    public let encoder: RecurrentLayer
    /// `Linear(2H → H)` giving the decoder's `h` from a bidirectional encoder's, else nil.
    public let hiddenBridge: Linear?
    /// `Linear(2H → H)` giving the decoder's `c` from a bidirectional LSTM encoder's, else nil.
    public let cellBridge: Linear?
    /// `[V, E]`.
    public let targetEmbedding: Embedding
    /// The decoder: the same cell, `E` inputs, `H` units, `L` layers, one direction.
    public let decoder: RecurrentLayer
    /// `Linear(H → V)` over the target vocabulary.
    public let head: Linear

    /// Builds a freshly initialised model (PyTorch's initialisation of each part).
    /// - Precondition: the configuration is valid (see ``Seq2SeqConfiguration/validate()``).
    public init(_ configuration: Seq2SeqConfiguration) {
        do { try configuration.validate() } catch { preconditionFailure("Seq2SeqModel: \(error)") }
        self.configuration = configuration
        let c = configuration
        func layer(directions: Bool) -> RecurrentLayer {
            switch c.cell {
            case .lstm: LSTM(inputSize: c.embeddingSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: directions)
            case .gru: GRU(inputSize: c.embeddingSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bidirectional: directions)
            }
        }
        sourceEmbedding = Embedding(count: c.sourceVocabulary.count, dimension: c.embeddingSize)
        encoder = layer(directions: c.bidirectional)
        hiddenBridge = c.bidirectional ? Linear(inputSize: 2 * c.hiddenSize, outputSize: c.hiddenSize) : nil
        cellBridge = c.bidirectional && c.cell == .lstm ? Linear(inputSize: 2 * c.hiddenSize, outputSize: c.hiddenSize) : nil
        targetEmbedding = Embedding(count: c.targetVocabulary.count, dimension: c.embeddingSize)
        decoder = layer(directions: false)
        head = Linear(inputSize: c.hiddenSize, outputSize: c.targetVocabulary.count)
    }

    /// Every parameter under its key name, encoder first (see the type's description).
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var named = prefixed("encoder.embedding", sourceEmbedding.namedParameters) + prefixed("encoder.rnn", encoder.namedParameters)
        if let hiddenBridge { named += prefixed("bridge.h", hiddenBridge.namedParameters) }
        if let cellBridge { named += prefixed("bridge.c", cellBridge.namedParameters) }
        return named + prefixed("decoder.embedding", targetEmbedding.namedParameters) + prefixed("decoder.rnn", decoder.namedParameters)
            + prefixed("decoder.fc_out", head.namedParameters)
    }

    /// Training mode of the encoder and decoder (no part has dropout; kept for ``Module``).
    public var isTraining: Bool {
        get { encoder.isTraining }
        set { (encoder.isTraining, decoder.isTraining) = (newValue, newValue) }
    }

    /// The encoder's tokens for `text`: its characters' tokens, reversed when the configuration says so.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming a character outside the source vocabulary.
    public func sourceTokens(_ text: some StringProtocol) throws -> [Int] {
        let tokens = try configuration.sourceVocabulary.encode(text)
        return configuration.reverseSource ? tokens.reversed() : tokens
    }

    /// The padded batch of `pairs` (sources through ``sourceTokens(_:)``).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for an empty side or a character outside a vocabulary.
    public func batch(_ pairs: [SequencePair]) throws -> Seq2SeqBatch {
        guard !pairs.isEmpty else { throw RecurrentError.invalidValue("a batch needs at least one pair") }
        guard !pairs.contains(where: { $0.source.isEmpty }) else { throw RecurrentError.invalidValue("a pair's source is empty") }
        return Seq2SeqBatch(sources: try pairs.map { try sourceTokens($0.source) },
                            targets: try pairs.map { try configuration.targetVocabulary.encode($0.target) })
    }

    /// Runs the encoder and returns the decoder's initial state.
    /// - Parameter source: `[S, B]` source tokens, time-major, flattened (`S·B` of them).
    /// - Returns: `h` `[L, B, H]` and, for an LSTM, `c` `[L, B, H]`.
    /// - Throws: ``RecurrentError`` for a shape that does not hold the tokens or a token out of range.
    public func encode(_ source: [Int], shape: [Int]) throws -> RecurrentState {
        try check(source, shape: shape, count: configuration.sourceVocabulary.count, side: "source")
        let (_, state) = try run(encoder, sourceEmbedding(source, shape: shape), from: nil)
        guard let hiddenBridge else { return state }
        return RecurrentState(h: tanh(hiddenBridge(joinDirections(state.h))), c: state.c.map { cellBridge!(joinDirections($0)) })
    }

    /// Runs the decoder over `tokens` from `state`.
    /// - Parameters:
    ///   - tokens: `[T, B]` target tokens, time-major, flattened.
    ///   - state: `h` (and `c`) `[L, B, H]`, from ``encode(_:shape:)`` or an earlier call.
    /// - Returns: `logits` `[T, B, V]` and the state after the last step.
    /// - Throws: ``RecurrentError`` for a shape that does not fit or a token out of range.
    public func decode(_ tokens: [Int], shape: [Int], from state: RecurrentState) throws -> (logits: Tensor, state: RecurrentState) {
        try check(tokens, shape: shape, count: configuration.targetVocabulary.count, side: "target")
        let (output, next) = try run(decoder, targetEmbedding(tokens, shape: shape), from: state)
        return (head(output), next)
    }

    /// The teacher-forced loss of `batch`: the mean cross-entropy (nats) of every target token and
    /// `</s>`, padding ignored (PyTorch's `cross_entropy(…, ignore_index=pad)`).
    /// - Throws: ``RecurrentError`` for a token out of range.
    public func loss(_ batch: Seq2SeqBatch, reduction: LossReduction = .mean) throws -> Tensor {
        let state = try encode(batch.source, shape: [batch.sourceLength, batch.size])
        let (logits, _) = try decode(batch.decoderInput, shape: [batch.decoderLength, batch.size], from: state)
        return try crossEntropy(logits: logits.reshaped([-1, configuration.targetVocabulary.count]), targets: batch.decoderTarget,
                                reduction: reduction, ignoreIndex: Seq2SeqVocabulary.pad)
    }

    /// The teacher-forced cross-entropy per target token (nats, `</s>` included) over `pairs`, in
    /// evaluation mode without gradients. Pairs are scored in batches of at most `batchSize` whose
    /// sources all have one length, so that no source is padded (as in decoding): the result does
    /// not depend on which pairs meet in a batch.
    /// - Throws: ``RecurrentError`` as ``batch(_:)`` does.
    public func meanLoss(_ pairs: [SequencePair], batchSize: Int = 256) throws -> Double {
        precondition(batchSize > 0, "meanLoss: batchSize must be positive")
        guard !pairs.contains(where: { $0.source.isEmpty }) else { throw RecurrentError.invalidValue("a pair's source is empty") }
        let sources = try pairs.map { try sourceTokens($0.source) }
        let targets = try pairs.map { try configuration.targetVocabulary.encode($0.target) }
        return try evaluating {
            var total = 0.0, tokens = 0
            for (_, group) in Dictionary(grouping: pairs.indices, by: { sources[$0].count }).sorted(by: { $0.key < $1.key }) {
                for start in stride(from: 0, to: group.count, by: batchSize) {
                    let members = group[start..<min(start + batchSize, group.count)]
                    let batch = Seq2SeqBatch(sources: members.map { sources[$0] }, targets: members.map { targets[$0] })
                    total += Double(try loss(batch, reduction: .sum).item)
                    tokens += batch.decoderTarget.filter { $0 != Seq2SeqVocabulary.pad }.count
                }
            }
            return total / Double(max(tokens, 1))
        }
    }

    /// Runs `body` in evaluation mode without gradients, restoring the mode after.
    func evaluating<R>(_ body: () throws -> R) rethrows -> R {
        let wasTraining = isTraining
        eval()
        defer { isTraining = wasTraining }
        return try withoutGradients(body)
    }

    private func check(_ tokens: [Int], shape: [Int], count: Int, side: String) throws {
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 }), shape[0] * shape[1] == tokens.count else {
            throw RecurrentError.shapeMismatch("\(side) tokens must be [T, B] with T, B > 0 holding all \(tokens.count), got \(shape)")
        }
        if let bad = tokens.firstIndex(where: { !(0..<count).contains($0) }) {
            throw RecurrentError.invalidValue("\(side) token \(tokens[bad]) at flat index \(bad) is not in 0..<\(count)")
        }
    }

    /// Runs an ``LSTM`` or ``GRU`` layer from `state` (zeros when nil).
    private func run(_ layer: RecurrentLayer, _ x: Tensor, from state: RecurrentState?) throws -> (output: Tensor, state: RecurrentState) {
        if let lstm = layer as? LSTM {
            let r = try lstm(x, state.map { ($0.h, $0.c!) })
            return (r.output, RecurrentState(h: r.state.h, c: r.state.c))
        }
        guard let gru = layer as? GRU else { preconditionFailure("Seq2SeqModel: the layers are LSTMs or GRUs") }
        let r = try gru(x, state?.h)
        return (r.output, RecurrentState(h: r.h, c: nil))
    }

    /// `[2L, B, H]` (PyTorch's layout: layer `l`'s forward state at `2l`, backward at `2l + 1`) →
    /// `[L, B, 2H]`, each layer's two states side by side, forward first.
    private func joinDirections(_ state: Tensor) -> Tensor {
        let (l, b, h) = (state.shape[0] / 2, state.shape[1], state.shape[2])
        return state.reshaped([l, 2, b, h]).transposed(1, 2).reshaped([l, b, 2 * h])
    }
}
