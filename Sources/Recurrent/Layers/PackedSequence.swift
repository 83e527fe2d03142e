/// A batch of sequences of unequal lengths with no padding, laid out as PyTorch's
/// `torch.nn.utils.rnn.PackedSequence`: the rows of time step 0 for every sequence (longest
/// first), then those of step 1 for the sequences that have one, and so on.
///
/// Made by ``packPaddedSequence(_:lengths:batchFirst:enforceSorted:)``, read back by
/// ``padPackedSequence(_:batchFirst:paddingValue:totalLength:)``, and taken by ``RNN``, ``LSTM``
/// and ``GRU`` (whose states stay in the caller's batch order, as PyTorch's do). The same results
/// come from a padded batch with `lengths:` (`lstm(x, lengths: […])`).
public struct PackedSequence {
    /// `[N, F]`, `N` = the sum of the lengths.
    public let data: Tensor
    /// How many sequences have a step at each time: `[T]`, `T` the longest length (non-increasing).
    public let batchSizes: [Int]
    /// The caller's row of each packed row (longest first), or nil when the batch came sorted
    /// (`enforceSorted`).
    public let sortedIndices: [Int]?
    /// The packed row of each caller's row, or nil when the batch came sorted.
    public let unsortedIndices: [Int]?

    /// Each sequence's length, in the caller's batch order.
    public var lengths: [Int] {
        let sorted = (0..<(batchSizes.first ?? 0)).map { i in batchSizes.prefix { $0 > i }.count }
        guard let unsortedIndices else { return sorted }
        return unsortedIndices.map { sorted[$0] }
    }
}

