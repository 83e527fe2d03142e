// Metrics of predicted sequences against their targets: exact match and character error rate.

/// The Levenshtein distance: the fewest insertions, deletions and substitutions (each costing 1)
/// that turn `a` into `b` (Wagner & Fischer 1974, one row of the table at a time).
public func levenshteinDistance<C: Collection>(_ a: C, _ b: C) -> Int where C.Element: Equatable {
    let b = Array(b)
    var previous = Array(0...b.count), current = previous
    for (i, x) in a.enumerated() {
        current[0] = i + 1
        for (j, y) in b.enumerated() {
            current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The share of `predicted` exactly equal to `targets`, in [0, 1] (0 for empty input).
/// - Precondition: as many predictions as targets.
public func exactMatchAccuracy(_ predicted: [String], _ targets: [String]) -> Double {
    precondition(predicted.count == targets.count, "exactMatchAccuracy: \(predicted.count) predictions for \(targets.count) targets")
    guard !targets.isEmpty else { return 0 }
    return Double(zip(predicted, targets).filter { $0 == $1 }.count) / Double(targets.count)
}

/// The character error rate over a corpus: the summed Levenshtein distances between each
/// prediction and its target, divided by the summed target lengths (characters are Unicode
/// scalars). 0 is perfect; it exceeds 1 when predictions are much longer than their targets.
/// This is the corpus-level rate of `torchmetrics`' `CharErrorRate` and `jiwer.cer`, not the mean
/// of per-pair rates. 0 when every target is empty and so is every prediction.
/// - Precondition: as many predictions as targets.
public func characterErrorRate(_ predicted: [String], _ targets: [String]) -> Double {
    precondition(predicted.count == targets.count, "characterErrorRate: \(predicted.count) predictions for \(targets.count) targets")
    var edits = 0, length = 0
    for (p, t) in zip(predicted, targets) {
        edits += levenshteinDistance(Array(p.unicodeScalars), Array(t.unicodeScalars))
        length += t.unicodeScalars.count
    }
    return length == 0 ? (edits == 0 ? 0 : .infinity) : Double(edits) / Double(length)
}
