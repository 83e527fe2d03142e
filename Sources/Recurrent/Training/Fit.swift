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

/// The most updates one ``fit(_:input:target:h0:c0:configuration:progress:)`` takes (10⁹).
public let maxFitUpdates = 1_000_000_000

/// Trains `model` on one data set and returns the loss of every update.
///
/// - Parameters:
///   - input: the model's input (`[T, B, I]`, `[B, T, I]` when batch-first, or `[T, I]`; token
///     indices `[T, B]`, `[B, T]` or `[T]` for a model with token input).
///   - target: for MSE the shape of the prediction (or output without a head); for cross-entropy
///     that shape without its last axis, holding class indices. Its batch axis must have the input's size.
///   - h0, c0: initial states, sliced along the batch axis with the data.
///   - progress: called with (0, total updates, NaN) before the first update, then after each
///     update with (update, total updates, loss).
/// - Throws: ``RecurrentError`` for shapes that do not fit (the target's, `h0`'s or `c0`'s batch
///   against the input's, checked before the first update in every mode), a setting out of range
///   (more than ``maxFitUpdates`` updates), a loss that is not finite, or an update after which a
///   parameter is not finite (naming the update and the parameter). The model's parameters are
///   then left as that update made them: do not save them.
public func fit(
    _ model: RecurrentModel, input: Tensor, target: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil,
    configuration c: FitConfiguration, progress: (Int, Int, Float) -> Void = { _, _, _ in }
) throws -> [Float] {
    let params = model.parameters
    var optimizer = try makeOptimizer(c.optimizer, parameters: params, learningRate: c.learningRate,
                                      momentum: c.optimizer == .sgd ? c.momentum : 0, weightDecay: c.weightDecay)
    if let maxNorm = c.clipGradNorm, !(maxNorm.isFinite && maxNorm > 0) {
        throw RecurrentError.invalidValue("gradient clipping norm must be positive and finite, got \(maxNorm)")
    }
    for (name, value) in [("steps", c.steps), ("epochs", c.epochs), ("batch size", c.batchSize)] {
        if let value, value <= 0 { throw RecurrentError.invalidValue("\(name) must be positive, got \(value)") }
    }
    let axes = try fitBatchAxes(model, input: input, target: target, h0: h0, c0: c0)
    let batch = axes.data.map { input.shape[$0] } ?? 1
    if let lengths, lengths.count != batch {
        throw RecurrentError.invalidValue("fit: expected \(batch) lengths, one per sequence in the batch, got \(lengths.count)")
    }

    // The update schedule: `total` updates, each of a batch-index set (nil: the whole batch).
    let miniBatch = c.batchSize.flatMap { axes.data == nil ? nil : min($0, batch) }
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
        func pick(_ t: Tensor?, axis: Int?) -> Tensor? {
            guard let t, let rows, let axis else { return t }
            return t.selecting(rows, alongAxis: axis)
        }
        let x = pick(input, axis: axes.data)!
        var y = pick(target, axis: axes.target)!
        let stepLengths = lengths.map { all in rows.map { $0.map { all[$0] } } ?? all }
        optimizer.zeroGrad()
        let r = try model(x, h0: pick(h0, axis: 1), c0: pick(c0, axis: 1), lengths: stepLengths)
        var prediction = r.prediction ?? r.output
        // Unequal lengths, a prediction at every step: the loss reads the steps each sequence has.
        if let stepLengths, model.architecture.headPlacement == .everyStep || model.head == nil {
            (prediction, y) = validSteps(prediction, y, lengths: stepLengths, batchFirst: model.architecture.batchFirst)
        }
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
                // Compared as floats first: Int(v) traps for a value beyond Int's range (3e38).
                guard v.isFinite, v == v.rounded(), v >= 0, v < Float(classes) else {
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
        let named = model.namedParameters
        try checkFinite(named.map(\.tensor), name: { named[$0].name }, after: "update \(step + 1)")
        progress(step + 1, total, loss.item)
    }
    return losses
}

