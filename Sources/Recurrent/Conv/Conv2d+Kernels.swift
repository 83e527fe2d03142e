import _RecurrentKernels

// The convolution as matrix products (im2col), forward beside backward. For one image b, with
// cols_b = im2col(x_b) `[K, N]` and the weight as a matrix Wₘ `[Cₒ, K]`:
//
//   forward   y_b  = Wₘ · cols_b + bias                 [Cₒ, N]
//   backward  dWₘ  = Σ_b dy_b · cols_bᵀ                  [Cₒ, K]
//             dcols_b = Wₘᵀ · dy_b, dx_b = col2im(dcols_b) [Cᵢ, H, W]
//             dbias = Σ_b Σ_n dy_b                       [Cₒ]
//
// The columns are built a block of output positions at a time (``ConvGeometry/blockWidth``
// columns, a few MiB), so that im2col never holds a whole image's patches (RAFT's 3×3 over 448
// channels and 55×128 positions would be 113 MB per image); the blocks are shared out over the
// worker pool. Nothing is saved for the backward pass but the input: the backward builds the
// columns again, which costs one copy where the products cost K multiply-adds per element.

extension ConvGeometry {
    /// Output positions per im2col block: about 4 MiB of columns, at least 64 (so that each
    /// product still has some depth), a multiple of 16 (whole vectors), at most N. (RAFT's 3×3
    /// over 448 channels, B = 4: forward 492 ms with 1 MiB blocks of 64 positions, 378 ms with
    /// 4 MiB blocks of 256, on the 2-core VM.)
    var blockWidth: Int {
        let wanted = max(64, ((1 << 20) / max(patch, 1)) / 16 * 16)
        return min(positions, wanted)
    }

    /// Blocks per image.
    var blocksPerImage: Int { (positions + blockWidth - 1) / blockWidth }

    /// The output positions of block `block`.
    func columns(ofBlock block: Int) -> Range<Int> { block * blockWidth ..< min(positions, (block + 1) * blockWidth) }

    /// Multiply-adds of one product over the whole batch: small ones run on the calling thread.
    var isLarge: Bool { batch * outChannels * positions * patch >= 1 << 18 }

    /// Where each input part's channels start in the concatenation, and the end.
    var partOffsets: [Int] { partChannels.indices.map { partChannels[..<$0].reduce(0, +) } + [inChannels] }

    /// Fills `cols` `[K, columns]` with the patches of image `b` read by `columns`: the rows of
    /// part p's channels from the part `x[p]` `[B, Cₚ, H, W]`.
    func im2col(_ cols: UnsafeMutablePointer<Float>, _ x: [UnsafePointer<Float>], image b: Int, _ columns: Range<Int>) {
        let (offsets, plane, area) = (partOffsets, height * width, kernelHeight * kernelWidth)
        for (p, channels) in partChannels.enumerated() {
            rk_im2col(cols + offsets[p] * area * columns.count, columns.count, x[p] + b * channels * plane, channels, height, width,
                      kernelHeight, kernelWidth, padTop, padLeft, strideHeight, strideWidth, outWidth, columns.lowerBound,
                      columns.upperBound)
        }
    }
}

/// Calls `body` with a pointer to each array's elements.
func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    var pointers: [UnsafePointer<Float>] = []
    func next(_ i: Int) -> R {
        if i == arrays.count { return body(pointers) }
        return arrays[i].withPointer { pointers.append($0); return next(i + 1) }
    }
    return next(0)
}

/// New arrays of `counts` floats, zeroed, then filled by `body` through pointers.
func zeroedArrays(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> Void) -> [[Float]] {
    var arrays = [[Float]](repeating: [], count: counts.count)
    var pointers: [UnsafeMutablePointer<Float>] = []
    func next(_ i: Int) {
        if i == counts.count { return body(pointers) }
        arrays[i] = [Float](unsafeUninitializedCapacity: counts[i]) { buffer, count in
            let base = buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!
            base.initialize(repeating: 0, count: counts[i])
            pointers.append(base)
            next(i + 1)
            count = counts[i]
        }
    }
    next(0)
    return arrays
}

extension Tensor {
    /// This convolution weight `[Cₒ, Cᵢ, kH, kW]` as Wₘᵀ `[K, Cₒ]` (K = `patch` = Cᵢ · kH · kW), the
    /// right operand of the forward products, packed once and cached until its values change (as
    /// ``packedMatrix(transposed:)``, whose cache it shares: a rank-4 tensor has no other use of it).
    func packedConvWeight(patch: Int) -> PackedMatrix {
        let isa = Kernels.instructionSet
        if Kernels.backend == .optimized, let hit = packedCache[true], hit.version == version, hit.isa == isa {
            return hit.matrix
        }
        let matrix = scalars.withPointer { PackedMatrix($0, k: patch, n: shape[0], transposed: true) }
        if Kernels.backend == .optimized { packedCache[true] = (version, isa, matrix) }
        return matrix
    }
}

