/// Word segmentation as tagging, built from any text: the spaces are removed, and each remaining
/// character is tagged `B` when a word starts there and `I` otherwise (Xue 2003's character
/// tagging, with two tags). A tagger trained on it puts the spaces back.
///
/// ```swift
/// let s = WordSegmentation.sentences(fromText: "In the beginning")[0]
/// s.tokens   // ["I", "n", "t", "h", "e", "b", "e", …]
/// s.tags     // ["B", "I", "B", "I", "I", "B", "I", …]
/// WordSegmentation.join(s.tokens, tags: s.tags)   // "In the beginning"
/// ```
///
/// Characters are `Character`s (grapheme clusters), so a letter and its combining accent stay one
/// token; whitespace is any `Character.isWhitespace`.
public enum WordSegmentation {
    /// The tag of a character that starts a word.
    public static let begin = "B"
    /// The tag of a character inside a word.
    public static let inside = "I"

    /// One sentence per line of `text` that holds a non-space character; a line longer than
    /// `maxLength` characters (spaces removed) is cut into pieces of at most that many, between
    /// words where a word fits (a piece that starts inside an over-long word starts with `I`).
    public static func sentences(fromText text: String, maxLength: Int = 200) -> [TaggedSentence] {
        precondition(maxLength > 0, "WordSegmentation: maxLength must be positive")
        var sentences: [TaggedSentence] = []
        for line in text.split(whereSeparator: \.isNewline) {
            var tokens: [String] = [], tags: [String] = []
            func flush() {
                if !tokens.isEmpty { sentences.append(TaggedSentence(tokens: tokens, tags: tags)) }
                (tokens, tags) = ([], [])
            }
            for word in line.split(whereSeparator: \.isWhitespace) {
                if tokens.count + word.count > maxLength { flush() }
                for (i, c) in word.enumerated() {
                    if tokens.count == maxLength { flush() }
                    tokens.append(String(c))
                    tags.append(i == 0 ? begin : inside)
                }
            }
            flush()
        }
        return sentences
    }

    /// The characters with a space before each one tagged ``begin`` (except the first).
    public static func join(_ characters: [String], tags: [String]) -> String {
        precondition(characters.count == tags.count, "WordSegmentation.join: \(characters.count) characters but \(tags.count) tags")
        var out = ""
        for (i, (c, tag)) in zip(characters, tags).enumerated() {
            if i > 0 && tag == begin { out += " " }
            out += c
        }
        return out
    }
}
