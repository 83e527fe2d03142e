import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Recurrent

/// A PNG reader for tests, written from the specification: the signature, every chunk's CRC-32,
/// IHDR, the IDAT data as a zlib stream (header, deflate through the library's `Inflater`, and an
/// Adler-32 computed here), and each row's filter byte.
struct DecodedPNG {
    var width = 0, height = 0, pixels: [UInt8] = []

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> RecurrentError { .invalidValue("PNG: \(message)") }
        func u32(_ p: Int) -> Int { Int(bytes[p]) << 24 | Int(bytes[p + 1]) << 16 | Int(bytes[p + 2]) << 8 | Int(bytes[p + 3]) }
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw fail("no signature") }
        var p = 8, idat: [UInt8] = [], types: [String] = []
        while p + 12 <= bytes.count {
            let length = u32(p), type = String(decoding: bytes[(p + 4)..<(p + 8)], as: UTF8.self)
            guard p + 12 + length <= bytes.count else { throw fail("chunk \(type) is truncated") }
            let crc = Array(bytes[(p + 4)..<(p + 8 + length)]).withUnsafeBytes { crc32($0) }
            guard UInt32(u32(p + 8 + length)) == crc else { throw fail("chunk \(type): bad CRC") }
            let body = Array(bytes[(p + 8)..<(p + 8 + length)])
            if type == "IHDR" {
                (width, height) = (u32(p + 8), u32(p + 12))
                guard body[8...] == [8, 0, 0, 0, 0] else { throw fail("not 8-bit grayscale: \(body[8...])") }
            }
            if type == "IDAT" { idat += body }
            types.append(type)
            p += 12 + length
        }
        guard p == bytes.count, types.first == "IHDR", types.last == "IEND" else { throw fail("chunks \(types), \(bytes.count - p) bytes left") }
        guard idat.count >= 6, idat[0] == 0x78, (Int(idat[0]) << 8 | Int(idat[1])) % 31 == 0 else { throw fail("bad zlib header") }
        let raw: [UInt8] = try idat.withUnsafeBufferPointer { input in
            let out = try OutputBuffer(capacity: 1024)
            var inflater = Inflater(input, from: 2, member: 1)
            try inflater.inflate(into: out)
            guard inflater.position == input.count - 4 else { throw fail("\(input.count - 4 - inflater.position) bytes between deflate and Adler-32") }
            return [UInt8](out.take())
        }
        var a = 1, b = 0
        for v in raw { a = (a + Int(v)) % 65521; b = (b + a) % 65521 }
        let stored = idat.suffix(4).reduce(0) { $0 << 8 | Int($1) }
        guard stored == b << 16 | a else { throw fail("bad Adler-32") }
        guard raw.count == height * (width + 1) else { throw fail("\(raw.count) bytes for \(height) rows of \(width)") }
        for r in 0..<height {
            guard raw[r * (width + 1)] == 0 else { throw fail("row \(r) has filter \(raw[r * (width + 1)])") }
            pixels += raw[(r * (width + 1) + 1)..<((r + 1) * (width + 1))]
        }
    }
}

