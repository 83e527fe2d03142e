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

        var all: [Tensor] { [inputWeight, hiddenWeight] + [inputBias, hiddenBias, projection].compactMap { $0 } }
    }

    let cell: any RecurrentCell
    let steps: Int, batch: Int, inputSize: Int, hidden: Int, outSize: Int
    let reverse: Bool
    let hasBias: Bool, hasProjection: Bool
    // Saved by the forward pass for the backward pass (see `keepsHistory` for inference).
    // Every element is written before it is read (state 0 from h0/c0, the rest by the steps).
    private let hs: Scratch      // [T+1, B, Hₒ]  h₀ … h_T in step order (2 slots in inference)
    private let cs: Scratch      // [T+1, B, H]   c₀ … c_T, cells with state (2 slots in inference)
    private let ms: Scratch      // [T, B, H]     pre-projection hidden states, projection only (1 slot)
    private let cache: Scratch   // [T, B, cacheWidth·H]                                       (1 slot)

    /// Whether every step's state and cache are kept for a backward pass; without one (inference)
    /// two state slots and one cache slot are reused for all steps.
    let keepsHistory: Bool

    /// Allocates the state and cache for a sequence of shape `[T, B, I]`; the history for a backward
    /// pass is kept when gradients are on and the input (`inputNeedsGradient`), a state or a weight needs one.
    private init(cell: any RecurrentCell, shape: (steps: Int, batch: Int, inputSize: Int), inputNeedsGradient: Bool,
                 h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool) {
        self.cell = cell
        (steps, batch, inputSize) = shape
        hidden = weights.inputWeight.shape[0] / cell.gateCount
        outSize = weights.hiddenWeight.shape[1]
        self.reverse = reverse
        hasBias = weights.inputBias != nil
        hasProjection = weights.projection != nil
        keepsHistory = GradMode.isEnabled
            && (inputNeedsGradient || ([h0] + (c0.map { [$0] } ?? []) + weights.all).contains { $0.requiresGrad })
        let (states, steps) = keepsHistory ? (steps + 1, steps) : (2, 1)
        hs = Scratch.take(states * batch * outSize)
        cs = Scratch.take(cell.hasCellState ? states * batch * hidden : 0)
        ms = Scratch.take(hasProjection ? steps * batch * hidden : 0)
        cache = Scratch.take(steps * batch * cell.cacheWidth * hidden)
    }

    private convenience init(cell: any RecurrentCell, x: Tensor, h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool) {
        self.init(cell: cell, shape: (x.shape[0], x.shape[1], x.shape[2]), inputNeedsGradient: x.requiresGrad,
                  h0: h0, c0: c0, weights: weights, reverse: reverse)
    }

    deinit { for buffer in [hs, cs, ms, cache] { Scratch.give(buffer) } }

    /// About how many rows of the input projection are computed at once (all threads together).
    static let chunkRows = 256
    /// Steps per input-projection chunk in a pipeline of two layers: the upper layer starts after
    /// the lower one's first chunk (measured on `two-layer-200`: 1, 2, 4, 8 steps take 0.285, 0.205,
    /// 0.203, 0.234 ms).
    static let pipelineSteps = 4

    func time(_ s: Int) -> Int { reverse ? steps - 1 - s : s }
    /// Where the state after `s` steps lives in `hs` / `cs`.
    private func state(_ s: Int) -> Int { keepsHistory ? s : s & 1 }
    /// `h` after `s` steps, `[B, Hₒ]`: in `hs`, except in inference, where every step writes its
    /// `h` straight into its row of the output `[T, B, Hₒ]` (no copy) and reads the previous one there.
    private func hState(_ s: Int, _ output: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        keepsHistory || s == 0 ? hs.base + state(s) * batch * outSize : output + time(s - 1) * batch * outSize
    }
    /// Where step `s` keeps its cache (and pre-projection state).
    private func slot(_ s: Int) -> Int { keepsHistory ? s : 0 }

    /// Whether each step splits hidden units (rather than batch rows) over the worker pool: when
    /// the batch is too small to share and a step's recurrent product is large enough (≥ 32K
    /// multiply-adds per row; measured on the 2-core AMD Zen 4 machine: H = 128 at batch 1 runs
    /// 1.4× faster split, H = 64 breaks even, H = 32 runs 1.8× slower, the per-step barrier costing
    /// more than it saves); not with a projection, whose product needs every unit of `m`.
    private var useUnitSplit: Bool {
        let threads = Kernels.threadCount.withLock { $0 }
        return threads > 1 && batch < 4 * threads && !hasProjection && cell.gateCount * hidden * outSize >= 1 << 15
    }

    /// Runs `cell` over `x` from `h0` (and `c0`).
    ///
    /// - Parameters:
    ///   - x: `[T, B, I]`.
    ///   - h0: `[B, Hₒ]`; c0: `[B, H]` for cells with state.
    /// - Returns: `output: [T, B, Hₒ]`, `h: [B, Hₒ]`, `c: [B, H]` (cells with state).
    static func apply(cell: any RecurrentCell, x: Tensor, h0: Tensor, c0: Tensor?, weights: Weights, reverse: Bool)
        -> (output: Tensor, h: Tensor, c: Tensor?)
    {
        let op = RecurrentSequence(cell: cell, x: x, h0: h0, c0: c0, weights: weights, reverse: reverse)
        var output = [Float].uninitialized(op.steps * op.batch * op.outSize)
        output.withMutablePointer { out in
            x.scalars.withPointer { op.forward(x: $0, into: out, h0: h0.scalars, c0: c0?.scalars, weights: weights) }
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
                               second: (h0: Tensor, c0: Tensor?, weights: Weights))
        -> [(output: Tensor, h: Tensor, c: Tensor?)]
    {
        let lower = RecurrentSequence(cell: cell, x: x, h0: first.h0, c0: first.c0, weights: first.weights, reverse: false)
        let (T, B, Ho) = (lower.steps, lower.batch, lower.outSize)
        let upper = RecurrentSequence(cell: cell, shape: (T, B, Ho), inputNeedsGradient: lower.keepsHistory,
                                      h0: second.h0, c0: second.c0, weights: second.weights, reverse: false)
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
        let last = state(T)
        let hN = keepsHistory ? Array(UnsafeBufferPointer(start: hs.base + last * B * Ho, count: B * Ho))
                              : Array(output[(time(T - 1) * B * Ho)..<((time(T - 1) + 1) * B * Ho)])
        let cN = cell.hasCellState ? Array(UnsafeBufferPointer(start: cs.base + last * B * H, count: B * H)) : nil
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
        let GH = cell.gateCount * H, width = cell.cacheWidth * H
        let pipelined = published != nil || awaited != nil
        precondition(!pipelined || !reverse, "RecurrentSequence: only forward layers run as a pipeline")
        // Both biases of the folded gates go into gx once; only the rest of bₕₕ is added per step
        // (each in the epilogue of its product).
        let folded = cell.foldedBiasGates * H
        var inputBias: [Float]? = nil, stepBias: [Float]? = nil
        if let bi = weights.inputBias?.scalars, let bh = weights.hiddenBias?.scalars {
            inputBias = (0..<GH).map { $0 < folded ? bi[$0] + bh[$0] : bi[$0] }
            stepBias = folded < GH ? (0..<GH).map { $0 < folded ? 0 : bh[$0] } : nil
        }
        // gx = x Wᵢₕᵀ + bᵢₕ, a chunk of steps at a time (about `chunkRows` rows: the chunk stays in
        // cache until its steps read it, instead of a [T·B, G·H] array going out to memory and back).
        let chunk = pipelined ? Self.pipelineSteps : max(1, min(T, Self.chunkRows / B))
        let gxBuffer = Scratch.take(chunk * B * GH)   // per thread's rows b₀..<b₁: [chunk, b₁ - b₀, G·H] at b₀·chunk
        let ghBuffer = Scratch.take(B * GH)
        defer { Scratch.give(gxBuffer); Scratch.give(ghBuffer) }
        let (gx, gh) = (gxBuffer.base, ghBuffer.base)
        let (hs, cs, ms, cache) = (hs.base, cs.base, ms.base, cache.base)
        /// The chunk that step `s` belongs to: its first step, its earliest time, and its length.
        func chunkOf(_ s: Int) -> (s0: Int, t0: Int, count: Int) {
            let s0 = s - s % chunk, count = min(chunk, T - s0)
            return (s0, reverse ? T - s0 - count : s0, count)
        }

        h0.withPointer { hs.update(from: $0, count: h0.count) }
        if let c0 { c0.withPointer { cs.update(from: $0, count: c0.count) } }
        (stepBias ?? []).withPointer { stepBiasPointer in (inputBias ?? []).withPointer { inputBiasPointer in
            let hiddenBias = stepBias == nil ? nil : stepBiasPointer  // [G·H], zero in the folded gates
            let inputBias = inputBias == nil ? nil : inputBiasPointer
            // The weights, packed once for all steps: Wᵢₕᵀ as [I, G·H], Wₕₕᵀ as [Hₒ, G·H], Wₕᵣᵀ as [H, P].
            let input = weights.inputWeight.packedMatrix(transposed: true)
            let recurrent = weights.hiddenWeight.packedMatrix(transposed: true)
            let projector = weights.projection?.packedMatrix(transposed: true)
            /// Step `s` for `rows` of the batch (all hidden units): gx (first step of a chunk), gh, the
            /// cell, the projection. `xRows` is this thread's scratch `[chunk, rows, I]` for gathering x.
            func step(_ s: Int, rows: Range<Int>, xRows: UnsafeMutablePointer<Float>) {
                let t = time(s), (s0, t0, count) = chunkOf(s)
                let (b0, nb) = (rows.lowerBound, rows.count)
                let gxRows = gx + b0 * chunk * GH  // this thread's [count, nb, G·H]
                if s == s0 {  // gx[chunk] = x[chunk] Wᵢₕᵀ + bᵢₕ for these rows, as one product
                    awaited?.wait(for: t0 + count)
                    var a = x + t0 * B * inputSize  // all rows of the chunk are contiguous in x when nb = B
                    if nb < B {
                        for i in 0..<count {
                            (xRows + i * nb * inputSize).update(from: x + ((t0 + i) * B + b0) * inputSize, count: nb * inputSize)
                        }
                        a = UnsafePointer(xRows)
                    }
                    input.multiply(into: gxRows, ldc: GH, a, lda: inputSize, m: count * nb, columns: 0..<GH, accumulate: false,
                                   bias: inputBias)
                }
                let hPrev = hState(s, out) + b0 * Ho, hNext = hState(s + 1, out) + b0 * Ho
                let ghRows = gh + b0 * GH
                // gh = hₛ Wₕₕᵀ + bₕₕ: [B, G·H] (bₕₕ only in the unfolded gates, the GRU's n)
                recurrent.multiply(into: ghRows, ldc: GH, hPrev, lda: Ho, m: nb, columns: 0..<GH, accumulate: false,
                                   bias: hiddenBias)
                let m = hasProjection ? ms + (slot(s) * B + b0) * H : hNext
                cell.step(h: m, c: cell.hasCellState ? cs + (state(s + 1) * B + b0) * H : nil,
                          cache: cache + (slot(s) * B + b0) * width, gx: gxRows + (t - t0) * nb * GH, gh: ghRows,
                          hPrev: hPrev, cPrev: cell.hasCellState ? cs + (state(s) * B + b0) * H : nil,
                          batch: nb, hidden: H, units: 0..<H)
                // h = m Wₕᵣᵀ
                projector?.multiply(into: hNext, ldc: Ho, m, lda: H, m: nb, columns: 0..<Ho, accumulate: false)
                if keepsHistory { (out + (t * B + b0) * Ho).update(from: hNext, count: nb * Ho) }
            }

            /// Step `s` for some hidden `units` of every batch row.
            func step(_ s: Int, units: Range<Int>) {
                let t = time(s), (s0, t0, count) = chunkOf(s)
                let hPrev = hState(s, out), hNext = hState(s + 1, out)
                for g in 0..<cell.gateCount {
                    let columns = (g * H + units.lowerBound)..<(g * H + units.upperBound)
                    if s == s0 {  // gx[chunk][:, g·H + units] = x[chunk] Wᵢₕᵀ[:, g·H + units] + bᵢₕ
                        input.multiply(into: gx, ldc: GH, x + t0 * B * inputSize, lda: inputSize, m: count * B,
                                       columns: columns, accumulate: false, bias: inputBias)
                    }
                    // gh[:, g·H + units] = hₛ Wₕₕᵀ[:, g·H + units] + bₕₕ
                    recurrent.multiply(into: gh, ldc: GH, hPrev, lda: Ho, m: B, columns: columns, accumulate: false,
                                       bias: hiddenBias)
                }
                cell.step(h: hNext, c: cell.hasCellState ? cs + state(s + 1) * B * H : nil, cache: cache + slot(s) * B * width,
                          gx: gx + (t - t0) * B * GH, gh: gh, hPrev: hPrev, cPrev: cell.hasCellState ? cs + state(s) * B * H : nil,
                          batch: B, hidden: H, units: units)
                for b in 0..<B where keepsHistory { for j in units { out[(t * B + b) * Ho + j] = hNext[b * Ho + j] } }
            }

            // One dispatch for the whole sequence: each thread walks every step for its share.
            if useUnitSplit && !pipelined {
                // Few rows: split the hidden units; each thread keeps its columns of the weights in its
                // own cache, and the threads meet once per step (every unit of hₛ₊₁ feeds every unit).
                let barrier = StepBarrier()
                WorkerPool.shared.run(upTo: Int.max) { part, parts in
                    let units = unitPartition(H, part, parts)
                    for s in 0..<T {
                        step(s, units: units)
                        barrier.wait(participants: parts, crossing: s + 1)
                    }
                }
            } else {
                // Batch rows are independent for the whole sequence: no barrier at all.
                WorkerPool.shared.run(upTo: B / 4) { part, parts in
                    let rows = partition(B, part, parts)
                    let xRows = Scratch.take(parts > 1 ? chunk * rows.count * inputSize : 0)
                    for s in 0..<T {
                        step(s, rows: rows, xRows: xRows.base)
                        published?.publish(s + 1)
                    }
                    Scratch.give(xRows)
                }
            }
        } }
    }

    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        precondition(keepsHistory, "RecurrentSequence: backward without a recorded forward")
        let (T, B, I, H, Ho) = (steps, batch, inputSize, hidden, outSize)
        let GH = cell.gateCount * H, width = cell.cacheWidth * H
        let x = inputs[0].scalars
        let hasC0 = cell.hasCellState
        let weightIndex = hasC0 ? 3 : 2

        let dOutput = outputGradients[0]
        var dh = outputGradients[1] ?? Array(repeating: 0, count: B * Ho)   // running ∂L/∂hₛ₊₁
        var dc = hasC0 ? (outputGradients[2] ?? Array(repeating: 0, count: B * H)) : []
        // Every row of these is written by the steps (dhPrev is zeroed by each). When the cell's dgh
        // equals its dgx, one buffer (by time) serves as both.
        let shared = cell.sharesGateGradients
        let buffers = [B * Ho, hasProjection ? B * H : 0, T * B * GH, shared ? 0 : T * B * GH, hasProjection ? T * B * Ho : 0]
            .map(Scratch.take)
        defer { buffers.forEach(Scratch.give) }
        let dhPrevp = buffers[0].base, dmp = buffers[1].base
        let dgxp = buffers[2].base      // [T, B, G·H] indexed by time t
        let dghStorage = buffers[3].base  // [T, B, G·H] indexed by step s
        let dhsp = buffers[4].base      // ∂L/∂hₛ₊₁, for dWₕᵣ
        let (hs, cs, ms, cache) = (hs.base, cs.base, ms.base, cache.base)

        dh.withMutablePointer { dhp in dc.withMutablePointer { dcp in (dOutput ?? []).withPointer { dOutputBase in
            let dOutput = dOutput == nil ? nil : dOutputBase  // ∂L/∂output: [T, B, Hₒ]
            /// dgh of step s: [B, G·H]
            func dghp(_ s: Int) -> UnsafeMutablePointer<Float> { shared ? dgxp + time(s) * B * GH : dghStorage + s * B * GH }
            // Packed once for all steps: Wₕₕ as [G·H, Hₒ] and Wₕᵣ as [P, H].
            let recurrent = inputs[weightIndex + 1].packedMatrix(transposed: false)
            let projector = hasProjection ? inputs.last!.packedMatrix(transposed: false) : nil
            // The running ∂L/∂hₛ₊₁ alternates between the two buffers: step s reads one, writes the other.
            func buffers(_ s: Int) -> (dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
                (T - 1 - s) % 2 == 0 ? (dhp, dhPrevp) : (dhPrevp, dhp)
            }
            if useUnitSplit {
                let barrier = StepBarrier()
                WorkerPool.shared.run(upTo: Int.max) { part, parts in
                    let units = unitPartition(H, part, parts)
                    for (n, s) in stride(from: T - 1, through: 0, by: -1).enumerated() {
                        let t = time(s), (dh, dhPrev) = buffers(s)
                        for b in 0..<B {
                            for j in units {
                                if let dOutput { dh[b * Ho + j] += dOutput[(t * B + b) * Ho + j] }
                                dhPrev[b * Ho + j] = 0
                            }
                        }
                        cell.stepBackward(dgx: dgxp + t * B * GH, dgh: dghp(s), dhPrev: dhPrev, dc: hasC0 ? dcp : nil,
                                          dh: dh, cache: cache + s * B * width, hPrev: hs + s * B * Ho,
                                          cPrev: hasC0 ? cs + s * B * H : nil, batch: B, hidden: H, units: units)
                        // Every unit's dgh is needed for each column of dhₛ: a second phase after a barrier.
                        barrier.wait(participants: parts, crossing: 2 * n + 1)
                        let columns = unitPartition(Ho, part, parts)
                        recurrent.multiply(into: dhPrev, ldc: Ho, dghp(s), lda: GH, m: B, columns: columns, accumulate: true)
                        barrier.wait(participants: parts, crossing: 2 * n + 2)
                    }
                }
            } else {
                // Batch rows are independent for the whole sequence: one dispatch, no barrier.
                WorkerPool.shared.run(upTo: B / 4) { part, parts in
                    let rows = partition(B, part, parts)
                    let (b0, nb) = (rows.lowerBound, rows.count)
                    for s in stride(from: T - 1, through: 0, by: -1) {
                        let t = time(s), (dhIn, dhOut) = buffers(s)
                        let dh = dhIn + b0 * Ho, dhPrev = dhOut + b0 * Ho
                        if let dOutput {
                            let rows = dOutput + (t * B + b0) * Ho
                            for i in 0..<(nb * Ho) { dh[i] += rows[i] }
                        }
                        var dmRows = UnsafePointer(dh)
                        if hasProjection {  // h = m Wₕᵣᵀ:  dm = dh Wₕᵣ  [B, H]
                            (dhsp + (s * B + b0) * Ho).update(from: dh, count: nb * Ho)
                            projector!.multiply(into: dmp + b0 * H, ldc: H, dh, lda: Ho, m: nb, columns: 0..<H, accumulate: false)
                            dmRows = UnsafePointer(dmp + b0 * H)
                        }
                        dhPrev.update(repeating: 0, count: nb * Ho)
                        cell.stepBackward(dgx: dgxp + (t * B + b0) * GH, dgh: dghp(s) + b0 * GH, dhPrev: dhPrev,
                                          dc: hasC0 ? dcp + b0 * H : nil, dh: dmRows, cache: cache + (s * B + b0) * width,
                                          hPrev: hs + (s * B + b0) * Ho, cPrev: hasC0 ? cs + (s * B + b0) * H : nil,
                                          batch: nb, hidden: H, units: 0..<H)
                        // dhₛ += dgh Wₕₕ: [B, G·H] · [G·H, Hₒ]
                        recurrent.multiply(into: dhPrev, ldc: Ho, dghp(s) + b0 * GH, lda: GH, m: nb, columns: 0..<Ho,
                                           accumulate: true)
                    }
                }
            }
            let dhCur = T % 2 == 0 ? dhp : dhPrevp  // where step 0 left ∂L/∂h₀
            if dhCur != dhp { dhp.update(from: dhCur, count: B * Ho) }
        } } }

        // After the loop: one product per weight gradient, over all steps.
        var grads: [[Float]?] = []
        grads.append(inputs[weightIndex].packedMatrix(transposed: false).product(dgxp, rows: T * B))  // dx = dgx Wᵢₕ: [T·B, I]
        grads.append(dh)                                                               // dh₀
        if hasC0 { grads.append(dc) }                                                  // dc₀
        grads.append(gemm(dgxp, x, m: GH, n: I, k: T * B, transposeA: true))           // dWᵢₕ: [G·H, I]
        // dWₕₕ = Σ dghᵀ hₛ: [G·H, Hₒ], with hₛ matched to each row of dgh: the first T states by
        // step as saved, or by time when dgh is dgx (a reordered copy for the reverse direction).
        let hByTime = Scratch.take(shared && reverse ? T * B * Ho : 0)
        defer { Scratch.give(hByTime) }
        for s in 0..<T where shared && reverse { (hByTime.base + time(s) * B * Ho).update(from: hs + s * B * Ho, count: B * Ho) }
        grads.append(gemm(shared ? dgxp : dghStorage, shared && reverse ? hByTime.base : hs, m: GH, n: Ho, k: T * B,
                          transposeA: true))                                           // dWₕₕ: [G·H, Hₒ]
        if hasBias {
            let inputBias = columnSums(dgxp, rows: T * B, columns: GH)
            grads.append(inputBias)                                                    // dbᵢₕ
            grads.append(shared ? inputBias : columnSums(dghStorage, rows: T * B, columns: GH))  // dbₕₕ
        }
        if hasProjection { grads.append(gemm(dhsp, ms, m: Ho, n: H, k: T * B, transposeA: true)) }  // dWₕᵣ: [P, H]
        return grads
    }
}

/// Participant `i` of `n`'s share of `0..<count`, with boundaries on multiples of 16 (whole
/// vector registers) where the count allows.
func unitPartition(_ count: Int, _ i: Int, _ n: Int) -> Range<Int> {
    func boundary(_ k: Int) -> Int { k == n ? count : min(count, (count * k / n) / 16 * 16) }
    return boundary(i)..<boundary(i + 1)
}

/// Σ over rows of a `[rows, columns]` matrix (row by row, so the inner loop vectorizes).
func columnSums(_ x: UnsafePointer<Float>, rows: Int, columns: Int) -> [Float] {
    var sums = [Float](repeating: 0, count: columns)
    sums.withMutablePointer { s in
        for r in 0..<rows {
            let row = x + r * columns
            for j in 0..<columns { s[j] += row[j] }
        }
    }
    return sums
}
