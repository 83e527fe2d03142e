import Testing
@testable import Recurrent

/// Bad data throws ``RecurrentError`` naming the expected and actual shapes; bad configurations stop
/// the process with a precondition message (checked with exit tests).
@Suite struct BadInputTests {
    enum Case: String, CaseIterable {
        case inputRank, inputSize, h0Shape, c0Shape, h0Batch, unbatchedH0, emptySequence, cellInput, cellState
    }

    @Test(arguments: Case.allCases)
    func dataErrorsAreThrown(_ c: Case) throws {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2)
        let gru = GRU(inputSize: 3, hiddenSize: 4)
        let x = Tensor.zeros([5, 2, 3])
        let error: RecurrentError
        do {
            switch c {
            case .inputRank: _ = try gru(Tensor.zeros([5, 2, 3, 1]))
            case .inputSize: _ = try lstm(Tensor.zeros([5, 2, 7]))
            case .h0Shape: _ = try gru(x, Tensor.zeros([2, 2, 4]))
            case .c0Shape: _ = try lstm(x, (Tensor.zeros([2, 2, 4]), Tensor.zeros([2, 2, 5])))
            case .h0Batch: _ = try lstm(x, (Tensor.zeros([2, 3, 4]), Tensor.zeros([2, 2, 4])))
            case .unbatchedH0: _ = try gru(Tensor.zeros([5, 3]), Tensor.zeros([1, 2, 4]))
            case .emptySequence: _ = try gru(Tensor.zeros([0, 2, 3]))
            case .cellInput: _ = try LSTMCell(inputSize: 3, hiddenSize: 4)(Tensor.zeros([2, 4]))
            case .cellState: _ = try GRUCell(inputSize: 3, hiddenSize: 4)(Tensor.zeros([2, 3]), Tensor.zeros([3, 4]))
            }
            Issue.record("\(c): no error thrown")
            return
        } catch let e as RecurrentError {
            error = e
        }
        let message = error.description
        let expectedFragment: String = switch c {
        case .inputRank: "got [5, 2, 3, 1]"
        case .inputSize: "Expected 3, got 7"
        case .h0Shape: "expected h0 of shape [1, 2, 4], got [2, 2, 4]"
        case .c0Shape: "expected c0 of shape [2, 2, 4], got [2, 2, 5]"
        case .h0Batch: "expected h0 of shape [2, 2, 4], got [2, 3, 4]"
        case .unbatchedH0: "expected h0 of shape [1, 4], got [1, 2, 4]"
        case .emptySequence: "sequence length larger than 0"
        case .cellInput: "got [2, 4]"
        case .cellState: "expected hx of shape [2, 4], got [3, 4]"
        }
        #expect(message.contains(expectedFragment), "\(c): message was \(message)")
    }

    @Test func lossErrors() throws {
        #expect(throws: RecurrentError.self) { try crossEntropy(logits: Tensor.zeros([3, 4]), targets: [0, 1]) }
        #expect(throws: RecurrentError.self) { try crossEntropy(logits: Tensor.zeros([3, 4]), targets: [0, 1, 4]) }
        #expect(throws: RecurrentError.self) { try mseLoss(Tensor.zeros([3, 4]), Tensor.zeros([4, 3])) }
        let p = Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
        (p * Float.nan).sum().backward()
        #expect(throws: RecurrentError.self) { try clipGradNorm([p], maxNorm: 1) }
    }

    @Test func dropoutOutOfRangeStops() async {
        await #expect(processExitsWith: .failure) { _ = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 1.5) }
        await #expect(processExitsWith: .failure) { _ = GRU(inputSize: 3, hiddenSize: 4, dropout: -0.1) }
        await #expect(processExitsWith: .failure) { _ = Dropout(p: 1) }
    }

    @Test func projectionNotSmallerThanHiddenStops() async {
        await #expect(processExitsWith: .failure) { _ = LSTM(inputSize: 3, hiddenSize: 4, projSize: 4) }
    }

    @Test func validConfigurationsDoNotStop() {
        _ = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.5, projSize: 3)
        _ = Dropout(p: 0)
    }
}
