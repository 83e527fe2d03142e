import Foundation
import Recurrent

extension ONNXRecurrentNode {
    /// Runs the node on the graph's values: ONNX's inputs to Recurrent's time-major ones, the
    /// layer, and back to ONNX's outputs (`Y` `[T, D, B, H]`, `Y_h` / `Y_c` `[D, B, H]`; batch
    /// first with `layout=1`).
    func run(_ model: RecurrentModel, values: inout [String: ONNXValue]) throws {
        func fail(_ s: String) -> ONNXError { ONNXError("\(kind.rawValue.uppercased()) node '\(name)': \(s)") }
        guard let x = values[inputNames.x] else { throw fail("input X '\(inputNames.x)' has no value") }
        guard x.isFloat else { throw fail("X must be float, got \(x.typeName)") }
        guard x.shape.count == 3, x.shape[2] == inputSize, x.shape[0] > 0, x.shape[1] > 0 else {
            throw fail("X is \(x.shape), expected \(layout == 0 ? "[T, B, \(inputSize)]" : "[B, T, \(inputSize)]")")
        }
        let (T, B) = layout == 0 ? (x.shape[0], x.shape[1]) : (x.shape[1], x.shape[0])
        let D = directions, H = hiddenSize, I = inputSize
        var input = layout == 0 ? x.floats : swap01(x.floats, x.shape[0], x.shape[1], x.shape[2])
        func state(_ name: String, _ what: String) throws -> Tensor? {
            if name.isEmpty { return nil }
            guard let v = values[name] else { throw fail("input \(what) '\(name)' has no value") }
            let expected = layout == 0 ? [D, B, H] : [B, D, H]
            guard v.isFloat, v.shape == expected else { throw fail("\(what) is \(v.typeName) \(v.shape), expected float \(expected)") }
            return Tensor(shape: [D, B, H], scalars: layout == 0 ? v.floats : swap01(v.floats, B, D, H))
        }
        let h0 = try state(inputNames.initialH, "initial_h"), c0 = try state(inputNames.initialC, "initial_c")
        var lengths: [Int]?
        if !inputNames.sequenceLens.isEmpty {
            guard let v = values[inputNames.sequenceLens] else { throw fail("input sequence_lens '\(inputNames.sequenceLens)' has no value") }
            guard v.shape == [B] else { throw fail("sequence_lens is \(v.shape), expected [\(B)]") }
            let l = try v.floats.map { s -> Int in
                guard s == s.rounded(), s >= 1, s <= Float(T) else { throw fail("sequence_lens holds \(s); each length must be a whole number in 1...\(T)") }
                return Int(s)
            }
            if l.contains(where: { $0 != T }) { lengths = l }
        }
        // A reverse-only node is the forward layer run on each sequence reversed within its length.
        func reversed(_ v: [Float], features F: Int) -> [Float] {
            var r = v
            for b in 0..<B {
                let len = lengths?[b] ?? T
                for t in 0..<len { for f in 0..<F { r[(t * B + b) * F + f] = v[((len - 1 - t) * B + b) * F + f] } }
            }
            return r
        }
        if direction == .reverse { input = reversed(input, features: I) }
        let r: (output: Tensor, h: Tensor, c: Tensor?, prediction: Tensor?)
        do {
            r = try withoutGradients { try model(Tensor(shape: [T, B, I], scalars: input), h0: h0, c0: c0, lengths: lengths) }
        } catch {
            throw fail("\(error)")
        }
        var y = r.output.scalars  // [T, B, D·H]
        if direction == .reverse { y = reversed(y, features: H) }
        // [T, B, D, H] → [T, D, B, H] (layout 0) or [B, T, D, H] (layout 1).
        var yOut = [Float](repeating: 0, count: y.count)
        for t in 0..<T { for b in 0..<B { for d in 0..<D { for h in 0..<H {
            let src = ((t * B + b) * D + d) * H + h
            let dst = layout == 0 ? ((t * D + d) * B + b) * H + h : ((b * T + t) * D + d) * H + h
            yOut[dst] = y[src]
        } } } }
        func stateOut(_ s: Tensor) -> ONNXValue {
            layout == 0 ? ONNXValue(shape: [D, B, H], floats: s.scalars) : ONNXValue(shape: [B, D, H], floats: swap01(s.scalars, D, B, H))
        }
        if !outputNames.y.isEmpty { values[outputNames.y] = ONNXValue(shape: layout == 0 ? [T, D, B, H] : [B, T, D, H], floats: yOut) }
        if !outputNames.yH.isEmpty { values[outputNames.yH] = stateOut(r.h) }
        if !outputNames.yC.isEmpty, let c = r.c { values[outputNames.yC] = stateOut(c) }
    }
}

/// `[A, B, F]` → `[B, A, F]`.
func swap01(_ v: [Float], _ a: Int, _ b: Int, _ f: Int) -> [Float] {
    var r = v
    for i in 0..<a { for j in 0..<b { for k in 0..<f { r[(j * a + i) * f + k] = v[(i * b + j) * f + k] } } }
    return r
}
