/// Backpropagation through time for ``RecurrentSequence``: the steps in reverse with only the
/// product for `dhₛ` inside the loop, then one product per weight gradient over all steps.
extension RecurrentSequence {
    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        precondition(keepsHistory, "RecurrentSequence: backward without a recorded forward")
        let (T, B, I, H, Ho) = (steps, batch, inputSize, hidden, outSize)
        let GH = cell.gateCount * H, width = cell.cacheFloats(hidden: H)
        let x = inputs[0].scalars
        let hasC0 = cell.hasCellState
        let weightIndex = hasC0 ? 3 : 2
        let projectionIndex = weightIndex + (hasBias ? 4 : 2), ownIndex = projectionIndex + (hasProjection ? 1 : 0)
        // The cell's parameter array (biases it adds itself, its own parameters) and their gradients,
        // one row per batch row (threads own rows, so none writes another's), summed after the loop.
        let ownWeights = Weights(inputWeight: inputs[weightIndex], hiddenWeight: inputs[weightIndex + 1],
                                 inputBias: hasBias ? inputs[weightIndex + 2] : nil,
                                 hiddenBias: hasBias ? inputs[weightIndex + 3] : nil, projection: nil,
                                 cellParameters: Array(inputs[ownIndex...]))
        let parameterArray = ownWeights.cellParameterArray(for: cell) ?? []
        let parameterCount = parameterArray.count
        let summedAfterwards = cell.sumsParameterGradientsAfterwards
        var parameterGradients = [Float](repeating: 0, count: summedAfterwards ? 0 : B * parameterCount)
        // Late gates (the reset-before GRU): the backward step is two halves around dv = dgh[late] Wₕₕ[late].
        let early = (cell.gateCount - cell.lateGates) * H

        let dOutput = outputGradients[0]
        var dh = outputGradients[1] ?? Array(repeating: 0, count: B * Ho)   // running ∂L/∂hₛ₊₁
        var dc = hasC0 ? (outputGradients[2] ?? Array(repeating: 0, count: B * H)) : []
        // Every row of these is written by the steps (dhPrev is zeroed by each). When the cell's dgh
        // equals its dgx, one buffer (by time) serves as both.
        let shared = cell.sharesGateGradients
        let buffers = [B * Ho, hasProjection ? B * H : 0, T * B * GH, shared ? 0 : T * B * GH, hasProjection ? T * B * Ho : 0,
                       early < GH ? B * H : 0].map(Scratch.take)
        defer { buffers.forEach(Scratch.give) }
        let dhPrevp = buffers[0].base, dmp = buffers[1].base
        let dgxp = buffers[2].base      // [T, B, G·H] indexed by time t
        let dghStorage = buffers[3].base  // [T, B, G·H] indexed by time t, as dgx
        let dhsp = buffers[4].base      // ∂L/∂hₛ₊₁, for dWₕᵣ
        let dvp = buffers[5].base       // [B, H]: dv of the late gates' product
        // ‖∂L/∂hₜ‖² per time and row when recording (each row's written by the thread that holds it).
        var squaredNorms = [Float](repeating: 0, count: recordsStateGradients ? T * B : 0)
        let (cs, ms, cache) = (cs.base, ms.base, cache.base)

