import Foundation

/// A multivariate time series cut into sliding windows for forecasting: each sample is `window`
/// consecutive rows of the features and the following `horizon` values of one target column
/// (the notebook's 30-day window and 7-day forecast).
///
/// Rows are split chronologically into training, validation and test spans; a sample belongs to
/// the span that holds its first forecast row (so its window may reach back into the span
/// before, as it would when forecasting for real). Features and target are normalised with the
/// mean and standard deviation of the training span only, so nothing from the later spans leaks in.
public struct TimeSeriesWindows: Sendable {
    /// Which span a sample's forecast falls in.
    public enum Span: Sendable, CaseIterable { case training, validation, test }

    /// Rows per input window, `T`.
    public let window: Int
    /// Values forecast per sample.
    public let horizon: Int
    /// The raw series `[rows][features]`.
    public let features: [[Double]]
    /// The raw target column.
    public let target: [Double]
    /// Per-feature training mean and standard deviation (a constant column gets 1).
    public let featureMean: [Double], featureScale: [Double]
    /// The target's training mean and standard deviation.
    public let targetMean: Double, targetScale: Double
    /// The first row of the validation span and of the test span.
    public let validationStart: Int, testStart: Int

    /// Cuts `features` `[rows][F]` and `target` `[rows]` into windows.
    ///
    /// - Parameters:
    ///   - features: `[rows][F]`, oldest row first.
    ///   - target: `[rows]`, the column to forecast.
    ///   - window: rows per input window, `T`.
    ///   - horizon: values forecast per sample.
    ///   - validationFraction: the share of the rows in the validation span.
    ///   - testFraction: the share of the rows in the test span (the last rows).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when a span is too short to hold one sample,
    ///   or a size is not positive.
    public init(features: [[Double]], target: [Double], window: Int, horizon: Int,
                validationFraction: Double = 0.15, testFraction: Double = 0.15) throws {
        let rows = target.count
        guard window > 0, horizon > 0 else { throw RecurrentError.invalidValue("window (\(window)) and horizon (\(horizon)) must be positive") }
        guard features.count == rows, let width = features.first?.count, width > 0, features.allSatisfy({ $0.count == width }) else {
            throw RecurrentError.invalidValue("features must have one row of equal, non-zero length per target value")
        }
        guard validationFraction >= 0, testFraction > 0, validationFraction + testFraction < 1 else {
            throw RecurrentError.invalidValue("validation (\(validationFraction)) and test (\(testFraction)) fractions must be non-negative, the test's positive, and sum below 1")
        }
        (self.window, self.horizon, self.features, self.target) = (window, horizon, features, target)
        testStart = rows - Int((Double(rows) * testFraction).rounded())
        validationStart = testStart - Int((Double(rows) * validationFraction).rounded())
        // Each span needs one full window before its first forecast row and a horizon inside it.
        let needed = window + horizon
        guard validationStart >= needed, rows - testStart >= horizon,
              validationFraction == 0 || testStart - validationStart >= horizon else {
            throw RecurrentError.invalidValue("\(rows) rows are too few for a \(window)-row window and a \(horizon)-row horizon in each of the training, validation and test spans (the training span needs at least \(needed) rows, the others \(horizon))")
        }
        func stats(_ values: ArraySlice<Double>) -> (Double, Double) {
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            return (mean, variance > 0 ? variance.squareRoot() : 1)
        }
        let trainingRows = validationStart
        let columns = (0..<width).map { j in stats(features[..<trainingRows].map { $0[j] }[...]) }
        featureMean = columns.map(\.0)
        featureScale = columns.map(\.1)
        (targetMean, targetScale) = stats(target[..<trainingRows])
    }

    /// Features per step, `F`.
    public var featureCount: Int { featureMean.count }

    /// The first forecast row of every sample in `span`.
    public func sampleStarts(_ span: Span) -> [Int] {
        let (first, end) = switch span {
        case .training: (window, validationStart)
        case .validation: (validationStart, testStart)
        case .test: (testStart, target.count)
        }
        return first + horizon <= end ? Array(first...(end - horizon)) : []
    }

