/// How a model file's `__metadata__` records ``CellOptions`` (only options that differ from the
/// standard cell are written, so a standard model's file is unchanged):
///
/// - `peephole`, `input_forget`, `layer_norm`: `"true"`;
/// - `reset_after`: `"false"` for the GRU with the reset gate before the product;
/// - `clip`: the value;
/// - `activations`: ONNX's names for every direction in ONNX's order (LSTM `f,g,h`, GRU `f,g`,
///   RNN `f`; forward then reverse), comma-separated, with `activation_alpha` and
///   `activation_beta` giving each one's α and β (0 where it takes none), as lists of the same length.
extension CellOptions {
    /// The keys this description writes.
    static let metadataKeys: Set<String> = [
        "peephole", "input_forget", "layer_norm", "reset_after", "clip", "activations", "activation_alpha", "activation_beta",
    ]

    /// Words for a one-line summary, e.g. `["peephole", "clip 0.5"]` (none for the standard cell).
    var summary: [String] {
        var parts: [String] = []
        if peephole { parts.append("peephole") }
        if coupledInputForget { parts.append("coupled input-forget gate") }
        if layerNorm { parts.append("layer norm") }
        if !resetAfter { parts.append("reset gate before the product") }
        if let activations { parts.append("activations " + activations.map(\.onnxName).joined(separator: "/")) }
        if let reverseActivations { parts.append("reverse activations " + reverseActivations.map(\.onnxName).joined(separator: "/")) }
        if let clip { parts.append("clip \(clip)") }
        return parts
    }

    /// The metadata of a layer with `directions` directions.
    func metadata(directions: Int) -> [String: String] {
        var m: [String: String] = [:]
        if peephole { m["peephole"] = "true" }
        if coupledInputForget { m["input_forget"] = "true" }
        if layerNorm { m["layer_norm"] = "true" }
        if !resetAfter { m["reset_after"] = "false" }
        if let clip { m["clip"] = "\(clip)" }
        if activations != nil || reverseActivations != nil {
            let count = (activations ?? reverseActivations!).count
            let all = (0..<directions).flatMap { d in activations(direction: d) ?? Array(repeating: Activation.sigmoid, count: count) }
            m["activations"] = all.map(\.onnxName).joined(separator: ",")
            m["activation_alpha"] = all.map { "\($0.parameters.alpha)" }.joined(separator: ",")
            m["activation_beta"] = all.map { "\($0.parameters.beta)" }.joined(separator: ",")
        }
        return m
    }

    /// Reads the options of a layer of `kind` with `directions` directions from `metadata` (absent
    /// keys: the standard cell), and validates them.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the key and value that are not understood.
    public init(metadata: [String: String], kind: ModelArchitecture.Kind, directions: Int) throws {
        func flag(_ key: String, default value: Bool) throws -> Bool {
            guard let text = metadata[key] else { return value }
            guard let b = Bool(text) else { throw RecurrentError.invalidValue("metadata '\(key)' must be true or false, got '\(text)'") }
            return b
        }
        self.init(peephole: try flag("peephole", default: false), coupledInputForget: try flag("input_forget", default: false),
                  layerNorm: try flag("layer_norm", default: false), resetAfter: try flag("reset_after", default: true))
        if let text = metadata["clip"], text != "none" {
            guard let value = Float(text) else { throw RecurrentError.invalidValue("metadata 'clip' must be a number, got '\(text)'") }
            clip = value
        }
        if let names = metadata["activations"], !names.isEmpty {
            let list = names.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func numbers(_ key: String) throws -> [Float] {
                guard let text = metadata[key] else { return Array(repeating: 0, count: list.count) }
                let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
                guard values.count == list.count, let all = values as? [Float] else {
                    throw RecurrentError.invalidValue("metadata '\(key)' must list \(list.count) numbers, one per activation, got '\(text.prefix(80))'")
                }
                return all
            }
            let (alphas, betas) = (try numbers("activation_alpha"), try numbers("activation_beta"))
            let parsed = try list.indices.map { i -> Activation in
                guard let a = Activation(onnxName: list[i], alpha: alphas[i], beta: betas[i]) else {
                    throw RecurrentError.invalidValue("metadata 'activations': unknown activation '\(list[i].prefix(40))'")
                }
                return a
            }
            let per = switch kind { case .lstm: 3; case .gru: 2; case .rnn: 1 }
            guard parsed.count == per || parsed.count == per * directions else {
                throw RecurrentError.invalidValue("metadata 'activations': expected \(per) per direction (\(per * directions) in all), got \(parsed.count)")
            }
            activations = Array(parsed[0..<per])
            if parsed.count == 2 * per, Array(parsed[per...]) != activations { reverseActivations = Array(parsed[per...]) }
            // The defaults written out (as ONNX files and some tools do) are the standard cell.
            let defaults: [Activation]? = switch kind { case .lstm: LSTMActivations().list; case .gru: GRUActivations().list; case .rnn: nil }
            if reverseActivations == nil && activations == defaults { activations = nil }
        }
        try validate(for: kind)
    }
}
