import Foundation
import Testing
@testable import Recurrent

/// The optimized C kernels against a double-precision reference on awkward shapes, for every
/// instruction set this CPU has, both transposes, accumulation, and packed column ranges.
@Suite struct KernelTests {
    static let sizes = [1, 3, 17, 31, 33, 63, 65]
    static var instructionSets: [InstructionSet] {
        InstructionSet.allCases.filter { isa in
            Kernels.bestInstructionSet == .neon ? (isa == .neon || isa == .scalar) : (isa != .neon && isa.rawValue <= Kernels.bestInstructionSet.rawValue)
        }
    }

    /// Σ_p op(a)[i, p] op(b)[p, j] in Double.
    func exact(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k {
            c[i * n + j] += Double(ta ? a[p * m + i] : a[i * k + p]) * Double(tb ? b[j * k + p] : b[p * n + j])
        } } }
        return c
    }

    @Test(arguments: instructionSets, [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesReference(_ isa: InstructionSet, _ transposes: (Bool, Bool)) {
        Kernels.$instructionSet.withValue(isa) { gemmMatchesReference(transposes) }
    }

    func gemmMatchesReference(_ transposes: (Bool, Bool)) {
        let isa = Kernels.instructionSet
        let (ta, tb) = transposes
        for m in Self.sizes { for n in [1, 5, 33, 65] { for k in [1, 17, 64, 300] {
            let a = testValues(m * k, seed: UInt64(m * 1000 + k)), b = testValues(k * n, seed: UInt64(n * 1000 + k))
            let c0 = testValues(m * n, seed: 7)
            let product = exact(a, b, m: m, n: n, k: k, ta: ta, tb: tb)
            for accumulate in [false, true] {
                let expected = zip(product, c0).map { Float(accumulate ? $0 + Double($1) : $0) }
                var actual = accumulate ? c0 : [Float](repeating: .nan, count: m * n)  // overwrite must ignore NaN
                actual.withMutablePointer { c in a.withPointer { a in b.withPointer { b in
                    Kernels.gemm(c, a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, accumulate: accumulate)
                } } }
                // Float32 sums of k products of values in [-1, 1]: rounding error grows like k·ε.
                expectClose(actual, expected, rtol: 1e-5, atol: 2e-7 * Float(k),
                            "\(isa) gemm m=\(m) n=\(n) k=\(k) tA=\(ta) tB=\(tb) acc=\(accumulate)")
            }
        } } }
    }

    /// Also with every product prefetching its next panel of `b` (an L2 of 0 bytes: the AVX-512
    /// tiles that prefetch) and with none: both match the reference, with the same bits.
    @Test(arguments: instructionSets)
    func packedColumnRangesMatchReference(_ isa: InstructionSet) {
        let prefetching = Kernels.$instructionSet.withValue(isa) { Kernels.$l2CacheBytes.withValue(0) { packedColumnRanges() } }
        let plain = Kernels.$instructionSet.withValue(isa) { Kernels.$l2CacheBytes.withValue(Int.max) { packedColumnRanges() } }
        #expect(prefetching == plain, "\(isa): prefetching the next panel changed \(zip(prefetching, plain).filter { $0 != $1 }.count) products")
    }

    /// Column ranges of a packed operand, with and without a bias, for a few rows (the in-place,
    /// four-panel kernel for 1–3 rows: whole groups, a partial first panel, leftovers) and more;
    /// also several ranges at a stride in one call (a thread's units of every gate), on either
    /// backend. Returns every product.
    func packedColumnRanges() -> [[Float]] {
        let isa = Kernels.instructionSet
        var products: [[Float]] = []
        let (n, k) = (297, 40)
        let b = testValues(n * k, seed: 2), bias = testValues(n, seed: 3)
        let ranges = [0..<297, 5..<6, 13..<70, 31..<33, 16..<272, 32..<160, 64..<297, 296..<297].map { ($0, 1, 0) }
            + [(0..<64, 4, 64), (5..<6, 3, 99), (13..<70, 4, 74), (31..<33, 2, 32), (32..<64, 3, 96), (100..<149, 2, 148)]
        for m in [1, 2, 3, 5, 13] {
            let a = testValues(m * k, seed: UInt64(m))
            let full = exact(a, b, m: m, n: n, k: k, ta: false, tb: true).map { Float($0) }
            for (columns, groups, stride) in ranges {
                for (withBias, backend) in [(false, KernelBackend.optimized), (true, .optimized), (true, .reference)] {
                    var c = [Float](repeating: 42, count: m * n)
                    Kernels.$backend.withValue(backend) {
                        c.withMutablePointer { c in a.withPointer { a in b.withPointer { b in bias.withPointer { bias in
                            PackedMatrix(b, k: k, n: n, transposed: true).multiply(
                                into: c, ldc: n, a, lda: k, m: m, columns: columns, groups: groups, groupStride: stride,
                                accumulate: false, bias: withBias ? bias : nil)
                        } } } }
                    }
                    var worst: Float = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            let written = (0..<groups).contains { columns.contains(j - $0 * stride) }
                            let want = written ? full[i * n + j] + (withBias ? bias[j] : 0) : 42
                            worst = max(worst, abs(c[i * n + j] - want))
                        }
                    }
                    #expect(worst <= 1e-5, "\(isa) \(backend) m=\(m) columns \(columns) × \(groups) every \(stride) bias \(withBias): max error \(worst)")
                    products.append(c)
                }
            }
        }
        return products
    }

    /// The time loops' products walk a few rows' column panels forwards or backwards (alternating per
    /// step), each panel with all its blocks of K in turn: both walks, with and without prefetching,
    /// give the same bits as those rows inside a product of many rows (blocks of K outermost), for
    /// several blocks of K, column ranges at a stride, a bias, and accumulation.
    @Test(arguments: instructionSets, [1, 2, 3, 5, 13, 40, 96])
    func bothWalksMatchTheBlockedProduct(_ isa: InstructionSet, _ m: Int) {
        Kernels.$instructionSet.withValue(isa) {
            let (n, k, many) = (297, 600, 150)  // 600: three blocks of K (256, 256, 88)
            let b = testValues(n * k, seed: 12), bias = testValues(n, seed: 13), a = testValues(many * k, seed: 14)
            let start = testValues(many * n, seed: 15)
            let full = exact(Array(a[0..<(m * k)]), b, m: m, n: n, k: k, ta: false, tb: true)
            let packed = PackedMatrix(b, k: k, n: n, transposed: true)
            for (columns, groups, stride) in [(0..<297, 1, 0), (13..<70, 4, 74), (31..<33, 2, 32), (40..<99, 3, 99)] {
                for accumulate in [false, true] {
                    func product(rows: Int, descending: Bool, l2: Int) -> [Float] {
                        var c = start
                        Kernels.$l2CacheBytes.withValue(l2) {
                            c.withMutablePointer { c in a.withPointer { a in bias.withPointer { bias in
                                packed.multiply(into: c, ldc: n, a, lda: k, m: rows, columns: columns, groups: groups,
                                                groupStride: stride, accumulate: accumulate, bias: accumulate ? nil : bias,
                                                descending: descending)
                            } } }
                        }
                        return Array(c[0..<(m * n)])
                    }
                    let blocked = product(rows: many, descending: false, l2: Int.max)
                    let name = "\(isa) m=\(m) columns \(columns) × \(groups) every \(stride) accumulate \(accumulate)"
                    for descending in [false, true] {
                        for l2 in [0, Int.max] {
                            let walked = product(rows: m, descending: descending, l2: l2)
                            let differing = zip(walked, blocked).filter { $0 != $1 }.count
                            #expect(differing == 0, "\(name) descending \(descending) L2 \(l2): \(differing) of \(m * n) differ")
                        }
                    }
                    var worst: Float = 0  // and the values themselves, against the reference in Double
                    for i in 0..<m {
                        for j in 0..<n {
                            let written = (0..<groups).contains { columns.contains(j - $0 * stride) }
                            let base = accumulate ? Double(start[i * n + j]) : Double(bias[j])
                            let want = written ? Float(full[i * n + j] + base) : start[i * n + j]
                            worst = max(worst, abs(blocked[i * n + j] - want))
                        }
                    }
                    #expect(worst <= 2e-7 * Float(k), "\(name): max error \(worst)")
                }
            }
        }
    }

    @Test(arguments: instructionSets)
    func activationsMatchFoundation(_ isa: InstructionSet) {
        // A dense sweep of [-20, 20], tiny values, the switch point of tanh, saturation and extremes.
        var x = (0..<4001).map { Float($0 - 2000) / 100 }
        x += [1e-8, -1e-8, 1e-30, 0.6249, 0.625, 0.6251, -0.625, 30, -30, 87, -87, 100, -100, 1e30, -1e30, 0, -0.0]
        var s = [Float](repeating: 0, count: x.count), t = s
        Kernels.$instructionSet.withValue(isa) {
            s.withMutablePointer { y in x.withPointer { Kernels.sigmoid(y, $0, count: x.count) } }
            t.withMutablePointer { y in x.withPointer { Kernels.tanh(y, $0, count: x.count) } }
        }
        // About 2 ulp: well inside the 1e-5 relative tolerance of the PyTorch parity tests.
        expectClose(s, x.map { Double($0) }.map { Float(1 / (1 + Foundation.exp(-$0))) }, rtol: 3e-7, atol: 1e-38, "\(isa) sigmoid")
        expectClose(t, x.map { Float(Foundation.tanh(Double($0))) }, rtol: 3e-7, atol: 1e-38, "\(isa) tanh")
    }

    /// relu keeps a NaN (PyTorch's `relu(nan)` is `nan`) on every instruction set: a NaN input in
    /// one batch row makes that row's outputs NaN and leaves the other row's finite.
    @Test(arguments: instructionSets)
    func reluKeepsNaN(_ isa: InstructionSet) throws {
        let layer = withRandomSeed(2) { RNN(inputSize: 3, hiddenSize: 20, nonlinearity: .relu) }
        var values = testValues(2 * 2 * 3, seed: 1)
        values[0] = .nan  // step 0, batch row 0
        let y = try Kernels.$instructionSet.withValue(isa) {
            try withoutGradients { try layer.sequenceOutput(Tensor(shape: [2, 2, 3], scalars: values)) }
        }.scalars
        for t in 0..<2 {
            let poisoned = y[(t * 2) * 20 ..< (t * 2 + 1) * 20].allSatisfy { $0.isNaN }
            let clean = y[(t * 2 + 1) * 20 ..< (t * 2 + 2) * 20].allSatisfy { $0.isFinite }
            #expect(poisoned, "\(isa): step \(t), row 0 should be NaN")
            #expect(clean, "\(isa): step \(t), row 1 should be finite")
        }
    }

    /// Whole layers, forward and backward, on every instruction set against the reference backend
    /// (plain Swift loops and Foundation's functions). Batch 50 makes the input projection run in
    /// chunks of 2 steps (about 128 rows each), in both directions.
    @Test(arguments: instructionSets, ["lstm", "gru", "rnn", "rnn-relu"])
    func layersMatchReferenceBackend(_ isa: InstructionSet, _ kind: String) throws {
        for batch in [3, 50] { try layersMatchReferenceBackend(isa, kind, batch: batch) }
    }

    func layersMatchReferenceBackend(_ isa: InstructionSet, _ kind: String, batch: Int) throws {
        let layer: RecurrentLayer = withRandomSeed(3) {
            switch kind {
            case "lstm": LSTM(inputSize: 5, hiddenSize: 19, numLayers: 2, bidirectional: true)
            case "gru": GRU(inputSize: 5, hiddenSize: 19, numLayers: 2, bidirectional: true)
            case "rnn-relu": RNN(inputSize: 5, hiddenSize: 19, numLayers: 2, nonlinearity: .relu, bidirectional: true)
            default: RNN(inputSize: 5, hiddenSize: 19, numLayers: 2, bidirectional: true)
            }
        }
        let x = testTensor([7, batch, 5], seed: 1)
        func run() throws -> [[Float]] {
            layer.zeroGrad()
            x.zeroGrad()
            let y = try layer.sequenceOutput(x)
            weightedSum(y, seed: 4).backward()
            return [y.scalars, x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
        }
        let fast = try Kernels.$instructionSet.withValue(isa) { try run() }
        let reference = try Kernels.$backend.withValue(.reference) { try run() }
        for (k, (a, b)) in zip(fast, reference).enumerated() {
            // Gradients of weights and biases are sums over T·B rows; the float32 rounding of each
            // term (different summation orders and activations in the two backends) grows like √B.
            expectClose(a, b, rtol: 1e-5, atol: 1e-6 * Float(batch).squareRoot(), "\(kind) B=\(batch) on \(isa): tensor \(k) (0 output, 1 input gradient, then parameters)")
        }
    }
}
