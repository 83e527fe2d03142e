import _RecurrentKernels

/// The layer-normalised LSTM (Ba, Kiros & Hinton 2016, eqs. 20–22), gate order i, f, g, o, with
/// LN(v; γ, β) = γ ⊙ (v − μ)/√(σ² + 10⁻⁵) + β over all 4H columns of a row:
///
///     a = LN(x Wᵢₕᵀ; γᵢₕ, bᵢₕ) + LN(hₜ₋₁ Wₕₕᵀ; γₕₕ, bₕₕ)       (the two biases are the two β)
///     i, f, o = σ(aᵢ, a_f, aₒ)   g = tanh(a_g)   c = f ⊙ cₜ₋₁ + i ⊙ g
///     h = o ⊙ tanh(LN(c; γ_c, β_c))                            (c itself is carried un-normalised)
///
/// Parameters: `ln_weight_ih` `[4H]`, `ln_weight_hh` `[4H]`, `ln_weight_c` `[H]` (all 1 at first),
/// `ln_bias_c` `[H]` (0). Cache per row: `[x̂ₓ | x̂ₕ | i f g o | ĉ | tanh | 3 statistics]`, 14H + 3.
struct LayerNormLSTMCell: RecurrentCell {
    var gateCount: Int { 4 }
    var hasCellState: Bool { true }
    func cacheFloats(hidden: Int) -> Int { 14 * hidden + 3 }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] {
        [("i", 8 * H), ("f", 9 * H), ("g", 10 * H), ("o", 11 * H)]
    }
    var foldedBiasGates: Int { 0 }
    var sharesGateGradients: Bool { false }
    var addsBiases: Bool { true }
    var needsWholeRows: Bool { true }
    var sumsParameterGradientsAfterwards: Bool { true }
    func ownParameters(hidden H: Int) -> [CellParameter] {
        [CellParameter(name: "ln_weight_ih", length: 4 * H, initialValue: 1),
         CellParameter(name: "ln_weight_hh", length: 4 * H, initialValue: 1),
         CellParameter(name: "ln_weight_c", length: H, initialValue: 1),
         CellParameter(name: "ln_bias_c", length: H, initialValue: 0)]
    }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        precondition(units == 0..<H, "LayerNormLSTMCell: a step needs whole rows")
        rk_ln_lstm_step(h, c!, cache, gx, gh, cPrev!, parameters!, batch, H, Kernels.isa)
    }

    // dy_c = dh·o·(1 − tanh²), dcₜ = dc + LN'(dy_c·γ_c)
    // dz = (dcₜ·g·i(1−i), dcₜ·cₜ₋₁·f(1−f), dcₜ·i(1−g²), dh·tanh·o(1−o));  dcₜ₋₁ = dcₜ·f
    // dgx = LN'(dz·γᵢₕ), dgh = LN'(dz·γₕₕ)
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        // Leaves dz and dy_c in this step's cache (read once, here) for parameterGradients.
        rk_ln_lstm_step_backward(dgx, dgh, dc!, dh, UnsafeMutablePointer(mutating: cache), cPrev!, parameters!, batch, H, Kernels.isa)
    }

    // dbᵢₕ = dbₕₕ = Σ dz, dγᵢₕ = Σ dz·x̂ₓ, dγₕₕ = Σ dz·x̂ₕ, dγ_c = Σ dy_c·ĉ, dβ_c = Σ dy_c
    func parameterGradients(cache: UnsafePointer<Float>, rows: Int, hidden H: Int, units: Range<Int>,
                            into gradient: UnsafeMutablePointer<Float>) {
        rk_ln_lstm_parameter_gradients(gradient, cache, rows, H, units.lowerBound, units.upperBound, Kernels.isa)
    }
}

/// The layer-normalised GRU, gate order r, z, n, with the reset gate after the recurrent product
/// (PyTorch's form) and LN as for ``LayerNormLSTMCell`` over all 3H columns:
///
///     ax = LN(x Wᵢₕᵀ; γᵢₕ, bᵢₕ)   ah = LN(hₜ₋₁ Wₕₕᵀ; γₕₕ, bₕₕ)
///     r, z = σ(axᵣ + ahᵣ, ax_z + ah_z)   n = tanh(axₙ + r ⊙ ahₙ)   h = (1 − z) ⊙ n + z ⊙ hₜ₋₁
///
/// Parameters: `ln_weight_ih` `[3H]`, `ln_weight_hh` `[3H]` (1 at first). Cache per row:
/// `[x̂ₓ | x̂ₕ | r z n | ahₙ | 2 statistics]`, 10H + 2.
struct LayerNormGRUCell: RecurrentCell {
    var gateCount: Int { 3 }
    var hasCellState: Bool { false }
    func cacheFloats(hidden: Int) -> Int { 10 * hidden + 2 }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] { [("r", 6 * H), ("z", 7 * H), ("n", 8 * H)] }
    var foldedBiasGates: Int { 0 }
    var sharesGateGradients: Bool { false }
    var addsBiases: Bool { true }
    var needsWholeRows: Bool { true }
    var sumsParameterGradientsAfterwards: Bool { true }
    func ownParameters(hidden H: Int) -> [CellParameter] {
        [CellParameter(name: "ln_weight_ih", length: 3 * H, initialValue: 1),
         CellParameter(name: "ln_weight_hh", length: 3 * H, initialValue: 1)]
    }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        precondition(units == 0..<H, "LayerNormGRUCell: a step needs whole rows")
        rk_ln_gru_step(h, cache, gx, gh, hPrev, parameters!, batch, H, Kernels.isa)
    }

    // daₙ = dh(1−z)(1−n²), dz = dh(hₜ₋₁ − n)z(1−z), dhₜ₋₁ += dh·z, dr = daₙ·ahₙ·r(1−r)
    // dyₓ = (dr, dz, daₙ), dyₕ = (dr, dz, daₙ·r);  dgx = LN'(dyₓ·γᵢₕ), dgh = LN'(dyₕ·γₕₕ)
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        // Leaves dyₓ and dyₕₙ in this step's cache (read once, here) for parameterGradients.
        rk_ln_gru_step_backward(dgx, dgh, dhPrev, dh, UnsafeMutablePointer(mutating: cache), hPrev, parameters!, batch, H, Kernels.isa)
    }

    // dbᵢₕ = Σ dyₓ, dbₕₕ = Σ dyₕ, dγᵢₕ = Σ dyₓ·x̂ₓ, dγₕₕ = Σ dyₕ·x̂ₕ
    func parameterGradients(cache: UnsafePointer<Float>, rows: Int, hidden H: Int, units: Range<Int>,
                            into gradient: UnsafeMutablePointer<Float>) {
        rk_ln_gru_parameter_gradients(gradient, cache, rows, H, units.lowerBound, units.upperBound, Kernels.isa)
    }
}
