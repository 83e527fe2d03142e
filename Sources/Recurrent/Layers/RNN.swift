// The public recurrent layers: thin configurations of the shared ``RecurrentStack``.

/// A multi-layer Elman RNN, `hₜ = act(xₜ Wᵢₕᵀ + bᵢₕ + hₜ₋₁ Wₕₕᵀ + bₕₕ)` (PyTorch's `nn.RNN`).
///
/// Parameters (PyTorch's names and shapes, `D` = 2 when bidirectional): `weight_ih_l{k}`
/// `[H, I]` for k = 0 and `[H, D·H]` above, `weight_hh_l{k}` `[H, H]`, `bias_ih_l{k}`,
/// `bias_hh_l{k}` `[H]`, with `_reverse` for the second direction; all from U(-1/√H, 1/√H).
public final class RNN: RecurrentLayer {
    /// `tanh` or `relu`.
    public let nonlinearity: Nonlinearity

    /// Creates the layer (arguments as in PyTorch; invalid configurations stop with a precondition).
    ///
    /// Beyond PyTorch: `activation` (any of ONNX's, in place of `nonlinearity`), a different one
    /// for the reverse direction, and `clip` (pre-activations clamped to `[−clip, clip]`, ONNX's).
    public convenience init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: Nonlinearity = .tanh,
                bias: Bool = true, batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false,
                activation: Activation? = nil, reverseActivation: Activation? = nil, clip: Float? = nil) {
        let forward = activation ?? reverseActivation.map { _ in nonlinearity == .relu ? Activation.relu : .tanh }
        let options = CellOptions(activations: forward.map { [$0] }, reverseActivations: reverseActivation.map { [$0] }, clip: clip)
        self.init(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, nonlinearity: nonlinearity, bias: bias,
                  batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, options: options)
    }

    /// Creates the layer with its options as a model file records them (see ``CellOptions``; an
    /// activation given there replaces `nonlinearity`).
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: Nonlinearity = .tanh,
                bias: Bool = true, batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false,
                options: CellOptions) {
        self.nonlinearity = nonlinearity
        super.init(kind: .rnn, nonlinearity: nonlinearity, options: options, name: "RNN", inputSize: inputSize,
                   hiddenSize: hiddenSize, numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, projSize: 0)
    }

    /// Runs the RNN over a sequence.
    ///
    /// - Parameters:
    ///   - input: `[T, B, I]`, `[B, T, I]` when `batchFirst`, or unbatched `[T, I]`.
    ///   - h0: `[D·L, B, H]` (unbatched `[D·L, H]`); zeros when nil.
    ///   - lengths: for a batch of unequal sequences padded to `T`, each one's length (`B` values
    ///     in `1...T`, in batch order): PyTorch's packed semantics (see ``PackedSequence``).
    /// - Returns: `output` `[T, B, D·H]` (laid out like the input; zero past each length) and `h`
    ///   `[D·L, B, H]` (each sequence's at its own end).
    /// - Throws: ``RecurrentError/shapeMismatch(_:)`` naming the expected and actual shapes,
    ///   ``RecurrentError/invalidValue(_:)`` for lengths that do not fit.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil, lengths: [Int]? = nil) throws -> (output: Tensor, h: Tensor) {
        let r = try stack.run(input, h0: h0, c0: nil, layerName: "RNN", lengths: lengths)
        return (r.output, r.h)
    }
}

/// A multi-layer long short-term memory network (PyTorch's `nn.LSTM`), gate order i, f, g, o,
/// with an optional projection `hₜ = (oₜ ⊙ tanh cₜ) Wₕᵣᵀ` when `projSize > 0`.
///
/// Parameters: `weight_ih_l{k}` `[4H, I]` (`[4H, D·Hₒ]` above the first layer), `weight_hh_l{k}`
/// `[4H, Hₒ]`, `bias_ih_l{k}`, `bias_hh_l{k}` `[4H]`, `weight_hr_l{k}` `[P, H]`, with `_reverse`
/// for the second direction, where `Hₒ = P` with a projection and `H` otherwise.
public final class LSTM: RecurrentLayer {

