import Foundation
import Testing
@testable import Recurrent

/// `arange(n) * 0.25 - 1`, the values `Tools/make_io_fixtures.py` writes.
private func quarters(_ n: Int) -> [Float] { (0..<n).map { Float($0) * 0.25 - 1 } }

private func fixture(_ name: String) -> URL { Fixtures.root.appendingPathComponent("io/\(name)") }

/// An `.npy` file's bytes: magic, version, header length (2 bytes for 1.0, else 4), header, data.
private func npyFile(_ header: String, version: UInt8 = 1, data: [Float] = []) -> Data {
    var d = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
    let h = Array(header.utf8)
    if version == 1 {
        withUnsafeBytes(of: UInt16(h.count).littleEndian) { d.append(contentsOf: $0) }
    } else {
        withUnsafeBytes(of: UInt32(h.count).littleEndian) { d.append(contentsOf: $0) }
    }
    d.append(contentsOf: h)
    data.withUnsafeBytes { d.append(contentsOf: $0) }
    return d
}

@Suite struct NPYTests {
    @Test(arguments: ["1d", "2d", "scalar", "empty", "2d_f8", "f2", "v2", "v3", "int32"])
    func readsFilesWrittenByNumpy(_ name: String) throws {
        let expected: TensorData = switch name {
        case "1d": TensorData(shape: [7], scalars: quarters(7))
        case "2d": TensorData(shape: [2, 3], scalars: quarters(6))
        case "scalar": TensorData(shape: [], scalars: quarters(1))
        case "empty": TensorData(shape: [0, 3], scalars: [])
        case "2d_f8": TensorData(shape: [3, 4], scalars: quarters(12), dtype: .f64)
        case "int32": TensorData(shape: [4], scalars: [0, 1, 2, 3], dtype: .i32)
        case "f2": TensorData(shape: [5], scalars: quarters(5), dtype: .f16)
        default: TensorData(shape: [2, 3, 2], scalars: quarters(12))  // v2, v3
        }
        #expect(try NPY.read(from: fixture(name + ".npy")) == expected)
    }

