import Foundation

/// One example of a sequence-to-sequence task: a source text and the target text it maps to
/// (`"123+45"` → `"168"`, `"Go."` → `"Va !"`).
public struct SequencePair: Equatable, Sendable {
    /// What the encoder reads.
    public var source: String
    /// What the decoder should write.
    public var target: String

    /// Creates a pair.
    public init(source: String, target: String) {
        (self.source, self.target) = (source, target)
    }
}

/// Sequence pairs from a file of tab-separated lines, and generated tasks that need no file.
///
/// The file format is one pair per line, `source<TAB>target`, in UTF-8 (a leading byte order mark
/// is skipped, `\r\n` line ends are accepted, blank lines are skipped). Both sides are taken as
/// they are, spaces included; their characters are Unicode scalars, as in ``Vocabulary``.
public enum SequencePairs {
    /// The longest source or target accepted, in Unicode scalars (a longer one is a format error:
    /// a decoder that has to write thousands of steps is not what these models are for).
    public static let maxLength = 1000

    /// Reads the pairs of a tab-separated UTF-8 file.
    /// - Throws: ``FileFormatError`` naming the file and, for a bad line, its number (from 1): an
    ///   unreadable, empty or non-UTF-8 file, a line without exactly one tab, an empty source or
    ///   target, a side longer than ``maxLength``, or a file with no pairs at all.
    public static func read(from url: URL) throws -> [SequencePair] {
        try decodeFile(at: url) { try parse(try TextFile.decode($0)) }
    }

    /// Parses tab-separated lines (see ``read(from:)``).
    /// - Throws: ``FileFormatError`` without a file name, naming the line.
    public static func parse(_ text: String) throws -> [SequencePair] {
        var pairs: [SequencePair] = []
        // Split on scalars: in Swift's `Character` view "\r\n" is one character, not "\n".
        for (index, piece) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = piece[...]
            if line.last == "\r" { line = line.dropLast() }
            if line.isEmpty { continue }
            let number = index + 1
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2 else {
                throw FileFormatError(fields.count == 1
                    ? "line \(number) has no tab; each line must be source<TAB>target"
                    : "line \(number) has \(fields.count - 1) tabs; each line must be source<TAB>target, with one tab")
            }
            for (side, field) in zip(["source", "target"], fields) {
                guard !field.isEmpty else { throw FileFormatError("line \(number): the \(side) is empty") }
                guard field.count <= maxLength else {
                    throw FileFormatError("line \(number): the \(side) has \(field.count) characters, over the limit of \(maxLength)")
                }
            }
            pairs.append(SequencePair(source: String(Substring(fields[0])), target: String(Substring(fields[1]))))
        }
        guard !pairs.isEmpty else { throw FileFormatError("no pairs: every line is blank") }
        return pairs
    }

    /// The Keras `addition_rnn` example's data: questions `"a+b"` and answers `"a+b"`'s sum, for
    /// `count` distinct questions (`a+b` and `b+a` count as one, as there).
    ///
    /// Each number is drawn as Keras draws it: a length from 1 to `digits`, then that many random
    /// digits (so `"007"` becomes 7, and small numbers are more frequent than uniform sampling
    /// would make them). Keras pads the question with spaces to a fixed width and, with
    /// `REVERSE = True`, reverses it; here the questions are left as written, since a
    /// ``Seq2SeqModel`` pads its batches itself and reverses its sources when its configuration's
    /// ``Seq2SeqConfiguration/reverseSource`` is set.
    ///
    /// - Throws: ``RecurrentError/invalidValue(_:)`` unless `digits` is in 1...6 and `count` is
    ///   positive and at most half of the distinct questions there are (so that drawing them ends quickly).
    public static func addition(count: Int, digits: Int = 3, seed: UInt64) throws -> [SequencePair] {
        guard (1...6).contains(digits) else { throw RecurrentError.invalidValue("digits must be between 1 and 6, got \(digits)") }
        let numbers = Int(pow(10, Double(digits))), distinct = numbers * (numbers + 1) / 2
        guard count > 0, count <= distinct / 2 else {
            throw RecurrentError.invalidValue("\(count) addition questions asked for; with up to \(digits) digits there can be 1 to \(distinct / 2)")
        }
        var generator = SeededGenerator(seed: seed), seen = Set<Int>(), pairs: [SequencePair] = []
        func number() -> Int {
            let length = 1 + Int(generator.next() % UInt64(digits))
            return (0..<length).reduce(0) { value, _ in value * 10 + Int(generator.next() % 10) }
        }
        while pairs.count < count {
            let a = number(), b = number()
            guard seen.insert(min(a, b) * numbers + max(a, b)).inserted else { continue }
            pairs.append(SequencePair(source: "\(a)+\(b)", target: "\(a + b)"))
        }
        return pairs
    }

    /// Every number from 0 to `limit` in English words and in digits:
    /// `"three hundred forty two"` → `"342"` (no hyphens, no "and"), in increasing order.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` unless `limit` is in 1...999_999.
    public static func numberWords(upTo limit: Int = 999) throws -> [SequencePair] {
        guard (1...999_999).contains(limit) else { throw RecurrentError.invalidValue("the limit must be between 1 and 999999, got \(limit)") }
        return (0...limit).map { SequencePair(source: englishWords($0), target: "\($0)") }
    }

    /// `n` (0...999_999) in English words.
    static func englishWords(_ n: Int) -> String {
        let ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
        let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
        func below1000(_ n: Int) -> [String] {
            var words: [String] = []
            if n >= 100 { words += [ones[n / 100], "hundred"] }
            let rest = n % 100
            if rest >= 20 {
                words.append(tens[rest / 10])
                if rest % 10 > 0 { words.append(ones[rest % 10]) }
            } else if rest > 0 || n == 0 {
                words.append(ones[rest])
            }
            return words
        }
        let words = n >= 1000 ? below1000(n / 1000) + ["thousand"] + (n % 1000 > 0 ? below1000(n % 1000) : []) : below1000(n)
        return words.joined(separator: " ")
    }
}
