/// A file that cannot be read or written as asked: its description is one line naming the file
/// (when known) and the problem.
public struct FileFormatError: Error, CustomStringConvertible, Equatable {
    /// The file's name, or nil for in-memory data.
    public var file: String?
    /// What is wrong.
    public var message: String

    /// Creates the error.
    public init(file: String? = nil, _ message: String) {
        self.file = file
        self.message = message
    }

    /// `file: message`, or the message alone.
    public var description: String { file.map { "\($0): \(message)" } ?? message }
}

/// Element types of safetensors and `.npy` files.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .f64, .i64: 8
        case .f16, .bf16: 2
        }
    }
}

/// A named array as stored in a file: a row-major shape and its values converted to Float32.
public struct TensorData: Equatable, Sendable {
    /// The size of each axis; `[]` for a scalar.
    public var shape: [Int]
    /// The values, `shape.product` of them.
    public var scalars: [Float]
    /// The type the values were stored as.
    public var dtype: DType

    /// Creates tensor data; `scalars.count` must equal the product of `shape`.
    public init(shape: [Int], scalars: [Float], dtype: DType = .f32) {
        precondition(shape.reduce(1, *) == scalars.count, "TensorData: shape \(shape) needs \(shape.reduce(1, *)) values, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
        self.dtype = dtype
    }
}

extension TensorData {
    /// Decodes `count` little-endian elements of `dtype` starting at `raw[offset]` into Float32.
    static func decode(_ raw: UnsafeRawBufferPointer, offset: Int, count: Int, dtype: DType) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let base = raw.baseAddress! + offset
        switch dtype {
        case .f32: for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f64: for i in 0..<count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .i64: for i in 0..<count { out[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32: for i in 0..<count { out[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .bf16: for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .f16: for i in 0..<count { out[i] = halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        }
        return out
    }
}

/// IEEE 754 binary16 to binary32, by bits (normals, subnormals, infinities, NaN).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F), mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }  // inf / NaN
    if exponent == 0 {  // zero or subnormal: mantissa · 2⁻²⁴
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}
