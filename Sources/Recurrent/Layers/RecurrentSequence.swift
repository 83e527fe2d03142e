/// One layer in one direction run over a whole sequence, as a single autograd operation with a
/// hand-written backward through time. Written once for every ``RecurrentCell``.
///
/// Forward (`x: [T, B, I]`, `G·H` gate rows, `Hₒ` = `P` with a projection, else `H`):
///
///     gx = x Wᵢₕᵀ + bᵢₕ                    [T·B, G·H]   one product per chunk of steps
///     for each step s (time t = s, or T-1-s in reverse):
///         gh = hₛ Wₕₕᵀ + bₕₕ                [B, G·H]
///         m, c = cell.step(gx[t], gh, hₛ, cₛ)  [B, H]
///         hₛ₊₁ = m Wₕᵣᵀ (projection) or m    [B, Hₒ]
///         output[t] = hₛ₊₁
///
/// Backward walks the same steps in reverse; only the product for `dhₛ` is inside the loop. The
/// weight gradients are one product each after it (`dWᵢₕ = dgxᵀ x`, `dWₕₕ = dghᵀ h`,
/// `dWₕᵣ = dhᵀ m`).
final class RecurrentSequence: FusedFunction {
    /// Weights of one layer and direction, with PyTorch's shapes.
    struct Weights {
        var inputWeight: Tensor       // weight_ih: [G·H, I]
        var hiddenWeight: Tensor      // weight_hh: [G·H, Hₒ]
        var inputBias: Tensor?        // bias_ih: [G·H]
        var hiddenBias: Tensor?       // bias_hh: [G·H]
        var projection: Tensor?       // weight_hr: [P, H]
        /// The cell's own parameters (peepholes, layer norm gains), as ``RecurrentCell/ownParameters(hidden:)`` lists them.
        var cellParameters: [Tensor] = []

        var all: [Tensor] { [inputWeight, hiddenWeight] + [inputBias, hiddenBias, projection].compactMap { $0 } + cellParameters }

        /// The array the cell's kernels read: `[b_ih | b_hh]` when the cell adds the biases itself, then
        /// its own parameters; nil when that is empty.
        func cellParameterArray(for cell: any RecurrentCell) -> [Float]? {
            var values: [Float] = []
            if cell.addsBiases {
                let count = inputWeight.shape[0]
                values += inputBias?.scalars ?? [Float](repeating: 0, count: count)
                values += hiddenBias?.scalars ?? [Float](repeating: 0, count: count)
            }
            for p in cellParameters { values += p.scalars }
            return values.isEmpty ? nil : values
        }
    }

    let cell: any RecurrentCell
    let steps: Int, batch: Int, inputSize: Int, hidden: Int, outSize: Int
    let reverse: Bool
    let hasBias: Bool, hasProjection: Bool
    /// Each batch row's length (sorted, longest first) for a batch of unequal sequences, or nil: at
    /// time t only the first `activeAt[t]` rows take a step (see RecurrentSequence+Lengths.swift).
    let lengths: [Int]?
    /// Rows with a step at time t: `[T]`, all `B` without lengths.
    let activeAt: [Int]
    // Saved by the forward pass for the backward pass (see `keepsHistory` for inference).
    // Every element is written before it is read (state 0 from h0/c0, the rest by the steps).
    // h₁ … h_T are the output's rows (`output`), so only h₀ has a buffer of its own.
    let hs: Scratch      // [B, Hₒ]       h₀
    let cs: Scratch      // [T+1, B, H]   c₀ … c_T, cells with state (2 slots in inference)
    let ms: Scratch      // [T, B, H]     pre-projection hidden states, projection only (1 slot)
    let cache: Scratch   // [T, B, cacheFloats]                                        (1 slot)

    /// Whether every step's state and cache are kept for a backward pass; without one (inference)
    /// two state slots and one cache slot are reused for all steps.
    let keepsHistory: Bool
    /// The forward pass's output `[T, B, Hₒ]` (by time), which holds h₁ … h_T for the backward
    /// pass; empty in inference.
    var output: [Float] = []
    /// Set before the backward pass to record ``stateGradientNorms``.
    var recordsStateGradients = false
    /// After a backward pass that recorded them: ‖∂L/∂hₜ‖ over the batch for each time `t` `[T]`
    /// (the gradient through every later step, not only `t`'s own output).
    var stateGradientNorms: [Float] = []

