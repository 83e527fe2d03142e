import Foundation
import Testing
@testable import Recurrent

/// safetensors and .npy: files written by the real Python libraries, round trips, malformed files.
@Suite struct FileFormatTests {
    /// `arange(n) * 0.25 - 1`, the values `Tools/make_io_fixtures.py` writes.
    func expected(_ n: Int) -> [Float] { (0..<n).map { Float($0) * 0.25 - 1 } }

    @Test(arguments: ["f32_meta", "no_meta", "f16", "bf16", "f64", "i64"])
    func readsFilesWrittenBySafetensors(_ name: String) throws {
        let f = try Fixtures.load("io/" + name)
        switch name {
        case "f32_meta":
            #expect(f.metadata == ["kind": "lstm", "note": "written by safetensors"])
            #expect(f.tensors["a"] == TensorData(shape: [2, 3], scalars: expected(6)))
            #expect(f.tensors["b"] == TensorData(shape: [4], scalars: expected(4)))
            #expect(f.tensors["scalar"] == TensorData(shape: [], scalars: expected(1)))
        case "no_meta":
            #expect(f.metadata.isEmpty)
            #expect(f.tensors["weight"] == TensorData(shape: [3, 2], scalars: expected(6)))
        case "i64":
            #expect(f.tensors["x"] == TensorData(shape: [2, 5], scalars: (0..<10).map { Float($0 - 3) }, dtype: .i64))
        default:
            let dtype = DType(rawValue: name.uppercased())!
            #expect(f.tensors["x"] == TensorData(shape: [2, 5], scalars: expected(10), dtype: dtype))
            #expect(f.tensors["empty"] == TensorData(shape: [0, 3], scalars: [], dtype: dtype))
        }
    }

    @Test func halfPrecisionSpecialValues() {
        #expect(halfToFloat(0x3C00) == 1)
        #expect(halfToFloat(0xC000) == -2)
        #expect(halfToFloat(0x0001) == 0x1p-24)           // smallest subnormal
        #expect(halfToFloat(0x7BFF) == 65504)              // largest normal
        #expect(halfToFloat(0x7C00) == .infinity)
        #expect(halfToFloat(0xFC00) == -.infinity)
        #expect(halfToFloat(0x7E00).isNaN)
        #expect(halfToFloat(0x8000).sign == .minus && halfToFloat(0x8000) == 0)
    }

