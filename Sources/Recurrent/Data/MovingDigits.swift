import Foundation

/// Moving digits: the Moving MNIST recipe of Srivastava, Mansimov & Salakhutdinov 2015
/// ("Unsupervised Learning of Video Representations using LSTMs", §3.1), generated on demand.
///
/// Each sequence places `digitCount` digit images (28×28 for MNIST) at random positions in a
/// square frame (64×64 by default) and moves each one in a random direction at a constant speed,
/// bouncing off the frame's edges; where digits overlap, the brighter pixel wins (per-pixel max).
/// The trajectory follows the paper's generator: a position `(x, y)` drawn from U(0, 1)² in units
/// of the free range `S − 28`, an angle θ from U(0, 2π), a step of ``stepLength`` (0.1) along θ
/// before each frame, and a reflected velocity (the position clamped to [0, 1]) at an edge; the
/// digit's top-left corner is `⌊(S − 28)·x⌋`.
///
/// ```swift
/// let digits = try MNISTData.load(directory: url).training       // or MovingDigits.builtInDigits(count: 1000, seed: 0)
/// var source = try MovingDigits(digits: digits, seed: 0)
/// let frames = source.batch(16, frames: 20)                       // [20, 16, 1, 64, 64], pixels in [0, 1]
/// let input = frames.narrowed(axis: 0, start: 0, length: 10)      // the first 10 frames
/// let future = frames.narrowed(axis: 0, start: 10, length: 10)    // the 10 to predict
/// ```
///
/// The same seed and digits give the same sequences on every machine (``SeededGenerator``).
public struct MovingDigits: Sendable {
    /// The digit images drawn from (each sequence picks `digitCount` of them at random).
    public let digits: MNISTData.Split
    /// `S`: the frame's width and height in pixels.
    public let frameSize: Int
    /// Digits per sequence.
    public let digitCount: Int
    /// How far a digit moves per frame, as a fraction of the free range `S − 28` (0.1 in the paper:
    /// 3.6 px per frame in a 64×64 frame).
    public let stepLength: Float
    private var generator: SeededGenerator

    /// The largest frame side accepted (1024 px).
    public static let maxFrameSize = 1024

    /// Creates a generator of sequences seeded by `seed`.
    ///
    /// - Throws: ``RecurrentError/invalidValue(_:)`` when there are no digits, a digit does not fit
    ///   in the frame, `digitCount` is not in 1...16, `frameSize` is above ``maxFrameSize``, or
    ///   `stepLength` is not a finite number in (0, 1].
    public init(digits: MNISTData.Split, frameSize: Int = 64, digitCount: Int = 2, stepLength: Float = 0.1, seed: UInt64) throws {
        guard digits.count > 0, digits.rows > 0, digits.cols > 0 else {
            throw RecurrentError.invalidValue("MovingDigits: no digit images to draw from")
        }
        guard frameSize <= Self.maxFrameSize, frameSize >= digits.rows, frameSize >= digits.cols else {
            throw RecurrentError.invalidValue("MovingDigits: the frame size must be between the digits' size (\(digits.rows)×\(digits.cols)) and \(Self.maxFrameSize), got \(frameSize)")
        }
        guard (1...16).contains(digitCount) else {
            throw RecurrentError.invalidValue("MovingDigits: digitCount must be between 1 and 16, got \(digitCount)")
        }
        guard stepLength.isFinite, stepLength > 0, stepLength <= 1 else {
            throw RecurrentError.invalidValue("MovingDigits: stepLength must be a number in (0, 1], got \(stepLength)")
        }
        (self.digits, self.frameSize, self.digitCount, self.stepLength) = (digits, frameSize, digitCount, stepLength)
        generator = SeededGenerator(seed: seed)
    }

    /// The top-left corners of one digit's path over `frames` frames, in pixels: the paper's
    /// bouncing trajectory (see the type's description), drawn from the generator.
    mutating func trajectory(frames: Int) -> [(row: Int, col: Int)] {
        var y = Double(generator.nextUniform()), x = Double(generator.nextUniform())
        let theta = 2 * Double.pi * Double(generator.nextUniform())
        var vy = sin(theta), vx = cos(theta)
        let step = Double(stepLength)
        let (rangeY, rangeX) = (Double(frameSize - digits.rows), Double(frameSize - digits.cols))
        return (0..<frames).map { _ in
            y += vy * step
            x += vx * step
            if y <= 0 { y = 0; vy = -vy }
            if y >= 1 { y = 1; vy = -vy }
            if x <= 0 { x = 0; vx = -vx }
            if x >= 1 { x = 1; vx = -vx }
            return (Int(rangeY * y), Int(rangeX * x))
        }
    }