    /// Allocates the state and cache for a sequence of shape `[T, B, I]`; the history for a backward
    /// pass is kept when gradients are on and the input (`inputNeedsGradient`), a state or a weight needs one.
    private init(cell: any RecurrentCell, shape: (steps: Int, batch: Int, inputSize: Int), inputNeedsGradient: Bool,
                 h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool, lengths: [Int]? = nil) {
        self.cell = cell
        (steps, batch, inputSize) = shape
        self.lengths = lengths
        activeAt = Self.activeRows(lengths: lengths, steps: shape.steps, batch: shape.batch)
        hidden = weights.inputWeight.shape[0] / cell.gateCount
        outSize = weights.hiddenWeight.shape[1]
        self.reverse = reverse
        hasBias = weights.inputBias != nil
        hasProjection = weights.projection != nil
        keepsHistory = GradMode.isEnabled
            && (inputNeedsGradient || ([h0] + (c0.map { [$0] } ?? []) + weights.all).contains { $0.requiresGrad })
        let (states, steps) = keepsHistory ? (steps + 1, steps) : (2, 1)
        hs = Scratch.take(batch * outSize)
        cs = Scratch.take(cell.hasCellState ? states * batch * hidden : 0)
        ms = Scratch.take(hasProjection ? steps * batch * hidden : 0)
        cache = Scratch.take(steps * batch * cell.cacheFloats(hidden: hidden))
    }

    private convenience init(cell: any RecurrentCell, x: Tensor, h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool,
                             lengths: [Int]? = nil) {
        self.init(cell: cell, shape: (x.shape[0], x.shape[1], x.shape[2]), inputNeedsGradient: x.requiresGrad,
                  h0: h0, c0: c0, weights: weights, reverse: reverse, lengths: lengths)
    }

    deinit { for buffer in [hs, cs, ms, cache] { Scratch.give(buffer) } }

    /// About how many rows of the input projection are computed at once (all threads together).
    static let chunkRows = 256
    /// Steps per input-projection chunk in a pipeline of two layers: the upper layer starts after
    /// the lower one's first chunk (measured on `two-layer-200`: 1, 2, 4, 8 steps take 0.285, 0.205,
    /// 0.203, 0.234 ms).
    static let pipelineSteps = 4

    func time(_ s: Int) -> Int { reverse ? steps - 1 - s : s }
    /// Where the cell state after `s` steps lives in `cs`.
    func state(_ s: Int) -> Int { keepsHistory ? s : s & 1 }
    /// `h` after `s` steps, `[B, Hₒ]`: h₀ in `hs`; every step writes its `h` straight into its row of
    /// the output `[T, B, Hₒ]` (no copy) and the next step reads it there.
    func hState(_ s: Int, _ output: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        s == 0 ? hs.base : output + time(s - 1) * batch * outSize
    }
    /// Where step `s` keeps its cache (and pre-projection state).
    private func slot(_ s: Int) -> Int { keepsHistory ? s : 0 }

    /// Whether each step splits hidden units (rather than batch rows) over the worker pool: when
    /// the batch is too small to share and a step's recurrent product is large enough (≥ 32K
    /// multiply-adds per row; measured on the 2-core AMD Zen 4 machine: H = 128 at batch 1 runs
    /// 1.4× faster split, H = 64 breaks even, H = 32 runs 1.8× slower, the per-step barrier costing
    /// more than it saves); not with a projection, whose product needs every unit of `m`, nor for
    /// cells whose step needs whole rows (layer norm) or a second product (the reset-before GRU).
    var useUnitSplit: Bool {
        let threads = WorkerPool.availableThreads  // 1 where this sequence runs nested in another's task
        return threads > 1 && batch < 4 * threads && !hasProjection && cell.gateCount * hidden * outSize >= 1 << 15
            && !cell.needsWholeRows && cell.lateGates == 0 && !recordsStateGradients
    }

