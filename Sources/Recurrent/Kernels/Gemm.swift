import Foundation
import Synchronization
import _RecurrentKernels

/// The kernel interface: the few numeric routines the layers spend their time in.
///
/// Every kernel has a plain Swift reference implementation (`KernelBackend.reference`, written for
/// obviousness) that the optimized C kernels are tested against. Select the backend for a block of
/// code with `Kernels.$backend.withValue(.reference) { … }`, or for a whole process with the
/// environment variable `RECURRENT_KERNELS=reference`.
public enum KernelBackend: String, Sendable, CaseIterable {
    /// Naive loops: the oracle.
    case reference
    /// Packed, cache-blocked C kernels for the CPU's best instruction set.
    case optimized
}

/// Instruction sets of the optimized kernels, chosen at run time from the CPU.
public enum InstructionSet: Int, Sendable, CaseIterable, CustomStringConvertible {
    case scalar = 0, avx2 = 1, avx512 = 2, neon = 3

    /// The name, e.g. `avx512`.
    public var description: String { ["scalar", "avx2", "avx512", "neon"][rawValue] }
}

/// Namespace of the numeric kernels (see ``KernelBackend``).
public enum Kernels {
    /// The backend used by the calling task.
    @TaskLocal public static var backend: KernelBackend =
        KernelBackend(rawValue: ProcessInfo.processInfo.environment["RECURRENT_KERNELS"] ?? "") ?? .optimized

    /// The best instruction set this CPU supports.
    public static var bestInstructionSet: InstructionSet { InstructionSet(rawValue: Int(rk_best_isa().rawValue))! }

    /// The instruction set the optimized kernels use in the calling task: the best the CPU has,
    /// unless the environment variable `RECURRENT_ISA` (`scalar`, `avx2`, `avx512`, `neon`) names a
    /// lower one; override it for a block with `Kernels.$instructionSet.withValue(.avx2) { … }`.
    /// An instruction set the CPU lacks falls back to the portable kernels.
    @TaskLocal public static var instructionSet: InstructionSet = {
        let best = InstructionSet(rawValue: Int(rk_best_isa().rawValue))!
        guard let name = ProcessInfo.processInfo.environment["RECURRENT_ISA"],
              let wanted = InstructionSet.allCases.first(where: { $0.description == name }) else { return best }
        return InstructionSet(rawValue: Int(rk_supported_isa(rk_isa(UInt32(wanted.rawValue))).rawValue))!
    }()

    static var isa: rk_isa { rk_isa(UInt32(instructionSet.rawValue)) }

    /// Training histories larger than this many bytes (the forward's cache, the backward's gate
    /// gradients) are written with non-temporal stores: they are read back only after the whole
    /// sequence, and would otherwise be read from memory before being written and push the working
    /// set out of the caches. Smaller ones stay in cache for the backward pass. Tests lower or
    /// raise it to run both paths on small layers.
    @TaskLocal static var streamedHistoryBytes = 4 << 20

    /// Whether the weight gradients' right operands (the inputs and states over all steps) are read
    /// in place by the kernels that can, rather than packed first. Tests turn it off to compare
    /// the two.
    @TaskLocal static var readsOperandsInPlace = true

    /// One core's L2 cache in bytes, as the system reports it (2 MiB where it does not say). It
    /// decides whether a layer's weights can stay in one core's cache for a whole sequence (see
    /// `RecurrentStack.pipelinesLayers`) and whether a product prefetches its next panel of `b`
    /// (`PackedMatrix.multiply`). Tests set it to run both choices.
    @TaskLocal static var l2CacheBytes = detectedL2CacheBytes

