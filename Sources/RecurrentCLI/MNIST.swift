import ArgumentParser
import Foundation
import Recurrent

/// `recurrent mnist`: the tutorials' row-by-row image classifier.
struct MNIST: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify MNIST-style images read row by row (28 steps of 28 pixels) with an LSTM.",
        discussion: """
            Defaults reproduce the PyTorch tutorial: LSTM(28, 64) and Linear(64, 10) on the last \
            step, cross-entropy, Adam lr 1e-3, batch 50, one shuffled epoch, tested on the first 2000 \
            test images with the first 10 predictions printed beside their labels. The folder holds \
            the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
            t10k-labels-idx1-ubyte), raw or gzipped: MNIST, Fashion-MNIST (apt-get install \
            dataset-fashion-mnist: /usr/share/datasets/fashion-mnist), KMNIST or EMNIST-style folders.
            """)

    @Option(help: "Folder with the four IDX files.") var data: String
    @Option(help: "rnn, lstm or gru.") var cell = "lstm"
    @Option(help: "Hidden size.") var hiddenSize = 64
    @Option(help: "Stacked recurrent layers.") var layers = 1
    @Flag(help: "Read each image's rows in both directions.") var bidirectional = false
    @Option(help: "Passes over the training images.") var epochs = 1
    @Option(help: "Images per update.") var batchSize = 50
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Test images scored during training and reported as test_accuracy (the tutorial's 2000).")
    var testSubset = 2000
    @Option(help: "Score the test subset every this many updates for the loss curve (0: once per epoch).")
    var evalEvery = 50
    @Option(help: "Class names for the plot: digits, fashion, or a comma-separated list (default: fashion when the folder's path says so, else digits).")
    var classNames: String?
    @Option(help: "Where to write the trained model (.safetensors).") var output = "mnist.safetensors"
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard ModelArchitecture.Kind(rawValue: cell) != nil else { throw ValidationError("--cell must be rnn, lstm or gru, got '\(cell)'") }
        for (name, value, limit) in [("--hidden-size", hiddenSize, 1 << 14), ("--layers", layers, 64), ("--epochs", epochs, 10_000),
                                     ("--batch-size", batchSize, 1 << 20), ("--test-subset", testSubset, Int.max)] {
            guard (1...limit).contains(value) else { throw ValidationError("\(name) must be between 1 and \(limit), got \(value)") }
        }
        guard evalEvery >= 0 else { throw ValidationError("--eval-every must be 0 or more, got \(evalEvery)") }
        try checkFloat("--lr", learningRate, positive: true)
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
    }

    func run() throws {
        example.apply()
        let data = try MNISTData.load(directory: URL(fileURLWithPath: data))
        let subset = min(testSubset, data.test.count)
        let names = try classLabels(count: data.classCount)
        print("\(data.training.count) training and \(data.test.count) test images of \(data.rows)×\(data.cols) pixels, \(data.classCount) classes")

        let model = RecurrentModel(ModelArchitecture(
            kind: ModelArchitecture.Kind(rawValue: cell)!, inputSize: data.cols, hiddenSize: hiddenSize, numLayers: layers,
            bidirectional: bidirectional, batchFirst: true, prefix: "rnn.", headPrefix: "out.", headOutputSize: data.classCount,
            headPlacement: .lastStep))
        print("model: \(model.architecture), \(model.parameterCount) parameters, \(Kernels.threads) threads")
        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.seed) = (epochs, batchSize, learningRate, example.seed)
        var loop = try TrainingLoop(model: model, options: options)

        func subsetLoss() throws -> (loss: Float, accuracy: Double) {
            let r = try evaluate(model, data, 0..<subset)
            return (r.loss, accuracy(r.predicted, Array(data.test.labels[0..<subset])))
        }
        var progress = EpochProgress(label: "mnist", unit: "images") { _ in batchSize }
        var evaluations: [(step: Double, loss: Double)] = [], evaluationSeconds = 0.0, step = 0
        let history = try loop.run(sampleCount: data.training.count, loss: { batch in
            let logits = try model(data.training.imageBatch(batch)).prediction!
            return try crossEntropy(logits: logits, targets: batch.map { data.training.labels[$0] })
        }, validationLoss: {
            let start = Date()
            defer { evaluationSeconds += Date().timeIntervalSince(start) }
            return try subsetLoss().loss
        }, onStep: { epoch, s, steps, loss in
            progress.step(epoch: epoch, step: s, steps: steps, loss: loss)
            step += 1
            if evalEvery > 0, step % evalEvery == 0, s < steps {
                let start = Date()
                evaluations.append((Double(step), Double(try subsetLoss().loss)))
                model.train()
                evaluationSeconds += Date().timeIntervalSince(start)
            }
        }, onEpoch: { summary in
            evaluations.append((Double(step), Double(summary.validationLoss!)))
            print("epoch \(summary.epoch): train loss \(String(format: "%.4f", summary.trainingLoss)), test-subset loss \(String(format: "%.4f", summary.validationLoss!)), \(String(format: "%.1f", summary.seconds)) s")
        })
        model.eval()

        let first = try evaluate(model, data, 0..<min(10, data.test.count))
        print("prediction number: \(first.predicted)")
        print("real number:       \(Array(data.test.labels[0..<min(10, data.test.count)]))")
        let all = try evaluate(model, data, 0..<data.test.count)
        let subsetAccuracy = accuracy(Array(all.predicted[0..<subset]), Array(data.test.labels[0..<subset]))
        let fullAccuracy = accuracy(all.predicted, data.test.labels)
        print(String(format: "test accuracy: %.4f on the first %d images, %.4f on all %d", subsetAccuracy, subset, fullAccuracy, data.test.count))

        try model.save(to: URL(fileURLWithPath: output))
        let folder = try example.plotsFolder(besides: output)
        let stepsPerEpoch = Double((data.training.count + batchSize - 1) / batchSize)
        try LinePlot(title: "Row-by-row \(cell.uppercased()) on \(URL(fileURLWithPath: self.data).lastPathComponent)",
                     xAxisTitle: "update (\(Int(stepsPerEpoch)) per epoch, batch \(batchSize))",
                     yAxisTitle: "loss (cross-entropy, nats)",
                     series: [.init(name: "training (moving average)", xs: history.stepLosses.indices.map { Double($0 + 1) },
                                    ys: smoothed(history.stepLosses)),
                              .init(name: "test subset (\(subset) images)", xs: evaluations.map(\.step), ys: evaluations.map(\.loss))])
            .write(to: folder.appendingPathComponent("mnist-loss.svg"))
        var confusion = ConfusionMatrix(classes: data.classCount)
        confusion.add(predicted: all.predicted, labels: data.test.labels)
        try ConfusionMatrixPlot(title: "Test set, \(cell.uppercased()) read row by row", classNames: names, counts: confusion.counts)
            .write(to: folder.appendingPathComponent("mnist-confusion.svg"))
        print("wrote \(output), \(folder.appendingPathComponent("mnist-loss.svg").path), \(folder.appendingPathComponent("mnist-confusion.svg").path)")

        let epochSeconds = history.epochs.map(\.seconds).reduce(0, +) / Double(history.epochs.count)
        try example.report([
            "test_accuracy": subsetAccuracy, "test_accuracy_full": fullAccuracy, "epoch_seconds": epochSeconds,
            "train_loss": Double(history.epochs.last!.trainingLoss), "test_subset_loss": Double(history.epochs.last!.validationLoss!),
            "evaluation_seconds": evaluationSeconds, "parameters": model.parameterCount,
            "threads": Kernels.threads, "epochs": history.epochs.count, "epoch_losses": history.epochs.map { Double($0.trainingLoss) },
        ])
    }

    /// Scores test images `range` in evaluation mode, in batches of 1000.
    func evaluate(_ model: RecurrentModel, _ data: MNISTData, _ range: Range<Int>) throws -> (loss: Float, predicted: [Int]) {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.isTraining = wasTraining }
        return try withoutGradients {
            var predicted: [Int] = [], total: Float = 0
            for start in stride(from: range.lowerBound, to: range.upperBound, by: 1000) {
                let indices = Array(start..<min(start + 1000, range.upperBound))
                let logits = try model(data.test.imageBatch(indices)).prediction!
                total += try crossEntropy(logits: logits, targets: indices.map { data.test.labels[$0] }).item * Float(indices.count)
                predicted += argmaxRows(logits)
            }
            return (total / Float(max(range.count, 1)), predicted)
        }
    }

    func classLabels(count: Int) throws -> [String] {
        let fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        let choice = classNames ?? (data.lowercased().contains("fashion") && count == 10 ? "fashion" : "digits")
        switch choice {
        case "digits": return (0..<count).map(String.init)
        case "fashion":
            guard count == 10 else { throw CommandError("--class-names fashion needs 10 classes, the data has \(count)") }
            return fashion
        default:
            let names = choice.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard names.count == count, !names.contains("") else {
                throw CommandError("--class-names lists \(names.count) names (none may be empty); the data has \(count) classes")
            }
            return names
        }
    }
}
