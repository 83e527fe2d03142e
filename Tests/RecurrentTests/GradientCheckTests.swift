import Testing
@testable import Recurrent

/// Finite-difference checks for every differentiable operation.
@Suite struct GradientCheckTests {
    enum Case: String, CaseIterable {
        case add, subtract, multiply, divide, scale, tanh, sigmoid, relu, exp, log, sum, mean, softmax, logSoftmax
        case reshape, transpose, concat, narrow, matmul, linear, linearNoBias, embedding, crossEntropy, mse
    }

    @Test(arguments: Case.allCases)
    func elementary(_ c: Case) throws {
        let a = testTensor([2, 3, 4], seed: 1), b = testTensor([3, 1], seed: 2), v = testTensor([4], seed: 3)
        switch c {
        case .add: checkGradients([a, b], "add") { weightedSum($0[0] + $0[1], seed: 9) }
        case .subtract: checkGradients([a, v], "subtract") { weightedSum($0[0] - $0[1], seed: 9) }
        case .multiply: checkGradients([a, b], "multiply") { weightedSum($0[0] * $0[1], seed: 9) }
        case .divide:
            let positive = Tensor(shape: [4], scalars: [0.8, 1.3, 1.7, 2.2], requiresGrad: true)
            checkGradients([a, positive], "divide") { weightedSum($0[0] / $0[1], seed: 9) }
        case .scale: checkGradients([a], "scale") { weightedSum($0[0] * 3 - 1, seed: 9) }
        case .tanh: checkGradients([a], "tanh") { weightedSum(Recurrent.tanh($0[0]), seed: 9) }
        case .sigmoid: checkGradients([a], "sigmoid") { weightedSum(Recurrent.sigmoid($0[0]), seed: 9) }
        case .relu:
            // Keep inputs away from the kink at 0, where the finite difference is meaningless.
            let x = Tensor(shape: [6], scalars: [-0.9, -0.4, 0.3, 0.7, 1.2, -1.5], requiresGrad: true)
            checkGradients([x], "relu") { weightedSum(relu($0[0]), seed: 9) }
        case .exp: checkGradients([a], "exp") { weightedSum(Recurrent.exp($0[0]), seed: 9) }
        case .log:
            let x = Tensor(shape: [4], scalars: [0.5, 1, 2, 3], requiresGrad: true)
            checkGradients([x], "log") { weightedSum(Recurrent.log($0[0]), seed: 9) }
        case .sum: checkGradients([a], "sum") { ($0[0] * $0[0]).sum() }
        case .mean: checkGradients([a], "mean") { ($0[0] * $0[0]).mean() }
        case .softmax: checkGradients([a], "softmax") { weightedSum(softmax($0[0]), seed: 9) }
        case .logSoftmax: checkGradients([a], "logSoftmax") { weightedSum(logSoftmax($0[0]), seed: 9) }
        case .reshape: checkGradients([a], "reshape") { weightedSum($0[0].reshaped([4, -1]).squared(), seed: 9) }
        case .transpose: checkGradients([a], "transpose") { weightedSum($0[0].transposed(0, 2).squared(), seed: 9) }
        case .concat:
            let x = testTensor([2, 2, 4], seed: 4)
            checkGradients([a, x], "concat") { weightedSum(concat([$0[0], $0[1]], axis: 1).squared(), seed: 9) }
        case .narrow: checkGradients([a], "narrow") { weightedSum($0[0].narrowed(axis: 1, start: 1, length: 2).squared(), seed: 9) }
        case .matmul:
            let x = testTensor([3, 5], seed: 5), y = testTensor([5, 2], seed: 6)
            checkGradients([x, y], "matmul") { weightedSum(matmul($0[0], $0[1]), seed: 9) }
        case .linear:
            let w = testTensor([5, 4], seed: 7), bias = testTensor([5], seed: 8)
            checkGradients([a, w, bias], "linear") { weightedSum(Recurrent.linear($0[0], weight: $0[1], bias: $0[2]), seed: 9) }
        case .linearNoBias:
            let w = testTensor([5, 4], seed: 7)
            checkGradients([a, w], "linear") { weightedSum(Recurrent.linear($0[0], weight: $0[1], bias: nil), seed: 9) }
        case .embedding:
            let w = testTensor([5, 3], seed: 7)
            checkGradients([w], "embedding") { weightedSum(embedding([4, 1, 4, 0], shape: [2, 2], weight: $0[0]), seed: 9) }
        case .crossEntropy:
            let logits = testTensor([4, 5], seed: 7)
            try checkGradients([logits], "crossEntropy") { try crossEntropy(logits: $0[0] * 2, targets: [0, 4, 2, 2]) }
        case .mse:
            let p = testTensor([3, 4], seed: 7), t = testTensor([3, 4], seed: 8, requiresGrad: false)
            try checkGradients([p], "mse") { try mseLoss($0[0], t) }
        }
    }

    /// The fused layers, through every cell kind, both directions, projection and initial states.
    @Test(arguments: ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"], [false, true])
    func recurrentLayer(_ kind: String, _ bidirectional: Bool) throws {
        manualSeed(11)
        let layer: RecurrentLayer
        switch kind {
        case "rnn_tanh": layer = RNN(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: bidirectional)
        case "rnn_relu": layer = RNN(inputSize: 3, hiddenSize: 4, numLayers: 2, nonlinearity: .relu, bidirectional: bidirectional)
        case "lstm": layer = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: bidirectional)
        case "lstm_proj": layer = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: bidirectional, projSize: 2)
        default: layer = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: bidirectional)
        }
        let d = bidirectional ? 2 : 1
        let x = testTensor([4, 2, 3], seed: 1)
        let h0 = testTensor([2 * d, 2, layer.outputSize], seed: 2)
        let c0 = testTensor([2 * d, 2, 4], seed: 3)
        let inputs = [x, h0] + (layer is LSTM ? [c0] : []) + layer.parameters
        try checkGradients(inputs, eps: kind == "rnn_relu" ? 1e-3 : 1e-2, kinks: kind == "rnn_relu", kind) { _ in
            switch layer {
            case let lstm as LSTM:
                let (y, s) = try lstm(x, (h0, c0))
                return weightedSum(y, seed: 7) + weightedSum(s.h, seed: 8) + weightedSum(s.c, seed: 9)
            case let gru as GRU:
                let (y, h) = try gru(x, h0)
                return weightedSum(y, seed: 7) + weightedSum(h, seed: 8)
            case let rnn as RNN:
                let (y, h) = try rnn(x, h0)
                return weightedSum(y, seed: 7) + weightedSum(h, seed: 8)
            default: fatalError()
            }
        }
    }
}
