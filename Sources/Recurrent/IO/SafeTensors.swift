import Foundation

/// A safetensors file: named tensors and optional string metadata (`__metadata__`).
///
/// The format: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping each
/// tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the data buffer
/// that follows the header) plus an optional `"__metadata__"` object of strings, then the buffer.
///
/// Reading accepts every ``DType`` and converts the values to Float32. It checks what the
/// reference (Rust) implementation checks, with a message naming the tensor: the header length
/// (at most 100 MB, within the file), UTF-8 and JSON, each entry's fields and types, a known dtype,
/// non-negative integer dimensions, `begin <= end <= buffer size`, a byte count equal to
/// `product(shape) * dtype size`, and offsets that tile the buffer exactly: overlaps, gaps between
/// tensors and trailing bytes are all errors (a well-formed writer never produces them, and bytes no
/// tensor accounts for point to a damaged or misread file). It is stricter than the reference in one
/// way: a name given twice in the header is an error, where the reference keeps the last.
/// Unknown fields in an entry are ignored, and `"__metadata__": null` reads as no metadata.
///
/// Writing stores every tensor as F32, little-endian, in order of name (by UTF-8 bytes), the header
/// listing them in the same order after `__metadata__` and padded with spaces to a multiple of 8
/// bytes, as the Python library does (see ``encoded()``). Reading back what was written is bit-exact.
public struct SafeTensorsFile: Sendable {
    /// The tensors by name.
    public var tensors: [String: TensorData]
    /// The `__metadata__` string pairs; empty when the file has none (and then none is written).
    public var metadata: [String: String]

