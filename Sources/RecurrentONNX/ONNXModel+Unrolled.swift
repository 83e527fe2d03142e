import Foundation
import Recurrent

/// An Elman recurrence that an exporter unrolled into per-step nodes, read back as layers:
/// what `torch.onnx.export(..., dynamo=True)` writes for `nn.RNN` (no `RNN` node). Each layer
/// and direction is a chain of steps
///
///     xw = X @ W_ihᵀ + b_ih                          // all steps at once (or per step), sliced per step
///     hₜ = act(hₜ₋₁ @ W_hhᵀ + b_hh + xwₜ)            // act: Tanh or Relu, hₜ₋₁ the previous step's act
///
/// found by following the data flow: every `Tanh` / `Relu` node whose input is a sum (`Add`
/// nodes, through slicing and reshaping) of exactly two products by constant matrices is a step;
/// the product whose left operand is the previous step's activation (through reshaping only)
/// multiplies the state, so its matrix is `W_hhᵀ`, the other one's `W_ihᵀ`; a chain's first
/// step (its state is `h0` or zeros) takes the matrix equal to the next step's `W_hhᵀ`. Each
/// bias is the constant vector added to its product. Chains reading the same input form one
/// layer (two: bidirectional, the second in graph order, or the one whose biases are named
/// `…_reverse`, the reverse direction); layers are ordered as the graph runs them.
///
/// Every step of a chain must use the same matrices, biases and activation (one `nn.RNN` layer
/// does); anything else is refused here, and whatever the structure does not show (which
/// direction is which, how the steps are sliced and stacked) is left to the probe check of
/// ``RecurrentModel/init(onnx:)``.
struct ONNXUnrolledRecurrence {
    /// One layer per entry, as a one-layer `RNN` node would give it: PyTorch's parameter names
    /// (`_l0`), `inputNames.x` the value the layer's input product reads, `inputNames.initialH`
    /// the value its first step's state product reads.
    let layers: [ONNXRecurrentNode]
    /// Every node that belongs to the recurrence (products, sums, activations), by graph index:
    /// none of them is a head.
    let nodeIndices: Set<Int>
    /// For each layer, the output names of its steps' activations (the values a head may read).
    let activations: [[String]]
    /// The sequence's layouts to try: the graph fixes the length (the unrolled steps) and keeps
    /// the batch dynamic, so a declared `[T, ?, I]` is time-major and `[?, T, I]` batch-first.
    func batchFirstCandidates(declared: [Int?]) -> [Bool] {
        guard declared.count == 3 else { return [false, true] }
        switch (declared[0], declared[1]) {
        case (.some, nil): return [false]
        case (nil, .some): return [true]
        default: return [false, true]
        }
    }

    /// A step: the activation node and the two products and biases it sums.
    private struct Step {
        var act: Int
        var products: [(node: Int, bias: String?)]
        var nodes: Set<Int>  // the activation, its sums, slicing and products
        var state: Int? = nil  // index into `products` of the state's product
        var previous: Int? = nil  // the previous step's activation node
    }

