import Foundation

// Convolution legend (NCHW, as PyTorch): B batch, C channels (Cᵢ in, Cₒ out), H × W an input
// plane, Hₒ × Wₒ an output plane, kH × kW the kernel, K = Cᵢ·kH·kW the length of one patch,
// N = Hₒ·Wₒ the output positions of one image.

/// A 2-D convolution over NCHW tensors (PyTorch's `nn.Conv2d` with `groups = 1`, `dilation = 1`,
/// zero padding).
///
/// Parameters, PyTorch's names and init (Kaiming-uniform with a = √5, i.e. U(-1/√fan_in, 1/√fan_in)
/// with fan_in = `inChannels · kH · kW`, for both):
///
/// | name     | shape                                   |
/// |----------|-----------------------------------------|
/// | `weight` | `[outChannels, inChannels, kH, kW]`     |
/// | `bias`   | `[outChannels]` (absent with `bias: false`) |
///
/// ```swift
/// let conv = Conv2d(inChannels: 3, outChannels: 8, kernelSize: (3, 3), padding: .same)
/// let y = try conv(x)   // x: [B, 3, H, W] → y: [B, 8, H, W]
/// ```
public final class Conv2d: Module {
    /// How many zeros surround the input (PyTorch's `padding`).
    public enum Padding: Equatable, Sendable, ExpressibleByIntegerLiteral {
        /// The output has the input's size (stride 1 only): `k − 1` zeros per axis, split as
        /// PyTorch does (`(k − 1) / 2` before, the rest after; odd kernels pad both sides equally).
        case same
        /// `height` rows of zeros above and below, `width` columns left and right.
        case explicit(height: Int, width: Int)

        /// No padding (PyTorch's `padding="valid"` or `0`).
        public static let valid = Padding.explicit(height: 0, width: 0)

        /// The same padding on both axes (`padding=1`).
        public init(integerLiteral value: Int) { self = .explicit(height: value, width: value) }
    }

    /// `in_channels`.
    public let inChannels: Int
    /// `out_channels`.
    public let outChannels: Int
    /// `(kH, kW)`.
    public let kernelSize: (height: Int, width: Int)
    /// The padding asked for.
    public let padding: Padding
    /// `(sH, sW)`.
    public let stride: (height: Int, width: Int)
    /// `[outChannels, inChannels, kH, kW]`.
    public let weight: Tensor
    /// `[outChannels]`, or nil when created with `bias: false`.
    public let bias: Tensor?
    /// Unused (no dropout); kept for the ``Module`` protocol.
    public var isTraining = true

    /// Creates a layer with freshly initialised parameters drawn from the global generator.
    ///
    /// `padding: .same` needs stride 1 (as in PyTorch).
    public init(inChannels: Int, outChannels: Int, kernelSize: (height: Int, width: Int), padding: Padding = .valid,
                stride: (height: Int, width: Int) = (1, 1), bias: Bool = true) {
        precondition(inChannels > 0 && outChannels > 0, "Conv2d: channels must be positive, got \(inChannels) -> \(outChannels)")
        precondition(kernelSize.height > 0 && kernelSize.width > 0, "Conv2d: kernel size must be positive, got \(kernelSize)")
        precondition(stride.height > 0 && stride.width > 0, "Conv2d: stride must be positive, got \(stride)")
        if case .explicit(let ph, let pw) = padding {
            precondition(ph >= 0 && pw >= 0, "Conv2d: padding must not be negative, got (\(ph), \(pw))")
        }
        precondition(padding != .same || (stride.height == 1 && stride.width == 1),
                     "Conv2d: padding .same needs stride 1 (as PyTorch's padding='same'), got \(stride)")
        (self.inChannels, self.outChannels, self.kernelSize, self.padding, self.stride) =
            (inChannels, outChannels, kernelSize, padding, stride)
        let bound = 1 / Float(inChannels * kernelSize.height * kernelSize.width).squareRoot()
        weight = ParameterSpec(name: "weight", shape: [outChannels, inChannels, kernelSize.height, kernelSize.width],
                               bound: bound).makeTensor()
        self.bias = bias ? ParameterSpec(name: "bias", shape: [outChannels], bound: bound).makeTensor() : nil
    }

