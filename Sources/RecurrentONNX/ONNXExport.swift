import Foundation
import Recurrent
import SwiftProtobuf

extension RecurrentModel {
    /// The model as an ONNX graph (opset 14, IR 8) that ONNX Runtime runs, with PyTorch's names and
    /// shapes for its inputs and outputs, the same for every model, and `T` and `N` dynamic
    /// (symbolic dims `T`, `N`):
    ///
    /// | graph input / output | shape | when |
    /// | --- | --- | --- |
    /// | `input` (float) | `[T, N, I]`, `[N, T, I]` batch-first | feature input |
    /// | `input` (int64) | `[T, N]`, `[N, T]` batch-first | token input (embedding or one-hot) |
    /// | `h0`, `c0` (LSTM) | `[D·L, N, H]` | `initialStates: true` (else zeros, as PyTorch) |
    /// | → `output` | `[T, N, D·H]`, `[N, T, D·H]` batch-first | always |
    /// | → `h_n`, `c_n` (LSTM) | `[D·L, N, H]` (layer-major: `l0`, `l0_reverse`, `l1`, …) | always |
    /// | → `prediction` | `[T, N, out]` (`[N, T, out]`) every step, `[N, out]` last step | with a head |
    ///
    /// The graph, in order (operators: `LSTM` / `GRU` / `RNN`, `Transpose`, `Reshape`, `Squeeze`,
    /// `Slice`, `Concat`, `Gather`, `MatMul`, `Add`, `Gemm`; no `Identity`):
    /// 1. batch-first: `Transpose` (perm `[1, 0, 2]`, or `[1, 0]` for tokens) to time-major;
    /// 2. token input: `Gather` from the embedding `[count, I]` (one-hot: from the identity `[I, I]`);
    /// 3. per layer `l`: one recurrent node, `layout=0`, `X` `[T, N, Iₗ]` → `Y` `[T, D, N, H]`,
    ///    `Y_h` (and `Y_c`) `[D, N, H]`, initial states from `Slice` of `h0` / `c0` rows
    ///    `l·D ..< (l+1)·D` (one layer: `h0` itself); `Y` becomes the next layer's input
    ///    `[T, N, D·H]` by `Squeeze` (axis 1) for one direction, `Transpose` (perm `[0, 2, 1, 3]`)
    ///    and `Reshape` (`[0, 0, D·H]`) for two; `Concat` (axis 0) of the layers' `Y_h` (`Y_c`)
    ///    gives `h_n` (`c_n`);
    /// 4. batch-first: `Transpose` of the last layer's output back to `[N, T, D·H]`;
    /// 5. the head, where ``RecurrentModel/callAsFunction(_:h0:c0:lengths:)`` applies it: every step,
    ///    `MatMul` by `weightᵀ` `[D·H, out]` then `Add` of the bias (PyTorch's `Linear` on 3-D input);
    ///    last step, `Gather` of step `-1` of the time-major output `[N, D·H]`, then `Gemm` with
    ///    `transB=1` (PyTorch's `head(output[:, -1])`).
    ///
    /// Initializers: `W_l{k}`, `R_l{k}`, `B_l{k}`, `P_l{k}` in ONNX's shapes and gate orders (LSTM
    /// `i, o, f, c`, GRU `z, r, h`, peepholes `i, o, f`, both directions stacked), `embedding`,
    /// `one_hot`, `head_weight` / `head_weight_t`, `head_bias`, and the int64 shapes and indices the
    /// helper nodes read. Every cell option is the node's attribute: peepholes as `P`,
    /// `input_forget`, `linear_before_reset`, `activations` with `activation_alpha/beta` packed as
    /// ONNX Runtime reads them, `clip`. The model runs in evaluation mode (no dropout). ONNX Runtime
    /// refuses `layout=1`, hence the `Transpose`s of a batch-first model.
    ///
    /// - Parameters:
    ///   - initialStates: whether the graph takes `h0` (and `c0`) as inputs (PyTorch's
    ///     `model(x, (h0, c0))`); without them the states start at zero.
    ///   - graphName: the graph's name.
    /// - Throws: ``ONNXError`` for a model ONNX cannot express: a projection (ONNX's `LSTM` has no
    ///   `proj_size`), layer normalisation (no ONNX recurrent operator has it), or one-hot input of
    ///   more than ``maxOneHotClasses`` classes (its identity matrix would be too large).
    public func onnxModel(initialStates: Bool = false, graphName: String = "recurrent") throws -> Onnx_ModelProto {
        let a = architecture
        let kindName = a.kind.rawValue.uppercased()
        if a.projSize > 0 {
            throw ONNXError("cannot export: ONNX's LSTM has no projection (proj_size \(a.projSize)); the operator's hidden state is its output")
        }
        if a.options.layerNorm {
            throw ONNXError("cannot export: ONNX's \(kindName) has no layer normalisation (the operator has no input for its gains)")
        }
        if a.inputEncoding == .oneHot, a.inputSize > Self.maxOneHotClasses {
            throw ONNXError("cannot export: one-hot input of \(a.inputSize) classes needs a \(a.inputSize)×\(a.inputSize) identity matrix in the graph (at most \(Self.maxOneHotClasses) classes); use an embedding")
        }
        var builder = ONNXGraphBuilder(model: self, initialStates: initialStates)
        var graph = try builder.build()
        graph.name = graphName
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "Recurrent"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = 14
        model.opsetImport = [opset]
        model.graph = graph
        return model
    }

