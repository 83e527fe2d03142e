import Foundation

/// The settings of a ``TrainingLoop``: PyTorch's usual loop of epochs over shuffled mini-batches,
/// with validation after each epoch and optional early stopping.
public struct TrainingOptions: Sendable {
    /// Passes over the training data (default 1).
    public var epochs = 1
    /// Samples per mini-batch (default 32); the last batch of an epoch may be smaller, as with
    /// PyTorch's `DataLoader(drop_last=False)`.
    public var batchSize = 32
    /// The optimizer (default Adam).
    public var optimizer: FitConfiguration.OptimizerKind = .adam
    /// The learning rate (default 1e-3).
    public var learningRate: Float = 1e-3
    /// SGD momentum (default 0).
    public var momentum: Float = 0
    /// Nil: the optimizer's default (0 for SGD and Adam, 0.01 for AdamW).
    public var weightDecay: Float?
    /// `clipGradNorm` before each update, when set.
    public var clipGradNorm: Float?
    /// Whether each epoch visits the samples in a new random order (default true).
    public var shuffle = true
    /// Seed of the shuffling order.
    public var seed: UInt64 = 0
    /// Early stopping: stop after this many epochs without a lower validation loss, and restore
    /// the parameters of the best epoch (Keras' `EarlyStopping(patience, restore_best_weights=True)`).
    /// Nil: run every epoch and keep the last parameters.
    public var patience: Int?

    /// The defaults above.
    public init() {}

    /// Checks every value before training starts.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the setting.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw RecurrentError.invalidValue(message) } }
        try check(epochs > 0, "epochs must be positive, got \(epochs)")
        try check(batchSize > 0, "batch size must be positive, got \(batchSize)")
        try check(learningRate.isFinite && learningRate > 0, "learning rate must be positive and finite, got \(learningRate)")
        try check(momentum.isFinite && momentum >= 0, "momentum must be non-negative and finite, got \(momentum)")
        if let w = weightDecay { try check(w.isFinite && w >= 0, "weight decay must be non-negative and finite, got \(w)") }
        if let c = clipGradNorm { try check(c.isFinite && c > 0, "gradient clipping norm must be positive and finite, got \(c)") }
        if let p = patience { try check(p > 0, "patience must be positive, got \(p)") }
    }
}

/// What happened in one epoch.
public struct EpochSummary: Sendable, Equatable {
    /// 1-based.
    public var epoch: Int
    /// The mean of the epoch's mini-batch losses (each weighted by its batch size).
    public var trainingLoss: Float
    /// The validation loss after the epoch, when there is validation.
    public var validationLoss: Float?
    /// Wall-clock seconds for the epoch's updates (without validation and the step callbacks).
    public var seconds: Double
}

/// The record of a ``TrainingLoop/run(sampleCount:loss:validationLoss:onStep:onEpoch:)``.
public struct TrainingHistory: Sendable {
    /// One summary per epoch run.
    public var epochs: [EpochSummary] = []
    /// The loss of every update, in order.
    public var stepLosses: [Float] = []
    /// The epoch whose parameters the model holds at the end (the best one with early stopping).
    public var bestEpoch: Int?
    /// Whether early stopping ended the run before the last epoch.
    public var stoppedEarly = false
}

/// A mini-batch training loop over any model: it draws the batches, calls a closure for each
/// batch's loss, and does the backward pass, clipping and the update.
///
/// ```swift
/// var loop = try TrainingLoop(model: model, options: options)
/// let history = try loop.run(sampleCount: labels.count) { batch in      // batch: sample indices
///     try crossEntropy(logits: model(images(batch)).prediction!, targets: batch.map { labels[$0] })
/// }
/// ```
public struct TrainingLoop {
    /// The settings.
    public let options: TrainingOptions
    /// The parameters being trained.
    public let parameters: [Tensor]
    /// The parameters' names for messages (`#0`, `#1`, … when created from bare tensors).
    private let names: [String]
    private var optimizer: any Optimizer
    private var generator: SeededGenerator

    /// Creates the loop and its optimizer for `model`'s parameters (named in error messages).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for a setting out of range.
    public init(model: some Module, options: TrainingOptions) throws {
        let named = model.namedParameters
        try self.init(parameters: named.map(\.tensor), names: named.map(\.name), options: options)
    }

    /// Creates the loop and its optimizer.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for a setting out of range.
    public init(parameters: [Tensor], options: TrainingOptions) throws {
        try self.init(parameters: parameters, names: parameters.indices.map { "#\($0)" }, options: options)
    }

    private init(parameters: [Tensor], names: [String], options: TrainingOptions) throws {
        try options.validate()
        self.options = options
        self.parameters = parameters
        self.names = names
        optimizer = try makeOptimizer(options.optimizer, parameters: parameters, learningRate: options.learningRate,
                                      momentum: options.momentum, weightDecay: options.weightDecay)
        generator = SeededGenerator(seed: options.seed)
    }

