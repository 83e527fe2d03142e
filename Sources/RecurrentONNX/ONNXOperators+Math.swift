import Foundation

/// The arithmetic operators: elementwise with NumPy broadcasting, `MatMul`, `Gemm` (a `Linear`
/// head), `Cast`, and the activations an unrolled recurrence uses.
extension ONNXNode {
    /// `Add`, `Sub`, `Mul`, `Div` with multidirectional broadcasting; both inputs of one type.
    /// Integer arithmetic wraps as ONNX Runtime's does; integer division truncates, and a division
    /// by zero is an error.
    func binary(_ a: ONNXValue, _ b: ONNXValue) throws -> ONNXValue {
        guard let shape = broadcastShape(a.shape, b.shape) else { throw fail("shapes \(a.shape) and \(b.shape) do not broadcast") }
        try checkSize(shape)
        let ia = sourceOffsets(shape, strides: broadcastStrides(a.shape, to: shape))
        let ib = sourceOffsets(shape, strides: broadcastStrides(b.shape, to: shape))
        switch (a.elements, b.elements) {
        case (.float(let x), .float(let y)):
            let f: (Float, Float) -> Float = switch op { case "Add": (+); case "Sub": (-); case "Mul": (*); default: (/) }
            return ONNXValue(shape: shape, floats: zip(ia, ib).map { f(x[$0], y[$1]) })
        case (.int(let x), .int(let y)):
            let values = try zip(ia, ib).map { i, j -> Int in
                switch op {
                case "Add": return x[i] &+ y[j]
                case "Sub": return x[i] &- y[j]
                case "Mul": return x[i] &* y[j]
                default:
                    guard y[j] != 0 else { throw fail("integer division by zero") }
                    return x[i].dividedReportingOverflow(by: y[j]).partialValue
                }
            }
            return ONNXValue(shape: shape, ints: values)
        default:
            throw fail("inputs are \(a.typeName) and \(b.typeName); both must be of one type")
        }
    }

