import ArgumentParser
import Foundation
import Recurrent

/// `recurrent seq2seq`: a character encoder–decoder trained on pairs of texts.
struct Seq2Seq: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seq2seq",
        abstract: "Train a character encoder-decoder on pairs of texts, and translate with it.",
        subcommands: [Seq2SeqTrain.self, Seq2SeqTranslate.self])

    /// The generated tasks `--task` names.
    static let tasks = ["addition", "words"]
}

struct Seq2SeqTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train on tab-separated pairs, or on a generated task (Keras' addition_rnn by default).",
        discussion: """
            An embedding and an LSTM or GRU encoder read the source; its final state starts a decoder \
            of the same cell, which writes the target one character at a time from <s> to </s> \
            (teacher forcing in training; batches are bucketed by source length and right-padded with \
            <pad>, which the loss ignores). A bidirectional encoder's final forward and backward states \
            are concatenated and projected to the decoder's size by a linear layer (tanh for h). The \
            last --validation-fraction of the shuffled pairs is held out: after each epoch its loss and \
            greedy exact-match accuracy are printed; at the end greedy decoding and beam search are \
            scored on it by exact match and character error rate. The model, with its vocabularies, \
            is written after every epoch.
            """)

    @Option(help: "A UTF-8 file of source<TAB>target lines.") var data: String?
    @Option(help: "A generated task instead of --data: addition ('123+45' → '168', the default) or words ('one hundred twelve' → '112').")
    var task: String?
    @Option(help: "Distinct questions generated for --task addition.") var pairs = 50_000
    @Option(help: "The most digits of each number for --task addition.") var digits = 3
    @Flag(help: "The encoder reads each source backwards (Keras' addition_rnn does, with REVERSE = True).") var reverseSource = false
    @Option(help: "lstm or gru (encoder and decoder).") var cell = "lstm"
    @Option(name: [.customLong("hidden"), .customLong("hidden-size")], help: "Hidden size of the encoder and the decoder.") var hidden = 128
    @Option(help: "Size of the source and target embeddings.") var embeddingSize = 32
    @Option(help: "Stacked layers in the encoder and in the decoder.") var layers = 1
    @Flag(help: "A bidirectional encoder.") var bidirectional = false
    @Option(help: "Passes over the training pairs.") var epochs = 20
    @Option(help: "Pairs per update.") var batchSize = 64
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Clip the gradient norm to this before each update (0: no clipping).") var clipGradNorm: Float = 5
    @Option(help: "Beam width for the final scoring (1: greedy only).") var beam = 3
    @Option(help: "Share of the pairs held out for scoring.") var validationFraction = 0.1
    @Option(help: "The most characters a translation may have (default: twice the longest target, plus 10).") var maxLength: Int?
    @Option(help: "Held-out examples to print.") var examples = 8
    @Option(help: "Where to write the model (.safetensors), after every epoch.") var output = "seq2seq.safetensors"
    @Option(help: "The loss plot (.svg; default: seq2seq-loss.svg in the plots folder).") var plot: String?
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard data == nil || task == nil else { throw ValidationError("give --data or --task, not both") }
        if let task, !Seq2Seq.tasks.contains(task) { throw ValidationError("--task must be addition or words, got '\(task)'") }
        guard Seq2SeqConfiguration.Cell(rawValue: cell) != nil else { throw ValidationError("--cell must be lstm or gru, got '\(cell)'") }
        for (name, value, low, limit) in [("--pairs", pairs, 2, 1_000_000), ("--digits", digits, 1, 6), ("--hidden", hidden, 1, 1 << 14),
                                          ("--embedding-size", embeddingSize, 1, 1 << 14), ("--layers", layers, 1, 64),
                                          ("--epochs", epochs, 1, 100_000), ("--batch-size", batchSize, 1, 1 << 16), ("--beam", beam, 1, 64),
                                          ("--max-length", maxLength ?? 1, 1, 1 << 16), ("--examples", examples, 0, 1000)] {
            guard (low...limit).contains(value) else { throw ValidationError("\(name) must be between \(low) and \(limit), got \(value)") }
        }
        try checkFloat("--lr", learningRate, positive: true)
        try checkFloat("--clip-grad-norm", clipGradNorm, positive: false)
        guard validationFraction.isFinite, validationFraction > 0, validationFraction < 0.5 else {
            throw ValidationError("--validation-fraction must be above 0 and below 0.5")
        }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
        if let plot, !plot.hasSuffix(".svg") { throw ValidationError("--plot must end in .svg") }
    }

    func run() throws {
        example.apply()
        try checkDistinct(output: output, from: [data])
        if let plot { try checkDistinct(output: plot, from: [data, output], option: "--plot") } else {
            try example.checkPlots(["seq2seq-loss.svg"], besides: output, inputs: [data, output])
        }
        // The pairs, shuffled with the seed; the last share is held out.
        var all: [SequencePair], what: String
        if let data {
            all = try SequencePairs.read(from: URL(fileURLWithPath: data))
            what = URL(fileURLWithPath: data).lastPathComponent
        } else if task == "words" {
            all = try SequencePairs.numberWords(upTo: 999)
            what = "number words task (0 to 999 in words → digits)"
        } else {
            do { all = try SequencePairs.addition(count: pairs, digits: digits, seed: example.seed) } catch { throw CommandError("--pairs: \(error)") }
            what = "addition task (Keras addition_rnn, numbers of up to \(digits) digits)"
        }
        guard all.count >= 2 else { throw CommandError("\(what): \(all.count) pair; training and scoring need at least 2") }
        var generator = SeededGenerator(seed: example.seed)
        all.shuffle(using: &generator)
        let heldOutCount = max(1, Int(Double(all.count) * validationFraction))
        let training = Array(all.dropLast(heldOutCount)), heldOut = Array(all.suffix(heldOutCount))
        print("\(what): \(all.count) pairs such as '\(all[0].source)' → '\(all[0].target)'; \(training.count) for training, \(heldOut.count) held out")

        let longest = all.map { $0.target.unicodeScalars.count }.max()!
        let configuration = Seq2SeqConfiguration(
            cell: Seq2SeqConfiguration.Cell(rawValue: cell)!, sourceVocabulary: Seq2SeqVocabulary(texts: all.map(\.source)),
            targetVocabulary: Seq2SeqVocabulary(texts: all.map(\.target)), embeddingSize: embeddingSize, hiddenSize: hidden,
            numLayers: layers, bidirectional: bidirectional, reverseSource: reverseSource,
            maxOutputLength: maxLength ?? min(2 * longest + 10, 1 << 16))
        do { try configuration.validate() } catch { throw CommandError("\(what): \(error)") }
        let model = Seq2SeqModel(configuration)
        print("model: \(model.configuration), \(model.parameterCount) parameters; special tokens \(Seq2SeqVocabulary.specialTokens.joined(separator: " "))")

        let sources = try training.map { try model.sourceTokens($0.source) }
        let targets = try training.map { try model.configuration.targetVocabulary.encode($0.target) }
        var buckets = Seq2SeqBatch.buckets(lengths: sources.map(\.count), batchSize: batchSize, using: &generator)
        var options = TrainingOptions()
        (options.epochs, options.learningRate, options.seed) = (epochs, learningRate, example.seed)
        options.clipGradNorm = clipGradNorm > 0 ? clipGradNorm : nil
        options.batchSize = 1   // a "sample" is one bucketed batch; the loop shuffles their order
        var loop = try TrainingLoop(model: model, options: options)
        var progress = EpochProgress(label: "seq2seq", unit: "pairs") { _ in batchSize }
        var heldOutAccuracy: [Double] = [], updates = 0, evaluations: [(step: Double, loss: Double)] = []
        let history = try loop.run(sampleCount: buckets.count, loss: { batch in
            let members = buckets[batch[0]]
            return try model.loss(Seq2SeqBatch(sources: members.map { sources[$0] }, targets: members.map { targets[$0] }))
        }, validationLoss: {
            heldOutAccuracy.append(try model.evaluate(heldOut).exactMatch)
            return Float(try model.meanLoss(heldOut))
        }, onStep: { epoch, step, steps, loss in
            progress.step(epoch: epoch, step: step, steps: steps, loss: loss)
            updates += 1
        }, onEpoch: { e in
            buckets = Seq2SeqBatch.buckets(lengths: sources.map(\.count), batchSize: batchSize, using: &generator)
            evaluations.append((Double(updates), Double(e.validationLoss!)))
            try model.save(to: URL(fileURLWithPath: output))
            print(String(format: "epoch %d: train loss %.4f, held-out loss %.4f, greedy exact match %.4f, %.1f s; wrote %@", e.epoch,
                         e.trainingLoss, e.validationLoss!, heldOutAccuracy.last!, e.seconds, output))
        })
        let seconds = history.epochs.map(\.seconds).reduce(0, +)

        let greedy = try model.evaluate(heldOut)
        let beamed = beam > 1 ? try model.evaluate(heldOut, beamWidth: beam) : greedy
        printExamples(heldOut, greedy: greedy, beamed: beamed)
        print("held out (\(heldOut.count) pairs)   exact match   character error rate")
        print(String(format: "greedy                  %11.4f   %20.4f", greedy.exactMatch, greedy.characterErrorRate))
        if beam > 1 { print(String(format: "beam %-3d                %11.4f   %20.4f", beam, beamed.exactMatch, beamed.characterErrorRate)) }

        let plotURL = try plot.map { URL(fileURLWithPath: $0) } ?? example.plotsFolder(besides: output).appendingPathComponent("seq2seq-loss.svg")
        try LinePlot(title: "\(cell.uppercased()) encoder-decoder on \(data.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "the \(task ?? "addition") task")",
                     xAxisTitle: "update (\(batchSize) pairs each)", yAxisTitle: "cross-entropy (nats per target character)",
                     series: [.init(name: "training (moving average)", xs: history.stepLosses.indices.map { Double($0 + 1) },
                                    ys: smoothed(history.stepLosses)),
                              .init(name: "held out", xs: evaluations.map(\.step), ys: evaluations.map(\.loss))]).write(to: plotURL)
        print("wrote \(output), \(plotURL.path)")
        try example.report([
            "pairs": all.count, "train_pairs": training.count, "held_out_pairs": heldOut.count, "parameters": model.parameterCount,
            "epochs": history.epochs.count, "train_seconds": seconds, "threads": Kernels.threads,
            "epoch_train_loss": history.epochs.map { Double($0.trainingLoss) }, "epoch_val_loss": history.epochs.map { Double($0.validationLoss!) },
            "epoch_greedy_exact_match": heldOutAccuracy, "greedy_exact_match": greedy.exactMatch, "greedy_cer": greedy.characterErrorRate,
            "beam_width": beam, "beam_exact_match": beamed.exactMatch, "beam_cer": beamed.characterErrorRate,
        ])
    }

    /// The first `--examples` held-out pairs with both decodings, a check mark where one is right.
    func printExamples(_ pairs: [SequencePair], greedy: Seq2SeqEvaluation, beamed: Seq2SeqEvaluation) {
        let shown = Array(pairs.prefix(examples).enumerated())
        guard !shown.isEmpty else { return }
        let header = ["source", "target", "greedy"] + (beam > 1 ? ["beam \(beam)"] : [])
        let rows = [header] + shown.map { i, pair in
            [pair.source, pair.target] + [greedy, beamed].prefix(beam > 1 ? 2 : 1).map { $0.predictions[i] + ($0.predictions[i] == pair.target ? " ✓" : " ✗") }
        }
        let widths = header.indices.map { column in rows.map { $0[column].unicodeScalars.count }.max()! }
        print("held-out examples:")
        for row in rows {
            let line = zip(row, widths).map { $0 + String(repeating: " ", count: $1 - $0.unicodeScalars.count) }.joined(separator: "  ")
            print("  " + String(line.reversed().drop { $0 == " " }.reversed()))
        }
    }
}

