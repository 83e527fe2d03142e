import Foundation

/// A one-line progress bar on standard error:
/// `mnist epoch 1 [#########.....] 800/1200 loss 0.4123 410 steps/s ETA 0:01`.
///
/// It is drawn only on a terminal, redrawn in place at most ten times a second; when standard
/// error is a file or a pipe (a log, CI, a script reading `--json`) it prints nothing.
struct ProgressBar {
    let total: Int
    let label: String
    /// What the rate counts (`steps/s`, `chars/s`, …): `work` units per update.
    let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(total: Int, label: String, unit: String = "steps") {
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
    }

    /// Shows `done` of `total`, with the latest loss and the rate of `work` units per second (by
    /// default one per update).
    mutating func update(_ done: Int, loss: Float, work: Int? = nil) {
        guard isTerminal else { return }
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(work ?? done) / elapsed
        let remaining = done > 0 ? elapsed * Double(total - done) / Double(done) : 0
        let fraction = min(Double(done) / Double(total), 1)
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let stats = "\(done)/\(total) loss \(String(format: "%.4f", loss)) \(Self.compact(rate)) \(unit)/s ETA \(Self.clock(remaining))"
        FileHandle.standardError.write("\r\(label) [\(bar)] \(stats)\u{1B}[K".data(using: .utf8)!)
        if done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    /// `1234` → `1234`, `56789` → `56.8k`, `1.2e6` → `1.2M`.
    static func compact(_ value: Double) -> String {
        switch value {
        case 1e6...: String(format: "%.1fM", value / 1e6)
        case 1e4...: String(format: "%.1fk", value / 1e3)
        default: String(format: "%.0f", value)
        }
    }

    /// Seconds as `m:ss` (or `h:mm:ss`).
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
