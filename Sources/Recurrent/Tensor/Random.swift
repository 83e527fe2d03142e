import Foundation
import Synchronization

/// A fast, seedable random number generator (xoshiro256**, seeded through SplitMix64): the same
/// seed gives the same sequence on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform Float in [low, high).
    public mutating func nextUniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUniform()
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, .leastNonzeroMagnitude)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

/// The process-wide generator that layers use for initialisation and dropout, like PyTorch's
/// default generator. Seed it with ``manualSeed(_:)`` for reproducible runs.
public enum GlobalRandom {
    static let state = Mutex(SeededGenerator(seed: 0x5EED))

    /// A generator that replaces the global one inside ``withRandomSeed(_:_:)``.
    final class Scoped: @unchecked Sendable {
        var generator: SeededGenerator
        init(seed: UInt64) { generator = SeededGenerator(seed: seed) }
    }
    @TaskLocal static var scoped: Scoped?

    /// Runs `body` with exclusive access to the generator in effect: the one installed by an
    /// enclosing ``withRandomSeed(_:_:)``, else the global one.
    public static func withGenerator<R>(_ body: (inout SeededGenerator) -> R) -> R {
        if let scoped { return body(&scoped.generator) }
        return state.withLock { body(&$0) }
    }
}

/// Runs `body` with its own generator seeded by `seed`, leaving the global generator untouched
/// (PyTorch's `with torch.random.fork_rng(): torch.manual_seed(seed)`): initialisation and dropout
/// inside `body` are reproducible even while other threads draw random numbers.
public func withRandomSeed<R>(_ seed: UInt64, _ body: () throws -> R) rethrows -> R {
    try GlobalRandom.$scoped.withValue(GlobalRandom.Scoped(seed: seed), operation: body)
}

/// Reseeds the global generator (PyTorch's `torch.manual_seed`).
public func manualSeed(_ seed: UInt64) {
    GlobalRandom.state.withLock { $0 = SeededGenerator(seed: seed) }
}

extension Tensor {
    /// Uniform samples in [low, high) from the global generator (`torch.empty(shape).uniform_(low, high)`).
    public static func uniform(_ shape: [Int], low: Float, high: Float, requiresGrad: Bool = false) -> Tensor {
        let values = GlobalRandom.withGenerator { g in (0..<shape.product).map { _ in g.nextUniform(low, high) } }
        return Tensor(shape: shape, scalars: values, requiresGrad: requiresGrad)
    }

    /// Standard normal samples from the global generator (`torch.randn(shape)`).
    public static func randomNormal(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        let values = GlobalRandom.withGenerator { g in (0..<shape.product).map { _ in g.nextNormal() } }
        return Tensor(shape: shape, scalars: values, requiresGrad: requiresGrad)
    }
}
