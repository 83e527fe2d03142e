/// The layers-and-directions wiring shared by ``RNN``, ``LSTM`` and ``GRU``, written once.
///
/// Layer `l` reads the concatenated outputs of both directions of layer `l-1` (after dropout in
/// training mode), the reverse direction runs the sequence backwards, and the final states are
/// stacked as `[D·L, B, Hₒ]` with index `l·D + d`, exactly as PyTorch does.
final class RecurrentStack {
    /// The cell of each direction (they differ only in their activations).
    let cells: [any RecurrentCell]
    /// The forward direction's cell: what every direction's shares (gates, state, parameters).
    var cell: any RecurrentCell { cells[0] }
    let inputSize: Int, hiddenSize: Int, numLayers: Int
    let bias: Bool, batchFirst: Bool, dropout: Float, bidirectional: Bool, projSize: Int
    /// Every parameter, in PyTorch's `state_dict` order.
    let namedParameters: [(name: String, tensor: Tensor)]
    /// The weights of layer `l`, direction `d` at index `l·D + d`.
    let weights: [RecurrentSequence.Weights]
    var isTraining = true
    /// The options the cells were made from (recorded in model files).
    var options = CellOptions()

    var directions: Int { bidirectional ? 2 : 1 }
    /// `Hₒ`: the size of `h` and of each direction's output (`projSize` if set, else `hiddenSize`).
    var outputSize: Int { projSize > 0 ? projSize : hiddenSize }

    /// Creates the stack; `cells` has one cell per direction (or one for both).
    init(cells: [any RecurrentCell], name: String, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool,
         batchFirst: Bool, dropout: Float, bidirectional: Bool, projSize: Int) {
        precondition(inputSize > 0, "\(name): inputSize must be positive, got \(inputSize)")
        precondition(hiddenSize > 0, "\(name): hiddenSize must be positive, got \(hiddenSize)")
        precondition(numLayers >= 1, "\(name): numLayers must be at least 1, got \(numLayers)")
        precondition(dropout >= 0 && dropout < 1, "\(name): dropout must be in [0, 1), got \(dropout)")
        precondition(projSize >= 0, "\(name): projSize must be non-negative, got \(projSize)")
        precondition(projSize < hiddenSize, "\(name): projSize (\(projSize)) must be smaller than hiddenSize (\(hiddenSize))")
        precondition(!cells.isEmpty)
        self.cells = bidirectional && cells.count == 1 ? [cells[0], cells[0]] : cells
        let cell = cells[0]
        precondition(projSize == 0 || cell.lateGates == 0, "\(name): a projection needs one recurrent product per step")
        (self.inputSize, self.hiddenSize, self.numLayers) = (inputSize, hiddenSize, numLayers)
        (self.bias, self.batchFirst, self.dropout) = (bias, batchFirst, dropout)
        (self.bidirectional, self.projSize) = (bidirectional, projSize)
        let specs = RecurrentStack.parameterTable(
            gateCount: cell.gateCount, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
            bias: bias, directions: bidirectional ? 2 : 1, projSize: projSize, cellParameters: cell.ownParameters(hidden: hiddenSize))
        var named: [(name: String, tensor: Tensor)] = []
        var weights: [RecurrentSequence.Weights] = []
        for group in specs {
            let t = group.map { ($0.name, $0.makeTensor()) }
            named += t
            func role(_ prefix: String) -> Tensor? { t.first { $0.0.hasPrefix(prefix + "_l") }?.1 }
            weights.append(.init(inputWeight: role("weight_ih")!, hiddenWeight: role("weight_hh")!,
                                 inputBias: role("bias_ih"), hiddenBias: role("bias_hh"), projection: role("weight_hr"),
                                 cellParameters: Array(t.dropFirst(2 + (bias ? 2 : 0) + (projSize > 0 ? 1 : 0)).map(\.1))))
        }
        namedParameters = named
        self.weights = weights
    }

