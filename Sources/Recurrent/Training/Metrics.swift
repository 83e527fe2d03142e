import Foundation

/// The index of the largest value in each row of `scores` `[N, C]` (`scores.argmax(dim=1)`);
/// the first such index on a tie, as PyTorch returns.
public func argmaxRows(_ scores: Tensor) -> [Int] {
    precondition(scores.rank == 2 && scores.shape[1] > 0, "argmaxRows: expected [N, C] with C > 0, got \(scores.shape)")
    let c = scores.shape[1]
    return scores.scalars.withUnsafeBufferPointer { s in
        (0..<scores.shape[0]).map { r in
            var best = 0
            for j in 1..<c where s[r * c + j] > s[r * c + best] { best = j }
            return best
        }
    }
}

/// The fraction of `predicted` equal to `labels`, in [0, 1] (0 for empty input).
public func accuracy(_ predicted: [Int], _ labels: [Int]) -> Double {
    precondition(predicted.count == labels.count, "accuracy: \(predicted.count) predictions for \(labels.count) labels")
    guard !labels.isEmpty else { return 0 }
    return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
}

/// Counts of (true class, predicted class) pairs.
public struct ConfusionMatrix: Sendable, Equatable {
    /// `counts[truth][prediction]`.
    public private(set) var counts: [[Int]]

    /// An empty matrix for `classes` classes.
    public init(classes: Int) {
        precondition(classes > 0, "ConfusionMatrix: classes must be positive")
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }

    /// Adds pairs; every class must be in `0..<classes` (a precondition).
    public mutating func add(predicted: [Int], labels: [Int]) {
        precondition(predicted.count == labels.count, "ConfusionMatrix: \(predicted.count) predictions for \(labels.count) labels")
        for (p, t) in zip(predicted, labels) { counts[t][p] += 1 }
    }

    /// The fraction on the diagonal.
    public var accuracy: Double {
        let total = counts.joined().reduce(0, +)
        return total == 0 ? 0 : Double(counts.indices.map { counts[$0][$0] }.reduce(0, +)) / Double(total)
    }
}

/// Root mean squared error, `√(mean((p − t)²))`.
public func rootMeanSquaredError(_ predicted: [Double], _ truth: [Double]) -> Double {
    precondition(predicted.count == truth.count && !truth.isEmpty, "rootMeanSquaredError: needs equal, non-empty arrays")
    return (zip(predicted, truth).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(truth.count)).squareRoot()
}

/// Mean absolute error, `mean(|p − t|)`.
public func meanAbsoluteError(_ predicted: [Double], _ truth: [Double]) -> Double {
    precondition(predicted.count == truth.count && !truth.isEmpty, "meanAbsoluteError: needs equal, non-empty arrays")
    return zip(predicted, truth).map { abs($0 - $1) }.reduce(0, +) / Double(truth.count)
}

/// A cross-entropy in nats per symbol as bits per symbol (`nats / ln 2`).
public func bits(fromNats nats: Double) -> Double { nats / M_LN2 }
