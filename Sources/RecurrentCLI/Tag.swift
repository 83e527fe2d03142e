import ArgumentParser
import Foundation
import Recurrent

/// `recurrent tag`: many-to-many sequence labelling with a bidirectional LSTM.
struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tag every token of a sentence (named entities, parts of speech, word boundaries) with a bidirectional LSTM.",
        subcommands: [TagTrain.self, TagLabel.self, TagSegment.self])
}

/// The sizes and training settings `tag train` and `tag segment` share.
struct TaggerOptions: ParsableArguments {
    @Option(name: [.customLong("hidden-size"), .customLong("hidden")], help: "Hidden size of the sentence BiLSTM, per direction.")
    var hiddenSize = 64
    @Option(help: "Stacked BiLSTM layers.") var layers = 1
    @Option(help: "Passes over the training sentences (default: 5 for train, 3 for segment).") var epochs: Int?
    @Option(help: "Sentences per update (batched by length).") var batchSize = 32
    @Option(name: .customLong("lr"), help: "Adam learning rate (default: 1e-3 for train, 5e-3 for segment).") var learningRate: Float?
    @Option(help: "Clip the gradient norm to this before each update (0: no clipping).") var clipGradNorm: Float = 5
    @Option(help: "Dropout on the BiLSTM's input and output while training.") var dropout: Float = 0

    func validate() throws {
        for (name, value, limit) in [("--hidden-size", hiddenSize, 1 << 14), ("--layers", layers, 64), ("--epochs", epochs ?? 1, 100_000),
                                     ("--batch-size", batchSize, 1 << 16)] {
            guard (1...limit).contains(value) else { throw ValidationError("\(name) must be between 1 and \(limit), got \(value)") }
        }
        if let learningRate { try checkFloat("--lr", learningRate, positive: true) }
        try checkFloat("--clip-grad-norm", clipGradNorm, positive: false)
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must be at least 0 and below 1, got \(dropout)") }
    }

    /// What one training run gives: the loop's record, the held-out loss and accuracy of each
    /// epoch, the last epoch's held-out predictions and the training rate.
    struct Result {
        var history: TrainingHistory
        var heldOut: [(loss: Float, accuracy: Double)]
        var predicted: [[String]]
        var seconds: Double
        var tokensPerSecond: Double
    }

    /// Trains `tagger` with the shared ``TrainingLoop``, one length batch per "sample" (drawn anew
    /// for every epoch), printing one line per epoch and scoring `heldOut` after each; `defaults`
    /// are the command's epochs and learning rate when the options do not give them.
    func train(_ tagger: SequenceTagger, on training: [TaggedSentence], heldOut: [TaggedSentence]?, heldOutName: String,
               seed: UInt64, label: String, defaults: (epochs: Int, learningRate: Float)) throws -> Result {
        var options = TrainingOptions()
        (options.epochs, options.learningRate) = (epochs ?? defaults.epochs, learningRate ?? defaults.learningRate)
        (options.seed, options.batchSize, options.shuffle) = (seed, 1, false)
        options.clipGradNorm = clipGradNorm > 0 ? clipGradNorm : nil
        var generator = SeededGenerator(seed: seed)
        let lengths = training.map(\.tokens.count)
        var batches = lengthBatches(lengths: lengths, batchSize: batchSize, using: &generator)
        var loop = try TrainingLoop(model: tagger, options: options)
        var progress = EpochProgress(label: label, unit: "tokens") { step in batches[step - 1].reduce(0) { $0 + lengths[$1] } }
        var scored: [(loss: Float, accuracy: Double)] = [], predicted: [[String]] = []
        let validation: (() throws -> Float)? = heldOut.map { sentences in {
            let (loss, p) = try tagger.evaluate(sentences)
            predicted = p
            scored.append((loss, TagScores(predicted: p, gold: sentences.map(\.tags)).accuracy))
            return loss
        } }
        let history = try loop.run(sampleCount: batches.count, loss: { batch in
            try tagger.loss(batches[batch[0]].map { training[$0] })
        }, validationLoss: validation, onStep: { epoch, step, steps, loss in
            progress.step(epoch: epoch, step: step, steps: steps, loss: loss)
        }, onEpoch: { e in
            var line = String(format: "epoch %d: train loss %.4f", e.epoch, e.trainingLoss)
            if let (loss, accuracy) = scored.last { line += String(format: ", %@ loss %.4f, %@ accuracy %.4f", heldOutName, loss, heldOutName, accuracy) }
            print(line + String(format: ", %.1f s", e.seconds))
            batches = lengthBatches(lengths: lengths, batchSize: batchSize, using: &generator)
        })
        let seconds = history.epochs.map { $0.seconds }.reduce(0, +)
        return Result(history: history, heldOut: scored, predicted: predicted, seconds: seconds,
                      tokensPerSecond: Double(lengths.reduce(0, +) * history.epochs.count) / max(seconds, 1e-9))
    }
}

/// Prints the token accuracy, the span scores when the tags are of the B/I/O kind, and a table of
/// each tag's precision, recall, F1 and support; returns them for the JSON summary.
func reportScores(predicted: [[String]], gold: [[String]], on what: String) -> [String: Any] {
    let scores = TagScores(predicted: predicted, gold: gold), spans = SpanScores(predicted: predicted, gold: gold)
    print(String(format: "%@: token accuracy %.4f (%d of %d tokens)", what, scores.accuracy, scores.correct, scores.tokens))
    if let spans {
        print(String(format: "%@: span precision %.4f, recall %.4f, F1 %.4f (%d gold spans, %d predicted)", what, spans.precision,
                     spans.recall, spans.f1, spans.gold, spans.predicted))
    }
    let width = max(9, scores.tags.map { $0.tag.count }.max() ?? 0)
    func padded(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
    print(padded("tag") + "  precision  recall      f1  support")
    for t in scores.tags {
        print(padded(escaped(t.tag)) + String(format: "  %9.4f  %6.4f  %6.4f  %7d", t.precision, t.recall, t.f1, t.support))
    }
    print(padded("macro avg") + String(format: "  %9.4f  %6.4f  %6.4f  %7d", scores.tags.map(\.precision).mean, scores.tags.map(\.recall).mean,
                                       scores.macroF1, scores.tokens))
    var json: [String: Any] = [
        "accuracy": scores.accuracy, "macro_f1": scores.macroF1,
        "tags": Dictionary(uniqueKeysWithValues: scores.tags.map { ($0.tag, ["precision": $0.precision, "recall": $0.recall, "f1": $0.f1, "support": $0.support] as [String: Any]) }),
    ]
    if let spans { json["span_f1"] = spans.f1; json["span_precision"] = spans.precision; json["span_recall"] = spans.recall }
    return json
}

extension Array where Element == Double {
    /// The mean (0 when empty).
    var mean: Double { isEmpty ? 0 : reduce(0, +) / Double(count) }
}
