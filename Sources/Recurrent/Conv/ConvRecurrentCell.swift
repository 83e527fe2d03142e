// Convolutional recurrent cells share one loop over time and layers (this file); each cell kind
// writes only its step (ConvLSTM.swift, ConvGRU.swift, SepConvGRU.swift).
//
// Legend: T steps, B batch, L layers, Cᵢ input channels, C hidden channels, H × W the frame.

/// One step of a recurrent cell whose state is a stack of feature maps (`[B, C, H, W]`).
///
/// A cell reads an input frame `x` `[B, Cᵢ, H, W]` and its state (`h`, or `h` and `c`, each
/// `[B, C, H, W]`) and returns the new state; ``ConvRecurrentLayer`` runs any cell over a sequence
/// and a stack of layers.
public protocol ConvRecurrentCell: Module {
    /// Cᵢ: channels of an input frame.
    var inputChannels: Int { get }
    /// C: channels of the hidden state (and of the output).
    var hiddenChannels: Int { get }
    /// How many state tensors the cell carries: 1 (`h`) or 2 (`h`, `c`); `h` comes first.
    static var stateCount: Int { get }

    /// One step.
    /// - Parameters:
    ///   - x: `[B, Cᵢ, H, W]`.
    ///   - state: ``stateCount`` tensors `[B, C, H, W]`, `h` first.
    /// - Returns: the new state, `h` first.
    /// - Throws: ``RecurrentError`` when the shapes do not fit the cell or each other.
    func step(_ x: Tensor, state: [Tensor]) throws -> [Tensor]
}

/// Checks one step's input `x` `[B, Cᵢ, H, W]` and state tensors `[B, C, H, W]` against a cell's
/// channel counts and each other; `name` starts the message.
func validateStep(_ name: String, x: Tensor, state: [Tensor], inputChannels: Int, hiddenChannels: Int) throws {
    guard x.rank == 4 else {
        throw RecurrentError.shapeMismatch("\(name): input must be [batch, \(inputChannels), height, width] (rank 4), got \(x.shape)")
    }
    guard x.shape[1] == inputChannels else {
        throw RecurrentError.shapeMismatch("\(name): input \(x.shape) has \(x.shape[1]) channels, the cell expects \(inputChannels)")
    }
    let expected = [x.shape[0], hiddenChannels, x.shape[2], x.shape[3]]
    for s in state where s.shape != expected {
        throw RecurrentError.shapeMismatch("\(name): state \(s.shape) does not fit input \(x.shape): expected \(expected)")
    }
}

/// A stack of convolutional recurrent cells run over a sequence of frames (the layer of
/// ndrplz/ConvLSTM_pytorch and Keras' `ConvLSTM2D`, for any ``ConvRecurrentCell``).
///
/// Layer `l` reads layer `l − 1`'s hidden states at every step; the output is the last layer's
/// `h` at every step. Parameters are the cells' under `cell_list.{l}.` (ndrplz's names).
///
/// ```swift
/// let layer = ConvLSTM(inputChannels: 1, hiddenChannels: 64, kernelSize: (3, 3), numLayers: 2)
/// let (output, state) = try layer(frames)   // [T, B, 1, H, W] → [T, B, 64, H, W]; state: [h_n, c_n]
/// ```
public final class ConvRecurrentLayer<Cell: ConvRecurrentCell>: Module {
    /// The cells, first layer first.
    public let cells: [Cell]
    /// Whether inputs and outputs are `[B, T, C, H, W]` rather than `[T, B, C, H, W]`.
    public let batchFirst: Bool
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true

    /// L: the number of stacked layers.
    public var numLayers: Int { cells.count }

    /// Stacks `cells`; each must read as many channels as the one before produces.
    public init(cells: [Cell], batchFirst: Bool = false) {
        precondition(!cells.isEmpty, "ConvRecurrentLayer: needs at least one cell")
        for l in 1..<max(cells.count, 1) {
            precondition(cells[l].inputChannels == cells[l - 1].hiddenChannels,
                         "ConvRecurrentLayer: cell \(l) reads \(cells[l].inputChannels) channels, cell \(l - 1) gives \(cells[l - 1].hiddenChannels)")
        }
        (self.cells, self.batchFirst) = (cells, batchFirst)
    }

