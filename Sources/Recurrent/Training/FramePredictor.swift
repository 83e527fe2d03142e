import Foundation

/// Next-frame prediction with an encoder–forecaster of convolutional recurrent layers (Shi et al.
/// 2015, "Convolutional LSTM Network", §3.2 and §4.1, with the conditional forecaster of
/// Srivastava et al. 2015, §2.3).
///
/// 1. Each `S × S` frame is cut into `p × p` patches, which become channels: `[1, S, S]` →
///    `[p², S/p, S/p]` (Shi et al. turn 64×64 frames into 16×16 maps of 16 channels so).
/// 2. The encoder (``ConvLSTM`` or ``ConvGRU``) reads the input frames.
/// 3. The forecaster, the same kind and size, starts from the encoder's final states; at each
///    step it reads the frame before the one it predicts: the last input frame first, then, in
///    training, the true frames (teacher forcing) and, when predicting, its own predictions.
/// 4. A 1×1 ``Conv2d`` readout turns each forecaster output, beside the frame it read (a skip
///    connection, so that copying the last frame is one linear map away and the recurrent layers
///    learn the motion), into `p²` channels; a sigmoid makes them pixel values in (0, 1), and the
///    patches are put back into frames.
///
/// ```swift
/// let model = FramePredictor(FramePredictor.Configuration())         // ConvLSTM, 64×64 frames, 4×4 patches
/// var optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
/// let frames = source.batch(16, frames: 20)                          // MovingDigits: [20, 16, 1, 64, 64]
/// let (input, future) = (frames.narrowed(axis: 0, start: 0, length: 10), frames.narrowed(axis: 0, start: 10, length: 10))
/// optimizer.zeroGrad()
/// try model.loss(input: input, future: future).backward()            // binary cross-entropy per pixel
/// optimizer.step()
/// let predicted = try withoutGradients { try model(input, futureFrames: 10) }   // [10, 16, 1, 64, 64]
/// ```
///
/// Saved as one safetensors file: the encoder under `encoder.`, the forecaster under
/// `forecaster.`, the readout (`[p², Cₕ + p², 1, 1]`) under `readout.`, the configuration in `__metadata__`
/// (`format` `recurrent-frame-predictor`).
public final class FramePredictor: Module {
    /// The sizes.
    public struct Configuration: Sendable, Equatable {
        /// `convlstm` or `convgru` (RAFT's ConvGRU: one layer).
        public var cell: ConvModelArchitecture.Kind = .convLSTM
        /// `S`: the frames' side.
        public var frameSize = 64
        /// `p`: the side of the patches that become channels (`S` must be a multiple).
        public var patchSize = 4
        /// Channels of each layer's hidden state.
        public var hiddenChannels = 32
        /// Stacked layers in the encoder and in the forecaster (ConvLSTM).
        public var numLayers = 1
        /// The recurrent convolutions' kernel side (odd).
        public var kernelSize = 3

        /// The default: one ConvLSTM layer of 32 channels, 3×3 kernels, 64×64 frames as 16×16 maps of 16 channels.
        public init() {}

        /// `S / p`: the side of the maps the recurrent layers see.
        public var mapSize: Int { frameSize / patchSize }

        /// Checks every size (they may come from a command line or a file).
        /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the size.
        public func validate() throws {
            guard cell != .sepConvGRU else { throw RecurrentError.invalidValue("FramePredictor: the cell must be convlstm or convgru") }
            guard (1...1024).contains(frameSize), (1...64).contains(patchSize), frameSize % patchSize == 0 else {
                throw RecurrentError.invalidValue("FramePredictor: the frame size \(frameSize) must be a multiple of the patch size \(patchSize) (frames at most 1024, patches at most 64)")
            }
            guard (1...4096).contains(hiddenChannels) else { throw RecurrentError.invalidValue("FramePredictor: hidden channels must be in 1...4096, got \(hiddenChannels)") }
            guard (1...(cell == .convLSTM ? 16 : 1)).contains(numLayers) else {
                throw RecurrentError.invalidValue("FramePredictor: layers must be in 1...\(cell == .convLSTM ? 16 : 1) for \(cell.displayName), got \(numLayers)")
            }
            guard kernelSize % 2 == 1, (1...15).contains(kernelSize), cell == .convLSTM || kernelSize == 3 else {
                throw RecurrentError.invalidValue("FramePredictor: the kernel size must be odd, 1 to 15 (3 for RAFT's ConvGRU), got \(kernelSize)")
            }
        }
    }

