/// A single-step recurrent cell module: `weight_ih` `[G·H, I]`, `weight_hh` `[G·H, H]`,
/// `bias_ih`, `bias_hh` `[G·H]`, all from U(-1/√H, 1/√H) (PyTorch's `nn.RNNCell`,
/// `nn.LSTMCell`, `nn.GRUCell`). One step runs through the same ``RecurrentCell`` kernel and
/// sequence operation as the multi-step layers, with `T = 1`.
public class RecurrentCellModule: Module {
    let cell: any RecurrentCell
    let name: String
    /// Features of the input, `I`.
    public let inputSize: Int
    /// Features of the state, `H`.
    public let hiddenSize: Int
    /// `[G·H, I]`.
    public let weightIH: Tensor
    /// `[G·H, H]`.
    public let weightHH: Tensor
    /// `[G·H]`, or nil without bias.
    public let biasIH: Tensor?
    /// `[G·H]`, or nil without bias.
    public let biasHH: Tensor?
    /// The variant's own parameters (`weight_peephole`, `ln_weight_ih`, …), in the cell's order.
    let cellParameters: [(name: String, tensor: Tensor)]
    /// What sets the cell apart from PyTorch's standard one.
    public let options: CellOptions
    /// Cells have no dropout; kept for ``Module``.
    public var isTraining = true

    init(kind: ModelArchitecture.Kind, nonlinearity: Nonlinearity = .tanh, options: CellOptions, name: String,
         inputSize: Int, hiddenSize: Int, bias: Bool) {
        precondition(inputSize > 0 && hiddenSize > 0, "\(name): sizes must be positive, got \(inputSize), \(hiddenSize)")
        do { try options.validate(for: kind) } catch { preconditionFailure("\(error)") }
        let cell = options.cells(kind: kind, nonlinearity: nonlinearity, directions: 1)[0]
        self.cell = cell
        self.options = options
        self.name = name
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        let specs = RecurrentStack.parameterTable(gateCount: cell.gateCount, inputSize: inputSize, hiddenSize: hiddenSize,
                                                  numLayers: 1, bias: bias, directions: 1, projSize: 0,
                                                  cellParameters: cell.ownParameters(hidden: hiddenSize))[0]
        let tensors = specs.map { $0.makeTensor() }
        (weightIH, weightHH) = (tensors[0], tensors[1])
        (biasIH, biasHH) = bias ? (tensors[2], tensors[3]) : (nil, nil)
        cellParameters = zip(specs, tensors).dropFirst(bias ? 4 : 2).map { (String($0.0.name.dropLast(3)), $0.1) }
    }

    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (PyTorch's cell names, without `_l0`), then
    /// the variant's own (`weight_peephole`, `ln_weight_ih`, …).
    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight_ih", weightIH), ("weight_hh", weightHH)] + (biasIH.map { [("bias_ih", $0), ("bias_hh", biasHH!)] } ?? [])
            + cellParameters
    }

    /// One step: `input` `[B, I]` or `[I]`, states `[B, H]` or `[H]` (zeros when nil).
    func step(_ input: Tensor, h: Tensor?, c: Tensor?) throws -> (h: Tensor, c: Tensor?) {
        let unbatched = input.rank == 1
        guard (input.rank == 1 || input.rank == 2), input.shape.last == inputSize else {
            throw RecurrentError.shapeMismatch("\(name): expected input [B, \(inputSize)] or [\(inputSize)], got \(input.shape)")
        }
        let batch = unbatched ? 1 : input.shape[0]
        let expected = unbatched ? [hiddenSize] : [batch, hiddenSize]
        func state(_ s: Tensor?, _ label: String) throws -> Tensor {
            guard let s else { return Tensor.zeros([batch, hiddenSize]) }
            guard s.shape == expected else {
                throw RecurrentError.shapeMismatch("\(name): expected \(label) of shape \(expected), got \(s.shape)")
            }
            return s.reshaped([batch, hiddenSize])
        }
        let h0 = try state(h, "hx"), c0 = cell.hasCellState ? try state(c, "cx") : nil
        let weights = RecurrentSequence.Weights(inputWeight: weightIH, hiddenWeight: weightHH, inputBias: biasIH,
                                                hiddenBias: biasHH, projection: nil, cellParameters: cellParameters.map(\.tensor))
        let r = RecurrentSequence.apply(cell: cell, x: input.reshaped([1, batch, inputSize]), h0: h0, c0: c0,
                                        weights: weights, reverse: false)
        return (r.h.reshaped(expected), r.c?.reshaped(expected))
    }
}

