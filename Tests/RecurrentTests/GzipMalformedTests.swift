import Foundation
import Testing
@testable import Recurrent

/// A valid member holding "abc" (one fixed block).
private func abc() -> Data {
    var w = DeflateWriter()
    w.fixedBlock([.literal(97), .literal(98), .literal(99), .end], final: true)
    return gzipMember(w.finished, content: Array("abc".utf8))
}

/// A member whose deflate stream `write` writes (its trailer is for empty content).
private func dynamic(_ write: (inout DeflateWriter) -> Void) -> Data {
    var w = DeflateWriter()
    write(&w)
    return gzipMember(w.finished, content: [])
}

/// Literal/length code lengths giving end-of-block and 'A' one bit each (complete), and room for
/// length symbol 257.
private let twoSymbols: [Int] = {
    var l = [Int](repeating: 0, count: 258)
    (l[65], l[256]) = (1, 1)
    return l
}()

@Suite struct GzipMalformedTests {
    enum Malformed: String, CaseIterable {
        case empty, notGzip, truncatedHeader, badMethod, reservedFlags, truncatedExtra, unterminatedName, headerCRCMismatch
        case blockType3, storedComplement, storedTruncated, tooManyLiteralCodes, tooManyDistanceCodes
        case codeLengthCodeIncomplete, codeLengthCodeOversubscribed, repeatFirst, repeatPastEnd, noEndOfBlock
        case literalOversubscribed, literalIncomplete, distanceIncomplete, literalSymbol286, distanceSymbol30
        case unusedHalfOfOneSymbolCode, noDistanceCodesButAMatch, distanceTooFar, distanceIntoPreviousMember
        case truncatedStream, missingEndOfBlock, crcMismatch, sizeMismatch, truncatedTrailer, trailingByte, trailingZeros

