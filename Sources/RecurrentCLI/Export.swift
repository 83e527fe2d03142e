import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// `recurrent export MODEL.safetensors --output MODEL.onnx`.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a one-layer Recurrent model as ONNX (opset 14; X [T, N, I] → Y, Y_h, Y_c; T and N dynamic).")

    @OptionGroup var options: ModelOptions
    @Option(help: "Where to write the .onnx file.")
    var output: String

    func run() throws {
        let model = try options.load()
        try model.saveONNX(to: URL(fileURLWithPath: output))
        print("model: \(escaped(model.architecture.description))")
        print("wrote \(output)")
    }
}
