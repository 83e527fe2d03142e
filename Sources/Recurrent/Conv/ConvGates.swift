import _RecurrentKernels

// The pointwise part of the convolutional cells, each a graph node with its own backward, forward
// beside backward: the gates of a whole step in one pass over the feature maps instead of a dozen
// tensor operations (each a fresh array and a pass over memory). Legend as in
// ConvRecurrentCell.swift; P = H·W pixels of one channel.

/// Runs `body(rows)` over `0..<count` rows of `length` floats, shared over the pool when large.
private func forEachRows(_ count: Int, length: Int, _ body: (Range<Int>) -> Void) {
    WorkerPool.shared.run(upTo: count * length >= 1 << 16 ? count : 1) { part, parts in body(partition(count, part, parts)) }
}

// MARK: - ConvLSTM

/// The ConvLSTM step after the convolution: `a` `[B, 4C, H, W]` (gates i, f, o, g), `c`
/// `[B, C, H, W]` and the optional peepholes `[C, H, W]` give `(h', c')` (equations in
/// ``ConvLSTMCell``).
func convLSTMPointwise(_ a: Tensor, c: Tensor, peepholes: (input: Tensor, forget: Tensor, output: Tensor)?) -> (h: Tensor, c: Tensor) {
    let shape = c.shape
    let function = ConvLSTMPointwise(batch: shape[0], channels: shape[1], pixels: shape[2] * shape[3], peepholes: peepholes != nil)
    let (h, cNext) = function.forward(a.scalars, c.scalars, peepholes.map { [$0.input.scalars, $0.forget.scalars, $0.output.scalars] })
    let inputs = [a, c] + (peepholes.map { [$0.input, $0.forget, $0.output] } ?? [])
    let node = Node.make(.fused(function), inputs: inputs, outputShapes: [shape, shape])
    return (Tensor(shape: shape, scalars: h, node: node, outputIndex: 0), Tensor(shape: shape, scalars: cNext, node: node, outputIndex: 1))
}

final class ConvLSTMPointwise: FusedFunction {
    let batch: Int, channels: Int, pixels: Int, hasPeepholes: Bool
    /// The activated gates `[B, 4C, P]` (i, f, o, g) and `tanh(c')` `[B, C, P]`, for the backward.
    var gates: [Float] = [], cellTanh: [Float] = []

    init(batch: Int, channels: Int, pixels: Int, peepholes: Bool) {
        (self.batch, self.channels, self.pixels, hasPeepholes) = (batch, channels, pixels, peepholes)
    }

    // a: [B, 4C, P], c: [B, C, P], peepholes: 3 × [C, P] → h', c': [B, C, P]
    func forward(_ a: [Float], _ c: [Float], _ peepholes: [[Float]]?) -> (h: [Float], c: [Float]) {
        let (C, P, isa) = (channels, pixels, Kernels.isa)
        var gates = a  // activated in place
        var cellTanh = [Float].uninitialized(batch * C * P), h = [Float].uninitialized(batch * C * P)
        var cNext = [Float].uninitialized(batch * C * P)
        gates.withMutablePointer { gates in cellTanh.withMutablePointer { tc in h.withMutablePointer { h in cNext.withMutablePointer { cn in
        c.withPointer { c in withPointers(peepholes ?? []) { w in
            forEachRows(C, length: batch * P) { rows in
                for b in 0..<batch {
                    for j in rows {
                        let row = (b * C + j) * P  // in [B, C, P]
                        let (i, f, o, g) = (gates + (b * 4 * C + j) * P, gates + (b * 4 * C + C + j) * P,
                                            gates + (b * 4 * C + 2 * C + j) * P, gates + (b * 4 * C + 3 * C + j) * P)
                        if hasPeepholes {
                            for p in 0..<P { i[p] += w[0][j * P + p] * c[row + p]; f[p] += w[1][j * P + p] * c[row + p] }
                        }
                        rk_sigmoid(i, i, P, isa)
                        rk_sigmoid(f, f, P, isa)
                        rk_tanh(g, g, P, isa)
                        for p in 0..<P { cn[row + p] = f[p] * c[row + p] + i[p] * g[p] }
                        if hasPeepholes { for p in 0..<P { o[p] += w[2][j * P + p] * cn[row + p] } }
                        rk_sigmoid(o, o, P, isa)
                        rk_tanh(tc + row, cn + row, P, isa)
                        for p in 0..<P { h[row + p] = o[p] * tc[row + p] }
                    }
                }
            }
        } } } } } }
        (self.gates, self.cellTanh) = (gates, cellTanh)
        return (h, cNext)
    }

