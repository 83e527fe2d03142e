import Testing
@testable import Recurrent

/// Finite-difference checks of every cell variant's step, forward and backward through time: the
/// gradients of the input, the initial states and every parameter (the variants' own included),
/// over layers, directions and the fused kernel's paths (rows split over threads or not).
@Suite struct VariantGradientTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var kind: ModelArchitecture.Kind
        var options: CellOptions
        var layers = 1
        var bidirectional = false
        var projSize = 0
        /// Piecewise-linear activations or clip: a kink may fall within the difference's step.
        var kinks = false
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "lstm-peephole", kind: .lstm, options: CellOptions(peephole: true)),
        Case(name: "lstm-peephole-L2-bi-proj", kind: .lstm, options: CellOptions(peephole: true), layers: 2,
             bidirectional: true, projSize: 3),
        Case(name: "lstm-coupled", kind: .lstm, options: CellOptions(coupledInputForget: true)),
        Case(name: "lstm-coupled-peephole-bi", kind: .lstm, options: CellOptions(peephole: true, coupledInputForget: true),
             bidirectional: true),
        Case(name: "lstm-clip-peephole", kind: .lstm, options: CellOptions(peephole: true, clip: 0.4), kinks: true),
        Case(name: "lstm-activations", kind: .lstm,
             options: CellOptions(activations: [.hardSigmoid(), .softsign, .elu()],
                                  reverseActivations: [.sigmoid, .scaledTanh(alpha: 1.5, beta: 0.7), .softplus]),
             bidirectional: true, kinks: true),
        Case(name: "gru-reset-before", kind: .gru, options: CellOptions(resetAfter: false)),
        Case(name: "gru-reset-before-L2-bi", kind: .gru, options: CellOptions(resetAfter: false), layers: 2, bidirectional: true),
        Case(name: "gru-after-activations-clip", kind: .gru,
             options: CellOptions(activations: [.hardSigmoid(alpha: 0.3, beta: 0.4), .leakyRelu(alpha: 0.2)], clip: 0.5),
             kinks: true),
        Case(name: "gru-before-activations", kind: .gru,
             options: CellOptions(resetAfter: false, activations: [.sigmoid, .softsign])),
        Case(name: "rnn-elu-clip", kind: .rnn, options: CellOptions(activations: [.elu(alpha: 0.8)], clip: 0.6), kinks: true),
        Case(name: "rnn-affine-thresholded-bi", kind: .rnn,
             options: CellOptions(activations: [.affine(alpha: 0.5, beta: 0.1)], reverseActivations: [.thresholdedRelu(alpha: 0.1)]),
             bidirectional: true, kinks: true),
        Case(name: "lstm-layer-norm", kind: .lstm, options: CellOptions(layerNorm: true)),
        // (Layer norm with a projection: the projected state is small, and normalising it curves the
        // loss too sharply for a Float32 difference; its gradients are checked against PyTorch's
        // autograd in VariantFixtureTests, `lstm_ln_proj_*`.)
        Case(name: "lstm-layer-norm-bi", kind: .lstm, options: CellOptions(layerNorm: true), bidirectional: true),
        Case(name: "gru-layer-norm-L2-bi", kind: .gru, options: CellOptions(layerNorm: true), layers: 2, bidirectional: true),
    ]

    static func makeLayer(_ c: Case, inputSize: Int, hiddenSize: Int) -> RecurrentLayer {
        switch c.kind {
        case .lstm: LSTM(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: c.layers, bidirectional: c.bidirectional,
                         projSize: c.projSize, options: c.options)
        case .gru: GRU(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: c.layers, bidirectional: c.bidirectional,
                       options: c.options)
        case .rnn: RNN(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: c.layers, bidirectional: c.bidirectional,
                       options: c.options)
        }
    }

    @Test(arguments: cases)
    func finiteDifferences(_ c: Case) throws {
        let (I, H, T, B) = (3, 5, 4, 4)  // 4 rows: the fused kernels' several-vectors path
        let layer = Self.makeLayer(c, inputSize: I, hiddenSize: H)
        // Every parameter from a fixed seed (so that a failure repeats), layer norm gains away from 1
        // and peepholes away from 0, so that a wrong term shows.
        for (k, (name, t)) in layer.namedParameters.enumerated() {
            t.scalars = testValues(t.count, seed: 100 + UInt64(k)).map { name.hasPrefix("ln_weight") ? 1 + 0.4 * $0 : 0.5 * $0 }
        }
        let D = c.bidirectional ? 2 : 1, Ho = c.projSize > 0 ? c.projSize : H
        let x = testTensor([T, B, I], seed: 1), h0 = testTensor([D * c.layers, B, Ho], seed: 2)
        let c0 = c.kind == .lstm ? testTensor([D * c.layers, B, H], seed: 3) : nil
        let inputs = [x, h0] + (c0.map { [$0] } ?? []) + layer.namedParameters.map(\.tensor)
        // Layer norm curves sharply where a row's spread is small, so eps = 1e-2 carries a
        // truncation error above the tolerance there; at 1e-3 the rounding error, about
        // 1e-7·|L|/eps, reaches 2e-3 for these losses (|L| up to 20), so atol is 5e-3 there (a
        // wrong derivative is off by far more). With kinks (clip, piecewise-linear activations), a
        // smaller step crosses fewer of them.
        let eps: Float = c.options.layerNorm || c.kinks ? 1e-3 : 1e-2
        try checkGradients(inputs, eps: eps, kinks: c.kinks, atol: c.options.layerNorm ? 5e-3 : 2e-3, c.name) { _ in
            let r = try layer.stack.run(x, h0: h0, c0: c0, layerName: c.name)
            var loss = weightedSum(r.output, seed: 11) + weightedSum(r.h, seed: 12)
            if let cN = r.c { loss = loss + weightedSum(cN, seed: 13) }
            return loss
        }
    }

    /// A variant whose own terms vanish (peepholes 0, clip beyond every value) computes the standard
    /// cell: exactly the fused standard kernel's numbers, forward and backward.
    @Test(arguments: ["peephole-zero", "reset-after-variant", "rnn-tanh-variant", "lstm-default-activations"])
    func reducesToStandard(_ name: String) throws {
        let (I, H, T, B) = (4, 37, 6, 5)
        let standard: RecurrentLayer, variant: RecurrentLayer
        switch name {
        case "peephole-zero":
            (standard, variant) = (LSTM(inputSize: I, hiddenSize: H), LSTM(inputSize: I, hiddenSize: H, peephole: true))
        case "reset-after-variant":  // the general GRU kernel (clip far away) against the fused one
            (standard, variant) = (GRU(inputSize: I, hiddenSize: H), GRU(inputSize: I, hiddenSize: H, clip: 1e30))
        case "rnn-tanh-variant":
            (standard, variant) = (RNN(inputSize: I, hiddenSize: H), RNN(inputSize: I, hiddenSize: H, clip: 1e30))
        default:
            (standard, variant) = (LSTM(inputSize: I, hiddenSize: H), LSTM(inputSize: I, hiddenSize: H, clip: 1e30))
        }
        var dict: [String: TensorData] = [:]
        for (n, t) in standard.namedParameters { dict[n] = TensorData(shape: t.shape, scalars: t.scalars) }
        for (n, t) in variant.namedParameters where dict[n] == nil { dict[n] = TensorData(shape: t.shape, scalars: [Float](repeating: 0, count: t.count)) }
        try variant.loadStateDict(dict)
        let x = testTensor([T, B, I], seed: 5)
        func run(_ layer: RecurrentLayer) throws -> (out: [Float], grads: [[Float]]) {
            let r = try layer.stack.run(x, h0: nil, c0: nil, layerName: name)
            for (_, t) in layer.namedParameters { t.zeroGrad() }
            x.zeroGrad()
            weightedSum(r.output, seed: 8).backward()
            let grads = layer.namedParameters.filter { !$0.name.hasPrefix("weight_peephole") }.map { $0.tensor.grad!.scalars }
            return (r.output.scalars, grads + [x.grad!.scalars])
        }
        let (a, b) = (try run(standard), try run(variant))
        if name == "lstm-default-activations" {
            // The general LSTM kernel computes the same values with its operations in another order
            // (each activation's derivative applied in its own pass): equal outputs, gradients to rounding.
            #expect(b.out == a.out, "\(name): output")
            for (k, (ga, gb)) in zip(a.grads, b.grads).enumerated() {
                expectClose(gb, ga, rtol: 1e-5, atol: 1e-6, "\(name) gradient \(k)")
            }
        } else {
            #expect(b.out == a.out, "\(name): output differs from the standard cell's")
            #expect(b.grads == a.grads, "\(name): gradients differ from the standard cell's")
        }
    }

    @Test func forgetBiasStartsAtItsValue() {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, forgetBias: 1)
        for (name, t) in lstm.namedParameters where name.hasPrefix("bias_") {
            let f = Array(t.scalars[4..<8])
            #expect(f == [Float](repeating: name.hasPrefix("bias_ih") ? 1 : 0, count: 4), "\(name)")
        }
        let plain = LSTM(inputSize: 3, hiddenSize: 4)
        #expect(plain.namedParameters[2].tensor.scalars[4..<8].contains { $0 != 1 && $0 != 0 })
        let cell = LSTMCell(inputSize: 3, hiddenSize: 4, forgetBias: 2)
        #expect(Array(cell.biasIH!.scalars[4..<8]) == [2, 2, 2, 2] && Array(cell.biasHH!.scalars[4..<8]) == [0, 0, 0, 0])
    }

    @Test(arguments: [
        (ModelArchitecture.Kind.gru, CellOptions(peephole: true), "peepholes are an LSTM option"),
        (.rnn, CellOptions(layerNorm: true), "layer normalisation is an LSTM and GRU option"),
        (.lstm, CellOptions(activations: [.sigmoid, .tanh]), "expected 3 activations"),
        (.lstm, CellOptions(clip: -1), "clip must be a positive"),
        (.lstm, CellOptions(clip: .nan), "clip must be a positive"),
        (.gru, CellOptions(layerNorm: true, resetAfter: false), "layer normalisation is defined here for the standard gates"),
        (.rnn, CellOptions(activations: [.leakyRelu(alpha: .infinity)]), "non-finite"),
    ])
    func invalidOptionsAreRefused(_ kind: ModelArchitecture.Kind, _ options: CellOptions, _ message: String) {
        #expect { try options.validate(for: kind) } throws: { "\($0)".contains(message) }
    }

    /// Every variant where a standard cell goes: unbatched input equals a batch of one, and two
    /// batch-first layers with dropout between them differ in training from evaluation.
    @Test(arguments: cases)
    func usableEverywhere(_ c: Case) throws {
        let layer = Self.makeLayer(c, inputSize: 3, hiddenSize: 5)
        let D = c.bidirectional ? 2 : 1
        let x = testTensor([4, 3], seed: 1, requiresGrad: false)
        let unbatched = try layer.stack.run(x, h0: nil, c0: nil, layerName: c.name)
        let batched = try layer.stack.run(x.reshaped([4, 1, 3]), h0: nil, c0: nil, layerName: c.name)
        #expect(unbatched.output.shape == [4, D * (c.projSize > 0 ? c.projSize : 5)])
        #expect(unbatched.output.scalars == batched.output.scalars && unbatched.h.scalars == batched.h.scalars, "\(c.name)")

        let stacked: RecurrentLayer = switch c.kind {
        case .lstm: LSTM(inputSize: 3, hiddenSize: 5, numLayers: 2, batchFirst: true, dropout: 0.5, options: c.options)
        case .gru: GRU(inputSize: 3, hiddenSize: 5, numLayers: 2, batchFirst: true, dropout: 0.5, options: c.options)
        case .rnn: RNN(inputSize: 3, hiddenSize: 5, numLayers: 2, batchFirst: true, dropout: 0.5, options: c.options)
        }
        let xb = testTensor([2, 4, 3], seed: 2, requiresGrad: false)  // [B, T, I]
        let training = try stacked.stack.run(xb, h0: nil, c0: nil, layerName: c.name).output
        stacked.isTraining = false
        let evaluation = try stacked.stack.run(xb, h0: nil, c0: nil, layerName: c.name).output
        #expect(training.shape == [2, 4, 5] && evaluation.shape == [2, 4, 5])
        #expect(training.scalars != evaluation.scalars, "\(c.name): dropout between layers in training")
    }

    /// Every cell variant as a single-step cell equals one step of its layer.
    @Test(arguments: ["gru-before", "gru-layer-norm", "lstm-layer-norm", "lstm-coupled-activations", "rnn-softsign"])
    func cellsEqualOneLayerStep(_ name: String) throws {
        let x = testTensor([2, 3], seed: 4, requiresGrad: false), h = testTensor([2, 4], seed: 5, requiresGrad: false)
        let cell: RecurrentCellModule = switch name {
        case "gru-before": GRUCell(inputSize: 3, hiddenSize: 4, resetAfter: false)
        case "gru-layer-norm": GRUCell(inputSize: 3, hiddenSize: 4, layerNorm: true)
        case "lstm-layer-norm": LSTMCell(inputSize: 3, hiddenSize: 4, layerNorm: true)
        case "lstm-coupled-activations": LSTMCell(inputSize: 3, hiddenSize: 4, coupledInputForget: true,
                                                  activations: LSTMActivations(gate: .hardSigmoid(), cell: .elu(), hidden: .softsign))
        default: RNNCell(inputSize: 3, hiddenSize: 4, activation: .softsign)
        }
        let kind: ModelArchitecture.Kind = cell is LSTMCell ? .lstm : (cell is GRUCell ? .gru : .rnn)
        let layer: RecurrentLayer = switch kind {
        case .lstm: LSTM(inputSize: 3, hiddenSize: 4, options: cell.options)
        case .gru: GRU(inputSize: 3, hiddenSize: 4, options: cell.options)
        case .rnn: RNN(inputSize: 3, hiddenSize: 4, options: cell.options)
        }
        var dict: [String: TensorData] = [:]
        for (n, t) in cell.namedParameters { dict[n + "_l0"] = TensorData(shape: t.shape, scalars: t.scalars) }
        try layer.loadStateDict(dict)
        let c0 = kind == .lstm ? h : nil
        let step = try cell.step(x, h: h, c: c0)
        let r = try layer.stack.run(x.reshaped([1, 2, 3]), h0: h.reshaped([1, 2, 4]), c0: c0?.reshaped([1, 2, 4]), layerName: name)
        #expect(step.h.scalars == r.h.scalars && step.c?.scalars == r.c?.scalars, "\(name)")
    }

    /// The single-step cells run the same kernels: one LSTMCell step with peepholes equals one step of the layer.
    @Test func cellsMatchLayers() throws {
        let cell = LSTMCell(inputSize: 3, hiddenSize: 4, peephole: true, clip: 0.5)
        let layer = LSTM(inputSize: 3, hiddenSize: 4, options: cell.options)
        var dict: [String: TensorData] = [:]
        for (n, t) in cell.namedParameters { dict[n + "_l0"] = TensorData(shape: t.shape, scalars: t.scalars) }
        try layer.loadStateDict(dict)
        let x = testTensor([2, 3], seed: 4)
        let (h, c) = try cell(x)
        let r = try layer(x.reshaped([1, 2, 3]))
        #expect(h.scalars == r.state.h.scalars && c.scalars == r.state.c.scalars)
    }
}