    /// The normalised inputs of the samples forecasting from rows `starts`: `[B, T, F]` (batch-first).
    public func inputs(_ starts: [Int]) -> Tensor {
        Tensor.window(rows: starts.map { ($0 - window)..<$0 }, featureCount: featureCount) { r, j in
            Float((features[r][j] - featureMean[j]) / featureScale[j])
        }
    }

    /// The normalised targets of those samples: `[B, horizon]`.
    public func targets(_ starts: [Int]) -> Tensor {
        Tensor(shape: [starts.count, horizon], scalars: starts.flatMap { s in (s..<(s + horizon)).map { Float(normalised(target[$0])) } })
    }

    /// The input window that ends with the last row, for forecasting past the data: `[1, T, F]`.
    public var latestInput: Tensor { inputs([target.count]) }

    /// A target value in normalised units.
    public func normalised(_ value: Double) -> Double { (value - targetMean) / targetScale }
    /// A normalised prediction back in the target's own units.
    public func denormalised(_ value: Float) -> Double { Double(value) * targetScale + targetMean }

    /// The baselines for the samples at `starts`, in the target's units, `[B][horizon]`: the last
    /// observed target value repeated (persistence), and the mean of the target over the window.
    public func baselines(_ starts: [Int]) -> (last: [[Double]], mean: [[Double]]) {
        (starts.map { Array(repeating: target[$0 - 1], count: horizon) },
         starts.map { s in Array(repeating: target[(s - window)..<s].reduce(0, +) / Double(window), count: horizon) })
    }

    /// The true target values of the samples at `starts`, `[B][horizon]`.
    public func truth(_ starts: [Int]) -> [[Double]] { starts.map { Array(target[$0..<($0 + horizon)]) } }
}

extension Tensor {
    /// `[rows.count, T, F]` with element (b, t, j) = `value(rows[b].lowerBound + t, j)`.
    static func window(rows: [Range<Int>], featureCount: Int, _ value: (Int, Int) -> Float) -> Tensor {
        let steps = rows.first?.count ?? 0
        var out = [Float]()
        out.reserveCapacity(rows.count * steps * featureCount)
        for range in rows { for r in range { for j in 0..<featureCount { out.append(value(r, j)) } } }
        return Tensor(shape: [rows.count, steps, featureCount], scalars: out)
    }
}

extension TimeSeriesWindows {
    /// A forecasting model for these windows: `kind` over the `F` features, a `Linear` head on the
    /// last step giving the `horizon` values (PyTorch: `fc(lstm(x)[0][:, -1, :])`, batch-first).
    public func makeModel(kind: ModelArchitecture.Kind = .lstm, hiddenSize: Int = 64, numLayers: Int = 1) -> RecurrentModel {
        RecurrentModel(ModelArchitecture(kind: kind, inputSize: featureCount, hiddenSize: hiddenSize, numLayers: numLayers,
                                         batchFirst: true, prefix: "rnn.", headPrefix: "fc.", headOutputSize: horizon,
                                         headPlacement: .lastStep))
    }

    /// The model's forecasts for the samples at `starts`, in the target's units, `[B][horizon]`
    /// (evaluation mode, no gradients, in batches of `batchSize`).
    public func predictions(of model: RecurrentModel, _ starts: [Int], batchSize: Int = 512) throws -> [[Double]] {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.isTraining = wasTraining }
        return try withoutGradients {
            try stride(from: 0, to: starts.count, by: batchSize).flatMap { b in
                let chunk = Array(starts[b..<min(b + batchSize, starts.count)])
                guard let p = try model(inputs(chunk)).prediction, p.shape == [chunk.count, horizon] else {
                    throw RecurrentError.shapeMismatch("the model must predict [B, \(horizon)] from the last step")
                }
                return (0..<chunk.count).map { r in (0..<horizon).map { denormalised(p.scalars[r * horizon + $0]) } }
            }
        }
    }
}
