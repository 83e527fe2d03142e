import Foundation
import Testing
@testable import Recurrent
import RecurrentONNX

/// Single-node ONNX models over the attribute grid (`Tools/make_onnx_fixtures.py`): each `.onnx`
/// file is read and run on the fixture's feeds, and every output must match ONNX Runtime's
/// (layout 1 through its layout-0 twin) to 1e-5 relative, 1e-6 absolute.
@Suite struct ONNXFixtureTests {
    static var names: [String] { Fixtures.names(in: "onnx") }

    @Test(arguments: names)
    func nodeMatchesONNXRuntime(_ name: String) throws {
        let f = try Fixtures.load("onnx/" + name)
        let model = try ONNXModel.load(from: Fixtures.root.appendingPathComponent("onnx/\(name).onnx"))
        let feeds = Dictionary(uniqueKeysWithValues: f.tensors.filter { $0.key.hasPrefix("feed.") }.map { (String($0.key.dropFirst(5)), $0.value) })
        let outputs = try model.run(feeds)
        let expected = f.tensors.filter { $0.key.hasPrefix("expect.") }
        #expect(!expected.isEmpty)
        for (key, want) in expected {
            let output = String(key.dropFirst(7))
            let got = try #require(outputs[output], "\(name): no output \(output)")
            #expect(got.shape == want.shape, "\(name): \(output) shape")
            expectClose(got.scalars, want.scalars, "\(name) \(output)")
        }
    }

    /// The grid really is covered (a script change that dropped cases would fail here).
    @Test func gridIsCovered() {
        #expect(Self.names.count >= 27)
        for op in ["lstm", "gru", "rnn"] {
            for direction in ["forward", "reverse", "bidirectional"] {
                for layout in 0...1 { #expect(Self.names.contains("\(op)_\(direction)_layout\(layout)")) }
            }
        }
    }
}
