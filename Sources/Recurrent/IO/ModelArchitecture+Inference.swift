extension ModelArchitecture {
    /// Infers the architecture of a plain PyTorch `state_dict` from its key names and shapes.
    ///
    /// The recurrent layer is found by its `weight_ih_l0` key (under any module prefix, such as
    /// `rnn.`). Beside it, a model may hold an `nn.Embedding` (`X.weight` `[V, I]`, no bias, with
    /// `I` the layer's input size) and a `Linear` head (`Y.weight` `[out, D·Hₒ]`, `Y.bias`).
    /// `nonlinearity`, `batchFirst` and `headPlacement` cannot be inferred and take the given values.
    /// Peepholes (`weight_peephole_l0`) and layer norm (`ln_weight_ih_l0`) are found by their keys.
    public init(inferringFrom tensors: [String: TensorData], nonlinearity: Nonlinearity = .tanh, batchFirst: Bool = false,
                headPlacement: HeadPlacement = .everyStep) throws {
        let anchors = tensors.keys.filter { $0 == "weight_ih_l0" || $0.hasSuffix(".weight_ih_l0") }.sorted()
        guard anchors.count == 1, let anchor = anchors.first else {
            throw ModelFileError(anchors.isEmpty
                ? "no recurrent layer found: no key ends in 'weight_ih_l0'"
                : "more than one recurrent layer: \(anchors.map { shown($0) }.joined(separator: ", "))")
        }
        let prefix = String(anchor.dropLast("weight_ih_l0".count))
        func shape(_ key: String) -> [Int]? { tensors[prefix + key]?.shape }
        func matrix(_ key: String) throws -> [Int]? {
            guard let s = shape(key) else { return nil }
            guard s.count == 2 else { throw ModelFileError("'\(shown(prefix + key))' must be a matrix, got shape \(s)") }
            return s
        }
        guard let wih = try matrix("weight_ih_l0"), let whh = try matrix("weight_hh_l0") else {
            throw ModelFileError("'\(shown(prefix))weight_ih_l0' and '\(shown(prefix))weight_hh_l0' must both exist and be matrices")
        }
        var layers = 0
        while shape("weight_ih_l\(layers)") != nil { layers += 1 }
        let projection = try matrix("weight_hr_l0")
        let projSize = projection?[0] ?? 0
        let hidden = projection?[1] ?? whh[1]
        guard hidden > 0, wih[0] % hidden == 0 else {
            throw ModelFileError("'\(shown(prefix))weight_ih_l0' has \(wih[0]) rows, not a multiple of the hidden size \(hidden)")
        }
        let kind: Kind
        switch wih[0] / hidden {
        case 1: kind = .rnn
        case 3: kind = .gru
        case 4: kind = .lstm
        default: throw ModelFileError("'\(shown(prefix))weight_ih_l0' has \(wih[0]) rows: \(wih[0] / hidden) gates of size \(hidden) match no RNN (1), GRU (3) or LSTM (4)")
        }
        self.init(kind: kind, nonlinearity: nonlinearity, inputSize: wih[1], hiddenSize: hidden, numLayers: layers,
                  bidirectional: shape("weight_ih_l0_reverse") != nil, bias: shape("bias_ih_l0") != nil,
                  projSize: projSize, batchFirst: batchFirst, prefix: prefix, headPlacement: headPlacement)
        // The variants whose parameters name them; the rest (coupled gate, reset placement,
        // activations, clip) leave no trace in the weights and need metadata.
        options.peephole = shape("weight_peephole_l0") != nil
        options.layerNorm = shape("ln_weight_ih_l0") != nil
        try inferNeighbours(tensors)
    }

    /// The embedding and head beside the recurrent layer: the keys outside it must be one
    /// `Linear` head, one `Embedding`, or one of each.
    private mutating func inferNeighbours(_ tensors: [String: TensorData]) throws {
        let others = tensors.keys.filter { !$0.hasPrefix(prefix) || prefix.isEmpty && $0.contains(".") }.sorted()
        guard !others.isEmpty else { return }
        let matrices = others.filter { $0.hasSuffix("weight") && tensors[$0]!.shape.count == 2 }
        func modulePrefix(_ weightKey: String) -> String { String(weightKey.dropLast("weight".count)) }
        func hasBias(_ weightKey: String) -> Bool { tensors[modulePrefix(weightKey) + "bias"] != nil }
        // An embedding has no bias and as many columns as the layer has inputs; a head reads D·Hₒ.
        let embeddingFits = matrices.filter { !hasBias($0) && tensors[$0]!.shape[1] == inputSize }
        let headFits = matrices.filter { tensors[$0]!.shape[1] == outputFeatures }
        var embeddingKey: String?, headKey: String?
        switch matrices.count {
        case 1:
            if headFits.count == 1 { headKey = headFits[0] } else if embeddingFits.count == 1 { embeddingKey = embeddingFits[0] }
        case 2:
            let readings = embeddingFits.flatMap { e in headFits.filter { $0 != e }.map { (e, $0) } }
            if readings.count > 1 {
                throw ModelFileError("cannot tell the embedding from the head: '\(shown(matrices[0]))' and '\(shown(matrices[1]))' both fit either")
            }
            if let (e, h) = readings.first { (embeddingKey, headKey) = (e, h) }
        default: break
        }
        let expected = Set([embeddingKey, headKey].compactMap { $0 } + [headKey.map { modulePrefix($0) + "bias" }].compactMap { $0 })
        if let stray = others.first(where: { !expected.contains($0) }) {
            let listed = others.map { shown($0) }.joined(separator: ", ")
            throw ModelFileError(embeddingKey == nil && headKey == nil
                ? "keys outside the recurrent layer that are neither a Linear head [out, \(outputFeatures)] nor an Embedding [V, \(inputSize)]: \(listed)"
                : "unexpected key '\(shown(stray))' beside the recurrent layer" + (headKey.map { " and the head '\(shown(modulePrefix($0).dropLast()))'" } ?? "")
                    + (embeddingKey.map { " and the embedding '\(shown(modulePrefix($0).dropLast()))'" } ?? ""))
        }
        if let embeddingKey {
            inputEncoding = .embedding(prefix: modulePrefix(embeddingKey), count: tensors[embeddingKey]!.shape[0])
        }
        if let headKey {
            headPrefix = modulePrefix(headKey)
            headOutputSize = tensors[headKey]!.shape[0]
            headBias = hasBias(headKey)
        }
    }
}
