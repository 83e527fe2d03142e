import Foundation

/// A one-line progress bar on standard error: `[#####.....] 1200/3000 loss 0.0123 410 steps/s`.
///
/// On a terminal the line is redrawn in place at most ten times a second; otherwise (a log file,
/// CI) a plain line is printed at every tenth of the work.
struct ProgressBar {
    let total: Int
    let label: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    mutating func update(_ done: Int, loss: Float) {
        let now = Date()
        let rate = Double(done) / max(now.timeIntervalSince(start), 1e-9)
        let fraction = Double(done) / Double(total)
        let stats = "\(done)/\(total) loss \(String(format: "%.4f", loss)) \(String(format: "%.0f", rate)) steps/s"
        if isTerminal {
            guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = now
            let width = 30, filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write("\r\(label) [\(bar)] \(stats)\u{1B}[K".data(using: .utf8)!)
            if done == total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        } else {
            let decile = Int(fraction * 10)
            guard decile != lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write("\(label) \(Int(fraction * 100))% \(stats)\n".data(using: .utf8)!)
        }
    }
}
