import Foundation
import Testing
@testable import Recurrent

/// `recurrent forecast` end to end on small CSV files the test writes, and its one-line errors.
@Suite(.serialized) struct ForecastCommandTests {
    /// A daily table of 240 rows: a slow sine for Price with a little noise, and a second column.
    static func csv(rows: Int = 240) -> String {
        var generator = SeededGenerator(seed: 9)
        var lines = ["Date,Price,Volume"]
        for r in 0..<rows {
            let price = 10 + 3 * sin(Double(r) / 6) + 0.05 * Double(generator.nextUniform())
            lines.append(String(format: "2024-%02d-%02d,%.4f,%d", r / 28 + 1, r % 28 + 1, price, 1000 + r % 7))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func forecast(_ dir: TemporaryDirectory, _ extra: [String] = []) throws -> (json: [String: Any], stdout: String) {
        try ExampleCommands.runJSON(["forecast", "--csv", dir.path("series.csv"), "--target", "Price", "--window", "12", "--horizon", "3",
                                     "--hidden-size", "16", "--epochs", "40", "--lr", "0.01", "--patience", "8", "--predict",
                                     "--output", dir.path("f.safetensors")] + extra)
    }

    @Test func forecastsBeatsNaiveBaselinesOnASmoothSeriesAndPlots() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.csv().write(to: dir.file("series.csv"), atomically: true, encoding: .utf8)
        let (json, stdout) = try forecast(dir)
        for key in ["rmse", "mae", "baseline_last_rmse", "baseline_mean_rmse"] {
            #expect(try #require(ExampleCommands.number(json, key)) > 0, "\(key)")
        }
        let losses = try #require(json["epoch_losses"] as? [Double])
        #expect(losses.last! < losses.first!, "the training loss falls: \(losses)")
        // A sine is predictable from its recent past; the window's mean lags it by half a window.
        #expect(ExampleCommands.number(json, "rmse")! < ExampleCommands.number(json, "baseline_mean_rmse")!, "\(stdout)")
        let next = try #require(json["forecast"] as? [Double])
        #expect(next.count == 3 && next.allSatisfy { $0 > 5 && $0 < 15 }, "the forecast after the last row is in the data's range: \(next)")
        #expect(stdout.contains("last value") && stdout.contains("window mean"), "both baselines are reported")

        // The model remembers how it was made, and its plots hold their series.
        let model = try RecurrentModel.load(from: dir.file("f.safetensors"))
        #expect(model.annotations["forecast.target"] == "Price" && model.annotations["forecast.window"] == "12")
        #expect(model.architecture.headOutputSize == 3 && model.architecture.headPlacement == .lastStep)
        #expect(try ExampleCommands.seriesNames(inSVG: dir.file("forecast-loss.svg")) == ["training", "validation"])
        #expect(try ExampleCommands.seriesNames(inSVG: dir.file("forecast-test.svg"))
                == ["truth", "LSTM, 1 step ahead", "LSTM, 3 steps ahead", "last value (baseline)"])
        try ExampleCommands.renders(dir.file("forecast-test.svg"))
        try ExampleCommands.renders(dir.file("forecast-loss.svg"))
    }

    @Test func featuresByNameAndAGRU() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.csv().write(to: dir.file("series.csv"), atomically: true, encoding: .utf8)
        let (json, _) = try forecast(dir, ["--features", "Price", "--cell", "gru", "--epochs", "3"])
        #expect(ExampleCommands.number(json, "rmse") != nil)
        let model = try RecurrentModel.load(from: dir.file("f.safetensors"))
        #expect(model.architecture.kind == .gru && model.architecture.inputSize == 1)
    }

    /// Each CSV problem names its line and column; nothing is written.
    @Test(arguments: [
        ("empty cell", "2024-01-03,,1002", "line 4, column 'Price'"),
        ("text cell", "2024-01-03,abc,1002", "line 4, column 'Price'"),
        ("not finite", "2024-01-03,nan,1002", "line 4, column 'Price'"),
        ("short row", "2024-01-03,10.5", "line 4"),
    ])
    func badCellsNameLineAndColumn(_ name: String, _ row: String, _ fragment: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var lines = Self.csv().split(separator: "\n").map(String.init)
        lines[3] = row
        try lines.joined(separator: "\n").write(to: dir.file("series.csv"), atomically: true, encoding: .utf8)
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("series.csv"), "--target", "Price", "--features", "Price,Volume",
                                           "--output", dir.path("f.safetensors")], fragment, in: dir, keep: ["series.csv"])
    }

    @Test func missingColumnTooFewRowsAndOverwritingTheInput() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.csv().write(to: dir.file("series.csv"), atomically: true, encoding: .utf8)
        try Self.csv(rows: 30).write(to: dir.file("short.csv"), atomically: true, encoding: .utf8)
        let keep: Set<String> = ["series.csv", "short.csv"]
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("series.csv"), "--target", "Close", "--output", dir.path("f.safetensors")],
                                          "Close", in: dir, keep: keep)
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("short.csv"), "--target", "Price", "--output", dir.path("f.safetensors")],
                                          "too few", in: dir, keep: keep)
        // A table that happens to be named like a model file is still not overwritten.
        try Self.csv().write(to: dir.file("table.safetensors"), atomically: true, encoding: .utf8)
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("table.safetensors"), "--target", "Price",
                                           "--output", dir.path("table.safetensors")], "would overwrite the input", in: dir,
                                          keep: keep.union(["table.safetensors"]))
        // Nor is a table that happens to be named like one of the plots.
        try Self.csv().write(to: dir.file("forecast-test.svg"), atomically: true, encoding: .utf8)
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("forecast-test.svg"), "--target", "Price",
                                           "--output", dir.path("f.safetensors")], "--plots", in: dir,
                                          keep: keep.union(["table.safetensors", "forecast-test.svg"]))
        try FileManager.default.removeItem(at: dir.file("forecast-test.svg"))
        try "".write(to: dir.file("empty.csv"), atomically: true, encoding: .utf8)
        try ExampleCommands.expectFailure(["forecast", "--csv", dir.path("empty.csv"), "--target", "Price", "--output", dir.path("f.safetensors")],
                                          "empty.csv", in: dir, keep: keep.union(["empty.csv", "table.safetensors"]))
    }
}
