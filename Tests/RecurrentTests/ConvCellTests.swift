import Testing
@testable import Recurrent

/// Finite-difference checks of each convolutional cell on tiny shapes (see ``checkGradients``
/// for the tolerances), and one clear error for each kind of bad input.
@Suite struct ConvCellTests {
    enum Kind: String, CaseIterable { case convLSTM, convLSTMPeephole, convGRU, sepConvGRU }

    /// A 2-layer layer of `kind` over `[T=2, B=2, 2, 3, 4]` frames, with every parameter set to
    /// deterministic values (peepholes too, which start at zero).
    static func layer(_ kind: Kind) -> (module: any Module, run: (Tensor, [Tensor]?) throws -> (Tensor, [Tensor]), states: Int) {
        let result: (any Module, (Tensor, [Tensor]?) throws -> (Tensor, [Tensor]), Int)
        switch kind {
        case .convLSTM, .convLSTMPeephole:
            let l = ConvLSTM(inputChannels: 2, hiddenChannels: 2, kernelSize: (3, 1), numLayers: 2,
                             peepholeFrame: kind == .convLSTMPeephole ? (3, 4) : nil)
            result = (l, { try l($0, initialState: $1) }, 2)
        case .convGRU:
            let l = ConvRecurrentLayer<ConvGRU>(inputChannels: 2, hiddenChannels: 2, numLayers: 2)
            result = (l, { try l($0, initialState: $1) }, 1)
        case .sepConvGRU:
            let l = ConvRecurrentLayer<SepConvGRU>(inputChannels: 2, hiddenChannels: 2, numLayers: 2)
            result = (l, { try l($0, initialState: $1) }, 1)
        }
        for (k, p) in result.0.parameters.enumerated() { p.scalars = testValues(p.count, seed: 100 + UInt64(k)).map { $0 * 0.8 } }
        return result
    }

    @Test(arguments: Kind.allCases)
    func layerGradientsMatchFiniteDifferences(_ kind: Kind) throws {
        let (module, run, states) = Self.layer(kind)
        let x = testTensor([2, 2, 2, 3, 4], seed: 1)
        let initial = (0..<states).map { testTensor([2, 2, 2, 3, 4], seed: 2 + UInt64($0)) }
        try checkGradients([x] + initial + module.parameters, kind.rawValue) { _ in
            let (output, state) = try run(x, initial)
            return weightedSum(output, seed: 7) + weightedSum(state[states - 1], seed: 8)
        }
    }

    @Test func badInputIsRejected() throws {
        let lstm = ConvLSTM(inputChannels: 3, hiddenChannels: 4, kernelSize: (3, 3))
        let x = Tensor.zeros([2, 1, 3, 5, 6])  // [T, B, C, H, W]
        #expect(try lstm(x).output.shape == [2, 1, 4, 5, 6])
        #expect(throws: RecurrentError.shapeMismatch(
            "ConvRecurrentLayer: input [2, 1, 2, 5, 6] has 2 channels, the first cell expects 3")) {
            try lstm(Tensor.zeros([2, 1, 2, 5, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch(
            "ConvRecurrentLayer: input must be [steps, batch, channels, height, width] (rank 5), got [1, 3, 5, 6]")) {
            try lstm(Tensor.zeros([1, 3, 5, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch(
            "ConvRecurrentLayer: initial state [1, 1, 4, 5, 5] does not fit input [2, 1, 3, 5, 6]: expected [1, 1, 4, 5, 6]")) {
            try lstm(x, initialState: [Tensor.zeros([1, 1, 4, 5, 5]), Tensor.zeros([1, 1, 4, 5, 6])])
        }
        #expect(throws: RecurrentError.shapeMismatch("ConvRecurrentLayer: initial state needs 2 tensors, got 1")) {
            try lstm(x, initialState: [Tensor.zeros([1, 1, 4, 5, 6])])
        }

        // The cells, called as RAFT calls them: x and h must agree in batch and frame.
        let gru = SepConvGRU(hiddenChannels: 4, inputChannels: 3)
        #expect(throws: RecurrentError.shapeMismatch("SepConvGRU: state [1, 4, 5, 7] does not fit input [1, 3, 5, 6]: expected [1, 4, 5, 6]")) {
            try gru(h: Tensor.zeros([1, 4, 5, 7]), x: Tensor.zeros([1, 3, 5, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch("ConvGRU: input [1, 5, 5, 6] has 5 channels, the cell expects 3")) {
            try ConvGRU(hiddenChannels: 4, inputChannels: 3)(h: Tensor.zeros([1, 4, 5, 6]), x: Tensor.zeros([1, 5, 5, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch("ConvGRU: input must be [batch, 3, height, width] (rank 4), got [3, 5, 6]")) {
            try ConvGRU(hiddenChannels: 4, inputChannels: 3)(h: Tensor.zeros([4, 5, 6]), x: Tensor.zeros([3, 5, 6]))
        }
        let peephole = ConvLSTMCell(inputChannels: 3, hiddenChannels: 4, kernelSize: (3, 3), peepholeFrame: (5, 6))
        #expect(throws: RecurrentError.shapeMismatch("ConvLSTMCell: the peepholes are for 5x6 frames, got input [1, 3, 4, 4]")) {
            try peephole(Tensor.zeros([1, 3, 4, 4]), state: (Tensor.zeros([1, 4, 4, 4]), Tensor.zeros([1, 4, 4, 4])))
        }
        // A frame smaller than a 5×1 kernel still works: the padding (2, 0) covers it.
        #expect(try gru(h: Tensor.zeros([1, 4, 1, 1]), x: Tensor.zeros([1, 3, 1, 1])).shape == [1, 4, 1, 1])
    }
}
