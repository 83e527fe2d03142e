import ArgumentParser
import Foundation
import Recurrent

/// `recurrent tag train`: a BiLSTM tagger on a CoNLL file.
struct TagTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a tagger on a CoNLL file (one token and its tag per line, a blank line between sentences).",
        discussion: """
            Each word is read as its embedding (words seen fewer than --min-count times share <unk>) and, \
            with --char-embedding-size above 0, the final states of a character BiLSTM over its \
            spelling; a BiLSTM over the sentence and a linear layer give each token's tag. Sentences of \
            similar length are batched together and run with their lengths (no work on padding; the \
            loss reads the real tokens only). With --dev, the dev file is scored after every epoch; \
            the final report is on the dev file, else on the training file.
            """)

    @Option(help: "The training file (CoNLL: token first, tag in the last column).") var train: String
    @Option(help: "A held-out file in the same format, scored after every epoch.") var dev: String?
    @Option(help: "Word embedding size.") var embeddingSize = 64
    @Option(help: "Character embedding size of the character BiLSTM (0: no character feature).") var charEmbeddingSize = 16
    @Option(help: "Hidden size of the character BiLSTM, per direction.") var charHiddenSize = 16
    @Option(help: "Words seen fewer times than this in training share the <unk> embedding.") var minCount = 2
    @Option(help: "Where to write the model (.safetensors).") var output: String
    @OptionGroup var tagger: TaggerOptions
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        for (name, value, low) in [("--embedding-size", embeddingSize, 1), ("--char-embedding-size", charEmbeddingSize, 0),
                                   ("--char-hidden-size", charHiddenSize, 1), ("--min-count", minCount, 1)] {
            guard (low...(1 << 14)).contains(value) else { throw ValidationError("\(name) must be between \(low) and \(1 << 14), got \(value)") }
        }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
    }

    func run() throws {
        example.apply()
        try checkDistinct(output: output, from: [train, dev])
        try example.checkPlots(["tag-loss.svg"], besides: output, inputs: [train, dev])
        let training = try CoNLL.read(from: URL(fileURLWithPath: train))
        let held = try dev.map { try CoNLL.read(from: URL(fileURLWithPath: $0)) }
        var configuration = TaggerConfiguration()
        (configuration.wordEmbeddingSize, configuration.charEmbeddingSize, configuration.charHiddenSize) = (embeddingSize, charEmbeddingSize, charHiddenSize)
        (configuration.hiddenSize, configuration.numLayers, configuration.dropout) = (tagger.hiddenSize, tagger.layers, tagger.dropout)
        let model = SequenceTagger(training: training, configuration: configuration, minCount: minCount)
        if let held, let dev {
            for (s, sentence) in held.enumerated() {
                if let tag = sentence.tags.first(where: { model.tags.index(of: $0) == nil }) {
                    throw CommandError("\(dev): sentence \(s + 1) has the tag '\(escaped(tag))', which \(train) never uses")
                }
            }
        }
        func describe(_ file: String, _ sentences: [TaggedSentence]) -> String {
            "\(URL(fileURLWithPath: file).lastPathComponent): \(sentences.count) sentences, \(sentences.reduce(0) { $0 + $1.tokens.count }) tokens"
        }
        print(describe(train, training) + ", \(model.tags.count) tags" + (held.map { "; " + describe(dev!, $0) } ?? ""))
        print("vocabulary: \(model.words.count - 1) words seen at least \(minCount) time\(minCount == 1 ? "" : "s") and <unk>"
              + (model.characters.map { ", \($0.count - 1) characters and <unk>" } ?? ""))
        print("model: \(model), \(model.parameterCount) parameters")
        let result = try tagger.train(model, on: training, heldOut: held, heldOutName: "dev", seed: example.seed, label: "tag",
                                      defaults: (5, 1e-3))
        print(String(format: "trained %.0f tokens/s", result.tokensPerSecond))
        try model.save(to: URL(fileURLWithPath: output))

        let evaluated = held ?? training
        let predicted = held != nil ? result.predicted : try model.evaluate(training).predicted
        var json = reportScores(predicted: predicted, gold: evaluated.map(\.tags), on: held != nil ? "dev" : "training data")
        let plot = try example.plotsFolder(besides: output).appendingPathComponent("tag-loss.svg")
        let epochs = result.history.epochs
        var series: [LinePlot.Series] = [.init(name: "training (moving average)", xs: result.history.stepLosses.indices.map { Double($0 + 1) },
                                               ys: smoothed(result.history.stepLosses))]
        let perEpoch = Double(result.history.stepLosses.count) / Double(max(epochs.count, 1))
        if held != nil { series.append(.init(name: "dev", xs: epochs.map { Double($0.epoch) * perEpoch }, ys: result.heldOut.map { Double($0.loss) })) }
        try LinePlot(title: "BiLSTM tagger on \(URL(fileURLWithPath: train).lastPathComponent)", xAxisTitle: "update (\(tagger.batchSize) sentences each)",
                     yAxisTitle: "cross-entropy per token (nats)", series: series).write(to: plot)
        print("wrote \(output), \(plot.path)")
        json["epoch_train_loss"] = epochs.map { Double($0.trainingLoss) }
        if held != nil { json["epoch_dev_loss"] = result.heldOut.map { Double($0.loss) } }
        json["tokens_per_second"] = result.tokensPerSecond
        json["train_seconds"] = result.seconds
        json["parameters"] = model.parameterCount
        json["epochs"] = epochs.count
        json["threads"] = Kernels.threads
        json["vocabulary_size"] = model.words.count
        try example.report(json)
    }
}
