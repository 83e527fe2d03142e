/// The symbols of a character-level language model: the distinct Unicode scalars of a text, each
/// with an index (what Karpathy's min-char-rnn builds with `sorted(set(text))`).
///
/// Symbols are Unicode *scalars*, not `Character`s (grapheme clusters), so that English, Chinese
/// and text with combining marks all have a small, fixed alphabet, and "\r\n" is two symbols.
public struct Vocabulary: Equatable, Sendable {
    /// The symbols in index order.
    private let scalars: [Unicode.Scalar]
    /// Index of each symbol: a table for ASCII, a dictionary for the rest.
    private let asciiIndex: [Int]
    private let index: [Unicode.Scalar: Int]

    private init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
        var ascii = [Int](repeating: -1, count: 128), index: [Unicode.Scalar: Int] = [:]
        for (i, s) in scalars.enumerated() {
            if s.isASCII { ascii[Int(s.value)] = i } else { index[s] = i }
        }
        asciiIndex = ascii
        self.index = index
    }

    /// The distinct scalars of `text`, sorted by scalar value (empty for an empty text).
    public init(text: some StringProtocol) {
        var seenASCII = [Bool](repeating: false, count: 128), others = Set<Unicode.Scalar>()
        for s in text.unicodeScalars {
            if s.isASCII { seenASCII[Int(s.value)] = true } else { others.insert(s) }
        }
        let ascii = (0..<128).filter { seenASCII[$0] }.compactMap { Unicode.Scalar($0) }
        self.init(scalars: ascii + others.sorted { $0.value < $1.value })
    }

    /// The vocabulary saved as ``symbols``: each scalar of `symbols` in index order.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when `symbols` is empty or lists a scalar twice.
    public init(symbols: String) throws {
        let scalars = Array(symbols.unicodeScalars)
        guard !scalars.isEmpty else { throw RecurrentError.invalidValue("the vocabulary is empty") }
        var first: [Unicode.Scalar: Int] = [:]
        for (i, s) in scalars.enumerated() {
            if let j = first[s] {
                throw RecurrentError.invalidValue("the vocabulary lists \(Self.describe(s)) twice (at indices \(j) and \(i))")
            }
            first[s] = i
        }
        self.init(scalars: scalars)
    }

    /// Every symbol in index order, as one string: what to save (for example in model metadata)
    /// and pass back to ``init(symbols:)``.
    public var symbols: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }

    /// The number of symbols, the size of a model's input and output.
    public var count: Int { scalars.count }

    /// The index of each scalar of `text`, in order.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the first scalar not in the vocabulary
    ///   and its position (counting scalars from 0) and line.
    public func encode(_ text: some StringProtocol) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            let i = s.isASCII ? asciiIndex[Int(s.value)] : index[s] ?? -1
            guard i >= 0 else {
                let before = text.unicodeScalars.prefix(out.count)
                let line = before.reduce(1) { $0 + ($1 == "\n" ? 1 : 0) }
                throw RecurrentError.invalidValue(
                    "character \(Self.describe(s)) at position \(out.count) (line \(line)) is not in the vocabulary of \(count) symbols")
            }
            out.append(i)
        }
        return out
    }

    /// The text of symbol indices. Every index must be in `0..<count` (a precondition).
    public func decode(_ indices: [Int]) -> String {
        var s = String.UnicodeScalarView()
        for i in indices {
            precondition(i >= 0 && i < scalars.count, "Vocabulary.decode: index \(i) is out of range 0..<\(scalars.count)")
            s.append(scalars[i])
        }
        return String(s)
    }

    /// Two vocabularies are equal when they list the same scalars in the same order.
    public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.scalars == b.scalars }

    /// `'x' (U+0078)`; control and invisible characters escaped, as in `'\n' (U+000A)` or
    /// `'\u{200B}' (U+200B)`, so that a message stays on one readable line.
    static func describe(_ s: Unicode.Scalar) -> String {
        let code = "U+" + String(repeating: "0", count: max(0, 4 - String(s.value, radix: 16).count)) + String(s.value, radix: 16, uppercase: true)
        let invisible = switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: true
        case .spaceSeparator: s != " "
        default: false
        }
        guard invisible else { return "'\(s)' (\(code))" }
        let escaped = switch s {
        case "\n": "\\n"
        case "\r": "\\r"
        case "\t": "\\t"
        default: "\\u{\(String(s.value, radix: 16, uppercase: true))}"
        }
        return "'\(escaped)' (\(code))"
    }
}
