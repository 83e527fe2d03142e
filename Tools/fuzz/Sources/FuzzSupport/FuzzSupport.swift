import CFuzzDriver
import Foundation
import Recurrent

/// The signature libFuzzer calls with each input.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Hands the process to libFuzzer: it parses its flags from the command line (`-max_total_time`,
/// `-rss_limit_mb`, corpus folders, a crash file to replay) and calls `callback` with each input.
public func runFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// The input as `Data` (a copy, so that the decoder owns its bytes).
public func data(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
    guard let bytes, count > 0 else { return Data() }
    return Data(bytes: bytes, count: count)
}

/// Stops the process (libFuzzer reports it as a crash and saves the input) when a decoded value
/// does not survive a round trip, or some other invariant of the decoders fails.
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data(("fuzz invariant failed: " + message() + "\n").utf8))
        abort()
    }
}

/// Whether `FUZZ_VERBOSE` is set: then each refused input's error is printed (to see why a seed
/// or a replayed input is refused).
private let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil

/// Notes that the library refused an input: builds the message (which escapes names, so that
/// code runs too) and prints it when `FUZZ_VERBOSE` is set.
public func reject(_ error: any Error) {
    let message = "\(error)"
    if verbose { FileHandle.standardError.write(Data(("refused: " + message + "\n").utf8)) }
}

/// Prints `message` when `FUZZ_VERBOSE` is set.
public func note(_ message: @autoclosure () -> String) {
    if verbose { FileHandle.standardError.write(Data((message() + "\n").utf8)) }
}

/// Whether two tensors hold the same shape and the same values bit for bit (so NaN equals itself).
public func sameBits(_ a: TensorData, _ b: TensorData) -> Bool {
    a.shape == b.shape && a.scalars.count == b.scalars.count
        && zip(a.scalars, b.scalars).allSatisfy { $0.bitPattern == $1.bitPattern }
}

// MARK: - Models

/// The most parameters a fuzzed architecture may have before the harness builds it: the library
/// allocates whatever a valid architecture asks for, so larger ones are only checked, not built.
public let maximumParameters = 200_000