        var input: (Data, String) {
            switch self {
            case .empty: return (Data(), "not gzip data: it is empty")
            case .notGzip: return (Data("hello".utf8), "not gzip data: it does not start with the bytes 1F 8B")
            case .truncatedHeader: return (abc().prefix(7), "truncated: the data ends inside the header of gzip member 1")
            case .badMethod:
                var d = abc()
                d[2] = 7
                return (d, "gzip member 1: unsupported compression method 7 (only 8, deflate, exists)")
            case .reservedFlags:
                var d = abc()
                d[3] = 0x20
                return (d, "gzip member 1: reserved header flag bits are set (flags 0x20)")
            case .truncatedExtra:
                return (Data([0x1F, 0x8B, 8, 0x04, 0, 0, 0, 0, 0, 3, 100, 0, 1, 2, 3]), "truncated: the data ends inside the header of gzip member 1")
            case .unterminatedName:
                return (Data([0x1F, 0x8B, 8, 0x08, 0, 0, 0, 0, 0, 3]) + Data("name.txt".utf8), "truncated: the data ends inside the header of gzip member 1")
            case .headerCRCMismatch:
                var d = abc()
                d[3] = 0x02
                d.insert(contentsOf: [0x12, 0x34], at: 10)
                return (d, "gzip member 1: header CRC-16 mismatch: the header says 0x3412")
            case .blockType3:
                var w = DeflateWriter()
                w.bits(1, 1)
                w.bits(3, 2)
                return (gzipMember(w.finished, content: []), "gzip member 1: invalid deflate block type 3 (reserved) (near byte 10)")
            case .storedComplement:
                var w = DeflateWriter()
                w.storedBlock(Array("hello".utf8), final: true, complement: 0x1234)
                return (gzipMember(w.finished, content: Array("hello".utf8)), "stored block length 5 does not match its one's complement 4660")
            case .storedTruncated:
                var w = DeflateWriter()
                w.storedBlock(Array(repeating: 1, count: 100), final: true)
                return (Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + w.finished.prefix(40)), "truncated: the data ends inside the deflate stream of gzip member 1")
            case .tooManyLiteralCodes:
                return (dynamic { $0.dynamicHeader(literalCount: 287, distanceCount: 1, items: [], final: true) },
                        "too many codes in a dynamic block header: 287 literal/length (at most 286), 1 distance (at most 30)")
            case .tooManyDistanceCodes:
                return (dynamic { $0.dynamicHeader(literalCount: 257, distanceCount: 31, items: [], final: true) }, "31 distance (at most 30)")
            case .codeLengthCodeIncomplete:
                return (dynamic { $0.dynamicHeader(literalCount: 257, distanceCount: 1, items: [], final: true, codeLengthLengths: Array(repeating: 5, count: 19)) },
                        "invalid code-length code lengths: the code is incomplete")
            case .codeLengthCodeOversubscribed:
                return (dynamic { $0.dynamicHeader(literalCount: 257, distanceCount: 1, items: [], final: true, codeLengthLengths: Array(repeating: 4, count: 19)) },
                        "invalid code-length code lengths: the code is over-subscribed")
            case .repeatFirst:
                return (dynamic { $0.dynamicHeader(literalCount: 257, distanceCount: 1, items: [(16, 0)], final: true) },
                        "code length 16 (repeat the previous length) comes first")
            case .repeatPastEnd:
                return (dynamic { $0.dynamicHeader(literalCount: 257, distanceCount: 1, items: [(18, 127), (18, 127)], final: true) },
                        "a repeated code length runs past the 258 lengths of the dynamic block header")
            case .noEndOfBlock:
                var lengths = twoSymbols
                (lengths[256], lengths[66]) = (0, 1)
                return (dynamic { $0.dynamicBlock(literalLengths: lengths, distanceLengths: [0], [], final: true) },
                        "the literal/length code has no end-of-block code (256)")
            case .literalOversubscribed:
                var lengths = twoSymbols
                lengths[66] = 1
                return (dynamic { $0.dynamicBlock(literalLengths: lengths, distanceLengths: [0], [], final: true) },
                        "invalid literal/length code lengths: the code is over-subscribed")
            case .literalIncomplete:
                var lengths = twoSymbols
                (lengths[65], lengths[256]) = (2, 2)
                return (dynamic { $0.dynamicBlock(literalLengths: lengths, distanceLengths: [0], [], final: true) },
                        "invalid literal/length code lengths: the code is incomplete")
            case .distanceIncomplete:
                return (dynamic { $0.dynamicBlock(literalLengths: twoSymbols, distanceLengths: [2, 2], [], final: true) },
                        "invalid distance code lengths: the code is incomplete")
            case .literalSymbol286:  // part of the fixed code, but no symbol
                var w = DeflateWriter()
                w.bits(1, 1)
                w.bits(1, 2)
                w.huffman(DeflateWriter.canonicalCodes(DeflateWriter.fixedLiteralLengths)[286], 8)
                return (gzipMember(w.finished, content: []), "gzip member 1: invalid literal/length code")
            case .distanceSymbol30:
                var w = DeflateWriter()
                w.bits(1, 1)
                w.bits(1, 2)
                let codes = DeflateWriter.canonicalCodes(DeflateWriter.fixedLiteralLengths)
                w.huffman(codes[97], 8)
                w.huffman(codes[257], 7)
                w.huffman(30, 5)
                return (gzipMember(w.finished, content: []), "gzip member 1: invalid distance code")
            case .unusedHalfOfOneSymbolCode:  // one distance code: "0"; "1" is no code
                var lengths = twoSymbols
                lengths[257] = 1
                lengths[65] = 2
                lengths[256] = 2
                var w = DeflateWriter()
                w.dynamicBlock(literalLengths: lengths, distanceLengths: [1], [.literal(65)], final: true)
                w.huffman(0, 1)  // length 3 (symbol 257)
                w.huffman(1, 1)  // the distance code that does not exist
                return (gzipMember(w.finished, content: []), "gzip member 1: invalid distance code")
            case .noDistanceCodesButAMatch:
                var lengths = twoSymbols
                (lengths[257], lengths[65], lengths[256]) = (1, 2, 2)
                var w = DeflateWriter()
                w.dynamicBlock(literalLengths: lengths, distanceLengths: [0], [.literal(65)], final: true)
                w.huffman(0, 1)  // length 3 (symbol 257), then any bits: there is no distance code
                return (gzipMember(w.finished, content: []), "gzip member 1: invalid distance code")
            case .distanceTooFar:
                var w = DeflateWriter()
                w.fixedBlock([.literal(97), .match(length: 3, distance: 2), .end], final: true)
                return (gzipMember(w.finished, content: []), "distance 2 reaches back before the start of the output (1 byte so far)")
            case .distanceIntoPreviousMember:
                var w = DeflateWriter()
                w.fixedBlock([.match(length: 3, distance: 3), .end], final: true)
                return (abc() + gzipMember(w.finished, content: Array("abc".utf8)), "gzip member 2: distance 3 reaches back before the start of the output (0 bytes so far)")
            case .truncatedStream: return (abc().prefix(12), "truncated: the data ends inside the deflate stream of gzip member 1")
            case .missingEndOfBlock:
                var w = DeflateWriter()
                w.fixedBlock([.literal(97), .literal(98)], final: true)
                return (Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3] + w.finished), "truncated: the data ends inside the deflate stream of gzip member 1")
            case .crcMismatch:
                var w = DeflateWriter()
                w.fixedBlock([.literal(97), .end], final: true)
                return (gzipMember(w.finished, content: [97], crc: 0xDEAD_BEEF), "gzip member 1: CRC-32 mismatch: the trailer says 0xDEADBEEF, the data gives 0xE8B7BE43 (corrupt data)")
            case .sizeMismatch:
                var w = DeflateWriter()
                w.fixedBlock([.literal(97), .end], final: true)
                return (gzipMember(w.finished, content: [97], size: 2), "gzip member 1: length mismatch: the trailer says 2 bytes (mod 2^32), the data has 1")
            case .truncatedTrailer: return (abc().dropLast(3), "truncated: the data ends inside the trailer (CRC-32 and length) of gzip member 1")
            case .trailingByte: return (abc() + [0x1F], "1 byte of trailing data after gzip member 1 (not another gzip member)")
            case .trailingZeros: return (abc() + abc() + [0, 0, 0, 0], "4 bytes of trailing data after gzip member 2 (not another gzip member)")
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedDataThrowsOneLineErrors(_ c: Malformed) {
        let (data, fragment) = c.input
        do {
            let out = try Gzip.decompress(data)
            Issue.record("\(c) decompressed to \(out.count) bytes without an error")
        } catch let error as FileFormatError {
            #expect(error.description.contains(fragment), "\(error)")
            #expect(error.file == nil && !error.description.contains("\n"))
        } catch {
            Issue.record("\(c): not a FileFormatError: \(error)")
        }
    }

