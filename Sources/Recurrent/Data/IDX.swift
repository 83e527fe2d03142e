import Foundation

/// The element types of the IDX format; the raw value is the type byte of the header.
public enum IDXDataType: UInt8, Sendable, CaseIterable {
    /// Unsigned byte (MNIST's images and labels).
    case uint8 = 0x08
    /// Signed byte.
    case int8 = 0x09
    /// Big-endian signed 16-bit integer.
    case int16 = 0x0B
    /// Big-endian signed 32-bit integer.
    case int32 = 0x0C
    /// Big-endian IEEE 754 binary32.
    case float32 = 0x0D
    /// Big-endian IEEE 754 binary64.
    case float64 = 0x0E

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16: 2
        case .int32, .float32: 4
        case .float64: 8
        }
    }

    /// The name used in messages: `ubyte`, `byte`, `short`, `int`, `float`, `double`, as in the
    /// format's description on the MNIST page.
    public var name: String {
        switch self {
        case .uint8: "ubyte"
        case .int8: "byte"
        case .int16: "short"
        case .int32: "int"
        case .float32: "float"
        case .float64: "double"
        }
    }
}

/// An array read from an IDX file: its shape, element type and the elements' bytes as stored.
///
/// The bytes are kept as they are (one byte per pixel for MNIST's 47 MB of training images) and
/// converted on request with ``floats(dividedBy:)`` or ``integers``.
public struct IDXArray: Sendable, Equatable {
    /// The size of each axis, first axis first (MNIST's training images: `[60000, 28, 28]`).
    public let shape: [Int]
    /// The element type.
    public let dataType: IDXDataType
    /// The elements in row-major order as the file stores them: big-endian for multi-byte types.
    /// For ``IDXDataType/uint8`` these are the values themselves.
    public let bytes: [UInt8]

    /// Creates an array. `bytes.count` must be the product of `shape` times the element size (a
    /// precondition).
    public init(shape: [Int], dataType: IDXDataType, bytes: [UInt8]) {
        precondition(elementCount(shape).map { $0.multipliedReportingOverflow(by: dataType.size) }.map { !$0.overflow && $0.partialValue == bytes.count } == true,
                     "IDXArray: shape \(shape) of \(dataType.name) does not match \(bytes.count) bytes")
        self.shape = shape
        self.dataType = dataType
        self.bytes = bytes
    }

    /// The number of elements, the product of ``shape``.
    public var count: Int { bytes.count / dataType.size }

    /// The elements converted to Float32 and divided by `divisor`, in row-major order.
    ///
    /// `floats(dividedBy: 255)` on MNIST's images gives what torchvision's `ToTensor()` gives:
    /// `pixel.float() / 255`, rounded once.
    public func floats(dividedBy divisor: Float = 1) -> [Float] {
        bytes.withUnsafeBytes { raw in
            func map<T: FixedWidthInteger>(_: T.Type, _ convert: (T) -> Float) -> [Float] {
                (0..<count).map { convert(T(bigEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))) / divisor }
            }
            switch dataType {
            case .uint8: return bytes.map { Float($0) / divisor }
            case .int8: return map(Int8.self) { Float($0) }
            case .int16: return map(Int16.self) { Float($0) }
            case .int32: return map(Int32.self) { Float($0) }
            case .float32: return map(UInt32.self) { Float(bitPattern: $0) }
            case .float64: return map(UInt64.self) { Float(Double(bitPattern: $0)) }
            }
        }
    }

    /// The elements as integers, in row-major order; nil for ``IDXDataType/float32`` and
    /// ``IDXDataType/float64`` arrays.
    public var integers: [Int]? {
        bytes.withUnsafeBytes { raw in
            func map<T: FixedWidthInteger>(_: T.Type) -> [Int] {
                (0..<count).map { Int(T(bigEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))) }
            }
            switch dataType {
            case .uint8: return bytes.map { Int($0) }
            case .int8: return map(Int8.self)
            case .int16: return map(Int16.self)
            case .int32: return map(Int32.self)
            case .float32, .float64: return nil
            }
        }
    }
}

