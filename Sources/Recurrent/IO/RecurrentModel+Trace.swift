import Foundation

/// Tracing a whole model: its input encoded (embedding or one-hot for token models) and run
/// through ``RecurrentLayer/trace(_:h0:c0:lengths:)`` and ``RecurrentLayer/stateGradientNorms(_:h0:c0:lengths:loss:)``.
/// The head, if any, takes no part.
extension RecurrentModel {
    /// The recurrent layer's output and every step's gates for `input`.
    ///
    /// - Parameters: as for ``callAsFunction(_:h0:c0:lengths:)`` (feature input `[T, B, I]`, or token
    ///   indices `[T, B]` for a model with an embedding or one-hot input; batch-first when the model is).
    /// - Returns: the layer's `output` (laid out as the model's), and for each layer and direction
    ///   (index `l·D + d`, `d = 0` forward, `1` reverse) the recorded values by name, each `[T, B, H]`
    ///   in time order and in the input's batch order, also with unsorted `lengths`: LSTM `i`, `f`,
    ///   `g`, `o`, `c`; GRU `r`, `z`, `n`; RNN `h`. Zeros at steps past a sequence's length.
    /// - Throws: ``RecurrentError`` for a shape that does not fit, a token outside the vocabulary, or
    ///   `c0` for a model without a cell state.
    public func trace(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil) throws
        -> (output: Tensor, gates: [[(name: String, values: Tensor)]])
    {
        try checkCellState(c0)
        let x = try encoded(input)
        return try layer.trace(x, h0: h0, c0: c0, lengths: lengths)  // rows in the input's order
    }

    /// `‖∂L/∂hₜ‖` (the norm over the batch) for every time `t`, per layer and direction (index
    /// `l·D + d`), for the loss `loss(output)` of the recurrent layer's output.
    ///
    /// - Parameters:
    ///   - input, h0, c0, lengths: as for ``trace(_:h0:c0:lengths:)``.
    ///   - loss: a scalar from the layer's output; nil for ``lastStepSum(_:lengths:)``, the sum of
    ///     every feature of the last step's output (each sequence's own last step with `lengths`),
    ///     so that the gradient at distance k from the end shows how far back one step's output reaches.
    /// - Returns: `[D·L][T]` norms, in time order. The parameters' gradients accumulate, as in any backward pass.
    public func stateGradientNorms(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil,
                                   loss: ((_ output: Tensor) throws -> Tensor)? = nil) throws -> [[Float]]
    {
        try checkCellState(c0)
        let x = try encoded(input)
        return try layer.stateGradientNorms(x, h0: h0, c0: c0, lengths: lengths) { output in
            try loss?(output) ?? lastStepSum(output, lengths: lengths)
        }
    }

    /// The sum of the layer's output at the last step (each sequence's own last step with
    /// `lengths`): `output[-1].sum()` in PyTorch for a time-major batch of equal lengths.
    public func lastStepSum(_ output: Tensor, lengths: [Int]? = nil) -> Tensor {
        lastStep(of: output, lengths: lengths).sum()
    }

    private func checkCellState(_ c0: Tensor?) throws {
        if c0 != nil && architecture.kind != .lstm {
            throw RecurrentError.shapeMismatch("c0 given, but the model is a \(architecture.kind.rawValue.uppercased()) (only an LSTM has a cell state)")
        }
    }
}