    // dh, dc': [B, C, P] → da [B, 4C, P], dc [B, C, P], dw_ci, dw_cf, dw_co [C, P]:
    //   do = dh·tanh(c')   dc' += dh·o·(1 − tanh²(c')) + da_o·w_co   (da_o = do·o(1 − o))
    //   di = dc'·g   df = dc'·c   dg = dc'·i   dc = dc'·f + da_i·w_ci + da_f·w_cf
    //   da_i = di·i(1 − i)   da_f = df·f(1 − f)   da_g = dg·(1 − g²)
    //   dw_ci = Σ_b da_i·c   dw_cf = Σ_b da_f·c   dw_co = Σ_b da_o·c'
    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        let (C, P) = (channels, pixels)
        let count = batch * C * P
        let dh = outputGradients[0] ?? [Float](repeating: 0, count: count)
        let dcOut = outputGradients[1] ?? [Float](repeating: 0, count: count)
        var da = [Float].uninitialized(batch * 4 * C * P), dc = [Float].uninitialized(count)
        var dw = [Float](repeating: 0, count: hasPeepholes ? 3 * C * P : 0)
        let peepholes = hasPeepholes ? inputs[2...4].map(\.scalars) : []
        da.withMutablePointer { da in dc.withMutablePointer { dc in dw.withMutablePointer { dw in
        gates.withPointer { gates in cellTanh.withPointer { tc in dh.withPointer { dh in dcOut.withPointer { dcOut in
        inputs[1].scalars.withPointer { c in withPointers(peepholes) { w in
            forEachRows(C, length: batch * P) { rows in
                for b in 0..<batch {
                    for j in rows {
                        let row = (b * C + j) * P
                        let gate = { (k: Int) in (b * 4 * C + k * C + j) * P }
                        let (i, f, o, g) = (gates + gate(0), gates + gate(1), gates + gate(2), gates + gate(3))
                        let (dai, daf, dao, dag) = (da + gate(0), da + gate(1), da + gate(2), da + gate(3))
                        for p in 0..<P {
                            let t = tc[row + p], cp = c[row + p]
                            let doo = dh[row + p] * t
                            dao[p] = doo * o[p] * (1 - o[p])
                            var dcn = dcOut[row + p] + dh[row + p] * o[p] * (1 - t * t)
                            if hasPeepholes { dcn += dao[p] * w[2][j * P + p] }
                            dai[p] = dcn * g[p] * i[p] * (1 - i[p])
                            daf[p] = dcn * cp * f[p] * (1 - f[p])
                            dag[p] = dcn * i[p] * (1 - g[p] * g[p])
                            dc[row + p] = dcn * f[p]
                            if hasPeepholes {
                                dc[row + p] += dai[p] * w[0][j * P + p] + daf[p] * w[1][j * P + p]
                                // c' = f·c + i·g, recomputed from the saved gates.
                                let cNext = f[p] * cp + i[p] * g[p]
                                dw[j * P + p] += dai[p] * cp
                                dw[(C + j) * P + p] += daf[p] * cp
                                dw[(2 * C + j) * P + p] += dao[p] * cNext
                            }
                        }
                    }
                }
            }
        } } } } } } } } }
        var grads: [[Float]?] = [inputs[0].requiresGrad ? da : nil, inputs[1].requiresGrad ? dc : nil]
        if hasPeepholes {
            for k in 0..<3 { grads.append(inputs[2 + k].requiresGrad ? Array(dw[(k * C * P)..<((k + 1) * C * P)]) : nil) }
        }
        return grads
    }
}

// MARK: - ConvGRU

/// RAFT's gates: `a` `[B, 2C, H, W]` (the stacked `convz`, `convr` pre-activations) and `h`
/// `[B, C, H, W]` give `z = σ(a_z)` and `r ⊙ h` with `r = σ(a_r)`.
func convGRUGates(_ a: Tensor, h: Tensor) -> (z: Tensor, resetHidden: Tensor) {
    let shape = h.shape
    let function = ConvGRUGates(rows: shape[0] * shape[1], channels: shape[1], pixels: shape[2] * shape[3])
    let (z, rh) = function.forward(a.scalars, h.scalars)
    let node = Node.make(.fused(function), inputs: [a, h], outputShapes: [shape, shape])
    return (Tensor(shape: shape, scalars: z, node: node, outputIndex: 0), Tensor(shape: shape, scalars: rh, node: node, outputIndex: 1))
}

final class ConvGRUGates: FusedFunction {
    let rows: Int, channels: Int, pixels: Int
    /// z and r `[B, C, P]`, for the backward.
    var z: [Float] = [], r: [Float] = []

    init(rows: Int, channels: Int, pixels: Int) { (self.rows, self.channels, self.pixels) = (rows, channels, pixels) }

