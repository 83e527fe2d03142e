import Foundation
import Recurrent

extension RecurrentModel {
    /// The Recurrent model of an ONNX graph: a stack of `LSTM`, `GRU` or `RNN` nodes (one kind,
    /// each reading the previous one's output, all forward or all bidirectional, with one hidden
    /// size and one cell variant), fed through whatever shape plumbing the exporter wrote,
    /// time-major or batch-first, with an optional `Linear` head (`MatMul` + `Add`, or `Gemm`) on
    /// the last layer's output at every step or at the last step. This is what
    /// `torch.onnx.export` writes for `nn.LSTM` / `nn.GRU` / `nn.RNN` (optionally followed by
    /// `nn.Linear`) with either exporter; the layer's parameters get PyTorch's names
    /// (`weight_ih_l0`, …), the head's `head.weight` / `head.bias`.
    ///
    /// A graph with no recurrent node is read as an unrolled `nn.RNN` (what the dynamo exporter
    /// writes for it: per-step `MatMul` / `Add` / `Tanh` or `Relu`; see `ONNXUnrolledRecurrence`):
    /// each layer's `W_ih`, `W_hh`, biases and nonlinearity are recovered from the steps, which
    /// must all share them. Such a graph is fixed at its export length (it runs only sequences of
    /// that many steps, checked here at that length); the converted model runs any length.
    ///
    /// The graph inputs must be the sequence and, optionally, the initial hidden and cell states
    /// (`[D·L, B, H]`, as PyTorch takes them) and `sequence_lens` (which the model takes as
    /// `lengths` when it runs).
    ///
    /// Matching structure is easy to get subtly wrong, so the model is then checked: the graph
    /// (run by ``ONNXModel/run(_:)``) and the model run on a probe input (deterministic sequence
    /// and states, `T` 5, `B` 3, lengths 5, 3, 1 when the graph takes them), and every graph output must equal one of the model's outputs
    /// (`output`, `h_n`, `c_n`, `prediction`; a one-node graph's `Y`, `Y_h`, `Y_c` in ONNX's shapes).
    ///
    /// - Throws: ``ONNXError`` saying what the graph does that the model cannot express: no
    ///   recurrent node nor unrolled recurrence, unrolled steps that do not share their weights,
    ///   biases or nonlinearity, a reverse-only node, layers that
    ///   differ, a graph input that is not one of the above, a second head, or outputs that differ
    ///   from the model's on the probe.
    public convenience init(onnx: ONNXModel) throws {
        let plan = try ONNXConversion(onnx)
        var failure: ONNXError?
        for batchFirst in plan.batchFirstCandidates {
            do {
                let model = try plan.model(batchFirst: batchFirst)
                try plan.verify(model, batchFirst: batchFirst)
                self.init(model.architecture)
                try loadStateDict(model.stateDict())
                return
            } catch let e as ONNXError {
                failure = failure ?? e
            } catch {
                failure = failure ?? ONNXError("the converted model: \(error)")
            }
        }
        throw failure!
    }
}

/// What ``RecurrentModel/init(onnx:)`` reads from a graph, before the check on a probe input.
struct ONNXConversion {
    let onnx: ONNXModel
    let nodes: [ONNXRecurrentNode]
    /// The recurrence an exporter unrolled, when the graph has no recurrent node; `nodes` then
    /// stand for its layers.
    let unrolled: ONNXUnrolledRecurrence?
    /// The graph inputs: the sequence, and the initial states when the graph takes them.
    let x: String, h0: String?, c0: String?
    /// The graph input of `sequence_lens`, which the model takes as `lengths` when it runs.
    let lengths: String?
    /// The head's weight `[O, D·H]` and bias `[O]` (nil without bias), and the name of its input.
    var head: (weight: [Float], bias: [Float]?, outputs: Int, input: String)?
    /// Whether the sequence is batch-first: the node's layout when the first node reads the graph
    /// input itself, else tried both ways on the probe (time-major first).
    var batchFirstCandidates: [Bool] {
        if let unrolled { return unrolled.batchFirstCandidates(declared: onnx.inputShapes[x] ?? []) }
        return nodes[0].inputNames.x == x ? [nodes[0].layout == 1] : [false, true]
    }
    static let (probeT, probeB) = (5, 3)

