import ArgumentParser
import Recurrent

@main
struct RecurrentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recurrent",
        abstract: "Recurrent neural networks (RNN, LSTM, GRU) with PyTorch's semantics, in Swift.",
        subcommands: [Demo.self, MNIST.self, Forecast.self, CharLM.self, Inspect.self, Run.self, Fit.self, Bench.self])

    /// Every command trains or runs layers step by step: freed arrays are kept for reuse (see
    /// ``Kernels/keepFreedMemory()``) before the command starts.
    static func main() {
        Kernels.keepFreedMemory()
        main(nil)
    }
}
