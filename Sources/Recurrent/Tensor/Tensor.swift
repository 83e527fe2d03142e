// Dimension legend used across the package (as in llm.c):
//   T steps, B batch, I input features, H hidden, P projection, D directions (1 or 2),
//   L layers, G gates (RNN 1, GRU 3, LSTM 4), N rows, C classes.

/// A dense, row-major Float32 array of any rank with reverse-mode automatic differentiation.
///
/// `Tensor` is a reference type, like `torch.Tensor`: operations build a graph of the tensors that
/// require gradients, and ``backward()`` on a scalar result fills the ``grad`` of every leaf tensor
/// created with `requiresGrad: true`.
///
/// ```swift
/// let w = Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
/// let loss = (w * w).sum()     // []
/// loss.backward()
/// w.grad!.scalars              // [2, 4]
/// ```
public final class Tensor {
    /// The size of each axis; `[]` for a scalar.
    public let shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product`.
    ///
    /// Optimizers update parameters by writing here (PyTorch's `param.data`).
    public var scalars: [Float] {
        didSet { version &+= 1 }
    }
    /// Whether gradients flow to this tensor (PyTorch's `requires_grad`).
    public let requiresGrad: Bool
    /// The accumulated gradient of a leaf tensor after ``backward()``, or `nil`.
    public var grad: Tensor? {
        gradStorage.map { Tensor(shape: shape, scalars: $0) }
    }

    /// Gradient accumulated into a leaf; same count as `scalars`.
    var gradStorage: [Float]?
    /// The operation that produced this tensor, when it requires gradients and is not a leaf.
    var gradFn: Node?
    /// Which output of `gradFn` this tensor is.
    var outputIndex = 0
    /// Bumped by every write to `scalars`, so that caches derived from the values (packed weights)
    /// know when they are stale.
    private(set) var version = 0
    /// Packed copies of this matrix for the optimized kernels, valid for `version`.
    var packedCache: [Bool: (version: Int, isa: InstructionSet, matrix: PackedMatrix)] = [:]

    /// Creates a tensor from row-major scalars. `scalars.count` must equal the product of `shape`.
    public init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        precondition(
            shape.product == scalars.count,
            "Tensor: shape \(shape) needs \(shape.product) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
        self.requiresGrad = requiresGrad
    }

    /// A tensor of `shape` filled with `value`.
    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.product), requiresGrad: requiresGrad)
    }

    /// A tensor of zeros (PyTorch's `torch.zeros`).
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(repeating: 0, shape: shape, requiresGrad: requiresGrad)
    }

    /// A scalar (rank-0) tensor.
    public convenience init(_ value: Float) {
        self.init(shape: [], scalars: [value])
    }

    /// A result of an operation: records `node` when gradients are being tracked.
    init(shape: [Int], scalars: [Float], node: Node?, outputIndex: Int = 0) {
        self.shape = shape
        self.scalars = scalars
        self.requiresGrad = node != nil
        self.gradFn = node
        self.outputIndex = outputIndex
    }

    /// The number of axes.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { scalars.count }
    /// The single element of a one-element tensor (PyTorch's `item()`).
    public var item: Float {
        precondition(scalars.count == 1, "Tensor.item: tensor of shape \(shape) has \(scalars.count) elements")
        return scalars[0]
    }

    /// A tensor sharing these values but cut from the graph (PyTorch's `detach()`).
    public func detached() -> Tensor {
        Tensor(shape: shape, scalars: scalars)
    }

    /// A leaf tensor with the same values that requires gradients (`x.detach().requires_grad_()`).
    public func asParameter() -> Tensor {
        Tensor(shape: shape, scalars: scalars, requiresGrad: true)
    }

    /// Clears the accumulated gradient (PyTorch's `grad = None`).
    public func zeroGrad() {
        gradStorage = nil
    }
}

extension Tensor: CustomStringConvertible {
    /// A short summary: shape and up to eight values.
    public var description: String {
        let shown = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(scalars.count > 8 ? ", ..." : "")])"
    }
}

extension Array where Element == Int {
    /// The product of the elements (1 for an empty array): a shape's element count.
    @inlinable var product: Int { reduce(1, *) }
}
