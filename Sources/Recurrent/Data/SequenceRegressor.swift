/// A recurrent layer followed by a linear head on its last output step: the model for
/// many-to-one tasks such as the adding problem (`head(rnn(x).output[-1])` in PyTorch).
public final class SequenceRegressor: Module {
    /// The recurrent layer (time-major input).
    public let recurrent: RecurrentLayer
    /// `Linear(D·Hₒ, outputs)`.
    public let head: Linear

    /// Wraps `recurrent` with a head producing `outputs` values per sequence.
    public init(recurrent: RecurrentLayer, outputs: Int) {
        precondition(!recurrent.batchFirst, "SequenceRegressor: expects a time-major recurrent layer")
        self.recurrent = recurrent
        head = Linear(inputSize: recurrent.outputSize * (recurrent.bidirectional ? 2 : 1), outputSize: outputs)
    }

    /// `rnn.*` then `head.*`, as a PyTorch module with attributes `rnn` and `head` would list them.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("rnn", recurrent.namedParameters) + prefixed("head", head.namedParameters)
    }

    /// Training mode of the recurrent layer (the head has none).
    public var isTraining: Bool {
        get { recurrent.isTraining }
        set { recurrent.isTraining = newValue }
    }

    /// `input` `[T, B, I]` → `[B, outputs]`, from the output at the last step.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let output = try recurrent.sequenceOutput(input)
        let last = output.narrowed(axis: 0, start: output.shape[0] - 1, length: 1).squeezed(at: 0)  // [B, D·Hₒ]
        return head(last)
    }
}

extension RecurrentLayer {
    /// The output sequence for `input` from zero initial states, whatever the cell kind (with
    /// `lengths`, for a padded batch of unequal sequences, as PyTorch's packed path).
    public func sequenceOutput(_ input: Tensor, lengths: [Int]? = nil) throws -> Tensor {
        try stack.run(input, h0: nil, c0: nil, layerName: String(describing: type(of: self)), lengths: lengths).output
    }
}
