import Foundation
import Recurrent

/// One node of a graph, checked when the model loads: a supported operator of the default domain,
/// a number of inputs and outputs it takes, only the attributes it has at the model's opset. Its
/// `apply` runs the operator with ONNX's semantics for that opset (opsets 7 to 22), each shape
/// checked and each failure a one-line ``ONNXError`` naming the node.
struct ONNXNode {
    let proto: Onnx_NodeProto
    /// The node's name, or `<op> #<index>` when it has none.
    let label: String
    /// The default domain's opset of the model.
    let opset: Int
    let attributes: [String: Onnx_AttributeProto]
    var op: String { proto.opType }
    /// The input names, "" where an optional input is not given.
    var inputs: [String] { proto.input }
    var outputs: [String] { proto.output }

    /// The operators the interpreter runs (besides LSTM, GRU and RNN, read by ``ONNXRecurrentNode``).
    static let operators = ["Add", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Expand", "Gather", "Gemm",
                            "Identity", "MatMul", "Mul", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Split",
                            "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze"]
    static let recurrentOperators: Set = ["LSTM", "GRU", "RNN"]

    /// Whether the node is an LSTM, GRU or RNN.
    var isRecurrent: Bool { Self.recurrentOperators.contains(op) }

    /// The attributes `op` has at `opset` (ONNX's operator changelog), nil for an unknown operator.
    static func attributes(of op: String, opset: Int) -> Set<String>? {
        switch op {
        case "Identity", "Expand", "MatMul", "Add", "Sub", "Mul", "Div", "Tanh", "Relu", "Sigmoid": []
        case "Constant": ["value", "value_float", "value_floats", "value_int", "value_ints"]
        case "Shape": opset >= 15 ? ["start", "end"] : []
        case "Gather", "Concat": ["axis"]
        case "Unsqueeze", "Squeeze": opset < 13 ? ["axes"] : []
        case "ConstantOfShape": ["value"]
        case "Transpose": ["perm"]
        case "Slice": opset < 10 ? ["starts", "ends", "axes"] : []
        case "Reshape": opset >= 14 ? ["allowzero"] : []
        case "Cast": opset >= 19 ? ["to", "saturate"] : ["to"]
        case "Gemm": ["alpha", "beta", "transA", "transB"]
        case "Split": opset >= 18 ? ["axis", "num_outputs"] : opset >= 13 ? ["axis"] : ["axis", "split"]
        default: nil
        }
    }

    /// The type of each attribute the operators above take.
    static let attributeTypes: [String: Onnx_AttributeProto.AttributeType] = [
        "axis": .int, "allowzero": .int, "start": .int, "end": .int, "to": .int, "transA": .int, "transB": .int,
        "num_outputs": .int, "saturate": .int, "value_int": .int, "axes": .ints, "perm": .ints, "starts": .ints,
        "ends": .ints, "split": .ints, "value_ints": .ints, "alpha": .float, "beta": .float, "value_float": .float,
        "value_floats": .floats, "value": .tensor,
    ]

    /// How many inputs `op` takes at `opset` (the optional ones included in the upper bound).
    static func inputCount(of op: String, opset: Int) -> ClosedRange<Int> {
        switch op {
        case "Constant": 0...0
        case "Gather", "Expand", "Reshape", "MatMul", "Add", "Sub", "Mul", "Div": 2...2
        case "Unsqueeze": opset < 13 ? 1...1 : 2...2
        case "Squeeze", "Split": opset < 13 ? 1...1 : 1...2
        case "Slice": opset < 10 ? 1...1 : 3...5
        case "Gemm": opset < 11 ? 3...3 : 2...3
        case "Concat": 1...Int.max
        default: 1...1
        }
    }