    /// The mini-batches of one epoch: sample indices, shuffled when ``TrainingOptions/shuffle`` is set.
    public mutating func epochBatches(sampleCount: Int) -> [[Int]] {
        var order = Array(0..<sampleCount)
        if options.shuffle { order.shuffle(using: &generator) }
        return stride(from: 0, to: sampleCount, by: options.batchSize).map {
            Array(order[$0..<min($0 + options.batchSize, sampleCount)])
        }
    }

    /// Trains for ``TrainingOptions/epochs`` epochs (fewer with early stopping).
    ///
    /// - Parameters:
    ///   - sampleCount: how many training samples there are (indices `0..<sampleCount`).
    ///   - loss: the loss of one mini-batch, given its sample indices (the model in training mode).
    ///   - validationLoss: the loss on held-out data, called after each epoch (put the model in
    ///     evaluation mode inside if it has dropout); required for early stopping.
    ///   - onStep: after each update: (epoch, update within the epoch, updates per epoch, loss).
    ///   - onEpoch: after each epoch's validation; a checkpoint can be written here.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when a loss or, after an update, a parameter is
    ///   not finite (naming the epoch and update), or when early stopping is asked for without validation; whatever the closures throw.
    public mutating func run(
        sampleCount: Int, loss: ([Int]) throws -> Tensor, validationLoss: (() throws -> Float)? = nil,
        onStep: (_ epoch: Int, _ step: Int, _ steps: Int, _ loss: Float) throws -> Void = { _, _, _, _ in },
        onEpoch: (EpochSummary) throws -> Void = { _ in }
    ) throws -> TrainingHistory {
        guard sampleCount > 0 else { throw RecurrentError.invalidValue("there are no training samples") }
        guard options.patience == nil || validationLoss != nil else {
            throw RecurrentError.invalidValue("early stopping needs a validation loss")
        }
        var history = TrainingHistory()
        var best: (loss: Float, values: [[Float]])?
        var sinceBest = 0
        for epoch in 1...options.epochs {
            let batches = epochBatches(sampleCount: sampleCount)
            let start = Date()
            var total: Double = 0, callbackSeconds: Double = 0
            for (index, batch) in batches.enumerated() {
                optimizer.zeroGrad()
                let value = try loss(batch)
                let scalar = value.item
                guard scalar.isFinite else {
                    throw RecurrentError.invalidValue("the loss is \(scalar) at epoch \(epoch), update \(index + 1); lower the learning rate or check the data")
                }
                value.backward()
                if let maxNorm = options.clipGradNorm { _ = try clipGradNorm(parameters, maxNorm: maxNorm) }
                optimizer.step()
                try checkFinite(parameters, name: { names[$0] }, after: "epoch \(epoch), update \(index + 1)")
                total += Double(scalar) * Double(batch.count)
                history.stepLosses.append(scalar)
                let callbackStart = Date()
                try onStep(epoch, index + 1, batches.count, scalar)
                callbackSeconds += Date().timeIntervalSince(callbackStart)
            }
            var summary = EpochSummary(epoch: epoch, trainingLoss: Float(total / Double(sampleCount)), validationLoss: nil,
                                       seconds: Date().timeIntervalSince(start) - callbackSeconds)
            if let validationLoss {
                let v = try validationLoss()
                summary.validationLoss = v
                if best == nil || v < best!.loss {
                    best = (v, parameters.map(\.scalars))
                    history.bestEpoch = epoch
                    sinceBest = 0
                } else {
                    sinceBest += 1
                }
            } else {
                history.bestEpoch = epoch
            }
            history.epochs.append(summary)
            try onEpoch(summary)
            if let patience = options.patience, sinceBest >= patience, epoch < options.epochs {
                history.stoppedEarly = true
                break
            }
        }
        if options.patience != nil, let best, history.bestEpoch != history.epochs.last?.epoch {
            for (p, values) in zip(parameters, best.values) { p.scalars = values }
        } else {
            history.bestEpoch = history.epochs.last?.epoch
        }
        return history
    }
}

/// Makes the optimizer `kind` with validated settings (the PyTorch defaults for the rest).
/// - Throws: ``RecurrentError/invalidValue(_:)`` for a non-finite or out-of-range value.
public func makeOptimizer(_ kind: FitConfiguration.OptimizerKind, parameters: [Tensor], learningRate: Float,
                          momentum: Float = 0, weightDecay: Float? = nil) throws -> any Optimizer {
    guard learningRate.isFinite, learningRate > 0 else { throw RecurrentError.invalidValue("learning rate must be positive and finite, got \(learningRate)") }
    guard momentum.isFinite, momentum >= 0 else { throw RecurrentError.invalidValue("momentum must be non-negative and finite, got \(momentum)") }
    if let w = weightDecay, !(w.isFinite && w >= 0) { throw RecurrentError.invalidValue("weight decay must be non-negative and finite, got \(w)") }
    if momentum != 0 && kind != .sgd { throw RecurrentError.invalidValue("momentum applies to SGD only") }
    return switch kind {
    case .sgd: SGD(parameters: parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay ?? 0)
    case .adam: Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay ?? 0)
    case .adamw: Adam.adamW(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay ?? 0.01)
    }
}