        squaredNorms.withMutablePointer { squaredNorms in
        parameterArray.withPointer { parameterBase in parameterGradients.withMutablePointer { dparameterBase in
        let parameters = parameterCount > 0 ? parameterBase : nil
        let dparameters = parameterCount > 0 && !summedAfterwards ? dparameterBase : nil
        output.withPointer { out in dh.withMutablePointer { dhp in dc.withMutablePointer { dcp in (dOutput ?? []).withPointer { dOutputBase in
            let dOutput = dOutput == nil ? nil : dOutputBase  // ∂L/∂output: [T, B, Hₒ]
            /// hₛ: h₀, or the output at the previous step's time
            func hPrev(_ s: Int) -> UnsafePointer<Float> { UnsafePointer(hState(s, UnsafeMutablePointer(mutating: out))) }
            /// dgh of step s: [B, G·H]
            func dghp(_ s: Int) -> UnsafeMutablePointer<Float> { (shared ? dgxp : dghStorage) + time(s) * B * GH }
            // Packed once for all steps: Wₕₕ as [G·H, Hₒ] and Wₕᵣ as [P, H].
            let recurrent = inputs[weightIndex + 1].packedMatrix(transposed: false)
            let projector = hasProjection ? inputs[projectionIndex].packedMatrix(transposed: false) : nil
            // With late gates: Wₕₕ's early rows [early, Hₒ] and late rows [G·H − early, Hₒ], packed apart.
            let (earlyRecurrent, lateRecurrent) = early < GH
                ? (inputs[weightIndex + 1].narrowed(axis: 0, start: 0, length: early).packedMatrix(transposed: false),
                   inputs[weightIndex + 1].narrowed(axis: 0, start: early, length: GH - early).packedMatrix(transposed: false))
                : (recurrent, recurrent)
            // The running ∂L/∂hₛ₊₁ alternates between the two buffers: step s reads one, writes the other.
            func buffers(_ s: Int) -> (dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
                (T - 1 - s) % 2 == 0 ? (dhp, dhPrevp) : (dhPrevp, dhp)
            }
            if useUnitSplit {
                let barrier = StepBarrier()
                WorkerPool.shared.run(upTo: Int.max) { part, parts in
                    let units = unitPartition(H, part, parts)
                    for (n, s) in stride(from: T - 1, through: 0, by: -1).enumerated() {
                        let t = time(s), (dh, dhPrev) = buffers(s), rows = active(s)
                        for b in 0..<B {
                            for j in units {
                                if b >= rows {  // no step here (unequal lengths): the gradient carries over
                                    dhPrev[b * Ho + j] = dh[b * Ho + j]
                                    continue
                                }
                                if let dOutput { dh[b * Ho + j] += dOutput[(t * B + b) * Ho + j] }
                                dhPrev[b * Ho + j] = 0
                            }
                        }
                        for b in rows..<B {  // and those rows' gate gradients are zero
                            for g in 0..<cell.gateCount {
                                for j in units { dgxp[(t * B + b) * GH + g * H + j] = 0; dghp(s)[b * GH + g * H + j] = 0 }
                            }
                        }
                        cell.stepBackward(dgx: dgxp + t * B * GH, dgh: dghp(s), dhPrev: dhPrev, dc: hasC0 ? dcp : nil,
                                          dh: dh, cache: cache + s * B * width, hPrev: hPrev(s),
                                          cPrev: hasC0 ? cs + s * B * H : nil, parameters: parameters,
                                          dparameters: dparameters, batch: rows, hidden: H, units: units)
                        // Every unit's dgh is needed for each column of dhₛ: a second phase after a barrier.
                        barrier.wait(participants: parts, crossing: 2 * n + 1)
                        let columns = unitPartition(Ho, part, parts)
                        recurrent.multiply(into: dhPrev, ldc: Ho, dghp(s), lda: GH, m: rows, columns: columns, accumulate: true,
                                           descending: s % 2 == 1)
                        barrier.wait(participants: parts, crossing: 2 * n + 2)
                    }
                }
            } else {
                // Batch rows are independent for the whole sequence: one dispatch, no barrier. A large gate-
                // gradient history is written around the caches, as the forward's cache: each step's
                // gradients go to a step buffer, which this step's product reads in cache, and are then
                // copied into the history (measured, 2 threads: `gru` and `large` training 2–3% faster,
                // `medium` 1%, `rnn` and `bi-2` unchanged).
                let stream = T * B * GH * MemoryLayout<Float>.size > Kernels.streamedHistoryBytes
                let stepBuffers = [stream ? B * GH : 0, stream && !shared ? B * GH : 0].map(Scratch.take)
                defer { stepBuffers.forEach(Scratch.give) }
                // A thread that finishes early takes over rows from another (see RowShares).
                let wanted = B / 4, shares = RowShares(count: B, steps: T, participants: min(wanted, WorkerPool.availableThreads))
                WorkerPool.shared.run(upTo: wanted) { part, parts in
                    shares.walk(part: part, parts: parts) { held, n in
                        let s = T - 1 - n, t = time(s), (dhIn, dhOut) = buffers(s)
                        // Unequal lengths: rows without a step here carry their gradient over, with zero gate gradients.
                        let rows = held.clamped(to: 0..<active(s))
                        for b in held.clamped(to: active(s)..<B) {
                            (dhOut + b * Ho).update(from: dhIn + b * Ho, count: Ho)
                            (dgxp + (t * B + b) * GH).update(repeating: 0, count: GH)
                            if !shared { (dghp(s) + b * GH).update(repeating: 0, count: GH) }
                            if hasProjection { (dhsp + (s * B + b) * Ho).update(repeating: 0, count: Ho) }
                        }
                        guard !rows.isEmpty else { return }
                        let (b0, nb) = (rows.lowerBound, rows.count)
                        let stepX = stepBuffers[0].base + b0 * GH, stepH = shared ? stepX : stepBuffers[1].base + b0 * GH
                        let dh = dhIn + b0 * Ho, dhPrev = dhOut + b0 * Ho
                        if let dOutput {
                            let rows = dOutput + (t * B + b0) * Ho
                            for i in 0..<(nb * Ho) { dh[i] += rows[i] }
                        }
                        if recordsStateGradients {
                            for b in 0..<nb { squaredNorms[t * B + b0 + b] = (0..<Ho).reduce(0) { $0 + dh[b * Ho + $1] * dh[b * Ho + $1] } }
                        }
                        var dmRows = UnsafePointer(dh)
                        if hasProjection {  // h = m Wₕᵣᵀ:  dm = dh Wₕᵣ  [B, H]
                            (dhsp + (s * B + b0) * Ho).update(from: dh, count: nb * Ho)
                            projector!.multiply(into: dmp + b0 * H, ldc: H, dh, lda: Ho, m: nb, columns: 0..<H, accumulate: false)
                            dmRows = UnsafePointer(dmp + b0 * H)
                        }
                        dhPrev.update(repeating: 0, count: nb * Ho)
                        let dgxRows = dgxp + (t * B + b0) * GH, dghRows = dghp(s) + b0 * GH
                        let (gx, gh) = (stream ? stepX : dgxRows, stream ? stepH : dghRows)
                        let cacheRows = cache + (s * B + b0) * width
                        cell.stepBackward(dgx: gx, dgh: gh, dhPrev: dhPrev,
                                          dc: hasC0 ? dcp + b0 * H : nil, dh: dmRows, cache: cacheRows,
                                          hPrev: hPrev(s) + b0 * Ho, cPrev: hasC0 ? cs + (s * B + b0) * H : nil,
                                          parameters: parameters, dparameters: dparameters.map { $0 + b0 * parameterCount },
                                          batch: nb, hidden: H, units: 0..<H)
                        if early < GH {
                            // dv = dgh[late] Wₕₕ[late]: [B, H]; then the cell's first half (r from dv), and
                            // dhₛ += dgh[early] Wₕₕ[early] below
                            lateRecurrent.multiply(into: dvp + b0 * H, ldc: H, gh + early, lda: GH, m: nb, columns: 0..<H,
                                                   accumulate: false)
                            cell.stepBackwardEarly(dgx: gx, dgh: gh, dhPrev: dhPrev, dv: dvp + b0 * H, cache: cacheRows,
                                                   hPrev: hPrev(s) + b0 * Ho, batch: nb, hidden: H, units: 0..<H)
                        }
                        // dhₛ += dgh Wₕₕ: [B, G·H] · [G·H, Hₒ]
                        earlyRecurrent.multiply(into: dhPrev, ldc: Ho, gh, lda: GH, m: nb, columns: 0..<Ho,
                                                accumulate: true, descending: s % 2 == 1)
                        if stream {
                            Kernels.copyToHistory(dgxRows, stepX, count: nb * GH)
                            if !shared { Kernels.copyToHistory(dghRows, stepH, count: nb * GH) }
                        }
                    }
                }
            }
            let dhCur = T % 2 == 0 ? dhp : dhPrevp  // where step 0 left ∂L/∂h₀
            if dhCur != dhp { dhp.update(from: dhCur, count: B * Ho) }
        } } } } } } }
        if recordsStateGradients {
            stateGradientNorms = (0..<T).map { t in (0..<B).reduce(Float(0)) { $0 + squaredNorms[t * B + $1] }.squareRoot() }
        }
        // The parameter array's gradient: the per-row sums added up in row order, or the cell's sums
        // over every step's cache row (each column in row order, columns split over the threads).
        var parameterGradient = [Float](repeating: 0, count: parameterCount)
        if summedAfterwards && parameterCount > 0 {
            parameterGradient.withMutablePointer { gradient in
                WorkerPool.shared.run(upTo: T * B * H >= 1 << 16 ? H / 16 : 1) { part, parts in
                    cell.parameterGradients(cache: self.cache.base, rows: T * B, hidden: H, units: unitPartition(H, part, parts),
                                            into: gradient)
                }
            }
        } else {
            for b in 0..<B { for j in 0..<parameterCount { parameterGradient[j] += parameterGradients[b * parameterCount + j] } }
        }

