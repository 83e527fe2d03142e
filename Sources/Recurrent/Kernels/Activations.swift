import Foundation
import _RecurrentKernels

extension Kernels {
    /// `y[i] = 1 / (1 + e^-x[i])` for `i < count` (`y` may equal `x`): vectorised C on the
    /// optimized backend (about 2 ulp), Foundation's `exp` on the reference backend.
    static func sigmoid(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        switch backend {
        case .reference: for i in 0..<count { y[i] = Recurrent.sigmoid(x[i]) }
        case .optimized: rk_sigmoid(y, x, count, isa)
        }
    }

    /// `y[i] = tanh(x[i])` for `i < count` (`y` may equal `x`), as ``sigmoid(_:_:count:)``.
    static func tanh(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        switch backend {
        case .reference: for i in 0..<count { y[i] = Foundation.tanh(x[i]) }
        case .optimized: rk_tanh(y, x, count, isa)
        }
    }
}

extension Kernels {
    /// `dst[i] = src[i]` for `i < count` (no overlap), into a history that is read back only after
    /// a whole sequence: with non-temporal stores on the optimized backend where the CPU has them
    /// (the lines are not read from memory before being written, and do not evict the working set).
    static func copyToHistory(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
        switch backend {
        case .reference: dst.update(from: src, count: count)
        case .optimized: rk_copy_stream(dst, src, count, isa)
        }
    }
}