    /// Creates a file's contents.
    public init(tensors: [String: TensorData] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The largest header accepted, as in the reference implementation (100 MB).
    static let maximumHeaderLength = 100_000_000

    /// Reads and validates the file at `url`, memory-mapped.
    /// - Throws: ``FileFormatError`` naming the file and the problem.
    public static func read(from url: URL) throws -> SafeTensorsFile {
        try decodeFile(at: url) { try SafeTensorsFile(decoding: $0) }
    }

    /// Decodes and validates the bytes of a safetensors file.
    /// - Throws: ``FileFormatError`` without a file name.
    public init(decoding data: Data) throws {
        self = try data.withUnsafeBytes { try Self.decode($0) }
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws -> SafeTensorsFile {
        guard raw.count >= 8 else {
            throw FileFormatError("truncated: the file is \(raw.count) bytes, shorter than the 8-byte header length")
        }
        let announced = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        guard announced <= UInt64(maximumHeaderLength) else {
            throw FileFormatError("header length \(announced) exceeds the limit of \(maximumHeaderLength) bytes")
        }
        let headerLength = Int(announced), bufferStart = 8 + headerLength
        guard bufferStart <= raw.count else {
            throw FileFormatError("header length \(headerLength) is larger than the \(raw.count - 8) bytes after it (truncated file?)")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: raw[8..<bufferStart])
        guard String(bytes: headerBytes, encoding: .utf8) != nil else { throw FileFormatError("header is not valid UTF-8") }
        guard case .object(let members) = try HeaderJSON.parse(headerBytes) else {
            throw FileFormatError("header is not a JSON object")
        }

        var file = SafeTensorsFile()
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw FileFormatError("header names '\(shown(name))' twice") }
            if name == "__metadata__" {
                file.metadata = try metadata(value)
                continue
            }
            let tensor = "tensor '\(shown(name))'"
            guard case .object(let fields) = value else { throw FileFormatError("\(tensor): entry must be an object, got \(value.text)") }
            func field(_ key: String) throws -> HeaderJSON.Value {
                guard let v = fields.last(where: { $0.key == key })?.value else { throw FileFormatError("\(tensor) has no \(key)") }
                return v
            }
            let dtypeValue = try field("dtype"), shapeValue = try field("shape"), offsetsValue = try field("data_offsets")
            guard case .string(let dtypeName) = dtypeValue else { throw FileFormatError("\(tensor): dtype must be a string, got \(dtypeValue.text)") }
            guard let dtype = DType(rawValue: dtypeName) else {
                let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
                throw FileFormatError("\(tensor) has unsupported dtype '\(shown(dtypeName))' (supported: \(known))")
            }
            guard let shape = shapeValue.counts else {
                throw FileFormatError("\(tensor): shape must be a list of non-negative integers, got \(shapeValue.text)")
            }
            guard let offsets = offsetsValue.counts, offsets.count == 2 else {
                throw FileFormatError("\(tensor): data_offsets must be two non-negative integers [begin, end], got \(offsetsValue.text)")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }

        // As the reference implementation: in order of offsets, each tensor starts where the last ended.
        entries.sort { a, b in
            (a.begin, a.end) != (b.begin, b.end) ? (a.begin, a.end) < (b.begin, b.end) : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        let bufferLength = raw.count - bufferStart
        var covered = 0, previous = ""
        for e in entries {
            let tensor = "tensor '\(shown(e.name))' has data_offsets [\(e.begin), \(e.end)]", shape = "shape \(shown("\(e.shape)")) of \(e.dtype.rawValue)"
            guard e.begin <= e.end else { throw FileFormatError("\(tensor): begin is after end") }
            guard e.end <= bufferLength else {
                throw FileFormatError("\(tensor) beyond the end of the \(bufferLength)-byte data buffer (truncated file?)")
            }
            guard let count = elementCount(e.shape), case (let bytes, false) = count.multipliedReportingOverflow(by: e.dtype.size) else {
                throw FileFormatError("\(tensor) but its \(shape) is too large")
            }
            guard bytes == e.end - e.begin else { throw FileFormatError("\(tensor) (\(e.end - e.begin) bytes) but \(shape) needs \(bytes) bytes") }
            guard e.begin >= covered else { throw FileFormatError("\(tensor), overlapping tensor '\(shown(previous))' which ends at \(covered)") }
            guard e.begin == covered else { throw FileFormatError("\(tensor), leaving a gap: data bytes [\(covered), \(e.begin)) belong to no tensor") }
            let scalars = count == 0 ? [] : e.dtype.decode(raw.baseAddress! + bufferStart + e.begin, count: count)
            file.tensors[e.name] = TensorData(shape: e.shape, scalars: scalars, dtype: e.dtype)
            (covered, previous) = (e.end, e.name)
        }
        guard covered == bufferLength else {
            throw FileFormatError("the data buffer has \(bufferLength - covered) bytes after the last tensor (which ends at \(covered)) that belong to no tensor")
        }
        return file
    }

    /// The `__metadata__` entry: an object of strings, or null.
    private static func metadata(_ value: HeaderJSON.Value) throws -> [String: String] {
        if case .null = value { return [:] }
        guard case .object(let pairs) = value else {
            throw FileFormatError("__metadata__ must be an object of strings, got \(value.text)")
        }
        var out: [String: String] = [:]
        for (key, v) in pairs {
            guard case .string(let s) = v else { throw FileFormatError("__metadata__ '\(shown(key))' must be a string, got \(v.text)") }
            out[key] = s
        }
        return out
    }

    /// The file's bytes: every tensor as F32, in order of name.
    ///
    /// The header lists `__metadata__` first (its keys sorted), then the tensors in the same order
    /// as their data, each as `{"dtype","shape","data_offsets"}`: for F32 tensors this is byte for
    /// byte what `safetensors.torch.save_file` writes (which orders metadata keys at random).
    /// - Throws: ``FileFormatError`` when a tensor's values do not fill its shape (possible after
    ///   mutating ``TensorData/shape`` or ``TensorData/scalars``) or a tensor is named `__metadata__`.
    public func encoded() throws -> Data {
        let names = tensors.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            entries.append(#""__metadata__":{"# + pairs.map { jsonQuoted($0.key) + ":" + jsonQuoted($0.value) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            guard name != "__metadata__" else { throw FileFormatError("a tensor cannot be named '__metadata__' (reserved for metadata)") }
            guard elementCount(t.shape) == t.scalars.count else {
                throw FileFormatError("tensor '\(shown(name))' has \(t.scalars.count) values, which do not fill its shape \(t.shape)")
            }
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append(jsonQuoted(name) + #":{"dtype":"F32","shape":[\#(shape)],"data_offsets":[\#(offset),\#(offset + 4 * t.scalars.count)]}"#)
            offset += 4 * t.scalars.count
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for name in names {
            #if _endian(little)
            tensors[name]!.scalars.withUnsafeBytes { out.append(contentsOf: $0) }
            #else
            for x in tensors[name]!.scalars { withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            #endif
        }
        return out
    }

    /// Writes the file atomically: a temporary file in the same folder, then renamed over `url`.
    /// Nothing is written (and an existing file stays as it was) when encoding fails.
    /// - Throws: ``FileFormatError`` naming the file.
    public func write(to url: URL) throws {
        let data: Data
        do { data = try encoded() } catch var error as FileFormatError {
            error.file = url.path
            throw error
        }
        try writeAtomically(data, to: url)
    }
}

private let jsonEscapes: [Unicode.Scalar: String] = [
    "\"": #"\""#, "\\": #"\\"#, "\n": #"\n"#, "\r": #"\r"#, "\t": #"\t"#, "\u{8}": #"\b"#, "\u{C}": #"\f"#,
]

/// `s` as a JSON string literal (UTF-8 kept, quotes, backslashes and control characters escaped).
func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        if let escaped = jsonEscapes[u] {
            out += escaped
        } else if u.value < 0x20 {
            out += "\\u00" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// A small JSON reader for safetensors headers: integers kept exact, nesting limited, one-line errors
/// giving the byte offset in the header. The bytes must already be valid UTF-8.
struct HeaderJSON {
    indirect enum Value {
        case object([(key: String, value: Value)]), array([Value]), string(String)
        case integer(Int), number(String), bool(Bool), null  // `number`: a fraction, an exponent, or beyond Int

        /// The value when it is a list of non-negative integers.
        var counts: [Int]? {
            guard case .array(let items) = self else { return nil }
            var out: [Int] = []
            for item in items {
                guard case .integer(let n) = item, n >= 0 else { return nil }
                out.append(n)
            }
            return out
        }

        /// A short rendering for messages.
        var text: String {
            let s: String = switch self {
            case .object: "an object"
            case .array(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
            case .string(let s): "\"\(s)\""
            case .integer(let n): "\(n)"
            case .number(let s): s
            case .bool(let b): "\(b)"
            case .null: "null"
            }
            return s.count > 60 ? String(s.prefix(57)) + "..." : s
        }
    }

    static let maximumDepth = 32
    /// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`: the byte after the backslash and the byte it stands for.
    private static let escapes: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
    private let bytes: UnsafeRawBufferPointer
    private var i = 0

    /// Parses one JSON value filling `bytes` (whitespace around it allowed).
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> Value {
        var p = HeaderJSON(bytes: bytes)
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.error("unexpected \(p.found) after the JSON value") }
        return v
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func error(_ what: String) -> FileFormatError { FileFormatError("header is not valid JSON: \(what) at byte \(i)") }
    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }
    private var found: String {
        guard let c = peek else { return "end of header" }
        return (0x21..<0x7F).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x" + String(c, radix: 16, uppercase: true)
    }
    private mutating func skipSpace() { while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } }
    private mutating func take(_ c: Character) -> Bool {
        guard peek == c.asciiValue else { return false }
        i += 1
        return true
    }
    private mutating func expect(_ c: Character) throws { guard take(c) else { throw error("expected '\(c)' but found \(found)") } }

    private mutating func value(depth: Int) throws -> Value {
        guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels deep") }
        skipSpace()
        if take("{") {
            var members: [(key: String, value: Value)] = []
            skipSpace()
            if take("}") { return .object([]) }
            repeat {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a string key but found \(found)") }
                let key = try string()
                skipSpace()
                try expect(":")
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
            } while take(",")
            try expect("}")
            return .object(members)
        }
        if take("[") {
            var items: [Value] = []
            skipSpace()
            if take("]") { return .array([]) }
            repeat {
                items.append(try value(depth: depth + 1))
                skipSpace()
            } while take(",")
            try expect("]")
            return .array(items)
        }
        for (word, v) in [("true", Value.bool(true)), ("false", .bool(false)), ("null", .null)]
            where bytes.count - i >= word.utf8.count && bytes[i..<(i + word.utf8.count)].elementsEqual(word.utf8) {
            i += word.utf8.count
            return v
        }
        if peek == UInt8(ascii: "\"") { return .string(try string()) }
        if peek == UInt8(ascii: "-") || (peek.map { (0x30...0x39).contains($0) } ?? false) { return try number() }
        throw error("unexpected \(found)")
    }

    private mutating func string() throws -> String {
        i += 1  // the opening quote
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated string") }
            i += 1
            switch c {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw error("unterminated string") }
                i += 1
                switch e {
                case _ where Self.escapes[e] != nil: out.append(Self.escapes[e]!)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), take("\\"), take("u") {
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair in a string") }
                        code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("lone surrogate \\u\(String(code, radix: 16)) in a string") }
                    UTF8.encode(scalar) { out.append($0) }
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                }
            case 0..<0x20: throw error("control character in a string")
            default: out.append(c)
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - i >= 4, bytes[i..<(i + 4)].allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
              let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw error("expected four hex digits after \\u")
        }
        i += 4
        return v
    }

    private mutating func number() throws -> Value {
        let start = i
        func digits() -> Int {
            let from = i
            while let c = peek, (0x30...0x39).contains(c) { i += 1 }
            return i - from
        }
        _ = take("-")
        let intDigits = digits()
        guard intDigits > 0, intDigits == 1 || bytes[i - intDigits] != UInt8(ascii: "0") else { throw error("malformed number") }
        var integral = true
        if take(".") {
            integral = false
            guard digits() > 0 else { throw error("malformed number") }
        }
        if take("e") || take("E") {
            integral = false
            _ = take("+") || take("-")
            guard digits() > 0 else { throw error("malformed number") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        return integral ? Int(text).map(Value.integer) ?? .number(text) : .number(text)
    }
}
