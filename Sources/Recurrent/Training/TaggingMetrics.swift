import Foundation

/// Token-level scores of predicted tags against the gold tags: the accuracy, and each tag's
/// precision, recall and F1 (scikit-learn's `classification_report` over the flattened tokens,
/// with `zero_division=0`).
///
/// ```swift
/// let s = TagScores(predicted: [["B", "I", "B"]], gold: [["B", "B", "B"]])
/// s.accuracy                   // 2/3
/// s.tag("B")!.recall           // 2/3: two of the three gold B's were found
/// s.tag("I")!.precision        // 0: the one predicted I was wrong
/// ```
public struct TagScores: Sendable, Equatable {
    /// The counts and scores of one tag.
    public struct Tag: Sendable, Equatable {
        /// The tag.
        public var tag: String
        /// Tokens predicted as this tag whose gold tag is this tag.
        public var truePositives: Int
        /// Tokens predicted as this tag.
        public var predicted: Int
        /// Tokens whose gold tag is this tag.
        public var support: Int
        /// `truePositives / predicted` (0 when nothing was predicted as this tag).
        public var precision: Double { predicted == 0 ? 0 : Double(truePositives) / Double(predicted) }
        /// `truePositives / support` (0 when the gold tags never hold this tag).
        public var recall: Double { support == 0 ? 0 : Double(truePositives) / Double(support) }
        /// The harmonic mean `2PR / (P + R)` (0 when both are 0).
        public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    }

    /// Every tag seen in the gold or the predicted tags, sorted by name.
    public var tags: [Tag]
    /// The number of tokens.
    public var tokens: Int
    /// Tokens whose predicted tag is the gold tag.
    public var correct: Int

    /// Scores `predicted` against `gold`: the same number of sentences, each with the same number
    /// of tags (a precondition).
    public init(predicted: [[String]], gold: [[String]]) {
        precondition(predicted.count == gold.count, "TagScores: \(predicted.count) predicted sentences for \(gold.count) gold ones")
        var counts: [String: (tp: Int, predicted: Int, support: Int)] = [:]
        (tokens, correct) = (0, 0)
        for (s, (p, g)) in zip(predicted, gold).enumerated() {
            precondition(p.count == g.count, "TagScores: sentence \(s + 1) has \(p.count) predicted tags for \(g.count) gold ones")
            for (pt, gt) in zip(p, g) {
                tokens += 1
                counts[pt, default: (0, 0, 0)].predicted += 1
                counts[gt, default: (0, 0, 0)].support += 1
                if pt == gt { correct += 1; counts[gt]!.tp += 1 }
            }
        }
        tags = counts.keys.sorted().map { Tag(tag: $0, truePositives: counts[$0]!.tp, predicted: counts[$0]!.predicted, support: counts[$0]!.support) }
    }

    /// `correct / tokens`, in [0, 1] (0 without tokens).
    public var accuracy: Double { tokens == 0 ? 0 : Double(correct) / Double(tokens) }

    /// The mean F1 over ``tags`` (0 without tokens).
    public var macroF1: Double { tags.isEmpty ? 0 : tags.map(\.f1).reduce(0, +) / Double(tags.count) }

    /// The scores of `tag`, or nil when it occurs in neither the gold nor the predicted tags.
    public func tag(_ tag: String) -> Tag? { tags.first { $0.tag == tag } }
}

/// A span of tokens with a type: a chunk, a named entity, or a word of a segmented text.
public struct TagSpan: Hashable, Sendable {
    /// The first token.
    public var start: Int
    /// One past the last token.
    public var end: Int
    /// The type after the tag's prefix (`PER` in `B-PER`), empty for bare `B` / `I` tags.
    public var type: String

    /// A span of tokens `start..<end`.
    public init(start: Int, end: Int, type: String) { (self.start, self.end, self.type) = (start, end, type) }

    /// The spans of one sentence's tags in the BIO scheme and its relatives (IOB1, BIOES), read
    /// as CoNLL's `conlleval` reads them: `B-X` and `S-X` start a span, `I-X` and `E-X` continue
    /// the open span of type `X` or else start one, `E-X` and `S-X` end theirs, `O` is outside.
    /// A bare `B`, `I`, `E` or `S` is a span of the empty type (word segmentation's B/I tags).
    /// - Returns: the spans in order, or nil when some tag is not of these forms (part-of-speech tags).
    public static func spans(_ tags: [String]) -> [TagSpan]? {
        var spans: [TagSpan] = [], open: (start: Int, type: String)?
        func close(at end: Int) {
            if let o = open { spans.append(TagSpan(start: o.start, end: end, type: o.type)) }
            open = nil
        }
        for (i, tag) in tags.enumerated() {
            if tag == "O" { close(at: i); continue }
            let prefix = tag.prefix(1), rest = tag.dropFirst()
            guard ["B", "I", "E", "S"].contains(prefix), rest.isEmpty || rest.first == "-" else { return nil }
            let type = String(rest.dropFirst())
            if prefix == "B" || prefix == "S" || open?.type != type {
                close(at: i)
                open = (i, type)
            }
            if prefix == "E" || prefix == "S" { close(at: i + 1) }
        }
        close(at: tags.count)
        return spans
    }
}

/// Span-level scores, as CoNLL's `conlleval` reports them: a predicted span is correct only when
/// its start, end and type all match a gold span. For word segmentation's B/I tags these are the
/// usual word precision, recall and F1.
public struct SpanScores: Sendable, Equatable {
    /// Spans in the gold tags.
    public var gold: Int
    /// Spans in the predicted tags.
    public var predicted: Int
    /// Predicted spans that are gold spans.
    public var correct: Int

    /// Scores `predicted` against `gold` (the same number of sentences and tags, a precondition);
    /// nil when some tag is not of the span forms (see ``TagSpan/spans(_:)``).
    public init?(predicted: [[String]], gold: [[String]]) {
        precondition(predicted.count == gold.count, "SpanScores: \(predicted.count) predicted sentences for \(gold.count) gold ones")
        (self.gold, self.predicted, correct) = (0, 0, 0)
        for (p, g) in zip(predicted, gold) {
            precondition(p.count == g.count, "SpanScores: \(p.count) predicted tags for \(g.count) gold ones")
            guard let ps = TagSpan.spans(p), let gs = TagSpan.spans(g) else { return nil }
            self.gold += gs.count
            self.predicted += ps.count
            correct += Set(ps).intersection(gs).count
        }
    }

    /// `correct / predicted` (0 without predicted spans).
    public var precision: Double { predicted == 0 ? 0 : Double(correct) / Double(predicted) }
    /// `correct / gold` (0 without gold spans).
    public var recall: Double { gold == 0 ? 0 : Double(correct) / Double(gold) }
    /// `2PR / (P + R)` (0 when both are 0).
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
}
