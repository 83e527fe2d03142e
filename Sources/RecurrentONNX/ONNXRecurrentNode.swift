import Foundation
import Recurrent

/// One ONNX `LSTM`, `GRU` or `RNN` node (opset 7 and later; the operators have not changed since
/// opset 22) read into Recurrent's terms: every attribute, and the weights `W`, `R`, `B`, `P`
/// converted to PyTorch's names, shapes and gate orders (ONNX LSTM `i, o, f, c` → `i, f, g, o`;
/// GRU `z, r, h` → `r, z, n`; peepholes `i, o, f` → `i, f, o`).
public struct ONNXRecurrentNode {
    /// ONNX's `direction`.
    public enum Direction: String, Sendable { case forward, reverse, bidirectional }

    /// The node's name (or `LSTM #k` when it has none), for messages.
    public var name: String
    /// `lstm`, `gru` or `rnn`.
    public var kind: ModelArchitecture.Kind
    /// `direction`.
    public var direction: Direction
    /// `layout`: 0 time-major (`X` `[T, B, I]`), 1 batch-major (`[B, T, I]`).
    public var layout: Int
    /// `I`.
    public var inputSize: Int
    /// `hidden_size`.
    public var hiddenSize: Int
    /// An RNN's nonlinearity when every direction uses `Tanh` or every one `Relu` (PyTorch's two).
    public var nonlinearity: Nonlinearity = .tanh
    /// Whether `B` is given (otherwise the biases are zero and the layer has none).
    public var bias: Bool
    /// Peepholes (`P`), `input_forget`, `linear_before_reset`, activations (α and β resolved as
    /// ONNX Runtime reads `activation_alpha` / `activation_beta`), `clip`.
    public var options: CellOptions
    /// The weights under PyTorch's names for one layer (`weight_ih_l0`, …, `_reverse`).
    public var stateDict: [String: TensorData]
    /// The names of the node's inputs `X`, `sequence_lens`, `initial_h`, `initial_c` ("" where absent).
    public var inputNames: (x: String, sequenceLens: String, initialH: String, initialC: String)
    /// The names of its outputs `Y`, `Y_h`, `Y_c` ("" where not wanted).
    public var outputNames: (y: String, yH: String, yC: String)

    /// `D`: 2 for a bidirectional node, else 1.
    public var directions: Int { direction == .bidirectional ? 2 : 1 }

    /// The activations of ONNX's defaults, in ONNX's order.
    static func defaultActivations(_ kind: ModelArchitecture.Kind) -> [Activation] {
        switch kind {
        case .lstm: [.sigmoid, .tanh, .tanh]
        case .gru: [.sigmoid, .tanh]
        case .rnn: [.tanh]
        }
    }

    /// Reads `node`, taking the weights from `constants` (initializers and `Constant` outputs).
    init(_ node: Onnx_NodeProto, label: String, constants: [String: ONNXValue]) throws {
        name = label
        func fail(_ s: String) -> ONNXError { ONNXError("\(node.opType) node '\(label)': \(s)") }
        switch node.opType {
        case "LSTM": kind = .lstm
        case "GRU": kind = .gru
        case "RNN": kind = .rnn
        default: throw ONNXError("node '\(label)': operator \(node.opType) is not a recurrent one")
        }
        let gates = kind == .lstm ? 4 : kind == .gru ? 3 : 1

        // Attributes: each known one by name and type; anything else is refused.
        var known: Set<String> = ["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"]
        if kind == .lstm { known.insert("input_forget") }
        if kind == .gru { known.insert("linear_before_reset") }
        var attrs: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute {
            guard known.contains(a.name) else { throw fail("attribute '\(a.name)' is not supported (not one of \(known.sorted().joined(separator: ", ")))") }
            attrs[a.name] = a
        }
        func int(_ key: String, default d: Int) throws -> Int {
            guard let a = attrs[key] else { return d }
            guard a.type == .int else { throw fail("attribute '\(key)' must be an int, got \(a.type)") }
            return Int(a.i)
        }
        func floats(_ key: String) throws -> [Float] {
            guard let a = attrs[key] else { return [] }
            guard a.type == .floats else { throw fail("attribute '\(key)' must be a list of floats, got \(a.type)") }
            return a.floats
        }
        if let a = attrs["direction"] {
            guard a.type == .string, let s = String(data: a.s, encoding: .utf8), let d = Direction(rawValue: s) else {
                throw fail("attribute 'direction' must be forward, reverse or bidirectional")
            }
            direction = d
        } else {
            direction = .forward
        }
        layout = try int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw fail("attribute 'layout' must be 0 or 1, got \(layout)") }
        let D = direction == .bidirectional ? 2 : 1

