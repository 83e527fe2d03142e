import Foundation
import Recurrent

/// ONNX's `TensorProto.DataType` values that Recurrent reads.
enum ONNXDataType: Int32 {
    case float = 1, int32 = 6, int64 = 7, double = 11

    var name: String { "\(self)" }
}

/// A value in a graph Recurrent runs: a float32 tensor (the data) or an integer tensor (shape
/// plumbing: shapes, axes, indices, lengths; ONNX's int32 and int64 both held as Swift `Int`).
struct ONNXValue {
    /// The elements, in row-major order.
    enum Elements {
        case float([Float])
        case int([Int])
    }

    /// The most elements a value computed while running a graph may hold (2²⁶, 256 MiB as floats):
    /// an `Expand` or `ConstantOfShape` whose shape comes from a file cannot exhaust memory.
    static let maxElements = 1 << 26

    /// The dimensions; `[]` for a scalar.
    var shape: [Int]
    var elements: Elements

    init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "ONNXValue: shape \(shape) for \(floats.count) values")
        self.shape = shape
        elements = .float(floats)
    }

    init(shape: [Int], ints: [Int]) {
        precondition(shape.reduce(1, *) == ints.count, "ONNXValue: shape \(shape) for \(ints.count) values")
        self.shape = shape
        elements = .int(ints)
    }

    /// The dimensions (the name the recurrent node's code uses).
    var dims: [Int] { shape }
    var count: Int {
        switch elements {
        case .float(let v): v.count
        case .int(let v): v.count
        }
    }
    var isFloat: Bool { if case .float = elements { true } else { false } }
    /// `float` or `int64`, for messages.
    var typeName: String { isFloat ? "float" : "int64" }
    /// The values as floats (integers converted).
    var floats: [Float] {
        switch elements {
        case .float(let v): v
        case .int(let v): v.map(Float.init)
        }
    }
    /// The values of an integer tensor, nil for a float one.
    var ints: [Int]? { if case .int(let v) = elements { v } else { nil } }
    /// As the library's tensor data (integers as whole floats, marked `i64`).
    var data: TensorData { TensorData(shape: shape, scalars: floats, dtype: isFloat ? .f32 : .i64) }

    /// The elements at `indices` (flat positions in this value), shaped `shape`: every operator
    /// that only moves elements (Transpose, Slice, Gather, Concat, Expand, Split) is one call.
    func gathered(_ indices: [Int], shape: [Int]) -> ONNXValue {
        switch elements {
        case .float(let v): ONNXValue(shape: shape, floats: indices.map { v[$0] })
        case .int(let v): ONNXValue(shape: shape, ints: indices.map { v[$0] })
        }
    }

    /// The same elements under another shape of the same element count.
    func reshaped(_ shape: [Int]) -> ONNXValue {
        var r = self
        r.shape = shape
        return r
    }
}

/// The product of `shape`, or nil when a dimension is negative or the product exceeds
/// ``ONNXValue/maxElements``.
func checkedCount(_ shape: [Int]) -> Int? {
    var count = 1
    for d in shape {
        guard d >= 0 else { return nil }
        let (c, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow, c <= ONNXValue.maxElements else { return nil }
        count = c
    }
    return count
}

extension Onnx_TensorProto {
    /// The values, checked against the dims: known data type, no external data, a payload of
    /// exactly `product(dims)` elements (doubles become floats; int32 and int64 stay integers).
    func decoded(_ what: String? = nil) throws -> ONNXValue {
        let what = what ?? "initializer '\(name)'"
        if dataLocation == .external || !externalData.isEmpty {
            throw ONNXError("\(what) keeps its data in an external file, which Recurrent does not read (save the model with its data inside: onnx.save(model, path, save_as_external_data=False))")
        }
        var dims: [Int] = []
        var count = 1
        for d in self.dims {
            guard d >= 0, d <= Int64(Int32.max) else { throw ONNXError("\(what) has a negative or huge dimension \(d)") }
            let (c, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, c <= 1 << 28 else { throw ONNXError("\(what): dims \(self.dims) hold too many elements") }
            dims.append(Int(d))
            count = c
        }
        guard let type = ONNXDataType(rawValue: dataType) else {
            throw ONNXError("\(what) has data type \(dataType), Recurrent reads float (1), double (11), int32 (6) and int64 (7)")
        }
        func mismatch(_ n: Int) -> ONNXError { ONNXError("\(what): dims \(dims) need \(count) values, the data holds \(n)") }
        if hasRawData {
            let size: Int = switch type { case .float, .int32: 4; case .int64, .double: 8 }
            guard rawData.count == count * size else { throw mismatch(rawData.count / size) }
            let bytes = [UInt8](rawData)
            func word<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
                var v: T = 0
                for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[i * MemoryLayout<T>.size + k]) << (8 * k) }
                return v
            }
            switch type {
            case .float: return ONNXValue(shape: dims, floats: (0..<count).map { Float(bitPattern: word($0, UInt32.self)) })
            case .double: return ONNXValue(shape: dims, floats: (0..<count).map { Float(Double(bitPattern: word($0, UInt64.self))) })
            case .int32: return ONNXValue(shape: dims, ints: (0..<count).map { Int(Int32(bitPattern: word($0, UInt32.self))) })
            case .int64: return ONNXValue(shape: dims, ints: (0..<count).map { Int(Int64(bitPattern: word($0, UInt64.self))) })
            }
        }
        switch type {
        case .float:
            guard floatData.count == count else { throw mismatch(floatData.count) }
            return ONNXValue(shape: dims, floats: floatData)
        case .double:
            guard doubleData.count == count else { throw mismatch(doubleData.count) }
            return ONNXValue(shape: dims, floats: doubleData.map(Float.init))
        case .int32:
            guard int32Data.count == count else { throw mismatch(int32Data.count) }
            return ONNXValue(shape: dims, ints: int32Data.map { Int($0) })
        case .int64:
            guard int64Data.count == count else { throw mismatch(int64Data.count) }
            return ONNXValue(shape: dims, ints: int64Data.map { Int($0) })
        }
    }

    /// A float tensor with its values as little-endian `raw_data` (what ONNX's own writers do).
    init(name: String, floats: [Float], dims: [Int]) {
        self.init()
        self.name = name
        self.dataType = ONNXDataType.float.rawValue
        self.dims = dims.map(Int64.init)
        var raw = Data(capacity: floats.count * 4)
        for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        self.rawData = raw
    }

    /// An int64 tensor (shapes, axes).
    init(name: String, int64s: [Int64], dims: [Int]) {
        self.init()
        self.name = name
        self.dataType = ONNXDataType.int64.rawValue
        self.dims = dims.map(Int64.init)
        self.int64Data = int64s
    }
}
