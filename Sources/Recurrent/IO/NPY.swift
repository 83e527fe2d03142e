import Foundation

/// NumPy's `.npy` format.
///
/// Reading accepts format versions 1.0, 2.0 and 3.0 holding little-endian floats (`'<f4'`, `'<f8'`,
/// `'<f2'`), integers (`'<i8'` … `'|u1'`, for class labels and indices) or booleans, converted to
/// Float32 (integers beyond ±2²⁴ round to the nearest Float32), in C order. Fortran order is refused unless it lays the
/// values out as C order would (at most one axis longer than 1); big-endian data and every other
/// dtype are refused by name, and the data must be exactly as long as the shape says.
///
/// Writing produces what `numpy.save` writes for a float32 array, byte for byte: version 1.0,
/// `'<f4'`, C order, the header padded with spaces and a newline so that the data starts at a
/// multiple of 64 bytes (version 2.0 only if the header would not fit 1.0's 16-bit length).
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads and validates the `.npy` file at `url`, memory-mapped.
    /// - Throws: ``FileFormatError`` naming the file and the problem.
    public static func read(from url: URL) throws -> TensorData {
        try decodeFile(at: url) { try decode($0) }
    }

    /// Decodes and validates the bytes of a `.npy` file.
    /// - Throws: ``FileFormatError`` without a file name.
    public static func decode(_ data: Data) throws -> TensorData {
        try data.withUnsafeBytes { raw in
            guard raw.starts(with: magic) else {
                throw FileFormatError(magic.starts(with: raw)
                    ? "truncated: the file is \(raw.count) bytes, shorter than the .npy magic string"
                    : "not a .npy file: it does not start with the magic string \\x93NUMPY")
            }
            guard raw.count >= 10 else { throw FileFormatError("truncated: the file is \(raw.count) bytes, shorter than the .npy preamble") }
            let (major, minor) = (raw[6], raw[7])
            let lengthSize: Int
            switch (major, minor) {
            case (1, 0): lengthSize = 2
            case (2, 0), (3, 0): lengthSize = 4
            default: throw FileFormatError("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
            }
            guard raw.count >= 8 + lengthSize else { throw FileFormatError("truncated: the file ends inside the .npy header length") }
            let headerLength = lengthSize == 2 ? Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
                : Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            let dataStart = 8 + lengthSize + headerLength
            guard dataStart <= raw.count else {
                throw FileFormatError("header length \(headerLength) runs past the end of the \(raw.count)-byte file (truncated file?)")
            }
            let headerBytes = UnsafeRawBufferPointer(rebasing: raw[(8 + lengthSize)..<dataStart])
            guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
                throw FileFormatError("the .npy header is not valid UTF-8")
            }
            let (dtype, shape, descr) = try parseHeader(header)
            guard let count = elementCount(shape), case (let needed, false) = count.multipliedReportingOverflow(by: dtype.size) else {
                throw FileFormatError("shape \(shown("\(shape)")) is too large")
            }
            let available = raw.count - dataStart
            guard available == needed else {
                throw FileFormatError("the data holds \(available) bytes but shape \(shown("\(shape)")) of '\(shown(descr))' needs \(needed)\(available < needed ? " (truncated file?)" : "")")
            }
            let scalars = count == 0 ? [] : dtype.decode(raw.baseAddress! + dataStart, count: count)
            return TensorData(shape: shape, scalars: scalars, dtype: dtype)
        }
    }

    /// The element type and shape from a header dictionary such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private static func parseHeader(_ header: String) throws -> (DType, [Int], descr: String) {
        guard case .dict(let pairs) = try PythonLiteral.parse(header) else {
            throw FileFormatError("the .npy header is not a dictionary: \(header.trimmingCharacters(in: .whitespacesAndNewlines).prefix(80))")
        }
        var fields: [String: PythonLiteral.Value] = [:]
        for (key, value) in pairs {
            guard case .string(let name) = key else { throw FileFormatError("the .npy header has a key that is not a string") }
            fields[name] = value
        }
        let keys = Set(fields.keys), expected: Set = ["descr", "fortran_order", "shape"]
        guard keys == expected else {
            let missing = expected.subtracting(keys).sorted(), extra = keys.subtracting(expected).sorted()
            throw FileFormatError("the .npy header must have exactly the keys descr, fortran_order and shape"
                + (missing.isEmpty ? "" : "; missing \(shown(missing.joined(separator: ", ")))")
                + (extra.isEmpty ? "" : "; unexpected \(shown(extra.joined(separator: ", ")))"))
        }
        guard case .string(let descr) = fields["descr"]! else {
            throw FileFormatError("structured dtypes (a list of fields as descr) are not supported; save a plain float array")
        }
        guard case .bool(let fortran) = fields["fortran_order"]! else { throw FileFormatError("fortran_order in the .npy header is not True or False") }
        guard case .tuple(let dims) = fields["shape"]! else { throw FileFormatError("shape in the .npy header is not a tuple") }
        let shape = try dims.map { d -> Int in
            guard case .int(let n) = d, n >= 0 else { throw FileFormatError("shape in the .npy header must hold non-negative integers") }
            return n
        }
        let dtype: DType
        switch descr {
        case "<f4": dtype = .f32
        case "<f8": dtype = .f64
        case "<f2": dtype = .f16
        // Integers (class labels, token indices, lengths) and booleans, converted to Float32.
        case "<i8": dtype = .i64
        case "<i4": dtype = .i32
        case "<i2": dtype = .i16
        case "|i1", "<i1": dtype = .i8
        case "<u8": dtype = .u64
        case "<u4": dtype = .u32
        case "<u2": dtype = .u16
        case "|u1", "<u1": dtype = .u8
        case "|b1": dtype = .bool
        case ">f2", ">f4", ">f8", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8":
            throw FileFormatError("big-endian dtype '\(shown(descr))' is not supported; save it little-endian, e.g. arr.astype('<\(descr.dropFirst())')")
        default: throw FileFormatError("unsupported dtype '\(shown(descr))'; expected little-endian floats ('<f2', '<f4', '<f8'), integers ('<i8', '<i4', '<i2', '|i1', '<u8', '<u4', '<u2', '|u1') or booleans ('|b1')")
        }
        // Column-major order only differs from row-major when two or more axes are longer than 1.
        guard !fortran || shape.filter({ $0 > 1 }).count <= 1 else {
            throw FileFormatError("Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(arr) instead")
        }
        return (dtype, shape, descr)
    }

    /// The bytes `numpy.save` writes for `tensor` as float32: version 1.0, `'<f4'`, C order.
    ///
    /// `tensor.scalars.count` must equal the product of `tensor.shape` (a precondition;
    /// ``write(_:to:)`` checks it and throws instead).
    public static func encode(_ tensor: TensorData) -> Data {
        precondition(elementCount(tensor.shape) == tensor.scalars.count,
                     "NPY.encode: shape \(tensor.shape) does not hold \(tensor.scalars.count) values")
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // numpy leaves room to grow the first axis in place: 21 characters for its digits.
        if let first = tensor.shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        // Then spaces and "\n" so that magic, version, length and header end on a multiple of 64.
        let withNewline = header.utf8.count + 1
        var (lengthSize, padding) = (2, 64 - (10 + withNewline) % 64)
        if withNewline + padding > Int(UInt16.max) { (lengthSize, padding) = (4, 64 - (12 + withNewline) % 64) }  // version 2.0
        let length = withNewline + padding
        var out = Data(capacity: 8 + lengthSize + length + 4 * tensor.scalars.count)
        out.append(contentsOf: magic + [lengthSize == 2 ? 1 : 2, 0])
        if lengthSize == 2 {
            withUnsafeBytes(of: UInt16(length).littleEndian) { out.append(contentsOf: $0) }
        } else {
            withUnsafeBytes(of: UInt32(length).littleEndian) { out.append(contentsOf: $0) }
        }
        out.append(contentsOf: Array(header.utf8) + repeatElement(UInt8(ascii: " "), count: padding) + [UInt8(ascii: "\n")])
        #if _endian(little)
        tensor.scalars.withUnsafeBytes { out.append(contentsOf: $0) }
        #else
        for x in tensor.scalars { withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        #endif
        return out
    }

    /// Writes `tensor` as a float32 `.npy` file, atomically (a temporary file in the same folder,
    /// then renamed over `url`).
    /// - Throws: ``FileFormatError`` naming the file, also when the values do not fill the shape
    ///   (then nothing is written).
    public static func write(_ tensor: TensorData, to url: URL) throws {
        guard elementCount(tensor.shape) == tensor.scalars.count else {
            throw FileFormatError(file: url.path, "shape \(tensor.shape) does not hold \(tensor.scalars.count) values")
        }
        try writeAtomically(encode(tensor), to: url)
    }
}

