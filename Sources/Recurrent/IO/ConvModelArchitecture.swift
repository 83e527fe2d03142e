import Foundation

/// The architecture of a saved convolutional recurrent model (``ConvLSTM``, ``ConvGRU``,
/// ``SepConvGRU``): what `__metadata__` records (`format` `recurrent`, `kind` `convlstm`, `convgru`
/// or `sepconvgru`), or what the key names and shapes of a plain PyTorch `state_dict` imply.
///
/// The keys are the common PyTorch implementations' names, under any ``prefix``:
///
/// | kind         | keys of one cell (each `.weight` `[C_out, C_in, kH, kW]`, `.bias` `[C_out]`) |
/// |--------------|-------------------------------------------------------------------|
/// | `convlstm`   | `conv` `[4·Cₕ, Cᵢ + Cₕ, k, k]` (ndrplz/ConvLSTM_pytorch); peepholes `w_ci`, `w_cf`, `w_co` `[Cₕ, H, W]` |
/// | `convgru`    | `convz`, `convr`, `convq` `[Cₕ, Cₕ + Cᵢ, 3, 3]` (RAFT's `ConvGRU`) |
/// | `sepconvgru` | `convz1`, `convr1`, `convq1` `[Cₕ, Cₕ + Cᵢ, 1, 5]`, `convz2`, `convr2`, `convq2` `[Cₕ, Cₕ + Cᵢ, 5, 1]` (RAFT's `SepConvGRU`) |
///
/// A stack of layers (``ConvRecurrentLayer``) has each cell's keys under `cell_list.{l}.`
/// (``cellList``); a single cell's, such as RAFT's `update_block.gru.`, sit directly under the prefix.
///
/// Inputs are `[T, B, Cᵢ, H, W]` (`[B, T, …]` with ``batchFirst``), states `[L, B, Cₕ, H, W]`.
public struct ConvModelArchitecture: Equatable, Sendable, CustomStringConvertible {
    /// The cell.
    public enum Kind: String, Sendable, CaseIterable {
        /// Shi et al. 2015's ConvLSTM: one convolution over `[x, h]` giving the gates i, f, o, g.
        case convLSTM = "convlstm"
        /// RAFT's ConvGRU: `convz`, `convr`, `convq` over `[h, x]`.
        case convGRU = "convgru"
        /// RAFT's SepConvGRU: the ConvGRU update with 1×k kernels, then with k×1 kernels.
        case sepConvGRU = "sepconvgru"

        /// The name used in summaries: `ConvLSTM`, `ConvGRU`, `SepConvGRU`.
        public var displayName: String {
            switch self {
            case .convLSTM: "ConvLSTM"
            case .convGRU: "ConvGRU"
            case .sepConvGRU: "SepConvGRU"
            }
        }
    }

    /// The cell kind.
    public var kind: Kind
    /// `Cᵢ`: channels of the input.
    public var inputChannels: Int
    /// `Cₕ`: channels of the hidden state (and of the output).
    public var hiddenChannels: Int
    /// The kernel's height `kH` of a ConvLSTM (3 for ConvGRU), or the long side `k` of
    /// SepConvGRU's `1 × k` and `k × 1` kernels (5).
    public var kernelSize: Int
    /// The kernel's width `kW` of a ConvLSTM (``kernelSize`` for the GRUs).
    public var kernelWidth: Int
    /// `L`: stacked layers.
    public var numLayers: Int = 1
    /// Whether the convolutions have biases (RAFT's GRUs always do).
    public var bias = true
    /// ConvLSTM with Shi et al.'s Hadamard peepholes `[Cₕ, H, W]`: they fix the frame size.
    public var peephole = false
    /// The frame's `(H, W)` for peepholes, else nil (any frame size).
    public var frameSize: [Int]?
    /// Cannot be inferred from weights; default time-major.
    public var batchFirst = false
    /// Key prefix of the module (`"update_block.gru."`, `"encoder."`), or `""`.
    public var prefix = ""
    /// Keys under `cell_list.{l}.` (a layer) rather than directly under ``prefix`` (one cell, one layer).
    public var cellList = true

    /// Creates an architecture description.
    /// `kernelSize` is the kernel's height and, unless `kernelWidth` is given, its width.
    public init(kind: Kind, inputChannels: Int, hiddenChannels: Int, kernelSize: Int? = nil, kernelWidth: Int? = nil, numLayers: Int = 1, bias: Bool = true,
                peephole: Bool = false, frameSize: [Int]? = nil, batchFirst: Bool = false, prefix: String = "", cellList: Bool = true) {
        (self.kind, self.inputChannels, self.hiddenChannels) = (kind, inputChannels, hiddenChannels)
        self.kernelSize = kernelSize ?? (kind == .sepConvGRU ? 5 : 3)
        self.kernelWidth = kernelWidth ?? self.kernelSize
        (self.numLayers, self.bias, self.peephole, self.frameSize) = (numLayers, bias, peephole, frameSize)
        (self.batchFirst, self.prefix, self.cellList) = (batchFirst, prefix, cellList)
    }

