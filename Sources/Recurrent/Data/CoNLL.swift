import Foundation

/// One sentence of a tagged corpus: its tokens and one tag per token.
public struct TaggedSentence: Equatable, Sendable {
    /// The tokens (words, or characters for word segmentation), `T` of them.
    public var tokens: [String]
    /// One tag per token, `T` of them.
    public var tags: [String]

    /// A sentence; `tags.count` must equal `tokens.count` (a precondition).
    public init(tokens: [String], tags: [String]) {
        precondition(tokens.count == tags.count, "TaggedSentence: \(tokens.count) tokens but \(tags.count) tags")
        (self.tokens, self.tags) = (tokens, tags)
    }
}

/// Reading tagged corpora in the CoNLL column format (CoNLL-2000 chunking, CoNLL-2003 named
/// entities, and the usual part-of-speech files):
///
/// ```text
/// -DOCSTART- -X- -X- O
///
/// EU      NNP  B-NP  B-ORG
/// rejects VBZ  B-VP  O
/// German  JJ   B-NP  B-MISC
///
/// Peter   NNP  B-NP  B-PER
/// ```
///
/// One token per line, its fields separated by spaces or tabs: the token first and its tag in the
/// *last* column (columns in between, such as part-of-speech or chunk tags, are ignored); a blank
/// line (or one of spaces and tabs) between sentences; `-DOCSTART-` lines skipped (they also end a
/// sentence). A token cannot contain a space or a tab. Line ends may be `\n` or `\r\n`, and a
/// leading byte order mark is skipped.
public enum CoNLL {
    /// The longest line accepted, in bytes (64 KiB): a longer one is a binary file or a corpus
    /// with its line breaks lost.
    public static let maxLineBytes = 1 << 16
    /// The most tokens in one sentence (4096): more means blank lines between sentences are missing.
    public static let maxSentenceLength = 4096

    /// Reads the UTF-8 file at `url`.
    /// - Throws: ``FileFormatError`` naming the file and, for a bad line, its number: unreadable,
    ///   not UTF-8, a line over ``maxLineBytes``, a token with no tag, a sentence over
    ///   ``maxSentenceLength`` tokens, or no sentence at all.
    public static func read(from url: URL) throws -> [TaggedSentence] {
        try decodeFile(at: url) { try parse($0) }
    }

    /// Parses the bytes of a CoNLL file.
    /// - Throws: ``FileFormatError`` without a file name (see ``read(from:)``).
    public static func parse(_ data: Data) throws -> [TaggedSentence] {
        try parse(decodeUTF8(data))
    }

    /// Parses CoNLL text.
    /// - Throws: ``FileFormatError`` without a file name (see ``read(from:)``).
    public static func parse(_ text: String) throws -> [TaggedSentence] {
        var sentences: [TaggedSentence] = []
        var tokens: [String] = [], tags: [String] = [], firstLine = 0
        func finish() {
            if !tokens.isEmpty { sentences.append(TaggedSentence(tokens: tokens, tags: tags)) }
            (tokens, tags) = ([], [])
        }
        var number = 0
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            guard line.count <= maxLineBytes else {
                throw FileFormatError("line \(number) is \(line.count) bytes long, over the limit of \(maxLineBytes) (not a CoNLL file?)")
            }
            let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") })
            guard let first = fields.first else {
                finish()
                continue
            }
            let token = String(Substring(first))
            if token == "-DOCSTART-" {
                finish()
                continue
            }
            guard fields.count >= 2 else {
                throw FileFormatError("line \(number): the token '\(shown(token))' has no tag; each line holds a token and its tag (last), separated by spaces or tabs")
            }
            if tokens.isEmpty { firstLine = number }
            guard tokens.count < maxSentenceLength else {
                throw FileFormatError("line \(number): the sentence that starts at line \(firstLine) has more than \(maxSentenceLength) tokens; is a blank line missing between sentences?")
            }
            tokens.append(token)
            tags.append(String(Substring(fields.last!)))
        }
        finish()
        guard !sentences.isEmpty else {
            throw FileFormatError("no sentences: expected lines of a token and its tag, with a blank line between sentences")
        }
        return sentences
    }

    /// The sentences as CoNLL text: `token<TAB>tag` lines, a blank line after each sentence.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for an empty token or tag, or one holding a
    ///   space, a tab or a line break (it could not be read back).
    public static func format(_ sentences: [TaggedSentence]) throws -> String {
        var out = ""
        for (s, sentence) in sentences.enumerated() {
            for (token, tag) in zip(sentence.tokens, sentence.tags) {
                for field in [token, tag] where field.isEmpty || field.unicodeScalars.contains(where: { " \t\r\n".unicodeScalars.contains($0) }) {
                    throw RecurrentError.invalidValue("sentence \(s + 1): '\(shown(field))' is empty or holds a space, a tab or a line break")
                }
                out += token + "\t" + tag + "\n"
            }
            out += "\n"
        }
        return out
    }
}
