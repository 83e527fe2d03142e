import Foundation
import Testing
@testable import Recurrent

/// `recurrent tag train | label | segment` end to end through the binary, on small files the tests write.
@Suite(.serialized) struct TagCommandTests {
    /// Sentences of people, places and fillers with their entity tags, all drawn from a seed.
    static func corpus(_ count: Int, seed: UInt64) -> [TaggedSentence] {
        var g = SeededGenerator(seed: seed)
        let people = ["Alice", "Bob", "Carol", "Dave"], places = ["Paris", "London", "Berlin"], verbs = ["visited", "likes", "saw"]
        func pick(_ words: [String]) -> String { words[Int(g.next() % UInt64(words.count))] }
        return (0..<count).map { _ in
            var tokens = [pick(people), pick(verbs), g.next() % 2 == 0 ? pick(people) : pick(places)], tags = ["B-PER", "O", ""]
            tags[2] = people.contains(tokens[2]) ? "B-PER" : "B-LOC"
            if g.next() % 2 == 0 { tokens += ["today", "."]; tags += ["O", "O"] }
            if g.next() % 3 == 0 { tokens = ["Yesterday", ","] + tokens; tags = ["O", "O"] + tags }
            return TaggedSentence(tokens: tokens, tags: tags)
        }
    }

    static func write(_ dir: TemporaryDirectory) throws {
        try "-DOCSTART- -X- O\n\n".appending(try CoNLL.format(corpus(120, seed: 1))).write(to: dir.file("train.conll"), atomically: true, encoding: .utf8)
        try CoNLL.format(corpus(30, seed: 2)).write(to: dir.file("dev.conll"), atomically: true, encoding: .utf8)
    }

    static let small = ["--embedding-size", "8", "--char-embedding-size", "4", "--char-hidden-size", "4", "--hidden", "16",
                        "--batch-size", "8", "--lr", "0.01", "--seed", "3"]

    @Test func trainsReportsAndLabelsLikeTheLibrary() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.write(dir)
        let (json, stdout) = try ExampleCommands.runJSON(["tag", "train", "--train", dir.path("train.conll"), "--dev", dir.path("dev.conll"),
                                                          "--epochs", "4", "--output", dir.path("m.safetensors")] + Self.small)
        let losses = try #require(json["epoch_train_loss"] as? [Double]), dev = try #require(json["epoch_dev_loss"] as? [Double])
        #expect(losses.count == 4 && losses.last! < losses.first! / 2 && dev.last! < dev.first!, "losses fall: \(losses), \(dev)")
        #expect(try #require(ExampleCommands.number(json, "accuracy")) > 0.9, "\(stdout)")
        #expect(ExampleCommands.number(json, "span_f1") != nil && ExampleCommands.number(json, "macro_f1") != nil)
        let tags = try #require(json["tags"] as? [String: [String: Any]])
        #expect(Set(tags.keys) == ["B-LOC", "B-PER", "O"] && tags["O"]?["support"] as? Int != nil)
        #expect(stdout.contains("tag        precision  recall      f1  support") && stdout.contains("dev: token accuracy"))
        #expect(try ExampleCommands.seriesNames(inSVG: dir.file("tag-loss.svg")) == ["training (moving average)", "dev"])

