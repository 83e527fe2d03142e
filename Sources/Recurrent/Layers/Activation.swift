import _RecurrentKernels

/// An activation from ONNX's list for the `RNN`, `GRU` and `LSTM` operators, with its parameters
/// (ONNX's `activation_alpha` / `activation_beta`; the defaults are ONNX's).
public enum Activation: Equatable, Hashable, Sendable {
    /// `1 / (1 + e⁻ˣ)`.
    case sigmoid
    /// `tanh x`.
    case tanh
    /// `max(0, x)`.
    case relu
    /// `α·x + β`.
    case affine(alpha: Float = 1, beta: Float = 0)
    /// `x` for `x ≥ 0`, `α·x` below.
    case leakyRelu(alpha: Float = 0.01)
    /// `x` for `x > α`, else 0.
    case thresholdedRelu(alpha: Float = 1)
    /// `α·tanh(β·x)`.
    case scaledTanh(alpha: Float = 1, beta: Float = 1)
    /// `max(0, min(1, α·x + β))`.
    case hardSigmoid(alpha: Float = 0.2, beta: Float = 0.5)
    /// `x` for `x ≥ 0`, `α·(eˣ − 1)` below.
    case elu(alpha: Float = 1)
    /// `x / (1 + |x|)`.
    case softsign
    /// `log(1 + eˣ)`.
    case softplus

    /// ONNX's name, e.g. `"HardSigmoid"`.
    public var onnxName: String {
        switch self {
        case .sigmoid: "Sigmoid"
        case .tanh: "Tanh"
        case .relu: "Relu"
        case .affine: "Affine"
        case .leakyRelu: "LeakyRelu"
        case .thresholdedRelu: "ThresholdedRelu"
        case .scaledTanh: "ScaledTanh"
        case .hardSigmoid: "HardSigmoid"
        case .elu: "Elu"
        case .softsign: "Softsign"
        case .softplus: "Softplus"
        }
    }

    /// `(α, β)` as ONNX's attributes give them (0 where the activation takes none).
    public var parameters: (alpha: Float, beta: Float) {
        switch self {
        case .sigmoid, .tanh, .relu, .softsign, .softplus: (0, 0)
        case .affine(let a, let b), .scaledTanh(let a, let b), .hardSigmoid(let a, let b): (a, b)
        case .leakyRelu(let a), .thresholdedRelu(let a), .elu(let a): (a, 0)
        }
    }

    /// The activation named `name` (ONNX's spelling, any case) with `alpha` and `beta` where it
    /// takes them (ONNX's defaults when nil); nil for an unknown name.
    public init?(onnxName name: String, alpha: Float? = nil, beta: Float? = nil) {
        switch name.lowercased() {
        case "sigmoid": self = .sigmoid
        case "tanh": self = .tanh
        case "relu": self = .relu
        case "affine": self = .affine(alpha: alpha ?? 1, beta: beta ?? 0)
        case "leakyrelu": self = .leakyRelu(alpha: alpha ?? 0.01)
        case "thresholdedrelu": self = .thresholdedRelu(alpha: alpha ?? 1)
        case "scaledtanh": self = .scaledTanh(alpha: alpha ?? 1, beta: beta ?? 1)
        case "hardsigmoid": self = .hardSigmoid(alpha: alpha ?? 0.2, beta: beta ?? 0.5)
        case "elu": self = .elu(alpha: alpha ?? 1)
        case "softsign": self = .softsign
        case "softplus": self = .softplus
        default: return nil
        }
    }

    /// Whether α and β are finite (a file's values are checked before use).
    var isFinite: Bool { parameters.alpha.isFinite && parameters.beta.isFinite }

    /// The descriptor the C kernels take.
    var kernel: rk_activation {
        let kind: rk_activation_kind = switch self {
        case .sigmoid: RK_ACT_SIGMOID
        case .tanh: RK_ACT_TANH
        case .relu: RK_ACT_RELU
        case .affine: RK_ACT_AFFINE
        case .leakyRelu: RK_ACT_LEAKY_RELU
        case .thresholdedRelu: RK_ACT_THRESHOLDED_RELU
        case .scaledTanh: RK_ACT_SCALED_TANH
        case .hardSigmoid: RK_ACT_HARD_SIGMOID
        case .elu: RK_ACT_ELU
        case .softsign: RK_ACT_SOFTSIGN
        case .softplus: RK_ACT_SOFTPLUS
        }
        return rk_activation(kind: kind, alpha: parameters.alpha, beta: parameters.beta)
    }
}

