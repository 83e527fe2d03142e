import Foundation
import Testing
@testable import Recurrent

/// `data` in a gzip member of stored blocks (no compression needed to test the detection).
func storedGzip(_ data: Data) -> Data {
    var w = DeflateWriter()
    let bytes = Array(data)
    var chunks = stride(from: 0, to: bytes.count, by: 65535).map { Array(bytes[$0..<min($0 + 65535, bytes.count)]) }
    if chunks.isEmpty { chunks = [[]] }
    for (i, chunk) in chunks.enumerated() { w.storedBlock(chunk, final: i == chunks.count - 1) }
    return gzipMember(w.finished, content: bytes)
}

/// The header of an IDX file: magic, type, rank, big-endian dimensions.
private func idxHeader(_ type: UInt8, _ dims: [UInt32]) -> Data {
    var d = Data([0, 0, type, UInt8(dims.count)])
    for x in dims { withUnsafeBytes(of: x.bigEndian) { d.append(contentsOf: $0) } }
    return d
}

@Suite struct IDXTests {
    /// Each element type, with its extremes, written big-endian by hand and read back.
    @Test(arguments: IDXDataType.allCases)
    func readsEveryElementType(_ type: IDXDataType) throws {
        let values: [Double] = switch type {
        case .uint8: [0, 1, 128, 255, 7, 9]
        case .int8: [-128, -1, 0, 1, 127, 5]
        case .int16: [-32768, -1, 0, 1234, 32767, 5]
        case .int32: [-2_147_483_648, -1, 0, 123_456, 2_147_483_647, 5]
        case .float32: [-1.5, 0.25, 0, 3e38, -0.0, 1e-30]
        case .float64: [-1.5, 0.25, 0, 1e300, -0.0, 1e-30]
        }
        var data = idxHeader(type.rawValue, [2, 3])
        for v in values {
            switch type {
            case .uint8: data.append(UInt8(v))
            case .int8: data.append(UInt8(bitPattern: Int8(v)))
            case .int16: withUnsafeBytes(of: Int16(v).bigEndian) { data.append(contentsOf: $0) }
            case .int32: withUnsafeBytes(of: Int32(v).bigEndian) { data.append(contentsOf: $0) }
            case .float32: withUnsafeBytes(of: Float(v).bitPattern.bigEndian) { data.append(contentsOf: $0) }
            case .float64: withUnsafeBytes(of: v.bitPattern.bigEndian) { data.append(contentsOf: $0) }
            }
        }
        let array = try IDX.decode(data)
        #expect(array.shape == [2, 3] && array.dataType == type && array.count == 6)
        #expect(array.floats().map(\.bitPattern) == values.map { Float($0).bitPattern })
        #expect(array.floats(dividedBy: 4) == values.map { Float($0) / 4 })
        let integral = type != .float32 && type != .float64
        #expect(array.integers == (integral ? values.map { Int($0) } : nil))
        #expect(IDX.encode(array) == data, "encode writes the same bytes")
        #expect(try IDX.decode(storedGzip(data)) == array, "gzip-compressed")
    }

    /// MNIST's pixels as torchvision's ToTensor scales them: `pixel.float() / 255`, one rounding.
    @Test func unsignedBytesDividedBy255AreExact() throws {
        let array = IDXArray(shape: [256], dataType: .uint8, bytes: (0...255).map { UInt8($0) })
        #expect(array.floats(dividedBy: 255) == (0...255).map { Float($0) / 255 })
        #expect(try IDX.decode(IDX.encode(array)) == array)
    }

    /// Files are recognized as gzip by their first bytes, whatever their names say.
    @Test func readsFilesByContentNotName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let array = IDXArray(shape: [2, 1, 2], dataType: .uint8, bytes: [1, 2, 3, 4])
        try storedGzip(IDX.encode(array)).write(to: dir.file("compressed-idx3-ubyte"))
        try IDX.encode(array).write(to: dir.file("plain-idx3-ubyte.gz"))
        #expect(try IDX.read(from: dir.file("compressed-idx3-ubyte")) == array)
        #expect(try IDX.read(from: dir.file("plain-idx3-ubyte.gz")) == array)
        var corrupt = storedGzip(IDX.encode(array))
        corrupt[corrupt.count - 5] ^= 1  // the CRC-32
        try corrupt.write(to: dir.file("corrupt.gz"))
        #expect { _ = try IDX.read(from: dir.file("corrupt.gz")) } throws: { error in
            "\(error)".hasPrefix(dir.path("corrupt.gz") + ": gzip member 1: CRC-32 mismatch")
        }
        #expect(throws: FileFormatError(file: dir.path("missing"), "cannot read: No such file or directory")) {
            _ = try IDX.read(from: dir.file("missing"))
        }
    }

    enum Malformed: String, CaseIterable {
        case empty, short, badMagic, unknownType, rank0, rank9, truncatedDimensions, overflowingShape
        case dataTooShort, dataTooLong, notGzipAfterAll

        var input: (Data, String) {
            switch self {
            case .empty: (Data(), "truncated: the file is 0 bytes, shorter than the 4-byte IDX header")
            case .short: (Data([0, 0, 8]), "truncated: the file is 3 bytes, shorter than the 4-byte IDX header")
            case .badMagic: (Data([0x50, 0x4B, 8, 1, 0, 0, 0, 0]), "not an IDX file: it must start with two zero bytes, not 0x50 0x4B")
            case .unknownType: (idxHeader(0x0A, [1]) + Data([0]), "unknown IDX element type 0x0A (known: 0x08 ubyte")
            case .rank0: (idxHeader(0x08, []), "IDX rank 0 is not supported (1 to 8 dimensions)")
            case .rank9: (idxHeader(0x08, Array(repeating: 1, count: 9)) + Data([0]), "IDX rank 9 is not supported")
            case .truncatedDimensions: (idxHeader(0x08, [3, 28, 28]).prefix(10), "truncated: the file is 10 bytes, shorter than the header of 3 dimensions (16 bytes)")
            case .overflowingShape: (idxHeader(0x0E, Array(repeating: UInt32.max, count: 3)), "shape [4294967295, 4294967295, 4294967295] is too large")
            case .dataTooShort: (idxHeader(0x0C, [2, 2]) + Data(count: 15), "the data holds 15 bytes but shape [2, 2] of int needs 16 (truncated file?)")
            case .dataTooLong: (idxHeader(0x08, [3]) + Data(count: 5), "the data holds 5 bytes but shape [3] of ubyte needs 3 (2 bytes of trailing data)")
            case .notGzipAfterAll: (Data([0x1F, 0x8B, 8, 0, 0]), "truncated: the data ends inside the header of gzip member 1")
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedFilesThrowOneLineErrorsNamingTheFile(_ c: Malformed) throws {
        let (data, fragment) = c.input
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("bad-idx1-ubyte")
        try data.write(to: url)
        do {
            let array = try IDX.read(from: url)
            Issue.record("\(c) read as \(array.shape)")
        } catch let error as FileFormatError {
            #expect(error.file == url.path)
            #expect(error.message.contains(fragment), "\(error)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(c): not a FileFormatError: \(error)")
        }
    }
}
