/// Errors thrown for bad data: shapes that do not fit, values out of range, non-finite losses.
///
/// The convention: problems with *data* reaching a layer at run time (an input of the wrong
/// shape, an `h0` that does not match, a target out of range) are thrown as `RecurrentError`;
/// problems with a *program* (a layer configured with `dropout = 1.5`, `projSize >= hiddenSize`,
/// an elementwise op on shapes that cannot broadcast) stop with a `precondition` message, as
/// Swift's own collections do for an index out of range.
public enum RecurrentError: Error, CustomStringConvertible, Equatable {
    /// A tensor's shape does not fit; the message names the expected and actual shapes.
    case shapeMismatch(String)
    /// A value is outside its allowed range, or not finite.
    case invalidValue(String)

    /// A one-line message (control characters escaped).
    public var description: String {
        switch self {
        case .shapeMismatch(let m), .invalidValue(let m): return oneLine(m)
        }
    }
}