    /// Random bytes after a valid header (random Huffman tables, codes, lengths) must be
    /// refused with a FileFormatError: never a trap, a hang or unbounded output.
    @Test(arguments: 0..<4)
    func randomStreamsAreRefused(_ seed: Int) {
        var g = SeededGenerator(seed: UInt64(100 + seed))
        for _ in 0..<500 {
            let n = Int(g.next() % 300)
            var data = Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3])
            for _ in 0..<n { data.append(UInt8(truncatingIfNeeded: g.next())) }
            if n > 0 { data[10] = data[10] & 0xF9 | [0x04, 0x02, 0x04, 0x00][seed] }  // block type: dynamic, fixed, dynamic, stored
            do {
                let out = try Gzip.decompress(data)
                Issue.record("\(n) random bytes decompressed to \(out.count) bytes")
            } catch {
                #expect(error is FileFormatError)
            }
        }
    }

    @Test func theValidBaseCasesDecode() throws {
        #expect(try Gzip.decompress(abc()) == Data("abc".utf8))
        #expect(try Gzip.decompress(abc() + abc()) == Data("abcabc".utf8))
        var w = DeflateWriter()
        w.storedBlock([], final: false)
        w.storedBlock(Array("hi".utf8), final: false)
        w.fixedBlock([.literal(33), .match(length: 4, distance: 3), .end], final: true)
        #expect(try Gzip.decompress(gzipMember(w.finished, content: Array("hi!hi!h".utf8))) == Data("hi!hi!h".utf8))
    }
}
