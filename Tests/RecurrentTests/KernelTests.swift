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

/// Splitting work over threads (batch rows, hidden units for small batches, the two directions)
/// must not change a single bit: every element is summed in the same order whatever the split.
/// Every test that changes the process-wide thread count lives in this one serialized suite.
@Suite(.serialized) struct ThreadingTests {
    // Hidden sizes large enough for the unit split at batch 1 (4·512·512 multiply-adds per row).
    // Batch 40 splits rows and runs the input projection in chunks of 3 steps (7 = 3 + 3 + 1);
    // batch 6 over 60 steps splits units with the projection in chunks of 42 steps (60 = 42 + 18),
    // each thread projecting the columns of its own units of every gate; batch 40 over 15 steps makes the bias
    // gradients' column sums (600 × 2048) and the packed states and inputs large enough to share.
    // LSTM and GRU at batch 40 over 15 steps keep a history over 4 MiB, written around the caches.
    @Test(arguments: [("lstm", 1, 7), ("lstm", 16, 7), ("lstm", 40, 7), ("lstm", 40, 15), ("gru", 1, 7), ("gru", 6, 60), ("gru", 9, 7),
                      ("gru", 40, 7), ("gru", 40, 15), ("rnn", 2, 7), ("lstm_proj", 1, 7)])
    func threadCountDoesNotChangeResults(_ kind: String, _ batch: Int, _ steps: Int) throws {
        func run(threads: Int) throws -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer: RecurrentLayer = withRandomSeed(12) {
                switch kind {
                case "lstm": LSTM(inputSize: 5, hiddenSize: 512, bidirectional: true)
                case "lstm_proj": LSTM(inputSize: 5, hiddenSize: 96, projSize: 40)
                case "gru": GRU(inputSize: 5, hiddenSize: 600, numLayers: 2)
                default: RNN(inputSize: 5, hiddenSize: 1100)
                }
            }
            let x = testTensor([steps, batch, 5], seed: 2)
            // Inference (no history kept, each h written straight into the output) gives the same bits.
            let inference = try withoutGradients { try layer.sequenceOutput(x) }
            let y = try layer.sequenceOutput(x)
            weightedSum(y, seed: 3).backward()
            return [y.scalars, inference.scalars, x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
        }
        let one = try run(threads: 1), two = try run(threads: 2), three = try run(threads: 3)
        #expect(one[0] == one[1], "\(kind) B=\(batch): inference output differs from the recorded one")
        #expect(one == two, "\(kind) B=\(batch): 1 vs 2 threads differ in \(zip(one, two).filter { $0 != $1 }.count) tensors")
        #expect(one == three, "\(kind) B=\(batch): 1 vs 3 threads differ in \(zip(one, three).filter { $0 != $1 }.count) tensors")
    }

    // Batch rows handed over between threads in the middle of a sequence (every row starts on the
    // first thread, so the others take rows over, and give some back, at any step of the forward and
    // the backward): the same bits as one thread, recorded and in inference. Batch 40 over 30 steps
    // projects the input in chunks of 6 steps, so rows change hands inside a chunk (the taker
    // projects the rest of it for its rows), in both directions; LSTM and GRU keep a history over
    // 4 MiB, written around the caches.
    @Test(arguments: [("lstm", 2), ("lstm", 3), ("lstm_bi", 2), ("gru", 2), ("gru", 3), ("rnn", 2), ("lstm_proj", 2)])
    func rowsHandedOverMidSequence(_ kind: String, _ threads: Int) throws {
        func run(threads: Int) throws -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer: RecurrentLayer = withRandomSeed(13) {
                switch kind {
                case "lstm": LSTM(inputSize: 5, hiddenSize: 256)
                case "lstm_bi": LSTM(inputSize: 5, hiddenSize: 128, bidirectional: true)
                case "lstm_proj": LSTM(inputSize: 5, hiddenSize: 96, projSize: 40)
                case "gru": GRU(inputSize: 5, hiddenSize: 300)
                default: RNN(inputSize: 5, hiddenSize: 100)
                }
            }
            let x = testTensor([30, 40, 5], seed: 4)
            return try RowShares.$startsOnOne.withValue(true) {
                let inference = try withoutGradients { try layer.sequenceOutput(x) }
                let y = try layer.sequenceOutput(x)
                weightedSum(y, seed: 8).backward()
                return [y.scalars, inference.scalars, x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
            }
        }
        let one = try run(threads: 1)
        #expect(one[0] == one[1], "\(kind): inference output differs from the recorded one")
        // When rows change hands depends on timing: run again (up to 5 times) until some did. A
        // machine with one core may run the other threads only after the first has finished.
        var handedOver = false
        for _ in 0..<5 where !handedOver {
            let before = RowShares.handovers.load(ordering: .relaxed)
            let many = try run(threads: threads)
            handedOver = RowShares.handovers.load(ordering: .relaxed) > before
            let differing = zip(one, many).filter { $0 != $1 }.count
            #expect(differing == 0, "\(kind): 1 vs \(threads) threads differ in \(differing) tensors")
        }
        #expect(handedOver || ProcessInfo.processInfo.activeProcessorCount < 2, "\(kind): no rows were handed over")
    }

