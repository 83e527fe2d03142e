import Foundation

/// Cross-entropy between logits and class indices, averaged over rows
/// (`torch.nn.functional.cross_entropy(logits, targets)` with `reduction='mean'`).
///
/// - Parameters:
///   - logits: `[N, C]` unnormalised scores (or `[C]` for one sample).
///   - targets: `N` class indices in `0..<C`.
/// - Returns: a scalar: `-(1/N) Σ_r log softmax(logits_r)[target_r]`.
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` when `targets.count` is not `N`, or
///   ``RecurrentError/invalidValue(_:)`` for a target outside `0..<C`.
public func crossEntropy(logits: Tensor, targets: [Int]) throws -> Tensor {
    guard logits.rank == 1 || logits.rank == 2 else {
        throw RecurrentError.shapeMismatch("crossEntropy: logits must be [N, C] or [C], got \(logits.shape)")
    }
    let c = logits.shape.last!
    let n = logits.rank == 2 ? logits.shape[0] : 1
    guard targets.count == n else {
        throw RecurrentError.shapeMismatch("crossEntropy: \(targets.count) targets for logits \(logits.shape) (expected \(n))")
    }
    if let bad = targets.first(where: { $0 < 0 || $0 >= c }) {
        throw RecurrentError.invalidValue("crossEntropy: target \(bad) outside 0..<\(c)")
    }
    let logp = softmaxRows(logits.scalars, lastDim: c, log: true)
    var loss: Float = 0
    for (r, t) in targets.enumerated() { loss -= logp[r * c + t] }
    loss /= Float(max(n, 1))
    let probabilities = logp.map { Foundation.exp($0) }
    let node = Node.make(.crossEntropy(probabilities: probabilities, targets: targets), inputs: [logits], outputShapes: [[]])
    return Tensor(shape: [], scalars: [loss], node: node)
}

// loss = -(1/N) Σ_r log p_r[t_r]       dlogits_r = g (p_r - onehot(t_r)) / N
func crossEntropyBackward(_ g: Float, _ p: [Float], _ targets: [Int]) -> [Float] {
    let n = targets.count, c = p.count / max(n, 1)
    var d = p.map { $0 * g / Float(n) }
    for (r, t) in targets.enumerated() { d[r * c + t] -= g / Float(n) }
    return d
}

/// Mean squared error, `mean((prediction - target)²)` (`torch.nn.functional.mse_loss`).
///
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` unless both have the same shape.
public func mseLoss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
    guard prediction.shape == target.shape else {
        throw RecurrentError.shapeMismatch("mseLoss: prediction \(prediction.shape) and target \(target.shape) differ")
    }
    return (prediction - target).squared().mean()
}
