import Foundation
import Testing
@testable import Recurrent

@Suite struct VocabularyTests {
    /// Distinct scalars sorted by value, as Python's `sorted(set(text))` gives them for these texts.
    @Test(arguments: [
        ("hello world", " dehlorw"),
        ("循环神经网络，循环。", "。循环神经络网，"),
        ("naïve café\n", "\n acefnvéï"),
        ("e\u{301}\r\n", "\n\re\u{301}"),  // a combining accent and CRLF are separate symbols
        ("😀a😀", "a😀"),
    ])
    func buildsSortedDistinctScalars(_ text: String, _ symbols: String) throws {
        let v = Vocabulary(text: text)
        #expect(Array(v.symbols.unicodeScalars) == Array(symbols.unicodeScalars))
        #expect(v.count == symbols.unicodeScalars.count)
        let encoded = try v.encode(text)
        #expect(encoded.count == text.unicodeScalars.count)
        #expect(Array(v.decode(encoded).unicodeScalars) == Array(text.unicodeScalars))
        #expect(try Vocabulary(symbols: v.symbols) == v, "round trip through symbols")
    }

    @Test func indicesFollowTheSavedOrder() throws {
        let v = try Vocabulary(symbols: "ba\n中")
        #expect(try v.encode("abba\n中") == [1, 0, 0, 1, 2, 3])
        #expect(v.decode([3, 2, 0]) == "中\nb")
        #expect(v != Vocabulary(text: "ba\n中"), "the same symbols in another order are another vocabulary")
        #expect(try v.encode("").isEmpty && Vocabulary(text: "").count == 0)
    }

    @Test(arguments: [
        ("abcx", "character 'x' (U+0078) at position 3 (line 1) is not in the vocabulary of 4 symbols"),
        ("ab\nc\td", "character '\\t' (U+0009) at position 4 (line 2) is not in the vocabulary of 4 symbols"),
        ("a\u{0}", "character '\\u{0}' (U+0000) at position 1 (line 1)"),
        ("a\u{200B}", "character '\\u{200B}' (U+200B) at position 1"),
        ("aé", "character 'é' (U+00E9) at position 1"),
        ("a🙂", "character '🙂' (U+1F642) at position 1"),
    ])
    func unknownCharactersAreNamed(_ text: String, _ fragment: String) throws {
        let v = try Vocabulary(symbols: "abc\n")
        #expect { _ = try v.encode(text) } throws: { error in
            guard case RecurrentError.invalidValue(let m) = error else { return false }
            return m.contains(fragment) && !m.contains("\n") && !m.contains("\t")
        }
    }

    @Test(arguments: [("", "the vocabulary is empty"), ("abca", "the vocabulary lists 'a' (U+0061) twice (at indices 0 and 3)"),
                      ("x\n\n", "the vocabulary lists '\\n' (U+000A) twice (at indices 1 and 2)")])
    func savedSymbolsAreValidated(_ symbols: String, _ message: String) {
        #expect(throws: RecurrentError.invalidValue(message)) { _ = try Vocabulary(symbols: symbols) }
    }

    @Test func readsUTF8TextFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data("\u{FEFF}第一行\nline two\n".utf8).write(to: dir.file("bom.txt"))
        #expect(try TextFile.read(from: dir.file("bom.txt")) == "第一行\nline two\n", "the byte order mark is dropped")
        try Data("ok\n".utf8).write(to: dir.file("plain.txt"))
        #expect(try TextFile.read(from: dir.file("plain.txt")) == "ok\n")
    }

    /// The first invalid byte is named by offset and line: bad lead bytes, truncated sequences,
    /// overlong forms, surrogates, code points above U+10FFFF.
    @Test(arguments: [
        ([0x61, 0x0A, 0x62, 0xFF], "not valid UTF-8: byte 3 (line 2) is 0xFF"),
        ([0x61, 0xC3], "not valid UTF-8: byte 1 (line 1) is 0xC3"),
        ([0x61, 0x62, 0xC0, 0xAF], "byte 2 (line 1) is 0xC0"),
        ([0xED, 0xA0, 0x80], "byte 0 (line 1) is 0xED"),
        ([0xF4, 0x90, 0x80, 0x80], "byte 0 (line 1) is 0xF4"),
        ([0xE4, 0xB8, 0xAD, 0x0A, 0x0A, 0x80], "byte 5 (line 3) is 0x80"),
        ([0xEF, 0xBB, 0xBF, 0x41, 0xFE], "byte 4 (line 1) is 0xFE"),
        ([], "the file is empty"),
        ([0xEF, 0xBB, 0xBF], "the file is empty"),
    ] as [([UInt8], String)])
    func invalidTextFilesThrowOneLineErrors(_ bytes: [UInt8], _ fragment: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data(bytes).write(to: dir.file("t.txt"))
        #expect { _ = try TextFile.read(from: dir.file("t.txt")) } throws: { error in
            let e = error as? FileFormatError
            return e?.file == dir.path("t.txt") && e?.message.contains(fragment) == true && !"\(error)".contains("\n")
        }
    }
}
