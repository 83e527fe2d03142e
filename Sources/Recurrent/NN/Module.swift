/// A trainable component with named parameters and a training flag (PyTorch's `nn.Module`).
///
/// Parameters are listed explicitly by each module, under their PyTorch `state_dict` names, in a
/// fixed order; composite modules prefix their children's names (`"lstm.weight_ih_l0"`).
public protocol Module: AnyObject {
    /// Every parameter under its PyTorch `state_dict` name, in registration order.
    var namedParameters: [(name: String, tensor: Tensor)] { get }
    /// Whether the module is in training mode (dropout active). Default `true`, as in PyTorch.
    var isTraining: Bool { get set }
}

extension Module {
    /// The parameters in ``namedParameters`` order (PyTorch's `parameters()`).
    public var parameters: [Tensor] { namedParameters.map(\.tensor) }

    /// The total number of scalars in all parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Switches to training mode (`model.train()`).
    public func train() { isTraining = true }

    /// Switches to evaluation mode (`model.eval()`): dropout becomes the identity.
    public func eval() { isTraining = false }

    /// Clears every parameter's gradient (`model.zero_grad()`).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Prefixes each name with `prefix.` (how a parent lists a child's parameters).
public func prefixed(_ prefix: String, _ parameters: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
    parameters.map { ("\(prefix).\($0.name)", $0.tensor) }
}

/// A parameter's name, shape and initial range: the one table each module builds its parameters from.
struct ParameterSpec {
    var name: String
    var shape: [Int]
    /// Initialised from U(-bound, bound)…
    var bound: Float
    /// …unless every value starts at this one.
    var initialValue: Float? = nil

    func makeTensor() -> Tensor {
        if let initialValue {
            return Tensor(shape: shape, scalars: [Float](repeating: initialValue, count: shape.reduce(1, *)), requiresGrad: true)
        }
        return Tensor.uniform(shape, low: -bound, high: bound, requiresGrad: true)
    }
}
