import Foundation

/// A convolutional recurrent layer run over a sequence: what model files, `fit` and the frame
/// predictor need of ``ConvLSTM``, ``ConvGRU`` and ``SepConvGRU``.
protocol ConvSequenceLayer: Module {
    /// Runs the layer over `x` `[T, B, Cᵢ, H, W]` (`[B, T, …]` batch-first) from `h0` / `c0`
    /// `[L, B, Cₕ, H, W]` (zeros when nil): `output` `[T, B, Cₕ, H, W]` (laid out like `x`), the
    /// final `h` and, for a ConvLSTM, `c`, each `[L, B, Cₕ, H, W]`.
    func runSequence(_ x: Tensor, h0: Tensor?, c0: Tensor?) throws -> (output: Tensor, h: Tensor, c: Tensor?)
}

/// A convolutional recurrent layer (``ConvLSTM``, ``ConvGRU`` or ``SepConvGRU``) saved as one
/// safetensors file, under PyTorch's key names, with `__metadata__` recording the architecture.
///
/// A plain PyTorch `state_dict` of one such module loads too (see
/// ``ConvModelArchitecture/init(inferringFrom:batchFirst:)``): RAFT's update-block GRU
/// (`update_block.gru.convz1.weight`, …) or an ndrplz-style ConvLSTM (`cell_list.0.conv.weight`, …).
///
/// ```swift
/// let model = try ConvRecurrentModel.load(from: URL(fileURLWithPath: "gru.safetensors"))
/// let (output, h, _) = try model(x)           // x [T, B, Cᵢ, H, W] → output [T, B, Cₕ, H, W], h [1, B, Cₕ, H, W]
/// ```
public final class ConvRecurrentModel: Module {
    /// What the model is.
    public let architecture: ConvModelArchitecture
    let layer: any ConvSequenceLayer
    /// Extra string metadata saved with the model (keys must not be the architecture's own).
    public var annotations: [String: String] = [:]

    /// Builds a freshly initialised model of `architecture` (PyTorch's initialisation of each
    /// `Conv2d`, from the global generator).
    /// - Precondition: `architecture` is valid (see ``ConvModelArchitecture/validate()``).
    public init(_ architecture: ConvModelArchitecture) {
        self.architecture = architecture
        layer = makeConvSequenceLayer(architecture)
    }