    /// The sizes.
    public let configuration: Configuration
    /// Reads the input frames' patches: `p²` channels in.
    public let encoder: ConvRecurrentModel
    /// Runs on from the encoder's states, reading the frame before each one it predicts (`p²` channels in).
    public let forecaster: ConvRecurrentModel
    /// 1×1, the forecaster's hidden channels and the `p²` channels of the frame it read → `p²` pixel logits.
    public let readout: Conv2d
    /// Training mode.
    public var isTraining = true

    /// A freshly initialised model.
    /// - Precondition: `configuration` is valid (``Configuration/validate()``).
    public init(_ configuration: Configuration) {
        precondition((try? configuration.validate()) != nil, "FramePredictor: invalid configuration \(configuration)")
        self.configuration = configuration
        let c = configuration, patch = c.patchSize * c.patchSize
        encoder = ConvRecurrentModel(ConvModelArchitecture(kind: c.cell, inputChannels: patch, hiddenChannels: c.hiddenChannels,
                                                           kernelSize: c.kernelSize, numLayers: c.numLayers, prefix: "encoder."))
        forecaster = ConvRecurrentModel(ConvModelArchitecture(kind: c.cell, inputChannels: patch, hiddenChannels: c.hiddenChannels,
                                                              kernelSize: c.kernelSize, numLayers: c.numLayers, prefix: "forecaster."))
        readout = Conv2d(inChannels: c.hiddenChannels + patch, outChannels: patch, kernelSize: 1)
    }