    /// The L2 size the operating system reports: glibc's `sysconf` (which asks the CPU), then
    /// Linux's `/sys` cache description, then Darwin's `hw.l2cachesize`; 2 MiB when none answers.
    static let detectedL2CacheBytes: Int = {
        #if os(Linux)
        let fromSysconf = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        if fromSysconf > 0 { return fromSysconf }
        // e.g. "1024K"
        if let text = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/cache/index2/size", encoding: .utf8) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            let scale = trimmed.hasSuffix("K") ? 1 << 10 : trimmed.hasSuffix("M") ? 1 << 20 : 1
            if let value = Int(trimmed.filter(\.isNumber)), value > 0 { return value * scale }
        }
        #elseif canImport(Darwin)
        var bytes = 0, size = MemoryLayout<Int>.size
        if sysctlbyname("hw.l2cachesize", &bytes, &size, nil, 0) == 0, bytes > 0 { return bytes }
        #endif
        return 2 << 20
    }()

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
        if m == 0 || n == 0 { return }
        if backend == .reference {
            referenceGemm(c, a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
            return
        }
        PackedMatrix(b, k: k, n: n, transposed: transposeB).multiply(into: c, a, m: m, transposeA: transposeA,
                                                                      accumulate: accumulate)
    }

    /// Sets how many threads the kernels may use (1: the calling thread only).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "Kernels.setThreadCount: need at least 1 thread, got \(count)")
        threadCount.withLock { $0 = count }
    }

    /// Every core by default, as PyTorch does; the kernels still run small work on one thread,
    /// and back off to one thread while other programs keep the cores busy (see ``WorkerPool``).
    static let threadCount = Mutex(max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// How many threads the kernels may use (``setThreadCount(_:)``; default: every core).
    public static var threads: Int { threadCount.withLock { $0 } }

    /// The machine's fused multiply-add ceiling with the current ``instructionSet``, in flops per
    /// second: every pool thread (see ``setThreadCount(_:)``) runs `iterations` rounds of twelve
    /// register-only vector FMAs at once, with no memory traffic. No matrix product can run faster.
    public static func measureFMAPeak(iterations: Int = 20_000_000) -> Double {
        let isa = rk_isa(UInt32(instructionSet.rawValue))
        let threads = threadCount.withLock { $0 }
        var flops = [Double](repeating: 0, count: threads), sinks = [Float](repeating: 0, count: threads)
        let start = DispatchTime.now().uptimeNanoseconds
        flops.withUnsafeMutableBufferPointer { flops in sinks.withUnsafeMutableBufferPointer { sinks in
            WorkerPool.shared.run(upTo: threads) { part, _ in flops[part] = rk_fma_peak(iterations, isa, &sinks[part]) }
        } }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return flops.reduce(0, +) / seconds
    }

    /// Frees the scratch buffers the recurrent layers keep for reuse between calls (up to 256 MiB
    /// of states, caches and gradients: reusing them spares the page faults of fresh memory).
    /// Returns the bytes released. Call it after a large job to give the memory back.
    @discardableResult
    public static func releaseScratchMemory() -> Int { Scratch.releaseIdle() }

    /// Asks the C library's allocator to keep the memory a program frees for its next allocations,
    /// instead of giving large blocks back to the system at once. A training loop allocates and
    /// frees arrays of megabytes at every step (a layer's output, the gradients); by default glibc
    /// returns such blocks, and each step then takes a page fault for every 4 KiB of the new ones
    /// (measured with `perf stat`: about 3300 a step for `recurrent bench --mode rnn-tanh --train`,
    /// none with this). The memory then stays with the process (its peak, not more).
    ///
    /// This changes the whole process, so it is for an application to call once at start (the
    /// `recurrent` command does), not for a library. Returns whether it applied (glibc only).
    @discardableResult
    public static func keepFreedMemory() -> Bool { rk_keep_freed_memory() != 0 }
}

/// A right-hand matrix operand `b` `[K, N]` (stored as `[N, K]` when `transposed`), packed once
/// for the optimized kernels and reused by every product with it — the recurrent weights across
/// all time steps. The backend is fixed when it is created.
final class PackedMatrix: @unchecked Sendable {
    let k: Int, n: Int
    /// A joined operand `[b₁ | 0 | b₂]`: `b₁`'s columns are `0..<firstWidth`, `b₂`'s start at
    /// `split`. Otherwise both are `n`.
    let firstWidth: Int, split: Int
    private let backend: KernelBackend
    private let packed: OpaquePointer?
    private let source: [Float]   // the reference backend's own copy
    private let transposed: Bool

