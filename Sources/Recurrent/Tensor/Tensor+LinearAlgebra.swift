// Matrix products, each forward beside its backward.

extension Array where Element == Float {
    /// Calls `body` with a pointer to the elements (shorthand for the kernels' calls).
    @inline(__always)
    func withPointer<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 8)!) }
    }

    /// `count` floats left uninitialized, for buffers the caller fills completely before reading.
    static func uninitialized(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Calls `body` with a mutable pointer to the elements.
    @inline(__always)
    mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        withUnsafeMutableBufferPointer { body($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!) }
    }
}

/// `op(a) · op(b)` for row-major matrices given by pointers.
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, m: Int, n: Int, k: Int, transposeA: Bool = false,
          transposeB: Bool = false) -> [Float] {
    var c = [Float].uninitialized(m * n)  // every element is written by the product
    c.withMutablePointer { Kernels.gemm($0, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB) }
    return c
}

/// `op(a) · op(b)` for scalars of row-major matrices.
func gemm(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false) -> [Float] {
    a.withPointer { pa in b.withPointer { pb in gemm(pa, pb, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB) } }
}

/// Matrix product of two rank-2 tensors (`a @ b`).
///
/// - Parameters:
///   - a: `[M, K]`.
///   - b: `[K, N]`.
/// - Returns: `[M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0],
                 "matmul: expected [M, K] and [K, N], got \(a.shape) and \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    let y = gemm(a.scalars, b.scalars, m: m, n: n, k: k)
    return Tensor(shape: [m, n], scalars: y, node: Node.make(.matmul, inputs: [a, b], outputShapes: [[m, n]]))
}

// c = a b          da = g bᵀ  [M, K],  db = aᵀ g  [K, N]
func matmulBackward(_ g: [Float], _ a: Tensor, _ b: Tensor) -> [[Float]?] {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    return [
        a.requiresGrad ? gemm(g, b.scalars, m: m, n: k, k: n, transposeB: true) : nil,
        b.requiresGrad ? gemm(a.scalars, g, m: k, n: n, k: m, transposeA: true) : nil,
    ]
}

/// An affine map over the last axis, `x · Wᵀ + b` (`torch.nn.functional.linear`).
///
/// - Parameters:
///   - x: `[..., in]`.
///   - weight: `[out, in]`.
///   - bias: `[out]` or nil.
/// - Returns: `[..., out]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(weight.rank == 2 && x.shape.last == inFeatures,
                 "linear: input \(x.shape) does not end in in_features \(inFeatures) of weight \(weight.shape)")
    if let bias { precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) should be [\(outFeatures)]") }
    let rows = x.count / max(inFeatures, 1)
    var y = gemm(x.scalars, weight.scalars, m: rows, n: outFeatures, k: inFeatures, transposeB: true)
    if let bias {
        for r in 0..<rows { for j in 0..<outFeatures { y[r * outFeatures + j] += bias.scalars[j] } }
    }
    let outShape = Array(x.shape.dropLast()) + [outFeatures]
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return Tensor(shape: outShape, scalars: y, node: Node.make(.linear, inputs: inputs, outputShapes: [outShape]))
}

// y = x Wᵀ + b     dx = g W  [N, in],  dW = gᵀ x  [out, in],  db = Σ_rows g  [out]
func linearBackward(_ g: [Float], _ inputs: [Tensor]) -> [[Float]?] {
    let (x, w) = (inputs[0], inputs[1])
    let (outFeatures, inFeatures) = (w.shape[0], w.shape[1])
    let rows = x.count / max(inFeatures, 1)
    var grads: [[Float]?] = [
        x.requiresGrad ? gemm(g, w.scalars, m: rows, n: inFeatures, k: outFeatures) : nil,
        w.requiresGrad ? gemm(g, x.scalars, m: outFeatures, n: inFeatures, k: rows, transposeA: true) : nil,
    ]
    if inputs.count == 3 {
        var db = [Float](repeating: 0, count: outFeatures)
        for r in 0..<rows { for j in 0..<outFeatures { db[j] += g[r * outFeatures + j] } }
        grads.append(db)
    }
    return grads
}
