/// Reverse-mode automatic differentiation: the graph node, the closed set of differentiable
/// operations, and `backward()`.
///
/// Every operation that can appear in a graph is a case of ``Op``; `Node.inputGradients` is one
/// exhaustive `switch` over them, so the compiler proves every op has a backward. Each case calls a
/// `…Backward` function that sits next to its forward in the topic file (`Tensor+Elementwise.swift`,
/// `Tensor+Shape.swift`, …). Fused operations (a whole recurrent layer) carry their own backward
/// through ``FusedFunction``.

/// Whether operations record a graph (PyTorch's `torch.is_grad_enabled()`).
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// `true` unless inside ``withoutGradients(_:)``.
    public static var isGradEnabled: Bool { isEnabled }
}

/// Runs `body` without recording a graph (PyTorch's `with torch.no_grad():`): results never require
/// gradients, so inference stores nothing for a backward pass.
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

/// An operation with a hand-written backward, recorded as a single graph node.
///
/// `backward` receives one gradient per output (nil where no gradient reached that output) and
/// returns one gradient per input (nil where the input needs none), each as row-major scalars.
protocol FusedFunction: AnyObject {
    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?]
}

/// The differentiable operations. Values saved for the backward pass ride along with each case.
enum Op {
    case add(Broadcast), subtract(Broadcast), multiply(Broadcast), divide(Broadcast)
    case scale(Float)
    case tanh(output: [Float]), sigmoid(output: [Float]), relu, exp(output: [Float]), log
    case sum, mean
    case softmax(output: [Float]), logSoftmax(output: [Float])
    case reshape
    case transpose(Int, Int)
    case concat(axis: Int)
    case narrow(axis: Int, start: Int)
    case matmul
    case linear
    case embedding(indices: [Int])
    case crossEntropy(probabilities: [Float], targets: [Int], rowScale: [Float], perRow: Bool)
    case fused(any FusedFunction)
}

/// One recorded operation: its inputs, the shapes of its outputs, and the gradients arriving at
/// those outputs during `backward()`.
final class Node {
    let op: Op
    let inputs: [Tensor]
    let outputShapes: [[Int]]
    var outputGradients: [[Float]?]

    init(op: Op, inputs: [Tensor], outputShapes: [[Int]]) {
        self.op = op
        self.inputs = inputs
        self.outputShapes = outputShapes
        self.outputGradients = Array(repeating: nil, count: outputShapes.count)
    }

    /// Creates a node for `op` if gradient recording is on and any input requires gradients.
    static func make(_ op: @autoclosure () -> Op, inputs: [Tensor], outputShapes: [[Int]]) -> Node? {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return nil }
        return Node(op: op(), inputs: inputs, outputShapes: outputShapes)
    }

    func accumulate(_ g: [Float], output: Int) {
        if outputGradients[output] == nil {
            outputGradients[output] = g
        } else {
            addInPlace(&outputGradients[output]!, g)
        }
    }

    /// The gradient of every input, from the gradients at the outputs (one exhaustive switch).
    func inputGradients() -> [[Float]?] {
        if case .fused(let function) = op {
            return function.backward(outputGradients: outputGradients, inputs: inputs)
        }
        let g = outputGradients[0] ?? Array(repeating: 0, count: outputShapes[0].product)
        switch op {
        case .add(let b): return addBackward(g, b)
        case .subtract(let b): return subtractBackward(g, b)
        case .multiply(let b): return multiplyBackward(g, b, inputs[0].scalars, inputs[1].scalars)
        case .divide(let b): return divideBackward(g, b, inputs[0].scalars, inputs[1].scalars)
        case .scale(let s): return [g.map { $0 * s }]
        case .tanh(let y): return [tanhBackward(g, y)]
        case .sigmoid(let y): return [sigmoidBackward(g, y)]
        case .relu: return [reluBackward(g, inputs[0].scalars)]
        case .exp(let y): return [zip(g, y).map { $0 * $1 }]
        case .log: return [zip(g, inputs[0].scalars).map { $0 / $1 }]
        case .sum: return [filledGradient(g[0], count: inputs[0].count)]
        case .mean: return [filledGradient(g[0] / Float(inputs[0].count), count: inputs[0].count)]
        case .softmax(let y): return [softmaxBackward(g, y, lastDim: outputShapes[0].last ?? 1)]
        case .logSoftmax(let y): return [logSoftmaxBackward(g, y, lastDim: outputShapes[0].last ?? 1)]
        case .reshape: return [g]
        case .transpose(let a0, let a1): return [transposeScalars(g, shape: outputShapes[0], a0, a1)]
        case .concat(let axis): return concatBackward(g, shapes: inputs.map(\.shape), axis: axis)
        case .narrow(let axis, let start): return [narrowBackward(g, inputShape: inputs[0].shape, axis: axis, start: start, length: outputShapes[0][axis])]
        case .matmul: return matmulBackward(g, inputs[0], inputs[1])
        case .linear: return linearBackward(g, inputs)
        case .embedding(let indices): return [embeddingBackward(g, indices: indices, weightShape: inputs[0].shape)]
        case .crossEntropy(let p, let targets, let rowScale, let perRow):
            return [crossEntropyBackward(g, p, targets, rowScale: rowScale, perRow: perRow)]
        case .fused: fatalError("unreachable: handled above")
        }
    }
}

extension Tensor {
    /// Computes the gradient of this one-element tensor with respect to every leaf tensor that
    /// requires gradients, adding it to their ``grad`` (PyTorch's `loss.backward()`).
    ///
    /// The graph is released afterwards, as PyTorch does without `retain_graph`.
    public func backward() {
        precondition(count == 1, "backward: needs a one-element tensor (a loss), got shape \(shape)")
        precondition(requiresGrad, "backward: the tensor does not require gradients (no parameter reached it)")
        guard let root = gradFn else {
            accumulateLeaf([1])
            return
        }
        root.accumulate([1], output: outputIndex)
        for node in root.topologicalOrder().reversed() {
            let grads = node.inputGradients()
            node.outputGradients = Array(repeating: nil, count: node.outputShapes.count)
            for (input, g) in zip(node.inputs, grads) where input.requiresGrad {
                guard let g else { continue }
                if let producer = input.gradFn {
                    producer.accumulate(g, output: input.outputIndex)
                } else {
                    input.accumulateLeaf(g)
                }
            }
        }
    }

    func accumulateLeaf(_ g: [Float]) {
        if gradStorage == nil { gradStorage = g } else { addInPlace(&gradStorage!, g) }
    }
}

extension Node {
    /// Nodes reachable from `self`, each after all nodes it depends on (iterative DFS).
    func topologicalOrder() -> [Node] {
        var order: [Node] = []
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
        var stack: [(node: Node, next: Int)] = [(self, 0)]
        while !stack.isEmpty {
            let (node, next) = stack[stack.count - 1]
            if next < node.inputs.count {
                stack[stack.count - 1].next += 1
                if let child = node.inputs[next].gradFn, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(node)
                stack.removeLast()
            }
        }
        return order
    }
}

/// `a += b` elementwise.
@inline(__always)
func addInPlace(_ a: inout [Float], _ b: [Float]) {
    precondition(a.count == b.count)
    a.withUnsafeMutableBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            for i in 0..<pa.count { pa[i] += pb[i] }
        }
    }
}