    /// The parameter table: for each layer and direction, PyTorch's names, shapes and the init
    /// range U(-1/√H, 1/√H) that PyTorch uses for every recurrent parameter, then the cell's own
    /// parameters (`weight_peephole_l0`, `ln_weight_ih_l0`, …) with theirs.
    static func parameterTable(gateCount G: Int, inputSize: Int, hiddenSize H: Int, numLayers: Int, bias: Bool,
                               directions: Int, projSize P: Int, cellParameters: [CellParameter] = []) -> [[ParameterSpec]] {
        let bound = 1 / Float(H).squareRoot()
        let Ho = P > 0 ? P : H
        var table: [[ParameterSpec]] = []
        for l in 0..<numLayers {
            for d in 0..<directions {
                let suffix = "_l\(l)" + (d == 1 ? "_reverse" : "")
                let layerInput = l == 0 ? inputSize : directions * Ho
                var group = [ParameterSpec(name: "weight_ih" + suffix, shape: [G * H, layerInput], bound: bound),
                             ParameterSpec(name: "weight_hh" + suffix, shape: [G * H, Ho], bound: bound)]
                if bias {
                    group += [ParameterSpec(name: "bias_ih" + suffix, shape: [G * H], bound: bound),
                              ParameterSpec(name: "bias_hh" + suffix, shape: [G * H], bound: bound)]
                }
                if P > 0 { group.append(ParameterSpec(name: "weight_hr" + suffix, shape: [P, H], bound: bound)) }
                for p in cellParameters {
                    group.append(ParameterSpec(name: p.name + suffix, shape: [p.length], bound: bound, initialValue: p.initialValue))
                }
                table.append(group)
            }
        }
        return table
    }

    /// Whether a bidirectional layer runs its two directions at the same time on two threads: when
    /// the batch is too small for each direction to split its rows over the threads. (Splitting the
    /// hidden units instead costs a barrier per step and moves the same weight bytes per core.)
    func runsDirectionsTogether(batch: Int) -> Bool {
        let threads = WorkerPool.availableThreads
        return threads >= 2 && batch < 4 * threads
    }

    /// Whether layers `l` and `l+1` run at once, the upper one a step behind the lower, each on its
    /// own thread: for one direction, when the batch is too small to split its rows over the
    /// threads, no dropout sits between the layers, and each layer's weights fit one core's L2
    /// (`Kernels.l2CacheBytes`). Measured on 2 threads against splitting each step's hidden
    /// units, with 2 MiB of L2: 1.2–1.75× faster for H ≤ 128, 1.06–1.12× for H = 200–256 at batch
    /// 1–4 except 2% slower at H = 256, batch 1; 10% slower for H = 512, whose 8 MiB per layer a
    /// core cannot keep. With 1 MiB (a Cascade Lake VM), `two-layer-200` (1.4 MB per layer) ran
    /// 22% slower pipelined, so it splits units there; on a Zen 4 VM (1 MiB of L2, a faster L3)
    /// the pipeline had been 8% faster for it.
    func pipelinesLayers(_ l: Int, batch: Int) -> Bool {
        let threads = WorkerPool.availableThreads
        func weightCount(_ l: Int) -> Int {
            let layerInput = l == 0 ? inputSize : directions * outputSize
            return cell.gateCount * hiddenSize * (layerInput + outputSize) + (projSize > 0 ? projSize * hiddenSize : 0)
        }
        return threads >= 2 && directions == 1 && l + 1 < numLayers && batch < 4 * threads
            && (dropout == 0 || !isTraining)
            && 4 * weightCount(l) <= Kernels.l2CacheBytes && 4 * weightCount(l + 1) <= Kernels.l2CacheBytes
    }

