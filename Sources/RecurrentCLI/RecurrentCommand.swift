import ArgumentParser
import Foundation
import Recurrent

@main
struct RecurrentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recurrent",
        abstract: "Recurrent neural networks (RNN, LSTM, GRU) with PyTorch's semantics, in Swift.",
        subcommands: [Demo.self, MNIST.self, Forecast.self, CharLM.self, Seq2Seq.self, Tag.self, MovingDigitsCommand.self, Inspect.self, Run.self, Fit.self,
                      Trace.self, Import.self, Export.self, Bench.self])

    /// Every command trains or runs layers step by step: freed arrays are kept for reuse (see
    /// ``Kernels/keepFreedMemory()``) before the command starts. A failure is one line on standard
    /// error (`Error: …`, no usage text after it) and a non-zero exit; `--help` prints as usual.
    static func main() {
        Kernels.keepFreedMemory()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) != .success else { exit(withError: error) }
            let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            Foundation.exit(exitCode(for: error).rawValue)
        }
    }
}
