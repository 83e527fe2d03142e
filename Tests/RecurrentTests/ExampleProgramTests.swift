import Foundation
import Testing
import Recurrent

/// The short Swift programs that the README and the DocC articles show, as written there
/// (only the data paths and sizes differ), run on small data: what a user copies must compile
/// against the public API and work.
@Suite(.serialized) struct ExampleProgramTests {
    /// README "Row-by-row MNIST in Swift".
    @Test func rowByRowMNIST() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try MNISTCommandTests.writeData(to: dir.url)
        let folder = dir.url, first2000 = Array(0..<12)

        let data = try MNISTData.load(directory: folder)
        manualSeed(0)
        let model = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: data.cols, hiddenSize: 64, batchFirst: true,
                                                     prefix: "rnn.", headPrefix: "out.", headOutputSize: data.classCount,
                                                     headPlacement: .lastStep))    // the tutorial's RNN: out(r_out[:, -1, :])
        var options = TrainingOptions()
        options.batchSize = 50                                                      // Adam, lr 1e-3, one epoch: the defaults
        (options.batchSize, options.epochs, options.learningRate) = (6, 20, 1e-2)   // 60 images here: more, smaller steps
        var loop = try TrainingLoop(model: model, options: options)
        try loop.run(sampleCount: data.training.count) { batch in
            let logits = try model(data.training.imageBatch(batch)).prediction!     // [B, 28, 28] → [B, 10]
            return try crossEntropy(logits: logits, targets: data.training.labels(at: batch))
        }
        model.eval()
        let predicted = try withoutGradients { argmaxRows(try model(data.test.imageBatch(first2000)).prediction!) }
        print("test accuracy:", accuracy(predicted, data.test.labels(at: first2000)))
        try model.save(to: dir.file("mnist.safetensors"))

        #expect(accuracy(predicted, data.test.labels(at: first2000)) > 0.5)
    }

    /// README "Forecasting in Swift".
    @Test func forecasting() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try ForecastCommandTests.csv().write(to: dir.file("msft.csv"), atomically: true, encoding: .utf8)
        let names = ["Price", "Volume"], target = "Price"

        let table = try CSVTable.read(from: dir.file("msft.csv"))
        let columns = try names.map { try table.numericColumn($0) }
        let series = try TimeSeriesWindows(features: (0..<table.rows.count).map { r in columns.map { $0[r] } },
                                           target: try table.numericColumn(target), window: 30, horizon: 7)
        manualSeed(0)
        let model = series.makeModel(kind: .lstm, hiddenSize: 64)                   // fc(lstm(x)[0][:, -1, :]), batch-first
        var options = TrainingOptions()
        (options.epochs, options.patience) = (100, 10)                              // early stopping keeps the best epoch
        var loop = try TrainingLoop(model: model, options: options)
        let (train, validation, test) = (series.sampleStarts(.training), series.sampleStarts(.validation), series.sampleStarts(.test))
        try loop.run(sampleCount: train.count, loss: { batch in
            let starts = batch.map { train[$0] }
            return try mseLoss(try model(series.inputs(starts)).prediction!, series.targets(starts))
        }, validationLoss: {
            Float(rootMeanSquaredError(try series.predictions(of: model, validation).flatMap { $0 }, series.truth(validation).flatMap { $0 }))
        })
        let truth = series.truth(test).flatMap { $0 }
        let rmse = rootMeanSquaredError(try series.predictions(of: model, test).flatMap { $0 }, truth)
        print("RMSE", rmse, "last-value baseline", rootMeanSquaredError(series.baselines(test).last.flatMap { $0 }, truth))

        #expect(rmse < rootMeanSquaredError(series.baselines(test).mean.flatMap { $0 }, truth))
    }

    /// README "A character language model in Swift".
    @Test func characterLanguageModel() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try CharLMCommandTests.text.write(to: dir.file("kjv.txt"), atomically: true, encoding: .utf8)

        let text = try TextFile.read(from: dir.file("kjv.txt"))
        let vocabulary = Vocabulary(text: text)
        let samples = try TokenWindows(tokens: try vocabulary.encode(text), length: 25)
        manualSeed(0)
        let model = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 64, hiddenSize: 256, prefix: "rnn.", headPrefix: "fc.",
                                                     headOutputSize: vocabulary.count,
                                                     inputEncoding: .embedding(prefix: "embedding.", count: vocabulary.count)))
        var options = TrainingOptions()
        (options.batchSize, options.learningRate, options.clipGradNorm) = (64, 2e-3, 5)
        options.epochs = 3
        var loop = try TrainingLoop(model: model, options: options)
        let starts = samples.sampleStarts
        let history = try loop.run(sampleCount: starts.count) { batch in
            let (input, targets) = samples.batch(batch.map { starts[$0] })          // [25, 64] tokens, their next tokens
            return try crossEntropy(logits: model(input).prediction!.reshaped([-1, vocabulary.count]), targets: targets)
        }
        var generator = SeededGenerator(seed: 0)
        let generated = try model.generate(prime: try vocabulary.encode("the "), length: 300, temperature: 0.8, using: &generator)
        print("the " + vocabulary.decode(generated))

        #expect(history.epochs.last!.trainingLoss < history.epochs.first!.trainingLoss)
        #expect(generated.count == 300)
    }

    /// README "Sequence to sequence" (and the DocC article *Sequence to sequence*).
    @Test func sequenceToSequence() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }

        let pairs = try SequencePairs.addition(count: 50_000, seed: 0)                  // "123+45" → "168"
        let (training, heldOut) = (Array(pairs.dropLast(5000)), Array(pairs.suffix(5000)))
        manualSeed(0)
        let model = Seq2SeqModel(Seq2SeqConfiguration(cell: .lstm, sourceVocabulary: Seq2SeqVocabulary(texts: pairs.map(\.source)),
                                                      targetVocabulary: Seq2SeqVocabulary(texts: pairs.map(\.target)),
                                                      hiddenSize: 32, reverseSource: true, maxOutputLength: 10))   // README: 128
        var options = TrainingOptions()
        (options.epochs, options.batchSize) = (20, 64)                                   // Adam, lr 1e-3
        (options.epochs, options.batchSize, options.learningRate) = (3, 16, 1e-2)        // here: 300 pairs, a smaller model
        var loop = try TrainingLoop(model: model, options: options)
        let history = try loop.run(sampleCount: 300) { batch in
            try model.loss(model.batch(batch.map { training[$0] }))                      // teacher forcing, <pad> ignored
        }
        let greedy = try model.evaluate(Array(heldOut.prefix(50))), beam = try model.evaluate(Array(heldOut.prefix(50)), beamWidth: 3)
        print("exact match", greedy.exactMatch, beam.exactMatch, "character error rate", greedy.characterErrorRate, beam.characterErrorRate)
        print(try model.translate(["12+7", "555+55"], beamWidth: 3))                     // the command's model: ["19", "610"]
        try model.save(to: dir.file("addition.safetensors"))

        #expect(history.epochs.last!.trainingLoss < history.epochs.first!.trainingLoss)
        #expect(try Seq2SeqModel.load(from: dir.file("addition.safetensors")).translate(["12+7"]) == model.translate(["12+7"]))
    }
}
