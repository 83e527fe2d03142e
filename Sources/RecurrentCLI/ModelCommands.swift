import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A model file: Recurrent's own, a PyTorch state_dict saved with safetensors, or an .onnx graph (as torch.onnx.export writes for nn.LSTM/GRU/RNN, optionally with a Linear head).")
    var model: String
    @Flag(help: "Input and output are [B, T, I] (PyTorch's batch_first=True); cannot be inferred from weights.")
    var batchFirst = false
    @Option(help: "RNN nonlinearity, tanh or relu (cannot be inferred from weights; default tanh).")
    var nonlinearity: String?
    @Option(help: "Where a head applies: every-step, or last-step (PyTorch's head(output[:, -1]); cannot be inferred from weights; default every-step).")
    var head: String?

    /// Whether the model is an ONNX graph (by its extension).
    var isONNX: Bool { model.lowercased().hasSuffix(".onnx") }

    func validate() throws {
        guard !isONNX || (!batchFirst && nonlinearity == nil && head == nil) else {
            throw ValidationError("--batch-first, --nonlinearity and --head apply to safetensors files; an .onnx graph says these itself")
        }
    }

    func load() throws -> RecurrentModel {
        if isONNX {
            return try RecurrentModel(onnx: ONNXModel.load(from: URL(fileURLWithPath: model)))
        }
        var n: Nonlinearity?
        if let nonlinearity {
            guard let value = Nonlinearity(rawValue: nonlinearity) else {
                throw ValidationError("--nonlinearity must be tanh or relu, got '\(nonlinearity)'")
            }
            n = value
        }
        var placement: ModelArchitecture.HeadPlacement?
        if let head {
            guard let value = ModelArchitecture.HeadPlacement(rawValue: head.replacingOccurrences(of: "-", with: "_")) else {
                throw ValidationError("--head must be every-step or last-step, got '\(head)'")
            }
            placement = value
        }
        return try RecurrentModel.load(from: URL(fileURLWithPath: model), nonlinearity: n, batchFirst: batchFirst ? true : nil,
                                       headPlacement: placement)
    }
}

/// The arrays a model runs on, shared by the commands that run one (`run`, `trace`).
struct InputArrays: ParsableArguments {
    @Option(help: "Input .npy, [T, B, I] ([B, T, I] with --batch-first, or [T, I]); token indices [T, B] for a model with an embedding or one-hot input. For an .onnx model: the graph's one input.")
    var input: String?
    @Option(help: "Initial hidden state .npy, [D*L, B, H].")
    var h0: String?
    @Option(help: "Initial cell state .npy (LSTM), [D*L, B, H].")
    var c0: String?
    @Option(help: "Each sequence's length .npy (one integer per batch row, in batch order) for a padded batch of unequal sequences: output is zero past each length, h_n/c_n at each sequence's end, as PyTorch's packed path.")
    var lengths: String?

    /// The files given, for checking that an output overwrites none of them.
    var paths: [String?] { [input, h0, c0, lengths] }

    /// The input, the initial states and the lengths, each checked (finite values; whole lengths).
    func read() throws -> (input: Tensor, h0: Tensor?, c0: Tensor?, lengths: [Int]?) {
        guard let input else { throw ValidationError("missing --input") }
        return (try readArray(input, name: "input"), try h0.map { try readArray($0, name: "h0") },
         try c0.map { try readArray($0, name: "c0") }, try lengths.map(readLengths))
    }
}

/// A command-line failure with a one-line message.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// `text` with control characters shown as `\u{…}` escapes (a key or prefix from a file), so a
/// printed line stays one line.
func escaped(_ text: String) -> String {
    text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16, uppercase: true))}" : String($0) }.joined()
}

/// Throws unless `value` lies in `range`, naming the option.
func checkCount(_ option: String, _ value: Int, in range: ClosedRange<Int>) throws {
    guard range.contains(value) else {
        throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
    }
}

/// Throws unless `value` is finite and positive (or, with `positive: false`, at least 0), naming the option.
func checkFloat(_ option: String, _ value: Float, positive: Bool) throws {
    guard value.isFinite, positive ? value > 0 : value >= 0 else {
        throw ValidationError("\(option) must be a finite number \(positive ? "> 0" : "≥ 0"), got \(value)")
    }
}

/// Reads a lengths .npy file: a vector of whole numbers (integer or float dtype), at least 1 each.
func readLengths(_ path: String) throws -> [Int] {
    let data = try NPY.read(from: URL(fileURLWithPath: path))
    guard data.shape.count == 1 else { throw CommandError("\(path): lengths must be a vector [B], got shape \(data.shape)") }
    return try data.scalars.enumerated().map { i, v in
        guard v.isFinite, v == v.rounded(), v >= 1, v <= Float(1 << 30) else {
            throw CommandError("\(path): length \(v) of sequence \(i) is not a whole number of at least 1")
        }
        return Int(v)
    }
}

