import Foundation
import Recurrent

/// ONNX's `TensorProto.DataType` values that Recurrent reads.
enum ONNXDataType: Int32 {
    case float = 1, int32 = 6, int64 = 7, double = 11

    var name: String { "\(self)" }
}

/// An initializer or constant read from a file: its dims and its values as Float (integer tensors,
/// such as shapes and sequence lengths, are exact below 2²⁴) or, for integer types, as Int.
struct ONNXTensorValue {
    var dims: [Int]
    var floats: [Float]
    var ints: [Int]?

    var count: Int { floats.count }
    var data: TensorData { TensorData(shape: dims, scalars: floats) }
}

extension Onnx_TensorProto {
    /// The values, checked against the dims: known data type, no external data, a payload of
    /// exactly `product(dims)` elements.
    func decoded() throws -> ONNXTensorValue {
        let what = "initializer '\(name)'"
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
            case .float: return ONNXTensorValue(dims: dims, floats: (0..<count).map { Float(bitPattern: word($0, UInt32.self)) })
            case .double: return ONNXTensorValue(dims: dims, floats: (0..<count).map { Float(Double(bitPattern: word($0, UInt64.self))) })
            case .int32:
                let ints = (0..<count).map { Int(Int32(bitPattern: word($0, UInt32.self))) }
                return ONNXTensorValue(dims: dims, floats: ints.map(Float.init), ints: ints)
            case .int64:
                let ints = (0..<count).map { Int(Int64(bitPattern: word($0, UInt64.self))) }
                return ONNXTensorValue(dims: dims, floats: ints.map(Float.init), ints: ints)
            }
        }
        switch type {
        case .float:
            guard floatData.count == count else { throw mismatch(floatData.count) }
            return ONNXTensorValue(dims: dims, floats: floatData)
        case .double:
            guard doubleData.count == count else { throw mismatch(doubleData.count) }
            return ONNXTensorValue(dims: dims, floats: doubleData.map(Float.init))
        case .int32:
            guard int32Data.count == count else { throw mismatch(int32Data.count) }
            let ints = int32Data.map { Int($0) }
            return ONNXTensorValue(dims: dims, floats: ints.map(Float.init), ints: ints)
        case .int64:
            guard int64Data.count == count else { throw mismatch(int64Data.count) }
            let ints = int64Data.map { Int($0) }
            return ONNXTensorValue(dims: dims, floats: ints.map(Float.init), ints: ints)
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