        // Inputs: X, W, R, B, sequence_lens, initial_h, initial_c, P ("" or absent: not given).
        func input(_ i: Int) -> String { i < node.input.count ? node.input[i] : "" }
        guard node.input.count <= (kind == .lstm ? 8 : 6) else { throw fail("has \(node.input.count) inputs, the operator takes at most \(kind == .lstm ? 8 : 6)") }
        guard !input(0).isEmpty else { throw fail("input X is missing") }
        func weight(_ i: Int, _ what: String) throws -> ONNXValue? {
            let n = input(i)
            if n.isEmpty { return nil }
            guard let v = constants[n] else { throw fail("input \(what) ('\(n)') must be an initializer or computed from initializers and Constants; Recurrent does not take weights as graph inputs") }
            guard v.isFloat else { throw fail("input \(what) ('\(n)') is an integer tensor; weights must be float") }
            return v
        }
        guard let w = try weight(1, "W"), let r = try weight(2, "R") else { throw fail("inputs W and R are required") }
        guard w.dims.count == 3, r.dims.count == 3, w.dims[0] == D, r.dims[0] == D, w.dims[1] % gates == 0 else {
            throw fail("W \(w.dims) and R \(r.dims) must be [\(D), \(gates)·hidden_size, input] and [\(D), \(gates)·hidden_size, hidden_size]")
        }
        let H = try int("hidden_size", default: r.dims[2])
        guard H > 0, w.dims[1] == gates * H, r.dims[1] == gates * H, r.dims[2] == H, w.dims[2] > 0 else {
            throw fail("W \(w.dims) and R \(r.dims) do not fit hidden_size \(H) (expected [\(D), \(gates * H), I] and [\(D), \(gates * H), \(H)])")
        }
        hiddenSize = H
        inputSize = w.dims[2]
        let b = try weight(3, "B")
        if let b, b.dims != [D, 2 * gates * H] { throw fail("B is \(b.dims), expected [\(D), \(2 * gates * H)]") }
        bias = b != nil
        let p = kind == .lstm ? try weight(7, "P") : nil
        if let p, p.dims != [D, 3 * H] { throw fail("P is \(p.dims), expected [\(D), \(3 * H)]") }
        for (what, v) in [("W", w), ("R", r), ("B", b), ("P", p)] {
            if let v, let bad = v.floats.firstIndex(where: { !$0.isFinite }) { throw fail("\(what) holds \(v.floats[bad]) at flat index \(bad)") }
        }
        inputNames = (input(0), input(4), input(5), kind == .lstm ? input(6) : "")
        func output(_ i: Int) -> String { i < node.output.count ? node.output[i] : "" }
        guard node.output.count <= (kind == .lstm ? 3 : 2) else { throw fail("has \(node.output.count) outputs, the operator gives at most \(kind == .lstm ? 3 : 2)") }
        outputNames = (output(0), output(1), output(2))

