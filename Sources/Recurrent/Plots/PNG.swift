import Foundation

/// An 8-bit grayscale image, written as a PNG file (W3C PNG, 3rd edition): colour type 0, bit
/// depth 8, no interlacing, each row with filter type 0, the data compressed with deflate
/// (RFC 1951, one fixed-Huffman block with LZ77 matches) in a zlib stream (RFC 1950).
///
/// ```swift
/// let first = frames.narrowed(axis: 0, start: 0, length: 1)       // frames [T, B, 1, 64, 64]: batch row 0 of frame 0
/// let image = GrayImage(width: 64, height: 64, values: first.scalars.prefix(64 * 64))
/// try image.write(to: URL(fileURLWithPath: "frame.png"))
/// ```
public struct GrayImage: Sendable, Equatable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// `height · width` bytes, row by row from the top, 0 black to 255 white.
    public var pixels: [UInt8]

    /// The largest side written (65,536 px).
    public static let maxSide = 1 << 16

    /// An image of `pixels` (row-major, `width · height` bytes).
    /// - Precondition: the sizes are positive, at most ``maxSide``, and `pixels` holds `width · height` bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && width <= Self.maxSide && height <= Self.maxSide && pixels.count == width * height,
                     "GrayImage: \(pixels.count) pixels are not a \(width)×\(height) image")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    /// An image of `values` in [0, 1] (0 black, 1 white; values outside clamped, NaN black), row-major.
    /// - Precondition: as for ``init(width:height:pixels:)``, with `values.count == width · height`.
    public init(width: Int, height: Int, values: some Collection<Float>) {
        self.init(width: width, height: height, pixels: values.map { v in v > 0 ? UInt8((min(v, 1) * 255).rounded()) : 0 })
    }

    /// The PNG file's bytes.
    public func pngData() -> Data {
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width + 1))
        for r in 0..<height {
            raw.append(0)  // filter type 0 (None)
            raw += pixels[(r * width)..<((r + 1) * width)]
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 0, 0, 0, 0]  // bit depth 8, grayscale, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", zlibCompress(raw), to: &png)
        appendChunk("IEND", [], to: &png)
        return Data(png)
    }

    /// Writes ``pngData()`` to `url` atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: ``FileFormatError`` when the file cannot be written.
    public func write(to url: URL) throws {
        try writeAtomically(pngData(), to: url)
    }

    /// A chunk: length, type, data, and the CRC-32 of type and data.
    private func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let body = Array(type.utf8) + data
        png += bigEndian(UInt32(data.count)) + body
        png += bigEndian(body.withUnsafeBytes { crc32($0) })
    }
}

/// `value` as four bytes, most significant first.
func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// A zlib stream (RFC 1950) of `bytes`: header `78 01` (deflate, 32 KiB window), the deflate data
/// (``deflateFixed(_:)``), and the Adler-32 checksum of `bytes`.
func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
    [0x78, 0x01] + deflateFixed(bytes) + bigEndian(adler32(bytes))
}

/// The Adler-32 checksum of zlib (RFC 1950 §8.2).
func adler32(_ bytes: [UInt8]) -> UInt32 {
    var a: UInt32 = 1, b: UInt32 = 0
    var i = 0
    while i < bytes.count {
        // 5552 bytes at most between reductions keep b below 2³² (zlib's NMAX).
        let end = min(i + 5552, bytes.count)
        while i < end {
            a += UInt32(bytes[i])
            b += a
            i += 1
        }
        a %= 65521
        b %= 65521
    }
    return b << 16 | a
}

