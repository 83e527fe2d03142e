import Foundation

/// A safetensors file: named tensors and optional string metadata (`__metadata__`).
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the data after the header), then
/// the data. Reading accepts F32, F64, F16, BF16, I64 and I32 (converted to Float32) and checks the
/// file as the reference implementation does: offsets must tile the data exactly (no gap, overlap
/// or trailing bytes) and each tensor's byte count must match its shape and dtype. Writing stores
/// F32, names sorted, the header padded with spaces to a multiple of 8 bytes.
public struct SafeTensorsFile: Sendable {
    /// The tensors by name.
    public var tensors: [String: TensorData]
    /// The `__metadata__` string pairs (empty when absent).
    public var metadata: [String: String]

    /// Creates a file's contents.
    public init(tensors: [String: TensorData] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The largest header accepted (as the reference implementation: 100 MB).
    static let maximumHeaderSize = 100_000_000

    /// Reads and validates a file (memory-mapped).
    /// - Throws: ``FileFormatError`` naming the file and the problem.
    public static func read(from url: URL) throws -> SafeTensorsFile {
        try decodeFile(at: url) { try SafeTensorsFile(decoding: $0) }
    }

    /// Decodes and validates the bytes of a safetensors file.
    /// - Throws: ``FileFormatError`` without a file name.
    public init(decoding data: Data) throws {
        guard data.count >= 8 else { throw FileFormatError("truncated: \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maximumHeaderSize) else { throw FileFormatError("header length \(headerLength) exceeds the limit of \(Self.maximumHeaderSize) bytes") }
        guard 8 + Int(headerLength) <= data.count else {
            throw FileFormatError("header length \(headerLength) is larger than the \(data.count - 8) bytes after it")
        }
        let start = data.startIndex
        let headerBytes = data[(start + 8)..<(start + 8 + Int(headerLength))]
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes), let header = json as? [String: Any] else {
            throw FileFormatError("header is not a JSON object")
        }
        let bufferLength = data.count - 8 - Int(headerLength)
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw FileFormatError("__metadata__ must map strings to strings") }
                metadata = m
                continue
            }
            guard let info = value as? [String: Any] else { throw FileFormatError("tensor '\(name)': entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw FileFormatError("tensor '\(name)': missing dtype") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw FileFormatError("tensor '\(name)': unsupported dtype '\(dtypeName)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shape = Self.integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw FileFormatError("tensor '\(name)': shape must be a list of non-negative integers")
            }
            guard let offsets = Self.integers(info["data_offsets"]), offsets.count == 2 else {
                throw FileFormatError("tensor '\(name)': data_offsets must be two integers")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        // The offsets must tile [0, bufferLength) exactly, in order.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expectedBegin = 0
        var tensors: [String: TensorData] = [:]
        let payload = start + 8 + Int(headerLength)
        for e in entries {
            guard e.begin <= e.end else { throw FileFormatError("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] end before they begin") }
            guard e.end <= bufferLength else {
                throw FileFormatError("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] reach past the \(bufferLength) data bytes")
            }
            guard e.begin == expectedBegin else {
                throw FileFormatError(e.begin < expectedBegin
                    ? "tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] overlap the previous tensor (which ends at \(expectedBegin))"
                    : "tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] leave a gap after byte \(expectedBegin)")
            }
            let (count, overflow) = e.shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, count.multipliedReportingOverflow(by: e.dtype.size).overflow == false,
                  count * e.dtype.size == e.end - e.begin else {
                throw FileFormatError("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] hold \(e.end - e.begin) bytes but shape \(e.shape) of \(e.dtype.rawValue) needs \(overflow ? "too many" : String(count * e.dtype.size))")
            }
            let scalars = data[(payload + e.begin)..<(payload + e.end)].withUnsafeBytes {
                count == 0 ? [] : TensorData.decode($0, offset: 0, count: count, dtype: e.dtype)
            }
            tensors[e.name] = TensorData(shape: e.shape, scalars: scalars, dtype: e.dtype)
            expectedBegin = e.end
        }
        guard expectedBegin == bufferLength else {
            throw FileFormatError("\(bufferLength - expectedBegin) bytes after the last tensor are not described by the header")
        }
        self.init(tensors: tensors, metadata: metadata)
    }

    /// `value` as a list of integers (JSON numbers without a fractional part), or nil.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        for item in list {
            guard let n = item as? NSNumber,
                  let i = Int(exactly: n.doubleValue), Double(n.int64Value) == n.doubleValue else { return nil }
            out.append(i)
        }
        return out
    }

    /// The file's bytes, every tensor stored as F32.
    public func encoded() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.scalars.count]] as [String: Any]
            offset += 4 * t.scalars.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            tensors[name]!.scalars.withUnsafeBufferPointer { buffer in
                // Float32 is stored little-endian; every platform Swift runs on is little-endian.
                out.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: UInt8.self),
                                               count: buffer.count * 4))
            }
        }
        return out
    }

    /// Writes the file atomically (temporary file in the same folder, then rename).
    public func write(to url: URL) throws {
        try writeAtomically(try encoded(), to: url)
    }
}
