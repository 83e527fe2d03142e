import Foundation
import Testing
@testable import Recurrent

/// The sequence-to-sequence pieces: the pairs reader, tokens and batches, the model, greedy and
/// beam decoding, the metrics and the model file.
@Suite struct Seq2SeqTests {
    // MARK: Reading pairs

    @Test func readsTabSeparatedPairs() throws {
        let pairs = try SequencePairs.parse("Go.\tVa !\r\n\nhéllo wörld\t你好 🙂\n <s> \t</s>\n")
        #expect(pairs == [SequencePair(source: "Go.", target: "Va !"), SequencePair(source: "héllo wörld", target: "你好 🙂"),
                          SequencePair(source: " <s> ", target: "</s>")], "CRLF, blank lines, spaces and multibyte characters")
    }

    @Test(arguments: [
        ("a\tb\nno tab here\n", "line 2 has no tab"),
        ("a\tb\nc\td\n\n\tx\n", "line 4: the source is empty"),
        ("a\tb\r\nc\t\r\n", "line 2: the target is empty"),
        ("a\tb\tc\n", "line 1 has 2 tabs"),
        ("\n\n\r\n", "no pairs"),
        ("x\t" + String(repeating: "y", count: SequencePairs.maxLength + 1), "line 1: the target has 1001 characters, over the limit of 1000"),
    ])
    func badLinesAreOneLineErrorsNamingTheLine(_ text: String, _ expected: String) throws {
        let error = try #require(throws: FileFormatError.self) { try SequencePairs.parse(text) }
        #expect(error.description.hasPrefix(expected) && !error.description.contains("\n"), "\(error)")
    }

    @Test func badFilesNameTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data([0x61, 0x09, 0x62, 0x0A, 0x63, 0x09, 0xC3, 0x28, 0x0A]).write(to: dir.file("bad.tsv"))
        try Data().write(to: dir.file("empty.tsv"))
        for (file, fragment) in [("bad.tsv", "not valid UTF-8: byte 6 (line 2) is 0xC3"), ("empty.tsv", "empty"), ("missing.tsv", "cannot read")] {
            let error = try #require(throws: FileFormatError.self) { try SequencePairs.read(from: dir.file(file)) }
            #expect(error.description.hasPrefix(dir.path(file) + ": ") && error.description.contains(fragment), "\(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func generatedTasks() throws {
        let pairs = try SequencePairs.addition(count: 500, seed: 3)
        let again = try SequencePairs.addition(count: 500, seed: 3)
        #expect(pairs.count == 500 && pairs == again, "the seed decides")
        var questions = Set<String>()
        for pair in pairs {
            let numbers = pair.source.split(separator: "+").map { Int($0)! }
            #expect(numbers.count == 2 && numbers.allSatisfy { (0...999).contains($0) } && pair.target == "\(numbers[0] + numbers[1])")
            #expect(questions.insert("\(numbers.min()!)+\(numbers.max()!)").inserted, "a+b and b+a count once: \(pair.source)")
        }
        #expect(throws: RecurrentError.self) { try SequencePairs.addition(count: 28, digits: 1, seed: 0) }   // 55 questions exist
        let words = try SequencePairs.numberWords(upTo: 999)
        #expect(words.count == 1000 && words[0].source == "zero" && words[13].source == "thirteen")
        #expect(words[342] == SequencePair(source: "three hundred forty two", target: "342"))
        #expect(words[900].source == "nine hundred" && words[70].source == "seventy")
        #expect(SequencePairs.englishWords(120_015) == "one hundred twenty thousand fifteen")
    }

    // MARK: Tokens and batches

    @Test func specialTokensComeFirst() throws {
        let v = Seq2SeqVocabulary(texts: ["ba", "c"])
        #expect(v.count == 6 && v.symbols == "abc")
        #expect(try v.encode("cab") == [5, 3, 4])
        #expect(v.decode([5, Seq2SeqVocabulary.start, 3, Seq2SeqVocabulary.pad, 4, Seq2SeqVocabulary.end, 5]) == "cab", "stops at </s>")
        #expect(try Seq2SeqVocabulary(symbols: v.symbols) == v)
        #expect(throws: RecurrentError.self) { try v.encode("abd") }
    }

    @Test func batchesAreRightPaddedAndShiftedForTeacherForcing() {
        // Sources [3, 4] and [5]; targets [6] and [7, 8]: time-major [S, B] and [T + 1, B] grids.
        let batch = Seq2SeqBatch(sources: [[3, 4], [5]], targets: [[6], [7, 8]])
        #expect((batch.size, batch.sourceLength, batch.decoderLength) == (2, 2, 3))
        #expect(batch.source == [3, 5, 4, 0])
        #expect(batch.decoderInput == [1, 1, 6, 7, 0, 8])
        #expect(batch.decoderTarget == [6, 7, 2, 8, 0, 2])
    }

    @Test func bucketsGroupSimilarLengths() {
        var generator = SeededGenerator(seed: 1)
        let lengths = (0..<100).map { $0 % 7 + 1 }
        let buckets = Seq2SeqBatch.buckets(lengths: lengths, batchSize: 10, using: &generator)
        #expect(buckets.count == 10 && buckets.flatMap { $0 }.sorted() == Array(0..<100), "every sample once")
        let spans = buckets.map { b in b.map { lengths[$0] }.max()! - b.map { lengths[$0] }.min()! }
        #expect(spans.allSatisfy { $0 <= 1 }, "at most two lengths meet in a batch: \(spans)")
    }

    // MARK: Metrics

    @Test func editDistanceAndRates() {
        #expect(levenshteinDistance("kitten", "sitting") == 3)
        #expect(levenshteinDistance("flaw", "lawn") == 2)
        #expect(levenshteinDistance("", "abc") == 3 && levenshteinDistance("abc", "") == 3 && levenshteinDistance("", "") == 0)
        #expect(levenshteinDistance(Array("héllo".unicodeScalars), Array("hello".unicodeScalars)) == 1)
        // Edits 0 + 1 + 1 over target lengths 3 + 2 + 3; one of three exact.
        #expect(characterErrorRate(["168", "17", "1000"], ["168", "19", "100"]) == 0.25)
        #expect(exactMatchAccuracy(["168", "17", "1000"], ["168", "19", "100"]) == 1.0 / 3)
        #expect(characterErrorRate(["你好世界", ""], ["你好", "ab"]) == 1.0, "2 deletions + 2 insertions over 4 characters")
        #expect(characterErrorRate([], []) == 0 && exactMatchAccuracy([], []) == 0)
    }

    // MARK: The model and decoding

    static func model(_ cell: Seq2SeqConfiguration.Cell, layers: Int = 1, bidirectional: Bool = false, seed: UInt64 = 0,
                      maxOutputLength: Int = 12) -> Seq2SeqModel {
        manualSeed(seed)
        return Seq2SeqModel(Seq2SeqConfiguration(
            cell: cell, sourceVocabulary: Seq2SeqVocabulary(texts: ["0123456789+"]), targetVocabulary: Seq2SeqVocabulary(texts: ["0123456789"]),
            embeddingSize: 8, hiddenSize: 16, numLayers: layers, bidirectional: bidirectional, maxOutputLength: maxOutputLength))
    }

    static let sources = ["1+1", "12+7", "999+999", "5+40", "3", "80+1", "7+7", "123+45"]

    @Test(arguments: [(Seq2SeqConfiguration.Cell.lstm, 1, false), (.gru, 1, false), (.lstm, 2, true), (.gru, 2, true)])
    func beamOfWidthOneIsGreedy(_ cell: Seq2SeqConfiguration.Cell, _ layers: Int, _ bidirectional: Bool) throws {
        for seed: UInt64 in 0..<4 {
            let model = Self.model(cell, layers: layers, bidirectional: bidirectional, seed: seed)
            let tokens = try Self.sources.map { try model.sourceTokens($0) }
            let greedy = try model.greedyDecode(tokens)
            #expect(try model.beamSearch(tokens, beamWidth: 1) == greedy, "seed \(seed)")
            #expect(greedy.allSatisfy { $0.count <= 12 && $0.allSatisfy { $0 >= 3 } }, "characters only, at most the limit: \(greedy)")
            // Decoding in batches of equal length gives what each source gives alone.
            #expect(try tokens.map { try model.greedyDecode([$0])[0] } == greedy)
        }
    }

    /// With a beam wider than every hypothesis there can be, beam search is exhaustive: its output
    /// is the finished sequence of the highest total log-probability, scored here independently by
    /// running the decoder over each whole candidate (teacher forcing) instead of step by step.
    @Test(arguments: [Seq2SeqConfiguration.Cell.lstm, .gru])
    func wideBeamFindsTheMostLikelySequence(_ cell: Seq2SeqConfiguration.Cell) throws {
        for seed: UInt64 in 0..<3 {
            manualSeed(seed)
            let model = Seq2SeqModel(Seq2SeqConfiguration(cell: cell, sourceVocabulary: Seq2SeqVocabulary(texts: ["abc"]),
                                                          targetVocabulary: Seq2SeqVocabulary(texts: ["xy"]), embeddingSize: 4,
                                                          hiddenSize: 6, bidirectional: true, maxOutputLength: 3))
            // Larger weights than at initialisation: peaked distributions whose normaliser differs from state to state.
            for p in model.parameters { p.scalars = p.scalars.map { $0 * 4 } }
            for text in ["a", "abc", "cba", "bb", "cab", "ccc"] {
                let source = try model.sourceTokens(text)
                func score(_ output: [Int]) throws -> Double {   // log P(output </s> | source)
                    let state = try model.encode(source, shape: [source.count, 1])
                    let (logits, _) = try model.decode([Seq2SeqVocabulary.start] + output, shape: [output.count + 1, 1], from: state)
                    let logp = logSoftmax(logits).scalars, v = model.configuration.targetVocabulary.count
                    return (output + [Seq2SeqVocabulary.end]).enumerated().reduce(0.0) { $0 + Double(logp[$1.offset * v + $1.element]) }
                }
                var candidates: [[Int]] = [[]]
                for length in 1...2 { candidates += candidates.filter { $0.count == length - 1 }.flatMap { c in [3, 4].map { c + [$0] } } }
                let best = try candidates.max { try score($0) < score($1) }!
                let found = try model.beamSearch([source], beamWidth: 64)[0]
                let (foundScore, bestScore) = (try score(found), try score(best))
                #expect(found == best, "seed \(seed), '\(text)': beam \(found) (\(foundScore)), exhaustive \(best) (\(bestScore))")
            }
        }
    }

    @Test func translatesTextsAndNamesUnknownCharacters() throws {
        let model = Self.model(.lstm)
        let outputs = try model.translate(Self.sources, beamWidth: 2, maxLength: 5)
        #expect(outputs.count == Self.sources.count && outputs.allSatisfy { $0.count <= 5 && $0.allSatisfy(\.isNumber) })
        let error = try #require(throws: RecurrentError.self) { try model.translate(["1+1", "2*3"]) }
        #expect("\(error)".contains("text 2") && "\(error)".contains("'*'"))
        #expect(throws: RecurrentError.self) { try model.translate([""]) }
        #expect(throws: RecurrentError.self) { try model.beamSearch([[3]], beamWidth: 0) }
    }

    @Test func reversedSourcesReachTheEncoderBackwards() throws {
        var configuration = Self.model(.gru).configuration
        configuration.reverseSource = true
        let model = Seq2SeqModel(configuration)
        #expect(try model.sourceTokens("12+") == configuration.sourceVocabulary.encode("+21"))
    }

    @Test func lossFallsWhenTrainingToCopy() throws {
        let model = Self.model(.gru, bidirectional: true)
        let pairs = ["12", "345", "6789", "90", "1", "2468"].map { SequencePair(source: $0, target: $0) }
        var optimizer = Adam(parameters: model.parameters, learningRate: 0.02)
        var losses: [Float] = []
        for _ in 0..<30 {
            optimizer.zeroGrad()
            let loss = try model.loss(model.batch(pairs))
            loss.backward()
            optimizer.step()
            losses.append(loss.item)
        }
        #expect(losses.last! < 0.5 * losses.first!, "\(losses.first!) → \(losses.last!)")
        // Sources of one length: the per-token mean over batches of 2 is the one-batch mean.
        let same = ["123", "456", "789", "246", "135"].map { SequencePair(source: $0, target: String($0.reversed())) }
        #expect(abs(try model.meanLoss(same, batchSize: 2) - Double(try model.loss(model.batch(same)).item)) < 1e-5)
        // Sources of several lengths are scored unpadded: as the sum of each length's own loss.
        let groups = [Array(pairs[0...0]) + [pairs[3]], [pairs[1]], [pairs[2], pairs[5]], [pairs[4]]]
        let sums = try groups.map { Double(try model.loss(model.batch($0), reduction: .sum).item) }
        let tokens = pairs.map { $0.target.count + 1 }.reduce(0, +)
        #expect(abs(try model.meanLoss(pairs, batchSize: 3) - sums.reduce(0, +) / Double(tokens)) < 1e-5)
    }

    // MARK: Model files

    @Test(arguments: [(Seq2SeqConfiguration.Cell.lstm, true), (.gru, false)])
    func savesAndLoadsEverythingTranslateNeeds(_ cell: Seq2SeqConfiguration.Cell, _ bidirectional: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var configuration = Self.model(cell, layers: 2, bidirectional: bidirectional).configuration
        configuration.reverseSource = true
        let model = Seq2SeqModel(configuration)
        #expect(model.parameterCount == configuration.parameterCount)
        try model.save(to: dir.file("m.safetensors"))
        let loaded = try Seq2SeqModel.load(from: dir.file("m.safetensors"))
        #expect(loaded.configuration == configuration)
        #expect(loaded.namedParameters.map(\.name) == model.namedParameters.map(\.name))
        #expect(zip(loaded.parameters, model.parameters).allSatisfy { $0.scalars == $1.scalars })
        #expect(try loaded.translate(Self.sources, beamWidth: 3) == model.translate(Self.sources, beamWidth: 3))
        #expect(model.namedParameters.contains { $0.name == "decoder.fc_out.weight" } && model.namedParameters.contains { $0.name == "encoder.rnn.weight_hh_l1" })
    }

    @Test func refusesOtherFilesAndMetadataThatDoesNotFit() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let model = Self.model(.lstm)
        var file = SafeTensorsFile(tensors: model.stateDict(), metadata: model.metadata)
        for (key, value, fragment) in [("format", "recurrent", "not a sequence-to-sequence model"), ("hidden_size", "4096", "describes a model of"),
                                       ("cell", "rnn", "'cell' must be lstm or gru"), ("num_layers", "0", "layers must be between 1 and 64"),
                                       ("target_vocabulary", "0120", "lists '0' (U+0030) twice"), ("bidirectional", "yes", "not true/false")] {
            var changed = file
            changed.metadata[key] = value
            try changed.write(to: dir.file("m.safetensors"))
            let error = try #require(throws: ModelFileError.self) { try Seq2SeqModel.load(from: dir.file("m.safetensors")) }
            #expect(error.description.hasPrefix("m.safetensors: ") && error.description.contains(fragment), "\(key): \(error)")
        }
        file.tensors["decoder.fc_out.bias"]!.scalars[0] = .nan
        try file.write(to: dir.file("m.safetensors"))
        let error = try #require(throws: ModelFileError.self) { try Seq2SeqModel.load(from: dir.file("m.safetensors")) }
        #expect(error.description.contains("decoder.fc_out.bias: nan at flat index 0"), "\(error)")
    }
}
