/// Seeing inside a recurrent layer: every gate's activation at every step, and the gradient of a
/// loss with respect to each step's hidden state (the vanishing gradient the tutorials describe).
extension RecurrentSequence {
    /// Each recorded value by time, `[T, B, H]` flat: the cell's gates (LSTM `i, f, g, o`; GRU
    /// `r, z, n`; Elman `h`) and, for cells with state, `c`. Zeros at steps a row does not take
    /// (unequal lengths). Needs the history of a recorded forward pass.
    func recordedValues() -> [(name: String, values: [Float])] {
        precondition(keepsHistory, "RecurrentSequence: tracing needs a recorded forward pass")
        let (T, B, H) = (steps, batch, hidden), width = cell.cacheFloats(hidden: H)
        var named = cell.recordedGates(hidden: H).map { (name: $0.name, offset: $0.offset, values: [Float](repeating: 0, count: T * B * H)) }
        var c = [Float](repeating: 0, count: cell.hasCellState ? T * B * H : 0)
        for s in 0..<T {
            let t = time(s)
            for b in 0..<active(s) {
                for k in named.indices {
                    let source = cache.base + (s * B + b) * width + named[k].offset
                    for j in 0..<H { named[k].values[(t * B + b) * H + j] = source[j] }
                }
                if cell.hasCellState { for j in 0..<H { c[(t * B + b) * H + j] = cs.base[(state(s + 1) * B + b) * H + j] } }
            }
        }
        return named.map { ($0.name, $0.values) } + (cell.hasCellState ? [("c", c)] : [])
    }
}

extension RecurrentLayer {
    /// Runs the layer and records every step's gates.
    ///
    /// - Parameters: as for the layer's call (`input` laid out as the layer takes it; `lengths` for
    ///   a padded batch of unequal sequences).
    /// - Returns: the layer's output, and for each layer and direction (index `l·D + d`) the
    ///   recorded values by name, each `[T, B, H]` in time order whatever the layout: LSTM `i`,
    ///   `f`, `g`, `o`, `c`; GRU `r`, `z`, `n`; RNN `h` (the variants alike). Tracing changes no result.
    public func trace(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil) throws
        -> (output: Tensor, gates: [[(name: String, values: Tensor)]])
    {
        var sequences: [RecurrentSequence] = []
        // A leaf that needs a gradient makes every layer keep its history (whatever the weights need).
        let r = try GradMode.$isEnabled.withValue(true) {
            try stack.run(input.detached().asParameter(), h0: h0, c0: c0, layerName: "trace", lengths: lengths) { sequences.append($0) }
        }
        let (T, B, H) = (sequences.first?.steps ?? 0, sequences.first?.batch ?? 0, hiddenSize)
        // With unequal lengths the sequences ran longest first: back to the caller's row order.
        let order = try UnequalLengths(lengths, steps: T, batch: B, layerName: "trace")
        let gates = sequences.map {
            $0.recordedValues().map { named -> (name: String, values: Tensor) in
                let values = Tensor(shape: [T, B, H], scalars: named.values)
                return (named.name, order.map { $0.restoredOutput(values).detached() } ?? values)
            }
        }
        return (r.output.detached(), gates)
    }

    /// The gradient of `loss(output)` with respect to each step's hidden state, as norms over the
    /// batch: for each layer and direction (index `l·D + d`), `‖∂L/∂hₜ‖` for every time `t` (the
    /// gradient through every later step, so its decay with distance from where the loss reads the
    /// output shows a vanishing gradient). The parameters' gradients accumulate, as in any backward pass.
    public func stateGradientNorms(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil,
                                   loss: (_ output: Tensor) throws -> Tensor) throws -> [[Float]]
    {
        var sequences: [RecurrentSequence] = []
        try GradMode.$isEnabled.withValue(true) {
            let r = try stack.run(input.detached().asParameter(), h0: h0, c0: c0, layerName: "trace", lengths: lengths) { sequences.append($0) }
            for s in sequences { s.recordsStateGradients = true }
            try loss(r.output).backward()
        }
        return sequences.map(\.stateGradientNorms)
    }
}
