import Foundation

extension ConvModelArchitecture {
    /// The key that names each kind, and where it sits in a module.
    private static func anchor(_ key: String, shape: [Int]) -> (kind: Kind, prefix: String, cellList: Bool)? {
        guard shape.count == 4 else { return nil }
        func component(_ suffix: String) -> String? {
            key == suffix ? "" : key.hasSuffix("." + suffix) ? String(key.dropLast(suffix.count)) : nil
        }
        for (name, kind) in [("conv.weight", Kind.convLSTM), ("convz.weight", .convGRU), ("convz1.weight", .sepConvGRU)] {
            if let p = component("cell_list.0." + name) { return (kind, p, true) }
            // A later layer's key is not a module of its own.
            if key.range(of: #"(^|\.)cell_list\.[0-9]+\."# + name.replacingOccurrences(of: ".", with: "\\.") + "$", options: .regularExpression) != nil { return nil }
            if let p = component(name) { return (kind, p, false) }
        }
        return nil
    }

    /// Whether `tensors` holds a convolutional recurrent module's keys (a 4-D `conv.weight`,
    /// `cell_list.0.conv.weight`, `convz.weight` or `convz1.weight`, under any prefix) rather than
    /// a dense recurrent layer's (`weight_ih_l0`).
    public static func recognises(_ tensors: [String: TensorData]) -> Bool {
        !tensors.keys.contains { $0 == "weight_ih_l0" || $0.hasSuffix(".weight_ih_l0") }
            && tensors.contains { anchor($0.key, shape: $0.value.shape) != nil }
    }

    /// Infers the architecture of a plain PyTorch `state_dict` holding one convolutional
    /// recurrent module, from its key names (the kind: `conv` for a ConvLSTM, `convz` for RAFT's
    /// ConvGRU, `convz1` for its SepConvGRU; under any prefix such as `update_block.gru.`) and
    /// shapes (the channel counts and the kernel size). `batchFirst` cannot be inferred.
    ///
    /// Only the module's own keys may be there: another key is an error when the model is
    /// checked (``RecurrentModel``'s rule too).
    /// - Throws: ``ModelFileError`` when no module or more than one is found, or a shape fits no
    ///   such module.
    public init(inferringFrom tensors: [String: TensorData], batchFirst: Bool = false) throws {
        let anchors = tensors.compactMap { key, value in Self.anchor(key, shape: value.shape).map { (key, $0) } }.sorted { $0.0 < $1.0 }
        guard anchors.count == 1, let (key, found) = anchors.first else {
            throw ModelFileError(anchors.isEmpty
                ? "no convolutional recurrent module found: no 4-D key ends in 'conv.weight', 'convz.weight' or 'convz1.weight'"
                : "more than one convolutional recurrent module: \(anchors.map { shown($0.0) }.joined(separator: ", "))")
        }
        let w = tensors[key]!.shape
        let prefix = found.prefix
        var hidden = w[0], kernel = (w[2], w[3])
        switch found.kind {
        case .convLSTM:
            guard w[0] % 4 == 0 else { throw ModelFileError("'\(shown(key))' has \(w[0]) output channels: not the 4 gates (i, f, o, g) of a ConvLSTM") }
            hidden = w[0] / 4
        case .convGRU:
            guard w[2] == w[3] else { throw ModelFileError("'\(shown(key))' has a \(w[2])×\(w[3]) kernel; a ConvGRU's is square") }
        case .sepConvGRU:
            guard w[2] == 1 else { throw ModelFileError("'\(shown(key))' has a \(w[2])×\(w[3]) kernel; SepConvGRU's first convolutions are 1×k") }
            kernel = (w[3], w[3])
        }
        guard hidden > 0, w[1] > hidden else {
            throw ModelFileError("'\(shown(key))' \(w) reads \(w[1]) channels: not the \(hidden) hidden channels plus at least one input channel")
        }
        var layers = 1
        let anchorName = key.split(separator: ".").suffix(2).joined(separator: ".")   // conv.weight, convz.weight, convz1.weight
        if found.cellList { while tensors[prefix + "cell_list.\(layers)." + anchorName] != nil { layers += 1 } }
        let cell = found.cellList ? "cell_list.0." : ""
        let peephole = tensors[prefix + cell + "w_ci"]
        let frameSize = peephole.flatMap { $0.shape.count == 3 ? Array($0.shape[1...]) : nil }
        self.init(kind: found.kind, inputChannels: w[1] - hidden, hiddenChannels: hidden, kernelSize: kernel.0, kernelWidth: kernel.1, numLayers: layers,
                  bias: tensors[String(key.dropLast("weight".count)) + "bias"] != nil, peephole: peephole != nil,
                  frameSize: frameSize ?? (peephole != nil ? [] : nil), batchFirst: batchFirst, prefix: prefix, cellList: found.cellList)
    }
}
