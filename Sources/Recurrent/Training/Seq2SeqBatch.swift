import Foundation

/// The tokens of one side of a sequence-to-sequence model: three special tokens, then characters.
///
/// Token 0 is `<pad>` (fills a batch's shorter sequences; the loss ignores it), 1 is `<s>` (the
/// decoder's first input) and 2 is `</s>` (the decoder writes it to stop); the characters of
/// ``characters`` follow, character `i` being token `3 + i`. Special tokens are indices, not
/// strings, so a text may itself contain `"<s>"`.
public struct Seq2SeqVocabulary: Equatable, Sendable {
    /// `<pad>`: padding after a sequence's end.
    public static let pad = 0
    /// `<s>`: the start of a target, the decoder's first input.
    public static let start = 1
    /// `</s>`: the end of a target; decoding stops when it is written.
    public static let end = 2
    /// The special tokens' names, in index order.
    public static let specialTokens = ["<pad>", "<s>", "</s>"]

    /// The characters, in index order (token `3 + i` is character `i`).
    public let characters: Vocabulary

    /// The distinct Unicode scalars of `texts`, sorted by scalar value.
    public init(texts: some Sequence<String>) {
        characters = Vocabulary(text: texts.joined())
    }

    /// The vocabulary saved as ``symbols``.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for an empty string or a repeated scalar.
    public init(symbols: String) throws {
        characters = try Vocabulary(symbols: symbols)
    }

    /// The characters in index order, as one string (what a model file stores).
    public var symbols: String { characters.symbols }

    /// Tokens in all, `V`: the characters and the three special tokens.
    public var count: Int { characters.count + Self.specialTokens.count }

    /// The token of each scalar of `text`.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the first character not in the vocabulary.
    public func encode(_ text: some StringProtocol) throws -> [Int] {
        try characters.encode(text).map { $0 + Self.specialTokens.count }
    }

    /// The text of `tokens` up to the first `</s>`, leaving out `<pad>` and `<s>`.
    /// Every token must be in `0..<count` (a precondition).
    public func decode(_ tokens: [Int]) -> String {
        let body = tokens.prefix { $0 != Self.end }.filter { $0 >= Self.specialTokens.count }
        return characters.decode(body.map { $0 - Self.specialTokens.count })
    }
}

/// A mini-batch of token sequences, right-padded with `<pad>` to common lengths, time-major as
/// PyTorch's recurrent layers read them (`[S, B]` and `[T + 1, B]` index grids, flattened).
///
/// For teacher forcing the decoder reads `<s> y₁ … yₙ` and is scored on `y₁ … yₙ </s>`: the
/// same target shifted by one step (Sutskever et al. 2014).
public struct Seq2SeqBatch: Sendable {
    /// Sequences, `B`.
    public let size: Int
    /// Steps of the longest source, `S`.
    public let sourceLength: Int
    /// Steps of the decoder, `T + 1`: the longest target and its `<s>` or `</s>`.
    public let decoderLength: Int
    /// `[S, B]`: source `b` at column `b`, `<pad>` after its end.
    public let source: [Int]
    /// `[T + 1, B]`: `<s> y₁ … yₙ`, then `<pad>`.
    public let decoderInput: [Int]
    /// `[T + 1, B]`: `y₁ … yₙ </s>`, then `<pad>` (ignored by the loss).
    public let decoderTarget: [Int]

    /// Pads `sources` and `targets` (token sequences without special tokens, one pair per column).
    /// - Precondition: as many sources as targets, at least one, none of them empty.
    public init(sources: [[Int]], targets: [[Int]]) {
        precondition(!sources.isEmpty && sources.count == targets.count, "Seq2SeqBatch: \(sources.count) sources for \(targets.count) targets")
        precondition(sources.allSatisfy { !$0.isEmpty }, "Seq2SeqBatch: an empty source")
        let b = sources.count, s = sources.map(\.count).max()!, t = targets.map(\.count).max()! + 1
        var source = [Int](repeating: Seq2SeqVocabulary.pad, count: s * b)
        var input = [Int](repeating: Seq2SeqVocabulary.pad, count: t * b), target = input
        for (column, (x, y)) in zip(sources, targets).enumerated() {
            for (step, token) in x.enumerated() { source[step * b + column] = token }
            input[column] = Seq2SeqVocabulary.start
            for (step, token) in y.enumerated() {
                input[(step + 1) * b + column] = token
                target[step * b + column] = token
            }
            target[y.count * b + column] = Seq2SeqVocabulary.end
        }
        (size, sourceLength, decoderLength) = (b, s, t)
        (self.source, decoderInput, decoderTarget) = (source, input, target)
    }

    /// Sample indices `0..<lengths.count` in mini-batches of similar length (bucketing, as
    /// torchtext's `BucketIterator`): shuffled, sorted by length (ties in the shuffled order), cut
    /// into batches of `batchSize`. Batches then need little padding; their order is the caller's
    /// to shuffle.
    /// - Precondition: `batchSize` is positive.
    public static func buckets(lengths: [Int], batchSize: Int, using generator: inout SeededGenerator) -> [[Int]] {
        precondition(batchSize > 0, "Seq2SeqBatch.buckets: batchSize must be positive")
        var order = Array(lengths.indices)
        order.shuffle(using: &generator)
        order = order.enumerated().sorted { (lengths[$0.element], $0.offset) < (lengths[$1.element], $1.offset) }.map(\.element)
        return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    }
}