    @Test(arguments: [("fortran", "Fortran-order (column-major) arrays are not supported"),
                      ("bigendian", "big-endian dtype '>f4' is not supported")])
    func refusesUnsupportedFilesWrittenByNumpy(_ name: String, _ fragment: String) {
        let url = fixture(name + ".npy")
        #expect { _ = try NPY.read(from: url) } throws: { error in
            let e = error as? FileFormatError
            return e?.file == url.path && e?.message.contains(fragment) == true && !"\(error)".contains("\n")
        }
    }

    /// The writer reproduces `numpy.save` for float32 arrays, byte for byte.
    @Test(arguments: ["1d", "2d", "scalar", "empty"])
    func writesTheSameBytesAsNumpy(_ name: String) throws {
        let original = try Data(contentsOf: fixture(name + ".npy"))
        #expect(NPY.encode(try NPY.decode(original)) == original)
    }

    enum RoundTrip: String, CaseIterable {
        case specials, scalar, zeroSizedAxis, rank6, hugeHeader
        var tensor: TensorData {
            switch self {
            case .specials:
                TensorData(shape: [2, 5], scalars: [Float(bitPattern: 0x7FC1_2345), Float(bitPattern: 0xFF80_0001), .infinity, -.infinity, -0.0, 0,
                                                    .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1, -3.5])
            case .scalar: TensorData(shape: [], scalars: [-7.5])
            case .zeroSizedAxis: TensorData(shape: [4, 0], scalars: [])
            case .rank6: TensorData(shape: [1, 2, 1, 3, 1, 2], scalars: quarters(12))
            case .hugeHeader: TensorData(shape: Array(repeating: 1, count: 30_000), scalars: [3])  // too long for version 1.0
            }
        }
    }

    @Test(arguments: RoundTrip.allCases)
    func roundTripIsBitExact(_ c: RoundTrip) throws {
        let t = c.tensor
        let bytes = NPY.encode(t)
        #expect(bytes[6] == (c == .hugeHeader ? 2 : 1), "format version")
        #expect((bytes.count - 4 * t.scalars.count) % 64 == 0, "data starts at a multiple of 64 bytes")
        let headerEnd = bytes.count - 4 * t.scalars.count - 1
        #expect(bytes[headerEnd] == UInt8(ascii: "\n"), "header ends in a newline")
        let decoded = try NPY.decode(bytes)
        #expect(decoded.shape == t.shape && decoded.dtype == .f32)
        #expect(decoded.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern))
        let sliced = try NPY.decode((Data([7]) + bytes).dropFirst())
        #expect(sliced.shape == t.shape && sliced.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "a slice not starting at 0")
    }

    /// Column-major order is the same layout when at most one axis is longer than 1.
    @Test(arguments: [([1, 5], true), ([5], true), ([], true), ([2, 3], false), ([5, 3, 3], false)])
    func fortranOrderOnlyWhereTheLayoutIsTheSame(_ shape: [Int], _ accepted: Bool) throws {
        let t = TensorData(shape: shape, scalars: quarters(shape.reduce(1, *)))
        var bytes = NPY.encode(t)
        bytes.replaceSubrange(bytes.range(of: Data("False".utf8))!, with: Data("True ".utf8))
        if accepted {
            #expect(try NPY.decode(bytes) == t)
        } else {
            #expect(throws: FileFormatError("Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(arr) instead")) {
                _ = try NPY.decode(bytes)
            }
        }
    }

    enum Malformed: String, CaseIterable {
        case empty, badMagic, truncatedMagic, truncatedPreamble, truncatedLength, unsupportedVersion, headerPastEnd, headerNotUTF8
        case notADictionary, unparsable, missingKey, extraKey, structuredDescr, otherDtype, badFortranOrder, negativeDimension
        case shapeNotTuple, dataTooShort, dataTooLong, overflowingShape

        static let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n"

        var input: (Data, String) {
            switch self {
            case .empty: (Data(), "truncated: the file is 0 bytes, shorter than the .npy magic string")
            case .badMagic: (Data("NOTNUMPY".utf8) + npyFile(Self.good).dropFirst(8), "not a .npy file: it does not start with the magic string")
            case .truncatedMagic: (Data([0x93] + Array("NUM".utf8)), "truncated: the file is 4 bytes, shorter than the .npy magic string")
            case .truncatedPreamble: (npyFile(Self.good).prefix(9), "truncated: the file is 9 bytes, shorter than the .npy preamble")
            case .truncatedLength: (npyFile(Self.good, version: 2).prefix(10), "truncated: the file ends inside the .npy header length")
            case .unsupportedVersion: (npyFile(Self.good, version: 4), "unsupported .npy format version 4.0")
            case .headerPastEnd: (npyFile(Self.good).prefix(30), "header length 58 runs past the end of the 30-byte file")
            case .headerNotUTF8: (npyFile("{'descr': '\u{FF}'}", version: 3).replacingFirst([0xC3, 0xBF], with: [0xFF, 0x20]), "not valid UTF-8")
            case .notADictionary: (npyFile("(1, 2)\n"), "the .npy header is not a dictionary: (1, 2)")
            case .unparsable: (npyFile("{'descr': '<f4' 'shape': (3,)}"), "the .npy header is not a Python literal: expected ',' or '}' at character 16")
            case .missingKey: (npyFile("{'descr': '<f4', 'shape': (3,), }"), "must have exactly the keys descr, fortran_order and shape; missing fortran_order")
            case .extraKey: (npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}"), "; unexpected x")
            case .structuredDescr: (npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }"), "structured dtypes")
            case .otherDtype: (npyFile("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }"), "unsupported dtype '<c8'")
            case .badFortranOrder: (npyFile("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }"), "fortran_order in the .npy header is not True or False")
            case .negativeDimension: (npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }"), "must hold non-negative integers")
            case .shapeNotTuple: (npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': 3, }"), "shape in the .npy header is not a tuple")
            case .dataTooShort: (npyFile(Self.good, data: [1, 2]), "the data holds 8 bytes but shape [3] of '<f4' needs 12 (truncated file?)")
            case .dataTooLong: (npyFile(Self.good, data: [1, 2, 3, 4]), "the data holds 16 bytes but shape [3] of '<f4' needs 12")
            case .overflowingShape: (npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), "is too large")
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedFilesThrowOneLineErrors(_ c: Malformed) {
        let (data, fragment) = c.input
        do {
            _ = try NPY.decode(data)
            Issue.record("\(c) decoded without an error")
        } catch let error as FileFormatError {
            #expect(error.description.contains(fragment), "\(error)")
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(c): not a FileFormatError: \(error)")
        }
    }

    @Test func writeReplacesAtomicallyAndKeepsTheOldFileOnFailure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("a.npy")
        try NPY.write(TensorData(shape: [1], scalars: [1]), to: url)
        try NPY.write(TensorData(shape: [2], scalars: [2, 3]), to: url)
        #expect(try NPY.read(from: url).scalars == [2, 3])
        var broken = TensorData(shape: [2], scalars: [4, 5])
        broken.shape = [3]
        #expect(throws: FileFormatError(file: url.path, "shape [3] does not hold 2 values")) { try NPY.write(broken, to: url) }
        #expect { try NPY.write(TensorData(shape: [1], scalars: [9]), to: dir.file("missing/b.npy")) } throws: { error in
            "\(error)".contains("missing/b.npy: cannot create a temporary file")
        }
        #expect(dir.contents == ["a.npy"], "no temporary file is left behind")
        #expect(try NPY.read(from: url).scalars == [2, 3])
    }
}

private extension Data {
    func replacingFirst(_ pattern: [UInt8], with replacement: [UInt8]) -> Data {
        var d = self
        if let r = d.range(of: Data(pattern)) { d.replaceSubrange(r, with: replacement) }
        return d
    }
}
