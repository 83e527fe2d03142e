import Foundation
import Testing
@testable import Recurrent

/// `arange(n) * 0.25 - 1`, the values `Tools/make_io_fixtures.py` writes.
private func quarters(_ n: Int) -> [Float] { (0..<n).map { Float($0) * 0.25 - 1 } }

private func fixture(_ name: String) -> URL { Fixtures.root.appendingPathComponent("io/\(name)") }

/// A safetensors file's bytes from a header string and `dataBytes` zero bytes of data.
private func rawFile(_ header: String, dataBytes: Int, headerLength: UInt64? = nil) -> Data {
    var d = Data()
    withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { d.append(contentsOf: $0) }
    d.append(contentsOf: Array(header.utf8))
    d.append(contentsOf: Array(repeating: 0, count: dataBytes))
    return d
}

@Suite struct SafeTensorsTests {
    @Test(arguments: ["f32_meta", "no_meta", "one_meta", "f16", "bf16", "f64", "i64", "ints", "f8", "mixed", "escapes"])
    func readsFilesWrittenBySafetensors(_ name: String) throws {
        let f = try SafeTensorsFile.read(from: fixture(name + ".safetensors"))
        switch name {
        case "f32_meta":
            #expect(f.metadata == ["kind": "lstm", "note": "written by safetensors"])
            #expect(f.tensors == ["a": TensorData(shape: [2, 3], scalars: quarters(6)), "b": TensorData(shape: [4], scalars: quarters(4)),
                                  "scalar": TensorData(shape: [], scalars: quarters(1))])
        case "no_meta":
            #expect(f.metadata.isEmpty)
            #expect(f.tensors == ["weight": TensorData(shape: [3, 2], scalars: quarters(6)), "bias": TensorData(shape: [3], scalars: quarters(3)),
                                  "Z": TensorData(shape: [], scalars: quarters(1)), "empty": TensorData(shape: [0, 2], scalars: [])])
        case "one_meta":
            #expect(f.metadata == ["format": "pt"])
            #expect(f.tensors == ["w": TensorData(shape: [2, 2], scalars: quarters(4))])
        case "f16", "bf16", "f64":
            let dtype = DType(rawValue: name.uppercased())!
            #expect(f.tensors["x"] == TensorData(shape: [2, 5], scalars: quarters(10), dtype: dtype))
            #expect(f.tensors["empty"] == TensorData(shape: [0, 3], scalars: [], dtype: dtype))
            if let special = f.tensors["special"] {
                let tiny: Float = dtype == .f16 ? 0x1p-24 : 0x1p-133  // smallest subnormal
                let largest: Float = dtype == .f16 ? 65504 : Float(bitPattern: 0x7F7F_0000)
                let s = special.scalars
                #expect(s[0] == .infinity && s[1] == -.infinity && s[2].isNaN)
                #expect(s[3] == 0 && s[3].sign == .minus)
                #expect(Array(s[4...]) == [tiny, -3 * tiny, largest, -2.5])
            }
        case "i64":
            #expect(f.tensors["x"] == TensorData(shape: [2, 5], scalars: (0..<10).map { Float($0 - 3) }, dtype: .i64))
        case "ints":
            #expect(f.tensors["i32"] == TensorData(shape: [5], scalars: [-2147483648, -1, 0, 7, 2147483648], dtype: .i32))  // 2³¹-1 rounds
            #expect(f.tensors["i16"] == TensorData(shape: [4], scalars: [-32768, -1, 0, 32767], dtype: .i16))
            #expect(f.tensors["i8"] == TensorData(shape: [4], scalars: [-128, -1, 0, 127], dtype: .i8))
            #expect(f.tensors["u8"] == TensorData(shape: [4], scalars: [0, 1, 200, 255], dtype: .u8))
            #expect(f.tensors["bool"] == TensorData(shape: [3], scalars: [1, 0, 1], dtype: .bool))
        case "f8":
            #expect(f.tensors["e4m3"] == TensorData(shape: [10], scalars: quarters(10), dtype: .f8e4m3))
            #expect(f.tensors["e5m2"] == TensorData(shape: [10], scalars: quarters(10), dtype: .f8e5m2))
        case "mixed":
            #expect(f.tensors == ["d": TensorData(shape: [3], scalars: quarters(3), dtype: .f64), "f": TensorData(shape: [2, 2], scalars: quarters(4)),
                                  "h": TensorData(shape: [5], scalars: quarters(5), dtype: .f16), "q": TensorData(shape: [3], scalars: [0, 1, 2], dtype: .i64),
                                  "z": TensorData(shape: [0], scalars: [])])
        default:  // escapes
            #expect(f.metadata == ["note": "tab\there, \"quoted\", back\\slash, newline\n, ünïcödé €"])
            #expect(f.tensors == [#"layer/0."q""#: TensorData(shape: [2], scalars: quarters(2)), "ünï\\x": TensorData(shape: [1], scalars: quarters(1))])
        }
    }

    /// For F32 tensors and at most one metadata key, the writer reproduces `safetensors.torch.save_file`.
    @Test(arguments: ["no_meta", "one_meta", "escapes"])
    func writesTheSameBytesAsSafetensors(_ name: String) throws {
        let original = try Data(contentsOf: fixture(name + ".safetensors"))
        #expect(try SafeTensorsFile(decoding: original).encoded() == original)
    }

    /// Every one of the 65 536 half-precision bit patterns, against Swift's own `Float16` where it exists.
    @Test func halfPrecisionDecodesEveryBitPattern() {
        #expect(halfToFloat(0x0001) == 0x1p-24)  // smallest subnormal
        #expect(halfToFloat(0x03FF) == 1023 * 0x1p-24)  // largest subnormal
        #expect(halfToFloat(0x7BFF) == 65504)
        #expect(halfToFloat(0x7C00) == .infinity && halfToFloat(0xFC00) == -.infinity)
        #expect(halfToFloat(0x8000).bitPattern == (-Float.zero).bitPattern)
        #expect(halfToFloat(0x7D01).bitPattern == 0x7FA0_2000, "a signalling NaN keeps its payload, as in PyTorch")
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        var mismatches = 0
        for h in UInt16.min...UInt16.max {
            let mine = halfToFloat(h), swift = Float(Float16(bitPattern: h))
            // Swift's conversion may quiet a signalling NaN; the payload is kept bit for bit here.
            let expected = swift.isNaN ? UInt32(h & 0x8000) << 16 | 0x7F80_0000 | UInt32(h & 0x3FF) << 13 : swift.bitPattern
            if mine.bitPattern != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #endif
    }

    @Test(arguments: [(UInt8(0x38), Float(1)), (0x7E, 448), (0xFE, -448), (0x01, 0x1p-9), (0x07, 7 * 0x1p-9), (0x80, -0.0), (0x7F, .nan)])
    func float8E4M3Decodes(_ bits: UInt8, _ expected: Float) {
        let x = float8E4M3ToFloat(bits)
        #expect(expected.isNaN ? x.isNaN : x.bitPattern == expected.bitPattern)
    }

    enum RoundTrip: String, CaseIterable {
        case specials, scalar, zeroSizedAxis, metadata, noTensors, unicodeNames, manyTensors
        var file: SafeTensorsFile {
            switch self {
            case .specials:
                let nan = Float(bitPattern: 0x7FC1_2345), signalling = Float(bitPattern: 0xFF80_0001)
                return SafeTensorsFile(tensors: ["s": TensorData(shape: [2, 5], scalars: [nan, signalling, .infinity, -.infinity, -0.0, 0,
                                                                                         .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1, -3.5])])
            case .scalar: return SafeTensorsFile(tensors: ["x": TensorData(shape: [], scalars: [7.25])])
            case .zeroSizedAxis: return SafeTensorsFile(tensors: ["e": TensorData(shape: [3, 0, 2], scalars: []), "f": TensorData(shape: [1], scalars: [2])])
            case .metadata: return SafeTensorsFile(tensors: ["w": TensorData(shape: [2], scalars: [1, 2])],
                                                   metadata: ["format": "recurrent", "é": "ü\"\n\u{1}", "empty": ""])
            case .noTensors: return SafeTensorsFile(metadata: ["only": "metadata"])
            case .unicodeNames: return SafeTensorsFile(tensors: ["ωeight/0": TensorData(shape: [1], scalars: [1]), "\\\"": TensorData(shape: [1], scalars: [2])])
            case .manyTensors:
                return SafeTensorsFile(tensors: Dictionary(uniqueKeysWithValues: (0..<50).map { i in
                    ("t\(i)", TensorData(shape: [i % 4, 3], scalars: (0..<(i % 4 * 3)).map { Float(i * 100 + $0) }))
                }))
            }
        }
    }

    @Test(arguments: RoundTrip.allCases)
    func roundTripIsBitExact(_ c: RoundTrip) throws {
        let file = c.file
        let bytes = try file.encoded()
        let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(headerLength % 8 == 0, "header padded to a multiple of 8 bytes")
        let decoded = try SafeTensorsFile(decoding: bytes)
        #expect(decoded.metadata == file.metadata)
        #expect(decoded.tensors.keys.sorted() == file.tensors.keys.sorted())
        for (name, t) in file.tensors {
            #expect(decoded.tensors[name]?.shape == t.shape)
            #expect(decoded.tensors[name]?.dtype == .f32)
            #expect(decoded.tensors[name]?.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(name)")
        }
        #expect(try decoded.encoded() == bytes, "re-encoding reproduces the bytes")
        // A slice that does not start at index 0 decodes the same.
        let sliced = (Data([1, 2, 3]) + bytes).dropFirst(3)
        #expect(try SafeTensorsFile(decoding: sliced).encoded() == bytes)
    }

    @Test func encodingRejectsInconsistentTensors() {
        var t = TensorData(shape: [2], scalars: [1, 2])
        t.shape = [3]
        #expect(throws: FileFormatError("tensor 'x' has 2 values, which do not fill its shape [3]")) {
            _ = try SafeTensorsFile(tensors: ["x": t]).encoded()
        }
        #expect(throws: FileFormatError.self) {
            _ = try SafeTensorsFile(tensors: ["__metadata__": TensorData(shape: [1], scalars: [1])]).encoded()
        }
    }

    enum Malformed: String, CaseIterable {
        case empty, shorterThanLength, headerCutShort, lengthBeyondFile, hugeLength, notUTF8, notJSON, trailingGarbage
        case notObject, deeplyNested, entryNotObject, missingDtype, missingShape, unknownDtype, dtypeNotString
        case negativeDimension, fractionalDimension, hugeDimension, threeOffsets, beginAfterEnd, offsetsOutside
        case overlapping, gap, trailingBytes, sizeMismatch, sizeOverflow, duplicateName, badMetadata, loneSurrogate, badEscape, nameWithNewline

        static let t = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        static func one(_ dtype: String = "\"F32\"", shape: String = "[2]", offsets: String = "[0,8]") -> String {
            #"{"a":{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}}"#
        }

        /// The bytes, and a fragment the one-line message must contain.
        var input: (Data, String) {
            switch self {
            case .empty: (Data(), "the file is 0 bytes, shorter than the 8-byte header length")
            case .shorterThanLength: (Data([1, 2, 3]), "the file is 3 bytes, shorter than the 8-byte header length")
            case .headerCutShort: (rawFile(Self.t, dataBytes: 8).prefix(20), "header length 54 is larger than the 12 bytes after it")
            case .lengthBeyondFile: (rawFile(Self.t, dataBytes: 8, headerLength: 500), "header length 500 is larger than the 62 bytes after it")
            case .hugeLength: (rawFile(Self.t, dataBytes: 8, headerLength: UInt64.max), "header length 18446744073709551615 exceeds the limit")
            case .notUTF8: (rawFile("{\"\u{FF}\":1}", dataBytes: 0).replacingOccurrences(of: [0xC3, 0xBF], with: [0xFF, 0x20]), "header is not valid UTF-8")
            case .notJSON: (rawFile("{not json", dataBytes: 0), "header is not valid JSON: expected a string key but found 'n' at byte 1")
            case .trailingGarbage: (rawFile(Self.t + "\0", dataBytes: 8), "unexpected byte 0x0 after the JSON value at byte 54")
            case .notObject: (rawFile("[1, 2]", dataBytes: 0), "header is not a JSON object")
            case .deeplyNested: (rawFile(String(repeating: "[", count: 100_000), dataBytes: 0), "nested more than 32 levels deep")
            case .entryNotObject: (rawFile(#"{"a":[1]}"#, dataBytes: 0), "tensor 'a': entry must be an object, got [1]")
            case .missingDtype: (rawFile(#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8), "tensor 'a' has no dtype")
            case .missingShape: (rawFile(#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, dataBytes: 8), "tensor 'a' has no shape")
            case .unknownDtype: (rawFile(Self.one("\"Q7\""), dataBytes: 8), "tensor 'a' has unsupported dtype 'Q7'")
            case .dtypeNotString: (rawFile(Self.one("7"), dataBytes: 8), "tensor 'a': dtype must be a string, got 7")
            case .negativeDimension: (rawFile(Self.one(shape: "[-2]"), dataBytes: 8), "shape must be a list of non-negative integers, got [-2]")
            case .fractionalDimension: (rawFile(Self.one(shape: "[2.0]"), dataBytes: 8), "shape must be a list of non-negative integers, got [2.0]")
            case .hugeDimension: (rawFile(Self.one(shape: "[18446744073709551617]"), dataBytes: 8), "got [18446744073709551617]")
            case .threeOffsets: (rawFile(Self.one(offsets: "[0,8,9]"), dataBytes: 8), "data_offsets must be two non-negative integers [begin, end], got [0, 8, 9]")
            case .beginAfterEnd: (rawFile(Self.one(offsets: "[8,0]"), dataBytes: 8), "tensor 'a' has data_offsets [8, 0]: begin is after end")
            case .offsetsOutside: (rawFile(Self.one(shape: "[4]", offsets: "[0,16]"), dataBytes: 8),
                                   "tensor 'a' has data_offsets [0, 16] beyond the end of the 8-byte data buffer")
            case .overlapping: (rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12),
                                "tensor 'b' has data_offsets [4, 12], overlapping tensor 'a' which ends at 8")
            case .gap: (rawFile(Self.one(offsets: "[4,12]"), dataBytes: 12), "leaving a gap: data bytes [0, 4) belong to no tensor")
            case .trailingBytes: (rawFile(Self.t, dataBytes: 12), "the data buffer has 4 bytes after the last tensor (which ends at 8)")
            case .sizeMismatch: (rawFile(Self.one(shape: "[4,3]", offsets: "[0,40]"), dataBytes: 40),
                                 "tensor 'a' has data_offsets [0, 40] (40 bytes) but shape [4, 3] of F32 needs 48 bytes")
            case .sizeOverflow: (rawFile(Self.one(shape: "[4294967296,4294967296]", offsets: "[0,0]"), dataBytes: 0), "shape [4294967296, 4294967296] of F32 is too large")
            case .duplicateName: (rawFile(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#, dataBytes: 0),
                                  "header names 'a' twice")
            case .badMetadata: (rawFile(#"{"__metadata__":{"a":1}}"#, dataBytes: 0), "__metadata__ 'a' must be a string, got 1")
            case .loneSurrogate: (rawFile(#"{"\ud800":1}"#, dataBytes: 0), "lone surrogate")
            case .badEscape: (rawFile(#"{"\u+123":1}"#, dataBytes: 0), "expected four hex digits after \\u at byte 4")
            case .nameWithNewline: (rawFile(#"{"a\nb":{"dtype":"Q7","shape":[],"data_offsets":[0,0]}}"#, dataBytes: 0), #"tensor 'a\u{A}b' has unsupported dtype"#)
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedFilesThrowOneLineErrors(_ c: Malformed) {
        let (data, fragment) = c.input
        do {
            _ = try SafeTensorsFile(decoding: data)
            Issue.record("\(c) decoded without an error")
        } catch let error as FileFormatError {
            #expect(error.file == nil)
            #expect(error.description.contains(fragment), "\(error)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(c): not a FileFormatError: \(error)")
        }
    }

    @Test func readErrorsNameTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try rawFile(Malformed.t, dataBytes: 4).write(to: dir.file("m.safetensors"))
        #expect(throws: FileFormatError(file: dir.path("m.safetensors"),
                                        "tensor 'a' has data_offsets [0, 8] beyond the end of the 4-byte data buffer (truncated file?)")) {
            _ = try SafeTensorsFile.read(from: dir.file("m.safetensors"))
        }
        #expect(throws: FileFormatError(file: dir.path("none.safetensors"), "cannot read: No such file or directory")) {
            _ = try SafeTensorsFile.read(from: dir.file("none.safetensors"))
        }
    }

    @Test func writeReplacesAtomicallyAndKeepsTheOldFileOnFailure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("m.safetensors")
        try SafeTensorsFile(tensors: ["a": TensorData(shape: [1], scalars: [1])]).write(to: url)
        let second = SafeTensorsFile(tensors: ["b": TensorData(shape: [2], scalars: [2, 3])], metadata: ["k": "v"])
        try second.write(to: url)
        #expect(try SafeTensorsFile.read(from: url).tensors == second.tensors)
        // Encoding fails: the previous file is untouched and nothing else is left behind.
        var broken = TensorData(shape: [1], scalars: [9])
        broken.scalars = [9, 9]
        #expect(throws: FileFormatError.self) { try SafeTensorsFile(tensors: ["c": broken]).write(to: url) }
        #expect(try Data(contentsOf: url) == second.encoded())
        // Writing into a missing folder fails with the file's name.
        #expect { try second.write(to: dir.file("missing/m.safetensors")) } throws: { error in
            "\(error)".contains("missing/m.safetensors: cannot create a temporary file")
        }
        #expect(dir.contents == ["m.safetensors"], "no temporary file is left behind")
    }
}

private extension Data {
    func replacingOccurrences(of pattern: [UInt8], with replacement: [UInt8]) -> Data {
        var d = self
        if let r = d.range(of: Data(pattern)) { d.replaceSubrange(r, with: replacement) }
        return d
    }
}