/// The PNG writer (decoded again here, and by `rsvg-convert` inside an SVG where it is installed)
/// and the frame-strip figure.
@Suite struct FrameStripTests {
    static let images: [(String, GrayImage)] = {
        var generator = SeededGenerator(seed: 4)
        let noise = (0..<(37 * 23)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let digits = MovingDigits.builtInDigits(count: 3, seed: 0)
        return [
            ("one pixel", GrayImage(width: 1, height: 1, pixels: [200])),
            ("black", GrayImage(width: 64, height: 64, pixels: [UInt8](repeating: 0, count: 4096))),
            ("noise", GrayImage(width: 37, height: 23, pixels: noise)),
            ("digits", GrayImage(width: 28, height: 84, pixels: digits.pixels)),
            ("long runs", GrayImage(width: 300, height: 200, pixels: (0..<60000).map { UInt8($0 / 1000 % 3 * 100) })),
        ]
    }()

    @Test(arguments: images.indices)
    func pngDecodesToThePixels(_ k: Int) throws {
        let (name, image) = Self.images[k]
        let png = try DecodedPNG(image.pngData())
        #expect(png.width == image.width && png.height == image.height, "\(name)")
        #expect(png.pixels == image.pixels, "\(name)")
    }

    @Test func repeatsCompress() {
        let black = Self.images[1].1.pngData().count, noise = Self.images[2].1.pngData().count
        #expect(black < 200, "64×64 zeros in \(black) bytes")
        #expect(noise < 37 * 24 * 9 / 8 + 100, "noise costs at most 9 bits a byte")
    }

    @Test func valuesAreClampedAndRounded() {
        let image = GrayImage(width: 5, height: 1, values: [-1, 0.5, 1, 7, .nan])
        #expect(image.pixels == [0, 128, 255, 255, 0])
    }

    func strip() throws -> FrameStrip {
        // [T, B, 1, 4, 4]: frame t of batch row b filled with (t + 1) / 10 + b / 100.
        func frames(_ T: Int) -> Tensor {
            let values = (0..<(T * 2 * 16)).map { (i: Int) -> Float in
                let (t, b) = (i / 32, i / 16 % 2)
                return Float(t + 1) / 10 + Float(b) / 100
            }
            return Tensor(shape: [T, 2, 1, 4, 4], scalars: values)
        }
        return try FrameStrip(title: "moving <digits>", rows: [("input", frames(3), 1), ("true future", frames(2), 4),
                                                               ("predicted", frames(2), 4)], batchRow: 1)
    }

    @Test func stripKeepsOneBatchRowOfEachTensor() throws {
        let s = try strip()
        #expect(s.frameWidth == 4 && s.frameHeight == 4 && s.rows.map(\.label) == ["input", "true future", "predicted"])
        #expect(s.rows[0].frames.count == 3 && s.rows[1].firstStep == 4)
        #expect(s.rows[0].frames[2] == [Float](repeating: Float(3) / 10 + Float(1) / 100, count: 16))
    }

    /// The one-image rendering: frames in a grid `gap` px apart on mid-grey.
    @Test func stripImageIsAGridOfFrames() throws {
        let image = try strip().image(gap: 2)
        #expect(image.width == 2 + 3 * 6 && image.height == 2 + 3 * 6)
        let png = try DecodedPNG(image.pngData())
        #expect(png.pixels == image.pixels)
        func pixel(_ x: Int, _ y: Int) -> UInt8 { image.pixels[y * image.width + x] }
        #expect(pixel(0, 0) == 128 && pixel(2, 2) == UInt8((0.11 * 255).rounded()) && pixel(2 + 2 * 6, 2) == UInt8((0.31 * 255).rounded()))
        #expect(pixel(2 + 2 * 6, 2 + 6) == 128, "the future rows have two frames: the third place is empty")
    }

    @Test func stripSVGEmbedsEachFrameWithLabels() throws {
        let text = try strip().svg()
        let svg = try ParsedSVG(text)
        let images = svg.elements("image")
        #expect(images.count == 7)
        #expect(images.map { $0.value("data-step")! } == ["1", "2", "3", "4", "5", "4", "5"])
        #expect(svg.texts(inGroup: "row-labels") == ["input", "true future", "predicted"] && svg.text("title") == "moving <digits>")
        #expect(images[0].value("width") == "64", "4-px frames drawn 16 times larger")
        let href = try #require(images[2].value("href"))
        #expect(href.hasPrefix("data:image/png;base64,"))
        let png = try DecodedPNG(try #require(Data(base64Encoded: String(href.dropFirst("data:image/png;base64,".count)))))
        #expect(png.width == 4 && png.pixels == [UInt8](repeating: UInt8((0.31 * 255).rounded()), count: 16))

        // Where rsvg-convert is installed, it renders the figure (the embedded PNGs included).
        guard let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: FileManager.default.isExecutableFile) else { return }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data(text.utf8).write(to: dir.file("strip.svg"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: rsvg)
        process.arguments = ["-o", dir.path("strip.png"), dir.path("strip.svg")]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && FileManager.default.fileExists(atPath: dir.path("strip.png")))
    }

    @Test func badStripsAreOneLineErrors() throws {
        let frames = Tensor.zeros([2, 1, 1, 4, 4])
        let cases: [(String, () throws -> Any)] = [
            ("must be [T, B, 1, H, W] or [T, B, H, W], got [2, 1, 2, 4, 4]", { try FrameStrip(title: "", rows: [("a", Tensor.zeros([2, 1, 2, 4, 4]), 1)]) }),
            ("batch row 1 is outside", { try FrameStrip(title: "", rows: [("a", frames, 1)], batchRow: 1) }),
            ("'b' has 4×5 frames, the rows above 4×4", { try FrameStrip(title: "", rows: [("a", frames, 1), ("b", Tensor.zeros([2, 1, 4, 5]), 1)]) }),
            ("no frames to draw", { try FrameStrip(title: "", frameWidth: 4, frameHeight: 4, rows: []).svg() }),
            ("frame 0 of 'x' holds nan", { try FrameStrip(title: "", frameWidth: 1, frameHeight: 1, rows: [.init(label: "x", frames: [[.nan]])]).image() }),
            ("frame 0 of 'x' has 2 values, not 1×1", { try FrameStrip(title: "", frameWidth: 1, frameHeight: 1, rows: [.init(label: "x", frames: [[0, 0]])]).svg() }),
        ]
        for (message, make) in cases {
            #expect { _ = try make() } throws: { "\($0)".contains(message) && !"\($0)".contains("\n") }
        }
    }

    /// Written atomically: a failed write leaves what was there.
    @Test func writesAtomically() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("frames.svg")
        try strip().write(to: url)
        let before = try Data(contentsOf: url)
        #expect(throws: (any Error).self) { try FrameStrip(title: "", frameWidth: 4, frameHeight: 4, rows: []).write(to: url) }
        #expect(try Data(contentsOf: url) == before && dir.contents == ["frames.svg"])
        try strip().image().write(to: dir.file("frames.png"))
        #expect(try DecodedPNG(Data(contentsOf: dir.file("frames.png"))).pixels == strip().image().pixels)
    }
}
