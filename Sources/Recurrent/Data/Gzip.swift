import Foundation

/// gzip decompression (RFC 1952), in Swift, with no system library: what Python's
/// `gzip.decompress` does, for reading `.gz` datasets such as MNIST's.
///
/// Every member's header is checked (method 8, no reserved flags; the optional extra field,
/// name, comment and header CRC-16 are skipped or checked), its deflate stream inflated (see
/// RFC 1951: stored, fixed- and dynamic-Huffman blocks), and its CRC-32 and length (ISIZE) compared
/// with the trailer. Concatenated members are decompressed one after another, as `gzip -d` does;
/// anything after the last member that is not another member is an error (unlike `gzip`, which
/// warns about trailing zeros and carries on).
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes `1F 8B`.
    public static func isGzip(_ data: Data) -> Bool {
        data.starts(with: [0x1F, 0x8B])
    }

    /// Decompresses every member of the gzip data and returns their contents, concatenated.
    ///
    /// The PyTorch-side equivalent is `gzip.decompress(data)`.
    /// - Throws: ``FileFormatError`` (one line, without a file name) for data that is not gzip,
    ///   truncated, corrupt (a bad block type, Huffman code, distance or checksum) or followed by
    ///   something other than another member.
    public static func decompress(_ data: Data) throws -> Data {
        try data.withUnsafeBytes { raw in
            let input = raw.bindMemory(to: UInt8.self)
            guard input.count >= 2, input[0] == 0x1F, input[1] == 0x8B else {
                throw FileFormatError(input.isEmpty ? "not gzip data: it is empty" : "not gzip data: it does not start with the bytes 1F 8B")
            }
            let output = try OutputBuffer(capacity: sizeHint(input))
            var position = 0, member = 0
            while position < input.count {
                guard input.count - position >= 2, input[position] == 0x1F, input[position + 1] == 0x8B else {
                    let n = input.count - position
                    throw FileFormatError("\(n) byte\(n == 1 ? "" : "s") of trailing data after gzip member \(member) (not another gzip member)")
                }
                member += 1
                position = try skipHeader(input, at: position, member: member)
                let start = output.count
                var inflater = Inflater(input, from: position, member: member)
                try inflater.inflate(into: output)
                position = inflater.position
                guard input.count - position >= 8 else {
                    throw FileFormatError("truncated: the data ends inside the trailer (CRC-32 and length) of gzip member \(member)")
                }
                let storedCRC = littleEndian32(input, at: position), storedSize = littleEndian32(input, at: position + 4)
                let crc = crc32(UnsafeRawBufferPointer(start: output.base + start, count: output.count - start))
                guard crc == storedCRC else {
                    throw FileFormatError("gzip member \(member): CRC-32 mismatch: the trailer says \(hex(storedCRC)), the data gives \(hex(crc)) (corrupt data)")
                }
                guard storedSize == UInt32(truncatingIfNeeded: output.count - start) else {
                    throw FileFormatError("gzip member \(member): length mismatch: the trailer says \(storedSize) bytes (mod 2^32), the data has \(output.count - start)")
                }
                position += 8
            }
            return output.take()
        }
    }

    /// The offset of member `member`'s deflate stream, after its header at `start` (RFC 1952 §2.3):
    /// ID1 ID2 CM FLG MTIME(4) XFL OS, then the optional extra field, name, comment and CRC-16.
    private static func skipHeader(_ input: UnsafeBufferPointer<UInt8>, at start: Int, member: Int) throws -> Int {
        func truncated() -> FileFormatError {
            FileFormatError("truncated: the data ends inside the header of gzip member \(member)")
        }
        guard input.count - start >= 10 else { throw truncated() }
        let method = input[start + 2], flags = input[start + 3]
        guard method == 8 else {
            throw FileFormatError("gzip member \(member): unsupported compression method \(method) (only 8, deflate, exists)")
        }
        guard flags & 0xE0 == 0 else {
            throw FileFormatError("gzip member \(member): reserved header flag bits are set (flags \(hex(UInt32(flags), digits: 2)))")
        }
        var p = start + 10
        if flags & 0x04 != 0 {  // FEXTRA: a 2-byte length, then that many bytes
            guard input.count - p >= 2 else { throw truncated() }
            let length = Int(input[p]) | Int(input[p + 1]) << 8
            guard input.count - p - 2 >= length else { throw truncated() }
            p += 2 + length
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            guard let zero = input[p...].firstIndex(of: 0) else { throw truncated() }
            p = zero + 1
        }
        if flags & 0x02 != 0 {  // FHCRC: the low 16 bits of the CRC-32 of the header so far
            guard input.count - p >= 2 else { throw truncated() }
            let stored = UInt32(input[p]) | UInt32(input[p + 1]) << 8
            let computed = crc32(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[start..<p])) & 0xFFFF
            guard stored == computed else {
                throw FileFormatError("gzip member \(member): header CRC-16 mismatch: the header says \(hex(stored, digits: 4)), it gives \(hex(computed, digits: 4))")
            }
            p += 2
        }
        return p
    }

    /// The output capacity to start with: the last member's ISIZE (the whole output when there is
    /// one member), capped by deflate's largest ratio (1032:1) and 1 GiB, since it may be garbage.
    private static func sizeHint(_ input: UnsafeBufferPointer<UInt8>) -> Int {
        guard input.count >= 18 else { return 1024 }
        let stated = Int(littleEndian32(input, at: input.count - 4))
        let (ratioCap, overflow) = input.count.multipliedReportingOverflow(by: 1032)
        return max(1024, min(stated, overflow ? Int.max : ratioCap, 1 << 30))
    }

    private static func littleEndian32(_ input: UnsafeBufferPointer<UInt8>, at p: Int) -> UInt32 {
        UInt32(input[p]) | UInt32(input[p + 1]) << 8 | UInt32(input[p + 2]) << 16 | UInt32(input[p + 3]) << 24
    }

    private static func hex(_ v: UInt32, digits: Int = 8) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}

