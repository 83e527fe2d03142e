import Testing
@testable import Recurrent

/// Batches of unequal sequences against PyTorch (`Tools/make_packed_fixtures.py`):
/// `pack_padded_sequence` → layer → `pad_packed_sequence` for every layer kind, 1–3 layers, both
/// directions, both layouts, sorted and unsorted lengths, with and without initial states, and the
/// variants (against the reference modules run sequence by sequence, and ONNX Runtime's
/// `sequence_lens`): outputs, final states and every gradient, through the padded API
/// (`lengths:`) and through ``PackedSequence``. Tolerances as in ``LayerFixtureTests``.
@Suite struct PackedFixtureTests {
    static func layer(for f: SafeTensorsFile) throws -> RecurrentLayer {
        let (i, h, layers) = (f.int("input_size"), f.int("hidden_size"), f.int("num_layers"))
        let (bias, batchFirst, bidirectional) = (f.flag("bias"), f.flag("batch_first"), f.flag("bidirectional"))
        switch f.metadata["kind"] {
        case "rnn_tanh", "rnn_relu":
            return RNN(inputSize: i, hiddenSize: h, numLayers: layers, nonlinearity: f.metadata["kind"] == "rnn_relu" ? .relu : .tanh,
                       bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        case "lstm" where f.metadata["variant"] == "standard":
            return LSTM(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst,
                        bidirectional: bidirectional, projSize: f.int("proj_size"))
        case "gru" where f.metadata["variant"] == "standard":
            return GRU(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst, bidirectional: bidirectional)
        default:
            return try VariantFixtureTests.layer(for: f)
        }
    }

    @Test(arguments: Fixtures.names(in: "packed"))
    func packedMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("packed/" + name)
        let layer = try Self.layer(for: f)
        try layer.loadStateDict(f.stateDict(prefix: "param."))
        let lengths = try f.values("lengths").map { Int($0) }
        let x = try f.tensor("input", requiresGrad: true)
        let hasState = f.flag("has_state"), isLSTM = layer is LSTM
        let h0 = hasState ? try f.tensor("h0", requiresGrad: true) : nil
        let c0 = hasState && isLSTM ? try f.tensor("c0", requiresGrad: true) : nil

        let r = try layer.stack.run(x, h0: h0, c0: c0, layerName: name, lengths: lengths)
        let inference = try withoutGradients { try layer.stack.run(x, h0: h0, c0: c0, layerName: name, lengths: lengths).output.scalars }
        #expect(inference == r.output.scalars, "\(name): inference output differs from the recorded forward")
        try expectMatchesFixture(f, name, result: r, input: x, h0: h0, c0: c0, parameters: layer.namedParameters)

        // The same through PackedSequence, against PyTorch's packed tensors.
        let sorted = f.flag("enforce_sorted")
        let packedInput = try packPaddedSequence(x.detached(), lengths: lengths, batchFirst: f.flag("batch_first"), enforceSorted: sorted)
        #expect(packedInput.data.scalars == (try f.values("packed_input.data")), "\(name): packed input data")
        #expect(packedInput.batchSizes == (try f.values("packed.batch_sizes")).map { Int($0) }, "\(name): batch sizes")
        if !sorted {
            #expect(packedInput.sortedIndices == (try f.values("packed.sorted_indices")).map { Int($0) }, "\(name): sorted indices")
            #expect(packedInput.unsortedIndices == (try f.values("packed.unsorted_indices")).map { Int($0) }, "\(name): unsorted indices")
        }
        #expect(packedInput.lengths == lengths)
        let packedOutput: PackedSequence
        switch layer {
        case let lstm as LSTM: packedOutput = try lstm(packedInput, h0.map { ($0.detached(), c0!.detached()) }).output
        case let gru as GRU: packedOutput = try gru(packedInput, h0?.detached()).output
        case let rnn as RNN: packedOutput = try rnn(packedInput, h0?.detached()).output
        default: fatalError()
        }
        expectClose(packedOutput.data, shape: try f.shape("packed.data"), try f.values("packed.data"), rtol: 1e-5, atol: 1e-6,
                    "\(name) packed output")
        let (padded, back) = try padPackedSequence(packedOutput, batchFirst: f.flag("batch_first"), totalLength: f.int("seq_len"))
        #expect(padded.scalars == r.output.scalars && back == lengths, "\(name): padPackedSequence")
    }

    @Test func padSequenceStacksAndPads() throws {
        let a = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]), b = Tensor(shape: [1, 2], scalars: [7, 8])
        #expect(try padSequence([a, b], paddingValue: -1).scalars == [1, 2, 7, 8, 3, 4, -1, -1, 5, 6, -1, -1])
        #expect(try padSequence([a, b], batchFirst: true).shape == [2, 3, 2])
        #expect(throws: RecurrentError.self) { try padSequence([a, Tensor(shape: [2, 3], scalars: Array(repeating: 0, count: 6))]) }
    }

    @Test(arguments: [([3, 1, 2], true, "must be sorted longest first"), ([3, 0, 2], false, "length 0 of sequence 1"),
                      ([3, 2], false, "expected 3 lengths"), ([4, 2, 1], false, "length 4 of sequence 0")])
    func badLengthsAreOneLineErrors(_ lengths: [Int], _ enforceSorted: Bool, _ message: String) {
        #expect { try packPaddedSequence(testTensor([3, 3, 2], seed: 1), lengths: lengths, enforceSorted: enforceSorted) }
            throws: { "\($0)".contains(message) && !"\($0)".contains("\n") }
    }
}