    /// With `inPlace` (a row-major `b` that one product reads once, such as the backward's inputs
    /// over all steps), the kernels read `b` where it is when they can, without packing it; `b`
    /// must then outlive this matrix.
    init(_ b: UnsafePointer<Float>, k: Int, n: Int, transposed: Bool, inPlace: Bool = false) {
        (self.k, self.n, self.transposed, firstWidth, split) = (k, n, transposed, n, n)
        backend = Kernels.backend
        packed = Self.view(backend: backend, wanted: inPlace && !transposed) {
            rk_packed_b_view_joined(k, n, Kernels.isa, b, n, n, n, nil, 0, 0, nil)
        } ?? Self.pack(k: k, n: n, backend: backend) { packed, panels in
            rk_packed_b_panels(packed, b, transposed ? k : n, transposed ? 1 : 0, panels.lowerBound, panels.upperBound)
        }
        source = backend == .reference ? Array(UnsafeBufferPointer(start: b, count: k * n)) : []
    }

    /// `[b₁ | 0 | b₂]`: the columns of two row-major matrices `[K, N₁]` and `[K, N₂]` side by side,
    /// packed as one operand (the backward's inputs and states, for one product that gives both
    /// weight gradients). Zero columns pad `b₁` to a whole column panel, so that each panel, and
    /// so each tile of the product, belongs to one of the two: `b₂` starts at ``split``. `b₂`'s rows
    /// from `tail.row` on are at `tail.rows` (h₁ … in the layer's output, h₀ apart); `N₁` may be 0.
    /// With `inPlace`, the kernels read both where they are when they can (as above), so they
    /// must outlive this matrix.
    init(_ b1: UnsafePointer<Float>, columns n1: Int, beside b2: UnsafePointer<Float>, columns n2: Int, k: Int,
         tail: (row: Int, rows: UnsafePointer<Float>)? = nil, inPlace: Bool = false) {
        let width = Int(rk_panel_width(Kernels.isa))
        let split = (n1 + width - 1) / width * width
        (self.k, self.n, self.transposed, firstWidth, self.split) = (k, split + n2, false, n1, split)
        backend = Kernels.backend
        let (headRows, tailRows) = (tail?.row ?? k, tail?.rows ?? b2)
        packed = Self.view(backend: backend, wanted: inPlace) {
            rk_packed_b_view_joined(k, split + n2, Kernels.isa, b1, n1, n1, split, b2, n2, headRows, tailRows)
        } ?? Self.pack(k: k, n: split + n2, backend: backend) { packed, panels in
            rk_packed_b_panels_joined(packed, b1, n1, n1, split, b2, n2, headRows, tailRows, panels.lowerBound, panels.upperBound)
        }
        var rows: [Float] = []
        if backend == .reference {
            for p in 0..<k {
                rows += UnsafeBufferPointer(start: b1 + p * n1, count: n1)
                rows += repeatElement(0, count: split - n1)
                rows += UnsafeBufferPointer(start: p < headRows ? b2 + p * n2 : tailRows + (p - headRows) * n2, count: n2)
            }
        }
        source = rows
    }

    /// A view of the operand that the kernels read in place (`make`), where one is `wanted`, the
    /// backend is the optimized one, ``Kernels/readsOperandsInPlace`` allows it and the kernels can
    /// (the x86 ones); else nil, and the operand is packed.
    private static func view(backend: KernelBackend, wanted: Bool, make: () -> OpaquePointer?) -> OpaquePointer? {
        wanted && backend == .optimized && Kernels.readsOperandsInPlace ? make() : nil
    }

