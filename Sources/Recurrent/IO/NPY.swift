import Foundation

/// NumPy's `.npy` format: reads versions 1.0–3.0 with little-endian `<f4` or `<f8` data in C order
/// (converted to Float32); writes version 1.0 `<f4`.
public enum NPY {
    /// Reads and validates a `.npy` file.
    /// - Throws: ``FileFormatError`` naming the file and the problem.
    public static func read(from url: URL) throws -> TensorData {
        try decodeFile(at: url) { try decode($0) }
    }

    /// Decodes the bytes of a `.npy` file.
    public static func decode(_ data: Data) throws -> TensorData {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw FileFormatError("not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let lengthSize: Int
        switch major {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw FileFormatError("unsupported .npy version \(major).\(bytes[7])")
        }
        guard bytes.count >= 8 + lengthSize else { throw FileFormatError("truncated .npy header") }
        let headerLength = lengthSize == 2 ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let dataStart = 8 + lengthSize + headerLength
        guard dataStart <= data.count else { throw FileFormatError("truncated .npy header (\(headerLength) bytes announced)") }
        guard let header = String(data: data[(data.startIndex + 8 + lengthSize)..<(data.startIndex + dataStart)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw FileFormatError("unreadable .npy header")
        }
        let descr = try field("descr", in: header)
        let fortran = try field("fortran_order", in: header)
        let shapeText = try field("shape", in: header)
        guard fortran == "False" else { throw FileFormatError("Fortran-order arrays are not supported; save with np.ascontiguousarray") }
        let dtype: DType
        switch descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) {
        case "<f4": dtype = .f32
        case "<f8": dtype = .f64
        case let other where other.hasPrefix(">"):
            throw FileFormatError("big-endian dtype '\(other)' is not supported; use '<f4' or '<f8'")
        case let other: throw FileFormatError("unsupported dtype '\(other)'; use float32 ('<f4') or float64 ('<f8')")
        }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let s = part.trimmingCharacters(in: .whitespaces)
            if s.isEmpty { continue }
            guard let d = Int(s), d >= 0 else { throw FileFormatError("bad shape \(shapeText)") }
            shape.append(d)
        }
        let count = shape.reduce(1, *)
        guard data.count - dataStart == count * dtype.size else {
            throw FileFormatError("data holds \(data.count - dataStart) bytes but shape \(shape) of \(descr) needs \(count * dtype.size)")
        }
        let scalars = data[(data.startIndex + dataStart)...].withUnsafeBytes {
            count == 0 ? [] : TensorData.decode($0, offset: 0, count: count, dtype: dtype)
        }
        return TensorData(shape: shape, scalars: scalars, dtype: dtype)
    }

    /// The text of `'key': value` in a header dictionary (a tuple value kept whole).
    private static func field(_ key: String, in header: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)'") else { throw FileFormatError("the .npy header has no '\(key)'") }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { throw FileFormatError("unterminated shape in the .npy header") }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    /// The bytes of a version 1.0 `.npy` file holding `tensor` as little-endian float32.
    public static func encode(_ tensor: TensorData) -> Data {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(\(tensor.shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // numpy pads with spaces so that the data starts at a multiple of 64 bytes, ending in "\n".
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        tensor.scalars.withUnsafeBufferPointer { out.append(UnsafeRawBufferPointer($0).bindMemory(to: UInt8.self)) }
        return out
    }

    /// Writes `tensor` as a `.npy` file, atomically.
    public static func write(_ tensor: TensorData, to url: URL) throws {
        try writeAtomically(encode(tensor), to: url)
    }
}
