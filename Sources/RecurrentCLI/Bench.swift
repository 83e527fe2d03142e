import ArgumentParser
import Foundation
import Recurrent

/// `recurrent bench`: times a recurrent layer's forward (or forward + backward) pass.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a recurrent layer (build with -c release).",
        discussion: """
            Warms up, then times --repeat runs and reports the minimum and median in milliseconds and \
            GFLOP/s (2 flops per multiply-add of the input projection and the recurrent product; \
            training adds the backward's products: the hidden-state and weight gradients, and the input \
            gradient of every layer but the first, whose input needs none). --train times forward + \
            backward of the summed output with all weight gradients. --mode matmul times one matrix \
            product [batch, input-size] · [input-size, hidden-size] instead (the machine's product rate); \
            --mode peak times register-only fused multiply-adds on every thread (the machine's ceiling).
            """)

    @Option(help: "lstm, gru, rnn-tanh, rnn-relu, matmul (a plain matrix product) or peak (FMA ceiling).") var mode = "lstm"
    @Option(help: "The cell variant: standard, peephole, coupled, coupled-peephole (LSTM), reset-before (GRU), layer-norm (LSTM, GRU).")
    var variant = "standard"
    @Option(help: "A batch of unequal sequences: lengths spread evenly from this value to --seq-len over the batch (PyTorch's packed path).")
    var lengthsFrom: Int?
    @Option(help: "Input features I.") var inputSize = 256
    @Option(help: "Hidden size H.") var hiddenSize = 256
    @Option(help: "Batch B.") var batch = 64
    @Option(help: "Sequence length T.") var seqLen = 100
    @Option(help: "Stacked layers.") var layers = 1
    @Flag(help: "Two directions.") var bidirectional = false
    @Flag(help: "Time forward + backward instead of inference.") var train = false
    @Option(help: "Worker threads for the kernels.") var threads = 1
    @Option(help: "Timed repetitions after the warm-up.") var `repeat` = 10
    @Flag(help: "Print one JSON object on one line.") var json = false
    @Flag(help: "With --json, include every repetition's time.") var times = false
    @Option(help: "Time a convolution instead: conv (one Conv2d, --input-size → --hidden-size channels), convgru or sepconvgru (one RAFT step, hidden --hidden-size, input --input-size), convlstm (a ConvLSTM layer over --seq-len frames).")
    var conv: String?
    @Option(help: "With --conv: the kernel, e.g. 3x3, 1x5 (conv, convlstm).") var kernel = "3x3"
    @Option(help: "With --conv: the frame height.") var height = 55
    @Option(help: "With --conv: the frame width.") var width = 128

    func validate() throws {
        if let conv {
            guard ["conv", "convgru", "sepconvgru", "convlstm"].contains(conv) else {
                throw ValidationError("--conv must be conv, convgru, sepconvgru or convlstm, got '\(conv)'")
            }
            guard convKernel != nil else { throw ValidationError("--kernel must be HxW with odd sizes from 1 to 31, e.g. 3x3, got '\(kernel)'") }
            for (name, value) in [("--input-size", inputSize), ("--hidden-size", hiddenSize), ("--batch", batch), ("--seq-len", seqLen),
                                  ("--height", height), ("--width", width), ("--threads", threads), ("--repeat", `repeat`)] {
                try checkCount(name, value, in: 1...4096)
            }
            let frames = conv == "convlstm" ? seqLen : 1
            guard batch * frames * (inputSize + 4 * hiddenSize) * height * width <= Self.maxFloats / 4 else {
                throw ValidationError("--conv \(conv): the batch, channels and frames need more than \(Self.maxFloats / 4) floats")
            }
            return
        }
        guard ["lstm", "gru", "rnn-tanh", "rnn-relu", "matmul", "peak"].contains(mode) else {
            throw ValidationError("--mode must be lstm, gru, rnn-tanh, rnn-relu, matmul or peak, got '\(mode)'")
        }
        guard let options = Self.variants[variant] else {
            throw ValidationError("--variant must be one of \(Self.variants.keys.sorted().joined(separator: ", ")), got '\(variant)'")
        }
        let kind: ModelArchitecture.Kind? = switch mode { case "lstm": .lstm; case "gru": .gru; case "rnn-tanh", "rnn-relu": .rnn; default: nil }
        if variant != "standard" {
            guard let kind else { throw ValidationError("--mode \(mode) takes no --variant") }
            do { try options.validate(for: kind) } catch { throw ValidationError("--variant \(variant) does not fit --mode \(mode)") }
        }
        if let lengthsFrom {
            guard kind != nil else { throw ValidationError("--mode \(mode) takes no --lengths-from") }
            try checkCount("--lengths-from", lengthsFrom, in: 1...seqLen)
        }
        if (mode == "matmul" || mode == "peak") && (train || bidirectional || layers != 1) {
            throw ValidationError("--mode \(mode) takes no --train, --bidirectional or --layers")
        }
        for (name, value, limit) in [("--input-size", inputSize, 1 << 16), ("--hidden-size", hiddenSize, 1 << 16), ("--batch", batch, 1 << 16),
                                     ("--seq-len", seqLen, 1 << 20), ("--layers", layers, 64), ("--threads", threads, 1024),
                                     ("--repeat", `repeat`, 1 << 20)] {
            try checkCount(name, value, in: 1...limit)
        }
        let floats = estimatedFloats
        guard floats <= Self.maxFloats else {
            throw ValidationError("--input-size \(inputSize), --hidden-size \(hiddenSize), --batch \(batch), --seq-len \(seqLen) and --layers \(layers) need \(floats == Int.max ? "more than \(Int.max)" : "about \(floats)") floats of memory: the limit is \(Self.maxFloats) (4 GiB)")
        }
    }

    /// The variants `--variant` names.
    static let variants: [String: CellOptions] = [
        "standard": CellOptions(), "peephole": CellOptions(peephole: true), "coupled": CellOptions(coupledInputForget: true),
        "coupled-peephole": CellOptions(peephole: true, coupledInputForget: true), "reset-before": CellOptions(resetAfter: false),
        "layer-norm": CellOptions(layerNorm: true),
    ]

    /// The most Float32 values the weights, input and activations of one run may need (4 GiB).
    static let maxFloats = 1 << 30

    /// About how many Float32 values a run holds: the weights, the input and, per layer and
    /// direction, the gates and states of every step (overflow-checked: `Int.max` when it overflows).
    var estimatedFloats: Int {
        func product(_ factors: Int...) -> Int {
            var p = 1
            for f in factors {
                let (next, overflow) = p.multipliedReportingOverflow(by: f)
                if overflow { return Int.max }
                p = next
            }
            return p
        }
        func sum(_ terms: Int...) -> Int {
            terms.reduce(0) { a, b in let (s, overflow) = a.addingReportingOverflow(b); return overflow ? Int.max : s }
        }
        switch mode {
        case "peak": return 0
        case "matmul": return sum(product(batch, inputSize), product(inputSize, hiddenSize), product(batch, hiddenSize))
        default:
            let d = bidirectional ? 2 : 1, gates = mode == "lstm" ? 4 : (mode == "gru" ? 3 : 1)
            let weights = product(layers, d, gates, hiddenSize, sum(max(inputSize, d * hiddenSize), hiddenSize, 2))
            return sum(weights, product(seqLen, batch, sum(inputSize, product(layers, d, gates + 2, hiddenSize))))
        }
    }

    func run() throws {
        Kernels.setThreadCount(threads)
        if conv != nil { return try runConvolution() }
        manualSeed(0)
        let a = Tensor.randomNormal([batch, inputSize]), b = Tensor.randomNormal([inputSize, hiddenSize])
        let options = Self.variants[variant]!
        let layer: RecurrentLayer = switch mode {
        case "lstm", "matmul": LSTM(inputSize: mode == "matmul" ? 1 : inputSize, hiddenSize: mode == "matmul" ? 1 : hiddenSize,
                                    numLayers: layers, bidirectional: bidirectional, options: options)
        case "gru": GRU(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: layers, bidirectional: bidirectional, options: options)
        default: RNN(inputSize: inputSize, hiddenSize: hiddenSize, numLayers: layers, nonlinearity: mode == "rnn-relu" ? .relu : .tanh,
                     bidirectional: bidirectional, options: options)
        }
        layer.eval()
        let x = Tensor.randomNormal([mode == "matmul" ? 1 : seqLen, batch, mode == "matmul" ? 1 : inputSize])
        // Lengths spread evenly from --lengths-from to T (the longest first, as a sorted batch).
        let lengths = lengthsFrom.map { low in (0..<batch).map { b in seqLen - (seqLen - low) * b / max(batch - 1, 1) } }
        var peakFlops = 0.0
        func once() throws {
            if mode == "peak" {
                peakFlops = max(peakFlops, Kernels.measureFMAPeak())
            } else if mode == "matmul" {
                _ = withoutGradients { matmul(a, b) }
            } else if train {
                layer.zeroGrad()
                try layer.sequenceOutput(x, lengths: lengths).sum().backward()
            } else {
                _ = try withoutGradients { try layer.sequenceOutput(x, lengths: lengths) }
            }
        }
        try once()  // warm-up
        var measured: [Double] = []
        for _ in 0..<`repeat` {
            let start = DispatchTime.now().uptimeNanoseconds
            try once()
            measured.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let sorted = measured.sorted()
        let minimum = sorted[0], median = sorted[sorted.count / 2]
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024 / 1024  // bytes on Darwin
        #endif
        let gates = mode == "lstm" ? 4 : (mode == "gru" ? 3 : 1)
        let d = bidirectional ? 2 : 1
        var flops = mode == "matmul" ? 2 * Double(batch) * Double(inputSize) * Double(hiddenSize) : 0.0
        for l in 0..<layers where mode != "matmul" {
            let input = l == 0 ? inputSize : d * hiddenSize
            // Forward: x Wᵢₕᵀ and h Wₕₕᵀ. Backward: dh = dgh Wₕₕ, dWₕₕ and dWᵢₕ, and dx = dgx Wᵢₕ for every
            // layer but the first (its input needs no gradient, so neither engine computes one).
            let products = train ? 3 * (input + hiddenSize) - (l == 0 ? input : 0) : input + hiddenSize
            flops += Double(d) * 2 * Double(seqLen * batch * gates * hiddenSize * products)
        }
        let gflops = mode == "peak" ? peakFlops / 1e9 : flops / (minimum / 1e3) / 1e9
        if mode == "peak" { flops = peakFlops * minimum / 1e3 }
        if json {
            print("{\"mode\":\"\(mode)\",\"variant\":\"\(variant)\",\"lengths_from\":\(lengthsFrom ?? seqLen),\"input_size\":\(inputSize),\"hidden_size\":\(hiddenSize),\"batch\":\(batch),\"seq_len\":\(seqLen),\"layers\":\(layers),\"bidirectional\":\(bidirectional),\"train\":\(train),\"threads\":\(threads),\"repeat\":\(`repeat`),\"min_ms\":\(String(format: "%.4f", minimum)),\"median_ms\":\(String(format: "%.4f", median)),\"gflops\":\(String(format: "%.3f", gflops)),\"gflop\":\(String(format: "%.6g", flops / 1e9)),\"peak_rss_mb\":\(String(format: "%.1f", peakMB))\(times ? ",\"times\":[\(measured.map { String(format: "%.4f", $0) }.joined(separator: ","))]" : "")}")
        } else {
            print("\(mode)\(variant == "standard" ? "" : " " + variant) I=\(inputSize) H=\(hiddenSize) B=\(batch) T=\(seqLen) layers=\(layers)\(bidirectional ? " bidirectional" : "") \(train ? "train" : "forward") threads=\(threads)")
            print(String(format: "min %.3f ms  median %.3f ms  %.2f GFLOP/s  peak RSS %.0f MB", minimum, median, gflops, peakMB))
        }
    }
}