    /// The largest one-hot input ``onnxModel(initialStates:graphName:)`` writes (as a `Gather` from
    /// an identity matrix of that many rows).
    public static let maxOneHotClasses = 2048

    /// Writes ``onnxModel(initialStates:graphName:)`` to `url`, atomically (a failed export leaves
    /// no file, and an existing one as it was), and returns it.
    /// - Throws: ``ONNXError`` for a model ONNX cannot express; `FileFormatError` for a file that
    ///   cannot be written.
    @discardableResult
    public func saveONNX(to url: URL, initialStates: Bool = false) throws -> Onnx_ModelProto {
        let model = try onnxModel(initialStates: initialStates)
        let data: Data = try model.serializedBytes()
        try writeAtomically(data, to: url)
        return model
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ v: Int) -> Self { var a = Self(); a.name = name; a.type = .int; a.i = Int64(v); return a }
    static func ints(_ name: String, _ v: [Int]) -> Self { var a = Self(); a.name = name; a.type = .ints; a.ints = v.map(Int64.init); return a }
    static func float(_ name: String, _ v: Float) -> Self { var a = Self(); a.name = name; a.type = .float; a.f = v; return a }
    static func floats(_ name: String, _ v: [Float]) -> Self { var a = Self(); a.name = name; a.type = .floats; a.floats = v; return a }
    static func string(_ name: String, _ v: String) -> Self { var a = Self(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a }
    static func strings(_ name: String, _ v: [String]) -> Self { var a = Self(); a.name = name; a.type = .strings; a.strings = v.map { Data($0.utf8) }; return a }
}

extension Onnx_ValueInfoProto {
    /// A float tensor whose dimensions are sizes (Int) or names of dynamic axes (String).
    static func float(_ name: String, _ dims: [Any]) -> Self { tensor(name, elementType: .float, dims) }

    /// A tensor of `elementType` whose dimensions are sizes (Int) or names of dynamic axes (String).
    static func tensor(_ name: String, elementType: ONNXDataType, _ dims: [Any]) -> Self {
        var v = Self()
        v.name = name
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let n = d as? Int { dim.dimValue = Int64(n) } else { dim.dimParam = "\(d)" }
            return dim
        }
        var t = Onnx_TypeProto.Tensor()
        t.elemType = elementType.rawValue
        t.shape = shape
        v.type.tensorType = t
        return v
    }
}