/// `bytes` as one final deflate block with the fixed Huffman codes (RFC 1951 §3.2.6): greedy
/// LZ77 over a 32 KiB window, matches found through a hash of the next three bytes, following at
/// most 64 earlier positions with the same hash. Frames of digits are mostly runs of zeros, which
/// this packs to a few bits per run.
func deflateFixed(_ bytes: [UInt8]) -> [UInt8] {
    var out = BitWriter()
    out.write(1, count: 1)  // BFINAL
    out.write(1, count: 2)  // BTYPE 01: fixed Huffman codes
    let n = bytes.count, window = 32768, hashSize = 1 << 15
    var head = [Int](repeating: -1, count: hashSize), previous = [Int](repeating: -1, count: window)
    func hash(_ i: Int) -> Int { (Int(bytes[i]) << 10 ^ Int(bytes[i + 1]) << 5 ^ Int(bytes[i + 2])) & (hashSize - 1) }
    func insert(_ i: Int) {
        guard i + 2 < n else { return }
        let h = hash(i)
        previous[i & (window - 1)] = head[h]
        head[h] = i
    }
    var i = 0
    while i < n {
        var bestLength = 0, bestDistance = 0
        if i + 2 < n {
            var candidate = head[hash(i)], tries = 64
            while candidate >= 0, i - candidate <= window, tries > 0 {
                var length = 0
                let limit = min(258, n - i)
                while length < limit && bytes[candidate + length] == bytes[i + length] { length += 1 }
                if length > bestLength { (bestLength, bestDistance) = (length, i - candidate) }
                if length == limit { break }
                candidate = previous[candidate & (window - 1)]
                tries -= 1
            }
        }
        if bestLength >= 3 {
            out.writeLength(bestLength)
            out.writeDistance(bestDistance)
            for k in i..<(i + bestLength) { insert(k) }
            i += bestLength
        } else {
            out.writeLiteral(Int(bytes[i]))
            insert(i)
            i += 1
        }
    }
    out.writeLiteral(256)  // end of block
    return out.finished
}

/// Bits packed least significant first (RFC 1951 §3.1.1), with the fixed Huffman codes.
private struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var pending: UInt64 = 0, pendingCount = 0

    mutating func write(_ value: Int, count: Int) {
        pending |= UInt64(value & ((1 << count) - 1)) << UInt64(pendingCount)
        pendingCount += count
        while pendingCount >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: pending))
            pending >>= 8
            pendingCount -= 8
        }
    }

    /// A Huffman code: written most significant bit first.
    mutating func writeCode(_ code: Int, length: Int) {
        var reversed = 0
        for b in 0..<length { reversed |= (code >> b & 1) << (length - 1 - b) }
        write(reversed, count: length)
    }

    /// A literal/length symbol in the fixed code: 0–143 in 8 bits from 0x30, 144–255 in 9 bits from
    /// 0x190, 256–279 in 7 bits from 0, 280–287 in 8 bits from 0xC0.
    mutating func writeLiteral(_ symbol: Int) {
        switch symbol {
        case 0...143: writeCode(0x30 + symbol, length: 8)
        case 144...255: writeCode(0x190 + symbol - 144, length: 9)
        case 256...279: writeCode(symbol - 256, length: 7)
        default: writeCode(0xC0 + symbol - 280, length: 8)
        }
    }

    static let lengthBases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBases = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    /// A match length 3–258: symbol 257 + k and its extra bits.
    mutating func writeLength(_ length: Int) {
        let k = Self.lengthBases.lastIndex { $0 <= length }!
        writeLiteral(257 + k)
        write(length - Self.lengthBases[k], count: Self.lengthExtra[k])
    }

    /// A distance 1–32768: a 5-bit code and its extra bits.
    mutating func writeDistance(_ distance: Int) {
        let k = Self.distanceBases.lastIndex { $0 <= distance }!
        writeCode(k, length: 5)
        write(distance - Self.distanceBases[k], count: Self.distanceExtra[k])
    }

    /// The bytes written, the last one padded with zero bits.
    var finished: [UInt8] {
        var copy = self
        if copy.pendingCount > 0 { copy.write(0, count: 8 - copy.pendingCount) }
        return copy.bytes
    }
}
