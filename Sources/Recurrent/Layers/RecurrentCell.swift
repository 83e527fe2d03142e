import Foundation
import _RecurrentKernels

/// The pointwise part of one time step of a recurrent cell.
///
/// The generic sequence loop (``RecurrentSequence``) does the matrix products: the input
/// projection `gx = x Wᵢₕᵀ + bᵢₕ` for all steps before the loop, and the recurrent projection
/// `gh = hₜ₋₁ Wₕₕᵀ + bₕₕ` inside it. A cell turns `gx`, `gh` and the previous state into the
/// new state (`step`), and turns the gradient of the new state back into gradients of `gx`, `gh`
/// and the previous state (`stepBackward`). Adding a cell kind means writing these two functions.
///
/// All pointers are row-major; `B` is the batch, `H` the hidden size, `G` the gate count.
protocol RecurrentCell {
    /// Gate blocks stacked in the rows of `weight_ih` / `weight_hh` (RNN 1, GRU 3, LSTM 4).
    var gateCount: Int { get }
    /// Whether the cell carries a memory `c` besides `h` (LSTM).
    var hasCellState: Bool { get }
    /// Floats saved per batch row and step for the backward pass.
    func cacheFloats(hidden: Int) -> Int
    /// The gates whose `gh` enters `step` only through `gx + gh`, so that their `bias_hh` can be
    /// added to `gx` once for all steps instead of to `gh` at every step (all but the GRU's `n`).
    var foldedBiasGates: Int { get }
    /// Whether `stepBackward` writes the same values to `dgh` as to `dgx` (every gate sees
    /// `gx + gh` only), so that one buffer can serve as both (LSTM, Elman; not the GRU).
    var sharesGateGradients: Bool { get }

    /// The cell's own parameters beyond `weight_ih`, `weight_hh` and the biases (peepholes, layer
    /// norm gains), per layer and direction, in order: name stems (`weight_peephole` becomes
    /// `weight_peephole_l0`), lengths and initial values.
    func ownParameters(hidden: Int) -> [CellParameter]
    /// Whether `gx` and `gh` reach the cell without biases and the cell adds `bias_ih` and
    /// `bias_hh` itself (layer norm, where they come after the normalisation): its parameter array
    /// then starts with `[b_ih | b_hh]` (`G·H` each, zeros without bias).
    var addsBiases: Bool { get }
    /// Whether a step needs every unit of a row at once (layer norm's statistics), so that units
    /// are never split over threads.
    var needsWholeRows: Bool { get }
    /// Whether the cell's parameter gradients are summed over every row after the whole backward
    /// pass (``parameterGradients(cache:rows:hidden:units:into:)``, from what each backward step
    /// left in its own cache, which nothing reads again) instead of per batch row in `stepBackward`.
    var sumsParameterGradientsAfterwards: Bool { get }
    /// The last gate blocks whose recurrent product reads a gated state `v` instead of `hₜ₋₁`
    /// (the GRU with the reset gate before the product: 1, `v = r ⊙ hₜ₋₁`); 0 for one product.
    var lateGates: Int { get }

