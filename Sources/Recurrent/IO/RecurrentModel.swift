import Foundation

/// A recurrent layer with an optional input encoding (embedding or one-hot, for token input) and
/// an optional `Linear` head at every step or on the last step, saved as one safetensors file
/// whose `__metadata__` records the architecture.
///
/// ```swift
/// // The row-by-row MNIST classifier of the PyTorch tutorial: LSTM(28, 64) + Linear(64, 10) on r_out[:, -1, :]
/// let model = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 28, hiddenSize: 64, batchFirst: true,
///                                              prefix: "rnn.", headPrefix: "out.", headOutputSize: 10,
///                                              headPlacement: .lastStep))
/// let logits = try model(images).prediction!    // images [B, 28, 28] → [B, 10]
/// ```
public final class RecurrentModel: Module {
    /// What the model is.
    public let architecture: ModelArchitecture
    /// The embedding for ``ModelArchitecture/InputEncoding/embedding(prefix:count:)`` input, or nil.
    public let embedding: Embedding?
    /// The recurrent layer.
    public let layer: RecurrentLayer
    /// The head, `Linear(D·Hₒ, headOutputSize)`, or nil.
    public let head: Linear?
    /// Extra string metadata saved with the model and read back by ``load(from:nonlinearity:batchFirst:headPlacement:)``
    /// (for example a vocabulary or normalisation statistics); keys must not be the architecture's own.
    public var annotations: [String: String] = [:]

    /// Builds a freshly initialised model of `architecture` (embedding from N(0, 1), the rest
    /// from U(−1/√fan, 1/√fan), as PyTorch initialises them).
    public init(_ architecture: ModelArchitecture) {
        self.architecture = architecture
        let a = architecture
        if case .embedding(_, let count) = a.inputEncoding {
            embedding = Embedding(count: count, dimension: a.inputSize)
        } else {
            embedding = nil
        }
        switch a.kind {
        case .rnn: layer = RNN(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, nonlinearity: a.nonlinearity,
                               bias: a.bias, batchFirst: a.batchFirst, bidirectional: a.bidirectional, options: a.options)
        case .lstm: layer = LSTM(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, bias: a.bias,
                                 batchFirst: a.batchFirst, bidirectional: a.bidirectional, projSize: a.projSize, options: a.options)
        case .gru: layer = GRU(inputSize: a.inputSize, hiddenSize: a.hiddenSize, numLayers: a.numLayers, bias: a.bias,
                               batchFirst: a.batchFirst, bidirectional: a.bidirectional, options: a.options)
        }
        head = a.headPrefix == nil ? nil : Linear(inputSize: a.outputFeatures, outputSize: a.headOutputSize, bias: a.headBias)
    }

    /// The parameters under the file's key names: the embedding's, the layer's under `prefix`,
    /// the head's under `headPrefix` (the order of a PyTorch module that declares them so).
    public var namedParameters: [(name: String, tensor: Tensor)] {
        var named: [(name: String, tensor: Tensor)] = []
        if let embedding, case .embedding(let p, _) = architecture.inputEncoding {
            named += embedding.namedParameters.map { (p + $0.name, $0.tensor) }
        }
        named += layer.namedParameters.map { (architecture.prefix + $0.name, $0.tensor) }
        if let head { named += head.namedParameters.map { (architecture.headPrefix! + $0.name, $0.tensor) } }
        return named
    }

    /// Training mode of the recurrent layer.
    public var isTraining: Bool {
        get { layer.isTraining }
        set { layer.isTraining = newValue }
    }

    /// Loads a model file: Recurrent's own (architecture from `__metadata__`), or a plain PyTorch
    /// `state_dict` (architecture inferred; `nonlinearity`, `batchFirst` and `headPlacement` from
    /// the arguments, which also override what a file records).
    ///
    /// Every size is checked (positive, at most ``ModelArchitecture/maxSize``, at most
    /// ``ModelArchitecture/maxParameters`` parameters in all), and the tensors' names and shapes
    /// against the architecture, before the model is allocated; a NaN or infinite weight is refused.
    /// - Throws: ``FileFormatError`` or ``ModelFileError``, each naming the file.
    public static func load(from url: URL, nonlinearity: Nonlinearity? = nil, batchFirst: Bool? = nil,
                            headPlacement: ModelArchitecture.HeadPlacement? = nil) throws -> RecurrentModel {
        let file = try SafeTensorsFile.read(from: url)
        do {
            var architecture = try ModelArchitecture(metadata: file.metadata)
                ?? ModelArchitecture(inferringFrom: file.tensors, nonlinearity: nonlinearity ?? .tanh, batchFirst: batchFirst ?? false,
                                     headPlacement: headPlacement ?? .everyStep)
            if let nonlinearity { architecture.nonlinearity = nonlinearity }
            if let batchFirst { architecture.batchFirst = batchFirst }
            if let headPlacement { architecture.headPlacement = headPlacement }
            try architecture.validate()
            try architecture.check(file.tensors)
            let model = RecurrentModel(architecture)
            try model.loadStateDict(file.tensors)
            model.annotations = file.metadata.filter { !ModelArchitecture.metadataKeys.contains($0.key) }
            return model
        } catch let error as ModelFileError {
            throw ModelFileError("\(url.lastPathComponent): \(error.message)")
        } catch let error as StateDictError {
            throw ModelFileError("\(url.lastPathComponent): \(error.description)")
        }
    }

