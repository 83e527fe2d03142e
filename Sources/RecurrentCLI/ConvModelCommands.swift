import ArgumentParser
import Foundation
import Recurrent

// The convolutional side of `inspect`, `run` and `fit` (ModelCommands.swift calls these first):
// a model file holding a ConvLSTM, ConvGRU or SepConvGRU (Recurrent's metadata, or a PyTorch
// state dict with their key names under any prefix), or a frame predictor written by
// `recurrent moving-digits`. Each returns false for any other file, which the dense path reads.

/// The file behind `options`, when it holds a convolutional model (or a frame predictor).
private func convolutionalFile(_ options: ModelOptions) -> SafeTensorsFile? {
    // A file that does not read as safetensors (a malformed one, an .onnx model) goes the dense
    // path, which reports it.
    guard let file = try? SafeTensorsFile.read(from: URL(fileURLWithPath: options.model)) else { return nil }
    return ConvRecurrentModel.describes(file) || file.metadata["format"] == "recurrent-frame-predictor" ? file : nil
}

/// Loads a convolutional model, refusing the options that apply to dense models only.
private func loadConvModel(_ options: ModelOptions, _ file: SafeTensorsFile) throws -> ConvRecurrentModel {
    if options.nonlinearity != nil { throw ValidationError("--nonlinearity applies to RNN models; \(options.model) is convolutional") }
    if options.head != nil { throw ValidationError("--head applies to models with a Linear head; \(options.model) is convolutional") }
    return try ConvRecurrentModel.load(file, name: URL(fileURLWithPath: options.model).lastPathComponent,
                                       batchFirst: options.batchFirst ? true : nil)
}

/// `recurrent inspect` of a convolutional model: the architecture, every tensor, the parameter count.
func inspectConvModel(_ options: ModelOptions) throws -> Bool {
    guard let file = convolutionalFile(options) else { return false }
    let url = URL(fileURLWithPath: options.model)
    let description: String, count: Int
    if file.metadata["format"] == "recurrent-frame-predictor" {
        let model = try FramePredictor.load(from: url)
        let c = model.configuration
        description = "frame predictor (\(c.frameSize)×\(c.frameSize) frames as \(c.mapSize)×\(c.mapSize) maps of \(c.patchSize * c.patchSize) channels): encoder \(model.encoder.architecture) + forecaster \(model.forecaster.architecture) + readout Conv2d(\(c.hiddenChannels) + \(c.patchSize * c.patchSize) → \(c.patchSize * c.patchSize), 1×1) at 'readout' (from metadata)"
        count = model.parameterCount
    } else {
        let model = try loadConvModel(options, file)
        description = "\(model.architecture) (\(file.metadata["format"] == "recurrent" ? "from metadata" : "inferred from key names and shapes"))"
        count = model.parameterCount
    }
    print(escaped("\(url.lastPathComponent): \(description)"))
    let width = max(file.tensors.keys.map { escaped($0).count }.max() ?? 0, 4)
    print("name".padding(toLength: width, withPad: " ", startingAt: 0) + "  dtype  shape")
    for name in file.tensors.keys.sorted() {
        let t = file.tensors[name]!
        print(escaped(name).padding(toLength: width, withPad: " ", startingAt: 0) + "  \(t.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0))  \(t.shape)")
    }
    print("parameters: \(count)")
    return true
}

/// `recurrent run` of a convolutional model: `x` `[T, B, Cᵢ, H, W]`, `h0` (and a ConvLSTM's `c0`)
/// `[L, B, Cₕ, H, W]` or `[B, Cₕ, H, W]`, zeros when absent; writes `output` `[T, B, Cₕ, H, W]`,
/// `h_n` and (ConvLSTM) `c_n`, or `output` alone to a `.npy`.
func runConvModel(_ options: ModelOptions, _ arrays: InputArrays, output: String) throws -> Bool {
    guard let file = convolutionalFile(options) else { return false }
    guard file.metadata["format"] != "recurrent-frame-predictor" else {
        throw CommandError("\(options.model) is a frame predictor written by `recurrent moving-digits` (an encoder, a forecaster and a readout); `run` takes one convolutional layer")
    }
    if arrays.lengths != nil { throw ValidationError("--lengths applies to dense models; a convolutional model runs every step of every sequence") }
    let model = try loadConvModel(options, file)
    model.eval()
    let (x, h, c, _) = try arrays.read()
    let r = try withoutGradients { try model(x, h0: h, c0: c) }
    for (name, t) in [("output", r.output), ("h_n", r.h), ("c_n", r.c)] {
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
        try SafeTensorsFile(tensors: tensors.mapValues { TensorData(shape: $0.shape, scalars: $0.scalars) }).write(to: url)
    }
    print("wrote \(output): output \(r.output.shape), h_n \(r.h.shape)" + (r.c.map { ", c_n \($0.shape)" } ?? ""))
    return true
}

/// `recurrent fit` of a convolutional model: MSE between its output and `--target` (the output's shape).
func fitConvModel(_ command: Fit) throws -> Bool {
    guard let file = convolutionalFile(command.options) else { return false }
    guard file.metadata["format"] != "recurrent-frame-predictor" else {
        throw CommandError("\(command.options.model) is a frame predictor: train it with `recurrent moving-digits`")
    }
    if command.lengths != nil { throw ValidationError("--lengths applies to dense models; a convolutional model runs every step of every sequence") }
    guard command.loss == "mse" else { throw ValidationError("--loss must be mse for a convolutional model (its output is frames, not class logits), got '\(command.loss)'") }
    let model = try loadConvModel(command.options, file)
    let x = try readArray(command.input, name: "input"), y = try readArray(command.target, name: "target")
    let h = try command.h0.map { try readArray($0, name: "h0") }, c = try command.c0.map { try readArray($0, name: "c0") }
    var config = FitConfiguration()
    config.optimizer = FitConfiguration.OptimizerKind(rawValue: command.optimizer)!
    (config.learningRate, config.momentum, config.weightDecay) = (command.learningRate, command.momentum, command.weightDecay)
    (config.steps, config.epochs, config.batchSize) = (command.steps, command.epochs, command.batchSize)
    (config.clipGradNorm, config.seed) = (command.clipGradNorm, command.seed)
    var bar: ProgressBar?
    let losses = try Recurrent.fit(model, input: x, target: y, h0: h, c0: c, configuration: config) { step, total, loss in
        if step == 0 { bar = ProgressBar(total: total, label: "fit") } else { bar?.update(step, loss: loss) }
    }
    try model.save(to: URL(fileURLWithPath: command.output))
    print("trained \(losses.count) updates: loss \(losses.first ?? .nan) -> \(losses.last ?? .nan); wrote \(command.output)")
    return true
}
