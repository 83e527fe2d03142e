import Testing
@testable import Recurrent

/// Compares one run of a layer with a fixture in the layout every layer fixture script writes:
/// `output`, `h_n`, `c_n` (forward to `rtol` 1e-5), the loss `Σ output·Wₒ + Σ h_n·Wₕ [+ Σ c_n·W_c]`
/// with the file's `loss_weight.*`, then (after its backward) the gradients `grad.input`,
/// `grad.h0`, `grad.c0` and `grad.param.<name>` of every parameter (to `gradientRtol`, 1e-4
/// unless a case says why not; parameters may get their own `parameterRtol`).
func expectMatchesFixture(_ f: SafeTensorsFile, _ name: String, result r: (output: Tensor, h: Tensor, c: Tensor?),
                          input x: Tensor, h0: Tensor?, c0: Tensor?, parameters: [(name: String, tensor: Tensor)],
                          parameterRtol: Float = 1e-4, sourceLocation: SourceLocation = #_sourceLocation) throws {
    expectClose(r.output, shape: try f.shape("output"), try f.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) output",
                sourceLocation: sourceLocation)
    expectClose(r.h, shape: try f.shape("h_n"), try f.values("h_n"), rtol: 1e-5, atol: 1e-6, "\(name) h_n", sourceLocation: sourceLocation)
    if let cN = r.c {
        expectClose(cN, shape: try f.shape("c_n"), try f.values("c_n"), rtol: 1e-5, atol: 1e-6, "\(name) c_n", sourceLocation: sourceLocation)
    }
    var loss = (r.output * (try f.tensor("loss_weight.output"))).sum() + (r.h * (try f.tensor("loss_weight.h_n"))).sum()
    if let cN = r.c { loss = loss + (cN * (try f.tensor("loss_weight.c_n"))).sum() }
    expectClose([loss.item], try f.values("loss"), rtol: 1e-5, atol: 1e-5, "\(name) loss", sourceLocation: sourceLocation)
    loss.backward()
    let gradients = [("input", x), ("h0", h0), ("c0", c0)].compactMap { label, t in t.map { (label, $0) } }
    for (label, t) in gradients {
        expectClose(t.grad, shape: t.shape, try f.values("grad." + label), rtol: 1e-4, atol: 1e-5, "\(name) grad \(label)",
                    sourceLocation: sourceLocation)
    }
    #expect(Set(parameters.map(\.name)) == Set(f.stateDict(prefix: "grad.param.").keys), "\(name): parameter names",
            sourceLocation: sourceLocation)
    for (pname, p) in parameters {
        expectClose(p.grad, shape: p.shape, try f.values("grad.param." + pname), rtol: parameterRtol, atol: 1e-5,
                    "\(name) grad \(pname)", sourceLocation: sourceLocation)
    }
}
