import Testing
@testable import Recurrent

/// The kernels flush subnormal floats to zero (the slow path that made the demo's plain RNN 7×
/// slower once its gradients vanished), and leave the caller's own arithmetic as it was.
@Suite struct SubnormalTests {
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
