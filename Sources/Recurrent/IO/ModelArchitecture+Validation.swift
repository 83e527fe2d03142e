/// The checks between a model file and the library: every size the architecture takes from
/// metadata or from tensor shapes is bounded, and the file's tensors are compared with the
/// parameters the architecture needs, before anything is allocated.
extension ModelArchitecture {
    /// The largest input, hidden, projection, head or embedding size a model file may give (2²⁴).
    public static let maxSize = 1 << 24
    /// The most stacked layers a model file may give.
    public static let maxLayers = 1024
    /// The most parameters (Float32 values, 16 GiB) a model file may describe.
    public static let maxParameters = 1 << 32

    /// Checks the sizes before building layers (whose preconditions would otherwise stop the
    /// process): each positive and at most ``maxSize`` (layers at most ``maxLayers``), a projection
    /// only on an LSTM and smaller than the hidden size, and at most ``maxParameters`` parameters
    /// in all (counted with overflow-checked arithmetic).
    /// - Throws: ``ModelFileError`` naming the size and the limit.
    public func validate() throws {
        guard inputSize > 0, hiddenSize > 0, numLayers > 0 else {
            throw ModelFileError("sizes must be positive: input \(inputSize), hidden \(hiddenSize), layers \(numLayers)")
        }
        var sizes = [("input_size", inputSize), ("hidden_size", hiddenSize), ("proj_size", projSize), ("head_output_size", headOutputSize)]
        if case .embedding(_, let count) = inputEncoding { sizes.append(("embedding_count", count)) }
        for (name, value) in sizes where value > Self.maxSize {
            throw ModelFileError("\(name) \(value) is too large: the limit is \(Self.maxSize)")
        }
        guard numLayers <= Self.maxLayers else {
            throw ModelFileError("num_layers \(numLayers) is too large: the limit is \(Self.maxLayers)")
        }
        guard projSize >= 0, headOutputSize >= 0 else { throw ModelFileError("sizes must not be negative: proj \(projSize), head \(headOutputSize)") }
        guard projSize == 0 || (kind == .lstm && projSize < hiddenSize) else {
            throw ModelFileError("proj_size \(projSize) needs an LSTM with hidden size above it (hidden \(hiddenSize))")
        }
        guard headPrefix == nil || headOutputSize > 0 else { throw ModelFileError("the head has no outputs") }
        do { try options.validate(for: kind) } catch { throw ModelFileError("\(error)") }
        guard projSize == 0 || options.resetAfter else { throw ModelFileError("proj_size needs one recurrent product per step") }
        if case .embedding(_, let count) = inputEncoding, count <= 0 { throw ModelFileError("the embedding has no rows") }
        var total = 0
        for (_, shape) in parameterShapes {
            var count = 1, overflow = false
            for n in shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: n) }
            if !overflow { (total, overflow) = total.addingReportingOverflow(count) }
            guard !overflow, total <= Self.maxParameters else {
                throw ModelFileError("the architecture has too many parameters: the limit is \(Self.maxParameters) (\(description))")
            }
        }
    }

    /// The name and shape of every parameter, in ``RecurrentModel/namedParameters`` order, computed
    /// without allocating them. Call ``validate()`` first: the sizes are assumed in range.
    var parameterShapes: [(name: String, shape: [Int])] {
        var shapes: [(name: String, shape: [Int])] = []
        if case .embedding(let p, let count) = inputEncoding { shapes.append((p + "weight", [count, inputSize])) }
        let gates = switch kind { case .rnn: 1; case .gru: 3; case .lstm: 4 }
        let cell = options.cells(kind: kind, nonlinearity: nonlinearity, directions: 1)[0]
        let table = RecurrentStack.parameterTable(gateCount: gates, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
                                                  bias: bias, directions: bidirectional ? 2 : 1, projSize: projSize,
                                                  cellParameters: cell.ownParameters(hidden: hiddenSize))
        shapes += table.joined().map { (prefix + $0.name, $0.shape) }
        if let headPrefix {
            shapes.append((headPrefix + "weight", [headOutputSize, outputFeatures]))
            if headBias { shapes.append((headPrefix + "bias", [headOutputSize])) }
        }
        return shapes
    }

    /// Checks that `tensors` holds exactly the parameters this architecture needs, in their
    /// shapes, and only finite values, so that a model can be built and loaded from them.
    /// - Throws: ``StateDictError`` listing every missing or unexpected key and shape mismatch, or
    ///   ``ModelFileError`` naming the first non-finite value's tensor and flat index.
    func check(_ tensors: [String: TensorData]) throws {
        let expected = parameterShapes
        var error = StateDictError(missingKeys: [], unexpectedKeys: [], shapeMismatches: [])
        for (name, shape) in expected {
            guard let value = tensors[name] else {
                error.missingKeys.append(name)
                continue
            }
            if value.shape != shape { error.shapeMismatches.append("\(name): expected \(shape), got \(value.shape)") }
        }
        let names = Set(expected.map(\.name))
        error.unexpectedKeys = tensors.keys.filter { !names.contains($0) }.sorted()
        guard error.missingKeys.isEmpty, error.unexpectedKeys.isEmpty, error.shapeMismatches.isEmpty else { throw error }
        for (name, _) in expected {
            let scalars = tensors[name]!.scalars
            if let bad = scalars.firstIndex(where: { !$0.isFinite }) {
                throw ModelFileError("tensor '\(shown(name))' holds \(scalars[bad]) at flat index \(bad); every weight must be finite")
            }
        }
    }
}
