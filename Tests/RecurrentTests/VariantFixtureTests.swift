import Testing
@testable import Recurrent

/// Every cell variant against its two references (`Tools/make_variant_fixtures.py`): PyTorch
/// modules written from the equations (outputs, final states and every gradient) and, for what
/// ONNX can express, ONNX Runtime's outputs for the same weights.
///
/// Tolerances as in ``LayerFixtureTests``: forward 1e-5 relative (+1e-6 absolute), gradients 1e-4
/// relative (+1e-5 absolute).
@Suite struct VariantFixtureTests {
    static func layer(for f: SafeTensorsFile) throws -> RecurrentLayer {
        let (i, h, layers) = (f.int("input_size"), f.int("hidden_size"), f.int("num_layers"))
        let (bias, batchFirst, bidirectional) = (f.flag("bias"), f.flag("batch_first"), f.flag("bidirectional"))
        let kind = ModelArchitecture.Kind(rawValue: f.metadata["kind"] ?? "")!
        let options = try CellOptions(metadata: f.metadata, kind: kind, directions: bidirectional ? 2 : 1)
        return switch kind {
        case .lstm: LSTM(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst,
                         bidirectional: bidirectional, projSize: f.int("proj_size"), options: options)
        case .gru: GRU(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst,
                       bidirectional: bidirectional, options: options)
        case .rnn: RNN(inputSize: i, hiddenSize: h, numLayers: layers, bias: bias, batchFirst: batchFirst,
                       bidirectional: bidirectional, options: options)
        }
    }

    /// Every fixture under every instruction set this CPU has (the kernels' AVX-512, AVX2 and
    /// portable paths; the NEON build is checked by `Tools/check_neon.sh`).
    @Test(arguments: Fixtures.names(in: "variants"), KernelTests.instructionSets)
    func variantMatchesReferences(_ name: String, _ isa: InstructionSet) throws {
        try Kernels.$instructionSet.withValue(isa) { try check(name) }
    }

    func check(_ name: String) throws {
        let f = try Fixtures.load("variants/" + name)
        let layer = try Self.layer(for: f)
        try layer.loadStateDict(f.stateDict(prefix: "param."))
        let x = try f.tensor("input", requiresGrad: true)
        let hasState = f.flag("has_state"), isLSTM = layer is LSTM
        let h0 = hasState ? try f.tensor("h0", requiresGrad: true) : nil
        let c0 = hasState && isLSTM ? try f.tensor("c0", requiresGrad: true) : nil
        let r = try layer.stack.run(x, h0: h0, c0: c0, layerName: name)
        if f.flag("has_onnx") {  // the second reference (the PyTorch one is compared below, with the gradients)
            let (prefix, who) = ("onnx.", "ONNX Runtime")
            expectClose(r.output, shape: try f.shape(prefix + "output"), try f.values(prefix + "output"), rtol: 1e-5, atol: 1e-6,
                        "\(name) output vs \(who)")
            expectClose(r.h, shape: try f.shape(prefix + "h_n"), try f.values(prefix + "h_n"), rtol: 1e-5, atol: 1e-6,
                        "\(name) h_n vs \(who)")
            if let cN = r.c {
                expectClose(cN, shape: try f.shape(prefix + "c_n"), try f.values(prefix + "c_n"), rtol: 1e-5, atol: 1e-6,
                            "\(name) c_n vs \(who)")
            }
        }
        // Inference (two state slots, no history) gives the same numbers.
        let inference = try withoutGradients { try layer.stack.run(x, h0: h0, c0: c0, layerName: name).output.scalars }
        #expect(inference == r.output.scalars, "\(name): inference output differs from the recorded forward")

        // Layer norm over a projected state (P = 2 values feeding 4H gates) is ill-conditioned: on
        // `lstm_ln_proj_L2_bi_tm_bias_state` PyTorch's own Float32 gradients are up to 6.6e-5
        // (relative) from the same reference run in Float64, and ours up to 1.6e-4 (weight_hr_l0_reverse[7]:
        // Float64 −0.6023027, PyTorch −0.6023183, ours −0.602402), so those weights get 3e-4.
        let parameterRtol: Float = f.flag("layer_norm") && f.int("proj_size") > 0 ? 3e-4 : 1e-4
        try expectMatchesFixture(f, name, result: r, input: x, h0: h0, c0: c0, parameters: layer.namedParameters,
                                 parameterRtol: parameterRtol)
    }

    /// Every variant the issue names has fixtures, and every ONNX-expressible one an ONNX Runtime reference.
    @Test func everyVariantIsCovered() throws {
        let names = Fixtures.names(in: "variants")
        for stem in ["lstm_peephole_", "lstm_coupled_", "lstm_coupled_peephole_", "lstm_clip_", "lstm_act1_", "gru_resetbefore_",
                     "gru_act_", "gru_clip_", "rnn_act1_", "rnn_clip_", "lstm_ln_", "gru_ln_", "lstm_ln_proj_", "lstm_peephole_proj_"] {
            #expect(names.contains { $0.hasPrefix(stem) }, "no fixture for \(stem)")
        }
        var onnx = 0
        for name in names { if (try Fixtures.load("variants/" + name)).flag("has_onnx") { onnx += 1 } }
        #expect(onnx >= 30, "ONNX Runtime references: \(onnx)")
    }
}
