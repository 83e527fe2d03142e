import ArgumentParser
import Foundation
import Recurrent

/// `recurrent demo`: the adding problem, where LSTM and GRU learn and a plain RNN does not.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an RNN, an LSTM and a GRU on the adding problem and compare them.",
        discussion: """
            Each sequence holds random values and two markers; the target is the sum of the two \
            marked values (Hochreiter & Schmidhuber 1997). Always predicting 1.0 scores an MSE of \
            0.167. At long sequence lengths the plain RNN stays near that baseline while the LSTM \
            and the GRU learn the task: their gates carry the first marked value across the sequence. \
            After training, demo-gradient-norms.svg (in --plots) shows why: ‖∂L/∂hₜ‖ on the test set \
            against the distance from the last step, where the loss reads the output, for each model.
            """)

    @Option(help: "Steps per sequence.")
    var seqLen = 100
    @Option(help: "Hidden size of every model.")
    var hiddenSize = 32
    @Option(help: "Training steps per model.")
    var steps = 3000
    @Option(help: "Sequences per training step.")
    var batchSize = 32
    @Option(help: "Adam learning rate.")
    var learningRate: Float = 0.01
    @Option(help: "Seed for initialisation and data.")
    var seed: UInt64 = 1
    @Option(help: "Which models to train, comma-separated (rnn, lstm, gru).")
    var models = "rnn,lstm,gru"
    @Option(help: "Folder for the gradient-norm plot, demo-gradient-norms.svg (created if missing).")
    var plots = "."

    func validate() throws {
        for (name, value, low, limit) in [("--seq-len", seqLen, 2, 100_000), ("--hidden-size", hiddenSize, 1, 1 << 14),
                                          ("--steps", steps, 1, 10_000_000), ("--batch-size", batchSize, 1, 1 << 16)] {
            try checkCount(name, value, in: low...limit)
        }
        // The test set holds 1000 sequences, each batch's gates and states 6·H values per step.
        let (perStep, o1) = max(batchSize, 1000).multipliedReportingOverflow(by: 6 * hiddenSize + 2)
        let (floats, o2) = perStep.multipliedReportingOverflow(by: seqLen)
        guard !o1, !o2, floats <= 1 << 30 else {
            throw ValidationError("--seq-len \(seqLen), --hidden-size \(hiddenSize) and --batch-size \(batchSize) need more than the limit of \(1 << 30) floats (4 GiB)")
        }
        try checkFloat("--learning-rate", learningRate, positive: true)
        guard !modelList.isEmpty else { throw ValidationError("--models must name at least one of rnn, lstm, gru") }
        for m in modelList where !["rnn", "lstm", "gru"].contains(m) {
            throw ValidationError("unknown model '\(m)' in --models (choose from rnn, lstm, gru)")
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: plots, isDirectory: &isFolder), !isFolder.boolValue {
            throw ValidationError("--plots \(plots) is a file, not a folder")
        }
    }

    var modelList: [String] { models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }

    func run() throws {
        print("Adding problem: T = \(seqLen), hidden size \(hiddenSize), \(steps) steps of batch \(batchSize), Adam lr \(learningRate), seed \(seed)")
        print("Baseline (always predict 1.0): MSE \(String(format: "%.3f", AddingProblem.baselineMSE))\n")
        var rows: [(String, Int, Float, Float, Double)] = []
        var gradientNorms: [(name: String, norms: [Float])] = []
        var testData = AddingProblem(sequenceLength: seqLen, seed: seed &+ 1_000_003)
        let test = testData.batch(1000)
        for name in modelList {
            manualSeed(seed)
            let layer: RecurrentLayer = switch name {
            case "rnn": RNN(inputSize: 2, hiddenSize: hiddenSize)
            case "lstm": LSTM(inputSize: 2, hiddenSize: hiddenSize)
            default: GRU(inputSize: 2, hiddenSize: hiddenSize)
            }
            let model = SequenceRegressor(recurrent: layer, outputs: 1)
            var optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
            var data = AddingProblem(sequenceLength: seqLen, seed: seed)
            var bar = ProgressBar(total: steps, label: name.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0))
            var smoothed: Float = AddingProblem.baselineMSE
            let start = Date()
            for step in 1...steps {
                let (x, y) = data.batch(batchSize)
                optimizer.zeroGrad()
                let loss = try mseLoss(try model(x), y)
                guard loss.item.isFinite else {
                    throw ValidationError("\(name): the loss became \(loss.item) at step \(step); try a smaller --learning-rate")
                }
                loss.backward()
                try clipGradNorm(model.parameters, maxNorm: 1)
                optimizer.step()
                smoothed = 0.95 * smoothed + 0.05 * loss.item
                bar.update(step, loss: smoothed)
            }
            let seconds = Date().timeIntervalSince(start)
            model.eval()
            let testMSE = try withoutGradients { try mseLoss(try model(test.input), test.target).item }
            rows.append((name.uppercased(), model.parameterCount, smoothed, testMSE, seconds))
            // ‖∂L/∂hₜ‖ for the test loss, which reads only the last step's output.
            let norms = try model.recurrent.stateGradientNorms(test.input) { output in
                try mseLoss(model.head(output.narrowed(axis: 0, start: seqLen - 1, length: 1).squeezed(at: 0)), test.target)
            }
            gradientNorms.append((name.uppercased(), norms[0]))
        }
        print("\nmodel  params  train MSE  test MSE  vs baseline  time    verdict")
        for (name, params, train, testMSE, seconds) in rows {
            let ratio = testMSE / AddingProblem.baselineMSE
            let verdict = ratio < 0.1 ? "learned" : (ratio < 0.5 ? "partly" : "failed")
            print(name.padding(toLength: 7, withPad: " ", startingAt: 0)
                + String(format: "%6d  %9.4f  %8.4f  %10.1f%%  %5.1fs  %@", params, train, testMSE, ratio * 100, seconds, verdict))
        }
        let plot = URL(fileURLWithPath: plots).appendingPathComponent("demo-gradient-norms.svg")
        do {
            try FileManager.default.createDirectory(at: plot.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw CommandError("cannot create the plots folder \(plots): \(error.localizedDescription)")
        }
        try vanishingGradientPlot(gradientNorms).write(to: plot)
        print("\nwrote \((plots as NSString).appendingPathComponent(plot.lastPathComponent)): ‖∂L/∂hₜ‖ against the distance from the last step")
    }

    /// ‖∂L/∂hₜ‖ against the distance T − 1 − t from the last step, one line per model, on a
    /// logarithmic axis (linear if no norm is positive).
    func vanishingGradientPlot(_ norms: [(name: String, norms: [Float])]) -> LinePlot {
        let anyPositive = norms.contains { $0.norms.contains { $0 > 0 } }
        return LinePlot(title: "Adding problem, T = \(seqLen): gradient reaching each step after training",
                        xAxisTitle: "distance from the last step (T − 1 − t)", yAxisTitle: "‖∂L/∂hₜ‖ (test MSE)",
                        series: norms.map { .init(name: $0.name, ys: $0.norms.reversed().map(Double.init)) }, logarithmicY: anyPositive)
    }
}