/// The CRC-32 of gzip, zlib and PNG (polynomial 0xEDB88320, reflected), continuing from `crc`.
///
/// Slicing-by-8 (Intel's method as in zlib's `crc32_little`): eight 256-entry tables, eight bytes
/// per step.
func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    crcTables.withUnsafeBufferPointer { t in
        var c = ~crc, i = 0
        let n = bytes.count
        guard let p = bytes.baseAddress else { return crc }
        while n - i >= 8 {
            let a = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
            let b = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
            c = t[7 * 256 + Int(a & 0xFF)] ^ t[6 * 256 + Int(a >> 8 & 0xFF)] ^ t[5 * 256 + Int(a >> 16 & 0xFF)] ^ t[4 * 256 + Int(a >> 24)]
                ^ t[3 * 256 + Int(b & 0xFF)] ^ t[2 * 256 + Int(b >> 8 & 0xFF)] ^ t[256 + Int(b >> 16 & 0xFF)] ^ t[Int(b >> 24)]
            i += 8
        }
        while i < n {
            c = t[Int((c ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ c >> 8
            i += 1
        }
        return ~c
    }
}

/// `crcTables[k·256 + b]`: the CRC of byte `b` followed by `k` zero bytes.
private let crcTables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for b in 0..<256 {
        var c = UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ c >> 1 : c >> 1 }
        t[b] = c
    }
    for k in 1..<8 {
        for b in 0..<256 { t[k * 256 + b] = t[(k - 1) * 256 + b] >> 8 ^ t[Int(t[(k - 1) * 256 + b] & 0xFF)] }
    }
    return t
}()

/// A growable byte buffer from `malloc`, handed to `Data` without a copy.
final class OutputBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Bytes written; the caller writes at `base + count` and advances it.
    var count = 0
    private var owned = true

    init(capacity: Int) throws {
        guard let p = malloc(capacity) else { throw FileFormatError("cannot allocate \(capacity) bytes for the decompressed data") }
        base = p.bindMemory(to: UInt8.self, capacity: capacity)
        self.capacity = capacity
    }

    deinit {
        if owned { free(base) }
    }

    /// Makes room for `extra` more bytes, at least doubling the capacity when it grows.
    func reserve(_ extra: Int) throws {
        guard extra > capacity - count else { return }
        let (needed, o1) = count.addingReportingOverflow(extra), (doubled, o2) = capacity.multipliedReportingOverflow(by: 2)
        guard !o1 else { throw FileFormatError("the decompressed data is too large") }
        let newCapacity = o2 ? needed : max(needed, doubled)
        guard let p = realloc(base, newCapacity) else {
            throw FileFormatError("cannot allocate \(newCapacity) bytes for the decompressed data")
        }
        base = p.bindMemory(to: UInt8.self, capacity: newCapacity)
        capacity = newCapacity
    }

    /// The bytes written, as `Data` that frees the buffer; the buffer must not be used afterwards.
    func take() -> Data {
        guard count > 0 else { return Data() }
        if capacity - count > 4096, let p = realloc(base, count) {  // give back an over-large hint
            base = p.bindMemory(to: UInt8.self, capacity: count)
        }
        owned = false
        return Data(bytesNoCopy: base, count: count, deallocator: .free)
    }
}