        // Activations and their packed α / β (ONNX Runtime's reading; see CellVariants.md).
        let perDirection = gates == 4 ? 3 : gates == 3 ? 2 : 1
        var names = Self.defaultActivations(kind).map(\.onnxName)
        names = Array(repeating: names, count: D).flatMap { $0 }
        if let a = attrs["activations"] {
            guard a.type == .strings else { throw fail("attribute 'activations' must be a list of strings, got \(a.type)") }
            names = a.strings.map { String(decoding: $0, as: UTF8.self) }
            guard names.count == perDirection * D else {
                throw fail("attribute 'activations' lists \(names.count) activations, a \(direction.rawValue) \(node.opType) takes \(perDirection * D)")
            }
        }
        var alphas = try floats("activation_alpha")[...], betas = try floats("activation_beta")[...]
        let takesAlpha: Set = ["affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu"]
        let takesBeta: Set = ["affine", "scaledtanh", "hardsigmoid"]
        let ortAlpha: [String: Float] = ["leakyrelu": 0.01, "hardsigmoid": 0.2, "elu": 1]
        let ortBeta: [String: Float] = ["hardsigmoid": 0.5]
        var acts: [Activation] = []
        for n in names {
            let key = n.lowercased()
            let alpha: Float? = takesAlpha.contains(key) ? (alphas.popFirst() ?? ortAlpha[key] ?? 0) : nil
            let beta: Float? = takesBeta.contains(key) ? (betas.popFirst() ?? ortBeta[key] ?? 0) : nil
            guard let act = Activation(onnxName: n, alpha: alpha, beta: beta) else { throw fail("activation '\(n)' is not one of ONNX's") }
            guard act.parameters.alpha.isFinite, act.parameters.beta.isFinite else { throw fail("activation '\(n)' has a non-finite alpha or beta") }
            acts.append(act)
        }
        let forward = Array(acts[0..<perDirection])
        let reverse = D == 2 ? Array(acts[perDirection...]) : forward
        var options = CellOptions()
        if kind == .rnn && forward == reverse && (forward == [.tanh] || forward == [.relu]) {
            nonlinearity = forward == [.relu] ? .relu : .tanh  // PyTorch's nn.RNN: no options needed
        } else if forward != Self.defaultActivations(kind) || reverse != forward {
            options.activations = forward
            options.reverseActivations = reverse == forward ? nil : reverse
        }
        if let a = attrs["clip"] {
            guard a.type == .float, a.f.isFinite, a.f > 0 else { throw fail("attribute 'clip' must be a positive float") }
            options.clip = a.f
        }
        if kind == .lstm {
            let f = try int("input_forget", default: 0)
            guard f == 0 || f == 1 else { throw fail("attribute 'input_forget' must be 0 or 1, got \(f)") }
            options.coupledInputForget = f == 1
            options.peephole = p != nil
        }
        if kind == .gru {
            let l = try int("linear_before_reset", default: 0)
            guard l == 0 || l == 1 else { throw fail("attribute 'linear_before_reset' must be 0 or 1, got \(l)") }
            options.resetAfter = l == 1
        }
        self.options = options

        // Weights: ONNX's gate blocks into PyTorch's order.
        let order: [Int] = switch kind {  // for each of our gates, ONNX's block
        case .lstm: [0, 2, 3, 1]  // i, f, g, o ← ONNX i, o, f, c
        case .gru: [1, 0, 2]      // r, z, n ← ONNX z, r, h
        case .rnn: [0]
        }
        func blocks(_ v: [Float], from start: Int, rows: Int, cols: Int, order: [Int]) -> [Float] {
            order.flatMap { g in v[(start + g * rows * cols)..<(start + (g + 1) * rows * cols)] }
        }
        var dict: [String: TensorData] = [:]
        for d in 0..<D {
            let s = "_l0" + (d == 1 ? "_reverse" : "")
            let G = gates * H
            dict["weight_ih" + s] = TensorData(shape: [G, inputSize], scalars: blocks(w.floats, from: d * G * inputSize, rows: H, cols: inputSize, order: order))
            dict["weight_hh" + s] = TensorData(shape: [G, H], scalars: blocks(r.floats, from: d * G * H, rows: H, cols: H, order: order))
            if let b {
                dict["bias_ih" + s] = TensorData(shape: [G], scalars: blocks(b.floats, from: d * 2 * G, rows: H, cols: 1, order: order))
                dict["bias_hh" + s] = TensorData(shape: [G], scalars: blocks(b.floats, from: d * 2 * G + G, rows: H, cols: 1, order: order))
            }
            if let p {
                dict["weight_peephole" + s] = TensorData(shape: [3 * H], scalars: blocks(p.floats, from: d * 3 * H, rows: H, cols: 1, order: [0, 2, 1]))
            }
        }
        stateDict = dict
    }


    /// The architecture of a one-layer Recurrent model computing this node's forward (and, when
    /// bidirectional, reverse) direction; a reverse-only node runs it on the reversed sequence.
    public var architecture: ModelArchitecture {
        ModelArchitecture(kind: kind, nonlinearity: nonlinearity, inputSize: inputSize, hiddenSize: hiddenSize,
                          bidirectional: direction == .bidirectional, bias: bias, options: options)
    }

    /// A Recurrent model with this node's weights, `direction` aside (see ``architecture``).
    func model() throws -> RecurrentModel {
        let a = architecture
        do {
            try a.validate()
            let m = RecurrentModel(a)
            try m.loadStateDict(stateDict)
            return m
        } catch {
            throw ONNXError("\(kind.rawValue.uppercased()) node '\(name)': \(error)")
        }
    }
}
