import Foundation
import Testing
@testable import Recurrent

/// The backward pass through time computes only the gradients some input needs, as PyTorch does:
/// no `dx` for an input that does not require gradients (the usual first layer), no weight
/// gradient for a tensor that does not. Skipping them must not change any other gradient.
@Suite struct GradientNeedsTests {
    static func layer(_ kind: String) -> RecurrentLayer {
        withRandomSeed(5) {
            switch kind {
            case "lstm": LSTM(inputSize: 6, hiddenSize: 11, numLayers: 2, bidirectional: true)
            case "lstm-proj": LSTM(inputSize: 6, hiddenSize: 11, numLayers: 2, bidirectional: true, projSize: 4)
            case "gru": GRU(inputSize: 6, hiddenSize: 11, numLayers: 2, bidirectional: true)
            case "rnn-relu": RNN(inputSize: 6, hiddenSize: 11, numLayers: 2, nonlinearity: .relu, bidirectional: true)
            default: RNN(inputSize: 6, hiddenSize: 11, numLayers: 2, bidirectional: true)
            }
        }
    }

    /// An input without gradients gets none, and every parameter's gradient is bit for bit the
    /// one computed alongside the input's.
    @Test(arguments: ["lstm", "lstm-proj", "gru", "rnn", "rnn-relu"])
    func inputWithoutGradients(_ kind: String) throws {
        let layer = Self.layer(kind)
        func run(inputNeedsGradient: Bool) throws -> (parameters: [[Float]], input: Tensor?) {
            let x = testTensor([5, 9, 6], seed: 2, requiresGrad: inputNeedsGradient)
            layer.zeroGrad()
            weightedSum(try layer.sequenceOutput(x), seed: 3).backward()
            return (layer.parameters.map { $0.grad!.scalars }, x.grad)
        }
        let with = try run(inputNeedsGradient: true), without = try run(inputNeedsGradient: false)
        #expect(with.input != nil)
        #expect(without.input == nil, "\(kind): an input without requiresGrad got a gradient")
        for (k, (a, b)) in zip(with.parameters, without.parameters).enumerated() {
            #expect(a == b, "\(kind): parameter \(k) differs when the input needs no gradient")
        }
    }

    /// A weight that does not require gradients gets none; the others are unchanged.
    @Test(arguments: [0, 1, 2, 3])
    func frozenWeight(_ frozen: Int) {
        let (T, B, I, H) = (4, 3, 5, 7)
        let shapes = [[4 * H, I], [4 * H, H], [4 * H], [4 * H]]
        func run(frozen: Int?) -> [[Float]?] {
            let tensors = shapes.enumerated().map { k, shape in testTensor(shape, seed: UInt64(10 + k), requiresGrad: k != frozen) }
            let weights = RecurrentSequence.Weights(inputWeight: tensors[0], hiddenWeight: tensors[1], inputBias: tensors[2],
                                                    hiddenBias: tensors[3], projection: nil)
            let x = testTensor([T, B, I], seed: 1)
            let (output, _, _) = RecurrentSequence.apply(cell: LSTMCellKernel(), x: x, h0: Tensor.zeros([B, H]),
                                                         c0: Tensor.zeros([B, H]), weights: weights, reverse: false)
            weightedSum(output, seed: 2).backward()
            return [x.grad?.scalars] + tensors.map { $0.grad?.scalars }
        }
        let all = run(frozen: nil), some = run(frozen: frozen)
        for k in 0..<all.count {
            if k == frozen + 1 {
                #expect(some[k] == nil, "weight \(frozen) does not require gradients but got one")
            } else {
                #expect(some[k] != nil && some[k] == all[k], "gradient \(k) changed when weight \(frozen) was frozen")
            }
        }
    }
}
