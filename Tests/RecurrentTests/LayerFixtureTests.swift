import Testing
@testable import Recurrent

/// Every layer configuration of the PyTorch fixture grid: outputs, final states and the gradients
/// of a scalar loss with respect to the input, the initial states and every parameter.
///
/// Tolerances: forward 1e-5 relative (+1e-6 absolute for values near zero); gradients 1e-4
/// relative (+1e-5 absolute), since a gradient sums products over every step and layer in an
/// order that differs from PyTorch's.
@Suite struct LayerFixtureTests {
    @Test(arguments: Fixtures.names(in: "layers"))
    func layerMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("layers/" + name)
        let (i, h, layers) = (f.int("input_size"), f.int("hidden_size"), f.int("num_layers"))
        let (bias, batchFirst, bidirectional) = (f.flag("bias"), f.flag("batch_first"), f.flag("bidirectional"))
        let layer: RecurrentLayer = switch f.metadata["kind"] {
        case "rnn_tanh", "rnn_relu":
            RNN(inputSize: i, hiddenSize: h, numLayers: layers, nonlinearity: f.metadata["kind"] == "rnn_relu" ? .relu : .tanh,
                bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        case "lstm":
            LSTM(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst,
                 bidirectional: bidirectional, projSize: f.int("proj_size"))
        default:
            GRU(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        }
        try layer.loadStateDict(f.stateDict(prefix: "param."))
        let x = try f.tensor("input", requiresGrad: true)
        let hasState = f.flag("has_state")
        let h0 = hasState ? try f.tensor("h0", requiresGrad: true) : nil
        let c0 = hasState && layer is LSTM ? try f.tensor("c0", requiresGrad: true) : nil

        let output: Tensor, hN: Tensor, cN: Tensor?
        switch layer {
        case let lstm as LSTM:
            let r = try lstm(x, h0.map { ($0, c0!) })
            (output, hN, cN) = (r.output, r.state.h, r.state.c)
        case let gru as GRU: (output, hN) = try gru(x, h0); cN = nil
        case let rnn as RNN: (output, hN) = try rnn(x, h0); cN = nil
        default: fatalError()
        }
        // Inference keeps only two state slots: it must give exactly the same numbers.
        let inference = try withoutGradients { () throws -> [Float] in
            switch layer {
            case let lstm as LSTM: return try lstm(x, h0.map { ($0, c0!) }).output.scalars
            case let gru as GRU: return try gru(x, h0).output.scalars
            case let rnn as RNN: return try rnn(x, h0).output.scalars
            default: fatalError()
            }
        }
        #expect(inference == output.scalars, "\(name): inference output differs from the recorded forward")

        try expectMatchesFixture(f, name, result: (output, hN, cN), input: x, h0: h0, c0: c0, parameters: layer.namedParameters)
    }

    /// The configurations the issue names must all be present, so a fixture that silently went
    /// missing fails here instead of shrinking the parameterized test.
    @Test func gridIsComplete() {
        let names = Set(Fixtures.names(in: "layers"))
        var expected: [String] = []
        for kind in ["rnn_tanh", "rnn_relu", "lstm", "gru"] {
            for l in 1...3 { for dir in ["uni", "bi"] { for layout in ["tm", "bf"] { for b in ["bias", "nobias"] { for s in ["nostate", "state"] {
                let base = "\(kind)_L\(l)_\(dir)_\(layout)_\(b)_\(s)"
                expected.append(base)
                if kind == "lstm" { expected.append(base + "_proj") }
            } } } } }
            expected += ["\(kind)_unbatched_L2_bi_bias_state", "\(kind)_unbatched_L1_uni_bias_nostate", "\(kind)_seq1_L2_bi_tm_bias_state"]
        }
        expected += ["lstm_unbatched_L2_bi_bias_state_proj", "lstm_seq1_L1_uni_tm_bias_nostate_proj"]
        let missing = expected.filter { !names.contains($0) }
        #expect(missing.isEmpty, "missing fixtures: \(missing.prefix(10))")
    }
}