extension Bench {
    /// `--kernel` as (kH, kW), odd sizes only.
    var convKernel: (Int, Int)? {
        let parts = kernel.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ $0 >= 1 && $0 <= 31 && $0 % 2 == 1 }) else { return nil }
        return (parts[0], parts[1])
    }

    /// Times `--conv`: inputs (and the state) require gradients, as inside a network.
    func runConvolution() throws {
        manualSeed(0)
        let (kh, kw) = convKernel!
        let (b, ci, c, h, w) = (batch, inputSize, hiddenSize, height, width)
        let work: () throws -> Tensor
        var flops: Double
        switch conv! {
        case "conv":
            let layer = Conv2d(inChannels: ci, outChannels: c, kernelSize: (kh, kw), padding: .same)
            let x = Tensor.randomNormal([b, ci, h, w], requiresGrad: true)
            work = { try layer(x) }
            let macs: Int = b * c * ci * kh * kw
            flops = 2 * Double(macs * h * w)
        case "convgru":
            let cell = ConvGRU(hiddenChannels: c, inputChannels: ci)
            let (hs, x) = (Tensor.randomNormal([b, c, h, w], requiresGrad: true), Tensor.randomNormal([b, ci, h, w], requiresGrad: true))
            work = { try cell(h: hs, x: x) }
            let macs: Int = b * c * (c + ci) * 9 * h * w
            flops = 6 * Double(macs)
        case "sepconvgru":
            let cell = SepConvGRU(hiddenChannels: c, inputChannels: ci)
            let (hs, x) = (Tensor.randomNormal([b, c, h, w], requiresGrad: true), Tensor.randomNormal([b, ci, h, w], requiresGrad: true))
            work = { try cell(h: hs, x: x) }
            let macs: Int = b * c * (c + ci) * 5 * h * w
            flops = 12 * Double(macs)
        default:
            let layer = ConvLSTM(inputChannels: ci, hiddenChannels: c, kernelSize: (kh, kw))
            let x = Tensor.randomNormal([seqLen, b, ci, h, w], requiresGrad: true)
            work = { try layer(x).output }
            let perStep: Int = b * 4 * c * (ci + c) * kh * kw
            flops = 2 * Double(seqLen * perStep * h * w)
        }
        if train { flops *= 3 }
        func once() throws {
            if train { try work().sum().backward() } else { _ = try withoutGradients(work) }
        }
        try once()  // warm-up
        var measured: [Double] = []
        for _ in 0..<`repeat` {
            let start = DispatchTime.now().uptimeNanoseconds
            try once()
            measured.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let sorted = measured.sorted()
        let (minimum, median) = (sorted[0], sorted[sorted.count / 2])
        let gflops = flops / (minimum / 1e3) / 1e9
        if json {
            print("{\"conv\":\"\(conv!)\",\"kernel\":\"\(kernel)\",\"input_size\":\(ci),\"hidden_size\":\(c),\"batch\":\(b),\"height\":\(h),\"width\":\(w),\"seq_len\":\(seqLen),\"train\":\(train),\"threads\":\(threads),\"repeat\":\(`repeat`),\"min_ms\":\(String(format: "%.4f", minimum)),\"median_ms\":\(String(format: "%.4f", median)),\"gflops\":\(String(format: "%.3f", gflops))\(times ? ",\"times\":[\(measured.map { String(format: "%.4f", $0) }.joined(separator: ","))]" : "")}")
        } else {
            let kernels = conv == "convgru" ? "3x3" : conv == "sepconvgru" ? "1x5+5x1" : kernel  // the GRUs' kernels are RAFT's
            print("\(conv!) \(kernels) Cin=\(ci) C=\(c) B=\(b) \(h)x\(w)\(conv == "convlstm" ? " T=\(seqLen)" : "") \(train ? "train" : "forward") threads=\(threads)")
            print(String(format: "min %.3f ms  median %.3f ms  %.2f GFLOP/s", minimum, median, gflops))
        }
    }
}