    /// Storage for `[K, N]` packed for the optimized backend (nil for the reference), its column
    /// panels filled by `fill(storage, panels)`.
    private static func pack(k: Int, n: Int, backend: KernelBackend,
                             fill: (OpaquePointer, Range<Int>) -> Void) -> OpaquePointer? {
        guard backend == .optimized else { return nil }
        guard let packed = rk_packed_b_new(k, n, Kernels.isa) else {
            preconditionFailure("PackedMatrix: out of memory packing a [\(k), \(n)] matrix")
        }
        // A large operand (the backward pass's states and inputs over all steps, megabytes) is
        // packed by every thread, a share of its column panels each: the copy is bound by one
        // core's memory bandwidth. Weights are packed once and cached, so they stay on one.
        let panels = rk_packed_b_panel_count(packed)
        WorkerPool.shared.run(upTo: k * n >= sharedPackingFloats ? panels : 1) { part, parts in
            fill(packed, partition(panels, part, parts))
        }
        return packed
    }

    deinit { if let packed { rk_packed_b_free(packed) } }

    /// From this many floats (2 MiB) the packing is shared out over the pool's threads (`bi-2`'s
    /// first layer packs 1600 × 512 for its weight gradients: 1.4% of the main thread's time in
    /// `perf` of its training, fresh pages included, while the other thread waited).
    static let sharedPackingFloats = 1 << 19

    /// `c[:, columns] (+)= op(a) · b[:, columns]`, with `a` `[M, K]` rows `lda` apart (or `[K, M]`
    /// when `transposeA`) and `c` rows `ldc` apart (`c` points at column 0). Unless `accumulate`,
    /// `bias[columns]` (`bias`: `[N]`) is added to every row of the product. With `rowSums` (`[M]`),
    /// also `rowSums[i] += Σ_p op(a)[i, p]`, summed in order of p (pass it to one call per row).
    /// With `second` (rows `ldc2` apart), the columns of a joined operand's `b₂` go there (from
    /// its column 0), and the padding columns before them nowhere. With `groups` > 1, the columns
    /// are `columns + g · groupStride` for each `g < groups` (one thread's units of every gate), in
    /// one call. With `descending`, the column panels are walked last to first (the same result;
    /// a time loop alternates it per step, see `sgemm_one_block`).
    func multiply(into c: UnsafeMutablePointer<Float>, ldc: Int, _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                  m: Int, columns: Range<Int>, groups: Int = 1, groupStride: Int = 0, accumulate: Bool,
                  bias: UnsafePointer<Float>? = nil, rowSums: UnsafeMutablePointer<Float>? = nil,
                  second: UnsafeMutablePointer<Float>? = nil, ldc2: Int = 0, descending: Bool = false) {
        if m == 0 || columns.isEmpty || groups < 1 { return }
        switch backend {
        case .reference:
            let allColumns = (0..<groups).flatMap { g in columns.lazy.map { $0 + g * groupStride } }
            for i in 0..<m {
                if let rowSums { for p in 0..<k { rowSums[i] += transposeA ? a[p * lda + i] : a[i * lda + p] } }
                for j in allColumns where second == nil || j < firstWidth || j >= split {
                    var s: Float = 0
                    for p in 0..<k {
                        s += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposed ? source[j * k + p] : source[p * n + j])
                    }
                    let out = second.map { j >= split ? $0 + i * ldc2 + j - split : c + i * ldc + j } ?? c + i * ldc + j
                    out.pointee = accumulate ? out.pointee + s : s + (bias?[j] ?? 0)
                }
            }
        case .optimized:
            // Prefetch the next panel of b when one block of K (256 rows) of the columns read is
            // larger than L2, so that every panel would come from L3: the recurrent weights of
            // `large` (2 MiB per block) and `gru` (1.5 MiB) with 1 MiB of L2, not the weight
            // gradients' right operands (256 KiB per block, reused by every block of rows).
            let prefetch = 4 * min(k, 256) * columns.count * groups > Kernels.l2CacheBytes
            var output = rk_second_output(c: second, ldc: ldc2, gap: firstWidth, from: split)
            withUnsafePointer(to: &output) { output in
                rk_sgemm_packed(c, ldc, a, lda, transposeA ? 1 : 0, m, packed, columns.lowerBound, columns.upperBound,
                                groups, groupStride, accumulate ? 1 : 0, bias, prefetch ? 1 : 0, rowSums,
                                second == nil ? nil : output, descending ? 1 : 0)
            }
        }
    }
}

