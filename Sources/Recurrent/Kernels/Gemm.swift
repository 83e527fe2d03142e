/// The kernel interface: the few numeric routines the layers spend their time in.
///
/// Every kernel has a plain reference implementation (`KernelBackend.reference`, written for
/// obviousness) that the optimized one is tested against. Select the backend for a block of code
/// with `Kernels.$backend.withValue(.reference) { … }`, or for a whole process with the environment
/// variable `RECURRENT_KERNELS=reference`.
public enum KernelBackend: String, Sendable, CaseIterable {
    /// Naive loops: the oracle.
    case reference
    /// Register-blocked loops the compiler vectorizes.
    case optimized
}

/// Namespace of the numeric kernels (see ``KernelBackend``).
public enum Kernels {
    /// The backend used by the calling task.
    @TaskLocal public static var backend: KernelBackend =
        KernelBackend(rawValue: ProcessInfo.processInfo.environment["RECURRENT_KERNELS"] ?? "") ?? .optimized

    /// Matrix product `c = op(a) · op(b)` (or `c += …` when `accumulate`), all row-major and dense.
    ///
    /// - Parameters:
    ///   - c: `[M, N]`.
    ///   - a: `[M, K]`, or `[K, M]` when `transposeA`.
    ///   - b: `[K, N]`, or `[N, K]` when `transposeB`.
    public static func gemm(
        _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false
    ) {
        switch backend {
        case .reference:
            referenceGemm(c, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
        case .optimized:
            if m >= 16 && m * n * k >= 1 << 18 {
                parallelGemm(c, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
            } else {
                optimizedGemm(c, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
            }
        }
    }
}

import Foundation
import Synchronization

/// c[i, j] (+)= Σ_p a[i, p] b[p, j], one element at a time.
func referenceGemm(
    _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, accumulate: Bool
) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Float = 0
            for p in 0..<k {
                let av = transposeA ? a[p * m + i] : a[i * k + p]
                let bv = transposeB ? b[j * k + p] : b[p * n + j]
                s += av * bv
            }
            c[i * n + j] = accumulate ? c[i * n + j] + s : s
        }
    }
}

/// The same product: operands copied to row-major `[M, K]` and `[K, N]` when transposed, then four
/// rows of `c` updated per pass over a row of `b` (`c[i, :] += a[i, p] · b[p, :]`), in column
/// blocks that stay in L1. `lda`, `ldb`, `ldc` are row strides (default: dense).
func optimizedGemm(
    _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, accumulate: Bool,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
) {
    let ldc = ldc ?? n
    if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
    if m == 0 || n == 0 || k == 0 { return }
    var packedA: UnsafeMutablePointer<Float>? = nil
    var packedB: UnsafeMutablePointer<Float>? = nil
    defer { packedA?.deallocate(); packedB?.deallocate() }
    var A = a, B = b, lda = lda ?? k, ldb = ldb ?? n
    if transposeA {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        transposeCopy(p, a, rows: k, columns: m)
        packedA = p; A = UnsafePointer(p); lda = k
    }
    if transposeB {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        transposeCopy(p, b, rows: n, columns: k)
        packedB = p; B = UnsafePointer(p); ldb = n
    }
    let nc = 512
    var j0 = 0
    while j0 < n {
        let nb = min(nc, n - j0)
        var i = 0
        while i + 4 <= m {
            let c0 = c + i * ldc + j0, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc
            for p in 0..<k {
                let a0 = A[i * lda + p], a1 = A[(i + 1) * lda + p], a2 = A[(i + 2) * lda + p], a3 = A[(i + 3) * lda + p]
                let row = B + p * ldb + j0
                for j in 0..<nb {
                    let bv = row[j]
                    c0[j] += a0 * bv; c1[j] += a1 * bv; c2[j] += a2 * bv; c3[j] += a3 * bv
                }
            }
            i += 4
        }
        while i < m {
            let c0 = c + i * ldc + j0
            for p in 0..<k {
                let a0 = A[i * lda + p]
                let row = B + p * ldb + j0
                for j in 0..<nb { c0[j] += a0 * row[j] }
            }
            i += 1
        }
        j0 += nc
    }
}

/// The optimized product with the rows of `c` split over the worker pool (operands transposed
/// once up front so that every participant reads plain row-major panels).
func parallelGemm(
    _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, accumulate: Bool
) {
    var packedA: UnsafeMutablePointer<Float>? = nil, packedB: UnsafeMutablePointer<Float>? = nil
    defer { packedA?.deallocate(); packedB?.deallocate() }
    var A = a, B = b
    if transposeA {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        transposeCopy(p, a, rows: k, columns: m)
        packedA = p; A = UnsafePointer(p)
    }
    if transposeB {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        transposeCopy(p, b, rows: n, columns: k)
        packedB = p; B = UnsafePointer(p)
    }
    let (pa, pb) = (A, B)
    WorkerPool.shared.run(upTo: m / 8) { part, parts in
        let rows = partition(m, part, parts)
        optimizedGemm(c + rows.lowerBound * n, pa + rows.lowerBound * k, pb, m: rows.count, n: n, k: k,
                      transposeA: false, transposeB: false, accumulate: accumulate)
    }
}

/// dst[c, r] = src[r, c] for a `[rows, columns]` source.
func transposeCopy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, columns: Int) {
    let tile = 32
    var r0 = 0
    while r0 < rows {
        var c0 = 0
        while c0 < columns {
            for r in r0..<min(r0 + tile, rows) {
                for c in c0..<min(c0 + tile, columns) { dst[c * rows + r] = src[r * columns + c] }
            }
            c0 += tile
        }
        r0 += tile
    }
}

extension Kernels {
    /// `c = a · b` (or `c += …`) on sub-matrices with row strides: `c` `[M, N]` rows `ldc` apart,
    /// `a` `[M, K]` rows `lda` apart, `b` `[K, N]` rows `ldb` apart. Single-threaded.
    static func gemm(
        _ c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        switch backend {
        case .reference:
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k { s += a[i * lda + p] * b[p * ldb + j] }
                    c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s
                }
            }
        case .optimized:
            optimizedGemm(c, a, b, m: m, n: n, k: k, transposeA: false, transposeB: false, accumulate: accumulate,
                          lda: lda, ldb: ldb, ldc: ldc)
        }
    }

    /// Sets how many threads the kernels may use (1: the calling thread only).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "Kernels.setThreadCount: need at least 1 thread, got \(count)")
        threadCount.withLock { $0 = count }
    }

    static let threadCount = Mutex(1)
}