/// `a·b`, or nil on overflow.
private func times(_ a: Int, _ b: Int) -> Int? {
    let (p, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : p
}

/// `a + b`, or nil on overflow.
private func plus(_ a: Int, _ b: Int) -> Int? {
    let (s, o) = a.addingReportingOverflow(b)
    return o ? nil : s
}

/// The number of parameters `RecurrentModel(a)` allocates (PyTorch's layout), or nil when the
/// count overflows `Int`.
public func parameterCount(_ a: ModelArchitecture) -> Int? {
    let gates = switch a.kind { case .rnn: 1; case .gru: 3; case .lstm: 4 }
    let directions = a.bidirectional ? 2 : 1
    let outH = a.projSize > 0 ? a.projSize : a.hiddenSize
    guard let gh = times(gates, a.hiddenSize), let layerOut = times(directions, outH) else { return nil }
    var total = 0
    for layer in 0..<a.numLayers {
        let inputs = layer == 0 ? a.inputSize : layerOut
        guard let wih = times(gh, inputs), let whh = times(gh, outH), var one = plus(wih, whh) else { return nil }
        if a.bias { guard let b = times(gh, 2), let s = plus(one, b) else { return nil }; one = s }
        if a.projSize > 0 { guard let p = times(a.projSize, a.hiddenSize), let s = plus(one, p) else { return nil }; one = s }
        guard let both = times(one, directions), let t = plus(total, both) else { return nil }
        total = t
        if total > maximumParameters { return total }  // enough to refuse; also bounds the loop
    }
    if case .embedding(_, let count) = a.inputEncoding {
        guard let e = times(count, a.inputSize), let t = plus(total, e) else { return nil }
        total = t
    }
    if a.headPrefix != nil {
        guard let w = times(a.outputFeatures, a.headOutputSize), var t = plus(total, w) else { return nil }
        if a.headBias { guard let s = plus(t, a.headOutputSize) else { return nil }; t = s }
        total = t
    }
    return total
}

/// The checks `ModelArchitecture.validate()` makes in `RecurrentModel.load` (it is internal).
private func isValid(_ a: ModelArchitecture) -> Bool {
    guard a.inputSize > 0, a.hiddenSize > 0, a.numLayers > 0 else { return false }
    guard a.projSize == 0 || (a.kind == .lstm && a.projSize < a.hiddenSize) else { return false }
    guard a.headPrefix == nil || a.headOutputSize > 0 else { return false }
    if case .embedding(_, let count) = a.inputEncoding, count <= 0 { return false }
    return true
}

/// What `RecurrentModel.load(from:)` does after reading the file, on `metadata` and `tensors`:
/// the architecture from the metadata or inferred from the tensors, the arguments' overrides,
/// validation, and — when the model is small — building it, loading the tensors into it and
/// running it on a two-step input.
public func loadModel(metadata: [String: String], tensors: [String: TensorData], nonlinearity: Nonlinearity? = nil,
                      batchFirst: Bool? = nil, headPlacement: ModelArchitecture.HeadPlacement? = nil) {
    var architecture: ModelArchitecture
    do {
        architecture = try ModelArchitecture(metadata: metadata) ?? ModelArchitecture(
            inferringFrom: tensors, nonlinearity: nonlinearity ?? .tanh, batchFirst: batchFirst ?? false,
            headPlacement: headPlacement ?? .everyStep)
    } catch {
        reject(error)
        return
    }
    // An architecture read from metadata round-trips through the metadata it writes. (Not after
    // the overrides: a GRU's nonlinearity, or the placement of a head that is absent, is not saved.)
    if metadata["format"] == "recurrent" {
        let again = try? ModelArchitecture(metadata: architecture.metadata)
        check(again == architecture, "\(architecture) does not round-trip through its metadata")
    }
    if let nonlinearity { architecture.nonlinearity = nonlinearity }
    if let batchFirst { architecture.batchFirst = batchFirst }
    if let headPlacement { architecture.headPlacement = headPlacement }
    _ = architecture.description
    _ = architecture.metadata
    guard isValid(architecture) else { return note("invalid: \(architecture)") }
    guard let count = parameterCount(architecture), count <= maximumParameters else {
        return note("not built (over \(maximumParameters) parameters): \(architecture)")
    }

    let model = RecurrentModel(architecture)
    check(model.namedParameters.reduce(0) { $0 + $1.tensor.scalars.count } == count,
          "\(architecture): \(model.namedParameters.count) parameters hold a different count than \(count)")
    do {
        try model.loadStateDict(tensors)
    } catch {
        reject(error)
        return
    }
    run(model)
    note("loaded and ran: \(architecture)")
}

/// Runs `model` on a batch of one two-step sequence and checks the shapes it returns.
private func run(_ model: RecurrentModel) {
    let a = model.architecture
    let (steps, batch) = (2, 1)
    let input: Tensor
    if let tokens = a.tokenCount {
        let shape = a.batchFirst ? [batch, steps] : [steps, batch]
        input = Tensor(shape: shape, scalars: [0, Float(min(1, tokens - 1))])
    } else {
        let shape = a.batchFirst ? [batch, steps, a.inputSize] : [steps, batch, a.inputSize]
        input = Tensor(shape: shape, scalars: (0..<(steps * batch * a.inputSize)).map { Float($0 % 5) * 0.25 - 0.5 })
    }
    do {
        let r = try model(input)
        let perStep = a.batchFirst ? [batch, steps, a.outputFeatures] : [steps, batch, a.outputFeatures]
        check(r.output.shape == perStep, "\(a): output shape \(r.output.shape), expected \(perStep)")
        if a.headPrefix != nil {
            let expected = a.headPlacement == .lastStep ? [batch, a.headOutputSize]
                : a.batchFirst ? [batch, steps, a.headOutputSize] : [steps, batch, a.headOutputSize]
            check(r.prediction?.shape == expected, "\(a): prediction shape \(r.prediction?.shape ?? []), expected \(expected)")
        } else {
            check(r.prediction == nil, "\(a): a prediction without a head")
        }
    } catch {
        check(false, "\(a): a valid model refused a valid input: \(error)")
    }
}