/// Reads a float .npy file as a tensor, rejecting non-finite values.
func readArray(_ path: String, name: String) throws -> Tensor {
    let data = try NPY.read(from: URL(fileURLWithPath: path))
    if let bad = data.scalars.firstIndex(where: { !$0.isFinite }) {
        throw CommandError("\(path): \(name) element \(bad) is \(data.scalars[bad]); every value must be finite")
    }
    return Tensor(shape: data.shape, scalars: data.scalars)
}

/// `recurrent inspect`: what a model file holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's architecture, tensors and parameter count.")

    @OptionGroup var options: ModelOptions

    func run() throws {
        if try inspectConvModel(options) { return }  // ConvModelCommands.swift
        let url = URL(fileURLWithPath: options.model)
        if options.isONNX { return try inspectONNX(options) }
        let file = try SafeTensorsFile.read(from: url)
        let model = try options.load()
        let source = file.metadata["format"] == "recurrent" ? "from metadata" : "inferred from key names and shapes"
        print(escaped("\(url.lastPathComponent): \(model.architecture) (\(source))"))
        let width = max(file.tensors.keys.map { escaped($0).count }.max() ?? 0, 4)
        print("name".padding(toLength: width, withPad: " ", startingAt: 0) + "  dtype  shape")
        for name in file.tensors.keys.sorted() {
            let t = file.tensors[name]!
            print(escaped(name).padding(toLength: width, withPad: " ", startingAt: 0) + "  \(t.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0))  \(t.shape)")
        }
        print("parameters: \(model.parameterCount)")
    }
}

/// `recurrent run`: the model's outputs for an input, in evaluation mode.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on an input and write output, h_n, c_n (LSTM) and prediction (with a head).",
        discussion: "With --output OUT.npy only `output` (the recurrent layer's output, as PyTorch returns it) is written.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var arrays: InputArrays
    @Option(name: .customLong("feed"), help: "For an .onnx model: a graph input, NAME=FILE.npy (repeat for each input; integer inputs such as sequence_lens as int32 or int64 arrays).")
    var feeds: [String] = []
    @Option(help: "Where to write: .safetensors (all outputs; an .onnx graph's under their ONNX names) or .npy (output only).")
    var output: String

    func validate() throws {
        guard output.hasSuffix(".safetensors") || output.hasSuffix(".npy") else {
            throw ValidationError("--output must end in .safetensors or .npy, got '\(output)'")
        }
        if options.isONNX {
            guard (arrays.input == nil) != feeds.isEmpty else { throw ValidationError("give an .onnx model either --input (its one graph input) or --feed NAME=FILE.npy for each input") }
            guard arrays.h0 == nil, arrays.c0 == nil, arrays.lengths == nil else { throw ValidationError("for an .onnx model, give the graph's inputs with --feed NAME=FILE.npy (not --h0, --c0, --lengths)") }
        } else {
            guard feeds.isEmpty else { throw ValidationError("--feed applies to .onnx models; give this model --input") }
            guard arrays.input != nil else { throw ValidationError("missing --input") }
        }
    }

    func run() throws {
        if options.isONNX { return try runONNX(options, input: arrays.input, feeds: feeds, output: output) }
        try checkDistinct(output: output, from: [options.model] + arrays.paths)
        if try runConvModel(options, arrays, output: output) { return }  // ConvModelCommands.swift
        let model = try options.load()
        model.eval()
        let (x, h, c, l) = try arrays.read()
        let r = try withoutGradients { try model(x, h0: h, c0: c, lengths: l) }
        // A finite input can still overflow (a value of 3e38 times a weight): refuse to write infinities or NaNs.
        for (name, t) in [("output", r.output), ("h_n", r.h), ("c_n", r.c), ("prediction", r.prediction)] {
            if let t, let bad = t.scalars.firstIndex(where: { !$0.isFinite }) {
                throw CommandError("the model's \(name) is \(t.scalars[bad]) at flat index \(bad) (an overflow: check the input's scale); nothing written")
            }
        }
        let url = URL(fileURLWithPath: output)
        if output.hasSuffix(".npy") {
            try NPY.write(TensorData(shape: r.output.shape, scalars: r.output.scalars), to: url)
        } else {
            var tensors = ["output": r.output, "h_n": r.h]
            if let c = r.c { tensors["c_n"] = c }
            if let p = r.prediction { tensors["prediction"] = p }
            try SafeTensorsFile(tensors: tensors.mapValues { TensorData(shape: $0.shape, scalars: $0.scalars) }).write(to: url)
        }
        print("wrote \(output): " + (r.prediction.map { "prediction \($0.shape), " } ?? "") + "output \(r.output.shape), h_n \(r.h.shape)" + (r.c.map { ", c_n \($0.shape)" } ?? ""))
    }
}

