/// Batches of unequal sequences, with PyTorch's packed semantics (`pack_padded_sequence`): row `b`
/// takes steps at times `0 ..< lengths[b]` only, the reverse direction starts at each row's own
/// last element, and the final states are each row's state at its own end.
///
/// The rows are sorted longest first (``RecurrentStack`` sorts them and restores the caller's
/// order), so at time `t` the rows with a step are the first `activeAt[t]`, and every step, product
/// and cell call covers those rows only: the batch shrinks as sequences end, as in PyTorch's packed
/// path, and no work is spent on padding. In the reverse direction a row starts later, at time
/// `lengths[b] − 1`, from `h₀`: its initial states are staged where that step reads its previous
/// state (the output row of time `lengths[b]`, a padding position, and the cell-state slot), which
/// also gives the backward pass the right `hₛ`; the output returned to the caller has zeros there.
extension RecurrentSequence {
    /// `activeAt[t]`: how many rows have a step at time `t` (lengths sorted longest first).
    static func activeRows(lengths: [Int]?, steps T: Int, batch B: Int) -> [Int] {
        guard let lengths else { return Array(repeating: B, count: T) }
        precondition(lengths.count == B && zip(lengths, lengths.dropFirst()).allSatisfy { $0 >= $1 }
                     && lengths.allSatisfy { (1...T).contains($0) }, "RecurrentSequence: lengths must be sorted, in 1...T")
        var active = [Int](repeating: 0, count: T), b = B
        for t in 0..<T {
            while b > 0 && lengths[b - 1] <= t { b -= 1 }
            active[t] = b
        }
        return active
    }

    /// Rows with a step at step `s`.
    func active(_ s: Int) -> Int { activeAt[time(s)] }

    /// Rows with a step at any of the steps from `s` to the end of its chunk of `chunk` steps: at
    /// `s` itself going forwards (rows only end), at the chunk's last step in reverse (rows only start).
    func chunkActive(_ s: Int, chunk: Int) -> Int {
        let s0 = s - s % chunk, last = min(s0 + chunk, steps) - 1
        return reverse ? active(last) : active(s)
    }

    /// Before step `s` in reverse, for `rows` (those with a step at `s`): the rows whose sequence
    /// starts here take `h₀` and `c₀` (staged where the step reads its previous state). Only the
    /// columns `units` (all when nil). Nothing going forwards or at step 0 (which reads `h₀` itself).
    func stageStates(_ s: Int, rows: Range<Int>, units: Range<Int>? = nil, out: UnsafeMutablePointer<Float>,
                     h0: [Float], c0: [Float]?) {
        guard reverse, s > 0 else { return }
        let starting = rows.clamped(to: active(s - 1)..<active(s))
        guard !starting.isEmpty else { return }
        let (B, H, Ho) = (batch, hidden, outSize)
        let hPrev = hState(s, out), cPrev = cell.hasCellState ? cs.base + state(s) * B * H : nil
        for b in starting {
            let hColumns = units ?? 0..<Ho, cColumns = units ?? 0..<H
            for j in hColumns { hPrev[b * Ho + j] = h0[b * Ho + j] }
            if let cPrev, let c0 { for j in cColumns { cPrev[b * H + j] = c0[b * H + j] } }
        }
    }

    /// At step `s`, for `rows` without a step, zeros where the backward pass reads every row of the
    /// history (multiplied by their zero gradients, which must not meet a NaN): the cache of a cell
    /// that sums its parameter gradients over every cache row or keeps `v` there for a second
    /// product, and the pre-projection states.
    func finishInactiveRows(_ s: Int, rows: Range<Int>, out: UnsafeMutablePointer<Float>) {
        guard !rows.isEmpty, keepsHistory else { return }
        if cell.sumsParameterGradientsAfterwards || cell.lateGates > 0 {
            let width = cell.cacheFloats(hidden: hidden)
            (cache.base + (s * batch + rows.lowerBound) * width).update(repeating: 0, count: rows.count * width)
        }
        if hasProjection { (ms.base + (s * batch + rows.lowerBound) * hidden).update(repeating: 0, count: rows.count * hidden) }
    }