struct Seq2SeqTranslate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translate", abstract: "Translate texts with a model written by `recurrent seq2seq train`, one output per line.")

    @Argument(help: "The model file.") var model: String
    @Option(help: "A source text.") var text: String?
    @Option(help: "A UTF-8 file of source texts, one per line.") var input: String?
    @Option(help: "Beam width (1: greedy decoding).") var beam = 1
    @Option(help: "The most characters per translation (default: the model's).") var maxLength: Int?
    @Option(help: "Kernel threads (default: every core).") var threads: Int?

    func validate() throws {
        guard (text == nil) != (input == nil) else { throw ValidationError("give one of --text and --input") }
        if let text {
            guard !text.isEmpty else { throw ValidationError("--text must not be empty") }
            guard text.unicodeScalars.count <= SequencePairs.maxLength else {
                throw ValidationError("--text has \(text.unicodeScalars.count) characters, over the limit of \(SequencePairs.maxLength)")
            }
        }
        for (name, value, limit) in [("--beam", beam, 64), ("--max-length", maxLength ?? 1, 1 << 16), ("--threads", threads ?? 1, 1024)] {
            guard (1...limit).contains(value) else { throw ValidationError("\(name) must be between 1 and \(limit), got \(value)") }
        }
    }

    func run() throws {
        Kernels.setThreadCount(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let m = try Seq2SeqModel.load(from: URL(fileURLWithPath: model))
        var texts: [String]
        if let text {
            texts = [text]
            do { _ = try m.sourceTokens(text) } catch { throw CommandError("--text: \(error)") }
        } else {
            let input = input!, content = try TextFile.read(from: URL(fileURLWithPath: input))
            var lines = content.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(Substring($0)) }
            if lines.last == "" { lines.removeLast() }
            texts = lines.map { $0.hasSuffix("\r") ? String($0.unicodeScalars.dropLast()) : $0 }
            for (i, line) in texts.enumerated() {
                let problem = line.isEmpty ? "the line is empty"
                    : line.unicodeScalars.count > SequencePairs.maxLength ? "\(line.unicodeScalars.count) characters, over the limit of \(SequencePairs.maxLength)" : nil
                if let problem { throw CommandError("\(input): line \(i + 1): \(problem)") }
                do { _ = try m.sourceTokens(line) } catch { throw CommandError("\(input): line \(i + 1): \(error)") }
            }
        }
        for translation in try m.translate(texts, beamWidth: beam, maxLength: maxLength) { print(translation) }
    }
}
