import Foundation

/// A token sequence (for example a text's characters as vocabulary indices) cut into samples for
/// next-token prediction: the input is `length` tokens, the target the same tokens shifted by one.
public struct TokenWindows: Sendable {
    /// The whole sequence.
    public let tokens: [Int]
    /// Tokens per sample, `T` (the tutorial's 25 characters).
    public let length: Int

    /// - Throws: ``RecurrentError/invalidValue(_:)`` unless `tokens` holds at least one sample
    ///   (`length + 1` tokens) and `length` is positive.
    public init(tokens: [Int], length: Int) throws {
        guard length > 0 else { throw RecurrentError.invalidValue("the window length must be positive, got \(length)") }
        guard tokens.count > length else {
            throw RecurrentError.invalidValue("\(tokens.count) tokens are too few for one window of \(length) and its next token")
        }
        (self.tokens, self.length) = (tokens, length)
    }

    /// The start of every non-overlapping sample (`0, T, 2T, …`), each with its next token.
    public var sampleStarts: [Int] { Array(stride(from: 0, through: tokens.count - length - 1, by: length)) }

    /// The samples starting at `starts`: `input` `[T, B]` (token indices as floats, time-major as
    /// PyTorch's default) and `targets`, the next token of every input position in the same
    /// time-major order (`T·B` indices, for ``crossEntropy(logits:targets:reduction:ignoreIndex:)`` on `[T·B, V]` logits).
    public func batch(_ starts: [Int]) -> (input: Tensor, targets: [Int]) {
        let b = starts.count
        var input = [Float](repeating: 0, count: length * b), targets = [Int](repeating: 0, count: length * b)
        for (column, s) in starts.enumerated() {
            for t in 0..<length {
                input[t * b + column] = Float(tokens[s + t])
                targets[t * b + column] = tokens[s + t + 1]
            }
        }
        return (Tensor(shape: [length, b], scalars: input), targets)
    }

    /// The sequence as `streams` parallel streams walked in consecutive chunks, for truncated
    /// backpropagation through time (PyTorch's word-language-model `batchify`): stream `j` is the
    /// `j`-th of `streams` equal pieces, and chunk `k` holds steps `kT..<(k+1)T` of every stream
    /// (the last chunk may be shorter), so the state after one chunk is the right start of the next.
    /// - Returns: the start of each chunk and its length, in order; the stream length is
    ///   `(tokens.count - 1) / streams` (the tokens past that are dropped).
    public func chunks(streams: Int) -> [(start: Int, length: Int)] {
        precondition(streams > 0, "chunks: streams must be positive")
        let perStream = (tokens.count - 1) / streams
        return stride(from: 0, to: perStream, by: length).map { ($0, min(length, perStream - $0)) }
    }

    /// Chunk `(start, count)` of the `streams` parallel streams: `input` `[count, streams]` and its
    /// time-major `targets`.
    public func streamBatch(streams: Int, start: Int, count: Int) -> (input: Tensor, targets: [Int]) {
        let perStream = (tokens.count - 1) / streams
        precondition(start >= 0 && count > 0 && start + count <= perStream, "streamBatch: chunk outside the streams")
        var input = [Float](repeating: 0, count: count * streams), targets = [Int](repeating: 0, count: count * streams)
        for j in 0..<streams {
            for t in 0..<count {
                let i = j * perStream + start + t
                input[t * streams + j] = Float(tokens[i])
                targets[t * streams + j] = tokens[i + 1]
            }
        }
        return (Tensor(shape: [count, streams], scalars: input), targets)
    }
}

/// The recurrent state of a model between calls (`h`, and `c` for an LSTM), for carrying it
/// across chunks of a sequence; ``detached()`` cuts the gradient path between them.
public struct RecurrentState {
    /// `[D·L, B, Hₒ]`.
    public var h: Tensor
    /// `[D·L, B, H]` for an LSTM, else nil.
    public var c: Tensor?

    /// The same values with no gradient history (PyTorch's `h.detach()`).
    public func detached() -> RecurrentState { RecurrentState(h: h.detached(), c: c?.detached()) }
}

extension RecurrentModel {
    /// Runs the model from `state` (zeros when nil) and returns its prediction with the final state.
    /// - Throws: ``RecurrentError`` when there is no head or a shape does not fit.
    public func predict(_ input: Tensor, from state: RecurrentState?) throws -> (prediction: Tensor, state: RecurrentState) {
        let r = try self(input, h0: state?.h, c0: state?.c)
        guard let prediction = r.prediction else { throw RecurrentError.shapeMismatch("the model has no head to predict with") }
        return (prediction, RecurrentState(h: r.h, c: r.c))
    }

    /// The mean next-token cross-entropy (nats) of a token model over `windows`, walking
    /// `streams` parallel streams chunk by chunk with the state carried across chunks (evaluation
    /// mode, no gradients).
    public func crossEntropy(over windows: TokenWindows, streams: Int) throws -> Double {
        let wasTraining = isTraining
        eval()
        defer { isTraining = wasTraining }
        return try withoutGradients {
            var state: RecurrentState?, total = 0.0, count = 0
            for (start, length) in windows.chunks(streams: streams) {
                let (input, targets) = windows.streamBatch(streams: streams, start: start, count: length)
                let (logits, next) = try predict(input, from: state)
                total += Double(try Recurrent.crossEntropy(logits: logits.reshaped([-1, logits.shape.last!]), targets: targets).item) * Double(targets.count)
                count += targets.count
                state = next
            }
            return total / Double(max(count, 1))
        }
    }

    /// Generates `length` tokens after `prime` (at least one token) by sampling from the softmax of
    /// the logits divided by `temperature` (greedy, the most likely token, when it is 0).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for an empty prime, a negative or non-finite
    ///   temperature, or a token out of range.
    public func generate(prime: [Int], length: Int, temperature: Float, using generator: inout SeededGenerator) throws -> [Int] {
        guard !prime.isEmpty else { throw RecurrentError.invalidValue("the prime must hold at least one token") }
        guard temperature.isFinite, temperature >= 0 else { throw RecurrentError.invalidValue("temperature must be non-negative and finite, got \(temperature)") }
        guard length >= 0 else { throw RecurrentError.invalidValue("length must be non-negative, got \(length)") }
        let wasTraining = isTraining
        eval()
        defer { isTraining = wasTraining }
        return try withoutGradients {
            let shape = architecture.batchFirst ? [1, prime.count] : [prime.count, 1]
            var (logits, state) = try predict(Tensor(shape: shape, scalars: prime.map(Float.init)), from: nil)
            var out: [Int] = []
            out.reserveCapacity(length)
            while out.count < length {
                let v = logits.shape.last!
                let last = Array(logits.scalars[(logits.count - v)...])
                let token = sampleIndex(logits: last, temperature: temperature, using: &generator)
                out.append(token)
                (logits, state) = try predict(Tensor(shape: [1, 1], scalars: [Float(token)]), from: state)
            }
            return out
        }
    }
}

/// An index drawn from `softmax(logits / temperature)`; the largest logit when `temperature` is 0.
public func sampleIndex(logits: [Float], temperature: Float, using generator: inout SeededGenerator) -> Int {
    precondition(!logits.isEmpty, "sampleIndex: no logits")
    let best = logits.indices.max { logits[$0] < logits[$1] }!
    guard temperature > 0 else { return best }
    let weights = logits.map { Foundation.exp(Double(($0 - logits[best]) / temperature)) }
    var u = Double(generator.nextUniform()) * weights.reduce(0, +)
    for (i, w) in weights.enumerated() {
        u -= w
        if u < 0 { return i }
    }
    return best
}
