/// RAFT's separable convolutional GRU (`core/update.py`): the ``ConvGRU`` update applied twice,
/// first with 1×5 kernels (padding (0, 2), along the rows), then with 5×1 kernels (padding
/// (2, 0), along the columns), each with its own three convolutions.
///
///     h½ = GRU(h, x; convz1, convr1, convq1)     1×5
///     h' = GRU(h½, x; convz2, convr2, convq2)    5×1
///
/// where `GRU(h, x) = (1 − z) ⊙ h + z ⊙ q` with `z = σ(convz([h, x]))`, `r = σ(convr([h, x]))`,
/// `q = tanh(convq([r ⊙ h, x]))`.
///
/// Parameters (RAFT's names; a checkpoint's `update_block.gru.*` loads with
/// ``Module/loadStateDict(_:prefix:strict:)``):
///
/// | name                                   | shape                 | init          |
/// |----------------------------------------|-----------------------|---------------|
/// | `convz1.weight`, `convr1.weight`, `convq1.weight` | `[C, C + Cᵢ, 1, 5]` | `nn.Conv2d`'s |
/// | `convz2.weight`, `convr2.weight`, `convq2.weight` | `[C, C + Cᵢ, 5, 1]` | `nn.Conv2d`'s |
/// | `convz1.bias` … `convq2.bias`                     | `[C]`               | `nn.Conv2d`'s |
///
/// RAFT's own: `SepConvGRU(hiddenChannels: 128, inputChannels: 192 + 128)`.
public final class SepConvGRU: ConvRecurrentCell {
    /// Cᵢ.
    public let inputChannels: Int
    /// C.
    public let hiddenChannels: Int
    /// The horizontal half (1×5): `convz1`, `convr1`, `convq1`.
    public let horizontal: (convz: Conv2d, convr: Conv2d, convq: Conv2d)
    /// The vertical half (5×1): `convz2`, `convr2`, `convq2`.
    public let vertical: (convz: Conv2d, convr: Conv2d, convq: Conv2d)
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true
    /// `h` only.
    public static var stateCount: Int { 1 }

    /// Creates a cell with freshly initialised parameters (RAFT's argument order: hidden first).
    public init(hiddenChannels: Int = 128, inputChannels: Int = 192 + 128) {
        precondition(inputChannels > 0 && hiddenChannels > 0, "SepConvGRU: channels must be positive")
        (self.inputChannels, self.hiddenChannels) = (inputChannels, hiddenChannels)
        let channels = hiddenChannels + inputChannels
        let row = { Conv2d(inChannels: channels, outChannels: hiddenChannels, kernelSize: (1, 5), padding: .explicit(height: 0, width: 2)) }
        let column = { Conv2d(inChannels: channels, outChannels: hiddenChannels, kernelSize: (5, 1), padding: .explicit(height: 2, width: 0)) }
        // In RAFT's order of creation: convz1, convr1, convq1, convz2, convr2, convq2.
        horizontal = (row(), row(), row())
        vertical = (column(), column(), column())
    }

    /// `convz1.*`, `convr1.*`, `convq1.*`, `convz2.*`, `convr2.*`, `convq2.*`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("convz1", horizontal.convz.namedParameters) + prefixed("convr1", horizontal.convr.namedParameters)
            + prefixed("convq1", horizontal.convq.namedParameters) + prefixed("convz2", vertical.convz.namedParameters)
            + prefixed("convr2", vertical.convr.namedParameters) + prefixed("convq2", vertical.convq.namedParameters)
    }

    /// One step as RAFT calls it, `h = gru(h, x)`: `h` `[B, C, H, W]`, `x` `[B, Cᵢ, H, W]` → `[B, C, H, W]`.
    /// - Throws: ``RecurrentError`` when the shapes do not fit the cell or each other.
    public func callAsFunction(h: Tensor, x: Tensor) throws -> Tensor {
        try validateStep("SepConvGRU", x: x, state: [h], inputChannels: inputChannels, hiddenChannels: hiddenChannels)
        let half = try convGRUUpdate(h: h, x: x, convz: horizontal.convz, convr: horizontal.convr, convq: horizontal.convq)
        return try convGRUUpdate(h: half, x: x, convz: vertical.convz, convr: vertical.convr, convq: vertical.convq)
    }

    /// ``callAsFunction(h:x:)`` with the state as `[h]`.
    public func step(_ x: Tensor, state: [Tensor]) throws -> [Tensor] {
        precondition(state.count == 1, "SepConvGRU.step: state must be [h]")
        return [try self(h: state[0], x: x)]
    }
}

extension ConvRecurrentLayer where Cell == SepConvGRU {
    /// `numLayers` RAFT ``SepConvGRU`` cells of `hiddenChannels` each, run over a sequence.
    public convenience init(inputChannels: Int, hiddenChannels: Int, numLayers: Int = 1, batchFirst: Bool = false) {
        precondition(numLayers > 0, "SepConvGRU layer: numLayers must be positive, got \(numLayers)")
        self.init(cells: (0..<numLayers).map {
            SepConvGRU(hiddenChannels: hiddenChannels, inputChannels: $0 == 0 ? inputChannels : hiddenChannels)
        }, batchFirst: batchFirst)
    }
}
