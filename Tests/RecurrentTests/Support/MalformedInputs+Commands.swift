import Foundation
@testable import Recurrent

/// The flag combinations of ``MalformedInputs``: `fit`'s settings and data, outputs that name an
/// input, and the other commands' options.
extension MalformedInputs {
    /// `fit` with the given changes to a valid command line (LSTM model, `x.npy`, `y.npy`, one step).
    mutating func fit(_ category: String, _ name: String, _ flags: [String], model: String = "lstm.safetensors",
                      input: String = "x.npy", target: String = "y.npy", steps: Bool = true) throws {
        var arguments = ["fit", path(model), "--input", path(input), "--target", path(target), "--output", "OUT.safetensors"]
        if steps && !flags.contains(where: { ["--steps", "--epochs"].contains($0.split(separator: "=").first.map(String.init) ?? $0) }) {
            arguments += ["--steps", "1"]
        }
        try add(category, "fit " + name, arguments + flags)
    }

    mutating func fitCases() throws {
        let modes: [(String, [String])] = [("full batch", ["--steps", "2"]), ("--epochs 1 --batch-size 1", ["--epochs", "1", "--batch-size", "1"]),
                                           ("--steps 3 --batch-size 1", ["--steps", "3", "--batch-size", "1"])]
        for (flag, values) in [("--momentum", ["nan", "-5", "inf", "-inf"]), ("--weight-decay", ["nan", "-1", "inf"]),
                               ("--lr", ["0", "-1", "nan", "inf", "abc"]), ("--clip-grad-norm", ["nan", "0", "-1", "inf"]),
                               ("--steps", ["0", "-1", "9223372036854775807", "1000000001", "abc", "1.5"]),
                               ("--batch-size", ["0", "-1", "16777217", "9223372036854775807"]), ("--loss", ["foo", ""]),
                               ("--optimizer", ["bar"]), ("--seed", ["-1", "18446744073709551616"])] {
            for value in values {
                try fit("fit flags", "\(flag)=\(value)", ["\(flag)=\(value)"] + (flag == "--optimizer" ? [] : ["--optimizer", "sgd"]))
            }
        }
        try fit("fit flags", "--momentum with adam", ["--optimizer", "adam", "--momentum", "0.9"])
        try fit("fit flags", "--epochs without --batch-size", ["--epochs", "2"])
        try fit("fit flags", "--steps and --epochs", ["--steps", "2", "--epochs", "2", "--batch-size", "1"])
        try fit("fit flags", "no --steps", [], steps: false)
        try fit("fit flags", "--epochs 9223372036854775807", ["--epochs", "9223372036854775807", "--batch-size", "1"])
        try fit("fit flags", "--epochs 1000001", ["--epochs", "1000001", "--batch-size", "1"])
        try fit("fit flags", "10^6 epochs × 2000 batches", ["--epochs", "1000000", "--batch-size", "1"], input: "x2000.npy", target: "y2000.npy")
        try fit("fit flags", "--output not .safetensors", ["--output", "OUT.npy"])
        for (optimizer, flags) in [("sgd", ["--lr", "1e38"]), ("adam", ["--lr", "1e38"]), ("sgd", ["--weight-decay", "1e38", "--lr", "1"]),
                                   ("sgd", ["--momentum", "1e38", "--lr", "1e30"]), ("adamw", ["--weight-decay", "3e38", "--lr", "1e30"])] {
            for (mode, modeFlags) in modes {
                try fit("diverging training", "\(optimizer) \(flags.joined(separator: " ")), \(mode)", ["--optimizer", optimizer] + flags + modeFlags)
            }
        }
        try npy("x2000.npy", [1, 2000, 2])
        try npy("y2000.npy", [1, 2000, 2])

        // Data that does not fit the model or each other, in every mode.
        try npy("y-b3.npy", [3, 3, 2])
        try npy("y-b1.npy", [3, 1, 2])
        try npy("h0-b3.npy", [1, 3, 3])
        try npy("c0-b1.npy", [1, 1, 3])
        for (mode, modeFlags) in modes {
            try fit("fit shapes", "target batch 3, \(mode)", modeFlags, target: "y-b3.npy")
            try fit("fit shapes", "target batch 1, \(mode)", modeFlags, target: "y-b1.npy")
            try fit("fit shapes", "h0 batch 3, \(mode)", modeFlags + ["--h0", path("h0-b3.npy")])
            try fit("fit shapes", "c0 batch 1, \(mode)", modeFlags + ["--c0", path("c0-b1.npy")])
            try fit("fit shapes", "mse target [3, 2, 3], \(mode)", modeFlags, target: "x3.npy")
            try fit("fit shapes", "cross-entropy target [3, 2, 2], \(mode)", modeFlags + ["--loss", "cross-entropy"])
            for (name, values) in [("3e38", [0, 1, 3e38, 0, 1, 0]), ("-3e38", [0, 1, -3e38, 0, 1, 0]), ("-1", [0, 1, -1, 0, 1, 0]),
                                   ("0.5", [0, 1, 0.5, 0, 1, 0]), ("2 (= classes)", [0, 1, 2, 0, 1, 0])] as [(String, [Float])] {
                let file = "ce-\(cases.count).npy"
                try npy(file, [3, 2], values)
                try fit("fit targets", "cross-entropy target \(name), \(mode)", modeFlags + ["--loss", "cross-entropy"], target: file)
            }
            try fit("fit shapes", "zero-batch input, \(mode)", modeFlags, input: "x0.npy", target: "y0.npy")
            try fit("fit shapes", "input of rank 1, \(mode)", modeFlags, input: "r1.npy", target: "r1.npy")
            try fit("fit shapes", "input of rank 0, \(mode)", modeFlags, input: "r0.npy", target: "r0.npy")
            try fit("fit shapes", "features as tokens, \(mode)", modeFlags, model: "tokens.safetensors", target: "classes.npy")
        }
        try npy("x0.npy", [4, 0, 2])
        try npy("y0.npy", [4, 0, 2])
        try npy("r1.npy", [2])
        try npy("r0.npy", [])
    }

