// Shape operations: reshape, transpose, concatenate and narrow, each forward beside its backward.

extension Tensor {
    /// The same elements with a new shape of equal element count (`x.reshape(shape)`); one axis
    /// may be `-1` and is inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var shape = newShape
        if let unknown = shape.firstIndex(of: -1) {
            shape[unknown] = 1
            precondition(shape.product > 0 && count % shape.product == 0, "reshape: cannot reshape \(self.shape) to \(newShape)")
            shape[unknown] = count / shape.product
        }
        precondition(shape.product == count, "reshape: cannot reshape \(self.shape) (\(count) elements) to \(newShape)")
        return Tensor(shape: shape, scalars: scalars, node: Node.make(.reshape, inputs: [self], outputShapes: [shape]))
    }

    /// Inserts an axis of size 1 at `axis` (`x.unsqueeze(axis)`).
    public func unsqueezed(at axis: Int) -> Tensor {
        var s = shape
        s.insert(1, at: axis)
        return reshaped(s)
    }

    /// Removes the axis `axis`, which must have size 1 (`x.squeeze(axis)`).
    public func squeezed(at axis: Int) -> Tensor {
        precondition(shape[axis] == 1, "squeeze: axis \(axis) of \(shape) is not 1")
        var s = shape
        s.remove(at: axis)
        return reshaped(s)
    }

    /// Swaps two axes, copying the elements into row-major order (`x.transpose(a0, a1).contiguous()`).
    public func transposed(_ a0: Int, _ a1: Int) -> Tensor {
        var outShape = shape
        outShape.swapAt(a0, a1)
        let y = transposeScalars(scalars, shape: shape, a0, a1)
        return Tensor(shape: outShape, scalars: y, node: Node.make(.transpose(a0, a1), inputs: [self], outputShapes: [outShape]))
    }

    /// Elements `start ..< start + length` along `axis` (`x.narrow(axis, start, length)`).
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        precondition(axis >= 0 && axis < rank, "narrow: axis \(axis) out of range for shape \(shape)")
        precondition(start >= 0 && length >= 0 && start + length <= shape[axis],
                     "narrow: range \(start)..<\(start + length) out of bounds for axis \(axis) of \(shape)")
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        outShape[axis] = length
        var y = [Float](repeating: 0, count: outShape.product)
        for o in 0..<outer {
            let src = (o * shape[axis] + start) * inner, dst = o * length * inner
            for j in 0..<(length * inner) { y[dst + j] = scalars[src + j] }
        }
        return Tensor(shape: outShape, scalars: y, node: Node.make(.narrow(axis: axis, start: start), inputs: [self], outputShapes: [outShape]))
    }
}

/// Scalars of a tensor of `shape` with axes `a0` and `a1` swapped, in row-major order.
func transposeScalars(_ x: [Float], shape: [Int], _ a0: Int, _ a1: Int) -> [Float] {
    if a0 == a1 { return x }
    let (lo, hi) = (min(a0, a1), max(a0, a1))
    // View the shape as [outer, n0, mid, n1, inner] and swap n0 with n1.
    let outer = shape[..<lo].reduce(1, *), n0 = shape[lo], mid = shape[(lo + 1)..<hi].reduce(1, *)
    let n1 = shape[hi], inner = shape[(hi + 1)...].reduce(1, *)
    // Runs of `inner` contiguous floats copied through pointers (element-wise array access was 9%
    // of a batch-first MNIST epoch).
    return [Float](unsafeUninitializedCapacity: x.count) { y, initialized in
        x.withUnsafeBufferPointer { x in
            guard let src = x.baseAddress, var dst = y.baseAddress else { return }
            for o in 0..<outer {
                for j in 0..<n1 {
                    for m in 0..<mid {
                        for i in 0..<n0 {
                            (dst).update(from: src + ((((o * n0 + i) * mid + m) * n1 + j) * inner), count: inner)
                            dst += inner
                        }
                    }
                }
            }
        }
        initialized = x.count
    }
}

// dx = g with the same axes swapped back; a swap is its own inverse.
// (Node.inputGradients calls transposeScalars(g, shape: outputShape, a0, a1).)

/// Joins tensors along `axis` (`torch.cat(tensors, dim=axis)`); all other axes must agree.
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat: no tensors")
    let first = tensors[0].shape
    precondition(axis >= 0 && axis < first.count, "concat: axis \(axis) out of range for shape \(first)")
    for t in tensors {
        var a = t.shape, b = first
        precondition(a.count == b.count, "concat: rank mismatch \(t.shape) vs \(first)")
        a[axis] = 0; b[axis] = 0
        precondition(a == b, "concat: shapes \(t.shape) and \(first) differ outside axis \(axis)")
    }
    let outer = first[..<axis].reduce(1, *), inner = first[(axis + 1)...].reduce(1, *)
    var outShape = first
    outShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
    let total = outShape[axis] * inner
    let chunks = tensors.map { $0.shape[axis] * inner }
    let offsets = chunks.indices.map { chunks[..<$0].reduce(0, +) }
    // Each outer index o: the pieces of all tensors side by side, [o, total].
    let y = filledRows(outer, count: outer * total) { rows, out in
        for (i, t) in tensors.enumerated() {
            t.scalars.withPointer { x in
                for o in rows { (out + o * total + offsets[i]).update(from: x + o * chunks[i], count: chunks[i]) }
            }
        }
    }
    return Tensor(shape: outShape, scalars: y, node: Node.make(.concat(axis: axis), inputs: tensors, outputShapes: [outShape]))
}

// y = cat(x_k)         dx_k = the slice of g that x_k filled
func concatBackward(_ g: [Float], shapes: [[Int]], axis: Int) -> [[Float]?] {
    let outer = shapes[0][..<axis].reduce(1, *), inner = shapes[0][(axis + 1)...].reduce(1, *)
    let total = shapes.reduce(0) { $0 + $1[axis] } * inner
    var offset = 0
    return g.withPointer { g in
        shapes.map { shape in
            let chunk = shape[axis] * inner, start = offset
            offset += chunk
            return filledRows(outer, count: outer * chunk) { rows, dx in
                for o in rows { (dx + o * chunk).update(from: g + o * total + start, count: chunk) }
            }
        }
    }
}

/// A new array of `count` floats in `rows` parts, written by `fill(range, base)` for ranges of
/// parts that together cover `0..<rows` once. Large ones (megabytes of fresh memory: the outputs
/// of bidirectional layers and their gradients) are filled by the pool's threads, a share of the
/// parts each, which also share the page faults; on one thread, while the other waited, this
/// took 9% of the main thread's time in `bi-2` forward.
func filledRows(_ rows: Int, count: Int, _ fill: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let base = buffer.baseAddress {
            WorkerPool.shared.run(upTo: count >= parallelCount ? rows : 1) { part, parts in
                fill(partition(rows, part, parts), base)
            }
        }
        initialized = count
    }
}

// y = x[.., start..<start+n, ..]       dx = g placed back at those positions, zeros elsewhere
func narrowBackward(_ g: [Float], inputShape: [Int], axis: Int, start: Int, length: Int) -> [Float] {
    let outer = inputShape[..<axis].reduce(1, *), inner = inputShape[(axis + 1)...].reduce(1, *)
    var dx = [Float](repeating: 0, count: inputShape.product)
    for o in 0..<outer {
        let dst = (o * inputShape[axis] + start) * inner, src = o * length * inner
        for j in 0..<(length * inner) { dx[dst + j] = g[src + j] }
    }
    return dx
}
