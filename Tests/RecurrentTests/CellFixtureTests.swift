import Testing
@testable import Recurrent

/// `RNNCell`, `LSTMCell` and `GRUCell` against PyTorch: outputs and every gradient, batched and
/// unbatched, with and without bias and initial state (tolerances as in ``LayerFixtureTests``).
@Suite struct CellFixtureTests {
    @Test(arguments: Fixtures.names(in: "cells"))
    func cellMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("cells/" + name)
        let (i, h, bias) = (f.int("input_size"), f.int("hidden_size"), f.flag("bias"))
        let kind = f.metadata["kind"] ?? name
        let x = try f.tensor("input", requiresGrad: true)
        let hx = f.flag("has_state") ? try f.tensor("hx", requiresGrad: true) : nil
        let cx = f.flag("has_state") && kind.hasPrefix("lstm") ? try f.tensor("cx", requiresGrad: true) : nil
        let module: RecurrentCellModule
        let hOut: Tensor, cOut: Tensor?
        if kind.hasPrefix("lstm") {
            let cell = LSTMCell(inputSize: i, hiddenSize: h, bias: bias)
            try cell.loadStateDict(f.stateDict(prefix: "param."))
            let r = try cell(x, hx.map { ($0, cx!) })
            (module, hOut, cOut) = (cell, r.h, r.c)
        } else if kind.hasPrefix("gru") {
            let cell = GRUCell(inputSize: i, hiddenSize: h, bias: bias)
            try cell.loadStateDict(f.stateDict(prefix: "param."))
            (module, hOut, cOut) = (cell, try cell(x, hx), nil)
        } else {
            let cell = RNNCell(inputSize: i, hiddenSize: h, bias: bias, nonlinearity: kind.hasPrefix("rnn_relu") ? .relu : .tanh)
            try cell.loadStateDict(f.stateDict(prefix: "param."))
            (module, hOut, cOut) = (cell, try cell(x, hx), nil)
        }
        expectClose(hOut, shape: try f.shape("h"), try f.values("h"), rtol: 1e-5, atol: 1e-6, "\(name) h")
        if let cOut { expectClose(cOut, shape: try f.shape("c"), try f.values("c"), rtol: 1e-5, atol: 1e-6, "\(name) c") }
        var loss = (hOut * (try f.tensor("loss_weight.h"))).sum()
        if let cOut { loss = loss + (cOut * (try f.tensor("loss_weight.c"))).sum() }
        loss.backward()
        expectClose(x.grad, shape: x.shape, try f.values("grad.input"), rtol: 1e-4, atol: 1e-5, "\(name) grad input")
        if let hx { expectClose(hx.grad, shape: hx.shape, try f.values("grad.hx"), rtol: 1e-4, atol: 1e-5, "\(name) grad hx") }
        if let cx { expectClose(cx.grad, shape: cx.shape, try f.values("grad.cx"), rtol: 1e-4, atol: 1e-5, "\(name) grad cx") }
        for (pname, p) in module.namedParameters {
            expectClose(p.grad, shape: p.shape, try f.values("grad.param." + pname), rtol: 1e-4, atol: 1e-5, "\(name) grad \(pname)")
        }
    }

    @Test func allCellFixturesPresent() {
        #expect(Fixtures.names(in: "cells").count == 32)
    }
}