    /// `MatMul` with NumPy's semantics: `[…, M, K] · […, K, N]` → `[…, M, N]`, leading axes
    /// broadcast, a vector operand promoted and its axis removed again. Float only.
    func matMul(_ a: ONNXValue, _ b: ONNXValue) throws -> ONNXValue {
        guard case .float(let x) = a.elements, case .float(let y) = b.elements else { throw fail("MatMul of \(a.typeName) and \(b.typeName); Recurrent multiplies floats only") }
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw fail("operands \(a.shape) and \(b.shape) must have rank at least 1") }
        let sa = a.shape.count == 1 ? [1] + a.shape : a.shape, sb = b.shape.count == 1 ? b.shape + [1] : b.shape
        let (M, K, K2, N) = (sa[sa.count - 2], sa[sa.count - 1], sb[sb.count - 2], sb[sb.count - 1])
        guard K == K2 else { throw fail("shapes \(a.shape) and \(b.shape) do not multiply (\(K) ≠ \(K2))") }
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        guard let batch = broadcastShape(batchA, batchB) else { throw fail("batch axes of \(a.shape) and \(b.shape) do not broadcast") }
        var shape = batch + [M, N]
        try checkSize(shape)
        let offA = sourceOffsets(batch, strides: broadcastStrides(batchA, to: batch).map { $0 * M * K })
        let offB = sourceOffsets(batch, strides: broadcastStrides(batchB, to: batch).map { $0 * K * N })
        var out = [Float](repeating: 0, count: shape.reduce(1, *))
        for (n, (oa, ob)) in zip(offA, offB).enumerated() {
            let oc = n * M * N
            for i in 0..<M {
                for k in 0..<K {
                    let v = x[oa + i * K + k]
                    for j in 0..<N { out[oc + i * N + j] += v * y[ob + k * N + j] }
                }
            }
        }
        if a.shape.count == 1 { shape.remove(at: shape.count - 2) }
        if b.shape.count == 1 { shape.removeLast() }
        return ONNXValue(shape: shape, floats: out)
    }

    /// `Gemm`: `alpha · A' · B' + beta · C` with `A'` `[M, K]`, `B'` `[K, N]` (each transposed when
    /// `transA` / `transB`) and `C` broadcast to `[M, N]` (optional from opset 11). Float only.
    func gemm(_ a: ONNXValue, _ b: ONNXValue, _ c: ONNXValue?) throws -> ONNXValue {
        guard case .float(let x) = a.elements, case .float(let y) = b.elements else { throw fail("Gemm of \(a.typeName) and \(b.typeName); Recurrent multiplies floats only") }
        guard a.shape.count == 2, b.shape.count == 2 else { throw fail("A \(a.shape) and B \(b.shape) must be matrices") }
        let transA = try int("transA", default: 0) != 0, transB = try int("transB", default: 0) != 0
        let alpha = try float("alpha", default: 1), beta = try float("beta", default: 1)
        let (M, K) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (K2, N) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard K == K2 else { throw fail("A \(a.shape) and B \(b.shape) do not multiply (transA \(transA ? 1 : 0), transB \(transB ? 1 : 0))") }
        try checkSize([M, N])
        var out = [Float](repeating: 0, count: M * N)
        for i in 0..<M {
            for k in 0..<K {
                let v = alpha * x[transA ? k * M + i : i * K + k]
                for j in 0..<N { out[i * N + j] += v * y[transB ? j * K + k : k * N + j] }
            }
        }
        if let c {
            guard case .float(let z) = c.elements else { throw fail("C must be float, got \(c.typeName)") }
            // Unidirectional: C broadcasts to [M, N], never the other way.
            guard c.shape.count <= 2, broadcastShape(c.shape, [M, N]) == [M, N] else { throw fail("C \(c.shape) does not broadcast to [\(M), \(N)]") }
            for (i, o) in sourceOffsets([M, N], strides: broadcastStrides(c.shape, to: [M, N])).enumerated() { out[i] += beta * z[o] }
        }
        return ONNXValue(shape: [M, N], floats: out)
    }

    /// `Cast` to float (1), int32 (6) or int64 (7): floats to integers truncate toward zero (a NaN,
    /// an infinity or a value out of range is an error); int32 results are held as integers.
    func cast(_ input: ONNXValue) throws -> ONNXValue {
        guard let to = try int("to") else { throw fail("attribute 'to' is required") }
        switch (to, input.elements) {
        case (1, _): return ONNXValue(shape: input.shape, floats: input.floats)
        case (6, .int(let v)), (7, .int(let v)):
            if to == 6, let bad = v.first(where: { $0 < Int32.min || $0 > Int32.max }) { throw fail("cannot cast \(bad) to int32") }
            return input
        case (6, .float(let v)), (7, .float(let v)):
            let (low, high) = to == 6 ? (Double(Int32.min), Double(Int32.max)) : (-9.2e18, 9.2e18)
            let ints = try v.map { f -> Int in
                guard f.isFinite, Double(f) >= low, Double(f) <= high else { throw fail("cannot cast \(f) to \(to == 6 ? "int32" : "int64")") }
                return Int(f.rounded(.towardZero))
            }
            return ONNXValue(shape: input.shape, ints: ints)
        default:
            throw fail("cast to data type \(to) is not supported (Recurrent computes in float (1), int32 (6) and int64 (7))")
        }
    }

    /// `Tanh`, `Relu`, `Sigmoid` (float).
    func unary(_ x: ONNXValue) throws -> ONNXValue {
        guard case .float(let v) = x.elements else { throw fail("input must be float, got \(x.typeName)") }
        let f: (Float) -> Float = switch op {
        case "Tanh": { Foundation.tanh($0) }
        case "Relu": { max($0, 0) }
        default: { 1 / (1 + Foundation.exp(-$0)) }
        }
        return ONNXValue(shape: x.shape, floats: v.map(f))
    }
}
