import ArgumentParser

@main
struct RecurrentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recurrent",
        abstract: "Recurrent neural networks (RNN, LSTM, GRU) with PyTorch's semantics, in Swift.",
        subcommands: [Demo.self, Inspect.self, Run.self, Fit.self, Bench.self])
}
