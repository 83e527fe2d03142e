import Testing
@testable import Recurrent

/// Copies shared out over the pool's threads: `concat` and its gradient. In the serialized suite,
/// as every test that changes the process-wide thread count.
extension ThreadingTests {
    // `concat` of large tensors (the outputs of bidirectional layers) and its gradient are copied
    // by the pool's threads: the same values on 1, 2 and 3 threads, each piece where `torch.cat`
    // puts it, and each input's gradient the matching slice of the output's.
    @Test(arguments: [(2, [[700, 3, 64], [700, 3, 64]]), (1, [[300, 5, 40], [300, 301, 40], [300, 1, 40]]),
                      (0, [[2000, 70], [7000, 70]])])
    func concatOnThreads(_ axis: Int, _ shapes: [[Int]]) {
        #expect(shapes.map(\.product).reduce(0, +) >= parallelCount, "large enough to share")
        let values = shapes.enumerated().map { testValues($1.product, seed: UInt64(40 + $0)) }
        func run(threads: Int) -> [[Float]] {
            Kernels.setThreadCount(threads)
            defer { Kernels.setThreadCount(1) }
            let inputs = zip(shapes, values).map { Tensor(shape: $0, scalars: $1, requiresGrad: true) }
            let y = concat(inputs, axis: axis)
            weightedSum(y, seed: 47).backward()
            return [y.scalars] + inputs.map { $0.grad!.scalars }
        }
        let one = run(threads: 1), two = run(threads: 2), three = run(threads: 3)
        #expect(one == two && one == three, "axis \(axis): threads changed concat or its gradient")
        // The reference: for each index before the axis, every input's slab in turn.
        let outer = shapes[0][..<axis].reduce(1, *)
        let slabs = shapes.map { $0[axis...].reduce(1, *) }
        var expected: [Float] = []
        for o in 0..<outer {
            for (x, slab) in zip(values, slabs) { expected += x[(o * slab)..<((o + 1) * slab)] }
        }
        #expect(two[0] == expected, "axis \(axis): values out of place")
        // d(Σ w ⊙ y)/dx is w at x's places in y (weightedSum's w: testValues of y's count).
        let w = testValues(expected.count, seed: 47), total = slabs.reduce(0, +)
        var offset = 0
        for (i, slab) in slabs.enumerated() {
            let slice = (0..<outer).flatMap { o in w[(o * total + offset)..<(o * total + offset + slab)] }
            #expect(two[1 + i] == slice, "axis \(axis): gradient of input \(i)")
            offset += slab
        }
    }
}