    /// The encoder's, the forecaster's and the readout's parameters under their file names.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        encoder.namedParameters + forecaster.namedParameters + prefixed("readout", readout.namedParameters)
    }

    private func checkInput(_ input: Tensor) throws {
        let c = configuration
        guard input.rank == 5, input.shape[2] == 1, input.shape[3] == c.frameSize, input.shape[4] == c.frameSize, input.shape[0] > 0, input.shape[1] > 0 else {
            throw RecurrentError.shapeMismatch("FramePredictor: the input must be [T, B, 1, \(c.frameSize), \(c.frameSize)] with T, B ≥ 1, got \(input.shape)")
        }
    }

    /// The readout's logits `[T', B, p², m, m]` for forecaster outputs `[T', B, Cₕ, m, m]` and the
    /// frames it read `[T', B, p², m, m]`.
    private func readoutLogits(_ output: Tensor, read frames: Tensor) throws -> Tensor {
        let (T, B, m, patch) = (output.shape[0], output.shape[1], configuration.mapSize, configuration.patchSize * configuration.patchSize)
        let both = concat([output, frames], axis: 2).reshaped([T * B, configuration.hiddenChannels + patch, m, m])
        return try readout(both).reshaped([T, B, patch, m, m])   // [T·B, p², m, m] per step
    }

    /// The logits of each future frame in patches, `[T', B, p², S/p, S/p]`, with the forecaster
    /// reading the true frames before them (teacher forcing): what training compares with `future`.
    /// - Throws: ``RecurrentError/shapeMismatch(_:)`` unless `input` is `[T, B, 1, S, S]` and
    ///   `future` `[T', B, 1, S, S]`.
    public func logits(_ input: Tensor, future: Tensor) throws -> Tensor {
        try checkInput(input)
        try checkInput(future)
        guard future.shape[1] == input.shape[1] else {
            throw RecurrentError.shapeMismatch("FramePredictor: the future frames \(future.shape) must have the input's batch (\(input.shape))")
        }
        let p = configuration.patchSize, T = future.shape[0]
        let seen = try encoder(framesToPatches(input, patchSize: p))
        let last = input.narrowed(axis: 0, start: input.shape[0] - 1, length: 1)
        let before = T == 1 ? last : concat([last, future.narrowed(axis: 0, start: 0, length: T - 1)], axis: 0)
        let read = framesToPatches(before, patchSize: p)
        let (output, _, _) = try forecaster(read, h0: seen.h, c0: seen.c)
        return try readoutLogits(output, read: read)
    }

    /// The predicted future frames `[T', B, 1, S, S]`, pixels in (0, 1), after `input` `[T, B, 1, S, S]`:
    /// each predicted frame is the forecaster's input for the next.
    public func callAsFunction(_ input: Tensor, futureFrames: Int) throws -> Tensor {
        try checkInput(input)
        guard futureFrames > 0 else { throw RecurrentError.invalidValue("FramePredictor: futureFrames must be positive, got \(futureFrames)") }
        let p = configuration.patchSize
        var (_, h, c) = try encoder(framesToPatches(input, patchSize: p))
        var frame = framesToPatches(input.narrowed(axis: 0, start: input.shape[0] - 1, length: 1), patchSize: p)   // [1, B, p², m, m]
        var predicted: [Tensor] = []
        for _ in 0..<futureFrames {
            let step = try forecaster(frame, h0: h, c0: c)
            (h, c) = (step.h, step.c)
            frame = sigmoid(try readoutLogits(step.output, read: frame))
            predicted.append(frame)
        }
        return patchesToFrames(concat(predicted, axis: 0), patchSize: p)
    }

    /// The mean binary cross-entropy between the predicted pixels and `future` `[T', B, 1, S, S]`
    /// (pixels in [0, 1]), the loss of Shi et al. and Srivastava et al., from the logits `z`:
    /// `max(z, 0) − z·y + log(1 + e^(−|z|))` (PyTorch's `binary_cross_entropy_with_logits`).
    public func loss(input: Tensor, future: Tensor) throws -> Tensor {
        guard future.rank == 5, future.shape[1...] == input.shape[1...] else {
            throw RecurrentError.shapeMismatch("FramePredictor: the future frames \(future.shape) must be [T', B, 1, S, S] like the input \(input.shape)")
        }
        let z = try logits(input, future: future)
        let y = framesToPatches(future, patchSize: configuration.patchSize)
        let magnitude = relu(z) + relu(Tensor(0) - z)
        return (relu(z) - z * y + log(exp(Tensor(0) - magnitude) + 1)).mean()
    }

    /// Writes the parameters and the configuration, atomically.
    public func save(to url: URL) throws {
        let c = configuration
        let metadata = ["format": "recurrent-frame-predictor", "cell": c.cell.rawValue, "frame_size": "\(c.frameSize)",
                        "patch_size": "\(c.patchSize)", "hidden_channels": "\(c.hiddenChannels)", "num_layers": "\(c.numLayers)",
                        "kernel_size": "\(c.kernelSize)"]
        try SafeTensorsFile(tensors: stateDict(), metadata: metadata).write(to: url)
    }

    /// Reads a file written by ``save(to:)``.
    /// - Throws: ``FileFormatError`` or ``ModelFileError`` naming the file: no such metadata, a size
    ///   out of range, missing or unexpected keys, wrong shapes or non-finite weights.
    public static func load(from url: URL) throws -> FramePredictor {
        let file = try SafeTensorsFile.read(from: url), m = file.metadata, name = url.lastPathComponent
        guard m["format"] == "recurrent-frame-predictor" else { throw ModelFileError("\(name): not a frame predictor (metadata 'format' is \(shown(m["format"] ?? "absent")))") }
        var c = Configuration()
        guard let cell = m["cell"].flatMap(ConvModelArchitecture.Kind.init(rawValue:)) else { throw ModelFileError("\(name): metadata 'cell' must be convlstm or convgru") }
        c.cell = cell
        for (key, path) in [("frame_size", \Configuration.frameSize), ("patch_size", \.patchSize), ("hidden_channels", \.hiddenChannels),
                            ("num_layers", \.numLayers), ("kernel_size", \.kernelSize)] as [(String, WritableKeyPath<Configuration, Int>)] {
            guard let v = m[key].flatMap({ Int($0) }) else { throw ModelFileError("\(name): metadata '\(key)' is missing or not a number") }
            c[keyPath: path] = v
        }
        do { try c.validate() } catch { throw ModelFileError("\(name): \(error)") }
        let model = FramePredictor(c)
        do { try model.loadStateDict(file.tensors) } catch let error as StateDictError { throw ModelFileError("\(name): \(error.description)") }
        return model
    }
}

