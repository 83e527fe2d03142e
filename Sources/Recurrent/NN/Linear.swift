import Foundation

/// A fully connected layer `y = x Wᵀ + b` (PyTorch's `nn.Linear`).
///
/// Parameters `weight` `[out, in]` and `bias` `[out]`, both initialised from
/// U(-1/√in, 1/√in) (PyTorch's default: Kaiming-uniform with a = √5 for the weight).
public final class Linear: Module {
    /// `in_features`.
    public let inputSize: Int
    /// `out_features`.
    public let outputSize: Int
    /// `[out, in]`.
    public let weight: Tensor
    /// `[out]`, or nil when created with `bias: false`.
    public let bias: Tensor?
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true

    /// Creates a layer with freshly initialised parameters drawn from the global generator.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true) {
        precondition(inputSize > 0 && outputSize > 0, "Linear: sizes must be positive, got \(inputSize) -> \(outputSize)")
        self.inputSize = inputSize
        self.outputSize = outputSize
        let bound = 1 / Float(inputSize).squareRoot()
        weight = ParameterSpec(name: "weight", shape: [outputSize, inputSize], bound: bound).makeTensor()
        self.bias = bias ? ParameterSpec(name: "bias", shape: [outputSize], bound: bound).makeTensor() : nil
    }

    /// `weight` and, if present, `bias`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Applies the layer over the last axis: `[..., in]` → `[..., out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linear(x, weight: weight, bias: bias)
    }
}

/// A lookup table of learned vectors (PyTorch's `nn.Embedding`), initialised from N(0, 1).
public final class Embedding: Module {
    /// `[count, dimension]`.
    public let weight: Tensor
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true

    /// Creates a table of `count` vectors of size `dimension`.
    public init(count: Int, dimension: Int) {
        precondition(count > 0 && dimension > 0, "Embedding: sizes must be positive")
        weight = Tensor.randomNormal([count, dimension], requiresGrad: true)
    }

    /// `weight`.
    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] }

    /// Looks up `indices` (any shape `S`), returning `S + [dimension]`.
    public func callAsFunction(_ indices: [Int], shape: [Int]? = nil) -> Tensor {
        embedding(indices, shape: shape ?? [indices.count], weight: weight)
    }
}

/// Rows of `weight` `[V, E]` at `indices` (laid out as `shape`), giving `shape + [E]`
/// (`torch.nn.functional.embedding`).
public func embedding(_ indices: [Int], shape: [Int], weight: Tensor) -> Tensor {
    let (v, e) = (weight.shape[0], weight.shape[1])
    precondition(shape.product == indices.count, "embedding: shape \(shape) does not hold \(indices.count) indices")
    var y = [Float].uninitialized(indices.count * e)  // every row is copied below
    y.withMutablePointer { out in weight.scalars.withPointer { w in
        for (r, index) in indices.enumerated() {
            precondition(index >= 0 && index < v, "embedding: index \(index) out of range 0..<\(v)")
            (out + r * e).update(from: w + index * e, count: e)
        }
    } }
    let outShape = shape + [e]
    return Tensor(shape: outShape, scalars: y, node: Node.make(.embedding(indices: indices), inputs: [weight], outputShapes: [outShape]))
}

// y[r] = W[index_r]        dW[index_r] += g[r]  (repeated indices accumulate)
func embeddingBackward(_ g: [Float], indices: [Int], weightShape: [Int]) -> [Float] {
    let e = weightShape[1]
    var dw = [Float](repeating: 0, count: weightShape.product)
    dw.withMutablePointer { dw in g.withPointer { g in
        for (r, index) in indices.enumerated() {
            let (row, source) = (dw + index * e, g + r * e)
            for j in 0..<e { row[j] += source[j] }
        }
    } }
    return dw
}

/// Zeroes each element with probability `p` and scales the rest by 1/(1-p) in training mode;
/// the identity in evaluation mode (PyTorch's `nn.Dropout`).
public final class Dropout: Module {
    /// The probability of zeroing an element, in [0, 1).
    public let p: Float
    /// Dropout is active only while training.
    public var isTraining = true

    /// Creates a dropout layer; `p` must lie in [0, 1).
    public init(p: Float = 0.5) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
    }

    /// No parameters.
    public var namedParameters: [(name: String, tensor: Tensor)] { [] }

    /// Applies dropout to `x` (any shape).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        dropout(x, p: p, training: isTraining)
    }
}

/// `x` times a random mask of 0 and 1/(1-p) (keep probability 1-p) when `training` and `p > 0`;
/// otherwise `x` itself. The mask comes from the global generator.
public func dropout(_ x: Tensor, p: Float, training: Bool) -> Tensor {
    guard training, p > 0 else { return x }
    let scale = 1 / (1 - p)
    let mask = GlobalRandom.withGenerator { g in
        (0..<x.count).map { _ in g.nextUniform() < p ? Float(0) : scale }
    }
    return x * Tensor(shape: x.shape, scalars: mask)
}
