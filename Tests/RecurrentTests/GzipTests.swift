import Foundation
import Testing
@testable import Recurrent

/// `payload(n)` of `Tools/make_data_fixtures.py`, line for line: what every fixture decompresses to.
func fixturePayload(_ n: Int, seed: UInt64 = 1) -> [UInt8] {
    let words = ["the ", "recurrent ", "network ", "gate ", "hidden ", "state ", "LSTM ", "GRU ", "\n", "sequence "].map { Array($0.utf8) }
    var x = seed, out: [UInt8] = []
    func step() -> UInt64 {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        return x >> 33
    }
    while out.count < n {
        let r = step(), kind = r & 7
        if kind < 4 {
            out += words[Int((r >> 3) % 10)]
        } else if kind == 4 {
            out += repeatElement(UInt8(r >> 3 & 0xFF), count: Int(1 + (r >> 11) % 300))
        } else if kind == 5 {
            for _ in 0..<12 { out.append(UInt8(truncatingIfNeeded: step() >> 23)) }
        } else if kind == 6 && !out.isEmpty {
            let distance = 1 + Int((r >> 3) % UInt64(min(out.count, 32768)))
            for _ in 0..<(3 + Int((r >> 18) % 256)) { out.append(out[out.count - distance]) }
        } else {
            out += Array("循环网络 ".utf8)
        }
    }
    return Array(out.prefix(n))
}

private func gzipFixture(_ name: String) throws -> Data {
    try Data(contentsOf: Fixtures.root.appendingPathComponent("data/gzip/\(name)"))
}

let systemGzip = ["/usr/bin/gzip", "/bin/gzip"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs `gzip arguments…` on `input`, returning what it writes.
func runGzip(_ arguments: [String], input: Data) throws -> Data {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    try input.write(to: dir.file("in"))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: systemGzip ?? "gzip")
    process.arguments = arguments + [dir.path("in")]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return data
}

@Suite struct GzipTests {
    /// Files written by Python's gzip and zlib modules and by the system gzip (Tools/make_data_fixtures.py).
    @Test(arguments: ["python_level0_40000.gz", "python_level1_40000.gz", "python_level6_40000.gz", "python_level9_40000.gz",
                      "python_empty_0.gz", "zlib_fixed_40000.gz", "zlib_huffman_only_40000.gz", "zlib_rle_40000.gz",
                      "zlib_window512_40000.gz", "zlib_sync_flush_40000.gz", "multi_member_40000.gz",
                      "gzip_cli_1_40000.gz", "gzip_cli_9_40000.gz"])
    func decompressesFilesWrittenByPythonAndGzip(_ name: String) throws {
        let n = Int(name.dropLast(3).split(separator: "_").last!)!
        let data = try gzipFixture(name)
        #expect(Gzip.isGzip(data))
        #expect(Array(try Gzip.decompress(data)) == fixturePayload(n))
        #expect(Array(try Gzip.decompress((Data([7]) + data).dropFirst())) == fixturePayload(n), "a slice not starting at 0")
    }

    /// The system gzip at every level, on the fixture payload and on random bytes (stored blocks).
    @Test(.enabled(if: systemGzip != nil), arguments: 1...9)
    func matchesTheSystemGzip(_ level: Int) throws {
        var g = SeededGenerator(seed: UInt64(level))
        let random = (0..<70_000).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        for original in [fixturePayload(100_000, seed: UInt64(level)), random, [], [42]] {
            let compressed = try runGzip(["-\(level)", "-c"], input: Data(original))
            #expect(Array(try Gzip.decompress(compressed)) == original, "\(original.count) bytes at level \(level)")
        }
    }

    @Test func emptyInputAndMagic() throws {
        #expect(try Gzip.decompress(try gzipFixture("python_empty_0.gz")).isEmpty)
        #expect(throws: FileFormatError("not gzip data: it is empty")) { _ = try Gzip.decompress(Data()) }
        #expect(!Gzip.isGzip(Data()) && !Gzip.isGzip(Data([0x1F])) && !Gzip.isGzip(Data([0x1F, 0x8C])))
        #expect(Gzip.isGzip(Data([0x1F, 0x8B])) && Gzip.isGzip(Data([0, 0x1F, 0x8B]).dropFirst()))
    }