    /// `batchSize` sequences of `frames` frames each.
    ///
    /// - Returns: `[T, B, 1, S, S]` (`T` = `frames`), pixels in [0, 1] (the digits' bytes / 255):
    ///   the layout of a convolutional recurrent layer's input (time, batch, channel, height, width).
    /// - Precondition: `batchSize` and `frames` are positive (a programming error otherwise).
    public mutating func batch(_ batchSize: Int, frames: Int) -> Tensor {
        precondition(batchSize > 0 && frames > 0, "MovingDigits.batch: batchSize and frames must be positive, got \(batchSize) and \(frames)")
        let (S, rows, cols) = (frameSize, digits.rows, digits.cols)
        let frameArea = S * S
        var pixels = [Float](repeating: 0, count: frames * batchSize * frameArea)
        for b in 0..<batchSize {
            for _ in 0..<digitCount {
                let image = Int(generator.next() % UInt64(digits.count))
                let path = trajectory(frames: frames)
                digits.pixels.withUnsafeBufferPointer { p in
                    let glyph = image * rows * cols
                    for (t, corner) in path.enumerated() {
                        let frame = (t * batchSize + b) * frameArea
                        for r in 0..<rows {
                            let out = frame + (corner.row + r) * S + corner.col
                            for c in 0..<cols {
                                // Overlapping digits: the brighter pixel (the paper's np.maximum).
                                let v = Float(p[glyph + r * cols + c]) / 255
                                if v > pixels[out + c] { pixels[out + c] = v }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [frames, batchSize, 1, S, S], scalars: pixels)
    }
}

/// The copy-the-last-frame baseline of next-frame prediction: every future frame predicted to be
/// the last frame seen.
///
/// - Parameters:
///   - input: the frames seen, `[T, B, C, H, W]` (any rank ≥ 2 with time first).
///   - count: how many future frames to predict.
/// - Returns: `[count, B, C, H, W]`, each step a copy of `input[T − 1]`.
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` when `input` has no time axis or no frames, and
///   ``RecurrentError/invalidValue(_:)`` when `count` is not positive.
public func copyLastFrame(_ input: Tensor, count: Int) throws -> Tensor {
    guard input.rank >= 2, input.shape[0] > 0 else {
        throw RecurrentError.shapeMismatch("copyLastFrame: the input must be [T, B, …] with at least one frame, got \(input.shape)")
    }
    guard count > 0 else { throw RecurrentError.invalidValue("copyLastFrame: count must be positive, got \(count)") }
    let frame = input.scalars.count / input.shape[0]
    let last = input.scalars[(input.scalars.count - frame)...]
    var out = [Float]()
    out.reserveCapacity(count * frame)
    for _ in 0..<count { out.append(contentsOf: last) }
    return Tensor(shape: [count] + input.shape.dropFirst(), scalars: out)
}

/// The mean squared error of each predicted frame: `mse[t]` is the mean of
/// `(prediction[t] − target[t])²` over the batch, channels and pixels.
///
/// - Parameters:
///   - prediction: `[T, B, …]`.
///   - target: the same shape.
/// - Returns: `T` values; their mean is the MSE over the whole sequence.
/// - Throws: ``RecurrentError/shapeMismatch(_:)`` when the shapes differ or hold no frame.
public func frameMSE(_ prediction: Tensor, _ target: Tensor) throws -> [Float] {
    guard prediction.shape == target.shape, prediction.rank >= 1, prediction.shape[0] > 0, prediction.count > 0 else {
        throw RecurrentError.shapeMismatch("frameMSE: the prediction \(prediction.shape) and the target \(target.shape) must have one shape [T, …] with at least one frame")
    }
    let T = prediction.shape[0], frame = prediction.count / T
    let (p, y) = (prediction.scalars, target.scalars)
    return (0..<T).map { t in
        var sum = 0.0
        for k in (t * frame)..<((t + 1) * frame) {
            let d = Double(p[k]) - Double(y[k])
            sum += d * d
        }
        return Float(sum / Double(frame))
    }
}