    /// One step forward.
    /// - Parameters:
    ///   - h: out `[B, H]`, the new hidden state (before any projection).
    ///   - c: out `[B, H]`, the new cell state (cells with state only).
    ///   - cache: out `[B, cacheFloats]`.
    ///   - gx: `[B, G·H]` input projection including `bias_ih` (without, if ``addsBiases``).
    ///   - gh: `[B, G·H]` recurrent projection including `bias_hh` (without, if ``addsBiases``).
    ///   - hPrev: `[B, H]` previous hidden state; cPrev: `[B, H]` previous cell state.
    ///   - parameters: the parameter array (see ``addsBiases`` and ``ownParameters(hidden:)``), or
    ///     nil when the cell has none.
    ///   - units: the hidden units `j` to compute (all of `0..<H`, or one thread's share; a unit's
    ///     gates are the columns `g·H + j` of `gx` and `gh`).
    ///   - streamCache: whether `cache` is read back only after the whole sequence (training): the
    ///     C kernels then write it around the CPU caches. A hint; the values are the same.
    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden: Int, units: Range<Int>, streamCache: Bool)

    /// The first half of a step of a cell with ``lateGates``: from the early gates' `gx` and `gh`,
    /// writes `v` `[B, H]` into the cache at ``lateInputOffset(hidden:)``, which the late gates'
    /// product reads before ``step(h:c:cache:gx:gh:hPrev:cPrev:parameters:batch:hidden:units:streamCache:)``.
    func stepEarly(cache: UnsafeMutablePointer<Float>, gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
                   hPrev: UnsafePointer<Float>, batch: Int, hidden: Int, units: Range<Int>)
    /// Where `v` sits in a row of the cache (cells with ``lateGates``).
    func lateInputOffset(hidden: Int) -> Int

    /// One step backward.
    /// - Parameters:
    ///   - dgx: out `[B, G·H]`, gradient of the input projection.
    ///   - dgh: out `[B, G·H]`, gradient of the recurrent projection (the same buffer as `dgx`
    ///     when the cell ``sharesGateGradients``). With ``lateGates``, only the late gates'.
    ///   - dhPrev: `[B, H]`, zeroed by the caller: add the part of the gradient of `hPrev` that does
    ///     not pass through `gh` (only cells that read `hPrev` directly, such as the GRU).
    ///   - dc: in `[B, H]` gradient of the new cell state; out: gradient of `cPrev` (cells with state).
    ///   - dh: `[B, H]` gradient of the new hidden state.
    ///   - cache, hPrev, cPrev, parameters: as for `step`.
    ///   - dparameters: `[B, parameter count]`, one row per batch row: add each row's part of the
    ///     gradient of the parameter array (nil when the cell has none).
    ///   - units: as for `step`; only those columns of every buffer are read or written.
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden: Int, units: Range<Int>)
    /// What a trace records of each step: each gate's activation (and other named values) at its
    /// offset in a row of the cache, `H` floats each (LSTM `i, f, g, o`; GRU `r, z, n`; …).
    func recordedGates(hidden: Int) -> [(name: String, offset: Int)]
    /// Adds the gradient of the parameter array for hidden units `units` (every column of those
    /// units) from `rows` cache rows that the backward steps left, each column summed in row order
    /// (cells that ``sumsParameterGradientsAfterwards``).
    func parameterGradients(cache: UnsafePointer<Float>, rows: Int, hidden: Int, units: Range<Int>,
                            into gradient: UnsafeMutablePointer<Float>)
    /// The second half of a backward step of a cell with ``lateGates``: from `dv` `[B, H]` (the
    /// gradient of `v`, `dgh_late · W_late`), writes the early gates' `dgx` (and `dgh`) and adds to `dhPrev`.
    func stepBackwardEarly(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                           dhPrev: UnsafeMutablePointer<Float>, dv: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                           hPrev: UnsafePointer<Float>, batch: Int, hidden: Int, units: Range<Int>)
}

/// One of a cell's own parameters (see ``RecurrentCell/ownParameters(hidden:)``).
struct CellParameter {
    /// The name stem; a layer's parameter is `name + "_l{k}"` (+ `"_reverse"`).
    var name: String
    /// Floats, a vector `[length]`.
    var length: Int
    /// Every value starts at this one, or, when nil, from U(-1/√H, 1/√H) as every recurrent weight.
    var initialValue: Float?
}

extension RecurrentCell {
    func ownParameters(hidden: Int) -> [CellParameter] { [] }
    var addsBiases: Bool { false }
    var needsWholeRows: Bool { false }
    var lateGates: Int { 0 }
    var sumsParameterGradientsAfterwards: Bool { false }
    func recordedGates(hidden: Int) -> [(name: String, offset: Int)] { [] }
    func parameterGradients(cache: UnsafePointer<Float>, rows: Int, hidden: Int, units: Range<Int>,
                            into gradient: UnsafeMutablePointer<Float>) {
        preconditionFailure("\(Self.self) sums its parameter gradients per row")
    }
    func stepEarly(cache: UnsafeMutablePointer<Float>, gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
                   hPrev: UnsafePointer<Float>, batch: Int, hidden: Int, units: Range<Int>) {
        preconditionFailure("\(Self.self) has no late gates")
    }
    func lateInputOffset(hidden: Int) -> Int { preconditionFailure("\(Self.self) has no late gates") }
    func stepBackwardEarly(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                           dhPrev: UnsafeMutablePointer<Float>, dv: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                           hPrev: UnsafePointer<Float>, batch: Int, hidden: Int, units: Range<Int>) {
        preconditionFailure("\(Self.self) has no late gates")
    }

    /// Floats in the parameter array the kernels read: the biases when the cell adds them, then
    /// its own parameters.
    func parameterCount(hidden: Int) -> Int {
        (addsBiases ? 2 * gateCount * hidden : 0) + ownParameters(hidden: hidden).reduce(0) { $0 + $1.length }
    }
}

/// The nonlinearity of an Elman ``RNN`` (PyTorch's `nonlinearity='tanh'|'relu'`).
public enum Nonlinearity: String, Sendable, CaseIterable {
    /// `tanh`, the default.
    case tanh
    /// `relu`.
    case relu
}