    init(_ onnx: ONNXModel) throws {
        let graph = onnx.proto.graph.node
        var producer: [String: Int] = [:]
        for (k, p) in graph.enumerated() { for o in p.output where !o.isEmpty { producer[o] = k } }
        func label(_ k: Int) -> String { graph[k].name.isEmpty ? "\(graph[k].opType) #\(k)" : graph[k].name }
        func matrix(_ k: Int) -> ONNXValue? {
            let p = graph[k]
            guard p.opType == "MatMul", p.input.count == 2, onnx.constants[p.input[0]] == nil,
                  let w = onnx.constants[p.input[1]], w.isFloat, w.shape.count == 2 else { return nil }
            return w
        }
        func same(_ a: ONNXValue, _ b: ONNXValue) -> Bool { a.shape == b.shape && a.floats == b.floats }
        let reshaping: Set = ["Identity", "Unsqueeze", "Squeeze", "Reshape", "Slice", "Gather", "Transpose", "Split", "Flatten"]

        // The steps: each activation's sum of products (+ constant vectors) through Add and slicing.
        var steps: [Int: Step] = [:]
        for (k, p) in graph.enumerated() where (p.opType == "Tanh" || p.opType == "Relu") && p.input.count == 1 {
            var products: [(node: Int, bias: String?)] = [], loose: [String] = [], seen = Set<Int>(), nodes: Set = [k]
            var queue = [p.input[0]]
            while let v = queue.popLast() {
                guard let n = producer[v], seen.insert(n).inserted else { continue }
                let q = graph[n]
                if matrix(n) != nil { products.append((n, nil)); nodes.insert(n); continue }
                if q.opType == "Add", q.input.count == 2 {
                    nodes.insert(n)
                    for (i, input) in q.input.enumerated() {
                        if let c = onnx.constants[input] {
                            guard c.isFloat, c.shape.count == 1 else { continue }
                            // A bias: the vector added to a product's output directly.
                            if let m = producer[q.input[1 - i]], matrix(m) != nil { products.append((m, input)); seen.insert(m); nodes.insert(m) } else { loose.append(input) }
                        } else {
                            queue.append(input)
                        }
                    }
                } else if reshaping.contains(q.opType), let first = q.input.first {
                    nodes.insert(n)
                    queue.append(first)
                }
            }
            guard products.count == 2 else { continue }  // not a recurrence step (a head's Tanh, say)
            if let b = loose.first {
                throw ONNXError("\(p.opType) node '\(label(k))' adds constant '\(b)', which is not added to a product by a constant matrix; an unrolled nn.RNN step adds b_ih to x·W_ihᵀ and b_hh to h·W_hhᵀ")
            }
            steps[k] = Step(act: k, products: products, nodes: nodes)
        }
        guard !steps.isEmpty else {
            throw ONNXError("the graph has no LSTM, GRU or RNN node and no unrolled recurrence (Tanh or Relu of a sum of two products by constant matrices): there is no recurrent layer to convert")
        }

        // Links: the product whose left operand is (a reshaping of) another step's activation
        // multiplies the state.
        func previousStep(of product: Int) -> Int? {
            var v = graph[product].input[0]
            while let n = producer[v] {
                if steps[n] != nil { return n }
                guard reshaping.contains(graph[n].opType), let first = graph[n].input.first else { return nil }
                v = first
            }
            return nil
        }
        for k in steps.keys.sorted() {
            let previous = steps[k]!.products.map { previousStep(of: $0.node) }
            let linked = previous.indices.filter { previous[$0] != nil }
            guard linked.count <= 1 else {
                throw ONNXError("\(graph[k].opType) node '\(label(k))' multiplies two earlier steps' activations; an unrolled nn.RNN step multiplies one state and one input")
            }
            if let s = linked.first { (steps[k]!.state, steps[k]!.previous) = (s, previous[s]) }
        }
        var next: [Int: Int] = [:]
        for (k, s) in steps { if let p = s.previous {
            if let other = next[p] { throw ONNXError("steps '\(label(min(k, other)))' and '\(label(max(k, other)))' both continue step '\(label(p))'; an unrolled recurrence is a chain") }
            next[p] = k
        } }

        // Chains, from each first step; its state product is the one with the next step's W_hhᵀ.
        // A lone step (a Tanh after a head, say) is left to the rest of the conversion, unless
        // there is nothing else.
        var chains: [[Step]] = [], lone: [Int] = []
        for k in steps.keys.sorted() where steps[k]!.previous == nil {
            var chain = [steps[k]!]
            while let n = next[chain.last!.act] { chain.append(steps[n]!) }
            guard chain.count > 1 else { lone.append(k); continue }
            let whh = matrix(chain[1].products[chain[1].state!].node)!
            let candidates = chain[0].products.indices.filter { same(matrix(chain[0].products[$0].node)!, whh) }
            guard candidates.count == 1 else {
                throw ONNXError("the first step '\(label(k))' of an unrolled recurrence multiplies \(candidates.isEmpty ? "no" : "both") products by the next step's state matrix; every step of an nn.RNN layer uses the same W_hh")
            }
            chain[0].state = candidates[0]
            chains.append(chain)
        }

        if chains.isEmpty, let k = lone.first {
            throw ONNXError("\(graph[k].opType) node '\(label(k))' is an unrolled recurrence of one step, which does not tell the state's matrix from the input's; export at a length of 2 or more")
        }

        // Each chain's parameters, the same at every step.
        struct Chain { var first: Int, input: String, initial: String, wih: ONNXValue, whh: ONNXValue, bih: String?, bhh: String?, act: String }
        var read: [Chain] = []
        for chain in chains {
            func parts(_ s: Step) -> Chain {
                let st = s.products[s.state!], inp = s.products[1 - s.state!]
                return Chain(first: s.act, input: graph[inp.node].input[0], initial: graph[st.node].input[0], wih: matrix(inp.node)!, whh: matrix(st.node)!,
                             bih: inp.bias, bhh: st.bias, act: graph[s.act].opType)
            }
            let c = parts(chain[0]), name = "the unrolled recurrence starting at '\(label(c.first))'"
            func value(_ b: String?) -> [Float]? { b.map { onnx.constants[$0]!.floats } }
            for (t, s) in chain.enumerated().dropFirst() {
                let o = parts(s)
                let what: String? = !same(o.whh, c.whh) ? "multiplies the state by another matrix"
                    : !same(o.wih, c.wih) ? "multiplies the input by another matrix"
                    : value(o.bih) != value(c.bih) || value(o.bhh) != value(c.bhh) ? "adds other biases"
                    : o.act != c.act ? "applies \(o.act), the first step \(c.act)"
                    : nil
                if let what { throw ONNXError("step \(t) ('\(label(s.act))') of \(name) \(what) than its first step; every step of an nn.RNN layer shares W_ih, W_hh, b_ih, b_hh and the nonlinearity") }
            }
            let H = c.whh.shape[1]
            guard c.whh.shape == [H, H], c.wih.shape[1] == H else {
                throw ONNXError("\(name) multiplies the state by \(c.whh.shape) and the input by \(c.wih.shape); nn.RNN's W_hhᵀ is [H, H] and W_ihᵀ [I, H]")
            }
            guard (c.bih == nil) == (c.bhh == nil) else {
                throw ONNXError("\(name) adds \(c.bih == nil ? "b_hh but no b_ih" : "b_ih but no b_hh"); nn.RNN has both biases or neither")
            }
            for (what, w) in [("W_ihᵀ", c.wih), ("W_hhᵀ", c.whh)] + [c.bih, c.bhh].compactMap({ $0.map { ("bias '\($0)'", onnx.constants[$0]!) } }) {
                if let bad = w.floats.firstIndex(where: { !$0.isFinite }) { throw ONNXError("\(name): \(what) holds \(w.floats[bad]) at flat index \(bad)") }
            }
            for b in [c.bih, c.bhh].compactMap({ $0 }) where onnx.constants[b]!.count != H {
                throw ONNXError("\(name): bias '\(b)' has \(onnx.constants[b]!.count) values, the hidden size is \(H)")
            }
            read.append(c)
        }

        // Layers: chains reading the same input, in graph order.
        var groups: [[Chain]] = []
        for c in read.sorted(by: { $0.first < $1.first }) {
            if let g = groups.firstIndex(where: { $0[0].input == c.input }) { groups[g].append(c) } else { groups.append([c]) }
        }
        var layers: [ONNXRecurrentNode] = [], activations: [[String]] = []
        for (l, var g) in groups.enumerated() {
            let name = "layer \(l) unrolled from '\(label(g[0].first))'"
            guard g.count <= 2 else { throw ONNXError("\(g.count) unrolled recurrences read '\(g[0].input)'; an nn.RNN layer has one or two directions") }
            guard Set(g.map(\.act)).count == 1, g.allSatisfy({ $0.wih.shape == g[0].wih.shape && $0.whh.shape == g[0].whh.shape }) else {
                throw ONNXError("the two directions of \(name) differ in shape or nonlinearity")
            }
            // PyTorch's names tell the reverse direction when they are there; else graph order.
            if g.count == 2, g[0].bih?.hasSuffix("_reverse") == true, g[1].bih?.hasSuffix("_reverse") == false { g.swapAt(0, 1) }
            let c = g[0], H = c.whh.shape[1], I = c.wih.shape[0]
            var dict: [String: TensorData] = [:]
            func transposed(_ w: ONNXValue) -> TensorData {  // [r, c] → [c, r]
                let (r, n, f) = (w.shape[0], w.shape[1], w.floats)
                return TensorData(shape: [n, r], scalars: (0..<n).flatMap { j in (0..<r).map { f[$0 * n + j] } })
            }
            for (d, c) in g.enumerated() {
                let s = "_l0" + (d == 1 ? "_reverse" : "")
                dict["weight_ih" + s] = transposed(c.wih)
                dict["weight_hh" + s] = transposed(c.whh)
                if let bih = c.bih, let bhh = c.bhh {
                    dict["bias_ih" + s] = TensorData(shape: [H], scalars: onnx.constants[bih]!.floats)
                    dict["bias_hh" + s] = TensorData(shape: [H], scalars: onnx.constants[bhh]!.floats)
                }
            }
            layers.append(ONNXRecurrentNode(unrolled: name, bidirectional: g.count == 2, inputSize: I, hiddenSize: H,
                                            nonlinearity: c.act == "Relu" ? .relu : .tanh, bias: c.bih != nil, stateDict: dict,
                                            x: c.input, initialH: c.initial))
            activations.append(chains.filter { g.map(\.first).contains($0[0].act) }.flatMap { $0.map { graph[$0.act].output[0] } })
        }
        self.layers = layers
        self.activations = activations
        nodeIndices = chains.reduce(into: Set<Int>()) { set, chain in for s in chain { set.formUnion(s.nodes) } }
    }
}

extension ONNXRecurrentNode {
    /// A one-layer `RNN` node standing for an unrolled layer (see ``ONNXUnrolledRecurrence``).
    init(unrolled name: String, bidirectional: Bool, inputSize: Int, hiddenSize: Int, nonlinearity: Nonlinearity, bias: Bool,
         stateDict: [String: TensorData], x: String, initialH: String) {
        self.name = name
        kind = .rnn
        direction = bidirectional ? .bidirectional : .forward
        layout = 0
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.nonlinearity = nonlinearity
        self.bias = bias
        options = CellOptions()
        self.stateDict = stateDict
        inputNames = (x, "", initialH, "")
        outputNames = ("", "", "")
    }
}