/// Packs a padded batch (PyTorch's `pack_padded_sequence`).
///
/// - Parameters:
///   - input: `[T, B, F]` (`[B, T, F]` when `batchFirst`), or `[T, B]` for token indices.
///   - lengths: `B` lengths in `1...T`, in batch order; longest first when `enforceSorted`.
/// - Throws: ``RecurrentError/invalidValue(_:)`` for lengths that do not fit, or unsorted ones with `enforceSorted`.
public func packPaddedSequence(_ input: Tensor, lengths: [Int], batchFirst: Bool = false, enforceSorted: Bool = true) throws
    -> PackedSequence
{
    guard input.rank >= 2 else { throw RecurrentError.shapeMismatch("packPaddedSequence: expected [T, B, …], got \(input.shape)") }
    let x = batchFirst ? input.transposed(0, 1) : input
    let (T, B) = (x.shape[0], x.shape[1])
    guard lengths.count == B else {
        throw RecurrentError.invalidValue("packPaddedSequence: expected \(B) lengths, one per sequence in the batch, got \(lengths.count)")
    }
    if let bad = lengths.firstIndex(where: { !(1...max(T, 1)).contains($0) }) {
        throw RecurrentError.invalidValue("packPaddedSequence: length \(lengths[bad]) of sequence \(bad) is outside 1...\(T) (the padded length)")
    }
    let isSorted = zip(lengths, lengths.dropFirst()).allSatisfy { $0 >= $1 }
    if enforceSorted && !isSorted {
        throw RecurrentError.invalidValue("packPaddedSequence: lengths must be sorted longest first when enforceSorted is true (or pass enforceSorted: false), got \(lengths.prefix(8))")
    }
    // Longest first, ties in the caller's order (PyTorch's descending sort keeps them so).
    let order = enforceSorted ? Array(0..<B) : lengths.indices.sorted { lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
    let longest = lengths[order[0]]
    let batchSizes = (0..<longest).map { t in order.prefix { lengths[$0] > t }.count }
    let indices = (0..<longest).flatMap { t in (0..<batchSizes[t]).map { t * B + order[$0] } }
    let features = x.shape.dropFirst(2).reduce(1, *)
    let data = embedding(indices, shape: [indices.count], weight: x.reshaped([T * B, features]))
    var inverse = [Int](repeating: 0, count: B)
    for (packed, row) in order.enumerated() { inverse[row] = packed }
    return PackedSequence(data: data.reshaped([indices.count] + Array(x.shape.dropFirst(2))), batchSizes: batchSizes,
                          sortedIndices: enforceSorted ? nil : order, unsortedIndices: enforceSorted ? nil : inverse)
}

/// Pads a packed batch back (PyTorch's `pad_packed_sequence`), in the caller's batch order.
///
/// - Parameters:
///   - totalLength: the padded length `T` (at least the longest length; nil: the longest length).
/// - Returns: `output` `[T, B, F]` (`[B, T, F]` when `batchFirst`), `paddingValue` past each length,
///   and each sequence's length.
/// - Throws: ``RecurrentError/invalidValue(_:)`` for a `totalLength` shorter than the longest sequence.
public func padPackedSequence(_ sequence: PackedSequence, batchFirst: Bool = false, paddingValue: Float = 0,
                              totalLength: Int? = nil) throws -> (output: Tensor, lengths: [Int])
{
    let sizes = sequence.batchSizes, B = sizes.first ?? 0, longest = sizes.count
    let T = totalLength ?? longest
    guard T >= longest else {
        throw RecurrentError.invalidValue("padPackedSequence: totalLength \(T) is shorter than the longest sequence (\(longest))")
    }
    let rows = sequence.data.shape[0], features = sequence.data.shape.dropFirst().reduce(1, *)
    let order = sequence.sortedIndices ?? Array(0..<B)
    // The padded row (t, caller's b) reads packed row offset[t] + (b's packed position), or the padding row.
    var offsets = [Int](repeating: 0, count: longest)
    for t in 1..<max(longest, 1) { offsets[t] = offsets[t - 1] + sizes[t - 1] }
    var position = [Int](repeating: 0, count: B)
    for (packed, row) in order.enumerated() { position[row] = packed }
    let padRow = rows
    let indices = (0..<T).flatMap { t in (0..<B).map { b in t < longest && position[b] < sizes[t] ? offsets[t] + position[b] : padRow } }
    let source = concat([sequence.data.reshaped([rows, features]),
                         Tensor(shape: [1, features], scalars: [Float](repeating: paddingValue, count: features))], axis: 0)
    var output = embedding(indices, shape: [T, B], weight: source).reshaped([T, B] + Array(sequence.data.shape.dropFirst()))
    if batchFirst { output = output.transposed(0, 1) }
    return (output, sequence.lengths)
}

/// Stacks sequences of unequal lengths into one padded batch (PyTorch's `pad_sequence`).
///
/// - Parameter sequences: `B` tensors `[Lᵢ, …]` with the same trailing shape.
/// - Returns: `[max Lᵢ, B, …]` (`[B, max Lᵢ, …]` when `batchFirst`), `paddingValue` past each length.
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` for an empty list or trailing shapes that differ.
public func padSequence(_ sequences: [Tensor], batchFirst: Bool = false, paddingValue: Float = 0) throws -> Tensor {
    guard let first = sequences.first else { throw RecurrentError.shapeMismatch("padSequence: expected at least one sequence") }
    let trailing = Array(first.shape.dropFirst())
    if let bad = sequences.firstIndex(where: { $0.rank == 0 || Array($0.shape.dropFirst()) != trailing }) {
        throw RecurrentError.shapeMismatch("padSequence: sequence \(bad) has shape \(sequences[bad].shape); every one must be [L, \(trailing.map(String.init).joined(separator: ", "))]")
    }
    let B = sequences.count, T = sequences.map { $0.shape[0] }.max()!, features = trailing.reduce(1, *)
    var starts = [Int](), total = 0
    for s in sequences { starts.append(total); total += s.shape[0] }
    let source = concat(sequences.map { $0.reshaped([$0.shape[0], features]) }
                        + [Tensor(shape: [1, features], scalars: [Float](repeating: paddingValue, count: features))], axis: 0)
    let indices = (0..<T).flatMap { t in (0..<B).map { b in t < sequences[b].shape[0] ? starts[b] + t : total } }
    let padded = embedding(indices, shape: [T, B], weight: source).reshaped([T, B] + trailing)
    return batchFirst ? padded.transposed(0, 1) : padded
}

extension RecurrentLayer {
    /// Runs the layer over a packed batch: the output packed the same way, the final states
    /// `[D·L, B, ·]` in the caller's batch order (each at its sequence's own end).
    func runPacked(_ input: PackedSequence, h0: Tensor?, c0: Tensor?, layerName: String) throws
        -> (output: PackedSequence, h: Tensor, c: Tensor?)
    {
        guard input.data.rank == 2, input.data.shape[1] == inputSize else {
            throw RecurrentError.shapeMismatch("\(layerName): packed data must be [N, \(inputSize)], got \(input.data.shape)")
        }
        let (padded, lengths) = try padPackedSequence(input, batchFirst: batchFirst)
        let r = try stack.run(padded, h0: h0, c0: c0, layerName: layerName, lengths: lengths)
        let output = try packPaddedSequence(r.output, lengths: lengths, batchFirst: batchFirst, enforceSorted: input.sortedIndices == nil)
        return (output, r.h, r.c)
    }
}

extension RNN {
    /// Runs the RNN over a packed batch (PyTorch's `rnn(packed, h0)`): `h0` `[D·L, B, H]` in the
    /// caller's batch order (zeros when nil). - Returns: the output, packed alike, and `h` `[D·L, B, H]`.
    public func callAsFunction(_ input: PackedSequence, _ h0: Tensor? = nil) throws -> (output: PackedSequence, h: Tensor) {
        let r = try runPacked(input, h0: h0, c0: nil, layerName: "RNN")
        return (r.output, r.h)
    }
}

extension LSTM {
    /// Runs the LSTM over a packed batch (PyTorch's `lstm(packed, (h0, c0))`), states in the caller's
    /// batch order. - Returns: the output, packed alike, and `(h, c)` `[D·L, B, Hₒ]`, `[D·L, B, H]`.
    public func callAsFunction(_ input: PackedSequence, _ state: (h: Tensor, c: Tensor)? = nil) throws
        -> (output: PackedSequence, state: (h: Tensor, c: Tensor))
    {
        let r = try runPacked(input, h0: state?.h, c0: state?.c, layerName: "LSTM")
        return (r.output, (r.h, r.c!))
    }
}

extension GRU {
    /// Runs the GRU over a packed batch (PyTorch's `gru(packed, h0)`), `h0` in the caller's batch
    /// order. - Returns: the output, packed alike, and `h` `[D·L, B, H]`.
    public func callAsFunction(_ input: PackedSequence, _ h0: Tensor? = nil) throws -> (output: PackedSequence, h: Tensor) {
        let r = try runPacked(input, h0: h0, c0: nil, layerName: "GRU")
        return (r.output, r.h)
    }
}