    init(_ proto: Onnx_NodeProto, index: Int, opset: Int) throws {
        self.proto = proto
        self.opset = opset
        label = proto.name.isEmpty ? "\(proto.opType) #\(index)" : proto.name
        var attributes: [String: Onnx_AttributeProto] = [:]
        for a in proto.attribute { attributes[a.name] = a }
        self.attributes = attributes
        guard proto.domain == "" || proto.domain == "ai.onnx" else {
            throw ONNXError("node '\(label)': operator \(proto.domain).\(proto.opType) is not supported (Recurrent runs the default domain only)")
        }
        if isRecurrent { return }  // ONNXRecurrentNode checks its attributes, inputs and outputs
        guard let known = Self.attributes(of: op, opset: opset) else {
            throw ONNXError("node '\(label)': operator \(op) is not supported (Recurrent runs LSTM, GRU, RNN, \(Self.operators.joined(separator: ", ")))")
        }
        for a in proto.attribute {
            guard known.contains(a.name) else {
                throw fail("attribute '\(a.name)' is not supported at opset \(opset)" + (known.isEmpty ? "" : " (known: \(known.sorted().joined(separator: ", ")))"))
            }
            if let type = Self.attributeTypes[a.name], a.type != type { throw fail("attribute '\(a.name)' must be of type \(type), got \(a.type)") }
        }
        let count = Self.inputCount(of: op, opset: opset)
        guard count.contains(proto.input.count) else {
            throw fail("has \(proto.input.count) inputs; at opset \(opset) the operator takes " + (count.upperBound == Int.max ? "at least \(count.lowerBound)" : count.count == 1 ? "\(count.lowerBound)" : "\(count.lowerBound) to \(count.upperBound)"))
        }
        guard op == "Split" ? !proto.output.isEmpty : proto.output.count == 1 else {
            throw fail("has \(proto.output.count) outputs; the operator gives " + (op == "Split" ? "at least one" : "one"))
        }
    }

    func fail(_ message: String) -> ONNXError { ONNXError("\(op) node '\(label)': \(message)") }

    // MARK: Attributes, each read with its type checked

    func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws -> Onnx_AttributeProto? {
        guard let a = attributes[name] else { return nil }
        guard a.type == type else { throw fail("attribute '\(name)' must be of type \(type), got \(a.type)") }
        return a
    }

    func int(_ name: String) throws -> Int? { try attribute(name, .int).map { Int($0.i) } }
    func int(_ name: String, default d: Int) throws -> Int { try int(name) ?? d }
    func ints(_ name: String) throws -> [Int]? { try attribute(name, .ints).map { $0.ints.map { Int($0) } } }
    func float(_ name: String, default d: Float) throws -> Float {
        guard let f = try attribute(name, .float)?.f else { return d }
        guard f.isFinite else { throw fail("attribute '\(name)' is \(f)") }
        return f
    }
    func tensor(_ name: String) throws -> ONNXValue? {
        try attribute(name, .tensor).map { try $0.t.decoded("\(op) node '\(label)': attribute '\(name)'") }
    }

    // MARK: Inputs

    /// Input `i`, which must be given.
    func required(_ values: [ONNXValue?], _ i: Int, _ what: String) throws -> ONNXValue {
        guard i < values.count, let v = values[i] else { throw fail("input \(what) is missing") }
        return v
    }

    /// An integer vector (rank 0 or 1): axes, shapes, starts, indices.
    func intVector(_ v: ONNXValue, _ what: String) throws -> [Int] {
        guard let ints = v.ints else { throw fail("\(what) must be an integer tensor, got float") }
        guard v.shape.count <= 1 else { throw fail("\(what) must be a vector, got shape \(v.shape)") }
        return ints
    }