    init(_ onnx: ONNXModel) throws {
        self.onnx = onnx
        // No recurrent node: an unrolled recurrence (dynamo's nn.RNN), read as layers.
        let unrolled = onnx.recurrentNodes.isEmpty ? try ONNXUnrolledRecurrence(onnx) : nil
        let nodes = unrolled?.layers ?? onnx.recurrentNodes
        (self.nodes, self.unrolled) = (nodes, unrolled)
        guard let first = nodes.first else { throw ONNXError("the graph has no LSTM, GRU or RNN node: there is no recurrent layer to convert") }
        func name(_ n: ONNXRecurrentNode) -> String { "\(n.kind.rawValue.uppercased()) node '\(n.name)'" }
        for (k, n) in nodes.enumerated() {
            guard n.direction != .reverse else { throw ONNXError("\(name(n)): direction reverse has no PyTorch equivalent (run the ONNX model instead)") }
            if k == 0 { continue }
            let what: String? = n.kind != first.kind ? "is a \(n.kind.rawValue.uppercased()), the first layer a \(first.kind.rawValue.uppercased())"
                : n.direction != first.direction ? "is \(n.direction.rawValue), the first layer \(first.direction.rawValue)"
                : n.hiddenSize != first.hiddenSize ? "has hidden size \(n.hiddenSize), the first layer \(first.hiddenSize)"
                : n.bias != first.bias ? "has \(n.bias ? "" : "no ")bias, the first layer \(first.bias ? "has" : "none")"
                : n.options != first.options || n.nonlinearity != first.nonlinearity ? "has another cell variant or activation than the first layer"
                : n.inputSize != first.directions * first.hiddenSize ? "takes \(n.inputSize) features, the layer before gives \(first.directions * first.hiddenSize)"
                : nil
            if let what { throw ONNXError("\(name(n)) \(what); a RecurrentModel's layers share these") }
        }

        // What each value depends on: graph inputs by name, recurrent node k's output Y as
        // "\u{1}Y<k>" and its final states as "\u{1}S<k>" (an unrolled layer k's steps as "\u{1}Y<k>").
        var unrolledLayer: [String: Int] = [:]
        for (k, names) in (unrolled?.activations ?? []).enumerated() { for n in names { unrolledLayer[n] = k } }
        var deps: [String: Set<String>] = [:]
        for i in onnx.inputNames { deps[i] = [i] }
        var recurrentIndex = 0
        var consumers: [String: [Onnx_NodeProto]] = [:]
        for p in onnx.proto.graph.node {
            let d = p.input.reduce(into: Set<String>()) { $0.formUnion(deps[$1] ?? []) }
            for i in p.input where !i.isEmpty { consumers[i, default: []].append(p) }
            for (slot, o) in p.output.enumerated() where !o.isEmpty {
                deps[o] = ONNXNode.recurrentOperators.contains(p.opType) ? d.union(["\u{1}\(slot == 0 ? "Y" : "S")\(recurrentIndex)"])
                    : unrolledLayer[o].map { d.union(["\u{1}Y\($0)"]) } ?? d
            }
            if ONNXNode.recurrentOperators.contains(p.opType) { recurrentIndex += 1 }
        }
        let inputs = Set(onnx.inputNames)
        let xs = (deps[first.inputNames.x] ?? []).intersection(inputs)
        guard xs.count == 1, let x = xs.first else {
            throw ONNXError("\(name(first)) reads its X from graph inputs [\(xs.sorted().joined(separator: ", "))]; a RecurrentModel reads one sequence")
        }
        self.x = x
        func stateInput(_ slot: (ONNXRecurrentNode) -> String, _ what: String, deps: [String: Set<String>]) throws -> String? {
            let s = nodes.reduce(into: Set<String>()) { $0.formUnion(deps[slot($1)] ?? []) }.intersection(inputs).subtracting([x])
            guard s.count <= 1 else { throw ONNXError("the layers' \(what) come from graph inputs [\(s.sorted().joined(separator: ", "))]; a RecurrentModel takes one") }
            return s.first
        }
        let h0 = try stateInput({ $0.inputNames.initialH }, "initial_h", deps: deps)
        let c0 = try stateInput({ $0.inputNames.initialC }, "initial_c", deps: deps)
        (self.h0, self.c0) = (h0, c0)
        let lengths = try stateInput({ $0.inputNames.sequenceLens }, "sequence_lens", deps: deps)
        self.lengths = lengths
        for i in onnx.inputNames where ![x, h0, c0, lengths].contains(i) {
            throw ONNXError("graph input '\(i)' is neither the sequence, the sequence lengths, the initial hidden state nor the initial cell state of the recurrent layers")
        }
        for k in nodes.indices.dropFirst() where !(deps[nodes[k].inputNames.x] ?? []).contains("\u{1}Y\(k - 1)") {
            throw ONNXError("\(name(nodes[k])) does not read the output of \(name(nodes[k - 1])); a RecurrentModel is a stack of layers, each reading the one before")
        }

        // The head: the MatMul or Gemm reading the last layer's output (or final state, as
        // `head(h_n[-1])` does: the last step's output of a forward layer) with constant weights.
        let last: Set = ["\u{1}Y\(nodes.count - 1)", "\u{1}S\(nodes.count - 1)"], F = first.directions * first.hiddenSize
        let recurrence = unrolled?.nodeIndices ?? []
        let heads = onnx.proto.graph.node.enumerated().filter { k, p in
            !recurrence.contains(k) && (p.opType == "MatMul" || p.opType == "Gemm") && p.input.contains { !(deps[$0] ?? []).isDisjoint(with: last) }
        }.map(\.element)
        guard heads.count <= 1 else { throw ONNXError("\(heads.count) MatMul/Gemm nodes read the last layer's output; a RecurrentModel has one Linear head") }
        guard let h = heads.first else { return }
        let label = "\(h.opType) node '\(h.name)'"
        guard let wv = onnx.constants[h.input[1]], wv.isFloat, wv.shape.count == 2, onnx.constants[h.input[0]] == nil else {
            throw ONNXError("\(label) reads the last layer's output but is not output × constant matrix (a Linear head)")
        }
        var weight: [Float], bias: [Float]?, outputs: Int
        let w = wv.floats
        if h.opType == "MatMul" {
            outputs = wv.shape[1]
            guard wv.shape[0] == F else { throw ONNXError("\(label): weight \(wv.shape) does not take the layer's \(F) features") }
            weight = (0..<outputs).flatMap { o in (0..<F).map { w[$0 * outputs + o] } }  // Bᵀ
            if let add = consumers[h.output[0]]?.first(where: { $0.opType == "Add" }),
               let b = add.input.compactMap({ onnx.constants[$0] }).first, b.isFloat, b.count == outputs {
                bias = b.floats
            }
        } else {
            let node = try ONNXNode(h, index: 0, opset: onnx.opset)
            guard try node.int("transA", default: 0) == 0 else { throw ONNXError("\(label): transA is not a Linear head") }
            let transB = try node.int("transB", default: 0) != 0
            let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
            let (rows, cols) = (wv.shape[0], wv.shape[1])
            outputs = transB ? rows : cols
            guard (transB ? cols : rows) == F else { throw ONNXError("\(label): weight \(wv.shape) does not take the layer's \(F) features") }
            weight = (0..<outputs).flatMap { o in (0..<F).map { alpha * (transB ? w[o * F + $0] : w[$0 * outputs + o]) } }
            if h.input.count > 2, !h.input[2].isEmpty {
                guard let c = onnx.constants[h.input[2]], c.isFloat, c.count == outputs || c.count == 1 else {
                    throw ONNXError("\(label): C is not a constant bias of \(outputs) values")
                }
                bias = c.count == 1 ? Array(repeating: beta * c.floats[0], count: outputs) : c.floats.map { beta * $0 }
            }
        }
        head = (weight, bias, outputs, h.input[0])
    }

