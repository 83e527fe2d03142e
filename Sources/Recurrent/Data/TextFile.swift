import Foundation

/// Reading UTF-8 text files: the corpus of a character language model, a CSV table.
public enum TextFile {
    /// Reads the UTF-8 text file at `url`, without a leading byte order mark (U+FEFF) if it has one.
    /// - Throws: ``FileFormatError`` naming the file: unreadable, empty, or not valid UTF-8 (the
    ///   message gives the byte offset and line of the first invalid byte).
    public static func read(from url: URL) throws -> String {
        try decodeFile(at: url) { try decode($0) }
    }

    /// Decodes UTF-8 text, without a leading byte order mark if it has one.
    /// - Throws: ``FileFormatError`` without a file name when `data` is empty (or only a byte
    ///   order mark) or not valid UTF-8.
    public static func decode(_ data: Data) throws -> String {
        let text = try decodeUTF8(data)
        guard !text.isEmpty else { throw FileFormatError("the file is empty") }
        return text
    }
}

/// `data` as a String, validated (overlong forms, surrogates and code points above U+10FFFF are
/// invalid, as in Unicode's Table 3-7), with a leading byte order mark removed.
func decodeUTF8(_ data: Data) throws -> String {
    let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    let body = data.starts(with: bom) ? data.dropFirst(3) : data[...]
    if let text = String(validating: body, as: UTF8.self) { return text }
    // Invalid: find the first bad byte for the message.
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = body.makeIterator()
    var offset = body.startIndex - data.startIndex, line = 1
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded):
            if encoded.count == 1 && encoded.first == UInt8(ascii: "\n") { line += 1 }
            offset += encoded.count
        case .error:
            let byte = data[data.startIndex + offset]
            throw FileFormatError("not valid UTF-8: byte \(offset) (line \(line)) is 0x\(String(byte, radix: 16, uppercase: true)); save the file as UTF-8")
        case .emptyInput:
            return String(decoding: body, as: UTF8.self)  // not reached: validation failed above
        }
    }
}
