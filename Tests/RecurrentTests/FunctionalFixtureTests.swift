import Testing
@testable import Recurrent

/// Linear, Embedding, activations, softmax, losses and broadcasting against PyTorch.
@Suite struct FunctionalFixtureTests {
    enum Case: String, CaseIterable {
        case linear, linear3d, embedding, softmax, logSoftmax = "log_softmax", sigmoid, tanh, relu
        case crossEntropy = "cross_entropy", crossEntropyLarge = "cross_entropy_large", mse, broadcast
    }

    @Test(arguments: Case.allCases)
    func matchesPyTorch(_ c: Case) throws {
        let f = try Fixtures.load("functional")
        let p = c.rawValue + "."
        func t(_ key: String, grad: Bool = false) throws -> Tensor { try f.tensor(p + key, requiresGrad: grad) }
        func check(_ actual: Tensor?, _ key: String, rtol: Float = 1e-5, atol: Float = 1e-6) throws {
            expectClose(actual, shape: try f.shape(p + key), try f.values(p + key), rtol: rtol, atol: atol, "\(c) \(key)")
        }
        switch c {
        case .linear, .linear3d:
            let x = try t("x", grad: true)
            let layer = Linear(inputSize: x.shape.last!, outputSize: try f.shape(p + "weight")[0])
            try layer.loadStateDict(["weight": f.tensors[p + "weight"]!, "bias": f.tensors[p + "bias"]!])
            let y = layer(x)
            try check(y, "y")
            (y * (try t("loss_weight"))).sum().backward()
            try check(x.grad, "grad.x", rtol: 1e-4, atol: 1e-5)
            try check(layer.weight.grad, "grad.weight", rtol: 1e-4, atol: 1e-5)
            try check(layer.bias!.grad, "grad.bias", rtol: 1e-4, atol: 1e-5)
        case .embedding:
            let w = try f.shape(p + "weight")
            let table = Embedding(count: w[0], dimension: w[1])
            try table.loadStateDict(["weight": f.tensors[p + "weight"]!])
            let indices = try f.tensors[p + "indices"].map { $0 } ?? { throw FixtureError.missing(p + "indices") }()
            let y = table(indices.scalars.map { Int($0) }, shape: indices.shape)
            try check(y, "y")
            (y * (try t("loss_weight"))).sum().backward()
            try check(table.weight.grad, "grad.weight", rtol: 1e-4, atol: 1e-5)
        case .softmax, .logSoftmax, .sigmoid, .tanh, .relu:
            let x = try t("x", grad: true)
            let y: Tensor = switch c {
            case .softmax: Recurrent.softmax(x)
            case .logSoftmax: logSoftmax(x)
            case .sigmoid: Recurrent.sigmoid(x)
            case .tanh: Recurrent.tanh(x)
            default: relu(x)
            }
            try check(y, "y")
            (y * (try t("loss_weight"))).sum().backward()
            try check(x.grad, "grad.x", rtol: 1e-4, atol: 1e-6)
        case .crossEntropy, .crossEntropyLarge:
            let logits = try t("logits", grad: true)
            let targets = try f.values(p + "targets").map { Int($0) }
            let loss = try crossEntropy(logits: logits, targets: targets)
            expectClose([loss.item], try f.values(p + "loss"), rtol: 1e-5, atol: 1e-6, "\(c) loss")
            loss.backward()
            try check(logits.grad, "grad.logits", rtol: 1e-4, atol: 1e-6)
        case .mse:
            let prediction = try t("prediction", grad: true)
            let loss = try mseLoss(prediction, try t("target"))
            expectClose([loss.item], try f.values(p + "loss"), rtol: 1e-5, atol: 1e-6, "mse loss")
            loss.backward()
            try check(prediction.grad, "grad.prediction", rtol: 1e-4, atol: 1e-6)
        case .broadcast:
            let (a, b, cc, d) = (try t("a", grad: true), try t("b", grad: true), try t("c", grad: true), try t("d", grad: true))
            let z = (a + b) * cc / d
            try check(z, "z")
            (z * (try t("loss_weight"))).sum().backward()
            for (name, x) in [("a", a), ("b", b), ("c", cc), ("d", d)] { try check(x.grad, "grad." + name, rtol: 1e-4, atol: 1e-5) }
        }
    }
}

/// `sum()` and `mean()` add pairwise: on a million terms their error stays near one rounding,
/// where adding one term at a time drifts (0.1 × 10⁶ summed in order is off by about 1%).
@Suite struct ReductionTests {
    @Test(arguments: [1, 15, 16, 17, 255, 256, 257, 1_000_003])
    func sumIsAccurate(_ count: Int) {
        let values = (0..<count).map { Float(0.1) + Float($0 % 7) * 0.01 }
        let exact = values.reduce(0.0) { $0 + Double($1) }
        let x = Tensor(shape: [count], scalars: values)
        #expect(abs(Double(x.sum().item) - exact) <= 2e-6 * exact, "sum of \(count)")
        #expect(abs(Double(x.mean().item) - exact / Double(count)) <= 2e-6 * exact / Double(count), "mean of \(count)")
    }
}
