import Foundation
import Testing
@testable import Recurrent

/// Traces: the recorded gates recompute the layer's output, tracing changes no result, and the
/// recorded ‖∂L/∂hₜ‖ equals the gradient of a state cut out of the sequence as a leaf.
@Suite struct TraceTests {
    @Test(arguments: ["lstm", "lstm-peephole", "lstm-layer-norm", "gru", "gru-reset-before", "rnn"])
    func gatesRecomputeTheOutput(_ kind: String) throws {
        let (I, H, T, B) = (3, 5, 6, 4)
        let layer: RecurrentLayer = switch kind {
        case "lstm": LSTM(inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true)
        case "lstm-peephole": LSTM(inputSize: I, hiddenSize: H, peephole: true)
        case "lstm-layer-norm": LSTM(inputSize: I, hiddenSize: H, layerNorm: true)
        case "gru": GRU(inputSize: I, hiddenSize: H, numLayers: 2)
        case "gru-reset-before": GRU(inputSize: I, hiddenSize: H, resetAfter: false)
        default: RNN(inputSize: I, hiddenSize: H, bidirectional: true)
        }
        let x = testTensor([T, B, I], seed: 1, requiresGrad: false)
        let plain = try layer.stack.run(x, h0: nil, c0: nil, layerName: kind).output
        let (output, gates) = try layer.trace(x)
        #expect(output.scalars == plain.scalars, "\(kind): tracing changed the output")
        let D = layer.bidirectional ? 2 : 1
        #expect(gates.count == layer.numLayers * D)
        let names = gates[0].map(\.name)
        switch layer {
        case is LSTM: #expect(names == ["i", "f", "g", "o", "c"])
        case is GRU: #expect(names == ["r", "z", "n"])
        default: #expect(names == ["h"])
        }
        // The last layer's forward direction: its output is computed from the recorded gates.
        let g = Dictionary(uniqueKeysWithValues: gates[(layer.numLayers - 1) * D].map { ($0.name, $0.values.scalars) })
        var previousH = [Float](repeating: 0, count: B * H), previousC = previousH
        for t in 0..<T {
            let out = output.narrowed(axis: 0, start: t, length: 1).scalars
            for b in 0..<B {
                for j in 0..<H {
                    let k = (t * B + b) * H + j, h: Float
                    switch layer {
                    case is LSTM:
                        let c = g["f"]![k] * previousC[b * H + j] + g["i"]![k] * g["g"]![k]
                        #expect(abs(c - g["c"]![k]) <= 1e-6 * max(1, abs(c)), "\(kind) c t=\(t)")
                        previousC[b * H + j] = g["c"]![k]
                        // (layer norm: the output tanh reads LN(c), so only c is recomputed there)
                        h = kind == "lstm-layer-norm" ? out[b * D * H + j] : g["o"]![k] * Foundation.tanh(g["c"]![k])
                    case is GRU: h = (1 - g["z"]![k]) * g["n"]![k] + g["z"]![k] * previousH[b * H + j]
                    default: h = g["h"]![k]
                    }
                    #expect(abs(h - out[b * D * H + j]) <= 2e-6, "\(kind) h t=\(t) b=\(b) j=\(j)")
                    previousH[b * H + j] = out[b * D * H + j]
                }
            }
        }
    }

    /// With unequal lengths the gates come back in the caller's row order, each row's equal to its
    /// sequence traced alone (zeros past its length).
    @Test func unequalLengthsKeepTheCallersOrder() throws {
        let gru = GRU(inputSize: 3, hiddenSize: 4, bidirectional: true)
        let x = testTensor([5, 3, 3], seed: 4, requiresGrad: false), lengths = [2, 5, 3]
        let (_, gates) = try gru.trace(x, lengths: lengths)
        for b in 0..<3 {
            let alone = try gru.trace(x.narrowed(axis: 0, start: 0, length: lengths[b]).narrowed(axis: 1, start: b, length: 1)).gates
            for (d, direction) in gates.enumerated() {
                for (k, gate) in direction.enumerated() {
                    let row = gate.values.narrowed(axis: 1, start: b, length: 1)
                    expectClose(row.narrowed(axis: 0, start: 0, length: lengths[b]).scalars, alone[d][k].values.scalars, rtol: 1e-6,
                                atol: 1e-7, "row \(b) direction \(d) \(gate.name)")
                    if lengths[b] < 5 { #expect(row.narrowed(axis: 0, start: lengths[b], length: 5 - lengths[b]).scalars.allSatisfy { $0 == 0 }) }
                }
            }
        }
    }

    @Test(arguments: [0, 3, 7, 10])
    func stateGradientNormsEqualALeafState(_ cut: Int) throws {
        let (I, H, T, B) = (2, 6, 12, 3)
        let rnn = RNN(inputSize: I, hiddenSize: H)
        let x = testTensor([T, B, I], seed: 2, requiresGrad: false), w = testTensor([B, H], seed: 3, requiresGrad: false)
        let lastStep = { (y: Tensor) in (y.narrowed(axis: 0, start: T - 1, length: 1).squeezed(at: 0) * w).sum() }
        let norms = try rnn.stateGradientNorms(x) { lastStep($0) }
        #expect(norms.count == 1 && norms[0].count == T)
        // The state after `cut` + 1 steps as a leaf, the rest of the sequence run from it.
        let head = try rnn(x.narrowed(axis: 0, start: 0, length: cut + 1))
        let leaf = head.h.detached().asParameter()
        let tail = try rnn(x.narrowed(axis: 0, start: cut + 1, length: T - cut - 1), leaf)
        lastStep(concat([head.output.detached(), tail.output], axis: 0)).backward()
        let expected = leaf.grad!.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norms[0][cut] - expected) <= 1e-5 * max(1, expected), "‖∂L/∂h\(cut)‖ \(norms[0][cut]) vs \(expected)")
        let last = w.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(abs(norms[0][T - 1] - last) <= 1e-6 * last, "the last step's gradient is the loss weight")
    }
}
