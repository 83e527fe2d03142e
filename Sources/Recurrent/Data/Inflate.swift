import Foundation

/// RFC 1951 inflate of one deflate stream: stored, fixed-Huffman and dynamic-Huffman blocks.
///
/// Speed comes from a 64-bit bit buffer refilled eight bytes at a time (libdeflate's branch-free
/// refill) and from decoding tables that map the next `primaryBits` input bits straight to a
/// symbol, with the length or distance base and its extra-bit count already filled in; codes
/// longer than `primaryBits` go through a second-level table (zlib's `inflate_table` layout).
///
/// Safety on bad input: every table index is below the table's size by construction, every byte
/// read is bounds-checked, and reading past the end feeds zero bits that are counted
/// (`overrun`), so truncation is reported at the next refill instead of looping: each symbol
/// consumes at least one bit and writes at most 258 bytes, so the work is bounded by the input.
struct Inflater {
    private let input: UnsafeBufferPointer<UInt8>
    /// The next byte to load into the bit buffer.
    private(set) var position: Int
    /// Zero bytes loaded after the end of the input.
    private var overrun = 0
    /// Unconsumed input bits, the next one lowest; bits above `bitCount` may hold the start of
    /// byte `position`, loaded early by the fast refill (loading it again is harmless).
    private var bits: UInt64 = 0
    private var bitCount = 0
    /// 1-based, for messages.
    private let member: Int
    private var literalTable: [UInt32] = [], distanceTable: [UInt32] = [], lengthsTable: [UInt32] = []
    /// Whether `literalTable` and `distanceTable` hold the fixed codes.
    private var tablesAreFixed = false

    /// Bits resolved by the first-level table of literal/length and of distance codes.
    private static let literalBits = 10, distanceBits = 8
    /// Room kept free at the end of the output for one match (258) and an 8-byte overshoot.
    private static let slack = 266

    init(_ input: UnsafeBufferPointer<UInt8>, from position: Int, member: Int) {
        self.input = input
        self.position = position
        self.member = member
    }

    /// Inflates the stream starting at `position` into `out`; afterwards `position` is the first
    /// byte after the stream's last block.
    mutating func inflate(into out: OutputBuffer) throws {
        let memberStart = out.count
        var isFinal = false
        repeat {
            isFinal = try take(1) == 1
            switch try take(2) {
            case 0:
                try copyStoredBlock(into: out)
            case 1:
                if !tablesAreFixed { try buildFixedTables() }
                try decodeBlock(into: out, memberStart: memberStart)
            case 2:
                try readDynamicTables()
                try decodeBlock(into: out, memberStart: memberStart)
            default:
                throw failure("invalid deflate block type 3 (reserved)")
            }
        } while !isFinal
        position = try alignToByte()
    }

    // MARK: Bits

    private func failure(_ what: String, at byte: Int? = nil) -> FileFormatError {
        FileFormatError("gzip member \(member): \(what) (near byte \(min(byte ?? position + overrun - (bitCount + 7) / 8, input.count)))")
    }

    private var truncated: FileFormatError { Self.truncatedError(member) }

    private static func truncatedError(_ member: Int) -> FileFormatError {
        FileFormatError("truncated: the data ends inside the deflate stream of gzip member \(member)")
    }

    /// Fills the bit buffer to at least 56 bits.
    @inline(__always)
    private mutating func refill() throws {
        if position <= input.count &- 8 {
            bits |= UInt64(littleEndian: UnsafeRawPointer(input.baseAddress.unsafelyUnwrapped + position).loadUnaligned(as: UInt64.self)) &<< UInt64(bitCount)
            position &+= (63 &- bitCount) &>> 3
            bitCount |= 56
        } else {
            try Self.refillSlowly(input, &bits, &bitCount, &position, &overrun, member: member)
        }
    }