/// `recurrent fit`: trains a model on given data and writes the trained weights.
struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on input/target arrays and write the trained weights with the same keys.",
        discussion: """
            With --steps N and no --batch-size, takes N full-batch steps without shuffling, so the \
            result equals PyTorch doing the same steps. With --epochs E --batch-size B, shuffles \
            mini-batches with --seed and shows a progress bar.
            """)

    @OptionGroup var options: ModelOptions
    @Option(help: "Input .npy.") var input: String
    @Option(help: "Target .npy: the prediction's shape (mse), or class indices (cross-entropy).") var target: String
    @Option(help: "Initial hidden state .npy.") var h0: String?
    @Option(help: "Initial cell state .npy (LSTM).") var c0: String?
    @Option(help: "Each sequence's length .npy (one integer per batch row) for a padded batch of unequal sequences; the loss then reads only the steps each sequence has.") var lengths: String?
    @Option(help: "mse or cross-entropy.") var loss = "mse"
    @Option(help: "sgd, adam or adamw.") var optimizer = "adam"
    @Option(name: .customLong("lr"), help: "Learning rate.") var learningRate: Float = 1e-3
    @Option(help: "SGD momentum.") var momentum: Float = 0
    @Option(help: "Weight decay (default: 0, or 0.01 for adamw).") var weightDecay: Float?
    @Option(help: "Number of updates.") var steps: Int?
    @Option(help: "Passes over the data (with --batch-size).") var epochs: Int?
    @Option(help: "Sequences per mini-batch.") var batchSize: Int?
    @Option(help: "Clip the total gradient norm to this value before each update.") var clipGradNorm: Float?
    @Option(help: "Seed for shuffling.") var seed: UInt64 = 0
    @Option(help: "Where to write the trained model (.safetensors); may be the model file itself (training in place, written atomically), never one of the arrays.") var output: String

    func validate() throws {
        guard FitConfiguration.Loss(rawValue: loss) != nil else { throw ValidationError("--loss must be mse or cross-entropy, got '\(loss)'") }
        guard FitConfiguration.OptimizerKind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer must be sgd, adam or adamw, got '\(optimizer)'") }
        guard steps != nil || epochs != nil else { throw ValidationError("give --steps N, or --epochs E with --batch-size B") }
        guard !(steps != nil && epochs != nil) else { throw ValidationError("give either --steps or --epochs, not both") }
        guard epochs == nil || batchSize != nil else { throw ValidationError("--epochs needs --batch-size") }
        for (name, value, limit) in [("--steps", steps, maxFitUpdates), ("--epochs", epochs, 1_000_000), ("--batch-size", batchSize, 1 << 24)] {
            if let value { try checkCount(name, value, in: 1...limit) }
        }
        try checkFloat("--lr", learningRate, positive: true)
        try checkFloat("--momentum", momentum, positive: false)
        if let weightDecay { try checkFloat("--weight-decay", weightDecay, positive: false) }
        if let clipGradNorm { try checkFloat("--clip-grad-norm", clipGradNorm, positive: true) }
        guard momentum == 0 || optimizer == "sgd" else { throw ValidationError("--momentum applies to --optimizer sgd only") }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors, got '\(output)'") }
    }

    func run() throws {
        try checkDistinct(output: output, from: [input, target, h0, c0, lengths])
        if try fitConvModel(self) { return }  // ConvModelCommands.swift
        let model = try options.load()
        let x = try readArray(input, name: "input"), y = try readArray(target, name: "target")
        let h = try h0.map { try readArray($0, name: "h0") }, c = try c0.map { try readArray($0, name: "c0") }
        var config = FitConfiguration()
        config.loss = FitConfiguration.Loss(rawValue: loss)!
        config.optimizer = FitConfiguration.OptimizerKind(rawValue: optimizer)!
        config.learningRate = learningRate
        config.momentum = momentum
        config.weightDecay = weightDecay
        config.steps = steps
        config.epochs = epochs
        config.batchSize = batchSize
        config.clipGradNorm = clipGradNorm
        config.seed = seed
        var bar: ProgressBar?
        let l = try lengths.map(readLengths)
        let losses = try Recurrent.fit(model, input: x, target: y, h0: h, c0: c, lengths: l, configuration: config) { step, total, loss in
            if step == 0 { bar = ProgressBar(total: total, label: "fit") } else { bar?.update(step, loss: loss) }
        }
        try model.save(to: URL(fileURLWithPath: output))
        print("trained \(losses.count) updates: loss \(losses.first ?? .nan) -> \(losses.last ?? .nan); wrote \(output)")
    }
}
