import Foundation

/// The operators that move elements or compute shapes (what exporters wrap around a recurrent
/// node): each with ONNX's semantics, negative axes and indices counted from the end.
extension ONNXNode {
    /// `Shape`: the input's dimensions `[start, end)` as an int64 vector (`start`/`end` from opset 15,
    /// negative ones counted from the end, both clamped to `[0, rank]`).
    func shape(_ data: ONNXValue) throws -> ONNXValue {
        let r = data.shape.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let start = clamp(try int("start", default: 0)), end = clamp(try int("end", default: r))
        let dims = start < end ? Array(data.shape[start..<end]) : []
        return ONNXValue(shape: [dims.count], ints: dims)
    }

    /// `Gather`: `data` `[a…, n, b…]` and integer `indices` `[k…]` → `[a…, k…, b…]` along `axis`.
    func gather(_ data: ONNXValue, _ indices: ONNXValue) throws -> ONNXValue {
        let r = data.shape.count
        guard r >= 1 else { throw fail("data is a scalar; Gather needs rank at least 1") }
        let axis = try normalized(axis: int("axis", default: 0), rank: r)
        guard let idx = indices.ints else { throw fail("indices must be integers, got float") }
        let n = data.shape[axis]
        let rows = try idx.map { i in
            guard i >= -n, i < n else { throw fail("index \(i) is out of range for axis \(axis) of size \(n) (data \(data.shape))") }
            return i < 0 ? i + n : i
        }
        let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
        let shape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
        try checkSize(shape)
        var source: [Int] = []
        source.reserveCapacity(outer * rows.count * inner)
        for o in 0..<outer { for i in rows { for k in 0..<inner { source.append((o * n + i) * inner + k) } } }
        return data.gathered(source, shape: shape)
    }

    /// `Unsqueeze`: size-1 axes inserted at `axes` (an attribute before opset 13, an input from 13),
    /// each counted in the output's rank.
    func unsqueeze(_ x: [ONNXValue?]) throws -> ONNXValue {
        let data = try required(x, 0, "data")
        let axes: [Int]
        if opset < 13 {
            guard let a = try ints("axes") else { throw fail("attribute 'axes' is required before opset 13") }
            axes = a
        } else {
            axes = try intVector(required(x, 1, "axes"), "axes")
        }
        let rank = data.shape.count + axes.count
        let inserted = Set(try normalized(axes: axes, rank: rank))
        var dims = data.shape.makeIterator()
        return data.reshaped((0..<rank).map { inserted.contains($0) ? 1 : dims.next()! })
    }

    /// `Squeeze`: the size-1 axes `axes` removed (every size-1 axis when `axes` is not given).
    func squeeze(_ x: [ONNXValue?]) throws -> ONNXValue {
        let data = try required(x, 0, "data")
        let given: [Int]? = opset < 13 ? try ints("axes") : try (x.count > 1 ? x[1] : nil).map { try intVector($0, "axes") }
        guard let given else { return data.reshaped(data.shape.filter { $0 != 1 }) }
        let axes = Set(try normalized(axes: given, rank: data.shape.count))
        for a in axes.sorted() where data.shape[a] != 1 {
            throw fail("cannot squeeze axis \(a) of \(data.shape): its size is \(data.shape[a]), not 1")
        }
        return data.reshaped(data.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
    }

    /// `Concat`: the inputs joined along `axis`; every other dimension and the element type must agree.
    func concat(_ x: [ONNXValue?]) throws -> ONNXValue {
        let values = try x.indices.map { try required(x, $0, "\($0)") }
        let first = values[0], r = first.shape.count
        guard r >= 1 else { throw fail("cannot concatenate scalars") }
        guard let a = try int("axis") else { throw fail("attribute 'axis' is required") }
        let axis = try normalized(axis: a, rank: r)
        for v in values {
            guard v.isFloat == first.isFloat else { throw fail("inputs mix \(first.typeName) and \(v.typeName)") }
            guard v.shape.count == r, (0..<r).allSatisfy({ $0 == axis || v.shape[$0] == first.shape[$0] }) else {
                throw fail("input shapes \(values.map(\.shape)) differ outside axis \(axis)")
            }
        }
        var shape = first.shape
        shape[axis] = values.map { $0.shape[axis] }.reduce(0, +)
        try checkSize(shape)
        let outer = first.shape[..<axis].reduce(1, *), inner = first.shape[(axis + 1)...].reduce(1, *)
        var starts: [Int] = [], total = 0
        for v in values { starts.append(total); total += v.count }
        var source: [Int] = []
        for o in 0..<outer {
            for (j, v) in values.enumerated() {
                let slab = v.shape[axis] * inner
                for k in 0..<slab { source.append(starts[j] + o * slab + k) }
            }
        }
        let all: ONNXValue = first.isFloat ? ONNXValue(shape: [total], floats: values.flatMap(\.floats))
            : ONNXValue(shape: [total], ints: values.flatMap { $0.ints! })
        return all.gathered(source, shape: shape)
    }

    /// `ConstantOfShape`: a tensor of the given shape filled with `value` (one element; float 0 by default).
    func constantOfShape(_ input: ONNXValue) throws -> ONNXValue {
        let shape = try intVector(input, "shape")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("shape \(shape) has a negative dimension") }
        try checkSize(shape)
        let n = shape.reduce(1, *)
        guard let value = try tensor("value") else { return ONNXValue(shape: shape, floats: .init(repeating: 0, count: n)) }
        guard value.count == 1 else { throw fail("attribute 'value' must hold one element, holds \(value.count)") }
        return value.gathered(.init(repeating: 0, count: n), shape: shape)
    }

