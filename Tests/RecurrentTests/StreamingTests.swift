import Testing
@testable import Recurrent

/// Streams: chunked runs equal the whole sequence, reset rows equal fresh sequences, and truncated
/// backpropagation through time equals PyTorch's with `detach()` at the same points
/// (`Tools/make_streaming_fixtures.py`).
@Suite struct StreamingTests {
    static let chunkings: [[Int]] = [[17], [5, 1, 7, 4], Array(repeating: 1, count: 17), [16, 1], [3, 3, 3, 3, 3, 2]]

    @Test(arguments: [("lstm-L2", CellOptions()), ("gru-reset-before-L2", CellOptions(resetAfter: false)),
                      ("lstm-layer-norm-L2", CellOptions(layerNorm: true)), ("lstm-peephole-L2", CellOptions(peephole: true))],
          chunkings)
    func chunksEqualTheWholeSequence(_ config: (String, CellOptions), _ chunking: [Int]) throws {
        let kind: ModelArchitecture.Kind = config.0.hasPrefix("gru") ? .gru : .lstm
        let model = RecurrentModel(ModelArchitecture(kind: kind, inputSize: 3, hiddenSize: 6, numLayers: 2, headPrefix: "fc.",
                                                     headOutputSize: 2, options: config.1))
        let x = testTensor([17, 4, 3], seed: 1, requiresGrad: false)
        let whole = try withoutGradients { try model(x) }
        var state: RecurrentState?, outputs: [Float] = [], start = 0
        for length in chunking {
            let r = try withoutGradients { try model.stream(x.narrowed(axis: 0, start: start, length: length), from: state) }
            outputs += r.output.scalars
            state = r.state
            start += length
        }
        // Bit for bit: a step's products and pointwise kernel do not depend on how many steps a call runs.
        #expect(outputs == whole.output.scalars, "\(config.0) in chunks \(chunking)")
        #expect(state!.h.scalars == whole.h.scalars && state!.c?.scalars == whole.c?.scalars, "\(config.0) final state")
    }

    @Test func resetRowsStartAfresh() throws {
        let model = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 5, numLayers: 2))
        let first = testTensor([4, 3, 3], seed: 1, requiresGrad: false), second = testTensor([5, 3, 3], seed: 2, requiresGrad: false)
        let state = try model.stream(first, from: nil).state.resetting(rows: [1])
        let continued = try model.stream(second, from: state).output
        let fresh = try model.stream(second, from: nil).output
        let carried = try model.stream(second, from: try model.stream(first, from: nil).state).output
        for t in 0..<5 {
            for b in 0..<3 {
                let row = { (y: Tensor) in y.narrowed(axis: 0, start: t, length: 1).narrowed(axis: 1, start: b, length: 1).scalars }
                #expect(row(continued) == (b == 1 ? row(fresh) : row(carried)), "t=\(t) b=\(b)")
            }
        }
        #expect(throws: RecurrentError.self) { try state.resetting(rows: [3]) }
        let bidirectional = RecurrentModel(ModelArchitecture(kind: .gru, inputSize: 3, hiddenSize: 5, bidirectional: true))
        #expect(throws: RecurrentError.self) { try bidirectional.stream(first, from: nil) }
    }

    @Test(arguments: Fixtures.names(in: "streaming"))
    func truncatedBackpropagationMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("streaming/" + name)
        let kind = ModelArchitecture.Kind(rawValue: f.metadata["kind"]!)!
        let model = RecurrentModel(ModelArchitecture(kind: kind, inputSize: f.int("input_size"), hiddenSize: f.int("hidden_size"),
                                                     numLayers: f.int("num_layers"), batchFirst: f.flag("batch_first"), prefix: "rnn.",
                                                     headPrefix: "head.", headOutputSize: 2))
        try model.loadStateDict(f.stateDict(prefix: "param."))
        let x = try f.tensor("input"), y = try f.tensor("target")
        let whole = try withoutGradients { try model(x).output }
        expectClose(whole.scalars, try f.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) whole output")
        model.zeroGrad()
        let (losses, _) = try model.trainTruncated(x, target: y, chunkLength: f.int("chunk"),
                                                   loss: { try mseLoss($0, $1) }, update: {})  // gradients accumulate, as in the fixture
        expectClose(losses, try f.values("losses"), rtol: 1e-5, atol: 1e-6, "\(name) losses")
        for (pname, p) in model.namedParameters {
            expectClose(p.grad, shape: p.shape, try f.values("grad.param." + pname), rtol: 1e-4, atol: 1e-5, "\(name) grad \(pname)")
        }
    }
}
