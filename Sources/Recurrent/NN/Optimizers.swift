/// Updates parameters from their gradients (PyTorch's `torch.optim.Optimizer`).
public protocol Optimizer {
    /// The parameters being optimised, in a fixed order.
    var parameters: [Tensor] { get }
    /// Applies one update using each parameter's current ``Tensor/grad`` (parameters without a
    /// gradient are skipped, as in PyTorch).
    mutating func step()
}

extension Optimizer {
    /// Clears the gradients of all parameters (`optimizer.zero_grad()`).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight
/// decay, with PyTorch's update rule (`torch.optim.SGD`):
///
///     g ← ∇ + λ p
///     b ← g (first step), else μ b + (1 − τ) g
///     g ← g + μ b (Nesterov), else b
///     p ← p − lr g
public struct SGD: Optimizer {
    /// The parameters being optimised.
    public let parameters: [Tensor]
    /// Learning rate.
    public var learningRate: Float
    /// Momentum factor μ (0: plain SGD).
    public var momentum: Float
    /// Dampening τ for momentum.
    public var dampening: Float
    /// L2 penalty λ added to the gradient.
    public var weightDecay: Float
    /// Whether to use Nesterov momentum.
    public var nesterov: Bool
    private var buffers: [[Float]?]

    /// Creates the optimizer (PyTorch's defaults: no momentum, no weight decay).
    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(learningRate >= 0 && momentum >= 0 && weightDecay >= 0, "SGD: negative hyperparameter")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    /// One SGD update.
    public mutating func step() {
        for (index, p) in parameters.enumerated() {
            guard var g = p.gradStorage else { continue }
            if weightDecay != 0 { for i in g.indices { g[i] += weightDecay * p.scalars[i] } }
            if momentum != 0 {
                if var b = buffers[index] {
                    for i in b.indices { b[i] = momentum * b[i] + (1 - dampening) * g[i] }
                    buffers[index] = b
                } else {
                    buffers[index] = g
                }
                let b = buffers[index]!
                if nesterov { for i in g.indices { g[i] += momentum * b[i] } } else { g = b }
            }
            let lr = learningRate
            p.scalars.withUnsafeMutableBufferPointer { w in
                g.withUnsafeBufferPointer { gg in for i in 0..<gg.count { w[i] -= lr * gg[i] } }
            }
        }
    }
}

/// Adam and AdamW with PyTorch's update rules (`torch.optim.Adam`, `torch.optim.AdamW`):
///
///     Adam:  g ← ∇ + λ p            AdamW:  p ← p (1 − lr λ),  g ← ∇
///     m ← m + (1 − β₁)(g − m)        v ← β₂ v + (1 − β₂) g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public struct Adam: Optimizer {
    /// The parameters being optimised.
    public let parameters: [Tensor]
    /// Learning rate.
    public var learningRate: Float
    /// β₁, β₂.
    public var betas: (Float, Float)
    /// ε added to the denominator.
    public var epsilon: Float
    /// λ: an L2 penalty (Adam) or decoupled weight decay (AdamW).
    public var weightDecay: Float
    /// `true` for AdamW's decoupled weight decay.
    public let decoupledWeightDecay: Bool
    private var m: [[Float]], v: [[Float]]
    private var stepCount = 0

    /// Adam with PyTorch's defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay).
    public init(parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.init(parameters: parameters, learningRate: learningRate, betas: betas, epsilon: epsilon,
                  weightDecay: weightDecay, decoupled: false)
    }

    /// AdamW with PyTorch's defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 1e-2).
    public static func adamW(parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                             epsilon: Float = 1e-8, weightDecay: Float = 1e-2) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, betas: betas, epsilon: epsilon,
             weightDecay: weightDecay, decoupled: true)
    }

    private init(parameters: [Tensor], learningRate: Float, betas: (Float, Float), epsilon: Float,
                 weightDecay: Float, decoupled: Bool) {
        precondition(learningRate >= 0 && epsilon >= 0 && weightDecay >= 0, "Adam: negative hyperparameter")
        precondition((0..<1).contains(betas.0) && (0..<1).contains(betas.1), "Adam: betas must be in [0, 1), got \(betas)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.betas = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupled
        m = parameters.map { Array(repeating: 0, count: $0.count) }
        v = m
    }

    /// One Adam (or AdamW) update.
    public mutating func step() {
        stepCount += 1
        let (b1, b2) = betas
        // Bias corrections in Double, as PyTorch computes them from a Python float step.
        let correction1 = 1 - pow(Double(b1), Double(stepCount))
        let correction2Root = (1 - pow(Double(b2), Double(stepCount))).squareRoot()
        let stepSize = Float(Double(learningRate) / correction1)
        for (index, p) in parameters.enumerated() {
            guard var g = p.gradStorage else { continue }
            if weightDecay != 0 {
                if decoupledWeightDecay {
                    let keep = 1 - learningRate * weightDecay
                    p.scalars.withUnsafeMutableBufferPointer { w in for i in 0..<w.count { w[i] *= keep } }
                } else {
                    for i in g.indices { g[i] += weightDecay * p.scalars[i] }
                }
            }
            // Through buffer pointers: element-wise access to `p.scalars` would run its observer
            // (and `m[index][i]` a uniqueness check) for every element (measured: 11% of an MNIST epoch).
            let (root, eps) = (Float(correction2Root), epsilon)
            p.scalars.withUnsafeMutableBufferPointer { w in
                m[index].withUnsafeMutableBufferPointer { mm in
                    v[index].withUnsafeMutableBufferPointer { vv in
                        g.withUnsafeBufferPointer { gg in
                            for i in 0..<gg.count {
                                mm[i] += (1 - b1) * (gg[i] - mm[i])
                                vv[i] = b2 * vv[i] + (1 - b2) * gg[i] * gg[i]
                                let denominator = vv[i].squareRoot() / root + eps
                                w[i] -= stepSize * mm[i] / denominator
                            }
                        }
                    }
                }
            }
        }
    }
}

import Foundation

/// Scales all gradients so that their total L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`), returning the norm before clipping.
///
/// As in PyTorch, gradients are multiplied by `min(1, maxNorm / (norm + 1e-6))`.
/// - Throws: ``RecurrentError/invalidValue(_:)`` when the norm is NaN or infinite (the gradients
///   are left unchanged), so training stops instead of silently corrupting the weights.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) throws -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.gradStorage else { continue }
        // Each parameter's squared norm in eight running sums (so that the loop vectorises), then
        // the norm of norms, as PyTorch.
        var sums = SIMD8<Float>()
        var s: Float = 0
        g.withUnsafeBufferPointer { g in
            let whole = g.count & ~7
            for i in stride(from: 0, to: whole, by: 8) {
                let v = SIMD8<Float>(g[i..<(i + 8)])
                sums += v * v
            }
            for i in whole..<g.count { s += g[i] * g[i] }
        }
        total += Double(sums.sum() + s)
    }
    let norm = Float(total.squareRoot())
    guard norm.isFinite else { throw RecurrentError.invalidValue("clipGradNorm: the total gradient norm is \(norm)") }
    let coefficient = min(maxNorm / (norm + 1e-6), 1)
    guard coefficient < 1 else { return norm }
    for p in parameters where p.gradStorage != nil {
        p.gradStorage!.withUnsafeMutableBufferPointer { g in for i in 0..<g.count { g[i] *= coefficient } }
    }
    return norm
}