/// Elman cell: `h = act(gx + gh)`. Cache: `h` itself (enough for both derivatives).
struct ElmanCell: RecurrentCell {
    var nonlinearity: Nonlinearity
    var gateCount: Int { 1 }
    var hasCellState: Bool { false }
    func cacheFloats(hidden: Int) -> Int { hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] { [("h", 0)] }
    var foldedBiasGates: Int { 1 }
    var sharesGateGradients: Bool { true }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden: Int, units: Range<Int>, streamCache: Bool) {
        if Kernels.backend == .optimized {  // the same computation, fused and vectorised in C
            // No streamed cache here: measured 1.5% slower on `rnn` training (the cache is `h` itself).
            rk_elman_step(h, cache, gx, gh, batch, hidden, units.lowerBound, units.upperBound,
                          nonlinearity == .relu ? 1 : 0, Kernels.isa)
            return
        }
        let (u0, nu) = (units.lowerBound, units.count)
        for b in 0..<batch {
            let row = b * hidden
            for j in units { cache[row + j] = gx[row + j] + gh[row + j] }
            switch nonlinearity {
            case .tanh: Kernels.tanh(cache + row + u0, cache + row + u0, count: nu)
            case .relu: for j in units { cache[row + j] = max(cache[row + j], 0) }
            }
            (h + row + u0).update(from: cache + row + u0, count: nu)
        }
    }

    // h = act(a), a = gx + gh      da = dh · act'(a);  dgx = dgh = da
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden: Int, units: Range<Int>) {
        if Kernels.backend == .optimized {  // the same computation, vectorised in C
            rk_elman_step_backward(dgx, dgh, dh, cache, batch, hidden, units.lowerBound, units.upperBound,
                                   nonlinearity == .relu ? 1 : 0, Kernels.isa)
            return
        }
        for b in 0..<batch {
            for i in units.lazy.map({ b * hidden + $0 }) {
                let y = cache[i]
                let da = nonlinearity == .tanh ? dh[i] * (1 - y * y) : (y > 0 ? dh[i] : 0)
                dgx[i] = da
                dgh[i] = da
            }
        }
    }
}

/// LSTM cell with PyTorch's gate order i, f, g, o:
///
///     i = σ(·ᵢ)  f = σ(·_f)  g = tanh(·_g)  o = σ(·ₒ)     (· = gx + gh of that gate)
///     c = f ⊙ cₜ₋₁ + i ⊙ g        h = o ⊙ tanh(c)
///
/// Cache per row: `[i, f, g, o, tanh c]`.
struct LSTMCellKernel: RecurrentCell {
    var gateCount: Int { 4 }
    var hasCellState: Bool { true }
    func cacheFloats(hidden: Int) -> Int { 5 * hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] { [("i", 0), ("f", H), ("g", 2 * H), ("o", 3 * H)] }
    var foldedBiasGates: Int { 4 }
    var sharesGateGradients: Bool { true }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        let c = c!, cPrev = cPrev!
        if Kernels.backend == .optimized {  // the same computation, fused and vectorised in C
            rk_lstm_step(h, c, cache, gx, gh, cPrev, batch, H, units.lowerBound, units.upperBound, streamCache ? 1 : 0,
                         Kernels.isa)
            return
        }
        let (u0, nu) = (units.lowerBound, units.count)
        for b in 0..<batch {
            let x = gx + b * 4 * H, r = gh + b * 4 * H, k = cache + b * 5 * H
            for g in 0..<4 { for j in units { k[g * H + j] = x[g * H + j] + r[g * H + j] } }
            Kernels.sigmoid(k + u0, k + u0, count: nu)                    // i
            Kernels.sigmoid(k + H + u0, k + H + u0, count: nu)            // f
            Kernels.tanh(k + 2 * H + u0, k + 2 * H + u0, count: nu)       // g
            Kernels.sigmoid(k + 3 * H + u0, k + 3 * H + u0, count: nu)    // o
            for j in units { c[b * H + j] = k[H + j] * cPrev[b * H + j] + k[j] * k[2 * H + j] }
            Kernels.tanh(k + 4 * H + u0, c + b * H + u0, count: nu)       // tanh c
            for j in units { h[b * H + j] = k[3 * H + j] * k[4 * H + j] }
        }
    }

    // dc_total = dc + dh·o·(1 - tanh²c)
    // di = dc_total·g  df = dc_total·cₜ₋₁  dg = dc_total·i  do = dh·tanh c  dcₜ₋₁ = dc_total·f
    // through the activations: σ' = y(1-y), tanh' = 1-y²;  dgx = dgh
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        let dc = dc!, cPrev = cPrev!
        if Kernels.backend == .optimized {  // the same computation, vectorised in C
            rk_lstm_step_backward(dgx, dgh, dc, dh, cache, cPrev, batch, H, units.lowerBound, units.upperBound, Kernels.isa)
            return
        }
        for b in 0..<batch {
            let k = cache + b * 5 * H, d = dgx + b * 4 * H
            for j in units {
                let (i, f, g, o, tc) = (k[j], k[H + j], k[2 * H + j], k[3 * H + j], k[4 * H + j])
                let dhj = dh[b * H + j]
                let dct = dc[b * H + j] + dhj * o * (1 - tc * tc)
                d[j] = dct * g * i * (1 - i)
                d[H + j] = dct * cPrev[b * H + j] * f * (1 - f)
                d[2 * H + j] = dct * i * (1 - g * g)
                d[3 * H + j] = dhj * tc * o * (1 - o)
                dc[b * H + j] = dct * f
                dgh[b * 4 * H + j] = d[j]; dgh[b * 4 * H + H + j] = d[H + j]
                dgh[b * 4 * H + 2 * H + j] = d[2 * H + j]; dgh[b * 4 * H + 3 * H + j] = d[3 * H + j]
            }
        }
    }
}

