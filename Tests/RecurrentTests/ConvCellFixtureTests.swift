import Foundation
import Testing
@testable import Recurrent

/// ConvLSTM, ConvGRU and SepConvGRU against PyTorch (`Tools/make_conv_fixtures.py`): ndrplz's
/// ConvLSTM (with Shi et al.'s peepholes) and RAFT's cells written out in PyTorch, as one step and
/// as layers over sequences; outputs, final states and every gradient.
///
/// Tolerances as in ``LayerFixtureTests``: forward 1e-5 relative (+1e-6 absolute), gradients 1e-4
/// relative (+1e-5 absolute).
@Suite struct ConvCellFixtureTests {
    static var sequenceNames: [String] { Fixtures.names(in: "conv").filter { $0.contains("_seq_") } }
    static var stepNames: [String] { Fixtures.names(in: "conv").filter { $0.hasSuffix("_step") } }

    /// The layer a fixture describes, as a type-erased run.
    static func layer(for f: SafeTensorsFile) -> (module: any Module, run: (Tensor, [Tensor]?) throws -> (Tensor, [Tensor])) {
        let (i, h, layers, batchFirst) = (f.int("input_channels"), f.int("hidden_channels"), f.int("num_layers"), f.flag("batch_first"))
        switch f.metadata["kind"] {
        case "convlstm":
            let frame = f.flag("peephole") ? (f.int("height"), f.int("width")) : nil
            let layer = ConvLSTM(inputChannels: i, hiddenChannels: h, kernelSize: (f.int("kernel_h"), f.int("kernel_w")),
                                 numLayers: layers, bias: f.flag("bias"), batchFirst: batchFirst, peepholeFrame: frame)
            return (layer, { try layer($0, initialState: $1) })
        case "convgru":
            let layer = ConvRecurrentLayer<ConvGRU>(inputChannels: i, hiddenChannels: h, numLayers: layers, batchFirst: batchFirst)
            return (layer, { try layer($0, initialState: $1) })
        default:
            let layer = ConvRecurrentLayer<SepConvGRU>(inputChannels: i, hiddenChannels: h, numLayers: layers, batchFirst: batchFirst)
            return (layer, { try layer($0, initialState: $1) })
        }
    }

    @Test(arguments: sequenceNames, [KernelBackend.optimized, .reference])
    func layerMatchesPyTorch(_ name: String, _ backend: KernelBackend) throws {
        try Kernels.$backend.withValue(backend) { try checkSequence(name) }
    }

    func checkSequence(_ name: String) throws {
        let f = try Fixtures.load("conv/" + name)
        let (module, run) = Self.layer(for: f)
        try module.loadStateDict(f.stateDict(prefix: "param."))
        let x = try f.tensor("input", requiresGrad: true)
        let isLSTM = f.metadata["kind"] == "convlstm"
        let initial = f.flag("has_state")
            ? try (isLSTM ? ["h0", "c0"] : ["h0"]).map { try f.tensor($0, requiresGrad: true) } : nil
        let (output, state) = try run(x, initial)
        let outputs = [("output", output), ("h_n", state[0])] + (isLSTM ? [("c_n", state[1])] : [])
        var loss: Tensor? = nil
        for (key, value) in outputs {
            expectClose(value, shape: try f.shape(key), try f.values(key), rtol: 1e-5, atol: 1e-6, "\(name) \(key)")
            let term = (value * (try f.tensor("loss_weight." + key))).sum()
            loss = loss.map { $0 + term } ?? term
        }
        loss!.backward()
        expectClose(x.grad, shape: x.shape, try f.values("grad.input"), rtol: 1e-4, atol: 1e-5, "\(name) grad input")
        for (key, t) in zip(["h0", "c0"], initial ?? []) {
            expectClose(t.grad, shape: t.shape, try f.values("grad." + key), rtol: 1e-4, atol: 1e-5, "\(name) grad \(key)")
        }
        let names = module.namedParameters.map(\.name)
        #expect(Set(names) == Set(f.tensors.keys.filter { $0.hasPrefix("param.") }.map { String($0.dropFirst(6)) }),
                "\(name): parameter names are PyTorch's")
        for (key, p) in module.namedParameters {
            expectClose(p.grad, shape: p.shape, try f.values("grad.param." + key), rtol: 1e-4, atol: 1e-5, "\(name) grad \(key)")
        }
    }

    /// One step, as RAFT calls it: `h = gru(h, x)`.
    @Test(arguments: stepNames)
    func stepMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("conv/" + name)
        let (i, hidden) = (f.int("input_channels"), f.int("hidden_channels"))
        let (h, x) = (try f.tensor("h", requiresGrad: true), try f.tensor("x", requiresGrad: true))
        let cell: any ConvRecurrentCell = f.metadata["kind"] == "convgru"
            ? ConvGRU(hiddenChannels: hidden, inputChannels: i) : SepConvGRU(hiddenChannels: hidden, inputChannels: i)
        try cell.loadStateDict(f.stateDict(prefix: "param."))
        let y = try cell.step(x, state: [h])[0]
        expectClose(y, shape: try f.shape("output"), try f.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) output")
        (y * (try f.tensor("loss_weight.output"))).sum().backward()
        expectClose(h.grad, shape: h.shape, try f.values("grad.h"), rtol: 1e-4, atol: 1e-5, "\(name) grad h")
        expectClose(x.grad, shape: x.shape, try f.values("grad.x"), rtol: 1e-4, atol: 1e-5, "\(name) grad x")
        for (key, p) in cell.namedParameters {
            expectClose(p.grad, shape: p.shape, try f.values("grad.param." + key), rtol: 1e-4, atol: 1e-5, "\(name) grad \(key)")
        }
    }

    /// A state dict with RAFT's key names (`update_block.gru.convz1.weight`, …, among other RAFT
    /// keys) loads into ``SepConvGRU`` with the prefix and reproduces the PyTorch module's output.
    @Test func raftStateDictLoadsByName() throws {
        let f = try Fixtures.load("conv/raft_sepconvgru")
        let gru = SepConvGRU(hiddenChannels: f.int("hidden_channels"), inputChannels: f.int("input_channels"))
        #expect(f.tensors.keys.contains("update_block.gru.convz1.weight") && f.tensors.keys.contains("fnet.conv1.weight"))
        try gru.loadStateDict(f.tensors, prefix: "update_block.gru.")
        let y = try withoutGradients { try gru(h: try f.tensor("h"), x: try f.tensor("x")) }
        expectClose(y, shape: try f.shape("output"), try f.values("output"), rtol: 1e-5, atol: 1e-6, "RAFT SepConvGRU output")

        // Missing and unknown keys under the prefix are refused, named in full, and nothing changes.
        var broken = f.tensors
        broken["update_block.gru.convz1.weight"] = nil
        broken["update_block.gru.convx.weight"] = TensorData(shape: [1], scalars: [0])
        let before = gru.horizontal.convr.weight.scalars
        #expect(throws: StateDictError(missingKeys: ["update_block.gru.convz1.weight"],
                                       unexpectedKeys: ["update_block.gru.convx.weight"], shapeMismatches: [])) {
            try gru.loadStateDict(broken, prefix: "update_block.gru.")
        }
        #expect(gru.horizontal.convr.weight.scalars == before)
        // A ConvGRU (3×3) does not take the separable GRU's weights.
        #expect(throws: StateDictError.self) {
            try ConvGRU(hiddenChannels: f.int("hidden_channels"), inputChannels: f.int("input_channels"))
                .loadStateDict(f.tensors, prefix: "update_block.gru.")
        }
    }
}
