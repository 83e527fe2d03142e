import Foundation
import Testing
@testable import Recurrent

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Helpers for the worked examples' end-to-end tests through the built `recurrent` binary.
enum ExampleCommands {
    /// Runs the binary and returns its JSON summary (the last line of standard output).
    static func runJSON(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (json: [String: Any], stdout: String) {
        let result = try CommandRunner.run(arguments + ["--json", "--threads", "1"])
        #expect(result.status == 0, "\(arguments.first ?? ""): \(result.stderr)", sourceLocation: sourceLocation)
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        #expect(json != nil, "the last line is one JSON object: \(last)", sourceLocation: sourceLocation)
        return (json ?? [:], result.stdout)
    }

    /// Expects a failure: a non-zero exit, one line on standard error containing `fragment`, and
    /// no file left in `dir` beyond `keep` (no output, no temporary file).
    static func expectFailure(_ arguments: [String], _ fragment: String, in dir: TemporaryDirectory, keep: Set<String>,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CommandRunner.run(arguments)
        #expect(result.status != 0, "\(arguments) should fail", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line on stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "'\(fragment)' in: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(Set(dir.contents) == keep, "files left: \(dir.contents)", sourceLocation: sourceLocation)
    }

    /// Parses an SVG file as XML and returns the `data-series` names of its line paths.
    static func seriesNames(inSVG url: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.hasPrefix("<svg") || text.hasPrefix("<?xml"), "an SVG document: \(url.lastPathComponent)", sourceLocation: sourceLocation)
        #if canImport(FoundationXML) || os(macOS)
        let document = try XMLDocument(data: Data(text.utf8))
        #expect(document.rootElement()?.name == "svg", sourceLocation: sourceLocation)
        #endif
        // The plots mark each series' path (and its markers, if any) with data-series="NAME".
        var names: [String] = []
        for piece in text.components(separatedBy: "data-series=\"").dropFirst() {
            if let name = piece.split(separator: "\"").first.map(String.init), !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Renders an SVG with `rsvg-convert` (Debian's librsvg2-bin) when it is installed, and checks
    /// that a PNG came out; returns false when the tool is absent.
    @discardableResult
    static func renders(_ svg: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        guard let tool = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: FileManager.default.isExecutableFile) else {
            return false
        }
        let png = svg.deletingPathExtension().appendingPathExtension("png")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = [svg.path, "-o", png.path]
        try process.run()
        process.waitUntilExit()
        let bytes = try Data(contentsOf: png)
        #expect(process.terminationStatus == 0 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 1000,
                "\(svg.lastPathComponent) renders to PNG", sourceLocation: sourceLocation)
        try FileManager.default.removeItem(at: png)
        return true
    }

    /// `recurrent run MODEL --input X --output OUT.safetensors`, returning the `prediction` tensor.
    static func runPrediction(model: String, input: String, output: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TensorData? {
        let run = try CommandRunner.run(["run", model, "--input", input, "--output", output])
        #expect(run.status == 0, "\(run.stderr)", sourceLocation: sourceLocation)
        return try SafeTensorsFile.read(from: URL(fileURLWithPath: output)).tensors["prediction"]
    }

    /// The value of `key` in a JSON summary as a Double.
    static func number(_ json: [String: Any], _ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }
}