/// GRU cell with PyTorch's gate order r, z, n and the reset gate applied after the recurrent
/// product (`b_hn` inside it, so it cannot be folded into `b_in`):
///
///     r = σ(·ᵣ)  z = σ(·_z)  n = tanh(gxₙ + r ⊙ ghₙ)  h = (1 - z) ⊙ n + z ⊙ hₜ₋₁
///
/// Cache per row: `[r, z, n, ghₙ]`.
struct GRUCellKernel: RecurrentCell {
    var gateCount: Int { 3 }
    var hasCellState: Bool { false }
    func cacheFloats(hidden: Int) -> Int { 4 * hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] { [("r", 0), ("z", H), ("n", 2 * H)] }
    var foldedBiasGates: Int { 2 }  // r, z; b_hn stays inside r ⊙ (W_hn h + b_hn)
    var sharesGateGradients: Bool { false }  // dghₙ = dâₙ ⊙ r

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        if Kernels.backend == .optimized {  // the same computation, fused and vectorised in C
            rk_gru_step(h, cache, gx, gh, hPrev, batch, H, units.lowerBound, units.upperBound, streamCache ? 1 : 0,
                        Kernels.isa)
            return
        }
        let (u0, nu) = (units.lowerBound, units.count)
        for b in 0..<batch {
            let x = gx + b * 3 * H, q = gh + b * 3 * H, k = cache + b * 4 * H
            for j in units {
                k[j] = x[j] + q[j]
                k[H + j] = x[H + j] + q[H + j]
                k[3 * H + j] = q[2 * H + j]
            }
            Kernels.sigmoid(k + u0, k + u0, count: nu)                    // r
            Kernels.sigmoid(k + H + u0, k + H + u0, count: nu)            // z
            for j in units { k[2 * H + j] = x[2 * H + j] + k[j] * q[2 * H + j] }
            Kernels.tanh(k + 2 * H + u0, k + 2 * H + u0, count: nu)       // n
            for j in units { h[b * H + j] = (1 - k[H + j]) * k[2 * H + j] + k[H + j] * hPrev[b * H + j] }
        }
    }

    // dn = dh(1-z)  dz = dh(hₜ₋₁ - n)  dhₜ₋₁ (direct) = dh·z
    // dâₙ = dn(1-n²): dgxₙ = dâₙ, dghₙ = dâₙ·r;  dr = dâₙ·ghₙ
    // dgx_r = dgh_r = dr·r(1-r);  dgx_z = dgh_z = dz·z(1-z)
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        if Kernels.backend == .optimized {  // the same computation, vectorised in C
            rk_gru_step_backward(dgx, dgh, dhPrev, dh, cache, hPrev, batch, H, units.lowerBound, units.upperBound, Kernels.isa)
            return
        }
        for b in 0..<batch {
            let k = cache + b * 4 * H, dx = dgx + b * 3 * H, dq = dgh + b * 3 * H
            for j in units {
                let (r, z, n, ghn) = (k[j], k[H + j], k[2 * H + j], k[3 * H + j])
                let dhj = dh[b * H + j]
                let dan = dhj * (1 - z) * (1 - n * n)
                let dar = dan * ghn * r * (1 - r)
                let daz = dhj * (hPrev[b * H + j] - n) * z * (1 - z)
                dx[j] = dar; dq[j] = dar
                dx[H + j] = daz; dq[H + j] = daz
                dx[2 * H + j] = dan; dq[2 * H + j] = dan * r
                dhPrev[b * H + j] += dhj * z
            }
        }
    }
}