    /// Byte-at-a-time refill near the end of the input, adding zero bytes past it; throws once a
    /// consumed bit was one of those zeros.
    @inline(never)
    private static func refillSlowly(
        _ input: UnsafeBufferPointer<UInt8>, _ bits: inout UInt64, _ bitCount: inout Int, _ position: inout Int, _ overrun: inout Int, member: Int
    ) throws {
        guard bitCount >= overrun * 8 else { throw truncatedError(member) }
        while bitCount < 56 {
            if position < input.count {
                bits |= UInt64(input[position]) << UInt64(bitCount)
                position += 1
            } else {
                overrun += 1
            }
            bitCount += 8
        }
    }

    /// The next `n` bits (at most 32), first bit lowest.
    private mutating func take(_ n: Int) throws -> Int {
        if bitCount < n { try refill() }
        let v = Int(truncatingIfNeeded: bits & ((1 << UInt64(n)) - 1))
        bits >>= UInt64(n)
        bitCount -= n
        return v
    }

    /// Drops the bits up to the next byte boundary, empties the bit buffer and returns the
    /// offset of the next unread byte.
    private mutating func alignToByte() throws -> Int {
        let next = position + overrun - bitCount / 8
        guard next <= input.count else { throw truncated }
        (position, overrun, bits, bitCount) = (next, 0, 0, 0)
        return next
    }

    // MARK: Blocks

    /// A stored block (§3.2.4): LEN, its one's complement NLEN, then LEN raw bytes.
    private mutating func copyStoredBlock(into out: OutputBuffer) throws {
        let start = try alignToByte()
        guard input.count - start >= 4 else { throw truncated }
        let length = Int(input[start]) | Int(input[start + 1]) << 8
        let complement = Int(input[start + 2]) | Int(input[start + 3]) << 8
        guard length ^ complement == 0xFFFF else {
            throw failure("stored block length \(length) does not match its one's complement \(complement)", at: start)
        }
        guard input.count - start - 4 >= length else { throw truncated }
        try out.reserve(length + Self.slack)
        if length > 0 {
            (out.base + out.count).update(from: input.baseAddress.unsafelyUnwrapped + start + 4, count: length)
        }
        out.count += length
        position = start + 4 + length
    }

    /// The fixed codes of §3.2.6: literal/length lengths 8, 9, 7, 8 by range; distances all 5.
    private mutating func buildFixedTables() throws {
        let literalLengths = [UInt8](repeating: 8, count: 144) + [UInt8](repeating: 9, count: 112)
            + [UInt8](repeating: 7, count: 24) + [UInt8](repeating: 8, count: 8)
        literalTable = try huffmanTable(literalLengths, Self.literalEntries, primaryBits: Self.literalBits, "literal/length")
        distanceTable = try huffmanTable([UInt8](repeating: 5, count: 32), Self.distanceEntries, primaryBits: Self.distanceBits, "distance")
        tablesAreFixed = true
    }

    /// The order in which a dynamic block lists the code-length code's lengths (§3.2.7).
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// A dynamic block's header (§3.2.7): HLIT, HDIST, HCLEN, the code-length code, then the
    /// literal/length and distance code lengths coded with it (16: repeat the previous length
    /// 3–6 times, 17: 3–10 zeros, 18: 11–138 zeros).
    private mutating func readDynamicTables() throws {
        tablesAreFixed = false
        let literalCount = try take(5) + 257, distanceCount = try take(5) + 1, lengthCodeCount = try take(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw failure("too many codes in a dynamic block header: \(literalCount) literal/length (at most 286), \(distanceCount) distance (at most 30)")
        }
        var codeLengths = [UInt8](repeating: 0, count: 19)
        for i in 0..<lengthCodeCount { codeLengths[Self.codeLengthOrder[i]] = UInt8(try take(3)) }
        lengthsTable = try huffmanTable(codeLengths, (0..<19).map { UInt32($0) << 16 }, primaryBits: 7, "code-length")
        let total = literalCount + distanceCount
        var lengths = [UInt8](repeating: 0, count: total)
        var i = 0
        while i < total {
            if bitCount < 14 { try refill() }  // a 7-bit code and up to 7 extra bits
            let e = lengthsTable[Int(truncatingIfNeeded: bits & 0x7F)]
            guard e & Entry.invalid == 0 else { throw failure("invalid code-length code") }
            bits >>= UInt64(e & 0xFF)
            bitCount -= Int(e & 0xFF)
            let symbol = Int(e >> 16)
            if symbol < 16 {
                lengths[i] = UInt8(symbol)
                i += 1
                continue
            }
            let (value, count): (UInt8, Int)
            switch symbol {
            case 16:
                guard i > 0 else { throw failure("code length 16 (repeat the previous length) comes first") }
                (value, count) = (lengths[i - 1], 3 + (try take(2)))
            case 17: (value, count) = (0, 3 + (try take(3)))
            default: (value, count) = (0, 11 + (try take(7)))
            }
            guard count <= total - i else {
                throw failure("a repeated code length runs past the \(total) lengths of the dynamic block header")
            }
            for k in i..<(i + count) { lengths[k] = value }
            i += count
        }
        guard lengths[256] != 0 else { throw failure("the literal/length code has no end-of-block code (256)") }
        literalTable = try huffmanTable(Array(lengths[..<literalCount]), Self.literalEntries, primaryBits: Self.literalBits, "literal/length")
        distanceTable = try huffmanTable(Array(lengths[literalCount...]), Self.distanceEntries, primaryBits: Self.distanceBits, "distance")
    }