        // `label` prints token/TAG as the library predicts them, unknown words included; empty lines stay; \r\n ends a line too.
        let lines = ["Alice saw Berlin today .", "", "Zed visited\tParis", "Carol"]
        try (lines.joined(separator: "\r\n") + "\n").write(to: dir.file("input.txt"), atomically: true, encoding: .utf8)
        let label = try CommandRunner.run(["tag", "label", dir.path("m.safetensors"), "--input", dir.path("input.txt")])
        #expect(label.status == 0, "\(label.stderr)")
        let model = try SequenceTagger.load(from: dir.file("m.safetensors"))
        let sentences = lines.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        let nonEmpty = sentences.filter { !$0.isEmpty }
        let predicted = try model.predict(nonEmpty)
        var expected = zip(nonEmpty, predicted).map { zip($0, $1).map { "\($0)/\($1)" }.joined(separator: " ") }
        expected.insert("", at: 1)
        #expect(label.stdout == expected.joined(separator: "\n") + "\n")
        #expect(label.stdout.hasPrefix("Alice/B-PER saw/O Berlin/B-LOC"), "\(label.stdout)")
    }

    @Test func sameSeedSameModelWithoutDev() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.write(dir)
        for name in ["a", "b"] {
            let (json, stdout) = try ExampleCommands.runJSON(["tag", "train", "--train", dir.path("train.conll"), "--epochs", "1",
                                                              "--char-embedding-size", "0", "--hidden", "16", "--batch-size", "8", "--seed", "3",
                                                              "--output", dir.path("\(name).safetensors")])
            #expect(json["epoch_dev_loss"] == nil && stdout.contains("training data: token accuracy"))
        }
        #expect(try Data(contentsOf: dir.file("a.safetensors")) == Data(contentsOf: dir.file("b.safetensors")))
        #expect(try SequenceTagger.load(from: dir.file("a.safetensors")).characters == nil)
    }

    /// A small repetitive text: the model learns where its words start.
    @Test func segmentsAText() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var g = SeededGenerator(seed: 4)
        let words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it"]
        let text = (0..<150).map { _ in (0..<(3 + Int(g.next() % 5))).map { _ in words[Int(g.next() % UInt64(words.count))] }.joined(separator: " ") }
        try text.joined(separator: "\n").write(to: dir.file("text.txt"), atomically: true, encoding: .utf8)
        let (json, stdout) = try ExampleCommands.runJSON(["tag", "segment", "--text", dir.path("text.txt"), "--epochs", "6", "--hidden", "24",
                                                          "--embedding-size", "8", "--batch-size", "8", "--lr", "0.02", "--validation-fraction", "0.1",
                                                          "--show", "2", "--output", dir.path("seg.safetensors")])
        let losses = try #require(json["epoch_train_loss"] as? [Double])
        #expect(losses.last! < losses.first! / 2, "\(losses)")
        #expect(try #require(ExampleCommands.number(json, "accuracy")) > 0.9, "\(stdout)")
        #expect(try #require(ExampleCommands.number(json, "span_f1")) > 0.7, "word F1: \(stdout)")
        #expect(json["held_out_sentences"] as? Int == 15 && json["training_sentences"] as? Int == 135)
        let shown = stdout.components(separatedBy: "\n").filter { $0.hasPrefix("  → ") }
        #expect(shown.count == 2 && shown[0].dropFirst(4).replacingOccurrences(of: " ", with: "") == text[135].replacingOccurrences(of: " ", with: ""))
        // The model labels characters given one per token.
        try "t h e c a t\n".write(to: dir.file("chars.txt"), atomically: true, encoding: .utf8)
        let label = try CommandRunner.run(["tag", "label", dir.path("seg.safetensors"), "--input", dir.path("chars.txt")])
        #expect(label.status == 0 && label.stdout.hasPrefix("t/B h/"), "\(label.stdout) \(label.stderr)")
    }

    @Test func badInputIsOneLineAndWritesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.write(dir)
        try "a O\nb\n".write(to: dir.file("notag.conll"), atomically: true, encoding: .utf8)
        try "x B-NEW\n".write(to: dir.file("newtag.conll"), atomically: true, encoding: .utf8)
        try "one line only\n".write(to: dir.file("short.txt"), atomically: true, encoding: .utf8)
        try Data([0x61, 0xFF]).write(to: dir.file("binary.txt"))
        try ("a b\n" + String(repeating: "x ", count: 40_000)).write(to: dir.file("long.txt"), atomically: true, encoding: .utf8)
        let other = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, headPrefix: "head.", headOutputSize: 2))
        try other.save(to: dir.file("other.safetensors"))
        try TagTests.tagger().save(to: dir.file("tagger.safetensors"))
        try "".write(to: dir.file("empty.txt"), atomically: true, encoding: .utf8)
        let keep: Set<String> = ["train.conll", "dev.conll", "notag.conll", "newtag.conll", "short.txt", "binary.txt", "long.txt", "empty.txt",
                                 "other.safetensors", "tagger.safetensors"]
        let train = ["tag", "train", "--train", dir.path("train.conll"), "--output", dir.path("m.safetensors")]
        for (extra, fragment) in [(["--hidden", "0"], "--hidden-size must be between 1 and 16384, got 0"), (["--epochs", "0"], "--epochs"),
                                  (["--lr", "nan"], "--lr must be a finite number > 0"), (["--batch-size", "-1"], "--batch-size"),
                                  (["--dropout", "1"], "--dropout"), (["--min-count", "0"], "--min-count"), (["--char-embedding-size", "-1"], "--char-embedding-size"),
                                  (["--threads", "0"], "--threads"), (["--dev", dir.path("notag.conll")], "notag.conll: line 2: the token 'b' has no tag"),
                                  (["--dev", dir.path("newtag.conll")], "sentence 1 has the tag 'B-NEW'"), (["--dev", dir.path("binary.txt")], "not valid UTF-8")] {
            try ExampleCommands.expectFailure(train + extra, fragment, in: dir, keep: keep)
        }
        for (arguments, fragment) in [
            (["tag", "train", "--train", dir.path("train.conll"), "--output", dir.path("m.npy")], "--output must end in .safetensors"),
            (["tag", "train", "--train", dir.path("notag.conll"), "--output", dir.path("m.safetensors")], "line 2"),
            (["tag", "train", "--train", dir.path("missing.conll"), "--output", dir.path("m.safetensors")], "cannot read"),
            (["tag", "train", "--train", dir.path("other.safetensors"), "--output", dir.path("other.safetensors")], "would overwrite the input"),
            (["tag", "segment", "--output", dir.path("s.safetensors")], "give either --text FILE or --bible"),
            (["tag", "segment", "--text", dir.path("short.txt"), "--bible", "--output", dir.path("s.safetensors")], "give either --text FILE or --bible"),
            (["tag", "segment", "--text", dir.path("short.txt"), "--output", dir.path("s.safetensors")], "too few to hold out"),
            (["tag", "segment", "--text", dir.path("binary.txt"), "--output", dir.path("s.safetensors")], "not valid UTF-8"),
            (["tag", "segment", "--text", dir.path("short.txt"), "--validation-fraction", "0.7"], "--validation-fraction"),
            (["tag", "segment", "--text", dir.path("short.txt"), "--max-length", "0"], "--max-length"),
            (["tag", "label", dir.path("other.safetensors"), "--input", dir.path("short.txt")], "not a tagger written by `recurrent tag`"),
            (["tag", "label", dir.path("missing.safetensors"), "--input", dir.path("short.txt")], "cannot read"),
            (["tag", "label", dir.path("newtag.conll"), "--input", dir.path("short.txt")], "newtag.conll"),
            (["tag", "label", dir.path("tagger.safetensors"), "--input", dir.path("long.txt")], "long.txt: line 2 is 80000 bytes long"),
            (["tag", "label", dir.path("tagger.safetensors"), "--input", dir.path("empty.txt")], "empty"),
            (["tag", "label", dir.path("tagger.safetensors"), "--input", dir.path("binary.txt")], "not valid UTF-8"),
        ] {
            try ExampleCommands.expectFailure(arguments, fragment, in: dir, keep: keep)
        }
    }
}
