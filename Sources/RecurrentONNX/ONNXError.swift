import Recurrent

/// A problem with an ONNX file or graph: malformed protobuf, an operator, attribute or input that
/// Recurrent does not support (named with its node), or a feed that does not fit. One line.
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public var message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message on one line (control characters replaced, so a name from a file cannot break it).
    public var description: String {
        String(message.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }
}
