import Foundation

/// Rows of video frames side by side, for looking at next-frame prediction: for example the frames
/// a model saw ("input"), the frames that followed ("true future") and the model's ("predicted"),
/// each row's frames left to right.
///
/// Two renderings: ``svg()``, a labelled figure (a title, each row's label at its left, each
/// frame's step number above it) whose frames are embedded PNG images (``GrayImage``, drawn
/// pixelated, white digits on black as MNIST shows them), and ``image(gap:)``, the same frames as
/// one grayscale PNG without text.
///
/// ```swift
/// let strip = try FrameStrip(title: "moving digits", rows: [
///     ("input", input, 1), ("true future", future, 11), ("predicted", prediction, 11),
/// ], batchRow: 0)                                                 // each tensor [T, B, 1, H, W]
/// try strip.write(to: URL(fileURLWithPath: "frames.svg"))
/// try strip.image().write(to: URL(fileURLWithPath: "frames.png"))
/// ```
public struct FrameStrip: Sendable, Equatable {
    /// One row of frames.
    public struct Row: Sendable, Equatable {
        /// The label at the row's left.
        public var label: String
        /// The frames, left to right, each `height · width` values in [0, 1], row-major.
        public var frames: [[Float]]
        /// The step number shown above the first frame (the next frames count up from it).
        public var firstStep: Int

        /// A row of `frames` labelled `label`, numbered from `firstStep`.
        public init(label: String, frames: [[Float]], firstStep: Int = 1) {
            (self.label, self.frames, self.firstStep) = (label, frames, firstStep)
        }
    }

    /// The title above the rows; empty for none.
    public var title: String
    /// Pixels per frame row.
    public var frameWidth: Int
    /// Rows of pixels per frame.
    public var frameHeight: Int
    /// The rows, top to bottom.
    public var rows: [Row]

    /// The most frames drawn in all (4096).
    public static let maxFrames = 4096

    /// A strip of `rows`, each frame `frameHeight × frameWidth`.
    public init(title: String, frameWidth: Int, frameHeight: Int, rows: [Row]) {
        (self.title, self.frameWidth, self.frameHeight, self.rows) = (title, frameWidth, frameHeight, rows)
    }

    /// A strip of one batch row of each tensor: `(label, frames, firstStep)` with `frames`
    /// `[T, B, 1, H, W]` or `[T, B, H, W]` (every tensor with the same `H` and `W`).
    /// - Throws: ``RecurrentError/shapeMismatch(_:)`` for another rank, more than one channel,
    ///   frames of different sizes, or `batchRow` outside a tensor's batch.
    public init(title: String, rows: [(label: String, frames: Tensor, firstStep: Int)], batchRow: Int = 0) throws {
        var size: (height: Int, width: Int)?
        var strip: [Row] = []
        for (label, frames, firstStep) in rows {
            let s = frames.shape
            guard s.count == 5 && s[2] == 1 || s.count == 4 else {
                throw RecurrentError.shapeMismatch("FrameStrip: '\(label)' must be [T, B, 1, H, W] or [T, B, H, W], got \(s)")
            }
            let (T, B, H, W) = (s[0], s[1], s[s.count - 2], s[s.count - 1])
            guard (0..<B).contains(batchRow) else {
                throw RecurrentError.shapeMismatch("FrameStrip: batch row \(batchRow) is outside '\(label)' \(s) (batch \(B))")
            }
            if let size, size.height != H || size.width != W {
                throw RecurrentError.shapeMismatch("FrameStrip: '\(label)' has \(H)×\(W) frames, the rows above \(size.height)×\(size.width)")
            }
            size = (H, W)
            let values = frames.scalars, area = H * W
            strip.append(Row(label: label, frames: (0..<T).map { t in
                Array(values[((t * B + batchRow) * area)..<((t * B + batchRow + 1) * area)])
            }, firstStep: firstStep))
        }
        self.init(title: title, frameWidth: size?.width ?? 0, frameHeight: size?.height ?? 0, rows: strip)
    }

    private func validate() throws {
        func fail(_ problem: String) -> RecurrentError { .invalidValue("FrameStrip: \(problem)") }
        guard frameWidth > 0, frameHeight > 0, frameWidth <= 1024, frameHeight <= 1024 else {
            throw fail("frames must be 1 to 1024 pixels a side, got \(frameHeight)×\(frameWidth)")
        }
        guard !rows.isEmpty, rows.allSatisfy({ !$0.frames.isEmpty }) else { throw fail("no frames to draw (every row needs one)") }
        let total = rows.reduce(0) { $0 + $1.frames.count }
        guard total <= Self.maxFrames else { throw fail("\(total) frames are more than the limit of \(Self.maxFrames)") }
        for row in rows {
            for (t, frame) in row.frames.enumerated() {
                guard frame.count == frameWidth * frameHeight else {
                    throw fail("frame \(t) of '\(row.label)' has \(frame.count) values, not \(frameHeight)×\(frameWidth)")
                }
                if let bad = frame.firstIndex(where: { !$0.isFinite }) {
                    throw fail("frame \(t) of '\(row.label)' holds \(frame[bad]) at \(bad); every value must be finite")
                }
            }
        }
    }