    /// Runs `cell` over `x` from `h0` (and `c0`).
    ///
    /// - Parameters:
    ///   - x: `[T, B, I]`.
    ///   - h0: `[B, Hₒ]`; c0: `[B, H]` for cells with state.
    ///   - lengths: each row's length, longest first, for a batch of unequal sequences (nil: all `T`).
    /// - Returns: `output: [T, B, Hₒ]` (zero past each length), `h: [B, Hₒ]`, `c: [B, H]` (cells with
    ///   state), each row's state at its own end.
    static func apply(cell: any RecurrentCell, x: Tensor, h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool,
                      lengths: [Int]? = nil) -> (output: Tensor, h: Tensor, c: Tensor?)
    {
        let op = RecurrentSequence(cell: cell, x: x, h0: h0, c0: c0, weights: weights, reverse: reverse, lengths: lengths)
        var output = [Float].uninitialized(op.steps * op.batch * op.outSize)
        output.withMutablePointer { out in
            x.scalars.withPointer { op.forward(x: $0, into: out, h0: h0.scalars, c0: c0?.scalars, weights: weights) }
            op.zeroPadding(out)
        }
        return op.results(output: output, x: x, h0: h0, c0: c0, weights: weights)
    }

    /// Runs two stacked layers (forward direction) at once on two threads: the second layer runs
    /// behind the first and reads its outputs as soon as a chunk of ``pipelineSteps`` steps is
    /// written (the pipeline of the DeepCPU paper: each core keeps one layer's weights in its own
    /// cache, and a step of either layer waits for nothing but its input). Results equal two ``apply(cell:x:h0:c0:weights:reverse:)``
    /// calls bit for bit.
    ///
    /// - Parameters:
    ///   - x: `[T, B, I]`, the first layer's input.
    ///   - first, second: each layer's `h0: [B, Hₒ]`, `c0: [B, H]` (cells with state) and weights;
    ///     the second layer's input size is the first's `Hₒ`.
    /// - Returns: each layer's `output: [T, B, Hₒ]`, `h: [B, Hₒ]` and `c: [B, H]`.
    static func applyPipelined(cell: any RecurrentCell, x: Tensor,
                               first: (h0: Tensor, c0: Tensor?, weights: Weights),
                               second: (h0: Tensor, c0: Tensor?, weights: Weights), lengths: [Int]? = nil)
        -> [(output: Tensor, h: Tensor, c: Tensor?)]
    {
        let lower = RecurrentSequence(cell: cell, x: x, h0: first.h0, c0: first.c0, weights: first.weights, reverse: false,
                                      lengths: lengths)
        let (T, B, Ho) = (lower.steps, lower.batch, lower.outSize)
        let upper = RecurrentSequence(cell: cell, shape: (T, B, Ho), inputNeedsGradient: lower.keepsHistory,
                                      h0: second.h0, c0: second.c0, weights: second.weights, reverse: false, lengths: lengths)
        var middle = [Float].uninitialized(T * B * Ho)     // the first layer's output, the second's input
        var output = [Float].uninitialized(T * B * upper.outSize)
        let progress = StepProgress()
        middle.withMutablePointer { middle in output.withMutablePointer { out in x.scalars.withPointer { x in
            WorkerPool.shared.run(upTo: 2) { part, parts in
                if part == 0 {
                    lower.forward(x: x, into: middle, h0: first.h0.scalars, c0: first.c0?.scalars, weights: first.weights,
                                  published: progress)
                }
                if part == 1 || parts == 1 {
                    upper.forward(x: middle, into: out, h0: second.h0.scalars, c0: second.c0?.scalars,
                                  weights: second.weights, awaited: parts > 1 ? progress : nil)
                }
            }
            lower.zeroPadding(middle)
            upper.zeroPadding(out)
        } } }
        let lowerResults = lower.results(output: middle, x: x, h0: first.h0, c0: first.c0, weights: first.weights)
        let upperResults = upper.results(output: output, x: lowerResults.output, h0: second.h0, c0: second.c0,
                                         weights: second.weights)
        return [lowerResults, upperResults]
    }