extension Tensor {
    /// This rank-2 tensor as the right operand of products, packed once and cached until its values
    /// change: `self` when `transposed` is false, else `selfᵀ` (a `[N, K]` tensor used as `[K, N]`).
    func packedMatrix(transposed: Bool) -> PackedMatrix {
        let (rows, columns) = (shape[0], shape[1])
        let isa = Kernels.instructionSet
        if Kernels.backend == .optimized, let hit = packedCache[transposed], hit.version == version, hit.isa == isa {
            return hit.matrix
        }
        let matrix = scalars.withPointer {
            PackedMatrix($0, k: transposed ? columns : rows, n: transposed ? rows : columns, transposed: transposed)
        }
        if Kernels.backend == .optimized { packedCache[transposed] = (version, isa, matrix) }
        return matrix
    }
}

extension PackedMatrix {
    /// `c (+)= op(a) · b` for `c` `[M, N]` and `a` `[M, K]` (`[K, M]` when `transposeA`), with the
    /// rows split over the worker pool when large; `rowSums` as in `multiply(into:ldc:…)`.
    func multiply(into c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, m: Int, transposeA: Bool = false,
                  accumulate: Bool = false, bias: UnsafePointer<Float>? = nil, rowSums: UnsafeMutablePointer<Float>? = nil,
                  lda: Int? = nil) {
        multiply(into: c, ldc: n, second: nil, a, m: m, transposeA: transposeA, accumulate: accumulate, bias: bias,
                 rowSums: rowSums, lda: lda)
    }

    /// The product with a joined operand in two parts: `op(a) · b₁` into `first` `[M, N₁]` and
    /// `op(a) · b₂` into `second` `[M, N₂]`, written straight into their own matrices.
    func multiply(into first: UnsafeMutablePointer<Float>, _ second: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                  m: Int, transposeA: Bool = false, rowSums: UnsafeMutablePointer<Float>? = nil, lda: Int? = nil) {
        multiply(into: first, ldc: firstWidth, second: (second, n - split), a, m: m, transposeA: transposeA, accumulate: false,
                 bias: nil, rowSums: rowSums, lda: lda)
    }

    /// The rows split over the worker pool when large; `a`'s rows are `lda` apart (default: dense).
    private func multiply(into c: UnsafeMutablePointer<Float>, ldc: Int, second: (UnsafeMutablePointer<Float>, Int)?,
                          _ a: UnsafePointer<Float>, m: Int, transposeA: Bool, accumulate: Bool, bias: UnsafePointer<Float>?,
                          rowSums: UnsafeMutablePointer<Float>?, lda: Int? = nil) {
        let large = m >= 16 && m * n * k >= 1 << 18
        WorkerPool.shared.run(upTo: large ? m / 8 : 1) { part, parts in
            let rows = partition(m, part, parts)
            // Rows of op(a): rows of a, or columns of a stored [K, M] (the kernel packs either).
            let lda = lda ?? (transposeA ? m : k)
            multiply(into: c + rows.lowerBound * ldc, ldc: ldc, a + (transposeA ? rows.lowerBound : rows.lowerBound * lda),
                     lda: lda, transposeA: transposeA, m: rows.count, columns: 0..<n, accumulate: accumulate,
                     bias: bias, rowSums: rowSums.map { $0 + rows.lowerBound },
                     second: second.map { $0.0 + rows.lowerBound * $0.1 }, ldc2: second?.1 ?? 0)
        }
    }

    /// `a · b (+ bias)` for `a` `[rows, K]` and `bias` `[N]`, with the rows split over the worker
    /// pool when large.
    func product(_ pa: UnsafePointer<Float>, rows m: Int, bias: [Float]? = nil) -> [Float] {
        [Float](unsafeUninitializedCapacity: m * n) { buffer, count in
            (bias ?? []).withPointer { pb in multiply(into: buffer.baseAddress!, pa, m: m, bias: bias == nil ? nil : pb) }
            count = m * n
        }
    }
}

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