    // MARK: - Outputs that name an input

    mutating func overlapCases() throws {
        let model = path("lstm.safetensors"), x = path("x.npy")
        for (name, arguments) in [("the input", ["--output", x]), ("the model", ["--output", model]),
                                  ("h0", ["--h0", path("h0.npy"), "--output", path("h0.npy")]),
                                  ("c0", ["--c0", path("c0.npy"), "--output", path("c0.npy")]),
                                  ("the input by another spelling", ["--output", inputs.path + "/../inputs/./x.npy"]),
                                  ("the input through a symbolic link", ["--output", path("link.npy")])] {
            try add("outputs naming inputs", "run --output = \(name)", ["run", model, "--input", x] + arguments)
        }
        try FileManager.default.createSymbolicLink(atPath: path("link.npy"), withDestinationPath: x)
        for (role, source) in [("input", "x.npy"), ("target", "y.npy"), ("h0", "h0.npy"), ("c0", "c0.npy")] {
            let file = try write("\(role)-npy.safetensors", Data(contentsOf: URL(fileURLWithPath: path(source))))
            var arguments = ["fit", model, "--input", role == "input" ? file : x, "--target", role == "target" ? file : path("y.npy"),
                             "--steps", "1", "--output", file]
            if role == "h0" || role == "c0" { arguments += ["--\(role)", file] }
            try add("outputs naming inputs", "fit --output = the \(role)", arguments)
        }
        let csv = try write("prices.safetensors", Data(Self.pricesCSV.utf8))
        try add("outputs naming inputs", "forecast --output = the CSV", ["forecast", "--csv", csv, "--target", "close", "--epochs", "1", "--output", csv])
        let text = try write("text.safetensors", Data(Self.text.utf8))
        try add("outputs naming inputs", "charlm train --output = the text", ["charlm", "train", "--text", text, "--output", text])
    }

    static let pricesCSV = "date,close\n" + (0..<120).map { "2024-01-\($0),\(100 + Double($0 % 17) / 3)" }.joined(separator: "\n") + "\n"
    static let text = String(repeating: "the quick brown fox jumps over the lazy dog.\n", count: 40)

    // MARK: - The other commands' options

