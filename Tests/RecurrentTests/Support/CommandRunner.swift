import Foundation

/// Runs the `recurrent` executable built beside the test bundle.
enum CommandRunner {
    static var executable: URL {
        Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("recurrent")
    }

    /// Runs `recurrent args…`, returning the exit status and what it printed.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try run(arguments, timeout: nil)
        return (r.status, r.stdout, r.stderr)
    }

    /// How one run ended.
    struct Result {
        var status: Int32
        /// `.exit`, or `.uncaughtSignal` for a trap or a kill.
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
        var seconds: Double
        /// Whether the run was killed for taking longer than the timeout.
        var timedOut: Bool
    }

    /// Runs `recurrent args…` in `directory` (default: the current one), killing it (SIGKILL)
    /// after `timeout` seconds when one is given.
    static func run(_ arguments: [String], timeout: Double?, directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let start = Date()
        try process.run()
        // Read both pipes while the process runs, so that neither fills up and blocks it.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        var timedOut = false
        if let timeout, finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        } else if timeout == nil {
            finished.wait()
        }
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, reason: process.terminationReason,
                      stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self),
                      seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }
}