    /// Decodes symbols of a Huffman-coded block up to its end-of-block code.
    private mutating func decodeBlock(into out: OutputBuffer, memberStart: Int) throws {
        let literals = literalTable, distances = distanceTable
        try literals.withUnsafeBufferPointer { literals in
            try distances.withUnsafeBufferPointer { distances in
                try decodeSymbols(literals, distances, into: out, memberStart: memberStart)
            }
        }
    }

    /// The hot loop, on local copies of the bit buffer and the output pointer.
    private mutating func decodeSymbols(
        _ literals: UnsafeBufferPointer<UInt32>, _ distances: UnsafeBufferPointer<UInt32>, into out: OutputBuffer, memberStart: Int
    ) throws {
        var bits = self.bits, bitCount = self.bitCount, position = self.position
        var base = out.base, capacity = out.capacity, count = out.count
        defer { (self.bits, self.bitCount, self.position, out.count) = (bits, bitCount, position, count) }
        let fastEnd = input.count &- 8, start = input.baseAddress.unsafelyUnwrapped
        let literalMask: UInt64 = (1 << UInt64(Self.literalBits)) - 1, distanceMask: UInt64 = (1 << UInt64(Self.distanceBits)) - 1
        // Written out without helper closures: closures capturing `bits` keep it in memory, not a register.
        while true {
            // At least 56 bits: a literal/length code (15) with extra bits (5) and a distance code (15) with extra bits (13).
            if position <= fastEnd {
                bits |= UInt64(littleEndian: UnsafeRawPointer(start + position).loadUnaligned(as: UInt64.self)) &<< UInt64(bitCount)
                position &+= (63 &- bitCount) &>> 3
                bitCount |= 56
            } else {
                try Self.refillSlowly(input, &bits, &bitCount, &position, &overrun, member: member)
            }
            if count > capacity &- Self.slack {
                out.count = count
                try out.reserve(Self.slack)
                (base, capacity) = (out.base, out.capacity)
            }
            var e = literals[Int(truncatingIfNeeded: bits & literalMask)]
            if e & Entry.link != 0 {
                bits &>>= UInt64(e & 0xFF)
                bitCount &-= Int(e & 0xFF)
                e = literals[Int(e &>> 16) &+ Int(truncatingIfNeeded: bits & ((1 &<< UInt64((e &>> 8) & 0xF)) &- 1))]
            }
            bits &>>= UInt64(e & 0xFF)
            bitCount &-= Int(e & 0xFF)
            if e & Entry.literal != 0 {
                base[count] = UInt8(truncatingIfNeeded: e &>> 16)
                count &+= 1
                // Two more literals fit in the bits left (15 each); a match needs a refill first.
                e = literals[Int(truncatingIfNeeded: bits & literalMask)]
                guard e & Entry.kindMask == Entry.literal else { continue }
                bits &>>= UInt64(e & 0xFF)
                bitCount &-= Int(e & 0xFF)
                base[count] = UInt8(truncatingIfNeeded: e &>> 16)
                count &+= 1
                e = literals[Int(truncatingIfNeeded: bits & literalMask)]
                guard e & Entry.kindMask == Entry.literal else { continue }
                bits &>>= UInt64(e & 0xFF)
                bitCount &-= Int(e & 0xFF)
                base[count] = UInt8(truncatingIfNeeded: e &>> 16)
                count &+= 1
                continue
            }
            if e & Entry.kindMask != 0 {
                if e & Entry.endOfBlock != 0 { return }
                throw failure("invalid literal/length code", at: position + overrun - (bitCount + 7) / 8)
            }
            var extra = (e &>> 8) & 0xF
            let length = Int(e &>> 16) &+ Int(truncatingIfNeeded: bits & ((1 &<< UInt64(extra)) &- 1))
            bits &>>= UInt64(extra)
            bitCount &-= Int(extra)
            var d = distances[Int(truncatingIfNeeded: bits & distanceMask)]
            if d & Entry.link != 0 {
                bits &>>= UInt64(d & 0xFF)
                bitCount &-= Int(d & 0xFF)
                d = distances[Int(d &>> 16) &+ Int(truncatingIfNeeded: bits & ((1 &<< UInt64((d &>> 8) & 0xF)) &- 1))]
            }
            guard d & Entry.kindMask == 0 else { throw failure("invalid distance code", at: position + overrun - (bitCount + 7) / 8) }
            bits &>>= UInt64(d & 0xFF)
            bitCount &-= Int(d & 0xFF)
            extra = (d &>> 8) & 0xF
            let distance = Int(d &>> 16) &+ Int(truncatingIfNeeded: bits & ((1 &<< UInt64(extra)) &- 1))
            bits &>>= UInt64(extra)
            bitCount &-= Int(extra)
            guard distance <= count &- memberStart else {
                throw failure("distance \(distance) reaches back before the start of the output (\(count - memberStart) byte\(count - memberStart == 1 ? "" : "s") so far)",
                              at: position + overrun - (bitCount + 7) / 8)
            }
            let to = base + count, from = to - distance
            if distance >= 8 {  // 8 bytes at a time; each load reads only bytes already written
                var k = 0
                while k < length {
                    UnsafeMutableRawPointer(to + k).storeBytes(of: UnsafeRawPointer(from + k).loadUnaligned(as: UInt64.self), as: UInt64.self)
                    k &+= 8
                }
            } else if distance == 1 {
                to.update(repeating: from.pointee, count: length)
            } else {
                for k in 0..<length { to[k] = from[k] }
            }
            count &+= length
        }
    }

