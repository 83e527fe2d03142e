import Testing
@testable import Recurrent

/// `Conv2d` against `torch.nn.Conv2d` (`Tools/make_conv_fixtures.py`, files `conv/conv2d_*`):
/// output, input gradient and parameter gradients, under every instruction set this CPU has and
/// the reference (naive loop) backend.
///
/// Tolerances as in ``LayerFixtureTests``: forward 1e-5 relative (+1e-6 absolute), gradients 1e-4
/// relative (+1e-5 absolute).
@Suite struct ConvFixtureTests {
    static var conv2dNames: [String] { Fixtures.names(in: "conv").filter { $0.hasPrefix("conv2d_") } }

    static func conv2d(for f: SafeTensorsFile) -> Conv2d {
        let pad = f.metadata["padding"] ?? ""
        let padding: Conv2d.Padding = pad == "same" ? .same : {
            let parts = pad.split(separator: ",").compactMap { Int($0) }
            return .explicit(height: parts[0], width: parts[1])
        }()
        return Conv2d(inChannels: f.int("in_channels"), outChannels: f.int("out_channels"),
                      kernelSize: (f.int("kernel_h"), f.int("kernel_w")), padding: padding,
                      stride: (f.int("stride_h"), f.int("stride_w")), bias: f.flag("bias"))
    }

    @Test(arguments: conv2dNames, KernelTests.instructionSets)
    func conv2dMatchesPyTorch(_ name: String, _ isa: InstructionSet) throws {
        try Kernels.$instructionSet.withValue(isa) { try check(name) }
    }

    @Test(arguments: conv2dNames)
    func conv2dReferenceBackendMatchesPyTorch(_ name: String) throws {
        try Kernels.$backend.withValue(.reference) { try check(name) }
    }

    func check(_ name: String) throws {
        let f = try Fixtures.load("conv/" + name)
        let conv = Self.conv2d(for: f)
        try conv.loadStateDict(f.stateDict(prefix: "param."))
        let x = try f.tensor("input", requiresGrad: true)
        let y = try conv(x)
        expectClose(y, shape: try f.shape("output"), try f.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) output")
        (y * (try f.tensor("loss_weight.output"))).sum().backward()
        expectClose(x.grad, shape: x.shape, try f.values("grad.input"), rtol: 1e-4, atol: 1e-5, "\(name) grad input")
        for (key, p) in conv.namedParameters {
            expectClose(p.grad, shape: p.shape, try f.values("grad.param." + key), rtol: 1e-4, atol: 1e-5, "\(name) grad \(key)")
        }
        let inference = try withoutGradients { try conv(x.detached()) }
        #expect(inference.scalars == y.scalars, "\(name): inference differs from the recorded forward")
    }

    /// A batch large enough to be shared over threads and split into several im2col blocks
    /// (K = 70·3·5 = 1050 gives blocks of 240 positions, 4 per image at stride 1) gives the same
    /// numbers as the reference backend's naive products.
    @Test(arguments: [(1, 1), (2, 1), (1, 2)] as [(Int, Int)])
    func largeConvolutionMatchesReferenceBackend(_ stride: (Int, Int)) throws {
        let x = testTensor([3, 70, 20, 37], seed: 1)
        let conv = Conv2d(inChannels: 70, outChannels: 9, kernelSize: (3, 5), padding: .explicit(height: 1, width: 2),
                          stride: (stride.0, stride.1))
        let geometry = try ConvGeometry(input: x.shape, weight: conv.weight.shape, bias: [9], padding: conv.padding,
                                        stride: conv.stride)
        #expect(geometry.blocksPerImage > 1 && geometry.isLarge, "the case must cover several blocks and threads")
        func run() throws -> [[Float]] {
            x.zeroGrad(); conv.zeroGrad()
            let y = try conv(x)
            weightedSum(y, seed: 2).backward()
            return [y.scalars, x.grad!.scalars, conv.weight.grad!.scalars, conv.bias!.grad!.scalars]
        }
        let fast = try run()
        let slow = try Kernels.$backend.withValue(.reference) { try run() }
        for (i, label) in ["output", "dx", "dweight", "dbias"].enumerated() {
            expectClose(fast[i], slow[i], rtol: 1e-4, atol: 1e-4, "stride \(stride) \(label)")
        }
    }

    /// Central differences through the convolution, on tiny shapes with padding on one side
    /// (`.same` with an even kernel) and a stride.
    @Test(arguments: [("3x3 pad 1", 3, 3, Conv2d.Padding.explicit(height: 1, width: 1), 1),
                      ("2x2 same", 2, 2, Conv2d.Padding.same, 1),
                      ("1x3 stride 2", 1, 3, Conv2d.Padding.explicit(height: 0, width: 1), 2)])
    func conv2dFiniteDifferences(_ label: String, _ kh: Int, _ kw: Int, _ padding: Conv2d.Padding, _ stride: Int) throws {
        let conv = Conv2d(inChannels: 2, outChannels: 3, kernelSize: (kh, kw), padding: padding, stride: (stride, stride))
        let x = testTensor([2, 2, 4, 5], seed: 3)
        try checkGradients([x, conv.weight, conv.bias!], label) { _ in weightedSum(try conv(x), seed: 4) }
    }

    @Test func badInputIsRejected() throws {
        let conv = Conv2d(inChannels: 3, outChannels: 2, kernelSize: 5)
        #expect(throws: RecurrentError.shapeMismatch("conv2d: input [2, 4, 6, 6] has 4 channels, the weight [2, 3, 5, 5] expects 3")) {
            try conv(Tensor.zeros([2, 4, 6, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch("conv2d: input must be [batch, channels, height, width] (rank 4), got [3, 6, 6]")) {
            try conv(Tensor.zeros([3, 6, 6]))
        }
        #expect(throws: RecurrentError.shapeMismatch("conv2d: kernel 5x5 is larger than the padded input 4x6 (input [1, 3, 4, 6])")) {
            try conv(Tensor.zeros([1, 3, 4, 6]))
        }
        let padded = Conv2d(inChannels: 3, outChannels: 2, kernelSize: 5, padding: 1)
        #expect(try padded(Tensor.zeros([1, 3, 3, 3])).shape == [1, 2, 1, 1], "3 + 2 padding fits a 5x5 kernel once")
    }
}
