/// Trains a convolutional recurrent model on one data set (what `recurrent fit` does for a
/// ``ConvRecurrentModel``) and returns the loss of every update.
///
/// The loss is the mean squared error between the layer's `output` `[T, B, Cₕ, H, W]` (laid out
/// like the input) and `target` of the same shape: sequence-to-sequence regression of frames, as
/// a Keras `ConvLSTM2D(return_sequences=True)` compiled with `loss="mse"` trains. The schedule is
/// ``fit(_:input:target:h0:c0:lengths:configuration:progress:)``'s: `steps` full-batch updates
/// without shuffling, or `epochs` of shuffled mini-batches of `batchSize` sequences.
///
/// - Parameters:
///   - input: `[T, B, Cᵢ, H, W]` (`[B, T, …]` when batch-first).
///   - target: the output's shape.
///   - h0, c0: initial states `[L, B, Cₕ, H, W]` (or `[B, Cₕ, H, W]` for one layer), sliced along
///     the batch with the data.
/// - Throws: ``RecurrentError`` for a cross-entropy loss (the output is not logits of classes),
///   shapes that do not fit (checked before the first update), a setting out of range, a loss
///   that is not finite, or an update after which a parameter is not finite (naming it).
public func fit(
    _ model: ConvRecurrentModel, input: Tensor, target: Tensor, h0: Tensor? = nil, c0: Tensor? = nil,
    configuration c: FitConfiguration, progress: (Int, Int, Float) -> Void = { _, _, _ in }
) throws -> [Float] {
    guard c.loss == .mse else {
        throw RecurrentError.invalidValue("fit: a \(model.architecture.kind.displayName) is trained with mse (its output is frames, not class logits)")
    }
    let params = model.parameters
    var optimizer = try makeOptimizer(c.optimizer, parameters: params, learningRate: c.learningRate,
                                      momentum: c.optimizer == .sgd ? c.momentum : 0, weightDecay: c.weightDecay)
    if let maxNorm = c.clipGradNorm, !(maxNorm.isFinite && maxNorm > 0) {
        throw RecurrentError.invalidValue("gradient clipping norm must be positive and finite, got \(maxNorm)")
    }
    for (name, value) in [("steps", c.steps), ("epochs", c.epochs), ("batch size", c.batchSize)] {
        if let value, value <= 0 { throw RecurrentError.invalidValue("\(name) must be positive, got \(value)") }
    }
    // One forward pass without gradients checks every shape (input, states, target) before any update.
    let a = model.architecture, batchAxis = a.batchFirst ? 0 : 1
    guard input.rank == 5, input.shape[batchAxis] > 0 else {
        throw RecurrentError.shapeMismatch("fit: the input must be [T, B, C, H, W]\(a.batchFirst ? " (batch-first [B, T, C, H, W])" : "") with B ≥ 1, got \(input.shape)")
    }
    let batch = input.shape[batchAxis]
    let probe = try withoutGradients {
        try model(input.narrowed(axis: batchAxis, start: 0, length: 1), h0: h0.map { stateRows($0, [0], layers: a.numLayers) },
                  c0: c0.map { stateRows($0, [0], layers: a.numLayers) })
    }
    var expected = probe.output.shape
    expected[batchAxis] = batch
    guard target.shape == expected else {
        throw RecurrentError.shapeMismatch("fit: the target must have the output's shape \(expected), got \(target.shape)")
    }
    for (name, state) in [("h0", h0), ("c0", c0)] {
        if let state, state.shape.count < 4 || state.shape[state.rank - 4] != batch {
            throw RecurrentError.shapeMismatch("fit: \(name) \(state.shape) must have the input's batch of \(batch)")
        }
    }

    let miniBatch = c.batchSize.map { min($0, batch) }
    let total: Int
    if let size = miniBatch, c.steps == nil {
        let (updates, overflow) = (c.epochs ?? 1).multipliedReportingOverflow(by: (batch + size - 1) / size)
        total = overflow ? Int.max : updates
    } else {
        total = c.steps ?? c.epochs ?? 1
    }
    guard total <= maxFitUpdates else {
        throw RecurrentError.invalidValue("\(total == Int.max ? "more than \(Int.max)" : "\(total)") updates is too many: the limit is \(maxFitUpdates)")
    }
    var generator = SeededGenerator(seed: c.seed)
    var epochBatches: [[Int]] = []
    model.train()
    defer { model.eval() }
    var losses: [Float] = []
    progress(0, total, .nan)
    for step in 0..<total {
        var rows: [Int]?
        if let size = miniBatch {
            if epochBatches.isEmpty {
                let order = Array(0..<batch).shuffled(using: &generator)
                epochBatches = stride(from: 0, to: batch, by: size).map { Array(order[$0..<min($0 + size, batch)]) }.reversed()
            }
            rows = epochBatches.removeLast()
        }
        let x = rows.map { input.selecting($0, alongAxis: batchAxis) } ?? input
        let y = rows.map { target.selecting($0, alongAxis: batchAxis) } ?? target
        optimizer.zeroGrad()
        let r = try model(x, h0: h0.map { s in rows.map { stateRows(s, $0, layers: a.numLayers) } ?? s },
                          c0: c0.map { s in rows.map { stateRows(s, $0, layers: a.numLayers) } ?? s })
        let loss = try mseLoss(r.output, y)
        guard loss.item.isFinite else {
            throw RecurrentError.invalidValue("the loss is \(loss.item) at update \(step + 1); lower the learning rate or check the data")
        }
        losses.append(loss.item)
        loss.backward()
        if let maxNorm = c.clipGradNorm { try clipGradNorm(params, maxNorm: maxNorm) }
        optimizer.step()
        let named = model.namedParameters
        try checkFinite(named.map(\.tensor), name: { named[$0].name }, after: "update \(step + 1)")
        progress(step + 1, total, loss.item)
    }
    return losses
}

/// Rows `rows` of a state `[L, B, …]` (or `[B, …]` for one layer, rank 4): its batch axis is the
/// one before the last three.
private func stateRows(_ state: Tensor, _ rows: [Int], layers: Int) -> Tensor {
    guard state.rank >= 4 else { return state }  // the model's own check names the shape
    return state.selecting(rows, alongAxis: state.rank - 4)
}
