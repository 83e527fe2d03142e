import Testing
@testable import Recurrent

/// The optimized kernels against the reference implementation on awkward shapes.
@Suite struct KernelTests {
    static let sizes = [1, 3, 17, 31, 33, 63, 65]

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesReference(_ transposes: (Bool, Bool)) {
        let (ta, tb) = transposes
        for m in Self.sizes { for n in [1, 5, 33, 65] { for k in [1, 17, 64] {
            let a = testValues(m * k, seed: UInt64(m * 1000 + k)), b = testValues(k * n, seed: UInt64(n * 1000 + k))
            let c0 = testValues(m * n, seed: 7)
            for accumulate in [false, true] {
                var expected = c0, actual = c0
                expected.withMutablePointer { c in a.withPointer { a in b.withPointer { b in
                    referenceGemm(c, a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, accumulate: accumulate)
                } } }
                actual.withMutablePointer { c in a.withPointer { a in b.withPointer { b in
                    optimizedGemm(c, a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, accumulate: accumulate)
                } } }
                // Summation order differs between the two; k ≤ 64 products of values in [-1, 1].
                expectClose(actual, expected, rtol: 1e-5, atol: 1e-5, "gemm m=\(m) n=\(n) k=\(k) tA=\(ta) tB=\(tb) acc=\(accumulate)")
            }
        } } }
    }

    @Test func backendSwitchReachesLayers() throws {
        manualSeed(3)
        let lstm = LSTM(inputSize: 5, hiddenSize: 7, numLayers: 2, bidirectional: true)
        let x = testTensor([6, 3, 5], seed: 1, requiresGrad: false)
        let fast = try lstm(x).output
        let reference = try Kernels.$backend.withValue(.reference) { try lstm(x).output }
        expectClose(fast.scalars, reference.scalars, rtol: 1e-5, atol: 1e-6, "LSTM output, optimized vs reference")
    }
}

/// Splitting work over threads (batch rows, or hidden units for small batches) must not change a
/// single bit: every element is summed in the same order whatever the split.
@Suite(.serialized) struct ThreadingTests {
    @Test(arguments: [("lstm", 1), ("lstm", 16), ("gru", 1), ("gru", 9), ("rnn", 2), ("lstm_proj", 1)])
    func threadCountDoesNotChangeResults(_ kind: String, _ batch: Int) throws {
        func run(threads: Int) throws -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let layer: RecurrentLayer = withRandomSeed(12) {
                switch kind {
                case "lstm": LSTM(inputSize: 5, hiddenSize: 96, bidirectional: true)
                case "lstm_proj": LSTM(inputSize: 5, hiddenSize: 96, projSize: 40)
                case "gru": GRU(inputSize: 5, hiddenSize: 80, numLayers: 2)
                default: RNN(inputSize: 5, hiddenSize: 128)
                }
            }
            let x = testTensor([7, batch, 5], seed: 2)
            let y = try layer.sequenceOutput(x)
            weightedSum(y, seed: 3).backward()
            return [y.scalars, x.grad!.scalars] + layer.parameters.map { $0.grad!.scalars }
        }
        let one = try run(threads: 1), two = try run(threads: 2), three = try run(threads: 3)
        #expect(one == two, "\(kind) B=\(batch): 1 vs 2 threads differ in \(zip(one, two).filter { $0 != $1 }.count) tensors")
        #expect(one == three, "\(kind) B=\(batch): 1 vs 3 threads differ in \(zip(one, three).filter { $0 != $1 }.count) tensors")
    }
}
