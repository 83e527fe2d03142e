/// The sort that a batch of unequal sequences goes through in ``RecurrentStack``: rows longest
/// first (as `pack_padded_sequence` orders them), the input zero past each length, and the
/// caller's order restored for the outputs and final states. Every move is a row gather with
/// autograd (``embedding(_:shape:weight:)`` over the tensor's rows), so gradients follow.
struct UnequalLengths {
    /// The caller's row of each sorted row: `[B]`.
    let order: [Int]
    /// The sorted row of each caller's row: `[B]`.
    let inverse: [Int]
    /// Each sorted row's length, longest first.
    let sortedLengths: [Int]
    let steps: Int, batch: Int

    /// nil when `lengths` is nil or every length is `T` (then the plain path gives the same numbers).
    /// - Throws: ``RecurrentError/invalidValue(_:)`` unless there are `B` lengths, each in `1...T`.
    init?(_ lengths: [Int]?, steps T: Int, batch B: Int, layerName: String) throws {
        guard let lengths else { return nil }
        guard lengths.count == B else {
            throw RecurrentError.invalidValue("\(layerName): expected \(B) lengths, one per sequence in the batch, got \(lengths.count)")
        }
        if let bad = lengths.firstIndex(where: { !(1...T).contains($0) }) {
            throw RecurrentError.invalidValue("\(layerName): length \(lengths[bad]) of sequence \(bad) is outside 1...\(T) (the padded length)")
        }
        guard lengths.contains(where: { $0 != T }) else { return nil }
        order = lengths.indices.sorted { lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
        var inverse = [Int](repeating: 0, count: B)
        for (sorted, row) in order.enumerated() { inverse[row] = sorted }
        self.inverse = inverse
        sortedLengths = order.map { lengths[$0] }
        (steps, batch) = (T, B)
    }

    /// `x` `[T, B, I]` with rows sorted and zeros past each length (a padding value, even NaN, reaches nothing).
    func sortedInput(_ x: Tensor) -> Tensor {
        let (T, B, I) = (steps, batch, x.shape[2])
        let zero = T * B  // the index of an extra zero row
        let indices = (0..<T).flatMap { t in (0..<B).map { b in t < sortedLengths[b] ? t * B + order[b] : zero } }
        let rows = concat([x.reshaped([T * B, I]), Tensor.zeros([1, I])], axis: 0)
        return embedding(indices, shape: [T, B], weight: rows)
    }

    /// States `[K, B, S]` with rows sorted.
    func sortedStates(_ s: Tensor) -> Tensor { permuteRows(s, by: order) }

    /// The output `[T, B, F]` in the caller's row order.
    func restoredOutput(_ y: Tensor) -> Tensor { permuteRows(y, by: inverse) }

    /// Final states `[K, B, S]` in the caller's row order.
    func restoredStates(_ s: Tensor) -> Tensor { permuteRows(s, by: inverse) }

    /// `t[k, b, :] = t[k, map[b], :]` for `t` `[K, B, F]`.
    private func permuteRows(_ t: Tensor, by map: [Int]) -> Tensor {
        let (K, B, F) = (t.shape[0], t.shape[1], t.shape[2])
        let indices = (0..<K).flatMap { k in map.map { k * B + $0 } }
        return embedding(indices, shape: [K, B], weight: t.reshaped([K * B, F]))
    }
}