    /// The model these nodes and head describe, with their weights.
    func model(batchFirst: Bool) throws -> RecurrentModel {
        let first = nodes[0]
        var a = first.architecture
        a.numLayers = nodes.count
        a.batchFirst = batchFirst
        var dict: [String: TensorData] = [:]
        for (k, n) in nodes.enumerated() {
            for (key, v) in n.stateDict { dict[key.replacingOccurrences(of: "_l0", with: "_l\(k)")] = v }
        }
        if let head {
            a.headPrefix = "head."
            a.headOutputSize = head.outputs
            a.headBias = head.bias != nil
            dict["head.weight"] = TensorData(shape: [head.outputs, a.outputFeatures], scalars: head.weight)
            if let b = head.bias { dict["head.bias"] = TensorData(shape: [head.outputs], scalars: b) }
            let rank = try probe(batchFirst: batchFirst).values[head.input]?.shape.count
            guard rank == 3 || rank == 2 else { throw ONNXError("the head's input has rank \(rank ?? 0) on a probe input, neither every step (3) nor the last step (2)") }
            a.headPlacement = rank == 3 ? .everyStep : .lastStep
        }
        do {
            try a.validate()
            let m = RecurrentModel(a)
            try m.loadStateDict(dict)
            return m
        } catch {
            throw ONNXError("the converted model: \(error)")
        }
    }

