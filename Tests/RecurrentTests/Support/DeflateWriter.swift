import Foundation
@testable import Recurrent

/// A deflate (RFC 1951) writer for tests: it writes exactly the blocks it is told to, including
/// invalid ones, so that each malformed case is a few readable lines.
struct DeflateWriter {
    private(set) var bytes: [UInt8] = []
    private var pending: UInt64 = 0, pendingCount = 0

    enum Symbol: Equatable {
        case literal(UInt8), match(length: Int, distance: Int), end
    }

    /// `count` bits of `value`, lowest first (header fields, extra bits).
    mutating func bits(_ value: Int, _ count: Int) {
        pending |= UInt64(value & ((1 << count) - 1)) << UInt64(pendingCount)
        pendingCount += count
        while pendingCount >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: pending))
            pending >>= 8
            pendingCount -= 8
        }
    }

    /// A Huffman code, highest bit first (§3.1.1).
    mutating func huffman(_ code: Int, _ length: Int) {
        for b in stride(from: length - 1, through: 0, by: -1) { bits(code >> b & 1, 1) }
    }

    mutating func alignToByte() {
        if pendingCount > 0 { bits(0, 8 - pendingCount) }
    }

    /// The bytes written, the last one padded with zero bits.
    var finished: [UInt8] {
        var copy = self
        copy.alignToByte()
        return copy.bytes
    }

    mutating func storedBlock(_ content: [UInt8], final: Bool, complement: Int? = nil) {
        bits(final ? 1 : 0, 1)
        bits(0, 2)
        alignToByte()
        bits(content.count, 16)
        bits(complement ?? (content.count ^ 0xFFFF), 16)
        bytes += content
    }

    mutating func fixedBlock(_ symbols: [Symbol], final: Bool) {
        bits(final ? 1 : 0, 1)
        bits(1, 2)
        let literal = Self.fixedLiteralLengths
        encode(symbols, literalCodes: Self.canonicalCodes(literal), literalLengths: literal,
               distanceCodes: Self.canonicalCodes(Array(repeating: 5, count: 32)), distanceLengths: Array(repeating: 5, count: 32))
    }

    /// The header of a dynamic block: counts, the code-length code, then `items` coded with it
    /// (`extra` is the repeat count's extra bits for symbols 16, 17 and 18).
    ///
    /// The default code-length code gives symbols 0–12 four bits and 13–18 five bits (complete).
    mutating func dynamicHeader(literalCount: Int, distanceCount: Int, items: [(symbol: Int, extra: Int)], final: Bool,
                                codeLengthLengths: [Int] = Array(repeating: 4, count: 13) + Array(repeating: 5, count: 6)) {
        bits(final ? 1 : 0, 1)
        bits(2, 2)
        bits(literalCount - 257, 5)
        bits(distanceCount - 1, 5)
        bits(19 - 4, 4)
        for s in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15] { bits(codeLengthLengths[s], 3) }
        let codes = Self.canonicalCodes(codeLengthLengths)
        for (symbol, extra) in items {
            huffman(codes[symbol], codeLengthLengths[symbol])
            switch symbol {
            case 16: bits(extra, 2)
            case 17: bits(extra, 3)
            case 18: bits(extra, 7)
            default: break
            }
        }
    }

    /// A dynamic block with these code lengths (written one by one, no repeat codes), then `symbols`.
    mutating func dynamicBlock(literalLengths: [Int], distanceLengths: [Int], _ symbols: [Symbol], final: Bool) {
        dynamicHeader(literalCount: literalLengths.count, distanceCount: distanceLengths.count,
                      items: (literalLengths + distanceLengths).map { ($0, 0) }, final: final)
        encode(symbols, literalCodes: Self.canonicalCodes(literalLengths), literalLengths: literalLengths,
               distanceCodes: Self.canonicalCodes(distanceLengths), distanceLengths: distanceLengths)
    }

    private mutating func encode(_ symbols: [Symbol], literalCodes: [Int], literalLengths: [Int], distanceCodes: [Int], distanceLengths: [Int]) {
        for s in symbols {
            switch s {
            case .literal(let b): huffman(literalCodes[Int(b)], literalLengths[Int(b)])
            case .end: huffman(literalCodes[256], literalLengths[256])
            case .match(let length, let distance):
                let (ls, lExtraBits, lExtra) = Self.lengthSymbol(length)
                huffman(literalCodes[ls], literalLengths[ls])
                bits(lExtra, lExtraBits)
                let (ds, dExtraBits, dExtra) = Self.distanceSymbol(distance)
                huffman(distanceCodes[ds], distanceLengths[ds])
                bits(dExtra, dExtraBits)
            }
        }
    }

    static let fixedLiteralLengths = Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112)
        + Array(repeating: 7, count: 24) + Array(repeating: 8, count: 8)
    static let lengthBases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBases = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                4097, 6145, 8193, 12289, 16385, 24577]

    /// The literal/length symbol for a match length (the last base that fits; 258 is symbol 285).
    static func lengthSymbol(_ length: Int) -> (symbol: Int, extraBits: Int, extra: Int) {
        let i = length == 258 ? 28 : lengthBases.lastIndex { $0 <= length }!
        return (257 + i, lengthExtra[i], length - lengthBases[i])
    }

    static func distanceSymbol(_ distance: Int) -> (symbol: Int, extraBits: Int, extra: Int) {
        let i = distanceBases.lastIndex { $0 <= distance }!
        return (i, max(0, i / 2 - 1), distance - distanceBases[i])
    }

    /// Canonical Huffman codes for these lengths (§3.2.2); 0 for unused symbols.
    static func canonicalCodes(_ lengths: [Int]) -> [Int] {
        var count = [Int](repeating: 0, count: 16), next = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { count[l] += 1 }
        var code = 0
        for l in 1..<16 {
            code = (code + count[l - 1]) << 1
            next[l] = code
        }
        return lengths.map { l in
            guard l > 0 else { return 0 }
            defer { next[l] += 1 }
            return next[l]
        }
    }

    /// What `symbols` decode to: the reference the inflater is checked against.
    static func expand(_ symbols: [Symbol]) -> [UInt8] {
        var out: [UInt8] = []
        for s in symbols {
            switch s {
            case .literal(let b): out.append(b)
            case .match(let length, let distance): for _ in 0..<length { out.append(out[out.count - distance]) }
            case .end: break
            }
        }
        return out
    }
}

/// A gzip member (RFC 1952) around a raw deflate stream, with a correct trailer for `content`
/// unless `crc` or `size` are given.
func gzipMember(_ deflate: [UInt8], content: [UInt8], flags: UInt8 = 0, crc: UInt32? = nil, size: UInt32? = nil) -> Data {
    var d = Data([0x1F, 0x8B, 8, flags, 0, 0, 0, 0, 0, 3])
    d.append(contentsOf: deflate)
    let checksum = crc ?? content.withUnsafeBytes { crc32($0) }
    withUnsafeBytes(of: checksum.littleEndian) { d.append(contentsOf: $0) }
    withUnsafeBytes(of: (size ?? UInt32(truncatingIfNeeded: content.count)).littleEndian) { d.append(contentsOf: $0) }
    return d
}
