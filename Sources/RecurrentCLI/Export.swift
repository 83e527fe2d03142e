import ArgumentParser
import Foundation
import Recurrent
import RecurrentONNX

/// `recurrent export MODEL.safetensors --output MODEL.onnx [--initial-states]`: the model as an
/// ONNX graph (``RecurrentModel/onnxModel(initialStates:graphName:)``).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a Recurrent model as ONNX (opset 14) that ONNX Runtime runs: input → output, h_n, c_n (LSTM), prediction (with a head).",
        discussion: """
            Any number of layers and directions, batch-first or not, a Linear head, an embedding or one-hot \
            input (int64 tokens). The graph's names and shapes are PyTorch's, with T and N dynamic: input \
            [T, N, I] ([N, T, I] batch-first; tokens [T, N]), h0 / c0 [D*L, N, H] with --initial-states \
            (otherwise zeros), output [T, N, D*H] ([N, T, D*H]), h_n / c_n [D*L, N, H], prediction \
            [T, N, out] every step or [N, out] on the last step. A projection or layer norm cannot be \
            written: ONNX's LSTM, GRU and RNN operators have neither.
            """)

    @OptionGroup var options: ModelOptions
    @Option(help: "Where to write the .onnx file.")
    var output: String
    @Flag(help: "Take the initial states as graph inputs h0 (and c0), [D*L, N, H]; otherwise they are zeros.")
    var initialStates = false

    func validate() throws {
        guard output.hasSuffix(".onnx") else { throw ValidationError("--output must end in .onnx, got '\(output)'") }
    }

    func run() throws {
        try checkDistinct(output: output, from: [options.model])
        let model = try options.load()
        let onnx = try model.saveONNX(to: URL(fileURLWithPath: output), initialStates: initialStates)
        print("model: \(escaped(model.architecture.description))")
        func signature(_ values: [Onnx_ValueInfoProto]) -> String {
            values.map { v in
                let dims = v.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }
                return "\(v.name) [\(dims.joined(separator: ", "))]"
            }.joined(separator: ", ")
        }
        let nodes = onnx.graph.node.map(\.opType)
        print("graph: \(signature(onnx.graph.input)) → \(signature(onnx.graph.output)); \(nodes.count) nodes (\(Set(nodes).sorted().joined(separator: ", ")))")
        print("wrote \(output)")
    }
}