    /// Codes of up to 15 bits go through the second-level tables; this block uses every length
    /// from 1 to 15 in both alphabets, and distances up to 32768 with the smallest and largest extra bits.
    @Test func decodesCodesOfEveryLength() throws {
        var literalLengths = [Int](repeating: 0, count: 286), distanceLengths = [Int](repeating: 0, count: 30)
        let literalSymbols = [97, 256, 98, 257, 285, 99, 0, 255, 258, 270, 284, 100, 101, 264, 265, 102]
        let distanceSymbols = [0, 29, 1, 3, 4, 9, 10, 15, 20, 21, 25, 26, 27, 28, 2, 5]
        for (i, s) in literalSymbols.enumerated() { literalLengths[s] = min(i + 1, 15) }  // 1, 2, …, 14, 15, 15: complete
        for (i, s) in distanceSymbols.enumerated() { distanceLengths[s] = min(i + 1, 15) }
        var symbols: [DeflateWriter.Symbol] = [.literal(97)] + Array(repeating: .match(length: 258, distance: 1), count: 130)
        for b: UInt8 in [97, 98, 99, 0, 255, 100, 101, 102] { symbols.append(.literal(b)) }
        let lengths = [3, 4, 11, 12, 23, 26, 227, 257, 258, 10, 11]
        for (k, ds) in distanceSymbols.enumerated() {
            let base = DeflateWriter.distanceBases[ds], extraBits = max(0, ds / 2 - 1)
            symbols.append(.match(length: lengths[k % lengths.count], distance: base))
            symbols.append(.match(length: lengths[(k + 3) % lengths.count], distance: base + (1 << extraBits) - 1))
        }
        symbols.append(.end)
        var w = DeflateWriter()
        w.dynamicBlock(literalLengths: literalLengths, distanceLengths: distanceLengths, symbols, final: true)
        let expected = DeflateWriter.expand(symbols)
        #expect(expected.count > 33_000)
        #expect(Array(try Gzip.decompress(gzipMember(w.finished, content: expected))) == expected)
    }

    /// Like zlib, a code with a single symbol of length 1 is accepted (and its unused code refused),
    /// and a block may have no distance codes at all.
    @Test func acceptsOneSymbolCodesAndNoDistanceCodes() throws {
        var literal = [Int](repeating: 0, count: 257)
        literal[256] = 1
        var w = DeflateWriter()
        w.dynamicBlock(literalLengths: literal, distanceLengths: [0], [.end], final: true)
        #expect(try Gzip.decompress(gzipMember(w.finished, content: [])).isEmpty, "only end-of-block, no distances")

        literal = [Int](repeating: 0, count: 258)
        (literal[65], literal[256], literal[257]) = (1, 2, 2)
        let symbols: [DeflateWriter.Symbol] = [.literal(65), .match(length: 3, distance: 1), .literal(65), .end]
        w = DeflateWriter()
        w.dynamicBlock(literalLengths: literal, distanceLengths: [1], symbols, final: true)
        #expect(Array(try Gzip.decompress(gzipMember(w.finished, content: Array("AAAAA".utf8)))) == Array("AAAAA".utf8))
    }

    /// Every proper prefix of a valid file is truncated and must say so.
    @Test func everyTruncationThrows() throws {
        let data = try gzipFixture("python_level9_40000.gz")
        for n in 0..<data.count {
            #expect(throws: FileFormatError.self, "prefix of \(n) bytes") { _ = try Gzip.decompress(data.prefix(n)) }
        }
    }

    /// Replacing single bytes anywhere either is caught (FileFormatError) or, in header fields
    /// such as the time stamp, leaves the content as it was: never a trap, a hang or wrong data.
    @Test func corruptedBytesAreCaught() throws {
        let data = try gzipFixture("python_level6_40000.gz"), expected = fixturePayload(40000)
        var g = SeededGenerator(seed: 7)
        var caught = 0
        for _ in 0..<400 {
            var corrupt = data
            let i = Int(g.next() % UInt64(data.count))
            corrupt[i] ^= UInt8(truncatingIfNeeded: g.next() % 255 + 1)
            do {
                #expect(Array(try Gzip.decompress(corrupt)) == expected, "byte \(i) changed")
            } catch is FileFormatError {
                caught += 1
            }
        }
        #expect(caught > 350)
    }
}