    /// The autograd node and the output tensors for a finished forward pass.
    private func results(output: [Float], x: Tensor, h0: Tensor, c0: Tensor?, weights: Weights)
        -> (output: Tensor, h: Tensor, c: Tensor?)
    {
        let inputs = [x, h0] + (c0.map { [$0] } ?? []) + weights.all
        let (T, B, H, Ho) = (steps, batch, hidden, outSize)
        let outputShapes = [[T, B, Ho], [B, Ho]] + (cell.hasCellState ? [[B, H]] : [])
        let node = Node.make(.fused(self), inputs: inputs, outputShapes: outputShapes)
        if keepsHistory { self.output = output }  // shares the tensor's storage (copied only if either is changed)
        if lengths != nil {
            let (padded, hN, cN) = unequalLengthResults(output)
            return (Tensor(shape: [T, B, Ho], scalars: padded, node: node, outputIndex: 0),
                    Tensor(shape: [B, Ho], scalars: hN, node: node, outputIndex: 1),
                    cN.map { Tensor(shape: [B, H], scalars: $0, node: node, outputIndex: 2) })
        }
        let hN = Array(output[(time(T - 1) * B * Ho)..<((time(T - 1) + 1) * B * Ho)])
        let cN = cell.hasCellState ? Array(UnsafeBufferPointer(start: cs.base + state(T) * B * H, count: B * H)) : nil
        return (Tensor(shape: [T, B, Ho], scalars: output, node: node, outputIndex: 0),
                Tensor(shape: [B, Ho], scalars: hN, node: node, outputIndex: 1),
                cN.map { Tensor(shape: [B, H], scalars: $0, node: node, outputIndex: 2) })
    }