    /// Writes the weights (F32), the architecture and the ``annotations`` as `__metadata__`, atomically.
    public func save(to url: URL) throws {
        let metadata = annotations.merging(architecture.metadata) { _, own in own }
        try SafeTensorsFile(tensors: stateDict(), metadata: metadata).write(to: url)
    }

    /// Runs the model.
    ///
    /// - Parameters:
    ///   - input: feature input `[T, B, I]` (`[B, T, I]` when batch-first, `[T, I]` unbatched); token
    ///     input (embedding or one-hot) `[T, B]` (`[B, T]`, or `[T]`) of indices stored as floats.
    ///   - h0: the initial hidden state as for ``LSTM`` / ``GRU`` / ``RNN`` (zeros when nil).
    ///   - c0: the initial cell state of an LSTM (zeros when nil).
    ///   - lengths: for a batch of unequal sequences padded to `T`, each one's length (in batch
    ///     order): the layer runs with PyTorch's packed semantics (see ``PackedSequence``), and a
    ///     last-step head reads each sequence's own last step.
    /// - Returns: the layer's `output`, `h`, `c` (LSTM), and `prediction`: the head applied at every
    ///   step (`[T, B, out]`, laid out like the output) or to the last step's output (`[B, out]`).
    /// - Throws: ``RecurrentError`` for a shape that does not fit or a token outside the vocabulary.
    public func callAsFunction(_ input: Tensor, h0: Tensor? = nil, c0: Tensor? = nil, lengths: [Int]? = nil) throws
        -> (output: Tensor, h: Tensor, c: Tensor?, prediction: Tensor?)
    {
        if c0 != nil && architecture.kind != .lstm { throw RecurrentError.shapeMismatch("c0 given, but the model is a \(architecture.kind.rawValue.uppercased()) (only an LSTM has a cell state)") }
        let r = try layer.stack.run(try encoded(input), h0: h0, c0: c0, layerName: architecture.kind.rawValue.uppercased(),
                                    lengths: lengths)
        guard let head else { return (r.output, r.h, r.c, nil) }
        switch architecture.headPlacement {
        case .everyStep: return (r.output, r.h, r.c, head(r.output))
        case .lastStep: return (r.output, r.h, r.c, head(lastStep(of: r.output, lengths: lengths)))
        }
    }

    /// The layer's output at the last step (each sequence's own, with `lengths`): `[B, D·Hₒ]`
    /// (`[D·Hₒ]` unbatched).
    func lastStep(of output: Tensor, lengths: [Int]? = nil) -> Tensor {
        let timeAxis = output.rank == 3 && architecture.batchFirst ? 1 : 0
        guard let lengths, output.rank == 3 else {
            return output.narrowed(axis: timeAxis, start: output.shape[timeAxis] - 1, length: 1).squeezed(at: timeAxis)
        }
        let (T, B, F) = timeAxis == 0 ? (output.shape[0], output.shape[1], output.shape[2]) : (output.shape[1], output.shape[0], output.shape[2])
        let rows = (0..<B).map { b in timeAxis == 0 ? (lengths[b] - 1) * B + b : b * T + lengths[b] - 1 }
        return Recurrent.embedding(rows, shape: [B], weight: output.reshaped([T * B, F]))
    }

    /// The recurrent layer's input: `input` itself for feature input, else its tokens embedded or one-hot.
    func encoded(_ input: Tensor) throws -> Tensor {
        guard let count = architecture.tokenCount else { return input }
        guard input.rank == 1 || input.rank == 2 else {
            throw RecurrentError.shapeMismatch("token input must be [T, B], [B, T] (batch-first) or [T] of indices, got \(input.shape)")
        }
        let tokens = try input.scalars.enumerated().map { i, v -> Int in
            guard v.isFinite, v == v.rounded(), v >= 0, v < Float(count) else {
                throw RecurrentError.invalidValue("token \(v) at flat index \(i) is not an index in 0..<\(count)")
            }
            return Int(v)
        }
        if let embedding { return embedding(tokens, shape: input.shape) }
        return oneHot(tokens, shape: input.shape, classes: count)
    }
}

/// One-hot vectors: `shape + [classes]` with a 1 at each index (`F.one_hot(indices, classes).float()`).
/// - Precondition: every index lies in `0..<classes`.
public func oneHot(_ indices: [Int], shape: [Int], classes: Int) -> Tensor {
    precondition(shape.product == indices.count, "oneHot: shape \(shape) does not hold \(indices.count) indices")
    var values = [Float](repeating: 0, count: indices.count * classes)
    for (r, index) in indices.enumerated() {
        precondition(index >= 0 && index < classes, "oneHot: index \(index) out of range 0..<\(classes)")
        values[r * classes + index] = 1
    }
    return Tensor(shape: shape + [classes], scalars: values)
}