    /// Runs the stack.
    ///
    /// - Parameters:
    ///   - input: `[T, B, I]`, `[B, T, I]` when `batchFirst`, or `[T, I]` unbatched.
    ///   - h0: `[D·L, B, Hₒ]` (`[D·L, Hₒ]` unbatched), zeros when nil.
    ///   - c0: `[D·L, B, H]` for cells with state, zeros when nil.
    ///   - lengths: each sequence's length (`B` values in `1...T`, in the input's batch order), for a
    ///     batch of unequal sequences padded to `T`; nil when all are `T`.
    /// - Returns: `output` `[T, B, D·Hₒ]` (batch-first / unbatched like the input; zeros past each
    ///   length), `h` `[D·L, B, Hₒ]`, and `c` `[D·L, B, H]` for cells with state (each sequence's
    ///   state at its own end, as PyTorch's packed path gives them).
    func run(_ input: Tensor, h0: Tensor?, c0: Tensor?, layerName: String, lengths: [Int]? = nil,
             observe: ((RecurrentSequence) -> Void)? = nil) throws
        -> (output: Tensor, h: Tensor, c: Tensor?)
    {
        let unbatched = input.rank == 2
        guard input.rank == 2 || input.rank == 3 else {
            throw RecurrentError.shapeMismatch("\(layerName): input must be [T, B, \(inputSize)]\(batchFirst ? " (batchFirst: [B, T, \(inputSize)])" : "") or unbatched [T, \(inputSize)], got \(input.shape)")
        }
        guard input.shape.last == inputSize else {
            throw RecurrentError.shapeMismatch("\(layerName): input.size(-1) must be equal to inputSize. Expected \(inputSize), got \(input.shape.last!) (input shape \(input.shape))")
        }
        var x = unbatched ? input.unsqueezed(at: 1) : (batchFirst ? input.transposed(0, 1) : input)  // [T, B, I]
        let (T, B) = (x.shape[0], x.shape[1])
        guard T > 0 else { throw RecurrentError.shapeMismatch("\(layerName): expected a sequence length larger than 0, got input shape \(input.shape)") }
        guard B > 0 else { throw RecurrentError.shapeMismatch("\(layerName): expected a batch of at least one sequence, got input shape \(input.shape)") }
        let stateCount = directions * numLayers
        func state(_ given: Tensor?, size: Int, name: String) throws -> Tensor {
            let expected = unbatched ? [stateCount, size] : [stateCount, B, size]
            guard let given else { return Tensor.zeros([stateCount, B, size]) }
            guard given.shape == expected else {
                throw RecurrentError.shapeMismatch("\(layerName): expected \(name) of shape \(expected), got \(given.shape)")
            }
            return unbatched ? given.unsqueezed(at: 1) : given
        }
        var h = try state(h0, size: outputSize, name: "h0")
        var c = cell.hasCellState ? try state(c0, size: hiddenSize, name: "c0") : nil
        // Unequal lengths: the rows sorted longest first (their input zero past each length), and
        // the caller's order restored at the end.
        let order = try UnequalLengths(lengths, steps: T, batch: B, layerName: layerName)
        if let order {
            x = order.sortedInput(x)
            h = order.sortedStates(h)
            c = c.map(order.sortedStates)
        }
        let sortedLengths = order?.sortedLengths

        var hN: [Tensor] = [], cN: [Tensor] = []
        func keep(_ result: (output: Tensor, h: Tensor, c: Tensor?)) {
            if let observe, case .fused(let f)? = result.h.gradFn?.op, let sequence = f as? RecurrentSequence { observe(sequence) }
            hN.append(result.h.unsqueezed(at: 0))
            if let cOut = result.c { cN.append(cOut.unsqueezed(at: 0)) }
        }
        /// The initial states of layer `l`, direction `d`.
        func initial(_ l: Int, _ d: Int) -> (h0: Tensor, c0: Tensor?) {
            let k = l * directions + d
            return (h.narrowed(axis: 0, start: k, length: 1).squeezed(at: 0),
                    c?.narrowed(axis: 0, start: k, length: 1).squeezed(at: 0))
        }
        var l = 0
        while l < numLayers {
            if l > 0 { x = Recurrent.dropout(x, p: dropout, training: isTraining) }
            if pipelinesLayers(l, batch: B) {
                // Layers l and l+1 at once, the upper one step behind (no dropout between them here).
                let (lower, upper) = (initial(l, 0), initial(l + 1, 0))
                let results = RecurrentSequence.applyPipelined(
                    cell: cell, x: x, first: (lower.h0, lower.c0, weights[l]), second: (upper.h0, upper.c0, weights[l + 1]),
                    lengths: sortedLengths)
                results.forEach(keep)
                x = results[1].output
                l += 2
                continue
            }
            let layerInput = x
            func direction(_ d: Int) -> (output: Tensor, h: Tensor, c: Tensor?) {
                let (h0, c0) = initial(l, d)
                return RecurrentSequence.apply(cell: cells[d], x: layerInput, h0: h0, c0: c0, weights: weights[l * directions + d],
                                               reverse: d == 1, lengths: sortedLengths)
            }
            var results = [(output: Tensor, h: Tensor, c: Tensor?)?](repeating: nil, count: directions)
            if directions == 2 && runsDirectionsTogether(batch: B) {
                // The two directions are independent sequences: one per thread, no barrier between them
                // (their own time loops then run single-threaded, nested inside this task).
                results.withUnsafeMutableBufferPointer { results in
                    WorkerPool.shared.run(upTo: 2) { part, parts in
                        for d in stride(from: part, to: 2, by: parts) { results[d] = direction(d) }  // both on one thread when backing off
                    }
                }
            } else {
                for d in 0..<directions { results[d] = direction(d) }
            }
            results.forEach { keep($0!) }
            x = directions == 1 ? results[0]!.output : concat(results.map { $0!.output }, axis: 2)  // [T, B, D·Hₒ]
            l += 1
        }
        var output = x, hOut = concat(hN, axis: 0), cOut = cN.isEmpty ? nil : concat(cN, axis: 0)
        if let order {
            output = order.restoredOutput(output)
            hOut = order.restoredStates(hOut)
            cOut = cOut.map(order.restoredStates)
        }
        if unbatched {
            output = output.squeezed(at: 1)
            hOut = hOut.squeezed(at: 1)
            cOut = cOut?.squeezed(at: 1)
        } else if batchFirst {
            output = output.transposed(0, 1)
        }
        return (output, hOut, cOut)
    }
}
