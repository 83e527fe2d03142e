import ArgumentParser
import Foundation
import Recurrent

/// `recurrent tag label`: tags the sentences of a text file with a saved tagger.
struct TagLabel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Tag sentences with a model written by `recurrent tag train` (or `tag segment`).",
        discussion: "The input holds one sentence per line, tokens separated by spaces or tabs; each line is printed back as token/TAG pairs (an empty line stays empty).")

    @Argument(help: "The model file.") var model: String
    @Option(help: "The UTF-8 text file of sentences, one per line.") var input: String

    func run() throws {
        let tagger = try SequenceTagger.load(from: URL(fileURLWithPath: model))
        let text = try TextFile.read(from: URL(fileURLWithPath: input))
        var sentences: [[String]] = []
        for (i, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            guard line.utf8.count <= CoNLL.maxLineBytes else {
                throw CommandError("\(input): line \(i + 1) is \(line.utf8.count) bytes long, over the limit of \(CoNLL.maxLineBytes)")
            }
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard tokens.count <= CoNLL.maxSentenceLength else {
                throw CommandError("\(input): line \(i + 1) has \(tokens.count) tokens, over the limit of \(CoNLL.maxSentenceLength)")
            }
            sentences.append(tokens)
        }
        if text.last?.isNewline == true { sentences.removeLast() }   // "\n" or "\r\n" ends the last line
        let nonEmpty = sentences.indices.filter { !sentences[$0].isEmpty }
        var tags = [[String]](repeating: [], count: sentences.count)
        if !nonEmpty.isEmpty {
            for (i, t) in zip(nonEmpty, try tagger.predict(nonEmpty.map { sentences[$0] })) { tags[i] = t }
        }
        for (tokens, tags) in zip(sentences, tags) {
            print(zip(tokens, tags).map { "\($0)/\($1)" }.joined(separator: " "))
        }
    }
}
