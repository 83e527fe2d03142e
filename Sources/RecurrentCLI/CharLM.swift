import ArgumentParser
import Foundation
import Recurrent

/// `recurrent charlm`: a character-level language model on any UTF-8 text.
struct CharLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charlm",
        abstract: "Train a character-level language model on a text, and sample from it.",
        subcommands: [CharLMTrain.self, CharLMSample.self])

    /// The metadata key holding the vocabulary (every character in index order).
    static let vocabularyKey = "charlm.vocabulary"
}

struct CharLMTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train on a UTF-8 text (characters are Unicode scalars, so any script works).",
        discussion: """
            The text is cut into --window-character samples, each predicting the next character at \
            every position (the tutorial's 25), through an embedding (or one-hot input with \
            --embedding-size 0), an LSTM and a linear layer over the vocabulary. The last \
            --validation-fraction of the text is held out and scored as bits per character. With \
            --carry-state the text is read as --batch-size parallel streams in consecutive windows \
            and the state is carried from one window to the next (truncated backpropagation through \
            time). The model is written after every epoch; --resume continues from such a file.
            """)

    @Option(help: "The UTF-8 text file.") var text: String
    @Option(help: "Use only the first N characters (0: all).") var maxChars = 0
    @Option(help: "Characters per sample.") var window = 25
    @Option(help: "Embedding size (0: one-hot input of the vocabulary's size).") var embeddingSize = 64
    @Option(help: "rnn, lstm or gru.") var cell = "lstm"
    @Option(help: "Hidden size.") var hiddenSize = 256
    @Option(help: "Stacked recurrent layers.") var layers = 1
    @Option(help: "Samples (or streams, with --carry-state) per update.") var batchSize = 64
    @Option(help: "Passes over the training text.") var epochs = 1
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float = 2e-3
    @Option(help: "Clip the gradient norm to this before each update (0: no clipping).") var clipGradNorm: Float = 5
    @Flag(help: "Carry the state across consecutive windows (truncated backpropagation through time).") var carryState = false
    @Option(help: "Share of the text, at its end, held out for validation.") var validationFraction = 0.1
    @Option(help: "Score the validation text every this many updates for the loss curve (0: once per epoch).") var evalEvery = 0
    @Option(help: "Continue training the model in this file (its sizes and vocabulary are kept).") var resume: String?
    @Option(help: "Where to write the model (.safetensors), after every epoch.") var output = "charlm.safetensors"
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard ModelArchitecture.Kind(rawValue: cell) != nil else { throw ValidationError("--cell must be rnn, lstm or gru, got '\(cell)'") }
        for (name, value, low, limit) in [("--window", window, 1, 1 << 20), ("--embedding-size", embeddingSize, 0, 1 << 14),
                                          ("--hidden-size", hiddenSize, 1, 1 << 14), ("--layers", layers, 1, 64),
                                          ("--batch-size", batchSize, 1, 1 << 16), ("--epochs", epochs, 1, 100_000),
                                          ("--max-chars", maxChars, 0, Int.max), ("--eval-every", evalEvery, 0, Int.max)] {
            guard (low...limit).contains(value) else { throw ValidationError("\(name) must be between \(low) and \(limit), got \(value)") }
        }
        try checkFloat("--lr", learningRate, positive: true)
        try checkFloat("--clip-grad-norm", clipGradNorm, positive: false)
        guard validationFraction.isFinite, validationFraction > 0, validationFraction < 0.5 else {
            throw ValidationError("--validation-fraction must be above 0 and below 0.5")
        }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
    }

    func run() throws {
        example.apply()
        try checkDistinct(output: output, from: [text])
        try example.checkPlots(["charlm-loss.svg"], besides: output, inputs: [text, resume])
        var content = try TextFile.read(from: URL(fileURLWithPath: text))
        if maxChars > 0, content.unicodeScalars.count > maxChars {
            content = String(String.UnicodeScalarView(content.unicodeScalars.prefix(maxChars)))
        }
        let model: RecurrentModel, vocabulary: Vocabulary
        if let resume {
            model = try RecurrentModel.load(from: URL(fileURLWithPath: resume))
            vocabulary = try CharLMSample.vocabulary(of: model, file: resume)
        } else {
            vocabulary = Vocabulary(text: content)
            guard vocabulary.count >= 2 else {
                throw CommandError("\(text): the text has \(vocabulary.count) distinct character\(vocabulary.count == 1 ? "" : "s"); a language model needs at least 2")
            }
            let v = vocabulary.count
            model = RecurrentModel(ModelArchitecture(
                kind: ModelArchitecture.Kind(rawValue: cell)!, inputSize: embeddingSize > 0 ? embeddingSize : v, hiddenSize: hiddenSize,
                numLayers: layers, prefix: "rnn.", headPrefix: "fc.", headOutputSize: v,
                inputEncoding: embeddingSize > 0 ? .embedding(prefix: "embedding.", count: v) : .oneHot))
            model.annotations[CharLM.vocabularyKey] = vocabulary.symbols
        }
        let tokens: [Int]
        do { tokens = try vocabulary.encode(content) } catch { throw CommandError("\(text): \(error) (the vocabulary is the resumed model's)") }
        let split = tokens.count - Int(Double(tokens.count) * validationFraction)
        let training = try windows(Array(tokens[..<split]), "training"), validation = try windows(Array(tokens[split...]), "validation")
        let streams = min(batchSize, max(1, (validation.tokens.count - 1) / window))
        print("\(URL(fileURLWithPath: text).lastPathComponent): \(tokens.count) characters, \(vocabulary.count) distinct; \(split) for training, \(tokens.count - split) for validation")
        print("model: \(model.architecture), \(model.parameterCount) parameters")

        var options = TrainingOptions()
        (options.epochs, options.learningRate, options.seed) = (epochs, learningRate, example.seed)
        options.clipGradNorm = clipGradNorm > 0 ? clipGradNorm : nil
        let chunks = training.chunks(streams: batchSize), starts = training.sampleStarts
        // With carried state, a "sample" is one chunk of all streams, taken in order.
        (options.batchSize, options.shuffle) = carryState ? (1, false) : (batchSize, true)
        var loop = try TrainingLoop(model: model, options: options)
        var state: RecurrentState?
        var progress = EpochProgress(label: "charlm", unit: "chars") { _ in window * batchSize }
        var evaluations: [(step: Double, bits: Double)] = [], step = 0, trainedChars = 0
        func validationBits() throws -> Double { bits(fromNats: try model.crossEntropy(over: validation, streams: streams)) }
        let history = try loop.run(sampleCount: carryState ? chunks.count : starts.count, loss: { batch in
            let input: Tensor, targets: [Int]
            if carryState {
                let (start, length) = chunks[batch[0]]
                if start == 0 { state = nil }
                (input, targets) = training.streamBatch(streams: batchSize, start: start, count: length)
            } else {
                (input, targets) = training.batch(batch.map { starts[$0] })
            }
            let (logits, next) = try model.predict(input, from: state)
            if carryState { state = next.detached() }
            trainedChars += targets.count
            return try crossEntropy(logits: logits.reshaped([-1, vocabulary.count]), targets: targets)
        }, validationLoss: { Float(try validationBits()) }, onStep: { epoch, s, steps, loss in
            progress.step(epoch: epoch, step: s, steps: steps, loss: loss)
            step += 1
            if evalEvery > 0, step % evalEvery == 0, s < steps {
                evaluations.append((Double(step), try validationBits()))
                model.train()
            }
        }, onEpoch: { e in
            evaluations.append((Double(step), Double(e.validationLoss!)))
            try model.save(to: URL(fileURLWithPath: output))
            print(String(format: "epoch %d: train %.4f bits/char, validation %.4f bits/char, %.1f s; wrote %@", e.epoch,
                         bits(fromNats: Double(e.trainingLoss)), e.validationLoss!, e.seconds, output))
        })
        let seconds = history.epochs.map(\.seconds).reduce(0, +)
        let charsPerSecond = Double(trainedChars) / max(seconds, 1e-9)
        print(String(format: "trained %d characters at %.0f characters/s", trainedChars, charsPerSecond))
        var generator = SeededGenerator(seed: example.seed)
        let prime = Array(vocabulary.decode([tokens[split]]))
        let sample = try model.generate(prime: try vocabulary.encode(String(prime)), length: 200, temperature: 0.8, using: &generator)
        print("sample (temperature 0.8):\n" + String(prime) + vocabulary.decode(sample))

        let folder = try example.plotsFolder(besides: output)
        let plot = folder.appendingPathComponent("charlm-loss.svg")
        try LinePlot(title: "Character \(model.architecture.kind.rawValue.uppercased()) on \(URL(fileURLWithPath: text).lastPathComponent)",
                     xAxisTitle: "update (\(window) characters × \(batchSize) per update)", yAxisTitle: "cross-entropy (bits per character)",
                     series: [.init(name: "training (moving average)", xs: history.stepLosses.indices.map { Double($0 + 1) },
                                    ys: smoothed(history.stepLosses).map { bits(fromNats: $0) }),
                              .init(name: "validation", xs: evaluations.map(\.step), ys: evaluations.map(\.bits))]).write(to: plot)
        print("wrote \(plot.path)")
        try example.report([
            "val_bits_per_char": Double(history.epochs.last!.validationLoss!), "chars_per_second": charsPerSecond,
            "train_bits_per_char": bits(fromNats: Double(history.epochs.last!.trainingLoss)), "vocabulary_size": vocabulary.count,
            "epochs": history.epochs.count, "train_seconds": seconds, "epoch_val_bits_per_char": history.epochs.map { Double($0.validationLoss!) }, "parameters": model.parameterCount,
            "threads": Kernels.threads,
        ])
    }

    func windows(_ tokens: [Int], _ what: String) throws -> TokenWindows {
        do { return try TokenWindows(tokens: tokens, length: window) } catch {
            throw CommandError("\(text): the \(what) part holds \(tokens.count) characters, too few for one \(window)-character window and its next character; use a longer text or a smaller --window")
        }
    }
}

