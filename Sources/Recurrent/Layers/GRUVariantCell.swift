import _RecurrentKernels

/// The GRU variants ONNX defines: the reset gate before or after the recurrent product, any of
/// ONNX's activations, and `clip` (see ``CellOptions``). Gate order r, z, n:
///
///     r = f(clip ·ᵣ)   z = f(clip ·_z)   h = (1 − z) ⊙ n + z ⊙ hₜ₋₁
///     after (PyTorch):      n = g(clip(gxₙ + r ⊙ (Wₕₙ hₜ₋₁ + bₕₙ)))
///     before (Cho et al.):  n = g(clip(gxₙ + Wₕₙ (r ⊙ hₜ₋₁) + bₕₙ))
///
/// With the reset gate before the product, a step has two halves around a second product (the
/// ``RecurrentCell/lateGates``): r and z first, then `ghₙ = (r ⊙ hₜ₋₁) Wₕₙᵀ + bₕₙ`, then n and h.
/// Cache per row: `[aᵣ a_z aₙ | r z n | v]`, 7H, with `v` = ghₙ (after) or r ⊙ hₜ₋₁ (before); the
/// reset-before form with the standard activations and no clip has its own kernels
/// (`rk_gru_before_*`) and cache `[r z n v]`, 4H.
struct GRUVariantCell: RecurrentCell {
    var config: rk_gru_config
    /// The reset-before form with the standard activations and no clip.
    var fused: Bool

    init(resetAfter: Bool, activations: [Activation]?, clip: Float?) {
        let a = activations ?? GRUActivations().list
        config = rk_gru_config(f: a[0].kernel, g: a[1].kernel, clip: clip ?? .infinity, reset_after: resetAfter ? 1 : 0)
        fused = !resetAfter && activations == nil && clip == nil
    }

    var resetAfter: Bool { config.reset_after != 0 }
    var gateCount: Int { 3 }
    var hasCellState: Bool { false }
    func cacheFloats(hidden: Int) -> Int { (fused ? 4 : 7) * hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] {
        let base = fused ? 0 : 3 * H
        return [("r", base), ("z", base + H), ("n", base + 2 * H)]
    }
    var foldedBiasGates: Int { 2 }  // r, z; b_hn stays with its product
    var sharesGateGradients: Bool { !resetAfter }  // after: dghₙ = daₙ ⊙ r
    var lateGates: Int { resetAfter ? 0 : 1 }
    func lateInputOffset(hidden: Int) -> Int { (fused ? 3 : 6) * hidden }

    func stepEarly(cache: UnsafeMutablePointer<Float>, gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
                   hPrev: UnsafePointer<Float>, batch: Int, hidden H: Int, units: Range<Int>) {
        if fused {
            rk_gru_before_step_early(cache, gx, gh, hPrev, batch, H, units.lowerBound, units.upperBound, Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_gru_general_step_early(cache, gx, gh, hPrev, batch, H, units.lowerBound, units.upperBound, cf, Kernels.isa)
        }
    }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        if fused {
            rk_gru_before_step(h, cache, gx, gh, hPrev, batch, H, units.lowerBound, units.upperBound, Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_gru_general_step(h, cache, gx, gh, hPrev, batch, H, units.lowerBound, units.upperBound, cf, Kernels.isa)
        }
    }

    // dn = dh(1-z), dz = dh(hₜ₋₁ - n), dhₜ₋₁ += dh·z; daₙ = dn·g'(aₙ)
    // after: dgxₙ = daₙ, dghₙ = daₙ·r, dr = daₙ·ghₙ;  before: dgxₙ = dghₙ = daₙ, and (stepBackwardEarly)
    // dr = dv·hₜ₋₁, dhₜ₋₁ += dv·r with dv = dghₙ Wₕₙ;  dgx_r = dgh_r = dr·f'(aᵣ), the same for z
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        if fused {
            rk_gru_before_step_backward(dgx, dhPrev, dh, cache, hPrev, batch, H, units.lowerBound, units.upperBound, Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_gru_general_step_backward(dgx, dgh, dhPrev, dh, cache, hPrev, batch, H, units.lowerBound, units.upperBound, cf, Kernels.isa)
        }
    }

    func stepBackwardEarly(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                           dhPrev: UnsafeMutablePointer<Float>, dv: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                           hPrev: UnsafePointer<Float>, batch: Int, hidden H: Int, units: Range<Int>) {
        if fused {
            rk_gru_before_step_backward_early(dgx, dhPrev, dv, cache, hPrev, batch, H, units.lowerBound, units.upperBound,
                                              Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_gru_general_step_backward_early(dgx, dgh, dhPrev, dv, cache, hPrev, batch, H, units.lowerBound,
                                               units.upperBound, cf, Kernels.isa)
        }
    }
}

/// The Elman cell with any of ONNX's activations and `clip`: `h = f(clip(gx + gh))`.
/// Cache per row: `[a | h]`, 2H.
struct ElmanVariantCell: RecurrentCell {
    var activation: Activation
    var clip: Float?

    var gateCount: Int { 1 }
    var hasCellState: Bool { false }
    func cacheFloats(hidden: Int) -> Int { 2 * hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] { [("h", H)] }
    var foldedBiasGates: Int { 1 }
    var sharesGateGradients: Bool { true }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        rk_elman_general_step(h, cache, gx, gh, batch, H, units.lowerBound, units.upperBound, activation.kernel,
                              clip ?? .infinity, Kernels.isa)
    }

    // da = dh·f'(a) (0 where clamped);  dgx = dgh = da
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        rk_elman_general_step_backward(dgx, dgh, dh, cache, batch, H, units.lowerBound, units.upperBound,
                                       activation.kernel, clip ?? .infinity, Kernels.isa)
    }
}