        // After the loop: one product per gradient, over all steps, for the inputs that need one
        // (as PyTorch: no `dx` for an input without gradients, no `dW` for a frozen weight).
        let needs = inputs.map(\.requiresGrad)
        var grads: [[Float]?] = []
        grads.append(needs[0] ? inputs[weightIndex].packedMatrix(transposed: false).product(dgxp, rows: T * B) : nil)  // dx = dgx Wᵢₕ: [T·B, I]
        grads.append(dh)                                                               // dh₀
        if hasC0 { grads.append(dc) }                                                  // dc₀
        // dWᵢₕ = Σ dgxᵀ xₜ: [G·H, I], dWₕₕ = Σ dghᵀ hₛ: [G·H, Hₒ], both by time t, with hₛ the state
        // before time t: h₀ at the first step's time, else the output at t - 1 (t + 1 in reverse). So
        // the states by time are output rows, with h₀'s B rows first (last in reverse), packed
        // straight from there. The bias gradients are the column sums of dgx and dgh, summed while
        // the products pack them.
        let (needsWih, needsWhh) = (needs[weightIndex], needs[weightIndex + 1])
        // A cell that adds the biases itself has their gradients in its parameter array's.
        let biasesInArray = cell.addsBiases
        let (needsBih, needsBhh) = (hasBias && !biasesInArray && needs[weightIndex + 2],
                                    hasBias && !biasesInArray && needs[weightIndex + 3])
        // With late gates, dWₕₕ's late rows read v (in the cache) rather than the states: its two
        // parts are products of their own below.
        let splitWhh = early < GH
        // Unequal lengths: the products over the rows that took a step only (gathered), not the padding.
        let compact = lengths != nil && !splitWhh ? compactHistories(x: x, dgx: dgxp, dgh: shared ? nil : dghStorage) : nil
        var (dWih, dWhh, dbih, dbhh) = x.withPointer { x in output.withPointer { out in
            if let compact {
                return compact.x.withPointer { cx in compact.states.withPointer { cs in compact.dgx.withPointer { cdx in compact.dgh.withPointer { cdh in
                    let N = compact.rows
                    if shared {
                        let (dWih, dWhh, sums) = weightGradients(cdx, rows: N, columns: GH, needsWih ? (cx, I) : nil,
                                                                 needsWhh ? (cs, Ho) : nil, sums: needsBih || needsBhh)
                        return (dWih, dWhh, needsBih ? sums : nil, needsBhh ? sums : nil)
                    }
                    let (dWih, _, dbih) = weightGradients(cdx, rows: N, columns: GH, needsWih ? (cx, I) : nil, nil, sums: needsBih)
                    let (_, dWhh, dbhh) = weightGradients(cdh, rows: N, columns: GH, nil, needsWhh ? (cs, Ho) : nil, sums: needsBhh)
                    return (dWih, dWhh, dbih, dbhh)
                } } } }
            }
            let h0 = UnsafePointer(hs.base)
            // [h₀; output rows 0 ..< T-1], or [output rows 1 ..< T; h₀] in reverse
            let (states, tail) = reverse ? ((out + B * Ho, Ho), ((T - 1) * B, h0)) : ((h0, Ho), (B, out))
            if shared {  // dgh is dgx: one product [G·H, I + Hₒ] gives both weights (dgx read once)
                let (dWih, dWhh, sums) = weightGradients(dgxp, rows: T * B, columns: GH, needsWih ? (x, I) : nil,
                                                         needsWhh && !splitWhh ? states : nil, secondTail: tail,
                                                         sums: needsBih || needsBhh)
                return (dWih, dWhh, needsBih ? sums : nil, needsBhh ? sums : nil)
            }
            let (dWih, _, dbih) = weightGradients(dgxp, rows: T * B, columns: GH, needsWih ? (x, I) : nil, nil, sums: needsBih)
            let (_, dWhh, dbhh) = weightGradients(dghStorage, rows: T * B, columns: GH, nil, needsWhh ? states : nil,
                                                  secondTail: tail, sums: needsBhh)
            return (dWih, dWhh, dbih, dbhh)
        } }
        if splitWhh && needsWhh { dWhh = splitRecurrentWeightGradient(dgh: shared ? dgxp : dghStorage, early: early) }
        if biasesInArray && hasBias {
            dbih = Array(parameterGradient[0..<GH])
            dbhh = Array(parameterGradient[GH..<(2 * GH)])
        }
        grads += [dWih, dWhh]
        if hasBias { grads += [dbih, dbhh] }
        if hasProjection {
            grads.append(needs[projectionIndex] ? gemm(dhsp, ms, m: Ho, n: H, k: T * B, transposeA: true) : nil)  // dWₕᵣ: [P, H]
        }
        // The cell's own parameters, from the summed array (after the biases it adds itself).
        var offset = biasesInArray ? 2 * GH : 0
        for p in cell.ownParameters(hidden: H) {
            grads.append(Array(parameterGradient[offset..<(offset + p.length)]))
            offset += p.length
        }
        return grads
    }

    /// dWₕₕ for a cell with late gates: the early rows `dgh[:, early]ᵀ hₛ` and the late rows
    /// `dgh[:, late]ᵀ vₛ` (`v` from each step's cache, gathered by time), over all steps: `[G·H, Hₒ]`.
    /// Both read their columns of `dgh` in place (rows `G·H` apart); the states come from the output.
    private func splitRecurrentWeightGradient(dgh: UnsafePointer<Float>, early: Int) -> [Float] {
        let (T, B, H, Ho) = (steps, batch, hidden, outSize)
        let GH = cell.gateCount * H, late = GH - early, width = cell.cacheFloats(hidden: H)
        let offset = cell.lateInputOffset(hidden: H)
        var v = [Float].uninitialized(T * B * H)
        v.withMutablePointer { vp in
            for s in 0..<T {
                let t = time(s)
                for b in 0..<B { (vp + (t * B + b) * H).update(from: cache.base + (s * B + b) * width + offset, count: H) }
            }
        }
        return output.withPointer { out in v.withPointer { vp in
            let h0 = UnsafePointer(hs.base)
            // [h₀; output rows 0 ..< T-1], or [output rows 1 ..< T; h₀] in reverse (as `backward`)
            let (states, tail) = reverse ? ((out + B * Ho, Ho), ((T - 1) * B, h0)) : ((h0, Ho), (B, out))
            let (_, earlyRows, _) = weightGradients(dgh, rows: T * B, columns: early, lda: GH, nil, states, secondTail: tail,
                                                    sums: false)
            let (lateRows, _, _) = weightGradients(dgh + early, rows: T * B, columns: late, lda: GH, (vp, H), nil, sums: false)
            return earlyRows! + lateRows!
        } }
    }
}

