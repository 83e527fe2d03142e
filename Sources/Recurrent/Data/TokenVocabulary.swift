import Foundation

/// Strings with indices for a token-level model: the words of a tagger (with an unknown token
/// for the rest and a minimum count), its characters, or its tags (with no unknown token).
///
/// ```swift
/// let words = TokenVocabulary(counting: ["the", "cat", "the"], minCount: 2)   // ["<unk>", "the"]
/// words.encode("cat")                                                          // 0, the unknown token
/// ```
public struct TokenVocabulary: Equatable, Sendable {
    /// The unknown token's usual spelling.
    public static let unknown = "<unk>"
    /// The most tokens a vocabulary read back with ``init(tokens:unknownToken:)`` may hold (2²⁴,
    /// ``ModelArchitecture/maxSize``).
    public static let maxCount = ModelArchitecture.maxSize

    /// The tokens in index order (the unknown token first, when there is one).
    public let tokens: [String]
    /// The index of the unknown token (0), or nil for a closed set such as tags.
    public let unknownIndex: Int?
    private let index: [String: Int]

    /// The tokens seen at least `minCount` times, sorted by their UTF-8 bytes, after the unknown
    /// token (`unknownToken` at index 0, unless nil).
    public init(counting tokens: some Sequence<String>, minCount: Int = 1, unknownToken: String? = TokenVocabulary.unknown) {
        precondition(minCount >= 1, "TokenVocabulary: minCount must be at least 1, got \(minCount)")
        var counts: [String: Int] = [:]
        for t in tokens { counts[t, default: 0] += 1 }
        let kept = counts.filter { $0.value >= minCount && $0.key != unknownToken }.keys.sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
        self.init(unchecked: (unknownToken.map { [$0] } ?? []) + kept, unknownIndex: unknownToken == nil ? nil : 0)
    }

    /// A vocabulary saved as ``tokens`` (for example in a model file's metadata).
    /// - Parameter unknownToken: the token expected at index 0, or nil for a closed set.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when the list is empty, longer than
    ///   ``maxCount``, lists a token twice or has an empty one, or does not start with `unknownToken`.
    public init(tokens: [String], unknownToken: String? = nil) throws {
        guard !tokens.isEmpty else { throw RecurrentError.invalidValue("the vocabulary is empty") }
        guard tokens.count <= Self.maxCount else {
            throw RecurrentError.invalidValue("the vocabulary has \(tokens.count) tokens, over the limit of \(Self.maxCount)")
        }
        if let unknownToken, tokens[0] != unknownToken {
            throw RecurrentError.invalidValue("the vocabulary starts with '\(shown(tokens[0]))', not the unknown token '\(unknownToken)'")
        }
        var seen: [String: Int] = [:]
        for (i, t) in tokens.enumerated() {
            guard !t.isEmpty else { throw RecurrentError.invalidValue("the vocabulary's token \(i) is empty") }
            if let j = seen[t] { throw RecurrentError.invalidValue("the vocabulary lists '\(shown(t))' twice (at indices \(j) and \(i))") }
            seen[t] = i
        }
        self.init(unchecked: tokens, unknownIndex: unknownToken == nil ? nil : 0)
    }

    private init(unchecked tokens: [String], unknownIndex: Int?) {
        self.tokens = tokens
        self.unknownIndex = unknownIndex
        index = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
    }

    /// The number of tokens, the size of an embedding table or of a classifier's output.
    public var count: Int { tokens.count }

    /// The index of `token`, or nil when it is not in the vocabulary.
    public func index(of token: some StringProtocol) -> Int? { index[String(token)] }

    /// The index of `token`, or of the unknown token when it is not in the vocabulary; nil only
    /// for an unknown token of a vocabulary without one.
    public func encode(_ token: some StringProtocol) -> Int? { index[String(token)] ?? unknownIndex }

    /// Two vocabularies are equal when they list the same tokens in the same order.
    public static func == (a: TokenVocabulary, b: TokenVocabulary) -> Bool { a.tokens == b.tokens && a.unknownIndex == b.unknownIndex }
}