    /// Creates the layer (arguments as in PyTorch; invalid configurations stop with a precondition).
    ///
    /// Beyond PyTorch (see ``CellOptions``): `peephole` (`weight_peephole_l{k}` `[3H]`, order i, f,
    /// o), `coupledInputForget` (f = 1 − i), `layerNorm` (Ba et al. 2016), ONNX's `activations`
    /// (and the reverse direction's) and `clip`, and `forgetBias`: the forget gate's bias starts at
    /// this value (`bias_ih`'s f block; `bias_hh`'s is 0), 1 being the usual choice (Jozefowicz et
    /// al. 2015); PyTorch's initialisation when nil.
    public convenience init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, projSize: Int = 0, peephole: Bool = false,
                coupledInputForget: Bool = false, layerNorm: Bool = false, activations: LSTMActivations? = nil,
                reverseActivations: LSTMActivations? = nil, clip: Float? = nil, forgetBias: Float? = nil) {
        let options = CellOptions(peephole: peephole, coupledInputForget: coupledInputForget, layerNorm: layerNorm,
                                  activations: (activations ?? reverseActivations.map { _ in LSTMActivations() })?.list,
                                  reverseActivations: reverseActivations?.list, clip: clip)
        self.init(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias, batchFirst: batchFirst,
                  dropout: dropout, bidirectional: bidirectional, projSize: projSize, options: options, forgetBias: forgetBias)
    }

    /// Creates the layer with its options as a model file records them (see ``CellOptions``).
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, projSize: Int = 0, options: CellOptions,
                forgetBias: Float? = nil) {
        super.init(kind: .lstm, options: options, name: "LSTM", inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, projSize: projSize)
        if let forgetBias { setForgetBias(forgetBias) }
    }

    /// Sets every layer's and direction's forget-gate bias to `value` (`bias_ih`'s second block of
    /// `H`; `bias_hh`'s to 0, so that their sum is `value`).
    public func setForgetBias(_ value: Float) {
        precondition(bias, "LSTM: forgetBias needs bias")
        let H = hiddenSize
        for (name, tensor) in namedParameters where name.hasPrefix("bias_ih") || name.hasPrefix("bias_hh") {
            var values = tensor.scalars
            for j in H..<(2 * H) { values[j] = name.hasPrefix("bias_ih") ? value : 0 }
            tensor.scalars = values
        }
    }

    /// Runs the LSTM over a sequence.
    ///
    /// - Parameters:
    ///   - input: `[T, B, I]`, `[B, T, I]` when `batchFirst`, or unbatched `[T, I]`.
    ///   - state: `h0` `[D·L, B, Hₒ]` and `c0` `[D·L, B, H]` (without `B` when unbatched); zeros when nil.
    ///   - lengths: for a batch of unequal sequences padded to `T`, each one's length (`B` values
    ///     in `1...T`, in batch order): PyTorch's packed semantics (see ``PackedSequence``).
    /// - Returns: `output` `[T, B, D·Hₒ]` (laid out like the input; zero past each length) and the
    ///   final `h` `[D·L, B, Hₒ]` and `c` `[D·L, B, H]` (each sequence's at its own end), PyTorch's
    ///   `(output, (h_n, c_n))`.
    /// - Throws: ``RecurrentError/shapeMismatch(_:)`` naming the expected and actual shapes,
    ///   ``RecurrentError/invalidValue(_:)`` for lengths that do not fit.
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil, lengths: [Int]? = nil) throws
        -> (output: Tensor, state: (h: Tensor, c: Tensor))
    {
        let r = try stack.run(input, h0: state?.h, c0: state?.c, layerName: "LSTM", lengths: lengths)
        return (r.output, (r.h, r.c!))
    }
}

/// A multi-layer gated recurrent unit (PyTorch's `nn.GRU`), gate order r, z, n:
/// `n = tanh(Wᵢₙx + bᵢₙ + r ⊙ (Wₕₙh + bₕₙ))`, `h' = (1 - z) ⊙ n + z ⊙ h`.
///
/// Parameters: `weight_ih_l{k}` `[3H, I]` (`[3H, D·H]` above), `weight_hh_l{k}` `[3H, H]`,
/// `bias_ih_l{k}`, `bias_hh_l{k}` `[3H]`, with `_reverse` for the second direction.
public final class GRU: RecurrentLayer {

