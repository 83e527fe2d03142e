import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// `recurrent import MODEL.onnx --output MODEL.safetensors`: an ONNX graph of LSTM/GRU/RNN nodes
/// (one, or a stack as `torch.onnx.export` writes it, with an optional Linear head) as a
/// Recurrent model file (PyTorch's names and gate orders, the cell options in its metadata),
/// checked against the graph on a probe input.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an ONNX model (LSTM, GRU or RNN nodes, optionally a Linear head) into a Recurrent model file (safetensors).")

    @Argument(help: "The .onnx file.")
    var model: String
    @Option(help: "Where to write the safetensors file.")
    var output: String

    func validate() throws {
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors, got '\(output)'") }
    }

    func run() throws {
        try checkDistinct(output: output, from: [model])
        let onnx = try ONNXModel.load(from: URL(fileURLWithPath: model))
        let converted = try RecurrentModel(onnx: onnx)
        try converted.save(to: URL(fileURLWithPath: output))
        for n in onnx.recurrentNodes {
            print("\(escaped(n.kind.rawValue.uppercased())) node '\(escaped(n.name))' (opset \(onnx.opset), direction \(n.direction.rawValue), layout \(n.layout))")
        }
        print("model: \(escaped(converted.architecture.description))")
        print("wrote \(output)")
    }
}
