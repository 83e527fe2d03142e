/// The convolutional LSTM cell of Shi et al. 2015, in the form of ndrplz/ConvLSTM_pytorch and
/// Keras' `ConvLSTM2D`: one convolution over the concatenation `[x, h]` gives the four gates.
///
///     a = conv([x, h])                         [B, 4C, H, W], split as i, f, o, g (ndrplz's order)
///     i = σ(a_i + w_ci ⊙ c)   f = σ(a_f + w_cf ⊙ c)   g = tanh(a_g)
///     c' = f ⊙ c + i ⊙ g
///     o = σ(a_o + w_co ⊙ c')                   (the peephole terms only with `peepholeFrame`)
///     h' = o ⊙ tanh(c')
///
/// Parameters (ndrplz's names; the peepholes, Shi et al.'s `W_ci`, `W_cf`, `W_co`, are ours):
///
/// | name          | shape                        | init                        |
/// |---------------|------------------------------|-----------------------------|
/// | `conv.weight` | `[4C, Cᵢ + C, kH, kW]`       | `nn.Conv2d`'s               |
/// | `conv.bias`   | `[4C]` (with `bias`)         | `nn.Conv2d`'s               |
/// | `w_ci`, `w_cf`, `w_co` | `[C, H, W]` (with `peepholeFrame`) | zeros (no peephole at first) |
///
/// Hadamard peepholes tie the cell to one frame size `H × W`.
public final class ConvLSTMCell: ConvRecurrentCell {
    /// Cᵢ.
    public let inputChannels: Int
    /// C.
    public let hiddenChannels: Int
    /// The convolution over `[x, h]`: `Cᵢ + C → 4C` channels, padding `kernel / 2` ("same").
    public let conv: Conv2d
    /// `w_ci`, `w_cf`, `w_co`, each `[C, H, W]`, or nil without peepholes.
    public let peepholes: (input: Tensor, forget: Tensor, output: Tensor)?
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true
    /// `h` and `c`.
    public static var stateCount: Int { 2 }

    /// Creates a cell with freshly initialised parameters.
    ///
    /// - Parameters:
    ///   - kernelSize: odd sizes (the padding `k / 2` keeps the frame size only for those).
    ///   - peepholeFrame: the frame size `(H, W)` of Hadamard peepholes, or nil for none.
    public init(inputChannels: Int, hiddenChannels: Int, kernelSize: (height: Int, width: Int), bias: Bool = true,
                peepholeFrame: (height: Int, width: Int)? = nil) {
        precondition(inputChannels > 0 && hiddenChannels > 0, "ConvLSTMCell: channels must be positive")
        precondition(kernelSize.height % 2 == 1 && kernelSize.width % 2 == 1,
                     "ConvLSTMCell: kernel sizes must be odd (padding k / 2 keeps the frame), got \(kernelSize)")
        (self.inputChannels, self.hiddenChannels) = (inputChannels, hiddenChannels)
        conv = Conv2d(inChannels: inputChannels + hiddenChannels, outChannels: 4 * hiddenChannels, kernelSize: kernelSize,
                      padding: .explicit(height: kernelSize.height / 2, width: kernelSize.width / 2), bias: bias)
        peepholes = peepholeFrame.map { frame in
            precondition(frame.height > 0 && frame.width > 0, "ConvLSTMCell: peephole frame must be positive, got \(frame)")
            let shape = [hiddenChannels, frame.height, frame.width]
            return (Tensor.zeros(shape, requiresGrad: true), Tensor.zeros(shape, requiresGrad: true), Tensor.zeros(shape, requiresGrad: true))
        }
    }

    /// `conv.weight`, `conv.bias`, then `w_ci`, `w_cf`, `w_co`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("conv", conv.namedParameters)
            + (peepholes.map { [("w_ci", $0.input), ("w_cf", $0.forget), ("w_co", $0.output)] } ?? [])
    }

    /// One step: `x` `[B, Cᵢ, H, W]`, `h` and `c` `[B, C, H, W]` → the new `(h, c)`.
    /// - Throws: ``RecurrentError`` when the shapes do not fit the cell or each other, or the
    ///   frame differs from the peepholes'.
    public func callAsFunction(_ x: Tensor, state: (h: Tensor, c: Tensor)) throws -> (h: Tensor, c: Tensor) {
        try validateStep("ConvLSTMCell", x: x, state: [state.h, state.c], inputChannels: inputChannels, hiddenChannels: hiddenChannels)
        if let peepholes, Array(peepholes.input.shape.dropFirst()) != Array(x.shape.dropFirst(2)) {
            throw RecurrentError.shapeMismatch(
                "ConvLSTMCell: the peepholes are for \(peepholes.input.shape[1])x\(peepholes.input.shape[2]) frames, got input \(x.shape)")
        }
        let (h, c) = state
        let a = try conv(concat([x, h], axis: 1))  // [B, 4C, H, W]
        let gate = { (k: Int) in a.narrowed(axis: 1, start: k * self.hiddenChannels, length: self.hiddenChannels) }
        var (ai, af, ao) = (gate(0), gate(1), gate(2))
        if let peepholes {
            ai = ai + peepholes.input * c
            af = af + peepholes.forget * c
        }
        let (i, f, g) = (sigmoid(ai), sigmoid(af), tanh(gate(3)))
        let cNext = f * c + i * g
        if let peepholes { ao = ao + peepholes.output * cNext }
        return (sigmoid(ao) * tanh(cNext), cNext)
    }

    /// ``callAsFunction(_:state:)`` with the state as `[h, c]`.
    public func step(_ x: Tensor, state: [Tensor]) throws -> [Tensor] {
        precondition(state.count == 2, "ConvLSTMCell.step: state must be [h, c]")
        let (h, c) = try self(x, state: (state[0], state[1]))
        return [h, c]
    }
}

/// A stack of ``ConvLSTMCell``s over a sequence (ndrplz's `ConvLSTM`; Keras' `ConvLSTM2D` with
/// `return_sequences=True`, `return_state=True`).
public typealias ConvLSTM = ConvRecurrentLayer<ConvLSTMCell>

extension ConvRecurrentLayer where Cell == ConvLSTMCell {
    /// `numLayers` cells of `hiddenChannels` each (ndrplz's `ConvLSTM(input_dim, hidden_dim,
    /// kernel_size, num_layers, batch_first, bias)`), with Hadamard peepholes for `peepholeFrame`
    /// frames when given.
    public convenience init(inputChannels: Int, hiddenChannels: Int, kernelSize: (height: Int, width: Int), numLayers: Int = 1,
                            bias: Bool = true, batchFirst: Bool = false, peepholeFrame: (height: Int, width: Int)? = nil) {
        precondition(numLayers > 0, "ConvLSTM: numLayers must be positive, got \(numLayers)")
        self.init(cells: (0..<numLayers).map {
            ConvLSTMCell(inputChannels: $0 == 0 ? inputChannels : hiddenChannels, hiddenChannels: hiddenChannels,
                         kernelSize: kernelSize, bias: bias, peepholeFrame: peepholeFrame)
        }, batchFirst: batchFirst)
    }
}