    // Training histories written with non-temporal stores (every one, with the threshold at 0) give
    // the same bits as with ordinary stores (none), on 1 and 2 threads, with the batch split over
    // the threads (16) or the hidden units (2); H = 40 leaves rows unaligned and vectors partial.
    @Test(arguments: ["lstm", "gru", "rnn"], [1, 2])
    func streamedHistoriesDoNotChangeResults(_ kind: String, _ threads: Int) throws {
        Kernels.setThreadCount(threads)
        defer { Kernels.setThreadCount(1) }
        let layer: RecurrentLayer = withRandomSeed(5) {
            switch kind {
            case "lstm": LSTM(inputSize: 6, hiddenSize: 40, numLayers: 2, bidirectional: true)
            case "gru": GRU(inputSize: 6, hiddenSize: 40, numLayers: 2, bidirectional: true)
            default: RNN(inputSize: 6, hiddenSize: 40, numLayers: 2, bidirectional: true)
            }
        }
        for batch in [16, 2] {
            let x = testTensor([9, batch, 6], seed: 6)
            func run(threshold: Int) throws -> [[Float]] {
                try Kernels.$streamedHistoryBytes.withValue(threshold) {
                    layer.zeroGrad()
                    x.zeroGrad()
                    let y = try layer.sequenceOutput(x)
                    weightedSum(y, seed: 7).backward()
                    return [y.scalars, x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
                }
            }
            let streamed = try run(threshold: 0), plain = try run(threshold: Int.max)
            let differing = zip(streamed, plain).filter { $0 != $1 }.count
            #expect(differing == 0, "\(kind) B=\(batch) on \(threads) threads: \(differing) tensors differ")
        }
    }

    // Small stacks with a small batch run two layers at once, the upper one step behind the lower
    // (3 and 4 layers: pairs, then a last single layer). Same bits as one thread, recorded and in
    // inference, for the outputs, the final states and every gradient.
    @Test(arguments: [("lstm", 1, 2), ("lstm", 3, 3), ("gru", 1, 2), ("gru", 7, 2), ("rnn", 5, 4), ("lstm_proj", 2, 2)])
    func pipelinedLayers(_ kind: String, _ batch: Int, _ layers: Int) throws {
        func run(threads: Int) throws -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer: RecurrentLayer = withRandomSeed(21) {
                switch kind {
                case "lstm": LSTM(inputSize: 6, hiddenSize: 40, numLayers: layers)
                case "lstm_proj": LSTM(inputSize: 6, hiddenSize: 40, numLayers: layers, projSize: 17)
                case "gru": GRU(inputSize: 6, hiddenSize: 33, numLayers: layers, dropout: 0.5)  // eval: no dropout
                default: RNN(inputSize: 6, hiddenSize: 65, numLayers: layers)
                }
            }
            layer.eval()
            #expect(layer.stack.pipelinesLayers(0, batch: batch) == (threads > 1), "\(kind): pipeline choice")
            let x = testTensor([11, batch, 6], seed: 22)
            let inference = try withoutGradients { try layer.stack.run(x, h0: nil, c0: nil, layerName: kind) }
            let (y, h, c) = try layer.stack.run(x, h0: nil, c0: nil, layerName: kind)
            weightedSum(y, seed: 23).backward()
            return [y.scalars, inference.output.scalars, h.scalars, inference.h.scalars, c?.scalars ?? [],
                    inference.c?.scalars ?? [], x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one[0] == one[1] && one[2] == one[3] && one[4] == one[5],
                "\(kind) B=\(batch) L=\(layers): inference differs from the recorded forward")
        #expect(one == two, "\(kind) B=\(batch) L=\(layers): 1 vs 2 threads differ in \(zip(one, two).filter { $0 != $1 }.count) tensors")
    }

    // `sum()` and `mean()` of a large tensor add their two top-level halves on two threads, and
    // their gradients are filled by two threads: the same bits as on one, and every element of the
    // gradient written (odd counts put the halves' boundary off the middle of a vector).
    @Test(arguments: [parallelCount, parallelCount + 3, 1_000_003])
    func largeSumsDoNotDependOnThreads(_ count: Int) {
        let values = testValues(count, seed: 31)
        func run(threads: Int) -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let x = Tensor(shape: [count], scalars: values, requiresGrad: true)
            let y = Tensor(shape: [count], scalars: values, requiresGrad: true)
            let (s, m) = (x.sum(), y.mean())
            s.backward()
            m.backward()
            return [[s.item, m.item], x.grad!.scalars, y.grad!.scalars]
        }
        let one = run(threads: 1), two = run(threads: 2), three = run(threads: 3)
        #expect(one == two && one == three, "sum of \(count): 1, 2 and 3 threads differ")
        #expect(two[1].allSatisfy { $0 == 1 } && two[2].allSatisfy { $0 == 1 / Float(count) }, "sum of \(count): gradient")
    }

