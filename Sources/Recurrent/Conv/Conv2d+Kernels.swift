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
    /// Output positions per im2col block: about 1 MiB of columns, at least 64 (so that each
    /// product still has some depth), a multiple of 16 (whole vectors), at most N.
    var blockWidth: Int {
        let wanted = max(64, ((1 << 18) / max(patch, 1)) / 16 * 16)
        return min(positions, wanted)
    }

    /// Blocks per image.
    var blocksPerImage: Int { (positions + blockWidth - 1) / blockWidth }

    /// Multiply-adds of one product over the whole batch: small ones run on the calling thread.
    var isLarge: Bool { batch * outChannels * positions * patch >= 1 << 18 }

    /// Fills `cols` `[K, n1 − n0]` with the patches of image `x` `[Cᵢ, H, W]` read by positions `n0..<n1`.
    func im2col(_ cols: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ positions: Range<Int>) {
        rk_im2col(cols, positions.count, x, inChannels, height, width, kernelHeight, kernelWidth, padTop, padLeft,
                  strideHeight, strideWidth, outWidth, positions.lowerBound, positions.upperBound)
    }
}

/// The convolution as one graph node, with its own backward.
final class Conv2dFunction: FusedFunction {
    let geometry: ConvGeometry

    init(geometry: ConvGeometry) { self.geometry = geometry }

    static func apply(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry: ConvGeometry) -> Tensor {
        let y = forward(x.scalars, weight.scalars, bias?.scalars, geometry)
        let inputs = [x, weight] + (bias.map { [$0] } ?? [])
        let node = Node.make(.fused(Conv2dFunction(geometry: geometry)), inputs: inputs, outputShapes: [geometry.outputShape])
        return Tensor(shape: geometry.outputShape, scalars: y, node: node)
    }

    // x: [B, Cᵢ, H, W], w: [Cₒ, K], bias: [Cₒ] → y: [B, Cₒ, N]
    static func forward(_ x: [Float], _ w: [Float], _ bias: [Float]?, _ g: ConvGeometry) -> [Float] {
        let (k, n, cOut, blocks) = (g.patch, g.positions, g.outChannels, g.blocksPerImage)
        let imageSize = g.inChannels * g.height * g.width
        return [Float](unsafeUninitializedCapacity: g.batch * cOut * n) { buffer, count in
            count = g.batch * cOut * n
            guard let y = buffer.baseAddress, count > 0 else { return }
            x.withPointer { x in w.withPointer { w in
                WorkerPool.shared.run(upTo: g.isLarge ? g.batch * blocks : 1) { part, parts in
                    let cols = Scratch.take(k * g.blockWidth)
                    defer { Scratch.give(cols) }
                    for task in partition(g.batch * blocks, part, parts) {
                        let (b, block) = task.quotientAndRemainder(dividingBy: blocks)
                        let columns = block * g.blockWidth ..< min(n, (block + 1) * g.blockWidth)
                        g.im2col(cols.base, x + b * imageSize, columns)
                        let operand = PackedMatrix(cols.base, k: k, n: columns.count, transposed: false, inPlace: true)
                        let out = y + b * cOut * n + columns.lowerBound
                        operand.multiply(into: out, ldc: n, w, lda: k, m: cOut, columns: 0..<columns.count, accumulate: false)
                        if let bias {
                            for o in 0..<cOut {
                                let row = out + o * n, value = bias[o]
                                for j in 0..<columns.count { row[j] += value }
                            }
                        }
                    }
                }
            } }
        }
    }

    func backward(outputGradients: [[Float]?], inputs: [Tensor]) -> [[Float]?] {
        let g = geometry
        guard let dy = outputGradients[0] else { return inputs.map { _ in nil } }
        let (x, w) = (inputs[0], inputs[1])
        var grads: [[Float]?] = [
            x.requiresGrad ? Self.inputGradient(dy, w.scalars, g) : nil,
            w.requiresGrad ? Self.weightGradient(dy, x.scalars, g) : nil,
        ]
        if inputs.count == 3 {
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
            grads.append(inputs[2].requiresGrad ? db : nil)
        }
        return grads
    }