    /// After the forward pass: zeros at every padding position of `out` `[T, B, Hₒ]` (never written,
    /// or, in reverse, a staged `h₀`: those are kept for the backward pass and zeroed only in the
    /// copy returned, see ``unequalLengthResults(_:)``).
    func zeroPadding(_ out: UnsafeMutablePointer<Float>) {
        guard let lengths else { return }
        let (T, B, Ho) = (steps, batch, outSize)
        for b in 0..<B where lengths[b] < T {
            for t in lengths[b]..<T where !(reverse && t == lengths[b]) {
                (out + (t * B + b) * Ho).update(repeating: 0, count: Ho)
            }
        }
    }

    /// The output with zeros at the staged positions too, and each row's final `h` and `c`: going
    /// forwards at its own last time, in reverse at time 0 (the last step of every row).
    func unequalLengthResults(_ output: [Float]) -> (output: [Float], h: [Float], c: [Float]?) {
        let lengths = lengths!
        let (T, B, H, Ho) = (steps, batch, hidden, outSize)
        var padded = output
        if reverse {
            for b in 0..<B where lengths[b] < T {
                for j in 0..<Ho { padded[(lengths[b] * B + b) * Ho + j] = 0 }
            }
        }
        var h = [Float](repeating: 0, count: B * Ho), c: [Float]? = cell.hasCellState ? [Float](repeating: 0, count: B * H) : nil
        for b in 0..<B {
            let last = reverse ? 0 : lengths[b] - 1, stepsTaken = reverse ? T : lengths[b]
            for j in 0..<Ho { h[b * Ho + j] = output[(last * B + b) * Ho + j] }
            if c != nil { for j in 0..<H { c![b * H + j] = cs.base[(state(stepsTaken) * B + b) * H + j] } }
        }
        return (padded, h, c)
    }

    /// For the weight gradients of a batch of unequal sequences: the rows that took a step, by time
    /// (`activeAt[t]` rows at time `t`, `N` in all), gathered from the histories so that the
    /// products run over them only: the gate gradients `[N, G·H]` (and `dgh` when it differs), the
    /// input `[N, I]` and the states before each step `[N, Hₒ]`.
    func compactHistories(x: [Float], dgx: UnsafePointer<Float>, dgh: UnsafePointer<Float>?)
        -> (rows: Int, x: [Float], states: [Float], dgx: [Float], dgh: [Float])
    {
        let (T, B, Ho, I) = (steps, batch, outSize, inputSize), GH = cell.gateCount * hidden
        let N = activeAt.reduce(0, +)
        var (cx, cs) = ([Float].uninitialized(N * I), [Float].uninitialized(N * Ho))
        var (cdx, cdh) = ([Float].uninitialized(N * GH), [Float].uninitialized(dgh == nil ? 0 : N * GH))
        x.withPointer { x in output.withPointer { out in
            cx.withMutablePointer { cx in cs.withMutablePointer { cs in cdx.withMutablePointer { cdx in cdh.withMutablePointer { cdh in
                var row = 0
                for t in 0..<T {
                    let n = activeAt[t], s = reverse ? T - 1 - t : t
                    (cx + row * I).update(from: x + t * B * I, count: n * I)
                    (cs + row * Ho).update(from: hState(s, UnsafeMutablePointer(mutating: out)), count: n * Ho)
                    (cdx + row * GH).update(from: dgx + t * B * GH, count: n * GH)
                    if let dgh { (cdh + row * GH).update(from: dgh + t * B * GH, count: n * GH) }
                    row += n
                }
            } } } }
        } }
        return (N, cx, cs, cdx, cdh)
    }
}