    /// Every frame as one grayscale image: rows of frames `gap` pixels apart (mid-grey between them
    /// and around them), each row's frames left to right, the rows in order.
    /// - Throws: ``RecurrentError/invalidValue(_:)`` for no frames, frames of the wrong size, a
    ///   non-finite value, or more than ``maxFrames`` frames.
    public func image(gap: Int = 4) throws -> GrayImage {
        try validate()
        let gap = max(0, min(gap, 64))
        let columns = rows.map(\.frames.count).max()!
        let width = gap + columns * (frameWidth + gap), height = gap + rows.count * (frameHeight + gap)
        var pixels = [UInt8](repeating: 128, count: width * height)
        for (r, row) in rows.enumerated() {
            for (c, frame) in row.frames.enumerated() {
                let frameImage = GrayImage(width: frameWidth, height: frameHeight, values: frame)
                let (top, left) = (gap + r * (frameHeight + gap), gap + c * (frameWidth + gap))
                for y in 0..<frameHeight {
                    pixels.replaceSubrange(((top + y) * width + left)..<((top + y) * width + left + frameWidth),
                                           with: frameImage.pixels[(y * frameWidth)..<((y + 1) * frameWidth)])
                }
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    static let margin = 12.0, titleFont = 16.0, labelFont = 14.0, stepFont = 10.0, gap = 6.0

    /// The labelled figure as an SVG document: each frame an `<image>` (a PNG as a `data:` URI, in
    /// `<g class="frames">`, with `data-row` and `data-step`), labels in `<g class="row-labels">`,
    /// step numbers in `<g class="steps">`. Frames smaller than 64 px are drawn enlarged, by a whole
    /// factor, to at least 64 px.
    /// - Throws: What ``image(gap:)`` throws.
    public func svg() throws -> String {
        try validate()
        let zoom = Double(max(1, 64 / max(frameWidth, frameHeight)))
        let (w, h) = (Double(frameWidth) * zoom, Double(frameHeight) * zoom)
        let m = Self.margin, g = Self.gap
        let labelWidth = (rows.map { textWidth($0.label, size: Self.labelFont) }.max() ?? 0).rounded(.up)
        let left = m + labelWidth + 10
        let columns = rows.map(\.frames.count).max()!
        let top = (title.isEmpty ? m : m + Self.titleFont + 8).rounded(.up)
        let rowHeight = Self.stepFont + 4 + h + g
        let width = max(left + Double(columns) * (w + g) - g + m, 2 * m + textWidth(title, size: Self.titleFont)).rounded(.up)
        let height = (top + Double(rows.count) * rowHeight - g + m).rounded(.up)

        var doc = SVGDocument(width: width, height: height)
        if !title.isEmpty {
            doc.text(title, x: width / 2, y: m + Self.titleFont, size: Self.titleFont, anchor: "middle", bold: true, className: "title")
        }
        doc.open("g", ["class": "frames", "style": "image-rendering:pixelated"])
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * rowHeight + Self.stepFont + 4
            for (c, frame) in row.frames.enumerated() {
                let png = GrayImage(width: frameWidth, height: frameHeight, values: frame).pngData().base64EncodedString()
                doc.element("image", ["data-row": "\(r)", "data-step": "\(row.firstStep + c)", "x": svgNumber(left + Double(c) * (w + g)),
                                      "y": svgNumber(y), "width": svgNumber(w), "height": svgNumber(h),
                                      "preserveAspectRatio": "none", "href": "data:image/png;base64," + png])
            }
        }
        doc.close("g")
        doc.open("g", ["class": "row-labels", "font-size": svgNumber(Self.labelFont), "fill": "#222", "text-anchor": "end"])
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * rowHeight + Self.stepFont + 4 + h / 2 + 0.35 * Self.labelFont
            doc.element("text", ["x": svgNumber(left - 10), "y": svgNumber(y)], content: row.label)
        }
        doc.close("g")
        doc.open("g", ["class": "steps", "font-size": svgNumber(Self.stepFont), "fill": "#666", "text-anchor": "middle"])
        for (r, row) in rows.enumerated() {
            let y = top + Double(r) * rowHeight + Self.stepFont
            for c in row.frames.indices {
                doc.element("text", ["x": svgNumber(left + Double(c) * (w + g) + w / 2), "y": svgNumber(y)], content: "\(row.firstStep + c)")
            }
        }
        doc.close("g")
        return doc.text
    }

    /// Writes ``svg()`` to `url` atomically (see ``writeAtomically(_:to:)``).
    /// - Throws: What ``svg()`` throws, or ``FileFormatError`` when the file cannot be written.
    public func write(to url: URL) throws {
        try writeAtomically(Data(svg().utf8), to: url)
    }
}