    // Two layers run as a pipeline only when each one's weights fit one core's L2: the
    // `two-layer-200` stack (1.44 and 1.28 MB) does with 2 MiB and does not with 1 MiB, where each
    // step's hidden units are split over the threads instead.
    @Test(arguments: [(1 << 20, false), (2 << 20, true)])
    func pipelineFollowsTheL2Size(_ l2Bytes: Int, _ pipelines: Bool) {
        Kernels.setThreadCount(2)
        defer { Kernels.setThreadCount(1) }
        let lstm = LSTM(inputSize: 250, hiddenSize: 200, numLayers: 2)
        Kernels.$l2CacheBytes.withValue(l2Bytes) {
            #expect(lstm.stack.pipelinesLayers(0, batch: 1) == pipelines, "L2 of \(l2Bytes) bytes")
            #expect(!lstm.stack.pipelinesLayers(0, batch: 8), "L2 of \(l2Bytes) bytes, batch 8")
        }
    }

    /// The matrix product itself, its rows split over 2 threads, against the double reference.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmTwoThreads(_ transposes: (Bool, Bool)) {
        Kernels.setThreadCount(2)
        defer { Kernels.setThreadCount(1) }
        KernelTests().gemmMatchesReference(transposes)
    }

    /// A right operand of at least `PackedMatrix.sharedPackingFloats` floats is packed by several
    /// threads, a share of its panels each (the last one partial here: 1030 = 32·32 + 6 columns):
    /// the product equals the one-thread product bit for bit and the exact one within rounding.
    @Test(arguments: KernelTests.instructionSets, [false, true])
    func largeOperandPackedByThreads(_ isa: InstructionSet, _ transposeB: Bool) {
        let (m, n, k) = (3, 1030, 1024)
        #expect(k * n >= PackedMatrix.sharedPackingFloats)
        let a = testValues(m * k, seed: 31), b = testValues(k * n, seed: 32)
        func product(threads: Int) -> [Float] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            var c = [Float](repeating: .nan, count: m * n)
            Kernels.$instructionSet.withValue(isa) {
                c.withMutablePointer { c in a.withPointer { a in b.withPointer { b in
                    Kernels.gemm(c, a, b, m: m, n: n, k: k, transposeB: transposeB)
                } } }
            }
            return c
        }
        let one = product(threads: 1), two = product(threads: 2), three = product(threads: 3)
        #expect(one == two && one == three, "\(isa) tB=\(transposeB): threads changed the packed operand")
        let exact = KernelTests().exact(a, b, m: m, n: n, k: k, ta: false, tb: transposeB).map { Float($0) }
        expectClose(two, exact, rtol: 1e-5, atol: 2e-7 * Float(k), "\(isa) tB=\(transposeB) against the exact product")
    }

    // A small-batch bidirectional layer runs its two directions on two threads (same bits as one),
    // and every pool thread works under the caller's task-local settings.
    @Test(arguments: [false, true])
    func directionsTogether(_ inference: Bool) throws {
        func run(threads: Int) throws -> [Float] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer = withRandomSeed(5) { GRU(inputSize: 4, hiddenSize: 24, numLayers: 2, bidirectional: true) }
            let x = testTensor([9, 2, 4], seed: 6)
            let (y, h) = inference ? try withoutGradients { try layer(x) } : try layer(x)
            return y.scalars + h.scalars
        }
        #expect(try run(threads: 1) == run(threads: 2), "inference \(inference): 1 and 2 threads differ")
    }

    @Test func workersInheritSettings() {
        Kernels.setThreadCount(2)
        defer { Kernels.setThreadCount(1) }
        var seen = [(KernelBackend, InstructionSet, Bool, Int, Int)](repeating: (.optimized, .avx512, true, 0, 0), count: 2)
        withoutGradients {
            Kernels.$backend.withValue(.reference) {
                Kernels.$instructionSet.withValue(.scalar) {
                    Kernels.$streamedHistoryBytes.withValue(123) {
                        Kernels.$l2CacheBytes.withValue(456) {
                            seen.withUnsafeMutableBufferPointer { seen in
                                WorkerPool.shared.run(upTo: 2) { part, _ in
                                    seen[part] = (Kernels.backend, Kernels.instructionSet, GradMode.isEnabled,
                                                  Kernels.streamedHistoryBytes, Kernels.l2CacheBytes)
                                }
                            }
                        }
                    }
                }
            }
        }
        for (part, s) in seen.enumerated() {
            #expect(s.0 == .reference && s.1 == .scalar && !s.2 && s.3 == 123 && s.4 == 456, "participant \(part) saw \(s)")
        }
    }
}