    /// Every cell's parameters under `cell_list.{l}.`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        cells.enumerated().flatMap { l, cell in prefixed("cell_list.\(l)", cell.namedParameters) }
    }

    /// Runs the sequence through every layer.
    ///
    /// - Parameters:
    ///   - x: `[T, B, Cᵢ, H, W]` (`[B, T, Cᵢ, H, W]` when ``batchFirst``).
    ///   - initialState: nil (zeros) or `Cell.stateCount` tensors `[L, B, C, H, W]`, `h₀` first.
    /// - Returns: `output` `[T, B, C, H, W]` (batch first likewise), the last layer's `h` at every
    ///   step, and `state`, the final `[h_n]` or `[h_n, c_n]`, each `[L, B, C, H, W]`.
    /// - Throws: ``RecurrentError`` for an input of the wrong rank or channels, an empty sequence,
    ///   or an initial state that does not fit.
    public func callAsFunction(_ x: Tensor, initialState: [Tensor]? = nil) throws -> (output: Tensor, state: [Tensor]) {
        let hidden = cells[cells.count - 1].hiddenChannels
        guard x.rank == 5 else {
            throw RecurrentError.shapeMismatch(
                "ConvRecurrentLayer: input must be \(batchFirst ? "[batch, steps" : "[steps, batch"), channels, height, width] (rank 5), got \(x.shape)")
        }
        let input = batchFirst ? x.transposed(0, 1) : x  // [T, B, Cᵢ, H, W]
        let (steps, batch, height, width) = (input.shape[0], input.shape[1], input.shape[3], input.shape[4])
        guard steps > 0 else { throw RecurrentError.shapeMismatch("ConvRecurrentLayer: the sequence has no steps (input \(x.shape))") }
        guard input.shape[2] == cells[0].inputChannels else {
            throw RecurrentError.shapeMismatch("ConvRecurrentLayer: input \(x.shape) has \(input.shape[2]) channels, the first cell expects \(cells[0].inputChannels)")
        }
        if let initialState {
            guard initialState.count == Cell.stateCount else {
                throw RecurrentError.shapeMismatch("ConvRecurrentLayer: initial state needs \(Cell.stateCount) tensors, got \(initialState.count)")
            }
            for (l, cell) in cells.enumerated() where cell.hiddenChannels != hidden {
                throw RecurrentError.shapeMismatch("ConvRecurrentLayer: an initial state [L, B, C, H, W] needs one C; layer \(l) has \(cell.hiddenChannels), the last \(hidden)")
            }
            let expected = [cells.count, batch, hidden, height, width]
            for s in initialState where s.shape != expected {
                throw RecurrentError.shapeMismatch("ConvRecurrentLayer: initial state \(s.shape) does not fit input \(x.shape): expected \(expected)")
            }
        }
        var frames = (0..<steps).map { input.narrowed(axis: 0, start: $0, length: 1).squeezed(at: 0) }  // [B, Cᵢ, H, W] each
        var finals: [[Tensor]] = []  // per layer: the final state
        for (l, cell) in cells.enumerated() {
            var state = initialState.map { $0.map { $0.narrowed(axis: 0, start: l, length: 1).squeezed(at: 0) } }
                ?? (0..<Cell.stateCount).map { _ in Tensor.zeros([batch, cell.hiddenChannels, height, width]) }
            for t in 0..<steps {
                state = try cell.step(frames[t], state: state)
                frames[t] = state[0]
            }
            finals.append(state)
        }
        let output = concat(frames.map { $0.unsqueezed(at: 0) }, axis: 0)  // [T, B, C, H, W]
        let state = (0..<Cell.stateCount).map { k in concat(finals.map { $0[k].unsqueezed(at: 0) }, axis: 0) }
        return (batchFirst ? output.transposed(0, 1) : output, state)
    }
}