/// Frames `[T, B, 1, S, S]` as patch channels `[T, B, p², S/p, S/p]`: channel `py·p + px` of map
/// position `(gy, gx)` is pixel `(gy·p + py, gx·p + px)` (PyTorch's `pixel_unshuffle(x, p)` on each frame).
/// Data only: no gradient flows through it.
public func framesToPatches(_ frames: Tensor, patchSize p: Int) -> Tensor {
    let (T, B, S) = (frames.shape[0], frames.shape[1], frames.shape[3])
    precondition(frames.rank == 5 && frames.shape[2] == 1 && frames.shape[4] == S && S % p == 0, "framesToPatches: \(frames.shape) is not [T, B, 1, S, S] with S a multiple of \(p)")
    let m = S / p, x = frames.scalars
    var out = [Float](repeating: 0, count: x.count)
    for f in 0..<(T * B) {
        let base = f * S * S
        for py in 0..<p { for px in 0..<p { for gy in 0..<m { for gx in 0..<m {
            out[base + ((py * p + px) * m + gy) * m + gx] = x[base + (gy * p + py) * S + gx * p + px]
        } } } }
    }
    return Tensor(shape: [T, B, p * p, m, m], scalars: out)
}

/// The inverse of ``framesToPatches(_:patchSize:)``: `[T, B, p², m, m]` → `[T, B, 1, m·p, m·p]`
/// (`pixel_shuffle`). Data only.
public func patchesToFrames(_ patches: Tensor, patchSize p: Int) -> Tensor {
    let (T, B, m) = (patches.shape[0], patches.shape[1], patches.shape[3])
    precondition(patches.rank == 5 && patches.shape[2] == p * p && patches.shape[4] == m, "patchesToFrames: \(patches.shape) is not [T, B, \(p * p), m, m]")
    let S = m * p, x = patches.scalars
    var out = [Float](repeating: 0, count: x.count)
    for f in 0..<(T * B) {
        let base = f * S * S
        for py in 0..<p { for px in 0..<p { for gy in 0..<m { for gx in 0..<m {
            out[base + (gy * p + py) * S + gx * p + px] = x[base + ((py * p + px) * m + gy) * m + gx]
        } } } }
    }
    return Tensor(shape: [T, B, 1, S, S], scalars: out)
}

extension FramePredictor {
    /// Scores the model on test sequences, in evaluation mode, `batchSize` sequences at a time.
    ///
    /// - Parameters:
    ///   - frames: `[T, N, 1, S, S]`: the first `inputFrames` are seen, the rest predicted.
    /// - Returns: the per-frame MSE of the model's prediction and of the copy-the-last-frame
    ///   baseline (``copyLastFrame(_:count:)``), each `T − inputFrames` values averaged over the
    ///   `N` sequences, and the prediction `[T − inputFrames, N, 1, S, S]`.
    /// - Throws: ``RecurrentError`` when `inputFrames` leaves no frame to see or to predict, or the
    ///   frames do not fit the model.
    public func evaluate(_ frames: Tensor, inputFrames: Int, batchSize: Int = 16) throws
        -> (model: [Float], baseline: [Float], prediction: Tensor)
    {
        guard frames.rank == 5, (1..<frames.shape[0]).contains(inputFrames), frames.shape[1] > 0, batchSize > 0 else {
            throw RecurrentError.shapeMismatch("FramePredictor.evaluate: frames [T, N, 1, S, S] with 0 < inputFrames < T and N ≥ 1, got \(frames.shape) and inputFrames \(inputFrames)")
        }
        let wasTraining = isTraining
        eval()
        defer { isTraining = wasTraining }
        let (T, N) = (frames.shape[0], frames.shape[1]), future = T - inputFrames
        var parts: [Tensor] = []
        for start in stride(from: 0, to: N, by: batchSize) {
            let batch = frames.narrowed(axis: 1, start: start, length: min(batchSize, N - start))
            parts.append(try withoutGradients { try self(batch.narrowed(axis: 0, start: 0, length: inputFrames), futureFrames: future) })
        }
        let prediction = concat(parts, axis: 1)
        let truth = frames.narrowed(axis: 0, start: inputFrames, length: future)
        let baseline = try copyLastFrame(frames.narrowed(axis: 0, start: 0, length: inputFrames), count: future)
        return (try frameMSE(prediction, truth), try frameMSE(baseline, truth), prediction)
    }
}