struct CharLMSample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Generate text from a model written by `recurrent charlm train`.")

    @Option(help: "The model file.") var model: String
    @Option(help: "Text to start from; every character must be in the model's vocabulary (default: a newline, else the first character of the vocabulary).")
    var prime: String?
    @Option(help: "Characters to generate.") var length = 500
    @Option(help: "Softmax temperature: lower is more conservative, 0 always takes the likeliest character.") var temperature: Float = 0.8
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0

    func validate() throws {
        guard (0...10_000_000).contains(length) else { throw ValidationError("--length must be between 0 and 10000000, got \(length)") }
        try checkFloat("--temperature", temperature, positive: false)
        guard prime != "" else { throw ValidationError("--prime must not be empty") }
    }

    func run() throws {
        let m = try RecurrentModel.load(from: URL(fileURLWithPath: model))
        let vocabulary = try Self.vocabulary(of: m, file: model)
        let start = prime ?? (vocabulary.symbols.unicodeScalars.contains("\n") ? "\n" : String(vocabulary.symbols.unicodeScalars.first!))
        let primeTokens: [Int]
        do { primeTokens = try vocabulary.encode(start) } catch { throw CommandError("--prime: \(error)") }
        var generator = SeededGenerator(seed: seed)
        let tokens = try m.generate(prime: primeTokens, length: length, temperature: temperature, using: &generator)
        print(start + vocabulary.decode(tokens))
    }

    /// The vocabulary a character model carries, or a one-line error for any other model file.
    static func vocabulary(of model: RecurrentModel, file: String) throws -> Vocabulary {
        guard let symbols = model.annotations[CharLM.vocabularyKey], let count = model.architecture.tokenCount,
              model.architecture.headOutputSize == count, model.architecture.headPlacement == .everyStep else {
            throw CommandError("\(file): not a character language model written by `recurrent charlm train` (no vocabulary, token input and per-step head)")
        }
        let vocabulary = try Vocabulary(symbols: symbols)
        guard vocabulary.count == count else {
            throw CommandError("\(file): its vocabulary has \(vocabulary.count) characters but the model reads \(count) tokens")
        }
        return vocabulary
    }
}