    // a: [B, 2C, P], h: [B, C, P] → z, r ⊙ h: [B, C, P]
    func forward(_ a: [Float], _ h: [Float]) -> (z: [Float], rh: [Float]) {
        let (C, P, isa) = (channels, pixels, Kernels.isa)
        var z = [Float].uninitialized(rows * P), r = [Float].uninitialized(rows * P), rh = [Float].uninitialized(rows * P)
        z.withMutablePointer { z in r.withMutablePointer { r in rh.withMutablePointer { rh in a.withPointer { a in h.withPointer { h in
            forEachRows(rows, length: P) { part in
                for row in part {
                    let (b, j) = row.quotientAndRemainder(dividingBy: C)
                    rk_sigmoid(z + row * P, a + (b * 2 * C + j) * P, P, isa)
                    rk_sigmoid(r + row * P, a + (b * 2 * C + C + j) * P, P, isa)
                    for p in row * P ..< (row + 1) * P { rh[p] = r[p] * h[p] }
                }
            }
        } } } } }
        (self.z, self.r) = (z, r)
        return (z, rh)
    }

    // dz, d(r⊙h) → da_z = dz·z(1 − z), da_r = d(r⊙h)·h·r(1 − r), dh = d(r⊙h)·r
    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        let (C, P) = (channels, pixels)
        let zeros = [Float](repeating: 0, count: outputGradients.contains { $0 == nil } ? rows * P : 0)
        let (dz, drh) = (outputGradients[0] ?? zeros, outputGradients[1] ?? zeros)
        var da = [Float].uninitialized(2 * rows * P), dh = [Float].uninitialized(rows * P)
        da.withMutablePointer { da in dh.withMutablePointer { dh in z.withPointer { z in r.withPointer { r in
        dz.withPointer { dz in drh.withPointer { drh in inputs[1].scalars.withPointer { h in
            forEachRows(rows, length: P) { part in
                for row in part {
                    let (b, j) = row.quotientAndRemainder(dividingBy: C)
                    let (daz, dar) = (da + (b * 2 * C + j) * P - row * P, da + (b * 2 * C + C + j) * P - row * P)
                    for p in row * P ..< (row + 1) * P {
                        daz[p] = dz[p] * z[p] * (1 - z[p])
                        dar[p] = drh[p] * h[p] * r[p] * (1 - r[p])
                        dh[p] = drh[p] * r[p]
                    }
                }
            }
        } } } } } } }
        return [inputs[0].requiresGrad ? da : nil, inputs[1].requiresGrad ? dh : nil]
    }
}

/// RAFT's blend: `h' = (1 − z) ⊙ h + z ⊙ tanh(a_q)`, all `[B, C, H, W]`.
func convGRUBlend(h: Tensor, z: Tensor, candidate aq: Tensor) -> Tensor {
    let function = ConvGRUBlend()
    let y = function.forward(h.scalars, z.scalars, aq.scalars)
    return Tensor(shape: h.shape, scalars: y, node: Node.make(.fused(function), inputs: [h, z, aq], outputShapes: [h.shape]))
}

final class ConvGRUBlend: FusedFunction {
    /// q = tanh(a_q), for the backward.
    var q: [Float] = []

    // h, z, a_q: [B, C, P] → h' = h + z·(q − h)  (= (1 − z)·h + z·q)
    func forward(_ h: [Float], _ z: [Float], _ aq: [Float]) -> [Float] {
        let (count, isa) = (h.count, Kernels.isa)
        var q = [Float].uninitialized(count), y = [Float].uninitialized(count)
        q.withMutablePointer { q in y.withMutablePointer { y in aq.withPointer { aq in h.withPointer { h in z.withPointer { z in
            forEachRows((count + 4095) / 4096, length: 4096) { part in
                let range = part.lowerBound * 4096 ..< min(count, part.upperBound * 4096)
                rk_tanh(q + range.lowerBound, aq + range.lowerBound, range.count, isa)
                for p in range { y[p] = h[p] + z[p] * (q[p] - h[p]) }
            }
        } } } } }
        self.q = q
        return y
    }

    // dh = g·(1 − z), dz = g·(q − h), da_q = g·z·(1 − q²)
    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        guard let g = outputGradients[0] else { return [nil, nil, nil] }
        let count = g.count
        var dh = [Float].uninitialized(count), dz = [Float].uninitialized(count), daq = [Float].uninitialized(count)
        dh.withMutablePointer { dh in dz.withMutablePointer { dz in daq.withMutablePointer { daq in g.withPointer { g in
        q.withPointer { q in inputs[0].scalars.withPointer { h in inputs[1].scalars.withPointer { z in
            forEachRows((count + 4095) / 4096, length: 4096) { part in
                for p in part.lowerBound * 4096 ..< min(count, part.upperBound * 4096) {
                    dh[p] = g[p] * (1 - z[p])
                    dz[p] = g[p] * (q[p] - h[p])
                    daq[p] = g[p] * z[p] * (1 - q[p] * q[p])
                }
            }
        } } } } } } }
        return [inputs[0].requiresGrad ? dh : nil, inputs[1].requiresGrad ? dz : nil, inputs[2].requiresGrad ? daq : nil]
    }
}
