/// Which ``RecurrentCell`` runs a layer: the one place where a layer kind and its ``CellOptions``
/// become cells (a new cell kind registers here).
extension CellOptions {
    /// Checks that the options fit a layer of `kind`: each option belongs to that kind, activation
    /// lists have ONNX's length for it (LSTM 3, GRU 2, RNN 1) and finite parameters, `clip` is
    /// positive, and layer norm is not combined with the options it has no equations for.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the option.
    public func validate(for kind: ModelArchitecture.Kind) throws {
        func fail(_ m: String) -> RecurrentError { .invalidValue("\(kind.rawValue.uppercased()): \(m)") }
        if kind != .lstm && peephole { throw fail("peepholes are an LSTM option") }
        if kind != .lstm && coupledInputForget { throw fail("the coupled input-forget gate is an LSTM option") }
        if kind != .gru && !resetAfter { throw fail("the reset gate placement is a GRU option") }
        if kind == .rnn && layerNorm { throw fail("layer normalisation is an LSTM and GRU option") }
        let count = switch kind { case .lstm: 3; case .gru: 2; case .rnn: 1 }
        for list in [activations, reverseActivations].compactMap({ $0 }) {
            guard list.count == count else {
                throw fail("expected \(count) activation\(count == 1 ? "" : "s") per direction (ONNX's order), got \(list.count)")
            }
            if let bad = list.first(where: { !$0.isFinite }) { throw fail("activation \(bad.onnxName) has a non-finite alpha or beta") }
        }
        if let clip, !(clip > 0 && clip.isFinite) { throw fail("clip must be a positive finite number, got \(clip)") }
        if layerNorm {
            if peephole || coupledInputForget || !resetAfter || activations != nil || reverseActivations != nil || clip != nil {
                throw fail("layer normalisation is defined here for the standard gates only (no peepholes, coupled gate, reset-before, activations or clip)")
            }
        }
    }

    /// The cell of each direction for a layer of `kind` (`nonlinearity`: an RNN's, when it has no
    /// activations). Standard options give the fused standard kernels. Call ``validate(for:)`` first.
    func cells(kind: ModelArchitecture.Kind, nonlinearity: Nonlinearity, directions: Int) -> [any RecurrentCell] {
        (0..<directions).map { d -> any RecurrentCell in
            let given = activations(direction: d)
            switch kind {
            case .lstm:
                if layerNorm { return LayerNormLSTMCell() }
                let acts = given == LSTMActivations().list ? nil : given
                if !peephole && !coupledInputForget && acts == nil && clip == nil { return LSTMCellKernel() }
                return LSTMVariantCell(peephole: peephole, coupled: coupledInputForget, activations: acts, clip: clip)
            case .gru:
                if layerNorm { return LayerNormGRUCell() }
                let acts = given == GRUActivations().list ? nil : given
                if resetAfter && acts == nil && clip == nil { return GRUCellKernel() }
                return GRUVariantCell(resetAfter: resetAfter, activations: acts, clip: clip)
            case .rnn:
                let activation = given?[0] ?? (nonlinearity == .relu ? .relu : .tanh)
                if clip == nil && (activation == .tanh || activation == .relu) {
                    return ElmanCell(nonlinearity: activation == .relu ? .relu : .tanh)
                }
                return ElmanVariantCell(activation: activation, clip: clip)
            }
        }
    }
}