    /// Creates the layer (arguments as in PyTorch; invalid configurations stop with a precondition).
    ///
    /// Beyond PyTorch (see ``CellOptions``): `resetAfter: false` puts the reset gate before the
    /// recurrent product, `n = tanh(Wᵢₙx + bᵢₙ + Wₕₙ(r ⊙ h) + bₕₙ)` (Cho et al. 2014, ONNX's
    /// default, Keras `reset_after=False`); `layerNorm` (Ba et al. 2016); ONNX's `activations`
    /// (and the reverse direction's) and `clip`.
    public convenience init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, resetAfter: Bool = true, layerNorm: Bool = false,
                activations: GRUActivations? = nil, reverseActivations: GRUActivations? = nil, clip: Float? = nil) {
        let options = CellOptions(layerNorm: layerNorm, resetAfter: resetAfter,
                                  activations: (activations ?? reverseActivations.map { _ in GRUActivations() })?.list,
                                  reverseActivations: reverseActivations?.list, clip: clip)
        self.init(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias, batchFirst: batchFirst,
                  dropout: dropout, bidirectional: bidirectional, options: options)
    }

    /// Creates the layer with its options as a model file records them (see ``CellOptions``).
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, options: CellOptions) {
        super.init(kind: .gru, options: options, name: "GRU", inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, projSize: 0)
    }

    /// Runs the GRU over a sequence.
    ///
    /// - Parameters:
    ///   - input: `[T, B, I]`, `[B, T, I]` when `batchFirst`, or unbatched `[T, I]`.
    ///   - h0: `[D·L, B, H]` (unbatched `[D·L, H]`); zeros when nil.
    ///   - lengths: for a batch of unequal sequences padded to `T`, each one's length (`B` values
    ///     in `1...T`, in batch order): PyTorch's packed semantics (see ``PackedSequence``).
    /// - Returns: `output` `[T, B, D·H]` (laid out like the input; zero past each length) and `h`
    ///   `[D·L, B, H]` (each sequence's at its own end).
    /// - Throws: ``RecurrentError/shapeMismatch(_:)`` naming the expected and actual shapes,
    ///   ``RecurrentError/invalidValue(_:)`` for lengths that do not fit.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil, lengths: [Int]? = nil) throws -> (output: Tensor, h: Tensor) {
        let r = try stack.run(input, h0: h0, c0: nil, layerName: "GRU", lengths: lengths)
        return (r.output, r.h)
    }
}

/// What ``RNN``, ``LSTM`` and ``GRU`` share: configuration, parameters and mode.
public class RecurrentLayer: Module {
    let stack: RecurrentStack

    init(kind: ModelArchitecture.Kind, nonlinearity: Nonlinearity = .tanh, options: CellOptions, name: String,
         inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool, dropout: Float,
         bidirectional: Bool, projSize: Int) {
        do { try options.validate(for: kind) } catch { preconditionFailure("\(error)") }
        stack = RecurrentStack(cells: options.cells(kind: kind, nonlinearity: nonlinearity, directions: bidirectional ? 2 : 1),
                               name: name, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                               batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, projSize: projSize)
        stack.options = options
    }

    /// What sets the cells apart from PyTorch's standard ones (the standard options for a plain layer).
    public var options: CellOptions { stack.options }

    /// Features per input step, `I`.
    public var inputSize: Int { stack.inputSize }
    /// Features of the hidden (and cell) state, `H`.
    public var hiddenSize: Int { stack.hiddenSize }
    /// Stacked layers, `L`.
    public var numLayers: Int { stack.numLayers }
    /// Whether the layer has `bias_ih` / `bias_hh`.
    public var bias: Bool { stack.bias }
    /// Whether input and output are `[B, T, ·]` (states stay `[D·L, B, ·]`, as in PyTorch).
    public var batchFirst: Bool { stack.batchFirst }
    /// Dropout probability on the outputs of every layer but the last, in training mode.
    public var dropout: Float { stack.dropout }
    /// Whether a second direction runs the sequence backwards (`D` = 2).
    public var bidirectional: Bool { stack.bidirectional }
    /// Size of the LSTM projection `P` (0: none).
    public var projSize: Int { stack.projSize }
    /// Size of `h` and of each direction's output: `P` with a projection, else `H`.
    public var outputSize: Int { stack.outputSize }

    /// Every parameter under its PyTorch `state_dict` name, in PyTorch's order.
    public var namedParameters: [(name: String, tensor: Tensor)] { stack.namedParameters }

    /// Training mode enables dropout between layers.
    public var isTraining: Bool {
        get { stack.isTraining }
        set { stack.isTraining = newValue }
    }
}
