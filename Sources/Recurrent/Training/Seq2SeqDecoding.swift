import Foundation

/// How well a ``Seq2SeqModel`` maps held-out sources to their targets.
public struct Seq2SeqEvaluation: Sendable, Equatable {
    /// The model's output for each pair, in order.
    public var predictions: [String]
    /// The share of predictions equal to their target, in [0, 1] (``exactMatchAccuracy(_:_:)``).
    public var exactMatch: Double
    /// Edit operations per target character (``characterErrorRate(_:_:)``).
    public var characterErrorRate: Double
}

extension Seq2SeqModel {
    /// Sources decoded together at most (each length group is cut into batches of this many rows,
    /// beams included).
    static let decodingRows = 256

    /// Greedy decoding: from `<s>`, the decoder reads its own likeliest token (the first on a tie,
    /// as `argmax`) until it writes `</s>` or has written `maxLength` tokens. It never writes
    /// `<pad>` or `<s>` (their logits are passed over, as fairseq's generator does for padding).
    ///
    /// Sources are decoded in batches of equal length, so that none is padded: each result is
    /// what the source alone would give.
    /// - Parameters:
    ///   - sources: source token sequences (from ``sourceTokens(_:)``), none empty.
    ///   - maxLength: the most tokens per output; nil: ``Seq2SeqConfiguration/maxOutputLength``.
    /// - Returns: each source's output tokens, without `</s>`.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for an empty source, a token out of range or a
    ///   non-positive `maxLength`.
    public func greedyDecode(_ sources: [[Int]], maxLength: Int? = nil) throws -> [[Int]] {
        let limit = try outputLimit(maxLength)
        return try decodeInGroups(sources, rowsPerSource: 1) { grid, b in
            var state = try encode(grid, shape: [grid.count / b, b])
            var outputs = [[Int]](repeating: [], count: b), done = [Bool](repeating: false, count: b)
            var input = [Int](repeating: Seq2SeqVocabulary.start, count: b)
            for _ in 0..<limit {
                let (logits, next) = try decode(input, shape: [1, b], from: state)
                input = likeliestWritable(logits.scalars, rows: b)
                for row in 0..<b where !done[row] {
                    if input[row] == Seq2SeqVocabulary.end { done[row] = true } else { outputs[row].append(input[row]) }
                }
                if !done.contains(false) { break }
                state = next
            }
            return outputs
        }
    }

