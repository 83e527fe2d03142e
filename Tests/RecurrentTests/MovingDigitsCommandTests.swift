import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Recurrent

/// The frame predictor (patches, the loss, its file) and `recurrent moving-digits` end to end on
/// a tiny configuration.
@Suite(.serialized) struct MovingDigitsCommandTests {
    /// Patch `(py, px)` of map position `(gy, gx)` is pixel `(gy·p + py, gx·p + px)`, and the two
    /// rearrangements undo each other.
    @Test func patchesAreChannelsOfPixelBlocks() {
        let frames = Tensor(shape: [2, 3, 1, 8, 8], scalars: (0..<(2 * 3 * 64)).map(Float.init))
        let patches = framesToPatches(frames, patchSize: 4)
        #expect(patches.shape == [2, 3, 16, 2, 2])
        // Frame (t 1, b 2), patch channel py 1 · 4 + px 3 = 7, map (1, 0): pixel (5, 3).
        let frame = (1 * 3 + 2) * 64
        #expect(patches.scalars[frame + (7 * 2 + 1) * 2 + 0] == frames.scalars[frame + 5 * 8 + 3])
        #expect(patchesToFrames(patches, patchSize: 4).scalars == frames.scalars)
        #expect(patchesToFrames(framesToPatches(frames, patchSize: 2), patchSize: 2).scalars == frames.scalars)
    }

    func tinyConfiguration(_ cell: ConvModelArchitecture.Kind) -> FramePredictor.Configuration {
        var c = FramePredictor.Configuration()
        (c.cell, c.frameSize, c.patchSize, c.hiddenChannels) = (cell, 8, 2, 3)
        return c
    }

    /// The loss is PyTorch's `binary_cross_entropy_with_logits` (mean), computed here in Double
    /// from the logits, and it falls under Adam.
    @Test(arguments: [ConvModelArchitecture.Kind.convLSTM, .convGRU])
    func lossIsBinaryCrossEntropyAndFalls(_ cell: ConvModelArchitecture.Kind) throws {
        manualSeed(5)
        let model = FramePredictor(tinyConfiguration(cell))
        var source = try MovingDigits(digits: MovingDigits.builtInDigits(count: 10, seed: 0).downsampled(), frameSize: 8, seed: 1)
        let frames = source.batch(3, frames: 5)
        let (input, future) = (frames.narrowed(axis: 0, start: 0, length: 3), frames.narrowed(axis: 0, start: 3, length: 2))
        let z = try model.logits(input, future: future).scalars.map(Double.init)
        let y = framesToPatches(future, patchSize: 2).scalars.map(Double.init)
        let expected = zip(z, y).map { z, y in -(y * log(1 / (1 + exp(-z))) + (1 - y) * log(1 - 1 / (1 + exp(-z)))) }.reduce(0, +) / Double(z.count)
        let first = try model.loss(input: input, future: future)
        #expect(abs(Double(first.item) - expected) < 1e-5 * expected)
        var adam = Adam(parameters: model.parameters, learningRate: 0.02)
        for _ in 0..<30 {
            adam.zeroGrad()
            try model.loss(input: input, future: future).backward()
            adam.step()
        }
        #expect(try model.loss(input: input, future: future).item < 0.8 * first.item)
        let prediction = try model(input, futureFrames: 2)
        #expect(prediction.shape == [2, 3, 1, 8, 8] && prediction.scalars.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func fileRoundTripsAndBadFilesAreErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        manualSeed(2)
        let model = FramePredictor(tinyConfiguration(.convLSTM))
        try model.save(to: dir.file("p.safetensors"))
        let loaded = try FramePredictor.load(from: dir.file("p.safetensors"))
        #expect(loaded.configuration == model.configuration)
        let x = Tensor(shape: [2, 1, 1, 8, 8], scalars: testValues(128, seed: 3).map { abs($0) })
        #expect(try loaded(x, futureFrames: 3).scalars == model(x, futureFrames: 3).scalars)
        var file = try SafeTensorsFile.read(from: dir.file("p.safetensors"))
        file.metadata["patch_size"] = "3"
        try file.write(to: dir.file("bad.safetensors"))
        #expect { _ = try FramePredictor.load(from: dir.file("bad.safetensors")) } throws: { "\($0)".contains("bad.safetensors: FramePredictor: the frame size 8 must be a multiple of the patch size 3") }
        #expect { _ = try model(Tensor.zeros([2, 1, 1, 8, 9]), futureFrames: 1) } throws: { "\($0)".contains("the input must be [T, B, 1, 8, 8]") }
    }

