import Testing
@testable import Recurrent

/// End to end: a small LSTM learns the adding problem, deterministically.
@Suite struct TrainingTests {
    /// Trains on the adding problem with T = 10 and returns the losses.
    func train(seed: UInt64, steps: Int) throws -> (first: Float, last: Float, test: Float, weights: [Float]) {
        // A private generator: other tests draw from the global one concurrently.
        let model = withRandomSeed(seed) { SequenceRegressor(recurrent: LSTM(inputSize: 2, hiddenSize: 12), outputs: 1) }
        var optimizer = Adam(parameters: model.parameters, learningRate: 0.02)
        var data = AddingProblem(sequenceLength: 10, seed: seed)
        var first: Float = 0, last: Float = 0
        for step in 0..<steps {
            let (x, y) = data.batch(16)
            optimizer.zeroGrad()
            let loss = try mseLoss(try model(x), y)
            loss.backward()
            try clipGradNorm(model.parameters, maxNorm: 1)
            optimizer.step()
            if step == 0 { first = loss.item }
            last = loss.item
        }
        var testData = AddingProblem(sequenceLength: 10, seed: 999)
        let test = testData.batch(200)
        let testLoss = try withoutGradients { try mseLoss(try model(test.input), test.target).item }
        return (first, last, testLoss, model.parameters.flatMap(\.scalars))
    }

    @Test func lstmLearnsTheAddingProblem() throws {
        let run = try train(seed: 5, steps: 300)
        // The baseline (predict the mean) is 1/6; learning means an order of magnitude below it.
        #expect(run.test < AddingProblem.baselineMSE / 10, "test MSE \(run.test) after 300 steps (first loss \(run.first))")
    }

    @Test func sameSeedSameRunBitForBit() throws {
        let a = try train(seed: 8, steps: 20), b = try train(seed: 8, steps: 20), c = try train(seed: 9, steps: 20)
        #expect(a.weights == b.weights)
        #expect(a.last == b.last)
        #expect(a.weights != c.weights)
    }

    @Test func dropoutOnlyInTraining() throws {
        manualSeed(1)
        let lstm = LSTM(inputSize: 3, hiddenSize: 8, numLayers: 3, dropout: 0.5)
        let x = testTensor([4, 2, 3], seed: 1, requiresGrad: false)
        lstm.eval()
        let e1 = try lstm(x).output.scalars, e2 = try lstm(x).output.scalars
        #expect(e1 == e2, "eval mode must be deterministic")
        lstm.train()
        let t1 = try lstm(x).output.scalars, t2 = try lstm(x).output.scalars
        #expect(t1 != t2 && t1 != e1, "training mode must apply a fresh dropout mask")
        let single = LSTM(inputSize: 3, hiddenSize: 8, numLayers: 1, dropout: 0.5)  // no layer above: no dropout
        #expect(try single(x).output.scalars == (try single(x).output.scalars))
    }

    @Test func dropoutScalesKeptElements() {
        manualSeed(2)
        let x = Tensor(repeating: 1, shape: [10000])
        let y = dropout(x, p: 0.25, training: true).scalars
        #expect(y.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        let kept = Float(y.filter { $0 != 0 }.count) / 10000
        #expect(abs(kept - 0.75) < 0.02, "kept fraction \(kept)")
    }
}

@Suite struct RandomTests {
    @Test func scopedSeedIsReproducibleAndLeavesTheGlobalGeneratorAlone() {
        let a = withRandomSeed(5) { Tensor.uniform([6], low: -1, high: 1).scalars }
        let b = withRandomSeed(5) { Tensor.uniform([6], low: -1, high: 1).scalars }
        let c = withRandomSeed(6) { Tensor.uniform([6], low: -1, high: 1).scalars }
        #expect(a == b && a != c)
        #expect(a.allSatisfy { $0 >= -1 && $0 < 1 })
    }

    @Test func generatorIsDeterministicAndUniform() {
        var g1 = SeededGenerator(seed: 42), g2 = SeededGenerator(seed: 42)
        let xs = (0..<10_000).map { _ in g1.nextUniform() }
        #expect(xs == (0..<10_000).map { _ in g2.nextUniform() })
        let mean = xs.reduce(0, +) / Float(xs.count)
        #expect(abs(mean - 0.5) < 0.01)
        var g3 = SeededGenerator(seed: 1)
        let normals = (0..<10_000).map { _ in g3.nextNormal() }
        let m = normals.reduce(0, +) / 10_000, v = normals.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 10_000
        #expect(abs(m) < 0.03 && abs(v - 1) < 0.05, "mean \(m), variance \(v)")
    }
}