    /// Beam search: keeps the `beamWidth` likeliest partial outputs (sums of log-probabilities)
    /// at each step, each extended by every token but `<pad>` and `<s>` (scored by the
    /// log-softmax over all tokens); a hypothesis that writes `</s>` is finished and
    /// carried along unchanged. A source is done when its best hypothesis is finished (extending
    /// the others can only lower their scores) or after `maxLength` tokens; its output is its best
    /// finished hypothesis, else its best one. No length normalisation, so width 1 is greedy
    /// decoding exactly (ties go to the earlier beam, then the smaller token).
    /// - Parameters:
    ///   - sources: source token sequences, none empty.
    ///   - beamWidth: hypotheses kept per source, `k` ≥ 1.
    ///   - maxLength: as for ``greedyDecode(_:maxLength:)``.
    /// - Returns: each source's output tokens, without `</s>`.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` as ``greedyDecode(_:maxLength:)``, or for `beamWidth` < 1.
    public func beamSearch(_ sources: [[Int]], beamWidth: Int, maxLength: Int? = nil) throws -> [[Int]] {
        guard beamWidth >= 1, beamWidth <= Self.decodingRows else {
            throw RecurrentError.invalidValue("the beam width must be between 1 and \(Self.decodingRows), got \(beamWidth)")
        }
        let limit = try outputLimit(maxLength), k = beamWidth, v = configuration.targetVocabulary.count
        struct Hypothesis { var tokens: [Int] = [], score = 0.0, finished = false }
        return try decodeInGroups(sources, rowsPerSource: k) { grid, n in
            let encoded = try encode(grid, shape: [grid.count / n, n])
            // Row n·k + j holds beam j of source n; at first only beam 0 is alive, so the first
            // step does not offer the same hypothesis k times.
            var state = encoded.gathered((0..<(n * k)).map { $0 / k })
            var beams = (0..<n).map { _ in (0..<k).map { Hypothesis(score: $0 == 0 ? 0 : -.infinity) } }
            var done = [Bool](repeating: false, count: n)
            var input = [Int](repeating: Seq2SeqVocabulary.start, count: n * k)
            for _ in 0..<limit {
                let (logits, next) = try decode(input, shape: [1, n * k], from: state)
                let x = logits.scalars
                var parents = Array(0..<(n * k))
                for s in 0..<n where !done[s] {
                    var candidates: [(score: Double, beam: Int, token: Int?)] = []
                    for (j, beam) in beams[s].enumerated() where beam.score > -.infinity {
                        if beam.finished { candidates.append((beam.score, j, nil)); continue }
                        let row = x[((s * k + j) * v)..<((s * k + j + 1) * v)]
                        let m = Double(row.max()!), logSum = Foundation.log(row.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
                        for token in Seq2SeqVocabulary.end..<v {
                            candidates.append((beam.score + ((Double(row[row.startIndex + token]) - m) - logSum), j, token))
                        }
                    }
                    // The k best, ties in candidate order (earlier beam, then smaller token).
                    let best = candidates.indices.sorted { candidates[$0].score != candidates[$1].score ? candidates[$0].score > candidates[$1].score : $0 < $1 }
                    var kept: [Hypothesis] = []
                    for (slot, c) in best.prefix(k).map({ candidates[$0] }).enumerated() {
                        var h = beams[s][c.beam]
                        if let token = c.token {
                            if token == Seq2SeqVocabulary.end { h.finished = true } else { h.tokens.append(token) }
                            input[s * k + slot] = token
                        }
                        h.score = c.score
                        parents[s * k + slot] = s * k + c.beam
                        kept.append(h)
                    }
                    while kept.count < k { kept.append(Hypothesis(score: -.infinity)) }
                    beams[s] = kept
                    done[s] = kept[0].finished
                }
                if !done.contains(false) { break }
                state = next.gathered(parents)
            }
            return beams.map { hypotheses in (hypotheses.filter(\.finished).first ?? hypotheses[0]).tokens }
        }
    }

    /// Translates texts: each source through ``sourceTokens(_:)``, greedy decoding (`beamWidth` 1)
    /// or beam search, the output as target characters.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` naming the text and its first character
    ///   outside the source vocabulary, or an empty text.
    public func translate(_ texts: [String], beamWidth: Int = 1, maxLength: Int? = nil) throws -> [String] {
        let sources = try texts.enumerated().map { i, text in
            guard !text.isEmpty else { throw RecurrentError.invalidValue("text \(i + 1) is empty") }
            do { return try sourceTokens(text) } catch { throw RecurrentError.invalidValue("text \(i + 1): \(error)") }
        }
        let outputs = beamWidth == 1 ? try greedyDecode(sources, maxLength: maxLength)
            : try beamSearch(sources, beamWidth: beamWidth, maxLength: maxLength)
        return outputs.map { configuration.targetVocabulary.decode($0) }
    }

    /// Decodes every source of `pairs` (``translate(_:beamWidth:maxLength:)``) and scores the
    /// outputs against the targets: exact-match accuracy and character error rate.
    /// - Throws: as ``translate(_:beamWidth:maxLength:)``.
    public func evaluate(_ pairs: [SequencePair], beamWidth: Int = 1, maxLength: Int? = nil) throws -> Seq2SeqEvaluation {
        let predictions = try translate(pairs.map(\.source), beamWidth: beamWidth, maxLength: maxLength)
        let targets = pairs.map(\.target)
        return Seq2SeqEvaluation(predictions: predictions, exactMatch: exactMatchAccuracy(predictions, targets),
                                 characterErrorRate: characterErrorRate(predictions, targets))
    }

    /// For each of `rows` rows of `[rows, V]` logits, the likeliest token from `</s>` on (the first on a tie).
    private func likeliestWritable(_ logits: [Float], rows: Int) -> [Int] {
        let v = logits.count / rows
        return (0..<rows).map { r in
            var best = Seq2SeqVocabulary.end
            for j in (best + 1)..<v where logits[r * v + j] > logits[r * v + best] { best = j }
            return best
        }
    }

    private func outputLimit(_ maxLength: Int?) throws -> Int {
        let limit = maxLength ?? configuration.maxOutputLength
        guard limit > 0 else { throw RecurrentError.invalidValue("the maximum output length must be positive, got \(limit)") }
        return limit
    }

    /// Runs `body` (in evaluation mode, without gradients) on batches of sources of one length:
    /// each gets the `[S, n]` token grid and `n`, and returns `n` outputs; the results come back
    /// in the order of `sources`.
    private func decodeInGroups(_ sources: [[Int]], rowsPerSource: Int,
                                _ body: (_ grid: [Int], _ n: Int) throws -> [[Int]]) throws -> [[Int]] {
        if let empty = sources.firstIndex(where: \.isEmpty) { throw RecurrentError.invalidValue("source \(empty + 1) is empty") }
        let perBatch = max(1, Self.decodingRows / rowsPerSource)
        var outputs = [[Int]](repeating: [], count: sources.count)
        try evaluating {
            for (_, group) in Dictionary(grouping: sources.indices, by: { sources[$0].count }).sorted(by: { $0.key < $1.key }) {
                for start in stride(from: 0, to: group.count, by: perBatch) {
                    let members = Array(group[start..<min(start + perBatch, group.count)]), n = members.count
                    var grid = [Int](repeating: 0, count: sources[members[0]].count * n)
                    for (column, i) in members.enumerated() {
                        for (step, token) in sources[i].enumerated() { grid[step * n + column] = token }
                    }
                    for (i, output) in zip(members, try body(grid, n)) { outputs[i] = output }
                }
            }
        }
        return outputs
    }
}

extension RecurrentState {
    /// The state with its batch rows taken from `rows` (row `r` of the result is row `rows[r]`):
    /// `[N, B, H]` → `[N, rows.count, H]`, without gradients (for reordering beams).
    func gathered(_ rows: [Int]) -> RecurrentState {
        func gather(_ t: Tensor) -> Tensor {
            let (n, b, h) = (t.shape[0], t.shape[1], t.shape[2]), x = t.scalars
            var y = [Float](repeating: 0, count: n * rows.count * h)
            for layer in 0..<n {
                for (r, source) in rows.enumerated() {
                    let to = (layer * rows.count + r) * h, from = (layer * b + source) * h
                    for j in 0..<h { y[to + j] = x[from + j] }
                }
            }
            return Tensor(shape: [n, rows.count, h], scalars: y)
        }
        return RecurrentState(h: gather(h), c: c.map(gather))
    }
}
