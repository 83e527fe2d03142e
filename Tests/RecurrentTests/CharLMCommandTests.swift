import Foundation
import Testing
@testable import Recurrent

/// `recurrent charlm train | sample` end to end on a short text with multibyte characters.
@Suite(.serialized) struct CharLMCommandTests {
    /// A repetitive text mixing ASCII, accented Latin, CJK and an emoji (a non-BMP scalar).
    static let text = String(repeating: "héllo wörld, 你好世界 🙂 the cat sat on the mat.\n", count: 60)

    func train(_ dir: TemporaryDirectory, _ extra: [String] = []) throws -> (json: [String: Any], stdout: String) {
        try ExampleCommands.runJSON(["charlm", "train", "--text", dir.path("text.txt"), "--window", "10", "--batch-size", "8",
                                     "--embedding-size", "8", "--hidden-size", "32", "--epochs", "4", "--lr", "0.01", "--seed", "5",
                                     "--output", dir.path("lm.safetensors")] + extra)
    }

    @Test(arguments: [[], ["--carry-state"], ["--embedding-size", "0", "--cell", "gru"]])
    func trainsReportsBitsPerCharacterAndSamples(_ variant: [String]) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.text.write(to: dir.file("text.txt"), atomically: true, encoding: .utf8)
        let (json, _) = try train(dir, variant)
        let bits = try #require(json["epoch_val_bits_per_char"] as? [Double])
        #expect(bits.count == 4 && bits.last! < bits.first!, "validation bits per character fall: \(bits)")
        #expect(try #require(ExampleCommands.number(json, "chars_per_second")) > 0)
        #expect(json["vocabulary_size"] as? Int == Set(Self.text.unicodeScalars).count)
        #expect(try ExampleCommands.seriesNames(inSVG: dir.file("charlm-loss.svg")) == ["training (moving average)", "validation"])
        try ExampleCommands.renders(dir.file("charlm-loss.svg"))

        // Sampling: the prime comes back first, every character is from the text, the seed decides.
        let arguments = ["charlm", "sample", "--model", dir.path("lm.safetensors"), "--prime", "你好", "--length", "40", "--seed", "2"]
        let a = try CommandRunner.run(arguments), b = try CommandRunner.run(arguments)
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout && a.stdout.hasPrefix("你好"))
        let sample = a.stdout.unicodeScalars.dropLast()  // print's newline
        #expect(sample.count == 42 && sample.allSatisfy { Self.text.unicodeScalars.contains($0) }, "\(a.stdout)")
        let greedy = try CommandRunner.run(["charlm", "sample", "--model", dir.path("lm.safetensors"), "--prime", "the c", "--length", "5",
                                            "--temperature", "0"])
        #expect(greedy.status == 0 && greedy.stdout.hasPrefix("the c"), "\(greedy.stderr)")
    }

    /// Resuming continues from the saved weights with the saved vocabulary.
    @Test func resumesFromACheckpoint() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.text.write(to: dir.file("text.txt"), atomically: true, encoding: .utf8)
        let first = try train(dir)
        let firstBits = try #require(first.json["val_bits_per_char"] as? Double)
        let resumed = try ExampleCommands.runJSON(["charlm", "train", "--text", dir.path("text.txt"), "--window", "10", "--batch-size", "8",
                                                   "--epochs", "1", "--lr", "0.01", "--resume", dir.path("lm.safetensors"),
                                                   "--output", dir.path("lm2.safetensors")])
        #expect(try #require(resumed.json["epoch_val_bits_per_char"] as? [Double]).first! < firstBits + 0.5,
                "the resumed model starts where the first left off, not from scratch")
        let model = try RecurrentModel.load(from: dir.file("lm2.safetensors"))
        #expect(model.architecture.hiddenSize == 32, "the resumed model keeps its sizes")
    }

    @Test func badInputIsOneLineAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "".write(to: dir.file("empty.txt"), atomically: true, encoding: .utf8)
        try String(repeating: "a", count: 500).write(to: dir.file("one.txt"), atomically: true, encoding: .utf8)
        try Data([0x61, 0x62, 0xFF, 0x63]).write(to: dir.file("binary.txt"))
        try "short".write(to: dir.file("short.txt"), atomically: true, encoding: .utf8)
        var keep: Set<String> = ["empty.txt", "one.txt", "binary.txt", "short.txt"]
        for (file, fragment) in [("empty.txt", "empty"), ("one.txt", "1 distinct character"), ("binary.txt", "UTF-8"), ("short.txt", "too few")] {
            try ExampleCommands.expectFailure(["charlm", "train", "--text", dir.path(file), "--output", dir.path("lm.safetensors")],
                                              fragment, in: dir, keep: keep)
        }
        // A model of another kind, and a prime with a character the model has never seen.
        try Self.text.write(to: dir.file("text.txt"), atomically: true, encoding: .utf8)
        _ = try train(dir, ["--epochs", "1"])
        keep.formUnion(["text.txt", "lm.safetensors", "charlm-loss.svg"])
        let other = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, headPrefix: "head.", headOutputSize: 2))
        try other.save(to: dir.file("other.safetensors"))
        keep.insert("other.safetensors")
        try ExampleCommands.expectFailure(["charlm", "sample", "--model", dir.path("other.safetensors")], "not a character language model",
                                          in: dir, keep: keep)
        try ExampleCommands.expectFailure(["charlm", "sample", "--model", dir.path("lm.safetensors"), "--prime", "héllo Zebra"],
                                          "Z", in: dir, keep: keep)
    }
}
