/// A file that cannot be read or written as asked.
///
/// Its ``description`` is one line: `"<file>: <problem>"`, or the problem alone for bytes that did not
/// come from a file, for example
/// `m.safetensors: tensor 'weight_ih_l0' has data_offsets [0, 40] (40 bytes) but shape [4, 3] of F32 needs 48 bytes`.
public struct FileFormatError: Error, CustomStringConvertible, Equatable {
    /// The file's path, or nil for in-memory data.
    public var file: String?
    /// What is wrong, one line without the file name.
    public var message: String

    /// Creates an error about `file` (nil for in-memory data).
    public init(file: String? = nil, _ message: String) {
        self.file = file
        self.message = message
    }

    /// `"<file>: <message>"`, or the message alone when there is no file; control characters and
    /// line breaks (say, in a tensor name) are shown as `\u{…}` escapes, so it is always one line.
    public var description: String { oneLine(file.map { "\($0): \(message)" } ?? message) }
}

/// `text` with control characters and line breaks shown as `\u{…}` escapes, so that a message
/// quoting a name from a file stays on one line.
func oneLine(_ text: String) -> String {
    var line = ""
    for u in text.unicodeScalars {
        switch u.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: line += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
        default: line.unicodeScalars.append(u)
        }
    }
    return line
}

/// `name` for a message: at most 100 characters, longer ones shortened with "...".
func shown(_ name: some StringProtocol) -> String {
    name.count <= 100 ? String(name) : name.prefix(97) + "..."
}

/// Element types found in safetensors and `.npy` files; the raw value is the safetensors name.
///
/// Reading converts every type to Float32 (rounding to nearest where Float32 cannot hold the value
/// exactly, as for large 64-bit integers); writing always stores ``f32``.
public enum DType: String, Sendable, CaseIterable {
    /// IEEE 754 binary32.
    case f32 = "F32"
    /// IEEE 754 binary64.
    case f64 = "F64"
    /// IEEE 754 binary16 (half precision).
    case f16 = "F16"
    /// bfloat16: the upper 16 bits of a binary32.
    case bf16 = "BF16"
    /// 8-bit float, 4 exponent and 3 mantissa bits, no infinities (PyTorch's `float8_e4m3fn`).
    case f8e4m3 = "F8_E4M3"
    /// 8-bit float, 5 exponent and 2 mantissa bits (PyTorch's `float8_e5m2`).
    case f8e5m2 = "F8_E5M2"
    /// Signed 64-bit integer.
    case i64 = "I64"
    /// Signed 32-bit integer.
    case i32 = "I32"
    /// Signed 16-bit integer.
    case i16 = "I16"
    /// Signed 8-bit integer.
    case i8 = "I8"
    /// Unsigned 64-bit integer.
    case u64 = "U64"
    /// Unsigned 32-bit integer.
    case u32 = "U32"
    /// Unsigned 16-bit integer.
    case u16 = "U16"
    /// Unsigned 8-bit integer.
    case u8 = "U8"
    /// One byte per element, read as 0 or 1.
    case bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 1
        }
    }

    /// Decodes `count` little-endian elements starting at `base` into Float32, with bulk loads.
    func decode(_ base: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            func map<T: FixedWidthInteger>(_: T.Type, _ convert: (T) -> Float) {
                for i in 0..<count {
                    out[i] = convert(T(littleEndian: base.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)))
                }
            }
            switch self {
            case .f32:
                #if _endian(little)
                if count > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: base, byteCount: 4 * count) }
                #else
                map(UInt32.self) { Float(bitPattern: $0) }
                #endif
            case .f64: map(UInt64.self) { Float(Double(bitPattern: $0)) }
            case .f16: map(UInt16.self, halfToFloat)
            case .bf16: map(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
            case .f8e4m3: map(UInt8.self, float8E4M3ToFloat)
            case .f8e5m2: map(UInt8.self) { halfToFloat(UInt16($0) << 8) }
            case .i64: map(Int64.self) { Float($0) }
            case .i32: map(Int32.self) { Float($0) }
            case .i16: map(Int16.self) { Float($0) }
            case .i8: map(Int8.self) { Float($0) }
            case .u64: map(UInt64.self) { Float($0) }
            case .u32: map(UInt32.self) { Float($0) }
            case .u16: map(UInt16.self) { Float($0) }
            case .u8: map(UInt8.self) { Float($0) }
            case .bool: map(UInt8.self) { $0 == 0 ? 0 : 1 }
            }
            initialized = count
        }
    }
}

/// A named array as stored in a file: a row-major shape and its values converted to Float32.
public struct TensorData: Equatable, Sendable {
    /// The size of each axis; `[]` for a scalar (one element).
    public var shape: [Int]
    /// The values in row-major order, as many as the product of `shape`.
    public var scalars: [Float]
    /// The type the values were stored as.
    public var dtype: DType

    /// Creates tensor data. `scalars.count` must equal the product of `shape` (a precondition).
    public init(shape: [Int], scalars: [Float], dtype: DType = .f32) {
        precondition(elementCount(shape) == scalars.count,
                     "TensorData: shape \(shape) needs \(elementCount(shape).map(String.init) ?? "too many") values, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
        self.dtype = dtype
    }
}

/// The product of `shape` (1 for `[]`), or nil when a dimension is negative or the product overflows.
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (p, overflow) = count.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        count = p
    }
    return count
}

/// IEEE 754 binary16 to binary32 by bits: normals, subnormals, infinities and NaN (payload kept).
/// Written out because Swift's `Float16` is unavailable on some platforms.
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F, mantissa = UInt32(h & 0x3FF)
    switch exponent {
    case 0x1F: return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)  // inf, NaN
    case 0:  // zero or subnormal: mantissa · 2⁻²⁴, exact in binary32
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    default: return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)  // rebias 15 → 127
    }
}

/// `float8_e4m3fn` to binary32: bias 7, no infinities, `S.1111.111` is NaN.
func float8E4M3ToFloat(_ b: UInt8) -> Float {
    let sign = UInt32(b & 0x80) << 24
    let exponent = UInt32(b >> 3) & 0xF, mantissa = UInt32(b & 0x7)
    if exponent == 0xF && mantissa == 0x7 { return Float(bitPattern: sign | 0x7FC0_0000) }
    if exponent == 0 {  // zero or subnormal: mantissa · 2⁻⁹
        let magnitude = Float(mantissa) * 0x1p-9
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | (exponent + 120) << 23 | mantissa << 20)  // rebias 7 → 127
}
