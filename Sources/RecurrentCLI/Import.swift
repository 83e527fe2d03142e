import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// `recurrent import MODEL.onnx --output MODEL.safetensors`: a one-node ONNX LSTM/GRU/RNN as a
/// Recurrent model file (PyTorch's names and gate orders, the cell options in its metadata).
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an ONNX model with one LSTM, GRU or RNN node into a Recurrent model file (safetensors).")

    @Argument(help: "The .onnx file.")
    var model: String
    @Option(help: "Where to write the safetensors file.")
    var output: String

    func run() throws {
        let onnx = try ONNXModel.load(from: URL(fileURLWithPath: model))
        let converted = try RecurrentModel(onnx: onnx)
        try converted.save(to: URL(fileURLWithPath: output))
        let n = onnx.recurrentNodes[0]
        print("\(escaped(n.kind.rawValue.uppercased())) node '\(escaped(n.name))' (opset \(onnx.opset), direction \(n.direction.rawValue), layout \(n.layout))")
        print("model: \(escaped(converted.architecture.description))")
        print("wrote \(output)")
    }
}