    /// The forward pass: reads `x: [T, B, I]`, writes `out: [T, B, Hₒ]` and the states.
    ///
    /// In a pipeline of two layers (forward direction only, one thread each), the lower layer
    /// announces each finished step in `published`, and the upper one waits in `awaited` for the
    /// steps of `x` it is about to read; both project their input ``pipelineSteps`` steps at a time.
    private func forward(x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, h0: [Float], c0: [Float]?,
                         weights: Weights, published: StepProgress? = nil, awaited: StepProgress? = nil) {
        let (T, B, H, Ho) = (steps, batch, hidden, outSize)
        let GH = cell.gateCount * H, width = cell.cacheFloats(hidden: H)
        // With late gates (the reset-before GRU), the recurrent product is two: hₛ for the early
        // gates' columns, then v (written by the cell's first half) for the late ones'.
        let early = (cell.gateCount - cell.lateGates) * H, lateInput = cell.lateGates > 0 ? cell.lateInputOffset(hidden: H) : 0
        precondition(cell.lateGates == 0 || !hasProjection, "RecurrentSequence: late gates read [B, H] states")
        // A history larger than the caches is written around them (it is read back only after the
        // sequence). Measured, 2 threads: `medium` training 2%, `bi-2` and `train-1024` 3% faster; a
        // small one (`seed-mnist`, 1.8 MB) is better left in cache for the backward: 6% slower streamed.
        let streamCache = keepsHistory && T * B * width * MemoryLayout<Float>.size > Kernels.streamedHistoryBytes
        let pipelined = published != nil || awaited != nil
        precondition(!pipelined || !reverse, "RecurrentSequence: only forward layers run as a pipeline")
        // Both biases of the folded gates go into gx once; only the rest of bₕₕ is added per step
        // (each in the epilogue of its product).
        let folded = cell.foldedBiasGates * H
        var inputBias: [Float]? = nil, stepBias: [Float]? = nil
        if !cell.addsBiases, let bi = weights.inputBias?.scalars, let bh = weights.hiddenBias?.scalars {
            inputBias = (0..<GH).map { $0 < folded ? bi[$0] + bh[$0] : bi[$0] }
            stepBias = folded < GH ? (0..<GH).map { $0 < folded ? 0 : bh[$0] } : nil
        }
        // gx = x Wᵢₕᵀ + bᵢₕ, a chunk of steps at a time (about `chunkRows` rows: the chunk stays in
        // cache until its steps read it, instead of a [T·B, G·H] array going out to memory and back).
        let chunk = pipelined ? Self.pipelineSteps : max(1, min(T, Self.chunkRows / B))
        let ghBuffer = Scratch.take(B * GH)
        defer { Scratch.give(ghBuffer) }
        let gh = ghBuffer.base
        let (hs, cs, ms, cache) = (hs.base, cs.base, ms.base, cache.base)
        /// The chunk that step `s` belongs to: its first step, its earliest time, and its length.
        func chunkOf(_ s: Int) -> (s0: Int, t0: Int, count: Int) {
            let s0 = s - s % chunk, count = min(chunk, T - s0)
            return (s0, reverse ? T - s0 - count : s0, count)
        }

        h0.withPointer { hs.update(from: $0, count: h0.count) }
        if let c0 { c0.withPointer { cs.update(from: $0, count: c0.count) } }
        let parameterArray = weights.cellParameterArray(for: cell)
        (parameterArray ?? []).withPointer { parameterPointer in
        (stepBias ?? []).withPointer { stepBiasPointer in (inputBias ?? []).withPointer { inputBiasPointer in
            let parameters = parameterArray == nil ? nil : parameterPointer  // the cell's parameter array
            let hiddenBias = stepBias == nil ? nil : stepBiasPointer  // [G·H], zero in the folded gates
            let inputBias = inputBias == nil ? nil : inputBiasPointer
            // The weights, packed once for all steps: Wᵢₕᵀ as [I, G·H], Wₕₕᵀ as [Hₒ, G·H], Wₕᵣᵀ as [H, P].
            let input = weights.inputWeight.packedMatrix(transposed: true)
            let recurrent = weights.hiddenWeight.packedMatrix(transposed: true)
            let projector = weights.projection?.packedMatrix(transposed: true)
            /// Step `s` for `rows` of the batch (all hidden units): gx where `projected` lacks it, gh, the
            /// cell, the projection. `scratch` is this thread's: gx `[chunk, rows, G·H]` as `projected`
            /// says, and x's rows gathered for the product `[chunk, rows, I]`.
            func step(_ s: Int, rows held: Range<Int>, scratch: (gx: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>),
                      projected: inout (steps: Range<Int>, rows: Range<Int>)) {
                // Unequal lengths: only the rows with a step at this time (their first `active(s)`),
                // and the input projection only for rows with a step somewhere in the chunk.
                let rows = held.clamped(to: 0..<active(s)), projectedRows = held.clamped(to: 0..<chunkActive(s, chunk: chunk))
                if lengths != nil { finishInactiveRows(s, rows: held.clamped(to: active(s)..<B), out: out) }
                guard !rows.isEmpty else { return }
                if lengths != nil { stageStates(s, rows: rows, out: out, h0: h0, c0: c0) }
                let t = time(s), (b0, nb) = (rows.lowerBound, rows.count)
                if !projected.steps.contains(s) || b0 < projected.rows.lowerBound || rows.upperBound > projected.rows.upperBound {
                    // gx = x Wᵢₕᵀ + bᵢₕ for these rows at the rest of this chunk's steps, as one product: the
                    // whole chunk at its first step, the rest after rows were handed over in its middle.
                    let (s0, _, count) = chunkOf(s)
                    let (p0, np) = (projectedRows.lowerBound, projectedRows.count)
                    projected = (s..<(s0 + count), projectedRows)
                    let times = reverse ? (T - s0 - count)..<(T - s) : s..<(s0 + count)
                    awaited?.wait(for: times.upperBound)
                    var a = x + times.lowerBound * B * inputSize  // all rows of these steps are contiguous in x when np = B
                    if np < B {
                        for (i, time) in times.enumerated() {
                            (scratch.x + i * np * inputSize).update(from: x + (time * B + p0) * inputSize, count: np * inputSize)
                        }
                        a = UnsafePointer(scratch.x)
                    }
                    input.multiply(into: scratch.gx, ldc: GH, a, lda: inputSize, m: times.count * np, columns: 0..<GH,
                                   accumulate: false, bias: inputBias)
                }
                let earliest = reverse ? T - projected.steps.upperBound : projected.steps.lowerBound  // projected's first time
                let gxRows = scratch.gx + ((t - earliest) * projected.rows.count + b0 - projected.rows.lowerBound) * GH
                let hPrev = hState(s, out) + b0 * Ho, hNext = hState(s + 1, out) + b0 * Ho
                let ghRows = gh + b0 * GH
                // gh = hₛ Wₕₕᵀ + bₕₕ: [B, G·H] (bₕₕ only in the unfolded gates, the GRU's n)
                recurrent.multiply(into: ghRows, ldc: GH, hPrev, lda: Ho, m: nb, columns: 0..<early, accumulate: false,
                                   bias: hiddenBias, descending: s % 2 == 1)
                let cacheRows = cache + (slot(s) * B + b0) * width
                if early < GH {  // gh[:, late] = v Wₕₕ[late]ᵀ + bₕₕ[late], v from the cell's first half (in its cache)
                    cell.stepEarly(cache: cacheRows, gx: gxRows, gh: ghRows, hPrev: hPrev, batch: nb, hidden: H, units: 0..<H)
                    recurrent.multiply(into: ghRows, ldc: GH, cacheRows + lateInput, lda: width, m: nb, columns: early..<GH,
                                       accumulate: false, bias: hiddenBias)
                }
                let m = hasProjection ? ms + (slot(s) * B + b0) * H : hNext
                cell.step(h: m, c: cell.hasCellState ? cs + (state(s + 1) * B + b0) * H : nil,
                          cache: cacheRows, gx: gxRows, gh: ghRows,
                          hPrev: hPrev, cPrev: cell.hasCellState ? cs + (state(s) * B + b0) * H : nil, parameters: parameters,
                          batch: nb, hidden: H, units: 0..<H, streamCache: streamCache)
                // h = m Wₕᵣᵀ
                projector?.multiply(into: hNext, ldc: Ho, m, lda: H, m: nb, columns: 0..<Ho, accumulate: false)
            }

            /// Step `s` for some hidden `units` of every batch row with a step (its chunk's gx already
            /// computed); with unequal lengths, then the states of the rows that start at the next step
            /// (the reverse direction), for these units.
            func step(_ s: Int, units: Range<Int>, gx: UnsafeMutablePointer<Float>) {
                let t = time(s), t0 = chunkOf(s).t0, rows = active(s)
                let hPrev = hState(s, out), hNext = hState(s + 1, out)
                // gh[:, g·H + units] = hₛ Wₕₕᵀ[:, g·H + units] + bₕₕ for every gate g, in one call
                recurrent.multiply(into: gh, ldc: GH, hPrev, lda: Ho, m: rows, columns: units, groups: cell.gateCount,
                                   groupStride: H, accumulate: false, bias: hiddenBias, descending: s % 2 == 1)
                cell.step(h: hNext, c: cell.hasCellState ? cs + state(s + 1) * B * H : nil, cache: cache + slot(s) * B * width,
                          gx: gx + (t - t0) * B * GH, gh: gh, hPrev: hPrev, cPrev: cell.hasCellState ? cs + state(s) * B * H : nil,
                          parameters: parameters, batch: rows, hidden: H, units: units, streamCache: streamCache)
                if lengths != nil && s + 1 < T {
                    stageStates(s + 1, rows: rows..<max(rows, active(s + 1)), units: units, out: out, h0: h0, c0: c0)
                }
            }

            // One dispatch for the whole sequence: each thread walks every step for its share.
            if useUnitSplit {
                // Few rows: split the hidden units; each thread keeps its columns of the weights in its
                // own cache, and the threads meet once per step (every unit of hₛ₊₁ feeds every unit).
                let barrier = StepBarrier(), gxBuffer = Scratch.take(chunk * B * GH)  // [chunk, B, G·H], columns shared out
                defer { Scratch.give(gxBuffer) }
                let gx = gxBuffer.base
                WorkerPool.shared.run(upTo: Int.max) { part, parts in
                    let units = unitPartition(H, part, parts)
                    for s in 0..<T {
                        let (s0, t0, count) = chunkOf(s)
                        if s == s0 {  // gx[chunk][:, g·H + units] = x[chunk] Wᵢₕᵀ[:, g·H + units] + bᵢₕ for every gate g, in
                                      // one product: the columns this thread's cell steps read, so no other thread waits for them
                            input.multiply(into: gx, ldc: GH, x + t0 * B * inputSize, lda: inputSize, m: count * B,
                                           columns: units, groups: cell.gateCount, groupStride: H, accumulate: false,
                                           bias: inputBias)
                        }
                        step(s, units: units, gx: gx)
                        barrier.wait(participants: parts, crossing: s + 1)
                    }
                }
            } else {
                // Batch rows are independent for the whole sequence: no barrier at all. A thread that
                // finishes early takes over rows from another (see RowShares), so each thread projects
                // the input for the rows it holds into its own buffers, sized for every row (the rows gathered
                // when it holds some, or, with unequal lengths, when some have ended).
                let wanted = B / 4, shares = RowShares(count: B, steps: T, participants: min(wanted, WorkerPool.availableThreads))
                WorkerPool.shared.run(upTo: wanted) { part, parts in
                    let buffers = [chunk * B * GH, parts > 1 || lengths != nil ? chunk * B * inputSize : 0].map(Scratch.take)
                    defer { buffers.forEach(Scratch.give) }
                    var projected = (steps: 0..<0, rows: 0..<0)
                    shares.walk(part: part, parts: parts) { rows, s in
                        step(s, rows: rows, scratch: (buffers[0].base, buffers[1].base), projected: &projected)
                        published?.publish(s + 1)
                    }
                }
            }
        } } }
    }
}
