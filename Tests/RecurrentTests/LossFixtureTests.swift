import Foundation
import Testing
@testable import Recurrent

/// Cross-entropy's and MSE's reductions and cross-entropy's `ignoreIndex` against PyTorch
/// (`Tools/make_loss_fixtures.py`): the loss and the gradient of its input.
@Suite struct LossFixtureTests {
    @Test func everyCaseIsThere() {
        #expect(Fixtures.names(in: "losses").count == 13)
    }

    @Test(arguments: Fixtures.names(in: "losses"))
    func matchesPyTorch(_ name: String) throws {
        let fixture = try Fixtures.load("losses/\(name)")
        let reduction = try #require(LossReduction(rawValue: fixture.metadata["reduction"] ?? ""))
        let input = try fixture.tensor("input", requiresGrad: true)
        let target = try fixture.tensor("target")
        let output: Tensor
        if fixture.metadata["loss"] == "mse" {
            output = try mseLoss(input, target, reduction: reduction)
        } else {
            let ignore = fixture.metadata["ignore_index"].flatMap { Int($0) }
            output = try crossEntropy(logits: input, targets: target.scalars.map { Int($0) }, reduction: reduction, ignoreIndex: ignore)
        }
        let expected = try fixture.values("output")
        if expected.allSatisfy(\.isNaN) {
            #expect(output.scalars.allSatisfy { $0.isNaN }, "\(name): NaN when every target is ignored, as in PyTorch")
        } else {
            expectClose(output.scalars, expected, rtol: 1e-5, atol: 1e-6, "\(name): loss")
        }
        let isMSE = fixture.metadata["loss"] == "mse"
        let expectedShape: [Int] = reduction != .none ? [] : (isMSE ? input.shape : [input.shape[0]])
        #expect(output.shape == expectedShape)
        let scalar = reduction == .none ? (output * (try fixture.tensor("loss_weight"))).sum() : output
        scalar.backward()
        expectClose(try #require(input.grad).scalars, try fixture.values("grad.input"), rtol: 1e-4, atol: 1e-6, "\(name): gradient")
    }

    /// A target outside the classes is still an error unless it is the ignored index.
    @Test func onlyTheIgnoredIndexMayLieOutsideTheClasses() throws {
        let logits = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(throws: RecurrentError.self) { try crossEntropy(logits: logits, targets: [0, -100]) }
        #expect(throws: RecurrentError.self) { try crossEntropy(logits: logits, targets: [0, 7], ignoreIndex: -100) }
        #expect(try crossEntropy(logits: logits, targets: [0, -100], ignoreIndex: -100).item.isFinite)
    }
}
