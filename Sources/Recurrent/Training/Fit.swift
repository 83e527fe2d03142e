/// How ``fit(_:input:target:h0:c0:configuration:progress:)`` trains a ``RecurrentModel``.
public struct FitConfiguration: Sendable {
    /// The training loss.
    public enum Loss: String, Sendable, CaseIterable {
        /// Mean squared error between the prediction (or output) and a target of the same shape.
        case mse
        /// Cross-entropy between logits `[…, C]` and class indices `[…]` (stored as floats).
        case crossEntropy = "cross-entropy"
    }
    /// The optimizer: ``SGD``, ``Adam``, or AdamW (``Adam/adamW(parameters:learningRate:betas:epsilon:weightDecay:)``).
    public enum OptimizerKind: String, Sendable, CaseIterable { case sgd, adam, adamw }

    /// The loss (default MSE).
    public var loss: Loss = .mse
    /// The optimizer (default Adam).
    public var optimizer: OptimizerKind = .adam
    /// The learning rate (default 1e-3).
    public var learningRate: Float = 1e-3
    /// SGD only.
    public var momentum: Float = 0
    /// Nil: the optimizer's default (0 for SGD and Adam, 0.01 for AdamW).
    public var weightDecay: Float?
    /// Number of updates; without `batchSize`, each is a full-batch step with no shuffling.
    public var steps: Int?
    /// Passes over the data in shuffled mini-batches of `batchSize`.
    public var epochs: Int?
    /// Sequences per mini-batch.
    public var batchSize: Int?
    /// `clipGradNorm` before each update, when set.
    public var clipGradNorm: Float?
    /// Seed for shuffling.
    public var seed: UInt64 = 0

    /// A configuration with PyTorch-like defaults (Adam, lr 1e-3, MSE).
    public init() {}
}

/// Trains `model` on one data set and returns the loss of every update.
///
/// - Parameters:
///   - input: the model's input (`[T, B, I]`, `[B, T, I]` when batch-first, or `[T, I]`).
///   - target: for MSE the shape of the prediction (or output without a head); for cross-entropy
///     that shape without its last axis, holding class indices.
///   - h0, c0: initial states, sliced along the batch axis with the data.
///   - progress: called with (0, total updates, NaN) before the first update, then after each
///     update with (update, total updates, loss).
/// - Throws: ``RecurrentError`` for shapes that do not fit or a loss that is not finite.
public func fit(
    _ model: RecurrentModel, input: Tensor, target: Tensor, h0: Tensor? = nil, c0: Tensor? = nil,
    configuration c: FitConfiguration, progress: (Int, Int, Float) -> Void = { _, _, _ in }
) throws -> [Float] {
    model.train()
    defer { model.eval() }
    let params = model.parameters
    var optimizer = try makeOptimizer(c.optimizer, parameters: params, learningRate: c.learningRate,
                                      momentum: c.optimizer == .sgd ? c.momentum : 0, weightDecay: c.weightDecay)
    if let maxNorm = c.clipGradNorm, !(maxNorm.isFinite && maxNorm > 0) {
        throw RecurrentError.invalidValue("gradient clipping norm must be positive and finite, got \(maxNorm)")
    }
    let unbatched = input.rank == 2
    let batchFirst = model.architecture.batchFirst
    let dataAxis = unbatched ? nil : (batchFirst ? 0 : 1)     // the batch axis of input, output and target
    let batch = dataAxis.map { input.shape[$0] } ?? 1

    // The update schedule: a list of batch-index sets.
    var schedule: [[Int]?] = []
    if let size = c.batchSize, dataAxis != nil {
        guard size > 0 else { throw RecurrentError.invalidValue("batch size must be positive, got \(size)") }
        var generator = SeededGenerator(seed: c.seed)
        let total = c.steps ?? ((c.epochs ?? 1) * ((batch + size - 1) / size))
        while schedule.count < total {
            let order = Array(0..<batch).shuffled(using: &generator)
            for start in stride(from: 0, to: batch, by: size) where schedule.count < total {
                schedule.append(Array(order[start..<min(start + size, batch)]))
            }
        }
    } else {
        schedule = Array(repeating: nil, count: c.steps ?? c.epochs ?? 1)
    }

    var losses: [Float] = []
    progress(0, schedule.count, .nan)
    for (step, rows) in schedule.enumerated() {
        func pick(_ t: Tensor?, axis: Int?) -> Tensor? {
            guard let t, let rows, let axis else { return t }
            return t.selecting(rows, alongAxis: axis)
        }
        let x = pick(input, axis: dataAxis)!, y = pick(target, axis: dataAxis)!
        optimizer.zeroGrad()
        let r = try model(x, h0: pick(h0, axis: 1), c0: pick(c0, axis: 1))
        let prediction = r.prediction ?? r.output
        let loss: Tensor
        switch c.loss {
        case .mse:
            loss = try mseLoss(prediction, y)
        case .crossEntropy:
            let classes = prediction.shape.last!
            guard y.shape == Array(prediction.shape.dropLast()) else {
                throw RecurrentError.shapeMismatch("cross-entropy target must have shape \(Array(prediction.shape.dropLast())) (the prediction \(prediction.shape) without its class axis), got \(y.shape)")
            }
            let targets = try y.scalars.map { v -> Int in
                guard v.isFinite, v == v.rounded(), v >= 0, Int(v) < classes else {
                    throw RecurrentError.invalidValue("cross-entropy target \(v) is not a class index in 0..<\(classes)")
                }
                return Int(v)
            }
            loss = try crossEntropy(logits: prediction.reshaped([-1, classes]), targets: targets)
        }
        guard loss.item.isFinite else {
            throw RecurrentError.invalidValue("the loss is \(loss.item) at update \(step + 1); lower the learning rate or check the data")
        }
        losses.append(loss.item)
        loss.backward()
        if let maxNorm = c.clipGradNorm { try clipGradNorm(params, maxNorm: maxNorm) }
        optimizer.step()
        progress(step + 1, schedule.count, loss.item)
    }
    return losses
}

extension Tensor {
    /// The entries at `indices` along `axis`, in that order (`x.index_select(axis, indices)`);
    /// a data copy without gradient tracking.
    public func selecting(_ indices: [Int], alongAxis axis: Int) -> Tensor {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var out = [Float]()
        out.reserveCapacity(outer * indices.count * inner)
        for o in 0..<outer {
            for i in indices {
                let start = (o * shape[axis] + i) * inner
                out.append(contentsOf: scalars[start..<(start + inner)])
            }
        }
        var s = shape
        s[axis] = indices.count
        return Tensor(shape: s, scalars: out)
    }
}
