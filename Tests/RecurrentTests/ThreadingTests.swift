import Foundation
import Testing
@testable import Recurrent

/// Splitting work over threads (batch rows, hidden units for small batches, the two directions)
/// must not change a single bit: every element is summed in the same order whatever the split.
/// Every test that changes the process-wide thread count lives in this one serialized suite.
@Suite(.serialized) struct ThreadingTests {
    /// Before each test: the pool's back-off from a busy machine is off (other suites running at
    /// the same time must not change how these tests split their work).
    init() {
        WorkerPool.shared.contention.isEnabled.store(false, ordering: .relaxed)
        WorkerPool.shared.contention.skipsLeft.store(0, ordering: .relaxed)
    }

    // Hidden sizes large enough for the unit split at batch 1 (4·512·512 multiply-adds per row).
    // Batch 40 splits rows and runs the input projection in chunks of 3 steps (7 = 3 + 3 + 1);
    // batch 6 over 60 steps splits units with the projection in chunks of 42 steps (60 = 42 + 18),
    // each thread projecting the columns of its own units of every gate; batch 40 over 15 steps makes the bias
    // gradients' column sums (600 × 2048) and the packed states and inputs large enough to share.
    // LSTM and GRU at batch 40 over 15 steps keep a history over 4 MiB, written around the caches.
    @Test(arguments: [("lstm", 1, 7), ("lstm", 16, 7), ("lstm", 40, 7), ("lstm", 40, 15), ("gru", 1, 7), ("gru", 6, 60), ("gru", 9, 7),
                      ("gru", 40, 7), ("gru", 40, 15), ("rnn", 2, 7), ("lstm_proj", 1, 7),
                      // The variants: fused peephole (units and rows split, and two layers pipelined at
                      // batch 1), the general kernel, layer norm (whole rows), the reset-before GRU's
                      // two products.
                      ("peephole", 1, 7), ("peephole", 40, 15), ("peephole_pipelined", 1, 9), ("activations", 1, 7),
                      ("activations", 40, 7), ("layer_norm", 1, 7), ("layer_norm", 40, 15), ("gru_layer_norm", 40, 7),
                      ("reset_before", 1, 7), ("reset_before", 40, 15)])
    func threadCountDoesNotChangeResults(_ kind: String, _ batch: Int, _ steps: Int) throws {
        func run(threads: Int) throws -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer: RecurrentLayer = withRandomSeed(12) {
                switch kind {
                case "lstm": LSTM(inputSize: 5, hiddenSize: 512, bidirectional: true)
                case "lstm_proj": LSTM(inputSize: 5, hiddenSize: 96, projSize: 40)
                case "gru": GRU(inputSize: 5, hiddenSize: 600, numLayers: 2)
                case "peephole": LSTM(inputSize: 5, hiddenSize: 512, bidirectional: true, peephole: true, coupledInputForget: true)
                case "peephole_pipelined": LSTM(inputSize: 5, hiddenSize: 64, numLayers: 2, peephole: true)
                case "activations": LSTM(inputSize: 5, hiddenSize: 512, peephole: true,
                                         activations: LSTMActivations(gate: .hardSigmoid(), cell: .softsign, hidden: .elu()), clip: 2)
                case "layer_norm": LSTM(inputSize: 5, hiddenSize: 512, bidirectional: true, layerNorm: true)
                case "gru_layer_norm": GRU(inputSize: 5, hiddenSize: 300, numLayers: 2, layerNorm: true)
                case "reset_before": GRU(inputSize: 5, hiddenSize: 600, numLayers: 2, resetAfter: false)
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

    /// While the pool backs off from a busy machine, everything runs on the calling thread, with
    /// the same bits, and each dispatch counts the back-off down.
    @Test(arguments: [1, 16])
    func backingOffKeepsResults(batch: Int) throws {
        Kernels.setThreadCount(2)
        defer { Kernels.setThreadCount(1) }
        let layer = withRandomSeed(4) { LSTM(inputSize: 5, hiddenSize: 64, numLayers: 2, bidirectional: true) }
        let x = testTensor([6, batch, 5], seed: 2)
        let normal = try layer.sequenceOutput(x).scalars
        let contention = WorkerPool.shared.contention
        contention.skipsLeft.store(1000, ordering: .relaxed)
        defer { contention.skipsLeft.store(0, ordering: .relaxed) }
        #expect(WorkerPool.availableThreads == 1)
        let backedOff = try layer.sequenceOutput(x).scalars
        #expect(contention.skipsLeft.load(ordering: .relaxed) < 1000, "dispatches count the back-off down")
        #expect(backedOff == normal)
    }

    /// Workers that arrive late (a wait over 200 µs and longer than the caller's own work) or a
    /// barrier that yields start a back-off that doubles each time, up to 4096 dispatches, and
    /// shrinks again after dispatches on time.
    @Test func lateWorkersStartABackoffThatGrows() {
        let c = WorkerPool.Contention()
        c.record(own: 1_000_000, wait: 300_000, yielded: false)   // waited, but less than it worked
        #expect(c.skipsLeft.load(ordering: .relaxed) == 0)
        c.record(own: 100_000, wait: 150_000, yielded: false)     // under 200 µs
        #expect(c.skipsLeft.load(ordering: .relaxed) == 0)
        c.record(own: 100_000, wait: 500_000, yielded: false)
        #expect(c.skipsLeft.load(ordering: .relaxed) == 16)
        c.record(own: 100_000, wait: 0, yielded: true)
        #expect(c.skipsLeft.load(ordering: .relaxed) == 32)
        for _ in 0..<20 { c.record(own: 1, wait: 1_000_000, yielded: false) }
        #expect(c.skipsLeft.load(ordering: .relaxed) == 4096)
        for _ in 0..<20 { c.record(own: 1_000_000, wait: 0, yielded: false) }
        c.record(own: 1, wait: 1_000_000, yielded: false)
        #expect(c.skipsLeft.load(ordering: .relaxed) == 16, "on-time dispatches shrink the next back-off")
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

    // The kernels flush subnormal floats to zero (the slow path that made the demo's plain RNN 7x
    // slower once its gradients vanished), and leave the caller's own arithmetic as it was.
    /// A product whose exact result, 1e-20 · 1e-20 = 1e-40, is subnormal comes out as zero from
    /// the kernels, on one thread and on two; the same multiplication in the caller's code after
    /// the call still gives the subnormal value.
    @Test(arguments: [1, 2])
    func kernelsFlushSubnormalsAndRestoreTheCallersSetting(threads: Int) {
        let previous = Kernels.threadCount.withLock { $0 }
        Kernels.setThreadCount(threads)
        defer { Kernels.setThreadCount(previous) }
        let rows = 64, tiny: Float = 1e-20
        let a = Tensor(repeating: tiny, shape: [rows, 64])
        let b = Tensor(shape: [64, 64], scalars: (0..<(64 * 64)).map { $0 % 64 == 0 ? tiny : 0 })
        let product = matmul(a, b)  // column 0 of each row: 64 · 1e-40 would be 6.4e-39, also subnormal
        #expect(product.scalars.allSatisfy { $0 == 0 }, "kernel results in the subnormal range must be flushed to zero")
        let runtimeTiny = a.scalars[0], callerProduct = runtimeTiny * runtimeTiny
        #expect(callerProduct != 0 && callerProduct.isSubnormal, "the caller's floating-point setting must be restored")
    }
}