/// Reads the Python literals of a `.npy` header: dicts, tuples, lists, strings, integers (an old
/// `L` suffix allowed), True, False and None.
enum PythonLiteral {
    indirect enum Value {
        case dict([(key: Value, value: Value)]), tuple([Value]), list([Value]), string(String), int(Int), bool(Bool), none
    }

    static func parse(_ text: String) throws -> Value {
        let chars = Array(text.unicodeScalars)
        var i = 0
        func fail(_ what: String) -> FileFormatError {
            FileFormatError("the .npy header is not a Python literal: \(what) at character \(i)")
        }
        func skipSpace() { while i < chars.count, chars[i].properties.isWhitespace { i += 1 } }
        func take(_ c: Unicode.Scalar) -> Bool {
            skipSpace()
            guard i < chars.count, chars[i] == c else { return false }
            i += 1
            return true
        }
        func items(until close: Unicode.Scalar, depth: Int) throws -> [Value] {
            var out: [Value] = []
            while !take(close) {
                out.append(try value(depth: depth + 1))
                guard take(",") || (i < chars.count && chars[i] == close) else { throw fail("expected ',' or '\(close)'") }
            }
            return out
        }
        func value(depth: Int) throws -> Value {
            guard depth < 16 else { throw fail("nested too deeply") }
            skipSpace()
            guard i < chars.count else { throw fail("unexpected end") }
            let c = chars[i]
            if take("{") {
                var pairs: [(key: Value, value: Value)] = []
                while !take("}") {
                    let key = try value(depth: depth + 1)
                    guard take(":") else { throw fail("expected ':'") }
                    pairs.append((key, try value(depth: depth + 1)))
                    guard take(",") || (i < chars.count && chars[i] == "}") else { throw fail("expected ',' or '}'") }
                }
                return .dict(pairs)
            }
            if take("(") { return .tuple(try items(until: ")", depth: depth)) }
            if take("[") { return .list(try items(until: "]", depth: depth)) }
            if c == "'" || c == "\"" {
                i += 1
                var s = String.UnicodeScalarView()
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    s.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { throw fail("unterminated string") }
                i += 1
                return .string(String(s))
            }
            var word = ""
            while i < chars.count, chars[i] == "-" || chars[i].properties.isAlphabetic || ("0"..."9").contains(chars[i]) {
                word.unicodeScalars.append(chars[i])
                i += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                let digits = word.hasSuffix("L") || word.hasSuffix("l") ? String(word.dropLast()) : word
                guard let n = Int(digits) else { throw fail(word.isEmpty ? "unexpected '\(c)'" : "unexpected '\(shown(word))'") }
                return .int(n)
            }
        }
        let v = try value(depth: 0)
        skipSpace()
        guard i == chars.count else { throw fail("unexpected text after the dictionary") }
        return v
    }
}