    /// A one-line summary, e.g. `ConvLSTM(input 16, hidden 32, kernel 3×3, layers 2) at 'encoder'`.
    public var description: String {
        let kernel = kind == .sepConvGRU ? "kernels 1×\(kernelSize), \(kernelSize)×1" : "kernel \(kernelSize)×\(kernelWidth)"
        var parts = ["input \(inputChannels)", "hidden \(hiddenChannels)", kernel, "layers \(numLayers)"]
        if !bias { parts.append("no bias") }
        if peephole, let frameSize { parts.append("peephole \(frameSize[0])×\(frameSize[1])") }
        if batchFirst { parts.append("batch-first") }
        return "\(kind.displayName)(\(parts.joined(separator: ", ")))" + (prefix.isEmpty ? "" : " at '\(prefix.dropLast())'")
    }

    /// The keys this description writes to `__metadata__`.
    static let metadataKeys: Set<String> = [
        "format", "kind", "input_channels", "hidden_channels", "kernel_size", "num_layers", "bias", "peephole", "frame_size",
        "batch_first", "prefix", "cell_list",
    ]

    /// The metadata written to `__metadata__` (all values strings).
    public var metadata: [String: String] {
        var m = ["format": "recurrent", "kind": kind.rawValue, "input_channels": "\(inputChannels)", "hidden_channels": "\(hiddenChannels)",
                 "kernel_size": kernelWidth == kernelSize ? "\(kernelSize)" : "\(kernelSize),\(kernelWidth)", "num_layers": "\(numLayers)", "bias": "\(bias)", "batch_first": "\(batchFirst)",
                 "prefix": prefix]
        m["cell_list"] = "\(cellList)"
        if peephole, let frameSize {
            m["peephole"] = "true"
            m["frame_size"] = "\(frameSize[0]),\(frameSize[1])"
        }
        return m
    }

    /// Whether `metadata` describes a convolutional model (`format` `recurrent` with a conv `kind`).
    public static func describes(metadata m: [String: String]) -> Bool {
        m["format"] == "recurrent" && m["kind"].flatMap(Kind.init(rawValue:)) != nil
    }

    /// Reads the architecture from Recurrent's `__metadata__`, or nil when it describes no
    /// convolutional model.
    /// - Throws: ``ModelFileError`` for a missing or malformed value.
    public init?(metadata m: [String: String]) throws {
        guard Self.describes(metadata: m), let kind = m["kind"].flatMap(Kind.init(rawValue:)) else { return nil }
        func int(_ key: String) throws -> Int {
            guard let s = m[key], let v = Int(s), v >= 0 else { throw ModelFileError("metadata '\(key)' is missing or not a count: \(shown(m[key] ?? "absent"))") }
            return v
        }
        func bool(_ key: String, default value: Bool) throws -> Bool {
            guard let s = m[key] else { return value }
            guard let v = Bool(s) else { throw ModelFileError("metadata '\(key)' is not true/false: \(shown(s))") }
            return v
        }
        let kernel = (m["kernel_size"] ?? "").split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(kernel.count), let kH = kernel[0], let kW = kernel.last!, kH >= 0, kW >= 0 else {
            throw ModelFileError("metadata 'kernel_size' must be 'k' or 'kH,kW', got \(shown(m["kernel_size"] ?? "absent"))")
        }
        self.init(kind: kind, inputChannels: try int("input_channels"), hiddenChannels: try int("hidden_channels"),
                  kernelSize: kH, kernelWidth: kW, numLayers: try int("num_layers"), bias: try bool("bias", default: true),
                  peephole: try bool("peephole", default: false), batchFirst: try bool("batch_first", default: false),
                  prefix: m["prefix"] ?? "", cellList: try bool("cell_list", default: true))
        if peephole {
            let sides = (m["frame_size"] ?? "").split(separator: ",").compactMap { Int($0) }
            guard sides.count == 2, sides.allSatisfy({ $0 > 0 }) else {
                throw ModelFileError("metadata 'frame_size' must be 'H,W' for a model with peepholes, got \(shown(m["frame_size"] ?? "absent"))")
            }
            frameSize = sides
        }
    }

    /// The largest channel count, kernel side or frame side a model file may give (65536).
    public static let maxSize = 1 << 16
    /// The most stacked layers a model file may give.
    public static let maxLayers = 64