    // dy: [B, Cₒ, N], w: [Cₒ, K] → dx: [B, Cᵢ, H, W]. dcols = Wₘᵀ · dy_b, one block of positions and
    // one share of the input channels (rows of dcols) at a time; col2im adds them into dx. Tasks
    // are (image, share of channels), so that no two threads add into the same element.
    static func inputGradient(_ dy: [Float], _ w: [Float], _ g: ConvGeometry) -> [Float] {
        let (k, n, cOut) = (g.patch, g.positions, g.outChannels)
        let kernelArea = g.kernelHeight * g.kernelWidth, plane = g.height * g.width
        let shares = g.isLarge ? min(g.inChannels, WorkerPool.availableThreads) : 1
        var dx = [Float](repeating: 0, count: g.batch * g.inChannels * plane)
        dx.withMutablePointer { dx in dy.withPointer { dy in w.withPointer { w in
            WorkerPool.shared.run(upTo: g.batch * shares) { part, parts in
                let dcols = Scratch.take(k * g.blockWidth)
                defer { Scratch.give(dcols) }
                for task in partition(g.batch * shares, part, parts) {
                    let (b, share) = task.quotientAndRemainder(dividingBy: shares)
                    let channels = partition(g.inChannels, share, shares)
                    let rows = channels.lowerBound * kernelArea ..< channels.upperBound * kernelArea
                    // dy_b `[Cₒ, N]`, read in place; each block takes its columns.
                    let operand = PackedMatrix(dy + b * cOut * n, k: cOut, n: n, transposed: false, inPlace: true)
                    for block in 0..<g.blocksPerImage {
                        let columns = block * g.blockWidth ..< min(n, (block + 1) * g.blockWidth)
                        // dcols[rows, columns] = Wₘ[:, rows]ᵀ · dy_b[:, columns]; c points at column 0.
                        operand.multiply(into: dcols.base - columns.lowerBound, ldc: columns.count, w + rows.lowerBound,
                                         lda: k, transposeA: true, m: rows.count, columns: columns, accumulate: false)
                        rk_col2im_add(dx + (b * g.inChannels + channels.lowerBound) * plane, dcols.base, columns.count,
                                      channels.count, g.height, g.width, g.kernelHeight, g.kernelWidth, g.padTop, g.padLeft,
                                      g.strideHeight, g.strideWidth, g.outWidth, columns.lowerBound, columns.upperBound)
                    }
                }
            }
        } } }
        return dx
    }

    // dy: [B, Cₒ, N], x: [B, Cᵢ, H, W] → dW: [Cₒ, K] = Σ_b Σ_blocks dy_b[:, block] · cols_blockᵀ. The
    // blocks are dealt into a fixed number of slots (the configured thread count, so the sum's
    // order, and so its bits, do not depend on how many threads run); each slot sums its blocks
    // into its own matrix, and the matrices are added in slot order at the end.
    static func weightGradient(_ dy: [Float], _ x: [Float], _ g: ConvGeometry) -> [Float] {
        let (k, n, cOut, blocks) = (g.patch, g.positions, g.outChannels, g.blocksPerImage)
        let imageSize = g.inChannels * g.height * g.width
        let tasks = g.batch * blocks
        let slots = g.isLarge ? min(tasks, Kernels.threads) : 1
        var partials = [[Float]](repeating: [], count: slots)
        partials.withUnsafeMutableBufferPointer { partials in dy.withPointer { dy in x.withPointer { x in
            WorkerPool.shared.run(upTo: slots) { part, parts in
                let cols = Scratch.take(k * g.blockWidth)
                defer { Scratch.give(cols) }
                for slot in partition(slots, part, parts) {
                    var dw = [Float](repeating: 0, count: cOut * k)
                    dw.withMutablePointer { dw in
                        for task in partition(tasks, slot, slots) {
                            let (b, block) = task.quotientAndRemainder(dividingBy: blocks)
                            let columns = block * g.blockWidth ..< min(n, (block + 1) * g.blockWidth)
                            g.im2col(cols.base, x + b * imageSize, columns)
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
