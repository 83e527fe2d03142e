import Foundation

/// How a loss combines its per-element values (PyTorch's `reduction=`).
public enum LossReduction: String, Sendable, CaseIterable {
    /// The mean over the elements that count (the default).
    case mean
    /// The sum.
    case sum
    /// No reduction: one value per element (per row for cross-entropy).
    case none
}

/// Cross-entropy between logits and class indices
/// (`torch.nn.functional.cross_entropy(logits, targets, reduction=…, ignore_index=…)`).
///
/// - Parameters:
///   - logits: `[N, C]` unnormalised scores (or `[C]` for one sample).
///   - targets: `N` class indices in `0..<C`, or `ignoreIndex`.
///   - reduction: `.mean` (default): `-(1/N') Σ_r log softmax(logits_r)[target_r]` over the `N'`
///     rows whose target is not ignored (NaN when every row is ignored, as in PyTorch); `.sum`:
///     the sum over those rows; `.none`: `[N]`, 0 for an ignored row.
///   - ignoreIndex: a target value whose rows add nothing (PyTorch's default is -100: pass it to
///     get PyTorch's behaviour for padding tokens); nil: every target must be a class.
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` when `targets.count` is not `N`, or
///   ``RecurrentError/invalidValue(_:)`` for a target outside `0..<C` that is not `ignoreIndex`.
public func crossEntropy(logits: Tensor, targets: [Int], reduction: LossReduction = .mean, ignoreIndex: Int? = nil) throws -> Tensor {
    guard logits.rank == 1 || logits.rank == 2 else {
        throw RecurrentError.shapeMismatch("crossEntropy: logits must be [N, C] or [C], got \(logits.shape)")
    }
    let c = logits.shape.last!
    let n = logits.rank == 2 ? logits.shape[0] : 1
    guard targets.count == n else {
        throw RecurrentError.shapeMismatch("crossEntropy: \(targets.count) targets for logits \(logits.shape) (expected \(n))")
    }
    if let bad = targets.first(where: { ($0 < 0 || $0 >= c) && $0 != ignoreIndex }) {
        throw RecurrentError.invalidValue("crossEntropy: target \(bad) outside 0..<\(c)")
    }
    let counted = targets.filter { $0 != ignoreIndex }.count
    // Each row's share of the result: 1/N' (mean), 1 (sum, none), 0 when ignored.
    let share: Float = reduction == .mean ? 1 / Float(counted) : 1
    let rowScale = targets.map { $0 == ignoreIndex ? 0 : share }
    // One pass per row: e = exp(x - max), p = e / Σe, and -log p[t] = log Σe - (x[t] - max).
    var probabilities = [Float](repeating: 0, count: n * c), rowLoss = [Float](repeating: 0, count: n)
    logits.scalars.withUnsafeBufferPointer { x in
        probabilities.withUnsafeMutableBufferPointer { p in
            for r in 0..<n {
                let base = r * c
                var m = -Float.infinity
                for j in 0..<c { m = max(m, x[base + j]) }
                var sum: Float = 0
                for j in 0..<c {
                    let e = Foundation.exp(x[base + j] - m)
                    p[base + j] = e
                    sum += e
                }
                for j in 0..<c { p[base + j] /= sum }
                let t = targets[r]
                if t != ignoreIndex { rowLoss[r] = Foundation.log(sum) - (x[base + t] - m) }
            }
        }
    }
    let op = Op.crossEntropy(probabilities: probabilities, targets: targets, rowScale: rowScale, perRow: reduction == .none)
    if reduction == .none {
        let shape = logits.rank == 2 ? [n] : []
        return Tensor(shape: shape, scalars: rowLoss, node: Node.make(op, inputs: [logits], outputShapes: [shape]))
    }
    var loss: Float = 0
    for r in 0..<n where rowScale[r] != 0 { loss += rowLoss[r] }
    loss = reduction == .mean ? loss / Float(counted) : loss   // 0/0 = NaN when every row is ignored, as PyTorch
    return Tensor(shape: [], scalars: [loss], node: Node.make(op, inputs: [logits], outputShapes: [[]]))
}

// loss = Σ_r s_r · (-log p_r[t_r])       dlogits_r = g_r s_r (p_r - onehot(t_r))
// with s_r the row's share (1/N', 1 or 0) and g_r the output's gradient (one value, or one per row).
func crossEntropyBackward(_ g: [Float], _ p: [Float], _ targets: [Int], rowScale: [Float], perRow: Bool) -> [Float] {
    let n = targets.count, c = p.count / max(n, 1)
    var d = [Float](repeating: 0, count: p.count)
    for (r, t) in targets.enumerated() where rowScale[r] != 0 {
        let scale = (perRow ? g[r] : g[0]) * rowScale[r]
        for j in 0..<c { d[r * c + j] = p[r * c + j] * scale }
        d[r * c + t] -= scale
    }
    return d
}

/// Squared error, `(prediction - target)²` reduced by `reduction`: its mean (the default), its sum,
/// or the elements themselves (`torch.nn.functional.mse_loss(…, reduction=…)`).
///
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` unless both have the same shape.
public func mseLoss(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean) throws -> Tensor {
    guard prediction.shape == target.shape else {
        throw RecurrentError.shapeMismatch("mseLoss: prediction \(prediction.shape) and target \(target.shape) differ")
    }
    let squared = (prediction - target).squared()
    switch reduction {
    case .mean: return squared.mean()
    case .sum: return squared.sum()
    case .none: return squared
    }
}