    @Test func roundTripIsBitExact() throws {
        let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1, -3.5]
        let file = SafeTensorsFile(tensors: ["s": TensorData(shape: [2, 4], scalars: specials),
                                             "scalar": TensorData(shape: [], scalars: [7]),
                                             "empty": TensorData(shape: [3, 0], scalars: [])],
                                   metadata: ["format": "recurrent", "é": "ü"])
        let bytes = try file.encoded()
        let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(headerLength % 8 == 0, "header padded to 8 bytes")
        let decoded = try SafeTensorsFile(decoding: bytes)
        #expect(decoded.metadata == file.metadata)
        #expect(decoded.tensors["s"]!.scalars.map(\.bitPattern) == specials.map(\.bitPattern))
        #expect(decoded.tensors["scalar"] == file.tensors["scalar"])
        #expect(decoded.tensors["empty"]!.shape == [3, 0])
        #expect(try decoded.encoded() == bytes, "re-encoding reproduces the bytes")
        let npy = NPY.encode(TensorData(shape: [2, 4], scalars: specials))
        #expect((npy.count - 8 * 4) % 64 == 0, "data starts at a multiple of 64")
        #expect(try NPY.decode(npy).scalars.map(\.bitPattern) == specials.map(\.bitPattern))
        #expect(try NPY.decode(NPY.encode(TensorData(shape: [], scalars: [2]))).shape == [])
        #expect(try NPY.decode(NPY.encode(TensorData(shape: [5], scalars: expected(5)))).shape == [5])
    }

    /// Builds a safetensors file from a header string and a data size.
    func raw(_ header: String, dataBytes: Int, headerLength: UInt64? = nil) -> Data {
        var d = Data()
        withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: Array(repeating: 0, count: dataBytes))
        return d
    }

    enum Malformed: String, CaseIterable {
        case shorterThanLength, headerCutShort, lengthBeyondFile, hugeLength, notJSON, notObject, offsetsOutside, overlapping
        case gap, trailingBytes, sizeMismatch, unknownDtype, negativeDimension, missingOffsets, badMetadata
    }

    @Test(arguments: Malformed.allCases)
    func malformedSafetensorsThrow(_ c: Malformed) {
        let t = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (data, fragment): (Data, String) = switch c {
        case .shorterThanLength: (Data([1, 2, 3]), "shorter than the 8-byte header length")
        case .headerCutShort: (raw(t, dataBytes: 8).prefix(20), "larger than the")
        case .lengthBeyondFile: (raw(t, dataBytes: 8, headerLength: 500), "header length 500 is larger")
        case .hugeLength: (raw(t, dataBytes: 8, headerLength: 1 << 40), "exceeds the limit")
        case .notJSON: (raw("{not json", dataBytes: 0), "not a JSON object")
        case .notObject: (raw("[1, 2]", dataBytes: 0), "not a JSON object")
        case .offsetsOutside: (raw(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), "reach past the 8 data bytes")
        case .overlapping: (raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12), "overlap")
        case .gap: (raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12), "gap")
        case .trailingBytes: (raw(t, dataBytes: 12), "4 bytes after the last tensor")
        case .sizeMismatch: (raw(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8), "needs 12")
        case .unknownDtype: (raw(#"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8), "unsupported dtype 'Q7'")
        case .negativeDimension: (raw(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, dataBytes: 8), "non-negative integers")
        case .missingOffsets: (raw(#"{"a":{"dtype":"F32","shape":[2]}}"#, dataBytes: 8), "data_offsets must be two integers")
        case .badMetadata: (raw(#"{"__metadata__":{"a":1}}"#, dataBytes: 0), "__metadata__ must map strings to strings")
        }
        #expect {
            _ = try SafeTensorsFile(decoding: data)
        } throws: { error in
            let message = (error as? FileFormatError)?.description ?? ""
            return message.contains(fragment) && !message.contains("\n")
        }
    }

    @Test(arguments: ["1d", "scalar", "2d_f8", "v2", "fortran", "bigendian", "int32"])
    func readsFilesWrittenByNumpy(_ name: String) throws {
        let url = Fixtures.root.appendingPathComponent("io/\(name).npy")
        switch name {
        case "1d": #expect(try NPY.read(from: url) == TensorData(shape: [7], scalars: expected(7)))
        case "scalar": #expect(try NPY.read(from: url) == TensorData(shape: [], scalars: expected(1)))
        case "2d_f8": #expect(try NPY.read(from: url) == TensorData(shape: [3, 4], scalars: expected(12), dtype: .f64))
        case "v2": #expect(try NPY.read(from: url) == TensorData(shape: [2, 3, 2], scalars: expected(12)))
        default:
            let fragment = ["fortran": "Fortran-order", "bigendian": "big-endian dtype '>f4'", "int32": "unsupported dtype '<i4'"][name]!
            #expect { _ = try NPY.read(from: url) } throws: { error in
                let message = String(describing: error)
                return message.contains(fragment) && message.contains("\(name).npy")
            }
        }
    }

    /// Version 3.0 differs from 2.0 only in allowing UTF-8 in the header: numpy writes it only for
    /// unusual field names, so the test relabels numpy's own version 2.0 file.
    @Test func readsVersion3() throws {
        var bytes = try Data(contentsOf: Fixtures.root.appendingPathComponent("io/v2.npy"))
        #expect(bytes[bytes.startIndex + 6] == 2)
        bytes[bytes.startIndex + 6] = 3
        #expect(try NPY.decode(bytes) == TensorData(shape: [2, 3, 2], scalars: expected(12)))
        bytes[bytes.startIndex + 6] = 4
        #expect(throws: FileFormatError.self) { _ = try NPY.decode(bytes) }
    }

    @Test(arguments: ["badMagic", "truncatedHeader", "shortData"])
    func malformedNPYThrows(_ c: String) {
        let good = NPY.encode(TensorData(shape: [3], scalars: [1, 2, 3]))
        let data: Data = switch c {
        case "badMagic": Data("NOTNUMPY".utf8) + good.dropFirst(8)
        case "truncatedHeader": good.prefix(30)
        default: good.dropLast(4)
        }
        #expect(throws: FileFormatError.self) { _ = try NPY.decode(data) }
    }

    @Test func atomicWritesReplaceOrLeaveIntact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("a.npy")
        try NPY.write(TensorData(shape: [1], scalars: [1]), to: url)
        try NPY.write(TensorData(shape: [2], scalars: [2, 3]), to: url)
        #expect(try NPY.read(from: url).scalars == [2, 3])
        #expect(throws: FileFormatError.self) {
            try NPY.write(TensorData(shape: [1], scalars: [9]), to: dir.file("missing-folder/b.npy"))
        }
        #expect(dir.contents == ["a.npy"], "no temporary file is left behind")
        #expect(try NPY.read(from: url).scalars == [2, 3])
    }
}