    /// `Expand`: `input` broadcast (both ways, as NumPy does) with `shape`.
    func expand(_ input: ONNXValue, _ shapeValue: ONNXValue) throws -> ONNXValue {
        let target = try intVector(shapeValue, "shape")
        guard target.allSatisfy({ $0 >= 0 }) else { throw fail("shape \(target) has a negative dimension") }
        guard let shape = broadcastShape(input.shape, target) else { throw fail("input \(input.shape) does not broadcast to \(target)") }
        try checkSize(shape)
        return input.gathered(sourceOffsets(shape, strides: broadcastStrides(input.shape, to: shape)), shape: shape)
    }

    /// `Transpose`: axes permuted by `perm` (reversed by default).
    func transpose(_ data: ONNXValue) throws -> ONNXValue {
        let r = data.shape.count
        let perm = try ints("perm") ?? Array((0..<r).reversed())
        guard perm.sorted() == Array(0..<r) else { throw fail("perm \(perm) is not a permutation of the \(r) axes of \(data.shape)") }
        let strides = rowMajorStrides(data.shape)
        let shape = perm.map { data.shape[$0] }
        return data.gathered(sourceOffsets(shape, strides: perm.map { strides[$0] }), shape: shape)
    }

    /// `Slice`: along each of `axes`, `start..<end` by `step` (attributes before opset 10, inputs
    /// from 10); negative starts and ends count from the end, both are clamped (INT64_MAX means "to
    /// the end"), a negative step walks backwards.
    func slice(_ x: [ONNXValue?]) throws -> ONNXValue {
        let data = try required(x, 0, "data")
        let r = data.shape.count
        var starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if opset < 10 {
            guard let s = try ints("starts"), let e = try ints("ends") else { throw fail("attributes 'starts' and 'ends' are required before opset 10") }
            (starts, ends, axes, steps) = (s, e, try ints("axes"), nil)
        } else {
            starts = try intVector(required(x, 1, "starts"), "starts")
            ends = try intVector(required(x, 2, "ends"), "ends")
            axes = try (x.count > 3 ? x[3] : nil).map { try intVector($0, "axes") }
            steps = try (x.count > 4 ? x[4] : nil).map { try intVector($0, "steps") }
        }
        let axisList = try normalized(axes: axes ?? Array(0..<starts.count), rank: r)
        let stepList = steps ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw fail("starts (\(starts.count)), ends (\(ends.count)), axes (\(axisList.count)) and steps (\(stepList.count)) differ in length")
        }
        var shape = data.shape, strides = rowMajorStrides(data.shape), base = 0
        for (k, axis) in axisList.enumerated() {
            let d = data.shape[axis], step = stepList[k]
            guard step != 0 else { throw fail("step 0 on axis \(axis)") }
            var start = starts[k] < 0 ? starts[k] + d : starts[k], end = ends[k] < 0 ? ends[k] + d : ends[k]
            if step > 0 {
                start = min(max(start, 0), d); end = min(max(end, 0), d)
            } else {
                start = min(max(start, 0), d - 1); end = min(max(end, -1), d - 1)
            }
            let length = step > 0 ? max(0, (end - start + step - 1) / step) : max(0, (start - end - step - 1) / -step)
            base += length > 0 ? start * strides[axis] : 0
            shape[axis] = length
            strides[axis] *= step
        }
        return data.gathered(sourceOffsets(shape, strides: strides, base: base), shape: shape)
    }

    /// `Reshape`: the elements under `shape`, where 0 copies the input's dimension (unless
    /// `allowzero`, opset 14) and one -1 is inferred.
    func reshape(_ data: ONNXValue, _ shapeValue: ONNXValue) throws -> ONNXValue {
        let requested = try intVector(shapeValue, "shape")
        let allowZero = try int("allowzero", default: 0) == 1
        if allowZero && requested.contains(0) && requested.contains(-1) { throw fail("shape \(requested) has both 0 and -1 with allowzero") }
        var shape: [Int] = [], inferred: Int?
        for (k, s) in requested.enumerated() {
            switch s {
            case -1:
                guard inferred == nil else { throw fail("shape \(requested) has more than one -1") }
                inferred = k
                shape.append(1)
            case 0 where !allowZero:
                guard k < data.shape.count else { throw fail("shape \(requested) copies dimension \(k) (a 0) of the \(data.shape.count)-dimensional input \(data.shape)") }
                shape.append(data.shape[k])
            case _ where s < 0: throw fail("shape \(requested) has a negative dimension \(s)")
            default: shape.append(s)
            }
        }
        guard let known = checkedCount(shape) else { throw fail("shape \(requested) is too large") }
        if let inferred {
            guard known > 0, data.count % known == 0 else { throw fail("cannot reshape \(data.shape) (\(data.count) elements) to \(requested)") }
            shape[inferred] = data.count / known
        }
        guard shape.reduce(1, *) == data.count else { throw fail("cannot reshape \(data.shape) (\(data.count) elements) to \(requested) (\(shape.reduce(1, *)) elements)") }
        return data.reshaped(shape)
    }

    /// `Split`: the input cut along `axis` into the outputs, by `split` (an attribute before opset 13,
    /// an input from 13), by `num_outputs` (opset 18; the last part smaller when uneven), or equally.
    func split(_ x: [ONNXValue?]) throws -> [ONNXValue] {
        let data = try required(x, 0, "input")
        guard !data.shape.isEmpty else { throw fail("cannot split a scalar") }
        let axis = try normalized(axis: int("axis", default: 0), rank: data.shape.count)
        let d = data.shape[axis], n = outputs.count
        var sizes: [Int]
        if let s = opset < 13 ? try ints("split") : try (x.count > 1 ? x[1] : nil).map({ try intVector($0, "split") }) {
            sizes = s
        } else if let parts = try int("num_outputs") {
            guard parts == n, parts > 0 else { throw fail("num_outputs \(parts) but \(n) outputs") }
            let chunk = (d + parts - 1) / parts
            sizes = (0..<parts).map { min(chunk, max(0, d - $0 * chunk)) }
        } else {
            guard d % n == 0 else { throw fail("axis \(axis) of size \(d) does not split into \(n) equal parts") }
            sizes = Array(repeating: d / n, count: n)
        }
        guard sizes.count == n, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == d else {
            throw fail("split \(sizes) does not cut axis \(axis) of size \(d) into \(n) parts")
        }
        var parts: [ONNXValue] = [], start = 0
        for size in sizes {
            var shape = data.shape
            shape[axis] = size
            let strides = rowMajorStrides(data.shape)
            parts.append(data.gathered(sourceOffsets(shape, strides: strides, base: start * strides[axis]), shape: shape))
            start += size
        }
        return parts
    }
}
