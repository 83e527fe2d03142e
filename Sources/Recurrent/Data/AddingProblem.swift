/// The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015): each step
/// carries a value drawn from U(0, 1) and a marker; exactly two steps are marked, one in each half
/// of the sequence, and the target is the sum of the two marked values.
///
/// Always predicting 1 (the target's mean) gives a mean squared error of Var(U₁ + U₂) = 1/6 ≈ 0.167,
/// so a model has learned something only when its error falls well below that.
public struct AddingProblem: Sendable {
    /// Steps per sequence, `T` (at least 2).
    public let sequenceLength: Int
    private var generator: SeededGenerator

    /// The mean squared error of always predicting the mean target 1.0: 1/6.
    public static let baselineMSE: Float = 1.0 / 6.0

    /// Creates a generator of batches drawn from a seeded sequence.
    public init(sequenceLength: Int, seed: UInt64) {
        precondition(sequenceLength >= 2, "AddingProblem: sequenceLength must be at least 2, got \(sequenceLength)")
        self.sequenceLength = sequenceLength
        generator = SeededGenerator(seed: seed)
    }

    /// A batch of `batchSize` sequences.
    ///
    /// - Returns: `input` `[T, B, 2]` (value, marker) and `target` `[B, 1]`.
    public mutating func batch(_ batchSize: Int) -> (input: Tensor, target: Tensor) {
        let T = sequenceLength, half = T / 2
        var x = [Float](repeating: 0, count: T * batchSize * 2)
        var y = [Float](repeating: 0, count: batchSize)
        for b in 0..<batchSize {
            let first = Int(generator.next() % UInt64(half))
            let second = half + Int(generator.next() % UInt64(T - half))
            for t in 0..<T {
                let value = generator.nextUniform()
                x[(t * batchSize + b) * 2] = value
                if t == first || t == second {
                    x[(t * batchSize + b) * 2 + 1] = 1
                    y[b] += value
                }
            }
        }
        return (Tensor(shape: [T, batchSize, 2], scalars: x), Tensor(shape: [batchSize, 1], scalars: y))
    }
}
