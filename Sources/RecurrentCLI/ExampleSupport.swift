import ArgumentParser
import Foundation
import Recurrent

/// Options every worked example shares: threads, seed, where plots go, and the JSON summary.
struct ExampleOptions: ParsableArguments {
    @Option(help: "Kernel threads (default: every core; small layers stay on one thread by themselves).")
    var threads: Int?
    @Option(help: "Seed for initialisation, shuffling and sampling.")
    var seed: UInt64 = 0
    @Option(help: "Folder for the SVG plots (default: beside the model file).")
    var plots: String?
    @Flag(help: "Print one JSON object with the final metrics on the last line of standard output.")
    var json = false

    func validate() throws {
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be between 1 and 1024, got \(threads)") }
    }

    /// Sets the thread count and the seed before anything is built.
    func apply() {
        Kernels.setThreadCount(threads ?? ProcessInfo.processInfo.activeProcessorCount)
        manualSeed(seed)
    }

    /// The plots folder: `--plots`, else the model file's folder; created if missing.
    func plotsFolder(besides model: String) throws -> URL {
        let folder = plots.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: model).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CommandError("cannot create the plots folder \(folder.path): \(error.localizedDescription)")
        }
        return folder
    }

    /// Refuses, before any work, plot files (`names` in the plots folder) that would overwrite an input.
    func checkPlots(_ names: [String], besides model: String, inputs: [String?]) throws {
        let folder = plots.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: model).deletingLastPathComponent()
        for name in names { try checkDistinct(output: folder.appendingPathComponent(name).path, from: inputs, option: "--plots") }
    }

    /// Prints `fields` as one JSON object on one line, keys sorted, when `--json` was given.
    func report(_ fields: [String: Any]) throws {
        guard json else { return }
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// A training progress bar per epoch, fed by ``TrainingLoop``'s step callback.
struct EpochProgress {
    let label: String
    let unit: String
    let workPerStep: (Int) -> Int
    private var bar: ProgressBar?
    private var work = 0

    init(label: String, unit: String = "steps", workPerStep: @escaping (Int) -> Int = { _ in 1 }) {
        (self.label, self.unit, self.workPerStep) = (label, unit, workPerStep)
    }

    mutating func step(epoch: Int, step: Int, steps: Int, loss: Float) {
        if step == 1 {
            bar = ProgressBar(total: steps, label: "\(label) epoch \(epoch)", unit: unit)
            work = 0
        }
        work += workPerStep(step)
        bar?.update(step, loss: loss, work: work)
    }
}

/// Exponential moving average of step losses, for a readable training curve.
func smoothed(_ values: [Float], weight: Double = 0.9) -> [Double] {
    var out: [Double] = [], running: Double?
    for v in values {
        running = running.map { weight * $0 + (1 - weight) * Double(v) } ?? Double(v)
        out.append(running!)
    }
    return out
}

/// Refuses to write `output` over one of the command's inputs.
func checkDistinct(output: String, from inputs: [String?], option: String = "--output") throws {
    let target = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
    for case let input? in inputs where URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path == target {
        throw CommandError("\(option) \(output) would overwrite the input \(input); choose another file")
    }
}
