import _RecurrentKernels

/// The LSTM variants ONNX defines beside PyTorch's cell: peepholes, the coupled input–forget gate,
/// any of ONNX's activations, and `clip` (see ``CellOptions``). Gate order i, f, g, o:
///
///     aᵢ = ·ᵢ + pᵢ ⊙ cₜ₋₁   a_f = ·_f + p_f ⊙ cₜ₋₁   (· = gx + gh of that gate; p: peepholes)
///     i = f(clip aᵢ)   f = f(clip a_f), or 1 − i coupled   g = g(clip a_g)
///     c = f ⊙ cₜ₋₁ + i ⊙ g     o = f(clip(aₒ + pₒ ⊙ c))     h = o ⊙ h(c)
///
/// (`f`, `g`, `h`: ONNX's activations, default sigmoid, tanh, tanh.) With the standard activations
/// and no clip, one fused pass (`rk_lstm_peephole_step`) with the standard cache `[i f g o | tanh c]`,
/// 5H; otherwise the general kernel, cache `[aᵢ a_f a_g aₒ | i f g o | h(c) | c]`, 10H. Parameters: `weight_peephole` `[3H]` (i, f, o) with
/// peepholes, from U(-1/√H, 1/√H) as every recurrent weight.
struct LSTMVariantCell: RecurrentCell {
    var peephole: Bool
    var config: rk_lstm_config
    /// Standard activations and no clip: the fused kernel.
    var fused: Bool

    init(peephole: Bool, coupled: Bool, activations: [Activation]?, clip: Float?) {
        let a = activations ?? LSTMActivations().list
        self.peephole = peephole
        fused = activations == nil && clip == nil
        config = rk_lstm_config(f: a[0].kernel, g: a[1].kernel, h: a[2].kernel, clip: clip ?? .infinity,
                                coupled: coupled ? 1 : 0)
    }

    var gateCount: Int { 4 }
    var hasCellState: Bool { true }
    func cacheFloats(hidden: Int) -> Int { (fused ? 5 : 10) * hidden }
    func recordedGates(hidden H: Int) -> [(name: String, offset: Int)] {
        let base = fused ? 0 : 4 * H
        return [("i", base), ("f", base + H), ("g", base + 2 * H), ("o", base + 3 * H)]
    }
    var foldedBiasGates: Int { 4 }
    var sharesGateGradients: Bool { true }
    func ownParameters(hidden: Int) -> [CellParameter] {
        peephole ? [CellParameter(name: "weight_peephole", length: 3 * hidden, initialValue: nil)] : []
    }

    func step(h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?, cache: UnsafeMutablePointer<Float>,
              gx: UnsafePointer<Float>, gh: UnsafePointer<Float>,
              hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
              batch: Int, hidden H: Int, units: Range<Int>, streamCache: Bool) {
        if fused {
            rk_lstm_peephole_step(h, c!, cache, gx, gh, cPrev!, peephole ? parameters : nil, batch, H, units.lowerBound,
                                  units.upperBound, config.coupled, Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_lstm_general_step(h, c!, cache, gx, gh, cPrev!, peephole ? parameters : nil, batch, H, units.lowerBound,
                                 units.upperBound, cf, Kernels.isa)
        }
    }

    // do = dh·h(c), daₒ = do·f'(aₒ);  dcₜ = dc + dh·o·h'(c) + daₒ·pₒ
    // di = dcₜ·g (− dcₜ·cₜ₋₁ coupled), df = dcₜ·cₜ₋₁ (0 coupled), dg = dcₜ·i, each through its activation
    // dcₜ₋₁ = dcₜ·f + daᵢ·pᵢ + da_f·p_f;  dp += (daᵢ·cₜ₋₁, da_f·cₜ₋₁, daₒ·c);  dgx = dgh
    func stepBackward(dgx: UnsafeMutablePointer<Float>, dgh: UnsafeMutablePointer<Float>,
                      dhPrev: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>?,
                      dh: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                      hPrev: UnsafePointer<Float>, cPrev: UnsafePointer<Float>?, parameters: UnsafePointer<Float>?,
                      dparameters: UnsafeMutablePointer<Float>?, batch: Int, hidden H: Int, units: Range<Int>) {
        if fused {
            rk_lstm_peephole_step_backward(dgx, dgh, dc!, dh, cache, cPrev!, peephole ? parameters : nil,
                                           peephole ? dparameters : nil, 3 * H, batch, H, units.lowerBound, units.upperBound,
                                           config.coupled, Kernels.isa)
            return
        }
        withUnsafePointer(to: config) { cf in
            rk_lstm_general_step_backward(dgx, dgh, dc!, dh, cache, cPrev!, peephole ? parameters : nil,
                                          peephole ? dparameters : nil, 3 * H, batch, H, units.lowerBound,
                                          units.upperBound, cf, Kernels.isa)
        }
    }
}
