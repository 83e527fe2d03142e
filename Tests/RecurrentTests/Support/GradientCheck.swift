import Testing
@testable import Recurrent

/// Checks the gradients autograd computes for `inputs` against central finite differences of the
/// scalar `loss(inputs)`.
///
/// Tolerance: the forward runs in Float32, so a central difference with step `eps = 1e-2` carries
/// a truncation error of order eps²·|f'''| ≈ 1e-4 and a rounding error of order
/// 1e-7·|L|/eps ≈ 1e-5·|L|; `atol = 2e-3`, `rtol = 1e-2` sit above both and still catch a wrong
/// derivative (which is off by O(1)).
///
/// With `kinks` (piecewise-linear functions such as ReLU) a kink may lie within ±eps of the point,
/// where the central difference averages the two slopes; an element then passes if the analytic
/// derivative matches the central, the forward or the backward difference (the one-sided
/// difference on the kink-free side is exact up to the same errors).
func checkGradients(
    _ inputs: [Tensor], eps: Float = 1e-2, kinks: Bool = false, rtol: Float = 1e-2, atol: Float = 2e-3, _ label: String = "",
    sourceLocation: SourceLocation = #_sourceLocation, loss: ([Tensor]) throws -> Tensor
) rethrows {
    for t in inputs { t.zeroGrad() }
    try loss(inputs).backward()
    for (k, t) in inputs.enumerated() where t.requiresGrad {
        let analytic = t.grad?.scalars ?? Array(repeating: 0, count: t.count)
        var numeric = [Float](repeating: 0, count: t.count)
        let center = kinks ? try withoutGradients { try loss(inputs).item } : 0
        for i in 0..<t.count {
            let saved = t.scalars[i]
            t.scalars[i] = saved + eps
            let plus = try withoutGradients { try loss(inputs).item }
            t.scalars[i] = saved - eps
            let minus = try withoutGradients { try loss(inputs).item }
            t.scalars[i] = saved
            numeric[i] = (plus - minus) / (2 * eps)
            if kinks {  // take whichever difference is closest to the analytic value
                let candidates = [numeric[i], (plus - center) / eps, (center - minus) / eps]
                numeric[i] = candidates.min { abs($0 - analytic[i]) < abs($1 - analytic[i]) }!
            }
        }
        expectClose(analytic, numeric, rtol: rtol, atol: atol, "\(label) input \(k) \(t.shape)", sourceLocation: sourceLocation)
    }
}

/// `Σ y ⊙ w` for a fixed `w`: turns any output into a scalar loss that weighs every element differently.
func weightedSum(_ y: Tensor, seed: UInt64) -> Tensor {
    (y * Tensor(shape: y.shape, scalars: testValues(y.count, seed: seed))).sum()
}