    /// The parameters under the file's key names.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        layer.namedParameters.map { (architecture.prefix + fileName(ofLayerKey: $0.name), $0.tensor) }
    }

    /// A layer's key as the file names it: a single cell's keys sit directly under the prefix
    /// (`conv.weight`, RAFT's `convz1.weight`), a layer's under `cell_list.{l}.`.
    private func fileName(ofLayerKey name: String) -> String {
        guard !architecture.cellList, name.hasPrefix("cell_list.0.") else { return name }
        return String(name.dropFirst("cell_list.0.".count))
    }

    /// Training mode.
    public var isTraining: Bool {
        get { layer.isTraining }
        set { layer.isTraining = newValue }
    }

    /// Runs the layer over a sequence.
    ///
    /// - Parameters:
    ///   - input: `[T, B, Cᵢ, H, W]` (`[B, T, Cᵢ, H, W]` when batch-first).
    ///   - h0: the initial hidden state `[L, B, Cₕ, H, W]`, or `[B, Cₕ, H, W]` for one layer (RAFT's
    ///     `h`); zeros when nil.
    ///   - c0: a ConvLSTM's initial cell state, shaped like `h0`.
    /// - Returns: `output` `[T, B, Cₕ, H, W]` (laid out like the input), `h` and (ConvLSTM) `c`
    ///   `[L, B, Cₕ, H, W]`.
    /// - Throws: ``RecurrentError`` naming the expected and actual shapes: an input that is not
    ///   rank 5 or has another channel count, a state whose batch, channels or frame size differ
    ///   from the input's, `c0` for a GRU, or a frame that does not fit the peepholes.
    public func callAsFunction(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil) throws -> (output: Tensor, h: Tensor, c: Tensor?) {
        let a = architecture
        guard input.rank == 5 else {
            throw RecurrentError.shapeMismatch("\(a.kind.displayName): the input must be [T, B, C, H, W] (rank 5\(a.batchFirst ? ", batch-first [B, T, C, H, W]" : "")), got \(input.shape)")
        }
        let (T, B) = a.batchFirst ? (input.shape[1], input.shape[0]) : (input.shape[0], input.shape[1])
        let (C, H, W) = (input.shape[2], input.shape[3], input.shape[4])
        guard C == a.inputChannels else {
            throw RecurrentError.shapeMismatch("\(a.kind.displayName): the input \(input.shape) has \(C) channels, the model reads \(a.inputChannels)")
        }
        guard T > 0, B > 0, H > 0, W > 0 else { throw RecurrentError.shapeMismatch("\(a.kind.displayName): the input \(input.shape) is empty") }
        if a.peephole, let frame = a.frameSize, frame != [H, W] {
            throw RecurrentError.shapeMismatch("\(a.kind.displayName): frames of \(H)×\(W) do not fit the peepholes' \(frame[0])×\(frame[1])")
        }
        if c0 != nil && a.kind != .convLSTM {
            throw RecurrentError.shapeMismatch("c0 given, but the model is a \(a.kind.displayName) (only a ConvLSTM has a cell state)")
        }
        let expected = [a.numLayers, B, a.hiddenChannels, H, W]
        func state(_ t: Tensor?, _ name: String) throws -> Tensor? {
            guard let t else { return nil }
            if t.shape == expected { return t }
            if a.numLayers == 1 && t.shape == Array(expected.dropFirst()) { return t.reshaped(expected) }
            throw RecurrentError.shapeMismatch("\(name) must be \(expected)" + (a.numLayers == 1 ? " or \(Array(expected.dropFirst()))" : "")
                + " ([layers, batch, hidden channels, H, W] for the input \(input.shape)), got \(t.shape)")
        }
        return try layer.runSequence(input, h0: try state(h0, "h0"), c0: try state(c0, "c0"))
    }

    /// Whether `file` holds a convolutional model: Recurrent's metadata says so, or, without it,
    /// the keys are a convolutional recurrent module's (see ``ConvModelArchitecture/recognises(_:)``).
    public static func describes(_ file: SafeTensorsFile) -> Bool {
        file.metadata["format"] == "recurrent" ? ConvModelArchitecture.describes(metadata: file.metadata)
            : ConvModelArchitecture.recognises(file.tensors)
    }

    /// Loads a model file: Recurrent's own (architecture from `__metadata__`) or a plain PyTorch
    /// `state_dict` of one module (architecture inferred; `batchFirst` from the argument, which
    /// also overrides what a file records). Sizes are checked and the tensors' names and shapes
    /// compared with the architecture before the model is built; a non-finite weight is refused.
    /// - Throws: ``FileFormatError`` or ``ModelFileError``, each naming the file.
    public static func load(from url: URL, batchFirst: Bool? = nil) throws -> ConvRecurrentModel {
        try load(SafeTensorsFile.read(from: url), name: url.lastPathComponent, batchFirst: batchFirst)
    }

    /// Loads a model from a file already read (see ``load(from:batchFirst:)``); `name` prefixes errors.
    public static func load(_ file: SafeTensorsFile, name: String, batchFirst: Bool? = nil) throws -> ConvRecurrentModel {
        do {
            var architecture = try ConvModelArchitecture(metadata: file.metadata)
                ?? ConvModelArchitecture(inferringFrom: file.tensors, batchFirst: batchFirst ?? false)
            if let batchFirst { architecture.batchFirst = batchFirst }
            try architecture.validate()
            try architecture.check(file.tensors)
            let model = ConvRecurrentModel(architecture)
            try model.loadStateDict(file.tensors)
            model.annotations = file.metadata.filter { !ConvModelArchitecture.metadataKeys.contains($0.key) }
            return model
        } catch let error as ModelFileError {
            throw ModelFileError("\(name): \(error.message)")
        } catch let error as StateDictError {
            throw ModelFileError("\(name): \(error.description)")
        }
    }

    /// Writes the weights (F32), the architecture and the ``annotations`` as `__metadata__`, atomically.
    public func save(to url: URL) throws {
        try SafeTensorsFile(tensors: stateDict(), metadata: annotations.merging(architecture.metadata) { _, own in own }).write(to: url)
    }
}
