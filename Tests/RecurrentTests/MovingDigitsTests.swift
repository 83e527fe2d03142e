import Foundation
import Testing
@testable import Recurrent

private let fashionMNIST = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
private let fashionMNISTPresent = FileManager.default.fileExists(atPath: fashionMNIST.appendingPathComponent("train-images-idx3-ubyte.gz").path)

/// Moving digits (Srivastava et al. 2015's recipe): shapes and determinism, the bouncing
/// trajectory, per-pixel max where digits overlap, the built-in glyphs, the copy-last-frame
/// baseline and per-frame MSE, and bad settings as one-line errors.
@Suite struct MovingDigitsTests {
    /// `count` solid square "digits" of `side` px, image `k` of brightness `values[k]`.
    func squares(_ values: [UInt8], side: Int) -> MNISTData.Split {
        MNISTData.Split(pixels: values.flatMap { [UInt8](repeating: $0, count: side * side) }, labels: values.indices.map { $0 },
                        rows: side, cols: side)
    }

    /// The top-left corner of the lit pixels of frame `t`, batch row `b`, of `frames` `[T, B, 1, S, S]`.
    func corner(_ frames: Tensor, t: Int, b: Int) -> (row: Int, col: Int)? {
        let (B, S) = (frames.shape[1], frames.shape[3])
        let s = frames.scalars, base = (t * B + b) * S * S
        guard let first = (0..<(S * S)).first(where: { s[base + $0] > 0 }) else { return nil }
        let col = (0..<(S * S)).filter { s[base + $0] > 0 }.map { $0 % S }.min()!
        return (first / S, col)
    }

    @Test func batchesAreShapedScaledAndSeeded() throws {
        let digits = MovingDigits.builtInDigits(count: 20, seed: 1)
        var a = try MovingDigits(digits: digits, seed: 7), b = try MovingDigits(digits: digits, seed: 7)
        var c = try MovingDigits(digits: digits, seed: 8)
        let x = a.batch(3, frames: 5)
        #expect(x.shape == [5, 3, 1, 64, 64])
        #expect(x.scalars.allSatisfy { (0...1).contains($0) } && x.scalars.contains(1))
        #expect(x.scalars == b.batch(3, frames: 5).scalars, "the same seed gives the same frames")
        #expect(x.scalars != c.batch(3, frames: 5).scalars, "another seed gives other frames")
        #expect(x.scalars != a.batch(3, frames: 5).scalars, "the next batch is a new one")
    }