    /// The probe input (deterministic values in (-1, 1)) in the graph's and the model's terms, and
    /// every value the graph computes for it.
    func probe(batchFirst: Bool) throws -> (values: [String: ONNXValue], x: Tensor, h0: Tensor?, c0: Tensor?, lengths: [Int]?) {
        let first = nodes[0], D = first.directions, H = first.hiddenSize, L = nodes.count
        let declared = onnx.inputShapes[x] ?? []
        let a0 = declared.count == 3 ? declared[0] : nil, a1 = declared.count == 3 ? declared[1] : nil
        let (T, B) = batchFirst ? (a1 ?? Self.probeT, a0 ?? Self.probeB) : (a0 ?? Self.probeT, a1 ?? Self.probeB)
        func values(_ n: Int, _ seed: Float) -> [Float] { (0..<n).map { 0.9 * Foundation.sin(Float($0) * 0.737 + seed) } }
        let xShape = batchFirst ? [B, T, first.inputSize] : [T, B, first.inputSize]
        let xt = Tensor(shape: xShape, scalars: values(xShape.reduce(1, *), 0.3))
        var feeds = [x: TensorData(shape: xShape, scalars: xt.scalars)]
        // A one-node layout-1 graph reading a state directly takes it as [B, D, H].
        let swapped = nodes.count == 1 && first.layout == 1
        func state(_ name: String?, _ slot: String, _ seed: Float) -> Tensor? {
            guard let name else { return nil }
            let t = Tensor(shape: [L * D, B, H], scalars: values(L * D * B * H, seed))
            feeds[name] = swapped && slot == name ? TensorData(shape: [B, D, H], scalars: swap01(t.scalars, D, B, H))
                : TensorData(shape: t.shape, scalars: t.scalars)
            return t
        }
        let h = state(h0, first.inputNames.initialH, 1.1), c = state(c0, first.inputNames.initialC, 2.3)
        // Unequal lengths, the longest first and the shortest 1 (at least 1 each: T ≥ 1).
        let l = lengths.map { _ in (0..<B).map { b in max(1, T - 2 * b) } }
        if let lengths, let l { feeds[lengths] = TensorData(shape: [B], scalars: l.map(Float.init), dtype: .i32) }
        return (try onnx.evaluate(feeds), xt, h, c, l)
    }

    /// Throws unless every graph output equals one of the model's outputs on the probe input.
    func verify(_ model: RecurrentModel, batchFirst: Bool) throws {
        guard !onnx.outputNames.isEmpty else { throw ONNXError("the graph has no outputs to check the converted model against") }
        let p = try probe(batchFirst: batchFirst)
        model.eval()
        let r = try withoutGradients { try model(p.x, h0: p.h0, c0: p.c0, lengths: p.lengths) }
        let D = nodes[0].directions, H = nodes[0].hiddenSize
        var candidates: [(name: String, shape: [Int], values: [Float])] = []
        let o = r.output, (a0, a1) = (o.shape[0], o.shape[1])
        candidates.append(("output", o.shape, o.scalars))
        candidates.append(("output as Y", [a0, a1, D, H], o.scalars))
        candidates.append(("output as Y", [a0, D, a1, H], sourceOffsets([a0, D, a1, H], strides: [a1 * D * H, H, D * H, 1]).map { o.scalars[$0] }))
        for (name, s) in [("h_n", r.h), ("c_n", r.c)] {
            guard let s else { continue }
            let (n, b) = (s.shape[0], s.shape[1])
            candidates.append((name, s.shape, s.scalars))
            candidates.append((name + " batch-first", [b, n, H], swap01(s.scalars, n, b, H)))
        }
        if let pr = r.prediction { candidates.append(("prediction", pr.shape, pr.scalars)) }
        for name in onnx.outputNames {
            guard let v = p.values[name], v.isFloat else { throw ONNXError("graph output '\(name)' is not a float tensor; a RecurrentModel gives float outputs only") }
            let got = v.floats
            let match = candidates.contains { c in
                c.shape == v.shape && zip(c.values, got).allSatisfy { abs($0 - $1) <= 1e-4 + 1e-4 * abs($1) }
            }
            guard match else {
                throw ONNXError("graph output '\(name)' \(v.shape) equals none of the converted model's outputs (\(candidates.map { "\($0.name) \($0.shape)" }.joined(separator: ", "))) on a probe input: the graph computes something a RecurrentModel does not")
            }
        }
    }
}
