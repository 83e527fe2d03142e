import Testing
@testable import Recurrent

/// Expects `actual` to match `expected` elementwise within `atol + rtol·|expected|`, reporting the
/// shapes, the number of mismatches, the largest difference and where it is.
func expectClose(
    _ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ label: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record("\(label): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var worst = 0, worstExcess: Float = -.infinity, bad = 0
    for i in actual.indices {
        let diff = abs(actual[i] - expected[i]), allowed = atol + rtol * abs(expected[i])
        if !(diff <= allowed) { bad += 1 }
        let excess = diff.isNaN ? .infinity : diff - allowed
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    if bad > 0 {
        Issue.record("""
            \(label): \(bad) of \(actual.count) values differ; worst at flat index \(worst): \
            \(actual[worst]) vs expected \(expected[worst]) (|diff| \(abs(actual[worst] - expected[worst])), \
            allowed \(atol + rtol * abs(expected[worst])))
            """, sourceLocation: sourceLocation)
    }
}

/// Expects a tensor to have `shape` and values close to `expected`.
func expectClose(
    _ actual: Tensor?, shape: [Int], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ label: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let actual else {
        Issue.record("\(label): missing tensor", sourceLocation: sourceLocation)
        return
    }
    #expect(actual.shape == shape, "\(label): shape", sourceLocation: sourceLocation)
    expectClose(actual.scalars, expected, rtol: rtol, atol: atol, label, sourceLocation: sourceLocation)
}

/// Deterministic pseudo-random values in [-1, 1) for test inputs.
func testValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in g.nextUniform(-1, 1) }
}

/// A leaf tensor of `shape` with deterministic values that requires gradients.
func testTensor(_ shape: [Int], seed: UInt64, requiresGrad: Bool = true) -> Tensor {
    Tensor(shape: shape, scalars: testValues(shape.reduce(1, *), seed: seed), requiresGrad: requiresGrad)
}
