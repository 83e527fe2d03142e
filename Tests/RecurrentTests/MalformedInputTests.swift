import Foundation
import Testing
@testable import Recurrent

/// Every malformed file, value and flag combination of ``MalformedInputs`` run through the built
/// `recurrent` binary: each must exit non-zero (no signal, no trap) within a few seconds, print
/// exactly one line on standard error, create nothing in its working folder, and leave every
/// file it names byte for byte as it was.
///
/// The cases by category (541 when this was written; `counts` prints the current numbers): metadata
/// sizes 118, metadata values 22, state dict shapes 62, non-finite weights 72, input arrays 48,
/// fit flags 39, diverging training 15, fit shapes 30, fit targets 15, outputs naming inputs 12,
/// bench flags 20, demo flags 16, mnist flags 19, forecast flags 21, charlm flags 32. About 25 s
/// in a debug build on 2 cores. `MALFORMED_LOG=1 swift test --filter MalformedInputTests` prints
/// every case's message.
@Suite struct MalformedInputTests {
    /// Generated once, into a temporary folder, when the cases are listed.
    static let corpus = try! MalformedInputs()

    /// A run may take this long before it counts as a hang (a debug build on a busy machine).
    static let timeout = 10.0

    @Test(arguments: corpus.cases)
    func failsWithOneLine(_ c: MalformedCase) throws {
        let named = c.arguments.filter { FileManager.default.fileExists(atPath: $0) && !$0.hasPrefix(c.folder.path) }
        let before = named.map { try? Data(contentsOf: URL(fileURLWithPath: $0)) }
        let r = try CommandRunner.run(c.arguments, timeout: Self.timeout, directory: c.folder)
        if ProcessInfo.processInfo.environment["MALFORMED_LOG"] != nil { print("CASE \(c.testDescription) [\(String(format: "%.2f", r.seconds)) s] \(r.stderr)", terminator: "") }
        #expect(!r.timedOut, "still running after \(Self.timeout) s")
        #expect(r.reason == .exit, "stopped by signal \(r.status): \(r.stderr.suffix(400))")
        #expect(r.status != 0, "exit status 0; stdout: \(r.stdout.suffix(300))")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty && lines[0].hasPrefix("Error: "), "standard error is not one line: \(r.stderr.debugDescription.prefix(600))")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: c.folder.path)) ?? []
        #expect(left.isEmpty, "files left in the working folder: \(left)")
        for (path, data) in zip(named, before) {
            #expect((try? Data(contentsOf: URL(fileURLWithPath: path))) == data, "\(path) changed")
        }
    }

    /// The valid files the malformed ones are made from do work, so that each case fails for its own reason.
    @Test func basesAreValid() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = Self.corpus
        for arguments in [["run", c.path("lstm.safetensors"), "--input", c.path("x.npy"), "--h0", c.path("h0.npy"), "--c0", c.path("c0.npy"), "--output", dir.path("a.npy")],
                          ["run", c.path("tokens.safetensors"), "--input", c.path("t.npy"), "--output", dir.path("b.npy")],
                          ["run", c.path("plain.safetensors"), "--input", c.path("x.npy"), "--output", dir.path("c.npy")],
                          ["fit", c.path("lstm.safetensors"), "--input", c.path("x.npy"), "--target", c.path("y.npy"), "--epochs", "1", "--batch-size", "1",
                           "--h0", c.path("h0.npy"), "--output", dir.path("d.safetensors")],
                          ["fit", c.path("lstm.safetensors"), "--input", c.path("x.npy"), "--target", c.path("classes.npy"), "--loss", "cross-entropy",
                           "--steps", "2", "--optimizer", "sgd", "--momentum", "0.9", "--output", dir.path("e.safetensors")],
                          ["fit", c.path("tokens.safetensors"), "--input", c.path("t.npy"), "--target", c.path("t.npy"), "--loss", "cross-entropy",
                           "--epochs", "1", "--batch-size", "1", "--output", dir.path("f.safetensors")]] {
            let r = try CommandRunner.run(arguments)
            #expect(r.status == 0, "\(arguments.prefix(2)): \(r.stderr)")
        }
    }

    /// `fit MODEL --output MODEL` trains in place: allowed, and the file changes.
    @Test func fitTrainsInPlace() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = Self.corpus
        let model = dir.path("m.safetensors")
        try FileManager.default.copyItem(atPath: c.path("lstm.safetensors"), toPath: model)
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        let r = try CommandRunner.run(["fit", model, "--input", c.path("x.npy"), "--target", c.path("y.npy"), "--steps", "2", "--output", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) != before)
        #expect(dir.contents == ["m.safetensors"])
    }

    @Test func counts() {
        let counts = Dictionary(grouping: Self.corpus.cases, by: \.category).mapValues(\.count)
        print("malformed cases: \(Self.corpus.cases.count): " + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        #expect(Self.corpus.cases.count >= 300)
    }
}
