import Foundation
import Testing
@testable import Recurrent

/// The library pieces of `recurrent tag`: the CoNLL reader, vocabularies, metrics, batching by
/// length, the BiLSTM tagger over padded batches with lengths, its file, and word segmentation.
@Suite struct TagTests {
    // MARK: CoNLL

    @Test func readsCoNLLColumns() throws {
        let text = "\u{FEFF}-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\r\nrejects\tVBZ\tB-VP\tO\n  German  JJ B-MISC  \n\n\n \t \nPeter B-PER\n-DOCSTART- O\nBlackburn B-PER"
        let sentences = try CoNLL.parse(Data(text.utf8))
        #expect(sentences == [TaggedSentence(tokens: ["EU", "rejects", "German"], tags: ["B-ORG", "O", "B-MISC"]),
                              TaggedSentence(tokens: ["Peter"], tags: ["B-PER"]),
                              TaggedSentence(tokens: ["Blackburn"], tags: ["B-PER"])])
        #expect(try CoNLL.parse(try CoNLL.format(sentences)) == sentences, "format reads back")
        #expect(throws: RecurrentError.self) { try CoNLL.format([TaggedSentence(tokens: ["a b"], tags: ["O"])]) }
    }

    @Test(arguments: [
        ("a O\nb\n", "line 2: the token 'b' has no tag"),
        ("a O\n\n\tb \n", "line 3: the token 'b' has no tag"),
        ("", "no sentences"),
        ("-DOCSTART- -X- O\n\n\n", "no sentences"),
        ("a O\n" + String(repeating: "x", count: CoNLL.maxLineBytes) + " O\n", "line 2 is 65538 bytes long"),
        (String(repeating: "a O\n", count: CoNLL.maxSentenceLength + 1), "line 4097: the sentence that starts at line 1 has more than 4096 tokens"),
    ])
    func coNLLErrorsNameTheLine(_ text: String, _ message: String) throws {
        let error = try #require(throws: FileFormatError.self) { try CoNLL.parse(Data(text.utf8)) }
        #expect(error.description.hasPrefix(message), "\(error)")
        #expect(!error.description.contains("\n"))
    }

    @Test func coNLLFileErrorsNameTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data([0x61, 0x20, 0x4F, 0x0A, 0x62, 0xFF, 0x20, 0x4F, 0x0A]).write(to: dir.file("bad.conll"))
        let error = try #require(throws: FileFormatError.self) { try CoNLL.read(from: dir.file("bad.conll")) }
        #expect(error.description == "\(dir.path("bad.conll")): not valid UTF-8: byte 5 (line 2) is 0xFF; save the file as UTF-8")
        #expect(throws: FileFormatError.self) { try CoNLL.read(from: dir.file("missing.conll")) }
    }

    // MARK: Vocabularies

    @Test func tokenVocabularyKeepsFrequentTokensAndUnknown() throws {
        let words = TokenVocabulary(counting: ["the", "cat", "the", "sat", "the", "cat"], minCount: 2)
        #expect(words.tokens == ["<unk>", "cat", "the"])
        #expect(words.encode("the") == 2 && words.encode("sat") == 0 && words.index(of: "sat") == nil)
        let tags = TokenVocabulary(counting: ["O", "B-PER", "O"], unknownToken: nil)
        #expect(tags.tokens == ["B-PER", "O"] && tags.encode("I-PER") == nil)
        #expect(try TokenVocabulary(tokens: words.tokens, unknownToken: "<unk>") == words)
        #expect(throws: RecurrentError.invalidValue("the vocabulary lists 'a' twice (at indices 1 and 2)")) {
            try TokenVocabulary(tokens: ["<unk>", "a", "a"], unknownToken: "<unk>")
        }
        #expect(throws: RecurrentError.self) { try TokenVocabulary(tokens: ["a"], unknownToken: "<unk>") }
        #expect(throws: RecurrentError.self) { try TokenVocabulary(tokens: []) }
    }

    // MARK: Metrics

    /// Counted by hand: 4 of 6 tokens right. B-PER 1/1 predicted, 1/1 found; I-PER never
    /// predicted (0, 0, 0); O 1 of 2 predicted right, 1 of 2 found (0.5, 0.5, 0.5); B-LOC 1, 1, 1;
    /// B-ORG 1 of 2 predicted, 1 of 1 found (0.5, 1, 2/3). Spans: gold PER 0..<2, LOC 3..<4, ORG
    /// 1..<2; predicted PER 0..<1, LOC 3..<4, ORG 0..<1, ORG 1..<2: 2 correct of 4 predicted and 3 gold.
    @Test func tagScoresMatchHandCountedExample() throws {
        let gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
        let predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-ORG"]]
        let s = TagScores(predicted: predicted, gold: gold)
        #expect(s.tokens == 6 && s.correct == 4 && abs(s.accuracy - 4.0 / 6) < 1e-12)
        #expect(s.tags.map(\.tag) == ["B-LOC", "B-ORG", "B-PER", "I-PER", "O"])
        let expected: [String: (p: Double, r: Double, f: Double, support: Int)] = [
            "B-PER": (1, 1, 1, 1), "I-PER": (0, 0, 0, 1), "O": (0.5, 0.5, 0.5, 2), "B-LOC": (1, 1, 1, 1), "B-ORG": (0.5, 1, 2.0 / 3, 1)]
        for (tag, e) in expected {
            let t = try #require(s.tag(tag))
            #expect(abs(t.precision - e.p) < 1e-12 && abs(t.recall - e.r) < 1e-12 && abs(t.f1 - e.f) < 1e-12 && t.support == e.support, "\(tag): \(t)")
        }
        #expect(abs(s.macroF1 - (1 + 0 + 0.5 + 1 + 2.0 / 3) / 5) < 1e-12)
        let spans = try #require(SpanScores(predicted: predicted, gold: gold))
        #expect(spans.gold == 3 && spans.predicted == 4 && spans.correct == 2)
        #expect(abs(spans.precision - 0.5) < 1e-12 && abs(spans.recall - 2.0 / 3) < 1e-12 && abs(spans.f1 - 4.0 / 7) < 1e-12)
    }

    @Test func spansFollowConlleval() {
        func spans(_ tags: String) -> [String]? {
            TagSpan.spans(tags.split(separator: " ").map(String.init))?.map { "\($0.type)\($0.start)-\($0.end)" }
        }
        #expect(spans("I-PER I-PER O I-LOC I-PER") == ["PER0-2", "LOC3-4", "PER4-5"], "IOB1: I- opens a span after O or another type")
        #expect(spans("B-X I-X B-X E-X I-X S-Y") == ["X0-2", "X2-4", "X4-5", "Y5-6"], "BIOES")
        #expect(spans("B I I B B I") == ["0-3", "3-4", "4-6"], "word segmentation: one word per B")
        #expect(spans("NN VBZ") == nil && spans("Bx O") == nil, "not a span scheme")
        #expect(SpanScores(predicted: [["NN"]], gold: [["NN"]]) == nil)
    }

    // MARK: Batching and the tagger

    @Test func lengthBatchesCoverEverySentenceOnce() {
        let lengths = (0..<103).map { ($0 * 37) % 29 + 1 }
        var g = SeededGenerator(seed: 3)
        let batches = lengthBatches(lengths: lengths, batchSize: 8, poolBatches: 4, using: &g)
        #expect(batches.count == 13 && batches.flatMap { $0 }.sorted() == Array(0..<103))
        #expect(batches.allSatisfy { b in zip(b, b.dropFirst()).allSatisfy { lengths[$0] >= lengths[$1] } }, "each batch longest first")
        #expect(batches.filter { $0.count < 8 }.count == 1)
        var same = SeededGenerator(seed: 3)
        #expect(lengthBatches(lengths: lengths, batchSize: 8, poolBatches: 4, using: &same) == batches, "the seed decides")
        #expect(lengthBatches(lengths: [2, 5, 3, 5], batchSize: 3) == [[1, 3, 2], [0]])
    }

    static let sentences: [TaggedSentence] = [
        TaggedSentence(tokens: ["Peter", "Blackburn", "visited", "Paris", "."], tags: ["B-PER", "I-PER", "O", "B-LOC", "O"]),
        TaggedSentence(tokens: ["EU"], tags: ["B-ORG"]),
        TaggedSentence(tokens: ["He", "saw", "Paris"], tags: ["O", "O", "B-LOC"]),
        TaggedSentence(tokens: ["Blackburn", "rejects", "German", "lamb", "from", "Paris", "today"], tags: ["B-PER", "O", "B-MISC", "O", "O", "B-LOC", "O"]),
    ]

    static func tagger(characters: Bool = true, layers: Int = 2) -> SequenceTagger {
        var c = TaggerConfiguration()
        (c.wordEmbeddingSize, c.charEmbeddingSize, c.charHiddenSize, c.hiddenSize, c.numLayers) = (6, characters ? 5 : 0, 4, 7, layers)
        return withRandomSeed(11) { SequenceTagger(training: sentences, configuration: c) }
    }

    /// A sentence padded in a batch with longer and shorter ones gets the same scores as alone:
    /// the BiLSTMs do no work on padding and the reverse direction starts at each sentence's end,
    /// and the loss reads the real tokens only.
    @Test(arguments: [true, false])
    func paddedBatchTagsLikeEachSentenceAlone(_ characters: Bool) throws {
        let tagger = Self.tagger(characters: characters)
        let tokens = Self.sentences.map(\.tokens)
        let batch = try tagger.logits(tokens)                             // [7, 4, K]
        let (T, B, K) = (batch.shape[0], batch.shape[1], batch.shape[2])
        #expect(T == 7 && B == 4 && K == 6)
        for (b, sentence) in tokens.enumerated() {
            let alone = try tagger.logits([sentence])                     // [Tᵦ, 1, K]
            let scalars = batch.scalars
            let rows: [Float] = (0..<sentence.count).flatMap { (t: Int) -> ArraySlice<Float> in
                let row = t * B + b
                return scalars[row * K..<(row + 1) * K]
            }
            expectClose(rows, alone.scalars, rtol: 1e-5, atol: 1e-6, "sentence \(b)")
        }
        let predicted = try tagger.predict(tokens, batchSize: 3)
        let alone = try tokens.map { try tagger.predict([$0])[0] }
        #expect(predicted == alone)
        // The batch's mean loss is the token-weighted mean of each sentence's loss.
        let perSentence = try Self.sentences.map { Double(try tagger.loss([$0]).item) * Double($0.tokens.count) }
        let tokenCount = Double(tokens.joined().count)
        #expect(abs(Double(try tagger.loss(Self.sentences).item) - perSentence.reduce(0, +) / tokenCount) < 1e-5)
        #expect(abs(Double(try tagger.evaluate(Self.sentences, batchSize: 2).loss) - perSentence.reduce(0, +) / tokenCount) < 1e-5)
    }

    @Test func taggerLearnsAndRejectsBadInput() throws {
        let tagger = Self.tagger(layers: 1)
        var optimizer = Adam(parameters: tagger.parameters, learningRate: 0.05)
        var losses: [Float] = []
        for _ in 0..<30 {
            optimizer.zeroGrad()
            let loss = try tagger.loss(Self.sentences)
            losses.append(loss.item)
            loss.backward()
            optimizer.step()
        }
        #expect(losses.last! < losses.first! / 5, "\(losses)")
        let (_, predicted) = try tagger.evaluate(Self.sentences)
        #expect(TagScores(predicted: predicted, gold: Self.sentences.map(\.tags)).accuracy == 1)
        #expect(throws: RecurrentError.invalidValue("SequenceTagger: sentence 2 has no tokens")) { try tagger.logits([["a"], []]) }
        #expect(throws: RecurrentError.self) { try tagger.logits([]) }
        #expect(throws: RecurrentError.self) { try tagger.logits([["a", ""]]) }
        #expect(throws: RecurrentError.self) { try tagger.loss([TaggedSentence(tokens: ["a"], tags: ["B-NEW"])]) }
        #expect(try tagger.predict([["Zyzzyva", "Paris"]])[0].count == 2, "unknown words and characters read as <unk>")
    }

    @Test func taggerFileRoundTripsAndIsChecked() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let tagger = Self.tagger()
        try tagger.save(to: dir.file("t.safetensors"))
        let loaded = try SequenceTagger.load(from: dir.file("t.safetensors"))
        #expect(loaded.configuration == tagger.configuration && loaded.words == tagger.words && loaded.tags == tagger.tags
                && loaded.characters == tagger.characters)
        #expect(try loaded.logits(Self.sentences.map(\.tokens)).scalars == tagger.logits(Self.sentences.map(\.tokens)).scalars)

        var file = try SafeTensorsFile.read(from: dir.file("t.safetensors"))
        func expectLoadError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            try file.write(to: dir.file("bad.safetensors"))
            let error = try #require(throws: FileFormatError.self, sourceLocation: sourceLocation) {
                try SequenceTagger.load(from: dir.file("bad.safetensors"))
            }
            #expect(error.description.contains(fragment) && !error.description.contains("\n"), "\(error)", sourceLocation: sourceLocation)
        }
        let original = file
        file.metadata[SequenceTagger.MetadataKey.words] = #"["<unk>", "Paris"]"#
        try expectLoadError("the file holds")
        file.metadata[SequenceTagger.MetadataKey.words] = "not json"
        try expectLoadError("tagger.words is not a JSON array of strings")
        file = original
        file.metadata[SequenceTagger.MetadataKey.configuration] = #"{"word_embedding_size": 99999999, "char_embedding_size": 5, "char_hidden_size": 4, "hidden_size": 7, "num_layers": 2, "dropout": 0}"#
        try expectLoadError("the word embedding size must be between 1 and 16384")
        file = original
        file.tensors["head.bias"]!.scalars[0] = .nan
        try expectLoadError("non-finite values: head.bias")
        file = original
        file.metadata = [:]
        try expectLoadError("not a tagger written by `recurrent tag`")
    }

    // MARK: Word segmentation

    @Test func segmentationTagsWordStarts() {
        let s = WordSegmentation.sentences(fromText: "  In the beginning\r\n\n  2 And the earth was cafe\u{301}.\n", maxLength: 8)
        #expect(s.map { $0.tokens.joined() } == ["Inthe", "beginnin", "g", "2Andthe", "earthwas", "café."])
        #expect(s[0].tags == ["B", "I", "B", "I", "I"] && s[2].tags == ["I"], "a piece cut inside a word starts with I")
        #expect(s[5].tokens.count == 5, "e + combining accent is one character")
        #expect(WordSegmentation.join(s[3].tokens, tags: s[3].tags) == "2 And the")
        #expect(WordSegmentation.sentences(fromText: " \n\t\n").isEmpty)
    }

    // MARK: The README's program

    /// README "Tagging in Swift", as written there except the folder, the sizes (batch 8, lr 1e-2,
    /// for 120 sentences) and the assertions at the end.
    @Test func readmeProgram() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TagCommandTests.write(dir)
        func file(_ name: String) -> String { dir.path(name) }

        let train = try CoNLL.read(from: URL(fileURLWithPath: file("train.conll")))   // token … tag per line, blank line between sentences
        let dev = try CoNLL.read(from: URL(fileURLWithPath: file("dev.conll")))
        manualSeed(0)
        let tagger = SequenceTagger(training: train, configuration: TaggerConfiguration(), minCount: 2)
        var optimizer = Adam(parameters: tagger.parameters, learningRate: 1e-2)
        var generator = SeededGenerator(seed: 0)
        for epoch in 1...5 {
            for batch in lengthBatches(lengths: train.map(\.tokens.count), batchSize: 8, using: &generator) {
                optimizer.zeroGrad()
                let loss = try tagger.loss(batch.map { train[$0] })      // padded, run with lengths: real tokens only
                loss.backward()
                optimizer.step()
            }
            let (loss, predicted) = try tagger.evaluate(dev)
            let gold = dev.map(\.tags)
            print("epoch \(epoch): dev loss \(loss), accuracy \(TagScores(predicted: predicted, gold: gold).accuracy),",
                  "span F1 \(SpanScores(predicted: predicted, gold: gold)?.f1 ?? 0)")
        }
        print(try tagger.predict([["Alice", "visited", "Paris"]]))              // [["B-PER", "O", "B-LOC"]]
        try tagger.save(to: URL(fileURLWithPath: file("tagger.safetensors")))   // recurrent tag label tagger.safetensors --input …

        #expect(try tagger.predict([["Alice", "visited", "Paris"]]) == [["B-PER", "O", "B-LOC"]])
        let (_, predicted) = try tagger.evaluate(dev)
        #expect(TagScores(predicted: predicted, gold: dev.map(\.tags)).accuracy > 0.95)
        #expect(try SequenceTagger.load(from: dir.file("tagger.safetensors")).predict(dev.map(\.tokens)) == predicted)
    }
}