/// The IDX format of the MNIST files (`train-images-idx3-ubyte` and the like).
///
/// A file is two zero bytes, a type byte (``IDXDataType``), a rank byte, the rank's sizes as
/// big-endian 32-bit integers, then the elements in row-major order, big-endian. Reading accepts
/// the file gzip-compressed too (found by its first bytes, not by the name), as distributed.
/// Ranks 1 to 8 are accepted, and the data must be exactly as long as the shape says.
public enum IDX {
    /// The largest rank accepted: MNIST's files have rank 1 (labels) or 3 (images).
    public static let maxRank = 8

    /// Reads and validates the IDX file at `url`, plain or gzip-compressed.
    /// - Throws: ``FileFormatError`` naming the file and the problem.
    public static func read(from url: URL) throws -> IDXArray {
        try decodeFile(at: url) { try decode($0) }
    }

    /// Decodes and validates the bytes of an IDX file, plain or gzip-compressed.
    /// - Throws: ``FileFormatError`` without a file name.
    public static func decode(_ data: Data) throws -> IDXArray {
        if Gzip.isGzip(data) { return try decodePlain(try Gzip.decompress(data)) }
        return try decodePlain(data)
    }

    private static func decodePlain(_ data: Data) throws -> IDXArray {
        try data.withUnsafeBytes { raw in
            guard raw.count >= 4 else { throw FileFormatError("truncated: the file is \(raw.count) bytes, shorter than the 4-byte IDX header") }
            guard raw[0] == 0, raw[1] == 0 else {
                throw FileFormatError("not an IDX file: it must start with two zero bytes, not \(hexBytes(raw.prefix(2)))")
            }
            guard let type = IDXDataType(rawValue: raw[2]) else {
                throw FileFormatError("unknown IDX element type \(hexBytes(raw[2...2])) (known: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double)")
            }
            let rank = Int(raw[3])
            guard (1...maxRank).contains(rank) else {
                throw FileFormatError("IDX rank \(rank) is not supported (1 to \(maxRank) dimensions)")
            }
            let dataStart = 4 + 4 * rank
            guard raw.count >= dataStart else {
                throw FileFormatError("truncated: the file is \(raw.count) bytes, shorter than the header of \(rank) dimensions (\(dataStart) bytes)")
            }
            let shape = (0..<rank).map { Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * $0, as: UInt32.self))) }
            guard let count = elementCount(shape), case (let needed, false) = count.multipliedReportingOverflow(by: type.size) else {
                throw FileFormatError("shape \(shape) is too large")
            }
            let available = raw.count - dataStart
            guard available == needed else {
                throw FileFormatError("the data holds \(available) bytes but shape \(shape) of \(type.name) needs \(needed)"
                    + (available < needed ? " (truncated file?)" : " (\(available - needed) bytes of trailing data)"))
            }
            return IDXArray(shape: shape, dataType: type, bytes: Array(raw[dataStart...]))
        }
    }

    /// The bytes of an IDX file holding `array` (not compressed).
    ///
    /// The shape must have 1 to ``maxRank`` dimensions, each below 2³² (a precondition).
    public static func encode(_ array: IDXArray) -> Data {
        precondition((1...maxRank).contains(array.shape.count) && array.shape.allSatisfy { $0 <= Int(UInt32.max) },
                     "IDX.encode: shape \(array.shape) cannot be stored (1 to \(maxRank) dimensions below 2^32)")
        var out = Data([0, 0, array.dataType.rawValue, UInt8(array.shape.count)])
        out.reserveCapacity(4 + 4 * array.shape.count + array.bytes.count)
        for d in array.shape { withUnsafeBytes(of: UInt32(d).bigEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: array.bytes)
        return out
    }

    private static func hexBytes(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { "0x" + (($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true)) }.joined(separator: " ")
    }
}
