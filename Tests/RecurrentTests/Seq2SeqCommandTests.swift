import Foundation
import Testing
@testable import Recurrent

/// `recurrent seq2seq train | translate` end to end through the binary.
@Suite(.serialized) struct Seq2SeqCommandTests {
    /// 300 pairs of the reversal task: a word of 2 to 4 letters from "abcd" and the word backwards.
    static let pairs: String = {
        var generator = SeededGenerator(seed: 11), lines: [String] = []
        for _ in 0..<300 {
            let word = String((0..<(2 + Int(generator.next() % 3))).map { _ in Array("abcd")[Int(generator.next() % 4)] })
            lines.append("\(word)\t\(String(word.reversed()))")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    func train(_ dir: TemporaryDirectory, output: String = "m.safetensors", _ extra: [String] = []) throws -> (json: [String: Any], stdout: String) {
        try ExampleCommands.runJSON(["seq2seq", "train", "--data", dir.path("pairs.tsv"), "--hidden", "32", "--embedding-size", "8",
                                     "--batch-size", "16", "--lr", "0.01", "--seed", "4", "--output", dir.path(output)] + extra)
    }

    @Test func trainsOnAFileAndTranslatesAsTheLibraryDoes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.pairs.write(to: dir.file("pairs.tsv"), atomically: true, encoding: .utf8)
        let (json, stdout) = try train(dir, ["--epochs", "12", "--bidirectional"])
        let validation = try #require(json["epoch_val_loss"] as? [Double]), training = try #require(json["epoch_train_loss"] as? [Double])
        #expect(validation.count == 12 && validation.last! < 0.5 * validation.first!, "held-out loss falls: \(validation)")
        #expect(training.last! < 0.5 * training.first!, "training loss falls: \(training)")
        #expect(json["train_pairs"] as? Int == 270 && json["held_out_pairs"] as? Int == 30 && json["beam_width"] as? Int == 3)
        for key in ["greedy_exact_match", "beam_exact_match"] {
            #expect((0...1).contains(try #require(ExampleCommands.number(json, key))), "\(key)")
        }
        #expect(try #require(ExampleCommands.number(json, "greedy_cer")) < 0.5, "the reversal is mostly learnt: \(json)")
        #expect(stdout.contains("held-out examples:") && stdout.contains("beam 3"))
        #expect(try ExampleCommands.seriesNames(inSVG: dir.file("seq2seq-loss.svg")) == ["training (moving average)", "held out"])
        try ExampleCommands.renders(dir.file("seq2seq-loss.svg"))

        // The binary's translations are the library's, for --text and --input, greedy and beam.
        let model = try Seq2SeqModel.load(from: dir.file("m.safetensors"))
        let texts = ["abc", "dcba", "ab", "cad", "bbbb"]
        try (texts.joined(separator: "\r\n") + "\r\n").write(to: dir.file("in.txt"), atomically: true, encoding: .utf8)
        for beam in [1, 3] {
            let run = try CommandRunner.run(["seq2seq", "translate", dir.path("m.safetensors"), "--input", dir.path("in.txt"), "--beam", "\(beam)"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == (try model.translate(texts, beamWidth: beam)).map { $0 + "\n" }.joined())
            let one = try CommandRunner.run(["seq2seq", "translate", dir.path("m.safetensors"), "--text", "dcba", "--beam", "\(beam)"])
            #expect(one.stdout == (try model.translate(["dcba"], beamWidth: beam))[0] + "\n", "\(one.stderr)")
        }
    }

    @Test func theSameSeedWritesTheSameModel() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.pairs.write(to: dir.file("pairs.tsv"), atomically: true, encoding: .utf8)
        _ = try train(dir, output: "a.safetensors", ["--epochs", "2", "--cell", "gru", "--layers", "2"])
        _ = try train(dir, output: "b.safetensors", ["--epochs", "2", "--cell", "gru", "--layers", "2"])
        #expect(try Data(contentsOf: dir.file("a.safetensors")) == Data(contentsOf: dir.file("b.safetensors")))
    }

    /// Without --data the addition task is generated; --task words needs no data either.
    @Test(arguments: [(["--pairs", "300", "--reverse-source"], 300), (["--task", "addition", "--pairs", "200"], 200), (["--task", "words"], 1000)])
    func generatedTasksNeedNoData(_ task: [String], _ count: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (json, stdout) = try ExampleCommands.runJSON(["seq2seq", "train", "--epochs", "1", "--hidden", "8", "--embedding-size", "4",
                                                          "--beam", "2", "--output", dir.path("t.safetensors")] + task)
        #expect(json["pairs"] as? Int == count, "\(stdout)")
        #expect(stdout.hasPrefix(task.contains("words") ? "number words task" : "addition task"))
        let model = try Seq2SeqModel.load(from: dir.file("t.safetensors"))
        #expect(model.configuration.reverseSource == task.contains("--reverse-source"))
        // Twice the longest target plus 10: "999" is the longest number in words, at most "1998" a sum.
        #expect(task.contains("words") ? model.configuration.maxOutputLength == 2 * 3 + 10 : model.configuration.maxOutputLength <= 2 * 4 + 10)
    }

    @Test func badFlagsAndFilesFailWithOneLineAndWriteNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.pairs.write(to: dir.file("pairs.tsv"), atomically: true, encoding: .utf8)
        try "ab\tba\nabc cba\n".write(to: dir.file("notab.tsv"), atomically: true, encoding: .utf8)
        try "ab\tba\n\n\ncd\t\n".write(to: dir.file("empty-side.tsv"), atomically: true, encoding: .utf8)
        try Data([0x61, 0x09, 0x62, 0x0A, 0xFF, 0x09, 0x63, 0x0A]).write(to: dir.file("binary.tsv"))
        try "ab\tba\n".write(to: dir.file("one.tsv"), atomically: true, encoding: .utf8)
        let keep: Set<String> = ["pairs.tsv", "notab.tsv", "empty-side.tsv", "binary.tsv", "one.tsv"]
        let train = ["seq2seq", "train", "--epochs", "1", "--hidden", "4", "--output", dir.path("m.safetensors")]
        for (flags, fragment) in [
            (["--data", dir.path("notab.tsv")], "notab.tsv: line 2 has no tab"),
            (["--data", dir.path("empty-side.tsv")], "empty-side.tsv: line 4: the target is empty"),
            (["--data", dir.path("binary.tsv")], "binary.tsv: not valid UTF-8: byte 4 (line 2)"),
            (["--data", dir.path("one.tsv")], "at least 2"),
            (["--data", dir.path("missing.tsv")], "cannot read"),
            (["--data", dir.path("pairs.tsv"), "--task", "addition"], "not both"),
            (["--task", "multiply"], "--task must be addition or words"),
            (["--cell", "rnn"], "--cell must be lstm or gru"),
            (["--hidden", "0"], "--hidden must be between 1 and 16384"),
            (["--beam", "0"], "--beam must be between 1 and 64"),
            (["--lr", "nan"], "--lr must be a finite number"),
            (["--validation-fraction", "0.5"], "--validation-fraction"),
            (["--plot", dir.path("loss.png")], "--plot must end in .svg"),
            (["--digits", "1", "--pairs", "100"], "--pairs: 100 addition questions asked for"),
            (["--output", dir.path("m.npy")], "--output must end in .safetensors"),
        ] {
            try ExampleCommands.expectFailure(train + flags, fragment, in: dir, keep: keep)
        }

        // translate: a model of another kind, unknown characters, empty lines, bad flags.
        try "ab\tba\ncd\tdc\nabcd\tdcba\n".write(to: dir.file("small.tsv"), atomically: true, encoding: .utf8)
        _ = try ExampleCommands.runJSON(["seq2seq", "train", "--data", dir.path("small.tsv"), "--epochs", "1", "--hidden", "4",
                                         "--validation-fraction", "0.4", "--output", dir.path("m.safetensors")])
        let other = RecurrentModel(ModelArchitecture(kind: .lstm, inputSize: 3, hiddenSize: 4, headPrefix: "head.", headOutputSize: 2))
        try other.save(to: dir.file("other.safetensors"))
        try "ab\n\ncd\n".write(to: dir.file("gap.txt"), atomically: true, encoding: .utf8)
        try "ab\nxyz\n".write(to: dir.file("unknown.txt"), atomically: true, encoding: .utf8)
        let keep2 = keep.union(["small.tsv", "m.safetensors", "seq2seq-loss.svg", "other.safetensors", "gap.txt", "unknown.txt"])
        let translate = ["seq2seq", "translate", dir.path("m.safetensors")]
        for (arguments, fragment) in [
            (["seq2seq", "translate", dir.path("other.safetensors"), "--text", "ab"], "other.safetensors: not a sequence-to-sequence model"),
            (["seq2seq", "translate", dir.path("none.safetensors"), "--text", "ab"], "cannot read"),
            (translate + ["--text", "abz"], "--text: character 'z' (U+007A) at position 2"),
            (translate + ["--input", dir.path("gap.txt")], "gap.txt: line 2: the line is empty"),
            (translate + ["--input", dir.path("unknown.txt")], "unknown.txt: line 2: character 'x'"),
            (translate + ["--text", "ab", "--input", dir.path("gap.txt")], "give one of --text and --input"),
            (translate, "give one of --text and --input"),
            (translate + ["--text", "ab", "--beam", "65"], "--beam must be between 1 and 64"),
            (translate + ["--text", "ab", "--max-length", "0"], "--max-length must be between 1 and 65536"),
        ] {
            try ExampleCommands.expectFailure(arguments, fragment, in: dir, keep: keep2)
        }
    }
}
