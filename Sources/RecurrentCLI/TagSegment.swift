import ArgumentParser
import Foundation
import Recurrent

/// `recurrent tag segment`: word segmentation as character tagging, on any text.
struct TagSegment: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Learn to put the spaces back into a text: a character-level BiLSTM tags each character B (a word starts) or I.",
        discussion: """
            Each line of the text becomes one sentence with its spaces removed (lines over --max-length \
            characters are cut between words), each character a token tagged B where a word starts and I \
            elsewhere. The last --validation-fraction of the sentences is held out: it is scored after \
            every epoch, and reported as character accuracy, word precision/recall/F1 (a word is right \
            when both of its ends are) and per-tag scores, with a few held-out lines segmented. \
            --bible reads the King James Bible from Debian's bible-kjv package (apt-get install bible-kjv).
            """)

    @Option(help: "A UTF-8 text file.") var text: String?
    @Flag(help: "Use the King James Bible (`bible gen1:1-rev22:21`, from Debian's bible-kjv package).") var bible = false
    @Option(help: "Use only the first N lines of the text (0: all).") var maxLines = 0
    @Option(help: "Most characters per sentence; longer lines are cut between words.") var maxLength = 200
    @Option(help: "Share of the sentences, at the end of the text, held out.") var validationFraction = 0.05
    @Option(help: "Character embedding size.") var embeddingSize = 32
    @Option(help: "Held-out sentences to print segmented.") var show = 5
    @Option(help: "Where to write the model (.safetensors); `recurrent tag label` reads it (characters separated by spaces).")
    var output = "segment.safetensors"
    @OptionGroup var tagger: TaggerOptions
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard (text != nil) != bible else { throw ValidationError("give either --text FILE or --bible") }
        for (name, value, low, limit) in [("--max-lines", maxLines, 0, Int.max), ("--max-length", maxLength, 1, CoNLL.maxSentenceLength),
                                          ("--embedding-size", embeddingSize, 1, 1 << 14), ("--show", show, 0, 10_000)] {
            guard (low...limit).contains(value) else { throw ValidationError("\(name) must be between \(low) and \(limit), got \(value)") }
        }
        guard validationFraction.isFinite, validationFraction > 0, validationFraction < 0.5 else {
            throw ValidationError("--validation-fraction must be above 0 and below 0.5, got \(validationFraction)")
        }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
    }

    func run() throws {
        example.apply()
        try checkDistinct(output: output, from: [text])
        try example.checkPlots(["segment-loss.svg"], besides: output, inputs: [text])
        let name = text.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "the King James Bible"
        var content = try text.map { try TextFile.read(from: URL(fileURLWithPath: $0)) } ?? Self.kingJamesBible()
        if maxLines > 0 { content = content.split(separator: "\n", maxSplits: maxLines, omittingEmptySubsequences: false).prefix(maxLines).joined(separator: "\n") }
        let sentences = WordSegmentation.sentences(fromText: content, maxLength: maxLength)
        let heldCount = Int(Double(sentences.count) * validationFraction)
        guard heldCount >= 1, sentences.count - heldCount >= 1 else {
            throw CommandError("\(name): \(sentences.count) line\(sentences.count == 1 ? "" : "s") with text; too few to hold out \(validationFraction) of them and train on the rest")
        }
        let training = Array(sentences.dropLast(heldCount)), held = Array(sentences.suffix(heldCount))
        var configuration = TaggerConfiguration()
        (configuration.wordEmbeddingSize, configuration.charEmbeddingSize) = (embeddingSize, 0)
        (configuration.hiddenSize, configuration.numLayers, configuration.dropout) = (tagger.hiddenSize, tagger.layers, tagger.dropout)
        let model = SequenceTagger(training: training, configuration: configuration)
        let characters = { (s: [TaggedSentence]) in s.reduce(0) { $0 + $1.tokens.count } }
        print("\(name): \(sentences.count) sentences, \(characters(sentences)) characters without spaces, \(model.words.count - 1) distinct in training; "
              + "\(training.count) sentences for training, the last \(held.count) held out")
        print("model: \(model), \(model.parameterCount) parameters")
        let result = try tagger.train(model, on: training, heldOut: held, heldOutName: "held-out", seed: example.seed, label: "segment",
                                      defaults: (3, 5e-3))
        print(String(format: "trained %.0f characters/s", result.tokensPerSecond))
        try model.save(to: URL(fileURLWithPath: output))

        var json = reportScores(predicted: result.predicted, gold: held.map(\.tags), on: "held-out")
        if show > 0 { print("held-out sentences without their spaces, segmented by the model:") }
        for (sentence, tags) in zip(held, result.predicted).prefix(show) {
            let truth = WordSegmentation.join(sentence.tokens, tags: sentence.tags)
            let guess = WordSegmentation.join(sentence.tokens, tags: tags)
            print("  " + sentence.tokens.joined())
            print("  → " + guess + (guess == truth ? "" : "\n    (the text: " + truth + ")"))
        }
        let plot = try example.plotsFolder(besides: output).appendingPathComponent("segment-loss.svg")
        let epochs = result.history.epochs, perEpoch = Double(result.history.stepLosses.count) / Double(max(epochs.count, 1))
        try LinePlot(title: "Word segmentation of \(name)", xAxisTitle: "update (\(tagger.batchSize) sentences each)",
                     yAxisTitle: "cross-entropy per character (nats)",
                     series: [.init(name: "training (moving average)", xs: result.history.stepLosses.indices.map { Double($0 + 1) },
                                    ys: smoothed(result.history.stepLosses)),
                              .init(name: "held out", xs: epochs.map { Double($0.epoch) * perEpoch }, ys: result.heldOut.map { Double($0.loss) })])
            .write(to: plot)
        print("wrote \(output), \(plot.path)")
        json["epoch_train_loss"] = epochs.map { Double($0.trainingLoss) }
        json["epoch_held_out_loss"] = result.heldOut.map { Double($0.loss) }
        json["characters_per_second"] = result.tokensPerSecond
        json["train_seconds"] = result.seconds
        json["parameters"] = model.parameterCount
        json["epochs"] = epochs.count
        json["threads"] = Kernels.threads
        json["training_sentences"] = training.count
        json["held_out_sentences"] = held.count
        try example.report(json)
    }

    /// The text `bible gen1:1-rev22:21` prints, or a one-line error saying how to install it.
    static func kingJamesBible() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent("bible").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw CommandError("--bible: the `bible` program is not installed (apt-get install bible-kjv), or pass --text FILE") }
        let process = Process(), out = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["gen1:1-rev22:21"]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw CommandError("--bible: `\(path) gen1:1-rev22:21` failed (exit status \(process.terminationStatus)); pass --text FILE instead")
        }
        return text
    }
}