    /// One solid 4×4 square in a 20×20 frame: always whole inside the frame, moving at most
    /// `stepLength · 16` px (rounded) per frame along each axis, and reaching both edges of each
    /// axis over 300 frames (it bounces instead of leaving).
    @Test(arguments: [0.1 as Float, 0.3, 1.0])
    func aDigitMovesAtConstantSpeedAndBounces(stepLength: Float) throws {
        var source = try MovingDigits(digits: squares([255], side: 4), frameSize: 20, digitCount: 1, stepLength: stepLength, seed: 3)
        let T = 300, frames = source.batch(2, frames: T)
        for b in 0..<2 {
            let path = (0..<T).map { corner(frames, t: $0, b: b)! }
            for (t, p) in path.enumerated() {
                let lit = (0..<400).filter { frames.scalars[(t * 2 + b) * 400 + $0] > 0 }
                #expect(lit.count == 16 && (0...16).contains(p.row) && (0...16).contains(p.col), "frame \(t): the whole square inside")
            }
            let limit = Int((stepLength * 16).rounded(.up)) + 1
            for (p, q) in zip(path, path.dropFirst()) { #expect(abs(q.row - p.row) <= limit && abs(q.col - p.col) <= limit) }
            #expect(path.contains { $0.row == 0 } && path.contains { $0.row == 16 }, "bounces between top and bottom")
            #expect(path.contains { $0.col == 0 } && path.contains { $0.col == 16 }, "bounces between left and right")
        }
    }

    /// Two squares of brightness 100 and 200: where they overlap the pixel is the larger (the
    /// paper's np.maximum), never a sum; every frame holds both squares' pixels.
    @Test func overlappingDigitsTakeThePerPixelMax() throws {
        var source = try MovingDigits(digits: squares([100, 200], side: 6), frameSize: 10, digitCount: 2, seed: 5)
        let frames = source.batch(8, frames: 20)
        let allowed: Set<Float> = [0, 100.0 / 255, 200.0 / 255]
        #expect(frames.scalars.allSatisfy { allowed.contains($0) })
        var overlaps = 0
        for f in 0..<(20 * 8) {
            let frame = frames.scalars[(f * 100)..<((f + 1) * 100)]
            let lit = frame.filter { $0 > 0 }.count
            #expect(lit >= 36 && lit <= 72)
            if lit < 72 { overlaps += 1 }
        }
        #expect(overlaps > 0, "in a 10×10 frame two 6×6 squares overlap somewhere")
    }

    /// The built-in glyphs: seeded, labelled `k % 10`, inked near the middle, and distinct digits:
    /// the class means of one seed's glyphs classify another seed's by nearest mean.
    @Test func builtInDigitsAreTenDistinctClasses() {
        let train = MovingDigits.builtInDigits(count: 300, seed: 1), test = MovingDigits.builtInDigits(count: 200, seed: 2)
        #expect(train == MovingDigits.builtInDigits(count: 300, seed: 1))
        #expect(train.rows == 28 && train.cols == 28 && train.labels == (0..<300).map { $0 % 10 })
        for k in 0..<test.count {
            let image = test.images(at: [k])
            let ink = image.reduce(0, +)
            #expect(ink > 20, "image \(k) has ink")
            let (cy, cx) = image.enumerated().reduce((0.0, 0.0)) { ($0.0 + Double($1.offset / 28) * Double($1.element), $0.1 + Double($1.offset % 28) * Double($1.element)) }
            #expect(abs(cy / Double(ink) - 13.5) < 4 && abs(cx / Double(ink) - 13.5) < 4, "image \(k) centred")
        }
        var means = [[Float]](repeating: [Float](repeating: 0, count: 784), count: 10)
        for k in 0..<train.count { for (i, v) in train.images(at: [k]).enumerated() { means[k % 10][i] += v / 30 } }
        let correct = (0..<test.count).filter { k in
            let image = test.images(at: [k])
            let distances = means.map { m in zip(m, image).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
            return distances.firstIndex(of: distances.min()!) == k % 10
        }.count
        #expect(correct >= 180, "nearest class mean: \(correct) of 200 right")
    }

    @Test(.enabled(if: fashionMNISTPresent, "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"))
    func realIDXImagesMoveToo() throws {
        let data = try MNISTData.load(directory: fashionMNIST)
        var source = try MovingDigits(digits: data.test, seed: 0)
        let frames = source.batch(4, frames: 3)
        #expect(frames.shape == [3, 4, 1, 64, 64] && frames.scalars.contains { $0 > 0.5 })
    }

    @Test func badSettingsAreOneLineErrors() throws {
        let digits = squares([255], side: 28)
        let empty = MNISTData.Split(pixels: [], labels: [], rows: 28, cols: 28)
        let cases: [(String, () throws -> MovingDigits)] = [
            ("no digit images", { try MovingDigits(digits: empty, seed: 0) }),
            ("between the digits' size (28×28) and 1024, got 20", { try MovingDigits(digits: digits, frameSize: 20, seed: 0) }),
            ("between the digits' size (28×28) and 1024, got 4096", { try MovingDigits(digits: digits, frameSize: 4096, seed: 0) }),
            ("digitCount must be between 1 and 16, got 0", { try MovingDigits(digits: digits, digitCount: 0, seed: 0) }),
            ("digitCount must be between 1 and 16, got 17", { try MovingDigits(digits: digits, digitCount: 17, seed: 0) }),
            ("stepLength must be a number in (0, 1], got nan", { try MovingDigits(digits: digits, stepLength: .nan, seed: 0) }),
            ("stepLength must be a number in (0, 1], got 0.0", { try MovingDigits(digits: digits, stepLength: 0, seed: 0) }),
        ]
        for (message, make) in cases {
            #expect { _ = try make() } throws: { "\($0)".contains(message) && !"\($0)".contains("\n") }
        }
    }

    /// The baseline repeats the last input frame; per-frame MSE by hand.
    @Test func copyLastFrameAndPerFrameMSE() throws {
        let input = Tensor(shape: [3, 2, 1, 1, 2], scalars: (0..<12).map(Float.init))   // frame t, row b: [4t + 2b, 4t + 2b + 1]
        let copy = try copyLastFrame(input, count: 2)
        #expect(copy.shape == [2, 2, 1, 1, 2] && copy.scalars == [8, 9, 10, 11, 8, 9, 10, 11])
        let target = Tensor(shape: [2, 2, 1, 1, 2], scalars: [8, 9, 10, 11, 9, 9, 10, 14])
        #expect(try frameMSE(copy, target) == [0, (1 + 0 + 0 + 9) / 4])
        #expect { _ = try copyLastFrame(Tensor(shape: [0, 2], scalars: []), count: 1) } throws: { "\($0)".contains("at least one frame") }
        #expect { _ = try copyLastFrame(input, count: 0) } throws: { "\($0)".contains("count must be positive") }
        #expect { _ = try frameMSE(copy, input) } throws: { "\($0)".contains("must have one shape") }
    }
}