/// The weight gradients of a gate-gradient history `dg` `[K, M]` (K = T·B rows) for up to two
/// right operands `[K, Nᵢ]`, as `dgᵀ bᵢ` `[M, Nᵢ]`, and the bias gradient Σₖ dg[k, :] `[M]` when
/// `sums`. Two operands make one product `dgᵀ [b₁ | b₂]`, so that `dg` (megabytes, from memory) is
/// read and packed once for both, and its two parts are written straight into their own matrices
/// (no product to copy apart); the sums are taken from its packed panels, in row order (the
/// same bits as `columnSums`). The second operand's rows from `secondTail.row` on are at
/// `secondTail.rows` (the states: h₀ apart from the others, which are the layer's output).
func weightGradients(_ dg: UnsafePointer<Float>, rows k: Int, columns m: Int, lda: Int? = nil, _ first: (UnsafePointer<Float>, Int)?,
                     _ second: (UnsafePointer<Float>, Int)?, secondTail: (row: Int, rows: UnsafePointer<Float>)? = nil,
                     sums: Bool) -> ([Float]?, [Float]?, [Float]?) {
    guard first != nil || second != nil else { return (nil, nil, sums ? columnSums(dg, rows: k, columns: m) : nil) }
    var product1 = [Float].uninitialized(m * (first?.1 ?? 0)), product2 = [Float].uninitialized(m * (second?.1 ?? 0))
    var total = [Float](repeating: 0, count: m)
    // The right operands read in place rather than packed when the product has few rows (M ≤ 256):
    // then the copy that packing makes through memory costs more than reading each block of them
    // in place for every block of rows. Paired runs, 2 threads: `rnn` training (M = 256) 0.948; at
    // M = 1024 and more it did not pay (`medium` training 1.033, `large` 1.051, `train-1024` 1.078;
    // see BENCHMARKS.md).
    let inPlace = m <= 256
    total.withMutablePointer { s in product1.withMutablePointer { c1 in product2.withMutablePointer { c2 in
        let rowSums = sums ? s : nil
        if let second {  // [b₁ | 0 | b₂], or b₂ alone (N₁ = 0)
            let b = PackedMatrix(first?.0 ?? second.0, columns: first?.1 ?? 0, beside: second.0, columns: second.1, k: k,
                                 tail: secondTail, inPlace: inPlace)
            b.multiply(into: c1, c2, dg, m: m, transposeA: true, rowSums: rowSums, lda: lda)
        } else if let first {
            PackedMatrix(first.0, k: k, n: first.1, transposed: false, inPlace: inPlace).multiply(into: c1, dg, m: m, transposeA: true,
                                                                                                 rowSums: rowSums, lda: lda)
        }
    } } }
    return (first == nil ? nil : product1, second == nil ? nil : product2, sums ? total : nil)
}

/// Participant `i` of `n`'s share of `0..<count`, with boundaries on multiples of 16 (whole
/// vector registers) where the count allows.
func unitPartition(_ count: Int, _ i: Int, _ n: Int) -> Range<Int> {
    func boundary(_ k: Int) -> Int { k == n ? count : min(count, (count * k / n) / 16 * 16) }
    return boundary(i)..<boundary(i + 1)
}

/// Σ over rows of a `[rows, columns]` matrix (row by row, so the inner loop vectorizes). Large
/// ones (the bias gradients over all steps, megabytes) are split by columns over the pool's
/// threads; each column is still summed in row order, so the split does not change a bit.
func columnSums(_ x: UnsafePointer<Float>, rows: Int, columns: Int) -> [Float] {
    var sums = [Float](repeating: 0, count: columns)
    sums.withMutablePointer { s in
        WorkerPool.shared.run(upTo: rows * columns >= 1 << 20 ? columns / 64 : 1) { part, parts in
            let share = unitPartition(columns, part, parts)
            for r in 0..<rows {
                let row = x + r * columns
                for j in share { s[j] += row[j] }
            }
        }
    }
    return sums
}
