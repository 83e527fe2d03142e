import ArgumentParser
import Foundation
import Recurrent

/// `recurrent moving-digits`: next-frame prediction on moving digits with a ConvLSTM (or ConvGRU)
/// encoder–forecaster.
struct MovingDigitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moving-digits",
        abstract: "Predict the next frames of moving digits (Moving MNIST) with a ConvLSTM or ConvGRU encoder-forecaster.",
        discussion: """
            Sequences follow Srivastava et al. 2015: two 28x28 digits bouncing in 64x64 frames, \
            from the IDX images in --data (MNIST, Fashion-MNIST: /usr/share/datasets/fashion-mnist) \
            or, without it, from built-in digits drawn from strokes. The model (Shi et al. 2015) \
            reads --input-frames frames as 16x16 maps of 4x4 patches, forecasts --future-frames, and \
            is trained with Adam on binary cross-entropy per pixel. It reports the test MSE per \
            predicted frame beside the copy-the-last-frame baseline, and writes the model and a \
            picture of input, true and predicted frames (SVG and PNG).
            """)

    @Option(help: "Folder with the four IDX files (training images move in training, test images in testing); built-in digits when absent.")
    var data: String?
    @Option(help: "convlstm or convgru.") var cell = "convlstm"
    @Option(help: "Hidden channels of each recurrent layer.") var hiddenChannels = 32
    @Option(help: "Recurrent layers in the encoder and in the forecaster (ConvLSTM).") var layers = 1
    @Option(help: "Kernel side of the recurrent convolutions (odd; ConvGRU: 3).") var kernelSize = 3
    @Option(help: "Side of the patches that become channels (the frame side must be a multiple).") var patchSize = 4
    @Option(help: "Frames seen.") var inputFrames = 10
    @Option(help: "Frames predicted.") var futureFrames = 10
    @Option(help: "Training updates.") var steps = 300
    @Option(help: "Sequences per update.") var batchSize = 8
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Float = 5e-3
    @Option(help: "Test sequences scored at the end.") var testSequences = 256
    @Option(help: "Where to write the trained model (.safetensors).") var output = "moving-digits.safetensors"
    @OptionGroup var example: ExampleOptions

    func validate() throws {
        guard ["convlstm", "convgru"].contains(cell) else { throw ValidationError("--cell must be convlstm or convgru, got '\(cell)'") }
        for (name, value, limit) in [("--hidden-channels", hiddenChannels, 1024), ("--layers", layers, 8), ("--input-frames", inputFrames, 100),
                                     ("--future-frames", futureFrames, 100), ("--steps", steps, 1_000_000), ("--batch-size", batchSize, 1024),
                                     ("--test-sequences", testSequences, 100_000)] {
            try checkCount(name, value, in: 1...limit)
        }
        try checkCount("--kernel-size", kernelSize, in: 1...15)
        try checkCount("--patch-size", patchSize, in: 1...64)
        try checkFloat("--lr", learningRate, positive: true)
        guard output.hasSuffix(".safetensors") else { throw ValidationError("--output must end in .safetensors, got '\(output)'") }
        do { try modelConfiguration.validate() } catch { throw ValidationError("\(error)".replacingOccurrences(of: "FramePredictor: ", with: "")) }
    }

    var modelConfiguration: FramePredictor.Configuration {
        var c = FramePredictor.Configuration()
        (c.cell, c.hiddenChannels, c.numLayers) = (cell == "convgru" ? .convGRU : .convLSTM, hiddenChannels, layers)
        (c.kernelSize, c.patchSize) = (kernelSize, patchSize)
        return c
    }

    func run() throws {
        example.apply()
        try example.checkPlots(["moving-digits.svg", "moving-digits.png"], besides: output, inputs: [])
        let digits = try data.map { try MNISTData.load(directory: URL(fileURLWithPath: $0)) }
        let (trainDigits, testDigits) = (digits?.training ?? MovingDigits.builtInDigits(count: 2000, seed: example.seed),
                                         digits?.test ?? MovingDigits.builtInDigits(count: 500, seed: example.seed &+ 1))
        var training = try MovingDigits(digits: trainDigits, seed: example.seed)
        var testing = try MovingDigits(digits: testDigits, seed: example.seed &+ 1)
        let T = inputFrames + futureFrames
        print("moving digits: \(data.map { "the IDX images of \($0)" } ?? "built-in digits drawn from strokes"), 2 per 64×64 frame, \(inputFrames) frames in, \(futureFrames) out")

        let model = FramePredictor(modelConfiguration)
        print("model: encoder \(model.encoder.architecture) + forecaster \(model.forecaster.architecture) + 1×1 readout, \(model.parameterCount) parameters, \(Kernels.threads) threads")
        var optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
        var bar = ProgressBar(total: steps, label: "moving-digits", unit: "sequences")
        var losses: [Float] = []
        let start = Date()
        for step in 1...steps {
            let frames = training.batch(batchSize, frames: T)
            optimizer.zeroGrad()
            let loss = try model.loss(input: frames.narrowed(axis: 0, start: 0, length: inputFrames),
                                      future: frames.narrowed(axis: 0, start: inputFrames, length: futureFrames))
            guard loss.item.isFinite else { throw CommandError("the loss is \(loss.item) at update \(step); lower --lr") }
            loss.backward()
            try clipGradNorm(model.parameters, maxNorm: 1)
            optimizer.step()
            losses.append(loss.item)
            bar.update(step, loss: loss.item, work: step * batchSize)
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "trained %d updates of %d sequences in %.0f s: loss (binary cross-entropy) %.4f -> %.4f", steps, batchSize, seconds,
                     losses.prefix(10).reduce(0, +) / Float(min(10, losses.count)), losses.suffix(10).reduce(0, +) / Float(min(10, losses.count))))

        let test = testing.batch(testSequences, frames: T)
        let scores = try model.evaluate(test, inputFrames: inputFrames)
        print("test MSE per pixel on \(testSequences) sequences, by predicted frame:")
        print("frame      " + (1...futureFrames).map { String(format: "%7d", inputFrames + $0) }.joined() + "     mean")
        let seen = test.narrowed(axis: 0, start: 0, length: inputFrames), truth = test.narrowed(axis: 0, start: inputFrames, length: futureFrames)
        let blank = try frameMSE(Tensor.zeros(truth.shape), truth)
        for (name, mse) in [(model.encoder.architecture.kind.displayName, scores.model), ("last frame", scores.baseline), ("blank frame", blank)] {
            print(name.padding(toLength: 11, withPad: " ", startingAt: 0) + mse.map { String(format: "%7.4f", $0) }.joined()
                  + String(format: "   %.4f", mse.reduce(0, +) / Float(mse.count)))
        }
        let (mean, baseline) = (scores.model.reduce(0, +) / Float(futureFrames), scores.baseline.reduce(0, +) / Float(futureFrames))
        print(mean < baseline ? String(format: "the model's test MSE is %.0f%% of the copy-last-frame baseline's", 100 * mean / baseline)
                              : "the model does NOT beat the copy-last-frame baseline (test MSE \(mean) vs \(baseline))")

        try model.save(to: URL(fileURLWithPath: output))
        let folder = try example.plotsFolder(besides: output)
        let rows = (0..<min(2, testSequences)).flatMap { b in
            [("input \(b + 1)", seen.selecting([b], alongAxis: 1), 1), ("true \(b + 1)", truth.selecting([b], alongAxis: 1), inputFrames + 1),
             ("predicted \(b + 1)", scores.prediction.selecting([b], alongAxis: 1), inputFrames + 1)]
        }
        let strip = try FrameStrip(title: "Moving digits: \(inputFrames) frames in, the next \(futureFrames) predicted by the \(model.encoder.architecture.kind.displayName) (test sequences)", rows: rows)
        let (svg, png) = (folder.appendingPathComponent("moving-digits.svg"), folder.appendingPathComponent("moving-digits.png"))
        try strip.write(to: svg)
        try strip.image().write(to: png)
        print("wrote \(output), \(svg.path), \(png.path)")
        try example.report(["test_mse": Double(mean), "baseline_mse": Double(baseline), "test_mse_per_frame": scores.model.map(Double.init),
                            "baseline_mse_per_frame": scores.baseline.map(Double.init), "train_loss": Double(losses.last!),
                            "seconds": seconds, "parameters": model.parameterCount, "threads": Kernels.threads])
    }
}
