// The bridge from a model file's architecture to the convolutional layers (`Sources/Recurrent/Conv`).

/// Every ``ConvRecurrentLayer`` runs as a model file's layer: `h0` / `c0` become its initial
/// state (a missing one of the two zeros), its final state `h` (and `c`).
extension ConvRecurrentLayer: ConvSequenceLayer {
    func runSequence(_ x: Tensor, h0: Tensor?, c0: Tensor?) throws -> (output: Tensor, h: Tensor, c: Tensor?) {
        var initial: [Tensor]?
        if let shape = (h0 ?? c0)?.shape {
            initial = Cell.stateCount == 2 ? [h0 ?? Tensor.zeros(shape), c0 ?? Tensor.zeros(shape)] : [h0 ?? Tensor.zeros(shape)]
        }
        let (output, state) = try self(x, initialState: initial)
        return (output, state[0], Cell.stateCount == 2 ? state[1] : nil)
    }
}

/// The layer `architecture` describes, freshly initialised (its keys `cell_list.{l}.…`).
/// - Precondition: `architecture` is valid (``ConvModelArchitecture/validate()``).
func makeConvSequenceLayer(_ a: ConvModelArchitecture) -> any ConvSequenceLayer {
    switch a.kind {
    case .convLSTM:
        return ConvLSTM(inputChannels: a.inputChannels, hiddenChannels: a.hiddenChannels, kernelSize: (a.kernelSize, a.kernelWidth),
                        numLayers: a.numLayers, bias: a.bias, batchFirst: a.batchFirst,
                        peepholeFrame: a.peephole ? a.frameSize.map { ($0[0], $0[1]) } : nil)
    case .convGRU:
        return ConvRecurrentLayer<ConvGRU>(inputChannels: a.inputChannels, hiddenChannels: a.hiddenChannels, numLayers: a.numLayers,
                                           batchFirst: a.batchFirst)
    case .sepConvGRU:
        return ConvRecurrentLayer<SepConvGRU>(inputChannels: a.inputChannels, hiddenChannels: a.hiddenChannels, numLayers: a.numLayers,
                                              batchFirst: a.batchFirst)
    }
}