    // MARK: Huffman tables

    /// Decoding-table entries: bits 0–7 the bits to consume, 8–11 the extra bits to read next
    /// (for a link, the second-level table's index bits), 12–15 the kind, 16–31 the value (a
    /// literal byte, a base length or distance, a symbol, or a second-level table's offset).
    /// Kind 0 is a length or distance.
    private enum Entry {
        static let literal: UInt32 = 1 << 12, endOfBlock: UInt32 = 2 << 12, link: UInt32 = 4 << 12, invalid: UInt32 = 8 << 12
        static let kindMask: UInt32 = 0xF000

        static func base(_ value: Int, extra: Int) -> UInt32 { UInt32(value) << 16 | UInt32(extra) << 8 }
    }

    /// Entries (without code length) for literal/length symbols 0–287 (§3.2.5); 286 and 287 take part
    /// in the fixed code but are invalid in data.
    private static let literalEntries: [UInt32] = {
        let bases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        let extra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        return (0..<256).map { Entry.literal | UInt32($0) << 16 } + [Entry.endOfBlock]
            + (0..<29).map { Entry.base(bases[$0], extra: extra[$0]) } + [Entry.invalid, Entry.invalid]
    }()

    /// Entries for distance symbols 0–31 (§3.2.5); 30 and 31 are invalid in data.
    private static let distanceEntries: [UInt32] = {
        let bases = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
                     6145, 8193, 12289, 16385, 24577]
        return (0..<30).map { Entry.base(bases[$0], extra: max(0, $0 / 2 - 1)) } + [Entry.invalid, Entry.invalid]
    }()

    /// The decoding table of the canonical Huffman code with these code lengths (§3.2.2), `entries[s]`
    /// giving symbol `s`'s decoded entry. The first `2^primaryBits` slots are indexed by the next
    /// input bits; a longer code's slot links to a second-level table sized for the longest code
    /// sharing that prefix. Slots no code reaches are `invalid`.
    ///
    /// Like zlib, refuses an over-subscribed code and an incomplete one, except a single code of
    /// length 1 (and no code at all for distances), which encoders emit for one-symbol alphabets.
    private func huffmanTable(
        _ lengths: [UInt8], _ entries: [UInt32], primaryBits: Int, _ name: String
    ) throws -> [UInt32] {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[Int(l & 15)] += 1 }  // lengths are at most 15 by construction
        let used = lengths.count - counts[0]
        var left = 1
        for l in 1...15 {
            left = left * 2 - counts[l]
            guard left >= 0 else { throw failure("invalid \(name) code lengths: the code is over-subscribed") }
        }
        if left > 0 && !(used == 1 && counts[1] == 1 && name != "code-length") && !(used == 0 && name == "distance") {
            throw failure("invalid \(name) code lengths: the code is incomplete")
        }
        // Canonical codes in order of (length, symbol), bit-reversed: deflate sends them first bit first.
        var next = [Int](repeating: 0, count: 16)  // where each length's symbols go, sorted
        for l in 1..<15 { next[l + 1] = next[l] + counts[l] }
        var sorted = [Int](repeating: 0, count: used)
        for (symbol, length) in lengths.enumerated() where length != 0 {
            sorted[next[Int(length)]] = symbol
            next[Int(length)] += 1
        }
        var codes: [(symbol: Int, length: Int, reversed: Int)] = []
        codes.reserveCapacity(used)
        var code = 0, previousLength = 0
        for symbol in sorted {
            let l = Int(lengths[symbol])
            code <<= l - previousLength
            previousLength = l
            var r = UInt16(truncatingIfNeeded: code)  // reverse 16 bits, keep the top l
            r = (r & 0x5555) << 1 | (r >> 1) & 0x5555
            r = (r & 0x3333) << 2 | (r >> 2) & 0x3333
            r = (r & 0x0F0F) << 4 | (r >> 4) & 0x0F0F
            codes.append((symbol, l, Int(r.byteSwapped >> UInt16(16 - l))))
            code += 1
        }
        let primarySize = 1 << primaryBits
        var secondBits = [Int](repeating: 0, count: primarySize), offsets = [Int](repeating: 0, count: primarySize)
        for c in codes where c.length > primaryBits {
            secondBits[c.reversed & (primarySize - 1)] = max(secondBits[c.reversed & (primarySize - 1)], c.length - primaryBits)
        }
        var size = primarySize
        for p in 0..<primarySize where secondBits[p] > 0 {
            offsets[p] = size
            size += 1 << secondBits[p]
        }
        var table = [UInt32](repeating: Entry.invalid, count: size)
        for p in 0..<primarySize where secondBits[p] > 0 {
            table[p] = Entry.link | UInt32(offsets[p]) << 16 | UInt32(secondBits[p]) << 8 | UInt32(primaryBits)
        }
        for c in codes {
            if c.length <= primaryBits {
                for slot in stride(from: c.reversed, to: primarySize, by: 1 << c.length) {
                    table[slot] = entries[c.symbol] | UInt32(c.length)
                }
            } else {
                let prefix = c.reversed & (primarySize - 1), rest = c.length - primaryBits
                for slot in stride(from: c.reversed >> primaryBits, to: 1 << secondBits[prefix], by: 1 << rest) {
                    table[offsets[prefix] + slot] = entries[c.symbol] | UInt32(rest)
                }
            }
        }
        return table
    }
}