    /// A square kernel `kernelSize × kernelSize` (`nn.Conv2d(in, out, 3)`).
    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, padding: Padding = .valid,
                            stride: Int = 1, bias: Bool = true) {
        self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize), padding: padding,
                  stride: (stride, stride), bias: bias)
    }

    /// `weight` and, if present, `bias`.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    /// Convolves `x` `[B, inChannels, H, W]`, giving `[B, outChannels, Hₒ, Wₒ]` with
    /// `Hₒ = (H + padTop + padBottom − kH) / sH + 1` (likewise `Wₒ`).
    ///
    /// - Throws: ``RecurrentError`` when `x` is not rank 4, has another channel count, or is
    ///   smaller than the kernel after padding.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try conv2d(x, weight: weight, bias: bias, padding: padding, stride: stride)
    }
}

/// A 2-D convolution (`torch.nn.functional.conv2d` with `groups = 1`, `dilation = 1`).
///
/// - Parameters:
///   - x: `[B, Cᵢ, H, W]`.
///   - weight: `[Cₒ, Cᵢ, kH, kW]`.
///   - bias: `[Cₒ]` or nil.
/// - Returns: `[B, Cₒ, Hₒ, Wₒ]`.
/// - Throws: ``RecurrentError`` for a wrong rank, a channel count that differs from the weight's,
///   or an input smaller than the kernel after padding.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, padding: Conv2d.Padding = .valid,
                   stride: (height: Int, width: Int) = (1, 1)) throws -> Tensor {
    let geometry = try ConvGeometry(input: x.shape, weight: weight.shape, bias: bias?.shape, padding: padding, stride: stride)
    return Conv2dFunction.apply(x, weight: weight, bias: bias, geometry: geometry)
}

/// The sizes of one convolution, validated: everything the kernels need.
struct ConvGeometry: Equatable {
    var batch: Int, inChannels: Int, height: Int, width: Int
    var outChannels: Int, kernelHeight: Int, kernelWidth: Int
    var padTop: Int, padLeft: Int, strideHeight: Int, strideWidth: Int
    var outHeight: Int, outWidth: Int

    /// K: the length of one patch (a row of the weight matrix).
    var patch: Int { inChannels * kernelHeight * kernelWidth }
    /// N: output positions per image.
    var positions: Int { outHeight * outWidth }
    var inputShape: [Int] { [batch, inChannels, height, width] }
    var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }

    init(input: [Int], weight: [Int], bias: [Int]?, padding: Conv2d.Padding, stride: (height: Int, width: Int)) throws {
        guard weight.count == 4 else {
            throw RecurrentError.shapeMismatch("conv2d: weight must be [out_channels, in_channels, kH, kW], got \(weight)")
        }
        guard input.count == 4 else {
            throw RecurrentError.shapeMismatch("conv2d: input must be [batch, channels, height, width] (rank 4), got \(input)")
        }
        guard input[1] == weight[1] else {
            throw RecurrentError.shapeMismatch("conv2d: input \(input) has \(input[1]) channels, the weight \(weight) expects \(weight[1])")
        }
        if let bias, bias != [weight[0]] {
            throw RecurrentError.shapeMismatch("conv2d: bias \(bias) should be [\(weight[0])]")
        }
        guard stride.height > 0 && stride.width > 0 else { throw RecurrentError.invalidValue("conv2d: stride must be positive, got \(stride)") }
        (batch, inChannels, height, width) = (input[0], input[1], input[2], input[3])
        (outChannels, kernelHeight, kernelWidth) = (weight[0], weight[2], weight[3])
        (strideHeight, strideWidth) = (stride.height, stride.width)
        let (padH, padW): (Int, Int)  // total zeros per axis
        switch padding {
        case .same:
            guard stride.height == 1 && stride.width == 1 else {
                throw RecurrentError.invalidValue("conv2d: padding .same needs stride 1, got \(stride)")
            }
            (padH, padW) = (kernelHeight - 1, kernelWidth - 1)
            (padTop, padLeft) = (padH / 2, padW / 2)
        case .explicit(let h, let w):
            guard h >= 0 && w >= 0 else { throw RecurrentError.invalidValue("conv2d: padding must not be negative, got (\(h), \(w))") }
            (padH, padW) = (2 * h, 2 * w)
            (padTop, padLeft) = (h, w)
        }
        guard height + padH >= kernelHeight && width + padW >= kernelWidth else {
            throw RecurrentError.shapeMismatch(
                "conv2d: kernel \(kernelHeight)x\(kernelWidth) is larger than the padded input \(height + padH)x\(width + padW) (input \(input))")
        }
        outHeight = (height + padH - kernelHeight) / strideHeight + 1
        outWidth = (width + padW - kernelWidth) / strideWidth + 1
    }
}
