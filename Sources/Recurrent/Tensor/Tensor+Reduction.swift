import Foundation

// Reductions and the softmax family, each forward beside its backward.

extension Tensor {
    /// The sum of all elements, as a scalar tensor (`x.sum()`).
    public func sum() -> Tensor {
        let total = scalars.withUnsafeBufferPointer(pairwiseSum)
        return Tensor(shape: [], scalars: [total], node: Node.make(.sum, inputs: [self], outputShapes: [[]]))
    }

    /// The mean of all elements, as a scalar tensor (`x.mean()`).
    public func mean() -> Tensor {
        let total = scalars.withUnsafeBufferPointer(pairwiseSum)
        return Tensor(shape: [], scalars: [total / Float(max(count, 1))], node: Node.make(.mean, inputs: [self], outputShapes: [[]]))
    }
}

/// The sum of `x` by pairwise (cascade) summation, as NumPy and PyTorch do: halves summed
/// separately down to blocks of at most 256, each summed in 16 independent lanes. The rounding
/// error grows like log n instead of n, and the adds run in parallel instead of one dependent add
/// per element (a `[28, 50, 64]` output: 120 µs sequentially, a few µs this way).
///
/// From ``parallelCount`` terms the two top-level halves are summed on two threads. They are the
/// halves the recursion takes, so the result is the same bits. (A sequence's whole output, the
/// 1.6 M floats of `rnn`'s, took 3% of the main thread's time in training while the other waited.)
func pairwiseSum(_ x: UnsafeBufferPointer<Float>) -> Float {
    if x.count >= parallelCount && WorkerPool.availableThreads > 1 {
        let half = x.count / 2, halves = [0..<half, half..<x.count]
        var sums: [Float] = [0, 0]
        sums.withUnsafeMutableBufferPointer { sums in
            WorkerPool.shared.run(upTo: 2) { part, parts in
                for i in partition(2, part, parts) {
                    sums[i] = serialPairwiseSum(UnsafeBufferPointer(rebasing: x[halves[i]]))
                }
            }
        }
        return sums[0] + sums[1]
    }
    return serialPairwiseSum(x)
}

/// From this many elements (1 MiB) a reduction or a filled gradient is shared out over two threads.
let parallelCount = 1 << 18

/// ``pairwiseSum(_:)`` on the calling thread.
private func serialPairwiseSum(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let base = x.baseAddress else { return 0 }
    if x.count > 256 {
        let half = x.count / 2
        return serialPairwiseSum(UnsafeBufferPointer(start: base, count: half))
            + serialPairwiseSum(UnsafeBufferPointer(start: base + half, count: x.count - half))
    }
    var lanes = SIMD16<Float>()
    var i = 0
    while i + 16 <= x.count {
        lanes += UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var total = lanes.sum()
    while i < x.count { total += x[i]; i += 1 }
    return total
}

/// `count` copies of `value`: the gradient of ``Tensor/sum()`` and ``Tensor/mean()``. Large ones
/// (megabytes of fresh memory) are filled by two threads, which also share the page faults (on one
/// thread, 3% of the main thread's time in `rnn` training, while the other thread waited).
func filledGradient(_ value: Float, count: Int) -> [Float] {
    filledRows(count, count: count) { share, base in (base + share.lowerBound).initialize(repeating: value, count: share.count) }
}

/// Softmax over the last axis (`torch.softmax(x, dim=-1)`).
///
/// - Parameter x: `[..., C]`.
/// - Returns: `[..., C]`, each row summing to 1.
public func softmax(_ x: Tensor) -> Tensor {
    let y = softmaxRows(x.scalars, lastDim: x.shape.last ?? 1, log: false)
    return Tensor(shape: x.shape, scalars: y, node: Node.make(.softmax(output: y), inputs: [x], outputShapes: [x.shape]))
}

/// Log-softmax over the last axis (`torch.log_softmax(x, dim=-1)`), computed stably.
///
/// - Parameter x: `[..., C]`.
/// - Returns: `[..., C]`.
public func logSoftmax(_ x: Tensor) -> Tensor {
    let y = softmaxRows(x.scalars, lastDim: x.shape.last ?? 1, log: true)
    return Tensor(shape: x.shape, scalars: y, node: Node.make(.logSoftmax(output: y), inputs: [x], outputShapes: [x.shape]))
}

/// Row-wise (log-)softmax of `[rows, C]` scalars: subtract the row maximum, exponentiate, normalise.
func softmaxRows(_ x: [Float], lastDim c: Int, log: Bool) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    guard c > 0 else { return y }
    for row in 0..<(x.count / c) {
        let base = row * c
        var m = -Float.infinity
        for j in 0..<c { m = max(m, x[base + j]) }
        var s: Float = 0
        for j in 0..<c { s += Foundation.exp(x[base + j] - m) }
        let logS = Foundation.log(s)
        for j in 0..<c {
            y[base + j] = log ? x[base + j] - m - logS : Foundation.exp(x[base + j] - m) / s
        }
    }
    return y
}

// y = softmax(x)       dx_j = y_j (g_j - Σ_k g_k y_k)
func softmaxBackward(_ g: [Float], _ y: [Float], lastDim c: Int) -> [Float] {
    var dx = [Float](repeating: 0, count: g.count)
    guard c > 0 else { return dx }
    for row in 0..<(g.count / c) {
        let base = row * c
        var dot: Float = 0
        for j in 0..<c { dot += g[base + j] * y[base + j] }
        for j in 0..<c { dx[base + j] = y[base + j] * (g[base + j] - dot) }
    }
    return dx
}

// y = log softmax(x)   dx_j = g_j - e^{y_j} Σ_k g_k
func logSoftmaxBackward(_ g: [Float], _ y: [Float], lastDim c: Int) -> [Float] {
    var dx = [Float](repeating: 0, count: g.count)
    guard c > 0 else { return dx }
    for row in 0..<(g.count / c) {
        let base = row * c
        var total: Float = 0
        for j in 0..<c { total += g[base + j] }
        for j in 0..<c { dx[base + j] = g[base + j] - Foundation.exp(y[base + j]) * total }
    }
    return dx
}