/// The scratch pool hands a returned buffer out again when it fits without wasting half of it.
@Suite(.serialized) struct ScratchTests {
    // Sizes no other test asks for (tests run in parallel and share the pool); only touched pages
    // are ever mapped.
    @Test func buffersAreReused() {
        let first = Scratch.take(50_000_000)
        first.base.update(repeating: 1, count: 1000)
        (first.base + 49_999_000).update(repeating: 1, count: 1000)  // usable up to the requested count
        Scratch.give(first)
        let again = Scratch.take(45_000_000)
        #expect(again.base == first.base && again.capacity == 50_000_000, "a fitting idle buffer is reused")
        let small = Scratch.take(5_000_000)
        #expect(small.base != first.base && small.capacity == 5_000_000, "a buffer ten times too large is not")
        Scratch.give(again)
        Scratch.give(small)
        #expect(Scratch.take(0).capacity == 0)
        #expect(Kernels.releaseScratchMemory() >= 55_000_000 * 4, "both idle buffers are freed")
    }

    /// The allocator's settings for keeping freed memory apply where the C library is glibc (every
    /// Linux this package is tested on); elsewhere the call reports that it did nothing.
    @Test func freedMemoryIsKeptOnGlibc() {
        #if canImport(Glibc)
        #expect(Kernels.keepFreedMemory(), "mallopt refused the settings")
        #endif
    }

    /// Fresh buffers start on a cache line, small and large (malloc's own alignment is 16 bytes).
    @Test(arguments: [1, 17, 1_000, 333_333, 7_000_001])
    func buffersStartOnACacheLine(_ count: Int) {
        let buffers = (0..<4).map { _ in Scratch.take(count) }
        for b in buffers { #expect(UInt(bitPattern: b.base) % 64 == 0, "\(count) floats at \(b.base)") }
        buffers.forEach(Scratch.give)
    }
}