/// One step of an Elman RNN, `h' = act(x Wᵢₕᵀ + bᵢₕ + h Wₕₕᵀ + bₕₕ)` (PyTorch's `nn.RNNCell`).
public final class RNNCell: RecurrentCellModule {
    /// Creates the cell with parameters from U(-1/√H, 1/√H); `activation` (any of ONNX's) replaces
    /// `nonlinearity`, `clip` clamps the pre-activation to `[−clip, clip]`.
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, nonlinearity: Nonlinearity = .tanh,
                activation: Activation? = nil, clip: Float? = nil) {
        super.init(kind: .rnn, nonlinearity: nonlinearity, options: CellOptions(activations: activation.map { [$0] }, clip: clip),
                   name: "RNNCell", inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
    }

    /// `input` `[B, I]` (or `[I]`), `h` `[B, H]` (or `[H]`, zeros when nil) → `h'` of `h`'s shape.
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) throws -> Tensor {
        try step(input, h: h, c: nil).h
    }
}

/// One LSTM step with gate order i, f, g, o (PyTorch's `nn.LSTMCell`).
public final class LSTMCell: RecurrentCellModule {
    /// Creates the cell with parameters from U(-1/√H, 1/√H) (layer norm gains 1), with the
    /// variants of ``LSTM`` (see ``CellOptions``).
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, peephole: Bool = false, coupledInputForget: Bool = false,
                layerNorm: Bool = false, activations: LSTMActivations? = nil, clip: Float? = nil, forgetBias: Float? = nil) {
        super.init(kind: .lstm, options: CellOptions(peephole: peephole, coupledInputForget: coupledInputForget,
                                                     layerNorm: layerNorm, activations: activations?.list, clip: clip),
                   name: "LSTMCell", inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
        if let forgetBias {
            precondition(bias, "LSTMCell: forgetBias needs bias")
            for (t, value) in [(biasIH!, forgetBias), (biasHH!, 0)] {
                var values = t.scalars
                for j in hiddenSize..<(2 * hiddenSize) { values[j] = value }
                t.scalars = values
            }
        }
    }

    /// `input` `[B, I]` (or `[I]`), `state` `(h, c)` each `[B, H]` (zeros when nil) → `(h', c')`.
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil) throws -> (h: Tensor, c: Tensor) {
        let r = try step(input, h: state?.h, c: state?.c)
        return (r.h, r.c!)
    }
}

/// One GRU step with gate order r, z, n (PyTorch's `nn.GRUCell`).
public final class GRUCell: RecurrentCellModule {
    /// Creates the cell with parameters from U(-1/√H, 1/√H) (layer norm gains 1), with the
    /// variants of ``GRU`` (see ``CellOptions``).
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, resetAfter: Bool = true, layerNorm: Bool = false,
                activations: GRUActivations? = nil, clip: Float? = nil) {
        super.init(kind: .gru, options: CellOptions(layerNorm: layerNorm, resetAfter: resetAfter, activations: activations?.list,
                                                    clip: clip),
                   name: "GRUCell", inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
    }

    /// `input` `[B, I]` (or `[I]`), `h` `[B, H]` (or `[H]`, zeros when nil) → `h'` of `h`'s shape.
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) throws -> Tensor {
        try step(input, h: h, c: nil).h
    }
}