    mutating func exampleCommandCases() throws {
        let huge = "9223372036854775807"
        for flags in [["--hidden-size", huge], ["--input-size", huge], ["--batch", "0"], ["--batch", huge], ["--seq-len", "-1"], ["--seq-len", huge],
                      ["--layers", "100000"], ["--layers", "0"], ["--threads", "0"], ["--threads", "5000"], ["--repeat", "0"], ["--repeat", huge],
                      ["--mode", "foo"], ["--hidden-size", "65536", "--input-size", "65536"], ["--seq-len", "1048576", "--batch", "65536"],
                      ["--mode", "matmul", "--layers", "2"], ["--mode", "matmul", "--batch", "65536", "--input-size", "65536"],
                      ["--hidden-size", "abc"], ["--hidden-size", "1e3"], ["--mode", "gru", "--bidirectional", "--layers", "64", "--hidden-size", "8192"]] {
            try add("bench flags", flags.joined(separator: " "), ["bench"] + flags)
        }
        for flags in [["--seq-len", "1"], ["--seq-len", huge], ["--hidden-size", "0"], ["--hidden-size", huge], ["--steps", "0"], ["--steps", huge],
                      ["--batch-size", "0"], ["--batch-size", huge], ["--learning-rate", "nan"], ["--learning-rate", "inf"], ["--learning-rate", "0"],
                      ["--learning-rate=-1"], ["--models", ""], ["--models", "foo"], ["--models", ","], ["--seq-len", "100000", "--hidden-size", "16384"]] {
            try add("demo flags", flags.joined(separator: " "), ["demo"] + flags)
        }

        let empty = inputs.appendingPathComponent("empty-folder"), corrupt = inputs.appendingPathComponent("corrupt-mnist")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: corrupt, withIntermediateDirectories: true)
        for name in [MNISTData.fileNames.trainingImages, MNISTData.fileNames.trainingLabels, MNISTData.fileNames.testImages, MNISTData.fileNames.testLabels] {
            try Data([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28]).write(to: corrupt.appendingPathComponent(name))
        }
        for flags in [["--data", path("no-such-folder")], ["--data", empty.path], ["--data", path("x.npy")], ["--data", corrupt.path],
                      ["--hidden-size", "0"], ["--hidden-size", huge], ["--layers", "0"], ["--layers", "100"], ["--epochs", "0"], ["--epochs", huge],
                      ["--batch-size", "0"], ["--lr", "nan"], ["--lr=-1"], ["--eval-every=-1"], ["--threads", "0"], ["--threads", "2000"],
                      ["--cell", "foo"], ["--output", "OUT.txt"], ["--test-subset", "0"]] {
            let data = flags.first == "--data" ? [] : ["--data", corrupt.path]
            try add("mnist flags", flags.joined(separator: " "), ["mnist"] + data + flags + (flags.first == "--output" ? [] : ["--output", "OUT.safetensors"]))
        }

        let csv = try write("prices.csv", Data(Self.pricesCSV.utf8))
        let nanCSV = try write("nan.csv", Data(Self.pricesCSV.replacingOccurrences(of: "2024-01-5,", with: "2024-01-5,nan\n2024-01-5b,").utf8))
        let binary = try write("binary.csv", Data((0..<256).map { UInt8($0) }))
        for flags in [["--window", "0"], ["--window", huge], ["--window", "1000"], ["--horizon", "0"], ["--horizon", "500"], ["--hidden-size", huge],
                      ["--layers", "0"], ["--epochs", "0"], ["--batch-size", "0"], ["--patience", "0"], ["--lr", "nan"], ["--lr", "inf"],
                      ["--validation-fraction", "nan"], ["--validation-fraction", "0.9"], ["--test-fraction=-0.1"], ["--cell", "rnn"],
                      ["--target", "nosuch"], ["--features", "nosuch"], ["--csv", path("missing.csv")], ["--csv", binary], ["--csv", nanCSV, "--epochs", "1"]] {
            let base = flags.first == "--csv" ? [] : ["--csv", csv]
            let target = flags.first == "--target" ? [] : ["--target", "close"]
            try add("forecast flags", flags.joined(separator: " "), ["forecast"] + base + target + flags + ["--output", "OUT.safetensors"])
        }

        let text = try write("text.txt", Data(Self.text.utf8))
        let one = try write("one-char.txt", Data(String(repeating: "a", count: 500).utf8))
        let emptyText = try write("empty.txt", Data())
        let latin1 = try write("latin1.txt", Data([0x63, 0x61, 0x66, 0xE9, 0x0A, 0xFF, 0xFE]))
        for flags in [["--window", "0"], ["--window", huge], ["--hidden-size", "0"], ["--hidden-size", huge], ["--embedding-size=-1"],
                      ["--layers", "0"], ["--batch-size", "0"], ["--epochs", "0"], ["--lr", "nan"], ["--lr", "inf"], ["--clip-grad-norm", "nan"],
                      ["--clip-grad-norm=-1"], ["--validation-fraction", "0.7"], ["--validation-fraction", "nan"], ["--max-chars=-1"],
                      ["--cell", "foo"], ["--text", path("missing.txt")], ["--text", emptyText], ["--text", one], ["--text", latin1],
                      ["--resume", path("missing.safetensors")], ["--resume", path("lstm.safetensors")], ["--window", "100000"]] {
            let base = flags.first == "--text" ? [] : ["--text", text]
            try add("charlm flags", "train " + flags.joined(separator: " "), ["charlm", "train"] + base + flags + ["--output", "OUT.safetensors"])
        }
        for flags in [["--model", path("missing.safetensors")], ["--model", path("lstm.safetensors")], ["--model", path("tokens.safetensors")],
                      ["--length=-1"], ["--length", huge], ["--temperature", "nan"], ["--temperature=-1"], ["--temperature", "inf"], ["--prime", ""]] {
            let base = flags.first == "--model" ? [] : ["--model", path("tokens.safetensors")]
            try add("charlm flags", "sample " + flags.joined(separator: " "), ["charlm", "sample"] + base + flags)
        }
    }
}
