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