/// The convolution as one graph node, with its own backward. Its input may come in parts
/// (`[h, x]` for the recurrent cells), read as their concatenation along the channels without
/// copying them into one tensor.
final class Conv2dFunction: FusedFunction {
    let geometry: ConvGeometry

    init(geometry: ConvGeometry) { self.geometry = geometry }

    /// `parts`: the input's channel groups, each `[B, Cₚ, H, W]` (one part: the input itself).
    static func apply(_ parts: [Tensor], weight: Tensor, bias: Tensor?, geometry: ConvGeometry) -> Tensor {
        let y = forward(parts.map(\.scalars), weight.packedConvWeight(patch: geometry.patch), bias?.scalars, geometry)
        let inputs = parts + [weight] + (bias.map { [$0] } ?? [])
        let node = Node.make(.fused(Conv2dFunction(geometry: geometry)), inputs: inputs, outputShapes: [geometry.outputShape])
        return Tensor(shape: geometry.outputShape, scalars: y, node: node)
    }

    // x: parts of [B, Cᵢ, H, W], wᵀ: [K, Cₒ] packed, bias: [Cₒ] → y: [B, Cₒ, N]. Each block of
    // positions is one product with the positions as its rows, yᵀ_block `[columns, Cₒ]` = colsᵀ ·
    // Wₘᵀ (the packed kernels are fast on many rows, and Wₘᵀ is packed once; with Cₒ as the rows
    // and the columns read in place, the 3×3 over 448 channels ran at half the FMA peak), then
    // transposed into y with the bias.
    static func forward(_ x: [[Float]], _ wT: PackedMatrix, _ bias: [Float]?, _ g: ConvGeometry) -> [Float] {
        let (k, n, cOut, blocks) = (g.patch, g.positions, g.outChannels, g.blocksPerImage)
        return [Float](unsafeUninitializedCapacity: g.batch * cOut * n) { buffer, count in
            count = g.batch * cOut * n
            guard let y = buffer.baseAddress, count > 0 else { return }
            withPointers(x) { x in
                WorkerPool.shared.run(upTo: g.isLarge ? g.batch * blocks : 1) { part, parts in
                    let cols = Scratch.take(k * g.blockWidth), yT = Scratch.take(g.blockWidth * cOut)
                    defer { Scratch.give(cols); Scratch.give(yT) }
                    for task in partition(g.batch * blocks, part, parts) {
                        let (b, block) = task.quotientAndRemainder(dividingBy: blocks)
                        let columns = g.columns(ofBlock: block)
                        g.im2col(cols.base, x, image: b, columns)
                        // yT `[columns, Cₒ]` = colsᵀ · Wₘᵀ, colsᵀ stored as cols `[K, columns]`.
                        wT.multiply(into: yT.base, ldc: cOut, cols.base, lda: columns.count, transposeA: true,
                                    m: columns.count, columns: 0..<cOut, accumulate: false)
                        let out = y + b * cOut * n + columns.lowerBound
                        for o in 0..<cOut {
                            let row = out + o * n, value = bias?[o] ?? 0
                            for j in 0..<columns.count { row[j] = yT.base[j * cOut + o] + value }
                        }
                    }
                }
            }
        }
    }

    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        let g = geometry
        let partCount = g.partChannels.count
        guard let dy = outputGradients[0] else { return inputs.map { _ in nil } }
        let (parts, w) = (Array(inputs[..<partCount]), inputs[partCount])
        let wanted = parts.map(\.requiresGrad)
        var grads: [[Float]?] = wanted.contains(true)
            ? zip(Self.inputGradient(dy, w.scalars, g, wanted: wanted), wanted).map { $1 ? $0 : nil }
            : parts.map { _ in nil }
        grads.append(w.requiresGrad ? Self.weightGradient(dy, parts.map(\.scalars), g) : nil)
        if inputs.count == partCount + 2 {
            // dbias[o] = Σ_b Σ_n dy[b, o, n]
            let n = g.positions
            var db = [Float](repeating: 0, count: g.outChannels)
            dy.withPointer { dy in
                for b in 0..<g.batch {
                    for o in 0..<g.outChannels {
                        let row = dy + (b * g.outChannels + o) * n
                        var s: Float = 0
                        for j in 0..<n { s += row[j] }
                        db[o] += s
                    }
                }
            }
            grads.append(inputs[partCount + 1].requiresGrad ? db : nil)
        }
        return grads
    }

    // dy: [B, Cₒ, N], w: [Cₒ, K] → dx: one [B, Cₚ, H, W] per part (empty where not `wanted`).
    // dcols = Wₘᵀ · dy, one block of positions and one share of the input channels (rows of dcols)
    // at a time; col2im adds them into dx. Tasks are (image, share of channels), so that no two
    // threads add into the same element.
    static func inputGradient(_ dy: [Float], _ w: [Float], _ g: ConvGeometry, wanted: [Bool]) -> [[Float]] {
        let (k, n, cOut) = (g.patch, g.positions, g.outChannels)
        let kernelArea = g.kernelHeight * g.kernelWidth, plane = g.height * g.width
        let offsets = g.partOffsets
        let shares = g.isLarge ? min(g.inChannels, WorkerPool.availableThreads) : 1
        let counts = zip(g.partChannels, wanted).map { $1 ? g.batch * $0 * plane : 0 }
        return zeroedArrays(counts) { dx in dy.withPointer { dy in w.withPointer { w in
            WorkerPool.shared.run(upTo: g.batch * shares) { part, parts in
                let dcols = Scratch.take(k * g.blockWidth)
                defer { Scratch.give(dcols) }
                for task in partition(g.batch * shares, part, parts) {
                    let (b, share) = task.quotientAndRemainder(dividingBy: shares)
                    let shareChannels = partition(g.inChannels, share, shares)
                    // dy_b `[Cₒ, N]`, read in place; each block takes its columns.
                    let operand = PackedMatrix(dy + b * cOut * n, k: cOut, n: n, transposed: false, inPlace: true)
                    for block in 0..<g.blocksPerImage {
                        let columns = g.columns(ofBlock: block)
                        for (p, partChannels) in g.partChannels.enumerated() where wanted[p] {
                            let (first, end) = (max(shareChannels.lowerBound, offsets[p]), min(shareChannels.upperBound, offsets[p + 1]))
                            if first >= end { continue }
                            let channels = first..<end
                            let rows = channels.lowerBound * kernelArea ..< channels.upperBound * kernelArea
                            // dcols[rows, columns] = Wₘ[:, rows]ᵀ · dy_b[:, columns]; c points at column 0.
                            operand.multiply(into: dcols.base - columns.lowerBound, ldc: columns.count, w + rows.lowerBound,
                                             lda: k, transposeA: true, m: rows.count, columns: columns, accumulate: false)
                            rk_col2im_add(dx[p] + (b * partChannels + channels.lowerBound - offsets[p]) * plane, dcols.base,
                                          columns.count, channels.count, g.height, g.width, g.kernelHeight, g.kernelWidth,
                                          g.padTop, g.padLeft, g.strideHeight, g.strideWidth, g.outWidth, columns.lowerBound,
                                          columns.upperBound)
                        }
                    }
                }
            }
        } } }
    }

    // dy: [B, Cₒ, N], x: [B, Cᵢ, H, W] → dW: [Cₒ, K] = Σ_b Σ_blocks dy_b[:, block] · cols_blockᵀ. The
    // blocks are dealt into a fixed number of slots (the configured thread count, so the sum's
    // order, and so its bits, do not depend on how many threads run); each slot sums its blocks
    // into its own matrix, and the matrices are added in slot order at the end.
    static func weightGradient(_ dy: [Float], _ x: [[Float]], _ g: ConvGeometry) -> [Float] {
        let (k, n, cOut, blocks) = (g.patch, g.positions, g.outChannels, g.blocksPerImage)
        let tasks = g.batch * blocks
        let slots = g.isLarge ? min(tasks, Kernels.threads) : 1
        var partials = [[Float]](repeating: [], count: slots)
        partials.withUnsafeMutableBufferPointer { partials in dy.withPointer { dy in withPointers(x) { x in
            WorkerPool.shared.run(upTo: slots) { part, parts in
                let cols = Scratch.take(k * g.blockWidth)
                defer { Scratch.give(cols) }
                for slot in partition(slots, part, parts) {
                    var dw = [Float](repeating: 0, count: cOut * k)
                    dw.withMutablePointer { dw in
                        for task in partition(tasks, slot, slots) {
                            let (b, block) = task.quotientAndRemainder(dividingBy: blocks)
                            let columns = g.columns(ofBlock: block)
                            g.im2col(cols.base, x, image: b, columns)
                            // colsᵀ `[columns, K]`, stored as cols `[K, columns]`.
                            let operand = PackedMatrix(cols.base, k: columns.count, n: k, transposed: true)
                            operand.multiply(into: dw, ldc: k, dy + b * cOut * n + columns.lowerBound, lda: n, m: cOut,
                                             columns: 0..<k, accumulate: true)
                        }
                    }
                    partials[slot] = dw
                }
            }
        } } }
        var dw = partials[0]
        for p in partials.dropFirst() { addInPlace(&dw, p) }
        return dw
    }
}
