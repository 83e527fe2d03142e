import Foundation
import Testing
@testable import Recurrent

/// Batches of unequal sequences against their definition: each sequence run alone, to its own
/// length, gives the same output rows, final states and gradients (PyTorch's packed semantics;
/// `PackedFixtureTests` checks the same against PyTorch itself).
@Suite struct UnequalLengthTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var kind: ModelArchitecture.Kind
        var options = CellOptions()
        var layers = 1
        var bidirectional = false
        var projSize = 0
        var hidden = 5
        var batchFirst = false
        var lengths: [Int]
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "lstm-bi-unsorted", kind: .lstm, bidirectional: true, lengths: [3, 6, 1, 6, 4]),
        Case(name: "lstm-L2-bi-proj", kind: .lstm, layers: 2, bidirectional: true, projSize: 3, lengths: [6, 5, 5, 2, 1]),
        Case(name: "gru-L2-bf", kind: .gru, layers: 2, batchFirst: true, lengths: [2, 6, 4]),
        Case(name: "rnn-bi", kind: .rnn, bidirectional: true, lengths: [1, 2, 3, 4, 5, 6]),
        Case(name: "lstm-peephole-bi", kind: .lstm, options: CellOptions(peephole: true), bidirectional: true, lengths: [4, 6, 2]),
        Case(name: "lstm-layer-norm-bi", kind: .lstm, options: CellOptions(layerNorm: true), bidirectional: true, lengths: [5, 1, 6]),
        Case(name: "gru-reset-before-bi", kind: .gru, options: CellOptions(resetAfter: false), bidirectional: true,
             lengths: [6, 3, 3, 5]),
        Case(name: "gru-layer-norm", kind: .gru, options: CellOptions(layerNorm: true), lengths: [2, 6, 5]),
        Case(name: "lstm-activations-clip-bi", kind: .lstm,
             options: CellOptions(activations: [.hardSigmoid(), .softsign, .elu()], clip: 1.5), bidirectional: true, lengths: [6, 2, 4]),
        // Large enough for the hidden units to be split over threads at this batch (when there are threads).
        Case(name: "lstm-bi-units", kind: .lstm, bidirectional: true, hidden: 128, lengths: [6, 3, 5]),
        Case(name: "lstm-L2-pipeline", kind: .lstm, layers: 2, hidden: 16, lengths: [6, 2]),
    ]

    static func layer(_ c: Case, inputSize: Int) -> RecurrentLayer {
        switch c.kind {
        case .lstm: LSTM(inputSize: inputSize, hiddenSize: c.hidden, numLayers: c.layers, batchFirst: c.batchFirst,
                         bidirectional: c.bidirectional, projSize: c.projSize, options: c.options)
        case .gru: GRU(inputSize: inputSize, hiddenSize: c.hidden, numLayers: c.layers, batchFirst: c.batchFirst,
                       bidirectional: c.bidirectional, options: c.options)
        case .rnn: RNN(inputSize: inputSize, hiddenSize: c.hidden, numLayers: c.layers, batchFirst: c.batchFirst,
                       bidirectional: c.bidirectional, options: c.options)
        }
    }

    @Test(arguments: cases)
    func equalsEachSequenceAlone(_ c: Case) throws {
        let (I, T, B) = (3, 6, c.lengths.count)
        let layer = Self.layer(c, inputSize: I)
        let D = c.bidirectional ? 2 : 1, Ho = c.projSize > 0 ? c.projSize : c.hidden, K = D * c.layers
        // Padding holds NaN: nothing may read it.
        var xValues = testValues(T * B * I, seed: 1)
        for t in 0..<T { for b in 0..<B where t >= c.lengths[b] { for i in 0..<I { xValues[(t * B + b) * I + i] = .nan } } }
        let xTimeMajor = Tensor(shape: [T, B, I], scalars: xValues)
        let x = (c.batchFirst ? xTimeMajor.transposed(0, 1) : xTimeMajor).asParameter()
        let h0 = testTensor([K, B, Ho], seed: 2), c0 = c.kind == .lstm ? testTensor([K, B, c.hidden], seed: 3) : nil
        let (wOut, wH) = (testTensor([T, B, D * Ho], seed: 4, requiresGrad: false), testTensor([K, B, Ho], seed: 5, requiresGrad: false))
        let wC = testTensor([K, B, c.hidden], seed: 6, requiresGrad: false)

        let r = try layer.stack.run(x, h0: h0, c0: c0, layerName: c.name, lengths: c.lengths)
        let output = c.batchFirst ? r.output.transposed(0, 1) : r.output  // [T, B, D·Hₒ]
        var loss = (output * wOut).sum() + (r.h * wH).sum()
        if let cN = r.c { loss = loss + (cN * wC).sum() }
        loss.backward()
        let grads = layer.namedParameters.map { $0.tensor.grad!.scalars }
        let (dx, dh0, dc0) = (x.grad!, h0.grad!, c0?.grad)
        #expect(!output.scalars.contains { $0.isNaN } && !grads.joined().contains { $0.isNaN }, "\(c.name): NaN from the padding")

        // Each sequence alone.
        layer.zeroGrad()
        var expectedGrads = [[Float]](repeating: [], count: grads.count)
        for b in 0..<B {
            let n = c.lengths[b]
            let xb = xTimeMajor.narrowed(axis: 0, start: 0, length: n).narrowed(axis: 1, start: b, length: 1).asParameter()
            let hb = h0.narrowed(axis: 1, start: b, length: 1).asParameter()
            let cb = c0?.narrowed(axis: 1, start: b, length: 1).asParameter()
            let alone = try layer.stack.run(c.batchFirst ? xb.transposed(0, 1) : xb, h0: hb, c0: cb, layerName: c.name)
            let aloneOutput = c.batchFirst ? alone.output.transposed(0, 1) : alone.output  // [n, 1, D·Hₒ]
            for t in 0..<T {
                let row = output.narrowed(axis: 0, start: t, length: 1).narrowed(axis: 1, start: b, length: 1).scalars
                if t < n {
                    expectClose(row, aloneOutput.narrowed(axis: 0, start: t, length: 1).scalars, rtol: 1e-6, atol: 1e-7,
                                "\(c.name) output t=\(t) b=\(b)")
                } else {
                    #expect(row.allSatisfy { $0 == 0 }, "\(c.name): output past the length of row \(b) at t=\(t)")
                }
            }
            expectClose(r.h.narrowed(axis: 1, start: b, length: 1).scalars, alone.h.scalars, rtol: 1e-6, atol: 1e-7, "\(c.name) h_n b=\(b)")
            if let cN = r.c { expectClose(cN.narrowed(axis: 1, start: b, length: 1).scalars, alone.c!.scalars, rtol: 1e-6, atol: 1e-7, "\(c.name) c_n b=\(b)") }
            var lb = (aloneOutput * wOut.narrowed(axis: 0, start: 0, length: n).narrowed(axis: 1, start: b, length: 1)).sum()
                + (alone.h * wH.narrowed(axis: 1, start: b, length: 1)).sum()
            if let cAlone = alone.c { lb = lb + (cAlone * wC.narrowed(axis: 1, start: b, length: 1)).sum() }
            layer.zeroGrad()
            lb.backward()
            for (k, p) in layer.namedParameters.enumerated() {
                let g = p.tensor.grad!.scalars
                expectedGrads[k] = expectedGrads[k].isEmpty ? g : zip(expectedGrads[k], g).map(+)
            }
            for t in 0..<T {
                let got = (c.batchFirst ? dx.transposed(0, 1) : dx).narrowed(axis: 0, start: t, length: 1).narrowed(axis: 1, start: b, length: 1).scalars
                if t < n {
                    expectClose(got, xb.grad!.narrowed(axis: 0, start: t, length: 1).scalars, rtol: 1e-5, atol: 1e-6, "\(c.name) dx t=\(t) b=\(b)")
                } else {
                    #expect(got.allSatisfy { $0 == 0 }, "\(c.name): gradient at padding, row \(b), t=\(t)")
                }
            }
            expectClose(dh0.narrowed(axis: 1, start: b, length: 1).scalars, hb.grad!.scalars, rtol: 1e-5, atol: 1e-6, "\(c.name) dh0 b=\(b)")
            if let dc0 { expectClose(dc0.narrowed(axis: 1, start: b, length: 1).scalars, cb!.grad!.scalars, rtol: 1e-5, atol: 1e-6, "\(c.name) dc0 b=\(b)") }
        }
        for (k, (name, _)) in layer.namedParameters.enumerated() {
            expectClose(grads[k], expectedGrads[k], rtol: 1e-5, atol: 1e-6, "\(c.name) grad \(name)")
        }
    }

    /// A last-step head reads each sequence's own last step; `run --lengths` writes what the library
    /// computes; `fit --lengths` trains on the steps each sequence has; bad lengths are one line.
    @Test func modelsAndCommandsTakeLengths() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let architecture = ModelArchitecture(kind: .gru, inputSize: 3, hiddenSize: 4, bidirectional: true, batchFirst: true,
                                             headPrefix: "fc.", headOutputSize: 2, headPlacement: .lastStep)
        let model = RecurrentModel(architecture)
        let x = testTensor([3, 5, 3], seed: 1, requiresGrad: false), lengths = [2, 5, 3]  // [B, T, I]
        let r = try model(x, lengths: lengths)
        for b in 0..<3 {
            let alone = try model(x.narrowed(axis: 0, start: b, length: 1).narrowed(axis: 1, start: 0, length: lengths[b]))
            expectClose(r.prediction!.narrowed(axis: 0, start: b, length: 1).scalars, alone.prediction!.scalars, rtol: 1e-6, atol: 1e-7,
                        "last-step prediction of row \(b)")
        }
        try model.save(to: dir.file("m.safetensors"))
        try NPY.write(TensorData(shape: x.shape, scalars: x.scalars), to: dir.file("x.npy"))
        try NPY.write(TensorData(shape: [3], scalars: lengths.map(Float.init)), to: dir.file("len.npy"))
        try NPY.write(TensorData(shape: [3, 2], scalars: testValues(6, seed: 2)), to: dir.file("y.npy"))
        let run = try CommandRunner.run(["run", dir.path("m.safetensors"), "--input", dir.path("x.npy"), "--lengths", dir.path("len.npy"),
                                         "--output", dir.path("out.safetensors")])
        #expect(run.status == 0, "\(run.stderr)")
        let out = try SafeTensorsFile.read(from: dir.file("out.safetensors"))
        #expect(out.tensors["output"]!.scalars == r.output.scalars && out.tensors["h_n"]!.scalars == r.h.scalars)
        #expect(out.tensors["prediction"]!.scalars == r.prediction!.scalars)
        let fit = try CommandRunner.run(["fit", dir.path("m.safetensors"), "--input", dir.path("x.npy"), "--lengths", dir.path("len.npy"),
                                         "--target", dir.path("y.npy"), "--steps", "2", "--output", dir.path("t.safetensors")])
        #expect(fit.status == 0, "\(fit.stderr)")
        for (values, shape, message) in [([Float](arrayLiteral: 2, 0, 3), [3], "length 0.0 of sequence 1"), ([2, 6, 3], [3], "outside 1...5"),
                                         ([2, 3], [2], "expected 3 lengths"), ([2, 2.5, 3], [3], "not a whole number"),
                                         ([1, 2, 3, 4, 5, 1], [3, 2], "must be a vector")] {
            try NPY.write(TensorData(shape: shape, scalars: values), to: dir.file("bad.npy"))
            let bad = try CommandRunner.run(["run", dir.path("m.safetensors"), "--input", dir.path("x.npy"), "--lengths", dir.path("bad.npy"),
                                             "--output", dir.path("bad.safetensors")])
            #expect(bad.status != 0 && bad.stderr.contains(message) && bad.stderr.split(separator: "\n").count == 1, "\(values): \(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path("bad.safetensors")))
        }
    }

    @Test func equalLengthsTakeThePlainPath() throws {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, bidirectional: true)
        let x = testTensor([5, 2, 3], seed: 1, requiresGrad: false)
        #expect(try lstm(x, lengths: [5, 5]).output.scalars == (try lstm(x)).output.scalars)
    }

    @Test(arguments: [([Int](), "expected 2 lengths"), ([3, 0], "length 0 of sequence 1 is outside 1...5"),
                      ([6, 2], "length 6 of sequence 0 is outside 1...5"), ([1, 2, 3], "expected 2 lengths")])
    func badLengthsAreOneLineErrors(_ lengths: [Int], _ message: String) {
        let gru = GRU(inputSize: 3, hiddenSize: 4)
        #expect { try gru(testTensor([5, 2, 3], seed: 1), lengths: lengths) } throws: { "\($0)".contains(message) }
    }
}