    /// The command on a tiny configuration: it trains, scores the model beside the baseline, writes
    /// the model (which `inspect` describes), the SVG figure and the PNG; the same seed gives the same
    /// file; `--data` reads IDX images.
    @Test func commandRunsEndToEnd() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyDataset.write(to: dir.url)   // 2×4 "digits"
        let common = ["moving-digits", "--steps", "2", "--batch-size", "1", "--test-sequences", "2", "--input-frames", "2",
                      "--future-frames", "2", "--hidden-channels", "2", "--patch-size", "8", "--threads", "1", "--json"]
        let r = try CommandRunner.run(common + ["--output", dir.path("m.safetensors"), "--plots", dir.path("plots")])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(r.stdout.split(separator: "\n").last!.utf8)) as? [String: Any]
        for key in ["test_mse", "baseline_mse", "train_loss", "seconds"] { #expect((summary?[key] as? Double)?.isFinite == true, "\(key)") }
        #expect((summary?["test_mse_per_frame"] as? [Double])?.count == 2)
        #expect(r.stdout.contains("ConvLSTM  ") && r.stdout.contains("last frame") && r.stdout.contains("built-in digits"))
        let svg = try ParsedSVG(String(contentsOf: dir.file("plots/moving-digits.svg"), encoding: .utf8))
        #expect(svg.texts(inGroup: "row-labels") == ["input 1", "true 1", "predicted 1", "input 2", "true 2", "predicted 2"])
        #expect(svg.elements("image").count == 12)
        let png = try DecodedPNG(Data(contentsOf: dir.file("plots/moving-digits.png")))
        #expect(png.width == 4 + 2 * 68 && png.height == 4 + 6 * 68)
        let inspect = try CommandRunner.run(["inspect", dir.path("m.safetensors")])
        #expect(inspect.status == 0 && inspect.stdout.contains("frame predictor") && inspect.stdout.contains("encoder.cell_list.0.conv.weight"))

        let again = try CommandRunner.run(common + ["--output", dir.path("m2.safetensors"), "--plots", dir.path("plots2")])
        #expect(again.status == 0)
        #expect(try Data(contentsOf: dir.file("m.safetensors")) == Data(contentsOf: dir.file("m2.safetensors")), "same seed, same model")

        let idx = try CommandRunner.run(common + ["--cell", "convgru", "--data", dir.url.path, "--output", dir.path("g.safetensors"),
                                                  "--plots", dir.path("plots3")])
        #expect(idx.status == 0 && idx.stdout.contains("the IDX images of") && idx.stdout.contains("ConvGRU  "), "\(idx.stderr)")
    }

    @Test func badOptionsAreOneLineErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cases: [([String], String)] = [
            (["--cell", "lstm"], "--cell must be convlstm or convgru, got 'lstm'"),
            (["--patch-size", "5"], "the frame size 64 must be a multiple of the patch size 5"),
            (["--cell", "convgru", "--kernel-size", "5"], "3 for RAFT's ConvGRU"),
            (["--steps", "0"], "--steps must be between 1 and 1000000, got 0"),
            (["--lr", "nan"], "--lr must be a finite number > 0"),
            (["--data", dir.path("missing")], "no train-images-idx3-ubyte in this folder"),
        ]
        for (args, message) in cases {
            let r = try CommandRunner.run(["moving-digits", "--output", dir.path("m.safetensors")] + args)
            #expect(r.status != 0 && r.stderr.contains(message) && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        #expect(dir.contents.isEmpty, "nothing written")
    }
}

extension MNISTData.Split {
    /// Every fourth pixel of every fourth row: 7×7 digits that fit the 8×8 frames of fast tests.
    func downsampled() -> MNISTData.Split {
        let (r, c) = (rows / 4, cols / 4)
        var pixels: [UInt8] = []
        for k in 0..<count { for y in 0..<r { for x in 0..<c { pixels.append(self.pixels[k * rows * cols + 4 * y * cols + 4 * x]) } } }
        return MNISTData.Split(pixels: pixels, labels: labels, rows: r, cols: c)
    }
}

/// The README's moving-digits program, as written there but for the loop's length and the
/// batch sizes (the README: 300 updates of 8, 256 test sequences).
@Suite struct MovingDigitsProgramTests {
    @Test func readmeProgramRuns() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (updates, batch, tests) = (2, 2, 3)
        // --- the README's program, from here ---
        manualSeed(0)
        var training = try MovingDigits(digits: MovingDigits.builtInDigits(count: 2000, seed: 0), seed: 0)   // or MNISTData.load(directory:).training
        var testing = try MovingDigits(digits: MovingDigits.builtInDigits(count: 500, seed: 1), seed: 1)
        let model = FramePredictor(FramePredictor.Configuration())         // ConvLSTM encoder–forecaster, 64×64 frames as 16×16 maps of 4×4 patches
        var optimizer = Adam(parameters: model.parameters, learningRate: 5e-3)
        for _ in 0..<updates {
            let frames = training.batch(batch, frames: 20)                  // [20, B, 1, 64, 64]
            optimizer.zeroGrad()
            try model.loss(input: frames.narrowed(axis: 0, start: 0, length: 10),
                           future: frames.narrowed(axis: 0, start: 10, length: 10)).backward()   // binary cross-entropy per pixel
            try clipGradNorm(model.parameters, maxNorm: 1)
            optimizer.step()
        }
        let test = testing.batch(tests, frames: 20)
        let scores = try model.evaluate(test, inputFrames: 10)             // per-frame MSE of the model and of copying the last frame
        print(scores.model, scores.baseline)
        let input = test.narrowed(axis: 0, start: 0, length: 10), truth = test.narrowed(axis: 0, start: 10, length: 10)
        try FrameStrip(title: "moving digits", rows: [("input", input, 1), ("true", truth, 11), ("predicted", scores.prediction, 11)])
            .write(to: dir.file("moving-digits.svg"))
        try model.save(to: dir.file("moving-digits.safetensors"))
        // --- to here ---
        #expect(scores.model.count == 10 && scores.baseline.count == 10 && scores.prediction.shape == [10, tests, 1, 64, 64])
        #expect(try ParsedSVG(String(contentsOf: dir.file("moving-digits.svg"), encoding: .utf8)).elements("image").count == 30)
        #expect(try FramePredictor.load(from: dir.file("moving-digits.safetensors")).configuration == model.configuration)
    }
}
