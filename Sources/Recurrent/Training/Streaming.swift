/// Streams: a model fed a long sequence chunk by chunk (or step by step), its whole state carried
/// between calls in a ``RecurrentState``; rows of the batch reset when one stream's sequence ends
/// and another begins; and truncated backpropagation through time over chunks of `k` steps.
///
/// ```swift
/// var state: RecurrentState? = nil
/// for chunk in chunks {                                  // [k, B, I] each, in order
///     let (output, next) = try model.stream(chunk, from: state)
///     state = next.resetting(rows: finished)             // rows whose sequence ended here
/// }
/// ```
extension RecurrentState {
    /// The state with the batch rows `rows` zeroed, as for a sequence that starts afresh (Keras's
    /// per-sample reset); the other rows keep their values and gradient history.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for a row outside the batch.
    public func resetting(rows: [Int]) throws -> RecurrentState {
        let batch = h.shape[1]
        if let bad = rows.first(where: { !(0..<batch).contains($0) }) {
            throw RecurrentError.invalidValue("resetting: row \(bad) is outside the batch of \(batch)")
        }
        let reset = Set(rows)
        func zeroed(_ t: Tensor) -> Tensor {
            let (K, B, F) = (t.shape[0], t.shape[1], t.shape[2])
            // A gather from the rows and one extra zero row: the kept rows' gradients flow, the reset ones' stop.
            let indices = (0..<K).flatMap { k in (0..<B).map { b in reset.contains(b) ? K * B : k * B + b } }
            return embedding(indices, shape: [K, B], weight: concat([t.reshaped([K * B, F]), Tensor.zeros([1, F])], axis: 0))
        }
        return RecurrentState(h: zeroed(h), c: c.map(zeroed))
    }
}

extension RecurrentModel {
    /// Runs the model on the next chunk of a stream (`[k, B, …]`, `[B, k, …]` batch-first) from
    /// `state` (zeros when nil): the results equal those of the whole sequence run at once.
    /// - Returns: the layer's output, the prediction (with a head) and the state after the chunk.
    /// - Throws: ``RecurrentError`` for a bidirectional model (its reverse direction needs the
    ///   stream's end) or a shape that does not fit.
    public func stream(_ chunk: Tensor, from state: RecurrentState?) throws
        -> (output: Tensor, prediction: Tensor?, state: RecurrentState)
    {
        guard !architecture.bidirectional else {
            throw RecurrentError.invalidValue("stream: a bidirectional model reads each sequence from its end; run whole sequences instead")
        }
        let r = try self(chunk, h0: state?.h, c0: state?.c)
        return (r.output, r.prediction, RecurrentState(h: r.h, c: r.c))
    }

    /// Truncated backpropagation through time: walks `input` in chunks of `chunkLength` steps (the
    /// last may be shorter), each from the previous chunk's final state with its gradient history
    /// cut (PyTorch's `h.detach()`), computing `loss(prediction, target chunk)`, its gradients, and
    /// then calling `update` (say, `optimizer.step(); optimizer.zeroGrad()`).
    ///
    /// - Parameters:
    ///   - input: `[T, B, …]` (`[B, T, …]` batch-first); `target`: the same time axis as the
    ///     prediction (a head at every step).
    ///   - state: the state to start from (zeros when nil).
    /// - Returns: each chunk's loss and the final state (detached).
    /// - Throws: ``RecurrentError`` for a bidirectional model, a model without a head at every step,
    ///   a chunk length below 1, or a non-finite loss.
    public func trainTruncated(_ input: Tensor, target: Tensor, chunkLength: Int, from state: RecurrentState? = nil,
                               loss: (_ prediction: Tensor, _ target: Tensor) throws -> Tensor,
                               update: () throws -> Void) throws -> (losses: [Float], state: RecurrentState?)
    {
        guard chunkLength >= 1 else { throw RecurrentError.invalidValue("trainTruncated: chunkLength must be at least 1, got \(chunkLength)") }
        guard head != nil, architecture.headPlacement == .everyStep else {
            throw RecurrentError.invalidValue("trainTruncated: the model needs a head at every step")
        }
        let batchedRank = architecture.tokenCount == nil ? 3 : 2  // feature [T, B, I] or tokens [T, B]
        let timeAxis = architecture.batchFirst && input.rank == batchedRank ? 1 : 0
        let T = input.shape[timeAxis]
        guard target.rank > timeAxis, target.shape[timeAxis] == T else {
            throw RecurrentError.shapeMismatch("trainTruncated: the target \(target.shape) must have the input's \(T) steps along axis \(timeAxis)")
        }
        var carried = state?.detached(), losses: [Float] = []
        for start in stride(from: 0, to: T, by: chunkLength) {
            let length = min(chunkLength, T - start)
            let x = input.narrowed(axis: timeAxis, start: start, length: length)
            let y = target.narrowed(axis: timeAxis, start: start, length: length)
            let r = try stream(x, from: carried)
            let value = try loss(r.prediction!, y)
            guard value.item.isFinite else {
                throw RecurrentError.invalidValue("trainTruncated: the loss is \(value.item) in the chunk at step \(start)")
            }
            losses.append(value.item)
            value.backward()
            try update()
            carried = r.state.detached()
        }
        return (losses, carried)
    }
}
