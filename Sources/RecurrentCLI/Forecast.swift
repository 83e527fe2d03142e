import ArgumentParser
import Foundation
import Recurrent

/// `recurrent forecast`: multi-step forecasting of one column of a CSV time series.
struct Forecast: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forecast a CSV column from sliding windows of past rows with an LSTM or GRU.",
        discussion: """
            Reads a CSV with a header row (e.g. Date,Open,High,Low,Close,Volume), slides a --window \
            over the chosen feature columns and predicts the next --horizon values of --target. Rows \
            are split in time order into training, validation and test spans; features are \
            normalised with the training span's statistics only; training stops early when the \
            validation loss stops improving. RMSE and MAE on the test span are reported in the \
            target's units beside two baselines: the last observed value, and the window's mean.
            """)

    @Option(help: "The CSV file (header row, then one row per time step, oldest first).") var csv: String
    @Option(help: "The column to forecast.") var target: String
    @Option(help: "Input columns, comma-separated (default: every numeric column that is not constant).") var features: String?
    @Option(help: "The date (or index) column used for the plot's labels (default: the first column when it is not numeric).")
    var dateColumn: String?
    @Option(help: "Past rows the model reads.") var window = 30
    @Option(help: "Future values predicted at once.") var horizon = 1
    @Option(help: "lstm or gru.") var cell = "lstm"
    @Option(help: "Hidden size.") var hiddenSize = 64
    @Option(help: "Stacked recurrent layers.") var layers = 1
    @Option(help: "Most passes over the training windows.") var epochs = 100
    @Option(help: "Windows per update.") var batchSize = 32
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Stop after this many epochs without a better validation loss (and keep the best).") var patience = 10
    @Option(help: "Share of the rows in the validation span.") var validationFraction = 0.15
    @Option(help: "Share of the rows in the test span.") var testFraction = 0.15
    @Flag(help: "Also forecast the horizon after the last row.") var predict = false
    @Option(help: "Where to write the trained model (.safetensors).") var output = "forecast.safetensors"
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard ["lstm", "gru"].contains(cell) else { throw ValidationError("--cell must be lstm or gru, got '\(cell)'") }
        for (name, value, limit) in [("--window", window, 100_000), ("--horizon", horizon, 100_000), ("--hidden-size", hiddenSize, 1 << 14),
                                     ("--layers", layers, 64), ("--epochs", epochs, 100_000), ("--batch-size", batchSize, 1 << 20),
                                     ("--patience", patience, 100_000)] {
            guard (1...limit).contains(value) else { throw ValidationError("\(name) must be between 1 and \(limit), got \(value)") }
        }
        try checkFloat("--lr", learningRate, positive: true)
        guard validationFraction.isFinite, testFraction.isFinite, validationFraction > 0, testFraction > 0,
              validationFraction + testFraction < 1 else {
            throw ValidationError("--validation-fraction and --test-fraction must be positive and sum below 1")
        }
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors") }
    }

    func run() throws {
        example.apply()
        try checkDistinct(output: output, from: [csv])
        try example.checkPlots(["forecast-loss.svg", "forecast-test.svg"], besides: output, inputs: [csv])
        let table = try CSVTable.read(from: URL(fileURLWithPath: csv))
        let dates = try dateLabels(table)
        let featureNames = features.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            ?? table.numericColumnNames.filter { name in   // a constant column (say, MSFT's OpenInt of zeros) tells nothing
                name != dateColumn && (name == target || Set((try? table.numericColumn(name)) ?? []).count > 1)
            }
        guard !featureNames.isEmpty else { throw CommandError("\(csv): no numeric columns to read; name them with --features") }
        let columns = try featureNames.map { try table.numericColumn($0) }
        let targetValues = try table.numericColumn(target)
        let rows = targetValues.count
        let series = try TimeSeriesWindows(features: (0..<rows).map { r in columns.map { $0[r] } }, target: targetValues,
                                           window: window, horizon: horizon, validationFraction: validationFraction,
                                           testFraction: testFraction)
        let (train, validation, test) = (series.sampleStarts(.training), series.sampleStarts(.validation), series.sampleStarts(.test))
        print("\(URL(fileURLWithPath: csv).lastPathComponent): \(rows) rows; features \(featureNames.joined(separator: ", ")); target \(target)")
        print("windows of \(window) rows → next \(horizon): \(train.count) training, \(validation.count) validation, \(test.count) test samples")

        let model = series.makeModel(kind: cell == "gru" ? .gru : .lstm, hiddenSize: hiddenSize, numLayers: layers)
        print("model: \(model.architecture), \(model.parameterCount) parameters")
        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.seed) = (epochs, batchSize, learningRate, example.seed)
        options.patience = patience
        var loop = try TrainingLoop(model: model, options: options)
        var progress = EpochProgress(label: "forecast")
        let history = try loop.run(sampleCount: train.count, loss: { batch in
            let starts = batch.map { train[$0] }
            return try mseLoss(try model(series.inputs(starts)).prediction!, series.targets(starts))
        }, validationLoss: {
            let p = try series.predictions(of: model, validation), truth = series.truth(validation)
            return Float(meanSquared(p, truth) / (series.targetScale * series.targetScale))
        }, onStep: { progress.step(epoch: $0, step: $1, steps: $2, loss: $3) }, onEpoch: { e in
            print(String(format: "epoch %d: train loss %.5f, validation loss %.5f (normalised units), %.2f s", e.epoch, e.trainingLoss, e.validationLoss!, e.seconds))
        })
        if history.stoppedEarly { print("stopped early after epoch \(history.epochs.count); kept epoch \(history.bestEpoch!)") }

        let predicted = try series.predictions(of: model, test), truth = series.truth(test), baselines = series.baselines(test)
        let flat = (predicted.flatMap { $0 }, truth.flatMap { $0 }, baselines.last.flatMap { $0 }, baselines.mean.flatMap { $0 })
        let scores = [("\(cell.uppercased())", flat.0), ("last value", flat.2), ("window mean", flat.3)].map {
            (name: $0.0, rmse: rootMeanSquaredError($0.1, flat.1), mae: meanAbsoluteError($0.1, flat.1))
        }
        print("test span: rows \(series.testStart + 1)–\(rows)" + (dates.map { " (\($0[series.testStart]) to \($0[rows - 1]))" } ?? "")
              + ", errors in \(target)'s units over all \(horizon) forecast steps")
        print("                     RMSE         MAE")
        for s in scores { print(s.name.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%12.4f%12.4f", s.rmse, s.mae)) }
        let bestBaseline = scores[1...].min { $0.rmse < $1.rmse }!
        print(scores[0].rmse < bestBaseline.rmse
              ? "The model beats both baselines on the test span (RMSE \(format(scores[0].rmse)) vs \(format(bestBaseline.rmse)), \(bestBaseline.name))."
              : "The model does NOT beat the \(bestBaseline.name) baseline on the test span (RMSE \(format(scores[0].rmse)) vs \(format(bestBaseline.rmse))).")

        var nextValues: [Double]?
        if predict {
            nextValues = try series.predictions(of: model, [rows]).first!
            print("forecast after the last row" + (dates.map { " (\($0[rows - 1]))" } ?? "") + ": "
                  + nextValues!.enumerated().map { "t+\($0.offset + 1) \(format($0.element))" }.joined(separator: ", "))
        }

        model.annotations = try annotations(series, featureNames)
        try model.save(to: URL(fileURLWithPath: output))
        let folder = try example.plotsFolder(besides: output)
        let lossPlot = folder.appendingPathComponent("forecast-loss.svg"), forecastPlot = folder.appendingPathComponent("forecast-test.svg")
        try LinePlot(title: "\(cell.uppercased()) forecast of \(target): training", xAxisTitle: "epoch",
                     yAxisTitle: "loss (MSE of the normalised target)",
                     series: [.init(name: "training", xs: history.epochs.map { Double($0.epoch) }, ys: history.epochs.map { Double($0.trainingLoss) }),
                              .init(name: "validation", xs: history.epochs.map { Double($0.epoch) }, ys: history.epochs.map { Double($0.validationLoss!) })],
                     logarithmicY: true).write(to: lossPlot)
        let x = test.map { Double($0 - series.testStart) }
        var lines: [LinePlot.Series] = [
            .init(name: "truth", xs: (series.testStart..<rows).map { Double($0 - series.testStart) }, ys: Array(targetValues[series.testStart...])),
            .init(name: "\(cell.uppercased()), 1 step ahead", xs: x, ys: predicted.map { $0[0] }),
        ]
        if horizon > 1 {
            lines.append(.init(name: "\(cell.uppercased()), \(horizon) steps ahead", xs: x.map { $0 + Double(horizon - 1) },
                               ys: predicted.map { $0[horizon - 1] }, line: .dashed))
        }
        lines.append(.init(name: "last value (baseline)", xs: x, ys: baselines.last.map { $0[0] }, line: .dotted))
        try LinePlot(title: "\(target): forecast against truth on the test span", xAxisTitle: dates == nil ? "row in the test span" : dateColumnName(table) ?? "date",
                     yAxisTitle: "\(target) (the file's units)", series: lines,
                     xTickLabels: dates.map { Array($0[series.testStart...]) }).write(to: forecastPlot)
        print("wrote \(output), \(lossPlot.path), \(forecastPlot.path)")

        var report: [String: Any] = [
            "rmse": scores[0].rmse, "mae": scores[0].mae, "baseline_last_rmse": scores[1].rmse, "baseline_last_mae": scores[1].mae,
            "baseline_mean_rmse": scores[2].rmse, "baseline_mean_mae": scores[2].mae, "epochs": history.epochs.count,
            "best_epoch": history.bestEpoch!, "epoch_losses": history.epochs.map { Double($0.trainingLoss) }, "beats_baselines": scores[0].rmse < bestBaseline.rmse, "test_samples": test.count,
        ]
        if let nextValues { report["forecast"] = nextValues }
        try example.report(report)
    }

    func format(_ v: Double) -> String { String(format: "%.4f", v) }

    func meanSquared(_ a: [[Double]], _ b: [[Double]]) -> Double {
        let pairs = zip(a.joined(), b.joined())
        return pairs.map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(max(a.count * horizon, 1))
    }

    func dateColumnName(_ table: CSVTable) -> String? {
        if let dateColumn { return dateColumn }
        let first = table.header[0]
        return table.numericColumnNames.contains(first) ? nil : first
    }

    /// The date column's values for plot labels, or nil when there is none.
    func dateLabels(_ table: CSVTable) throws -> [String]? {
        guard let name = dateColumnName(table) else { return nil }
        return try table.column(name)
    }

    /// What `forecast` needs to use the model again: columns, sizes and normalisation, as JSON strings.
    func annotations(_ s: TimeSeriesWindows, _ featureNames: [String]) throws -> [String: String] {
        func json(_ value: Any) throws -> String { String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self) }
        return ["forecast.features": try json(featureNames), "forecast.target": target, "forecast.window": "\(window)",
                "forecast.horizon": "\(horizon)", "forecast.feature_mean": try json(s.featureMean),
                "forecast.feature_scale": try json(s.featureScale), "forecast.target_mean": "\(s.targetMean)",
                "forecast.target_scale": "\(s.targetScale)"]
    }
}
