import Foundation

// Elementwise operations with PyTorch's broadcasting, each forward beside its backward.

/// How two shapes broadcast against each other (NumPy / PyTorch rules: align trailing axes; an
/// axis of size 1 stretches).
struct Broadcast {
    let outShape: [Int]
    let lhsShape: [Int]
    let rhsShape: [Int]
    /// Strides into each operand for every output axis; 0 along a stretched axis.
    let lhsStrides: [Int]
    let rhsStrides: [Int]

    init(_ lhs: [Int], _ rhs: [Int]) {
        let rank = max(lhs.count, rhs.count)
        let l = Array(repeating: 1, count: rank - lhs.count) + lhs
        let r = Array(repeating: 1, count: rank - rhs.count) + rhs
        var out = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            precondition(
                l[axis] == r[axis] || l[axis] == 1 || r[axis] == 1,
                "broadcast: shapes \(lhs) and \(rhs) do not broadcast (axis \(axis): \(l[axis]) vs \(r[axis]))")
            out[axis] = l[axis] == 1 ? r[axis] : l[axis]
        }
        outShape = out
        lhsShape = lhs
        rhsShape = rhs
        lhsStrides = Broadcast.strides(l, stretchedTo: out)
        rhsStrides = Broadcast.strides(r, stretchedTo: out)
    }

    private static func strides(_ shape: [Int], stretchedTo out: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: shape.count)
        var step = 1
        for axis in (0..<shape.count).reversed() {
            strides[axis] = shape[axis] == 1 && out[axis] != 1 ? 0 : step
            step *= shape[axis]
        }
        return strides
    }

    var isElementwise: Bool { lhsShape == outShape && rhsShape == outShape }

    /// Calls `body(out, lhs, rhs)` with matching flat indices for every output element.
    @inline(__always)
    func forEach(_ body: (Int, Int, Int) -> Void) {
        let count = outShape.product
        if count == 0 { return }
        if isElementwise {
            for i in 0..<count { body(i, i, i) }
            return
        }
        let rank = outShape.count
        let inner = outShape[rank - 1], sl = lhsStrides[rank - 1], sr = rhsStrides[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var lo = 0, ro = 0, o = 0
        while o < count {
            for j in 0..<inner { body(o + j, lo + j * sl, ro + j * sr) }
            o += inner
            var axis = rank - 2
            while axis >= 0 {  // odometer over the outer axes
                index[axis] += 1
                lo += lhsStrides[axis]
                ro += rhsStrides[axis]
                if index[axis] < outShape[axis] { break }
                lo -= lhsStrides[axis] * outShape[axis]
                ro -= rhsStrides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// `out[i] = f(lhs[i], rhs[i])` under broadcasting.
private func broadcastBinary(
    _ a: Tensor, _ b: Tensor, _ op: (Broadcast) -> Op, _ f: (Float, Float) -> Float
) -> Tensor {
    let plan = Broadcast(a.shape, b.shape)
    var out = [Float](repeating: 0, count: plan.outShape.product)
    a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                plan.forEach { o, l, r in po[o] = f(pa[l], pb[r]) }
            }
        }
    }
    return Tensor(shape: plan.outShape, scalars: out, node: Node.make(op(plan), inputs: [a, b], outputShapes: [plan.outShape]))
}

/// Accumulates `dlhs[l] += fl(g, l, r)` and `drhs[r] += fr(g, l, r)` over the broadcast.
private func broadcastBackward(
    _ g: [Float], _ plan: Broadcast, _ fl: (Float, Int, Int) -> Float, _ fr: (Float, Int, Int) -> Float
) -> [[Float]?] {
    var dl = [Float](repeating: 0, count: plan.lhsShape.product)
    var dr = [Float](repeating: 0, count: plan.rhsShape.product)
    g.withUnsafeBufferPointer { pg in
        dl.withUnsafeMutableBufferPointer { pl in
            dr.withUnsafeMutableBufferPointer { pr in
                plan.forEach { o, l, r in
                    pl[l] += fl(pg[o], l, r)
                    pr[r] += fr(pg[o], l, r)
                }
            }
        }
    }
    return [dl, dr]
}

// y = a + b        da = g, db = g (summed over stretched axes)
func addBackward(_ g: [Float], _ plan: Broadcast) -> [[Float]?] {
    if plan.isElementwise { return [g, g] }
    return broadcastBackward(g, plan, { g, _, _ in g }, { g, _, _ in g })
}

// y = a - b        da = g, db = -g
func subtractBackward(_ g: [Float], _ plan: Broadcast) -> [[Float]?] {
    broadcastBackward(g, plan, { g, _, _ in g }, { g, _, _ in -g })
}

// y = a * b        da = g b, db = g a
func multiplyBackward(_ g: [Float], _ plan: Broadcast, _ a: [Float], _ b: [Float]) -> [[Float]?] {
    broadcastBackward(g, plan, { g, _, r in g * b[r] }, { g, l, _ in g * a[l] })
}

// y = a / b        da = g / b, db = -g a / b²
func divideBackward(_ g: [Float], _ plan: Broadcast, _ a: [Float], _ b: [Float]) -> [[Float]?] {
    broadcastBackward(g, plan, { g, _, r in g / b[r] }, { g, l, r in -g * a[l] / (b[r] * b[r]) })
}

extension Tensor {
    /// Elementwise sum with broadcasting (PyTorch's `a + b`).
    public static func + (a: Tensor, b: Tensor) -> Tensor { broadcastBinary(a, b, Op.add, +) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcastBinary(a, b, Op.subtract, -) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcastBinary(a, b, Op.multiply, *) }
    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor { broadcastBinary(a, b, Op.divide, /) }

    /// `x * s` for a constant `s`.
    public static func * (x: Tensor, s: Float) -> Tensor {
        Tensor(shape: x.shape, scalars: x.scalars.map { $0 * s }, node: Node.make(.scale(s), inputs: [x], outputShapes: [x.shape]))
    }
    /// `s * x` for a constant `s`.
    public static func * (s: Float, x: Tensor) -> Tensor { x * s }
    /// `x / s` for a constant `s`.
    public static func / (x: Tensor, s: Float) -> Tensor { x * (1 / s) }
    /// `x + s` for a constant `s`.
    public static func + (x: Tensor, s: Float) -> Tensor { x + Tensor(s) }
    /// `x - s` for a constant `s`.
    public static func - (x: Tensor, s: Float) -> Tensor { x + Tensor(-s) }
    /// `-x`.
    public static prefix func - (x: Tensor) -> Tensor { x * -1 }
}

// MARK: - Unary functions

/// `f` applied to every element, recording `op` (built from the output) for the backward pass.
private func unary(_ x: Tensor, _ f: (Float) -> Float, _ op: ([Float]) -> Op) -> Tensor {
    let y = x.scalars.map(f)
    return Tensor(shape: x.shape, scalars: y, node: Node.make(op(y), inputs: [x], outputShapes: [x.shape]))
}

/// The logistic sigmoid 1 / (1 + e^-x), computed without overflow for large |x|.
@inline(__always)
func sigmoid(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
}

/// Elementwise hyperbolic tangent (`torch.tanh`).
public func tanh(_ x: Tensor) -> Tensor { unary(x, { Foundation.tanh($0) }, Op.tanh) }
// y = tanh x       dx = g (1 - y²)
func tanhBackward(_ g: [Float], _ y: [Float]) -> [Float] { zip(g, y).map { $0 * (1 - $1 * $1) } }

/// Elementwise logistic sigmoid (`torch.sigmoid`).
public func sigmoid(_ x: Tensor) -> Tensor { unary(x, sigmoid, Op.sigmoid) }
// y = σ(x)         dx = g y (1 - y)
func sigmoidBackward(_ g: [Float], _ y: [Float]) -> [Float] { zip(g, y).map { $0 * $1 * (1 - $1) } }

/// Elementwise max(x, 0) (`torch.relu`).
public func relu(_ x: Tensor) -> Tensor { unary(x, { max($0, 0) }, { _ in .relu }) }
// y = max(x, 0)    dx = g [x > 0]
func reluBackward(_ g: [Float], _ x: [Float]) -> [Float] { zip(g, x).map { $1 > 0 ? $0 : 0 } }

/// Elementwise e^x (`torch.exp`).
public func exp(_ x: Tensor) -> Tensor { unary(x, { Foundation.exp($0) }, Op.exp) }

/// Elementwise natural logarithm (`torch.log`).
public func log(_ x: Tensor) -> Tensor { unary(x, { Foundation.log($0) }, { _ in .log }) }

extension Tensor {
    /// Elementwise square, `x * x`.
    public func squared() -> Tensor { self * self }
}