    /// `axis` in `-rank..<rank` as an index into the dimensions.
    func normalized(axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
        guard axis >= -rank, axis < rank else { throw fail("\(what) \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    /// Axes normalised against `rank`, each at most once.
    func normalized(axes: [Int], rank: Int) throws -> [Int] {
        let n = try axes.map { try normalized(axis: $0, rank: rank) }
        guard Set(n).count == n.count else { throw fail("axes \(axes) name an axis twice") }
        return n
    }

    /// Throws unless a result of `shape` is small enough to compute.
    func checkSize(_ shape: [Int]) throws {
        guard checkedCount(shape) != nil else { throw fail("the result \(shape) would hold more than \(ONNXValue.maxElements) elements") }
    }

    /// Runs the (non-recurrent) operator on its inputs ("" inputs as nil); returns its outputs in order.
    func apply(_ x: [ONNXValue?]) throws -> [ONNXValue] {
        switch op {
        case "Identity": return [try required(x, 0, "input")]
        case "Constant": return [try constant()]
        case "Shape": return [try shape(required(x, 0, "data"))]
        case "Gather": return [try gather(required(x, 0, "data"), required(x, 1, "indices"))]
        case "Unsqueeze": return [try unsqueeze(x)]
        case "Squeeze": return [try squeeze(x)]
        case "Concat": return [try concat(x)]
        case "ConstantOfShape": return [try constantOfShape(required(x, 0, "input"))]
        case "Expand": return [try expand(required(x, 0, "input"), required(x, 1, "shape"))]
        case "Transpose": return [try transpose(required(x, 0, "data"))]
        case "Slice": return [try slice(x)]
        case "Reshape": return [try reshape(required(x, 0, "data"), required(x, 1, "shape"))]
        case "Split": return try split(x)
        case "Cast": return [try cast(required(x, 0, "input"))]
        case "Add", "Sub", "Mul", "Div": return [try binary(required(x, 0, "A"), required(x, 1, "B"))]
        case "MatMul": return [try matMul(required(x, 0, "A"), required(x, 1, "B"))]
        case "Gemm": return [try gemm(required(x, 0, "A"), required(x, 1, "B"), x.count > 2 ? x[2] : nil)]
        case "Tanh", "Relu", "Sigmoid": return [try unary(required(x, 0, "X"))]
        default: throw fail("operator \(op) is not supported")
        }
    }

    /// `Constant`: exactly one of `value`, `value_float(s)`, `value_int(s)`.
    func constant() throws -> ONNXValue {
        guard proto.attribute.count == 1 else { throw fail("needs exactly one value attribute, has \(proto.attribute.count)") }
        if let t = try tensor("value") { return t }
        if let a = try attribute("value_float", .float) { return ONNXValue(shape: [], floats: [a.f]) }
        if let a = try attribute("value_floats", .floats) { return ONNXValue(shape: [a.floats.count], floats: a.floats) }
        if let i = try int("value_int") { return ONNXValue(shape: [], ints: [i]) }
        if let v = try ints("value_ints") { return ONNXValue(shape: [v.count], ints: v) }
        throw fail("needs one of value, value_float, value_floats, value_int, value_ints")
    }
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    for k in stride(from: shape.count - 2, through: 0, by: -1) { s[k] = s[k + 1] * shape[k + 1] }
    return s
}

/// The flat source position of every element of `shape` (row-major order) when axis `k` steps
/// `strides[k]` through the source, starting at `base`: transposes, slices and broadcasts.
func sourceOffsets(_ shape: [Int], strides: [Int], base: Int = 0) -> [Int] {
    let n = shape.reduce(1, *)
    var out: [Int] = []
    out.reserveCapacity(n)
    if n == 0 { return out }
    var index = [Int](repeating: 0, count: shape.count), offset = base
    for _ in 0..<n {
        out.append(offset)
        var k = shape.count - 1
        while k >= 0 {
            index[k] += 1
            offset += strides[k]
            if index[k] < shape[k] { break }
            offset -= strides[k] * shape[k]
            index[k] = 0
            k -= 1
        }
    }
    return out
}

/// NumPy's (ONNX's multidirectional) broadcast of two shapes, nil when they do not broadcast.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    var out: [Int] = []
    for k in 0..<r {
        let x = k < r - a.count ? 1 : a[k - (r - a.count)], y = k < r - b.count ? 1 : b[k - (r - b.count)]
        guard x == y || x == 1 || y == 1 else { return nil }
        out.append(x == 1 ? y : x)
    }
    return out
}

/// Strides that read a value of `shape` broadcast to `target` (0 along the broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let s = rowMajorStrides(shape), pad = target.count - shape.count
    return (0..<target.count).map { k in k < pad || shape[k - pad] == 1 ? 0 : s[k - pad] }
}