/// The rows of `prediction` `[T, B, …]` (`[B, T, …]` batch-first) and of `target` (its shape, or
/// without the class axis) at the steps each sequence has, `t < lengths[b]`, as `[N, …]` and `[N, …]`.
func validSteps(_ prediction: Tensor, _ target: Tensor, lengths: [Int], batchFirst: Bool) -> (Tensor, Tensor) {
    guard prediction.rank == 3 else { return (prediction, target) }
    let (T, B) = batchFirst ? (prediction.shape[1], prediction.shape[0]) : (prediction.shape[0], prediction.shape[1])
    let rows = (0..<T).flatMap { t in (0..<B).filter { t < lengths[$0] }.map { b in batchFirst ? b * T + t : t * B + b } }
    let features = prediction.shape[2], targetFeatures = target.count / (T * B)
    guard target.count == T * B * targetFeatures else { return (prediction, target) }
    return (embedding(rows, shape: [rows.count], weight: prediction.reshaped([T * B, features])),
            embedding(rows, shape: [rows.count], weight: target.reshaped([T * B, targetFeatures]))
                .reshaped(target.rank == 3 ? [rows.count, targetFeatures] : [rows.count]))
}

/// The batch axes of `input` and `target` (nil for unbatched data), after checking that the
/// target's, `h0`'s and `c0`'s batch sizes equal the input's: mini-batches select the same rows
/// of each, so a mismatch must be caught before the first update, not by the shape checks of
/// one mini-batch (which it may pass).
func fitBatchAxes(_ model: RecurrentModel, input: Tensor, target: Tensor, h0: Tensor?, c0: Tensor?) throws
    -> (data: Int?, target: Int?)
{
    let a = model.architecture
    let batchedRank = a.tokenCount == nil ? 3 : 2
    guard input.rank == batchedRank || input.rank == batchedRank - 1 else {
        throw RecurrentError.shapeMismatch("fit: the input must have rank \(batchedRank) (or \(batchedRank - 1) unbatched), got shape \(input.shape)")
    }
    guard input.rank == batchedRank else { return (nil, nil) }
    let dataAxis = a.batchFirst ? 0 : 1
    let batch = input.shape[dataAxis]
    guard batch > 0, input.shape[1 - dataAxis] > 0 else {
        throw RecurrentError.shapeMismatch("fit: the input \(input.shape) holds no steps or no sequences")
    }
    // A head on the last step predicts [B, out]: the batch is the target's first axis.
    let targetAxis = a.headPrefix != nil && a.headPlacement == .lastStep ? 0 : dataAxis
    guard target.rank > targetAxis, target.shape[targetAxis] == batch else {
        throw RecurrentError.shapeMismatch("fit: the target \(target.shape) must have the input's batch of \(batch) along axis \(targetAxis)")
    }
    for (name, state) in [("h0", h0), ("c0", c0)] {
        if let state, state.rank != 3 || state.shape[1] != batch {
            throw RecurrentError.shapeMismatch("fit: \(name) \(state.shape) must be [D·L, \(batch), H], with the input's batch of \(batch)")
        }
    }
    return (dataAxis, targetAxis)
}

/// Throws when a parameter holds a NaN or an infinity, naming `update`, the parameter and the index.
func checkFinite(_ parameters: [Tensor], name: (Int) -> String, after update: String) throws {
    for (k, tensor) in parameters.enumerated() where !allFinite(tensor.scalars) {
        let bad = tensor.scalars.firstIndex { !$0.isFinite }!
        throw RecurrentError.invalidValue("\(update) made parameter '\(name(k))' non-finite (\(tensor.scalars[bad]) at flat index \(bad)); lower the learning rate or check the settings")
    }
}

/// Whether every value is finite: `x · 0` is 0 for a finite `x` and NaN otherwise, summed in eight
/// lanes (one vectorised pass, run after every update).
func allFinite(_ values: [Float]) -> Bool {
    values.withUnsafeBufferPointer { v in
        var lanes = SIMD8<Float>(), tail: Float = 0
        let whole = v.count & ~7
        for i in stride(from: 0, to: whole, by: 8) { lanes += SIMD8<Float>(v[i..<(i + 8)]) * 0 }
        for i in whole..<v.count { tail += v[i] * 0 }
        return lanes.sum() + tail == 0
    }
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