    /// Checks the sizes before building layers (whose preconditions would otherwise stop the
    /// process): channels, kernel and frame sides positive and at most ``maxSize``, an odd kernel
    /// (the padding `k / 2` keeps the frame's size only then), layers in 1...``maxLayers`` (1 for
    /// the GRUs), peepholes only on a ConvLSTM, and at most ``ModelArchitecture/maxParameters`` parameters.
    /// - Throws: ``ModelFileError`` naming the size and the limit.
    public func validate() throws {
        for (name, value) in [("input_channels", inputChannels), ("hidden_channels", hiddenChannels), ("kernel_size", kernelSize), ("kernel width", kernelWidth)] {
            guard value > 0, value <= Self.maxSize else { throw ModelFileError("\(name) must be between 1 and \(Self.maxSize), got \(value)") }
        }
        guard kernelSize % 2 == 1, kernelWidth % 2 == 1 else {
            throw ModelFileError("the kernel's sides must be odd (padding k/2 keeps the frame's size), got \(kernelSize)×\(kernelWidth)")
        }
        switch kind {
        case .convLSTM: break
        case .convGRU, .sepConvGRU:
            let k = kind == .convGRU ? 3 : 5
            guard kernelSize == k, kernelWidth == k, bias, !peephole else {
                throw ModelFileError("\(kind.displayName) is RAFT's: kernel_size \(k), biases, no peepholes; got kernel_size \(kernelSize), bias \(bias), peephole \(peephole)")
            }
        }
        guard (1...Self.maxLayers).contains(numLayers) else {
            throw ModelFileError("num_layers must be between 1 and \(Self.maxLayers), got \(numLayers)")
        }
        guard cellList || numLayers == 1 else { throw ModelFileError("several layers need keys under cell_list.{l}. (cell_list true)") }
        if peephole {
            guard let frameSize, frameSize.count == 2, frameSize.allSatisfy({ (1...Self.maxSize).contains($0) }) else {
                throw ModelFileError("peepholes need a frame size of two sides in 1...\(Self.maxSize), got \(frameSize.map { "\($0)" } ?? "none")")
            }
        }
        var total = 0
        for (_, shape) in parameterShapes {
            var count = 1, overflow = false
            for n in shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: n) }
            if !overflow { (total, overflow) = total.addingReportingOverflow(count) }
            guard !overflow, total <= ModelArchitecture.maxParameters else {
                throw ModelFileError("the architecture has too many parameters: the limit is \(ModelArchitecture.maxParameters) (\(description))")
            }
        }
    }

    /// The name and shape of every parameter, computed without allocating them (the sizes are
    /// assumed in range: call ``validate()`` for sizes from outside).
    var parameterShapes: [(name: String, shape: [Int])] {
        let (ci, ch, k, kw) = (inputChannels, hiddenChannels, kernelSize, kernelWidth)
        func conv(_ name: String, _ out: Int, _ inp: Int, _ kh: Int, _ kw: Int) -> [(name: String, shape: [Int])] {
            [(prefix + name + ".weight", [out, inp, kh, kw])] + (bias ? [(prefix + name + ".bias", [out])] : [])
        }
        return (0..<numLayers).flatMap { l -> [(name: String, shape: [Int])] in
            let cell = cellList ? "cell_list.\(l)." : "", cin = l == 0 ? ci : ch
            switch kind {
            case .convLSTM:
                var shapes = conv(cell + "conv", 4 * ch, cin + ch, k, kw)
                if peephole, let frameSize {
                    shapes += ["w_ci", "w_cf", "w_co"].map { (prefix + cell + $0, [ch, frameSize[0], frameSize[1]]) }
                }
                return shapes
            case .convGRU:
                return ["convz", "convr", "convq"].flatMap { conv(cell + $0, ch, ch + cin, k, k) }
            case .sepConvGRU:
                return ["convz1", "convr1", "convq1"].flatMap { conv(cell + $0, ch, ch + cin, 1, k) }
                    + ["convz2", "convr2", "convq2"].flatMap { conv(cell + $0, ch, ch + cin, k, 1) }
            }
        }
    }

    /// Checks that `tensors` holds exactly the parameters this architecture needs, in their
    /// shapes, with only finite values.
    /// - Throws: ``StateDictError`` listing every missing or unexpected key and shape mismatch, or
    ///   ``ModelFileError`` naming the first non-finite value's tensor and flat index.
    func check(_ tensors: [String: TensorData]) throws {
        let expected = parameterShapes
        var error = StateDictError(missingKeys: [], unexpectedKeys: [], shapeMismatches: [])
        for (name, shape) in expected {
            guard let value = tensors[name] else {
                error.missingKeys.append(name)
                continue
            }
            if value.shape != shape { error.shapeMismatches.append("\(name): expected \(shape), got \(value.shape)") }
        }
        let names = Set(expected.map(\.name))
        error.unexpectedKeys = tensors.keys.filter { !names.contains($0) }.sorted()
        guard error.missingKeys.isEmpty, error.unexpectedKeys.isEmpty, error.shapeMismatches.isEmpty else { throw error }
        for (name, _) in expected {
            let scalars = tensors[name]!.scalars
            if let bad = scalars.firstIndex(where: { !$0.isFinite }) {
                throw ModelFileError("tensor '\(shown(name))' holds \(scalars[bad]) at flat index \(bad); every weight must be finite")
            }
        }
    }
}
