/// The convolutional GRU of RAFT (`core/update.py`, Teed & Deng 2020): three 3×3 convolutions over
/// `[h, x]`, with the update gate weighting the new candidate.
///
///     hx = [h, x]                               [B, C + Cᵢ, H, W]
///     z = σ(convz(hx))   r = σ(convr(hx))
///     q = tanh(convq([r ⊙ h, x]))
///     h' = (1 − z) ⊙ h + z ⊙ q
///
/// Unlike PyTorch's `nn.GRU` (`h' = (1 − z) ⊙ n + z ⊙ h`), `z` weights the candidate `q`, and `h`
/// comes before `x` in the concatenation; both as RAFT.
///
/// Parameters (RAFT's names, so a checkpoint's `update_block.gru.*` loads by name with
/// ``Module/loadStateDict(_:prefix:strict:)``):
///
/// | name                         | shape                 | init          |
/// |------------------------------|-----------------------|---------------|
/// | `convz.weight`, `convr.weight`, `convq.weight` | `[C, C + Cᵢ, 3, 3]` | `nn.Conv2d`'s |
/// | `convz.bias`, `convr.bias`, `convq.bias`       | `[C]`               | `nn.Conv2d`'s |
///
/// RAFT's own: `ConvGRU(hiddenChannels: 128, inputChannels: 192 + 128)`.
public final class ConvGRU: ConvRecurrentCell {
    /// Cᵢ.
    public let inputChannels: Int
    /// C.
    public let hiddenChannels: Int
    /// The update gate's convolution, `C + Cᵢ → C`, 3×3, padding 1.
    public let convz: Conv2d
    /// The reset gate's convolution.
    public let convr: Conv2d
    /// The candidate's convolution (over `[r ⊙ h, x]`).
    public let convq: Conv2d
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true
    /// `h` only.
    public static var stateCount: Int { 1 }

    /// Creates a cell with freshly initialised parameters (RAFT's argument order: hidden first).
    public init(hiddenChannels: Int = 128, inputChannels: Int = 192 + 128) {
        precondition(inputChannels > 0 && hiddenChannels > 0, "ConvGRU: channels must be positive")
        (self.inputChannels, self.hiddenChannels) = (inputChannels, hiddenChannels)
        let make = { Conv2d(inChannels: hiddenChannels + inputChannels, outChannels: hiddenChannels, kernelSize: 3, padding: 1) }
        (convz, convr, convq) = (make(), make(), make())
    }

    /// `convz.*`, `convr.*`, `convq.*`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("convz", convz.namedParameters) + prefixed("convr", convr.namedParameters) + prefixed("convq", convq.namedParameters)
    }

    /// One step as RAFT calls it, `h = gru(h, x)`: `h` `[B, C, H, W]`, `x` `[B, Cᵢ, H, W]` → `[B, C, H, W]`.
    /// - Throws: ``RecurrentError`` when the shapes do not fit the cell or each other.
    public func callAsFunction(h: Tensor, x: Tensor) throws -> Tensor {
        try validateStep("ConvGRU", x: x, state: [h], inputChannels: inputChannels, hiddenChannels: hiddenChannels)
        return try convGRUUpdate(h: h, x: x, convz: convz, convr: convr, convq: convq)
    }

    /// ``callAsFunction(h:x:)`` with the state as `[h]`.
    public func step(_ x: Tensor, state: [Tensor]) throws -> [Tensor] {
        precondition(state.count == 1, "ConvGRU.step: state must be [h]")
        return [try self(h: state[0], x: x)]
    }
}

/// RAFT's GRU update with three given convolutions (shared by ``ConvGRU`` and both halves of
/// ``SepConvGRU``); the shapes are already checked.
///
/// - Parameters:
///   - h: `[B, C, H, W]`.
///   - x: `[B, Cᵢ, H, W]`.
/// - Returns: `(1 − z) ⊙ h + z ⊙ q`, `[B, C, H, W]`.
func convGRUUpdate(h: Tensor, x: Tensor, convz: Conv2d, convr: Conv2d, convq: Conv2d) throws -> Tensor {
    let hx = concat([h, x], axis: 1)
    let z = sigmoid(try convz(hx))
    let r = sigmoid(try convr(hx))
    let q = tanh(try convq(concat([r * h, x], axis: 1)))
    return h + z * (q - h)  // (1 − z) ⊙ h + z ⊙ q
}

extension ConvRecurrentLayer where Cell == ConvGRU {
    /// `numLayers` RAFT ``ConvGRU`` cells of `hiddenChannels` each, run over a sequence.
    public convenience init(inputChannels: Int, hiddenChannels: Int, numLayers: Int = 1, batchFirst: Bool = false) {
        precondition(numLayers > 0, "ConvGRU layer: numLayers must be positive, got \(numLayers)")
        self.init(cells: (0..<numLayers).map {
            ConvGRU(hiddenChannels: hiddenChannels, inputChannels: $0 == 0 ? inputChannels : hiddenChannels)
        }, batchFirst: batchFirst)
    }
}
