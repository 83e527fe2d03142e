import Foundation

// The pieces every plot shares: an SVG document written as text, XML escaping, coordinates rounded
// to 0.1 px, an estimate of text width (there is no font engine to ask), and the colour palette.

/// An SVG document built as text, one element at a time.
///
/// Every attribute value and text run goes through ``escapeXML(_:)``, so names from callers (a series
/// called `a<b & "c"`) cannot break the markup. The document opens with the `svg` element itself (no
/// XML declaration), sets `font-family="sans-serif"` once for all text, and paints a white background.
struct SVGDocument {
    private(set) var body = ""
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
        let (w, h) = (svgNumber(width), svgNumber(height))
        body = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" font-family=\"sans-serif\">\n"
        element("rect", ["width": w, "height": h, "fill": "white"])
    }

    /// Appends `<name attributes/>`, or `<name attributes>content</name>` when `content` is given
    /// (escaped here). Attributes are written in the order given.
    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String>, content: String? = nil) {
        body += "<" + name
        for (key, value) in attributes { body += " \(key)=\"\(escapeXML(value))\"" }
        if let content { body += ">\(escapeXML(content))</\(name)>\n" } else { body += "/>\n" }
    }

    /// Opens a group (`<g …>`); close it with ``close(_:)``.
    mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String> = [:]) {
        body += "<" + name
        for (key, value) in attributes { body += " \(key)=\"\(escapeXML(value))\"" }
        body += ">\n"
    }

    /// Closes an element opened with ``open(_:_:)``.
    mutating func close(_ name: String) { body += "</\(name)>\n" }

    /// A text run at (`x`, `y`) (the baseline), `anchor` one of `start`, `middle`, `end`; `rotate` in
    /// degrees turns it about its anchor point (negative: counterclockwise on screen).
    mutating func text(
        _ string: String, x: Double, y: Double, size: Double, anchor: String = "start", bold: Bool = false,
        fill: String = "#222", rotate: Double = 0, className: String? = nil
    ) {
        let (sx, sy) = (svgNumber(x), svgNumber(y))
        var attributes = "x=\"\(sx)\" y=\"\(sy)\" font-size=\"\(svgNumber(size))\" fill=\"\(fill)\""
        if anchor != "start" { attributes += " text-anchor=\"\(anchor)\"" }
        if bold { attributes += " font-weight=\"bold\"" }
        if rotate != 0 { attributes += " transform=\"rotate(\(svgNumber(rotate)) \(sx) \(sy))\"" }
        if let className { attributes += " class=\"\(escapeXML(className))\"" }
        body += "<text \(attributes)>\(escapeXML(string))</text>\n"
    }

    /// The finished document.
    var text: String { body + "</svg>\n" }
}

/// `text` with the five XML special characters escaped (`& < > " '`), tabs and line breaks written
/// as character references (so they survive in attribute values), and characters that XML 1.0 does
/// not allow at all (other C0 controls, U+FFFE, U+FFFF) replaced by U+FFFD.
func escapeXML(_ text: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for u in text.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out += "&#\(u.value);"
        case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": out.unicodeScalars.append("\u{FFFD}")
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

/// A coordinate rounded to 0.1 px, written without a trailing `.0` (`12`, `12.5`, `-0.3`); values
/// beyond ±10⁹ are clamped and non-finite ones written as `0`, so the output never holds `nan` or `inf`.
func svgNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let tenths = Int((min(max(value, -1e9), 1e9) * 10).rounded())
    let whole = tenths / 10, fraction = abs(tenths % 10)
    if fraction == 0 { return String(whole) }
    return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
}

/// The approximate width in pixels of `text` set in a sans-serif font of `size` pixels.
///
/// The per-character widths (in ems) follow DejaVu Sans, the widest of the common defaults for
/// `sans-serif` (Helvetica and Arial are narrower), so layouts made with it leave room on every system.
func textWidth(_ text: String, size: Double) -> Double {
    var ems = 0.0
    for u in text.unicodeScalars {
        switch u {
        case "i", "j", "l", "I", "!", "|", ".", ",", ":", ";", "'", "`": ems += 0.30
        case " ", "f", "t", "r", "(", ")", "[", "]", "/", "\\", "-", "J": ems += 0.40
        case "m", "w", "M", "W", "@", "%": ems += 0.95
        case "0"..."9", "a"..."z", "$", "#", "+", "=", "<", ">", "?", "_", "~", "*", "^": ems += 0.64
        case "A"..."Z", "&": ems += 0.74
        case "\u{2E80}"...: ems += 1.0  // CJK, most emoji: full width
        default: ems += 0.7
        }
    }
    return ems * size
}

/// Line colours: the Okabe–Ito palette (Okabe & Ito, *Color Universal Design*, 2008), which stays
/// distinguishable under the common colour-vision deficiencies, ordered for contrast on white
/// (its yellow, hardest to see on white, last). Series beyond eight reuse the colours in order.
let plotPalette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
