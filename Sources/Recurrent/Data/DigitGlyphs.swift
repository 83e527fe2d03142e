import Foundation

/// Handwriting-like digit images drawn from strokes, for moving digits without a dataset on disk.
extension MovingDigits {
    /// `count` images of the digits 0–9 (labels `k % 10`), 28×28 unsigned bytes like MNIST's: each
    /// digit's strokes (lines and elliptic arcs in a unit box) drawn with a pen of random width,
    /// scaled, slanted, turned and shifted at random, anti-aliased, the digit about 20 px tall and
    /// centred as MNIST centres its digits (Lecun et al. 1998: a 20×20 box in a 28×28 image).
    ///
    /// The same `count` and `seed` give the same images on every machine.
    /// - Precondition: `count` is positive and at most 1,000,000.
    public static func builtInDigits(count: Int, seed: UInt64) -> MNISTData.Split {
        precondition(count > 0 && count <= 1_000_000, "MovingDigits.builtInDigits: count must be in 1...1000000, got \(count)")
        var generator = SeededGenerator(seed: seed)
        let side = 28
        var pixels = [UInt8](repeating: 0, count: count * side * side)
        for k in 0..<count {
            let strokes = digitStrokes[k % 10]
            // The pen and the transform of this image: height 17–21 px, width 0.8–1.1 of a
            // 0.75-aspect box, a slant of −0.3…0.15 (x shifts by slant·height per unit of height),
            // a turn of ±8°, a shift of ±1.5 px, a pen of 1.7–2.9 px.
            let height = Double(generator.nextUniform(17, 21))
            let width = height * 0.75 * Double(generator.nextUniform(0.8, 1.1))
            let slant = Double(generator.nextUniform(-0.3, 0.15))
            let turn = Double(generator.nextUniform(-8, 8)) * .pi / 180
            let (dx, dy) = (Double(generator.nextUniform(-1.5, 1.5)), Double(generator.nextUniform(-1.5, 1.5)))
            let pen = Double(generator.nextUniform(1.7, 2.9))
            func place(_ p: (Double, Double)) -> (Double, Double) {
                let (u, v) = ((p.0 - 0.5) * width + slant * (0.5 - p.1) * height, (p.1 - 0.5) * height)
                return (14 + dx + u * cos(turn) - v * sin(turn), 14 + dy + u * sin(turn) + v * cos(turn))
            }
            let segments = strokes.flatMap { stroke in
                let points = stroke.map(place)
                return zip(points, points.dropFirst()).map { ($0, $1) }
            }
            // Drawn once to find the centre of mass, then again shifted to put it at the middle.
            var image = draw(segments, pen: pen, shift: (0, 0))
            var mass = 0.0, (my, mx) = (0.0, 0.0)
            for (i, v) in image.enumerated() {
                mass += v
                (my, mx) = (my + v * Double(i / side), mx + v * Double(i % side))
            }
            if mass > 0 { image = draw(segments, pen: pen, shift: (13.5 - mx / mass, 13.5 - my / mass)) }
            for (i, v) in image.enumerated() { pixels[k * side * side + i] = UInt8((v * 255).rounded()) }
        }
        return MNISTData.Split(pixels: pixels, labels: (0..<count).map { $0 % 10 }, rows: side, cols: side)
    }

    /// The coverage in [0, 1] of each pixel of a 28×28 image by a pen of width `pen` drawn along
    /// `segments` moved by `shift` (x, y): 1 inside the stroke, falling to 0 over one pixel at its edge.
    private static func draw(_ segments: [((Double, Double), (Double, Double))], pen: Double, shift: (Double, Double)) -> [Double] {
        (0..<(28 * 28)).map { i in
            let p = (Double(i % 28) + 0.5 - shift.0, Double(i / 28) + 0.5 - shift.1)
            var nearest = Double.infinity
            for (a, b) in segments { nearest = min(nearest, distance(from: p, toSegment: a, b)) }
            return min(max(pen / 2 + 0.5 - nearest, 0), 1)
        }
    }

    /// The distance from `p` to the segment from `a` to `b`.
    private static func distance(from p: (Double, Double), toSegment a: (Double, Double), _ b: (Double, Double)) -> Double {
        let (ex, ey) = (b.0 - a.0, b.1 - a.1)
        let length2 = ex * ex + ey * ey
        let t = length2 > 0 ? min(max(((p.0 - a.0) * ex + (p.1 - a.1) * ey) / length2, 0), 1) : 0
        let (qx, qy) = (a.0 + t * ex - p.0, a.1 + t * ey - p.1)
        return (qx * qx + qy * qy).squareRoot()
    }

    /// Points along an elliptic arc about (`cx`, `cy`) with radii `rx`, `ry`, from angle `from` to
    /// `to` in degrees (0° to the right, 90° up: the y axis of the unit box points down).
    private static func arc(_ cx: Double, _ cy: Double, _ rx: Double, _ ry: Double, from: Double, to: Double) -> [(Double, Double)] {
        let n = max(4, Int(abs(to - from) / 15))
        return (0...n).map { k in
            let a = (from + (to - from) * Double(k) / Double(n)) * .pi / 180
            return (cx + rx * cos(a), cy - ry * sin(a))
        }
    }

    /// Each digit's strokes (polylines) in a unit box, x to the right and y down.
    private static let digitStrokes: [[[(Double, Double)]]] = [
        [arc(0.5, 0.5, 0.4, 0.48, from: 90, to: 450)],
        [[(0.3, 0.22), (0.58, 0.02), (0.58, 0.98)]],
        [arc(0.5, 0.28, 0.38, 0.26, from: 160, to: -35) + [(0.08, 0.98), (0.95, 0.98)]],
        [arc(0.48, 0.26, 0.36, 0.24, from: 150, to: -90), arc(0.48, 0.73, 0.42, 0.25, from: 90, to: -155)],
        [[(0.72, 0.98), (0.72, 0.02), (0.05, 0.68), (0.98, 0.68)]],
        [[(0.88, 0.02), (0.22, 0.02), (0.16, 0.46)] + arc(0.48, 0.68, 0.42, 0.3, from: 140, to: -150)],
        [[(0.78, 0.02), (0.4, 0.3), (0.12, 0.7)], arc(0.5, 0.7, 0.38, 0.28, from: 180, to: 540)],
        [[(0.05, 0.02), (0.95, 0.02), (0.4, 0.98)]],
        [arc(0.5, 0.25, 0.32, 0.23, from: 0, to: 360), arc(0.5, 0.73, 0.4, 0.25, from: 0, to: 360)],
        [arc(0.5, 0.3, 0.38, 0.28, from: 0, to: 360), [(0.88, 0.3), (0.55, 0.98)]],
    ]
}