/// The three activations of an LSTM, ONNX's `f`, `g`, `h`:
///
///     i, f, o = gate(·)     g = cell(·)     h = o ⊙ hidden(c)
public struct LSTMActivations: Equatable, Hashable, Sendable {
    /// The input, forget and output gates' (ONNX `f`; default sigmoid).
    public var gate: Activation
    /// The cell input's (ONNX `g`; default tanh).
    public var cell: Activation
    /// The cell output's, applied to `c` (ONNX `h`; default tanh).
    public var hidden: Activation

    /// PyTorch's and ONNX's defaults unless given.
    public init(gate: Activation = .sigmoid, cell: Activation = .tanh, hidden: Activation = .tanh) {
        (self.gate, self.cell, self.hidden) = (gate, cell, hidden)
    }

    /// ONNX's order, `[f, g, h]`.
    public var list: [Activation] { [gate, cell, hidden] }
}

/// The two activations of a GRU, ONNX's `f`, `g`: `r, z = gate(·)`, `n = candidate(·)`.
public struct GRUActivations: Equatable, Hashable, Sendable {
    /// The reset and update gates' (ONNX `f`; default sigmoid).
    public var gate: Activation
    /// The candidate state's (ONNX `g`; default tanh).
    public var candidate: Activation

    /// PyTorch's and ONNX's defaults unless given.
    public init(gate: Activation = .sigmoid, candidate: Activation = .tanh) {
        (self.gate, self.candidate) = (gate, candidate)
    }

    /// ONNX's order, `[f, g]`.
    public var list: [Activation] { [gate, candidate] }
}

/// What sets a cell apart from PyTorch's standard one, as a model file records it.
///
/// Every option has PyTorch's behaviour as its default, so `CellOptions()` is the standard cell.
public struct CellOptions: Equatable, Hashable, Sendable {
    /// LSTM: the gates also read the cell state (Gers, Schraudolph & Schmidhuber 2002): `i` and `f`
    /// add `pᵢ ⊙ cₜ₋₁`, `p_f ⊙ cₜ₋₁`, `o` adds `pₒ ⊙ cₜ`; parameter `weight_peephole_l{k}` `[3H]`
    /// in the order i, f, o.
    public var peephole = false
    /// LSTM: one gate for both, `f = 1 − i` (ONNX `input_forget`); the forget rows of the weights
    /// stay (ONNX's layout) and get no gradient.
    public var coupledInputForget = false
    /// LSTM and GRU: layer normalisation of the input and recurrent projections (and the LSTM's
    /// cell state before its output activation), Ba, Kiros & Hinton 2016.
    public var layerNorm = false
    /// GRU: the reset gate scales the recurrent product `r ⊙ (Wₕₙh + bₕₙ)` (PyTorch, ONNX
    /// `linear_before_reset=1`, the default) or, when false, the state before it,
    /// `Wₕₙ(r ⊙ h) + bₕₙ` (Cho et al. 2014, ONNX's default, Keras `reset_after=False`).
    public var resetAfter = true
    /// The activations of the forward direction in ONNX's order (LSTM `f, g, h`; GRU `f, g`; RNN
    /// `f`), or nil for the defaults (an RNN's follow its nonlinearity).
    public var activations: [Activation]?
    /// The reverse direction's, when they differ from `activations`.
    public var reverseActivations: [Activation]?
    /// Gate pre-activations are clamped to `[−clip, clip]` (ONNX `clip`); nil: no clamp.
    public var clip: Float?

    /// The standard cell.
    public init(peephole: Bool = false, coupledInputForget: Bool = false, layerNorm: Bool = false, resetAfter: Bool = true,
                activations: [Activation]? = nil, reverseActivations: [Activation]? = nil, clip: Float? = nil) {
        (self.peephole, self.coupledInputForget, self.layerNorm) = (peephole, coupledInputForget, layerNorm)
        (self.resetAfter, self.activations, self.reverseActivations, self.clip) = (resetAfter, activations, reverseActivations, clip)
    }

    /// Whether nothing differs from the standard cell.
    public var isStandard: Bool { self == CellOptions() }

    /// The activations of direction `d` (0 forward, 1 reverse), nil for the defaults.
    func activations(direction d: Int) -> [Activation]? { d == 1 ? (reverseActivations ?? activations) : activations }
}
