import Testing
@testable import Recurrent

/// The backward's weight-gradient products: `dgᵀ [x | h]` as one product over a joined operand,
/// with the bias gradient summed while `dg` is packed. Both must give the bits of the separate
/// products and of `columnSums`, on every instruction set, with 1 and 2 threads; so must `h` in two
/// pieces (h₀ apart from the output rows).
@Suite(.serialized) struct WeightGradientTests {
    /// `dgᵀ [x | h]` (or `dgᵀ h` without `x`) with `h`'s first `k / 3` rows in one array and the rest
    /// in another.
    static func withStatesInTwoPieces(_ dg: UnsafePointer<Float>, k: Int, m: Int, _ x: (UnsafePointer<Float>, Int)?,
                                      _ h: [Float], columns n2: Int) -> ([Float]?, [Float]?, [Float]?) {
        let split = k / 3
        let (head, tail) = (Array(h[..<(split * n2)]), Array(h[(split * n2)...]))
        return head.withPointer { head in tail.withPointer { tail in
            weightGradients(dg, rows: k, columns: m, x, (head, n2), secondTail: (split, tail), sums: true)
        } }
    }

    /// (K, M, N₁, N₂): K across a block of 256, M across a block of rows and the 2-thread split,
    /// N₁ = 33 puts both operands in one column panel, N₁ = 64 keeps the panels apart.
    static let shapes = [(1, 5, 3, 2), (300, 130, 33, 17), (257, 40, 64, 32), (19, 3, 1, 40)]

    @Test(arguments: KernelTests.instructionSets, [1, 2])
    func joinedProductEqualsSeparateProducts(_ isa: InstructionSet, _ threads: Int) {
        Kernels.setThreadCount(threads)
        defer { Kernels.setThreadCount(1) }
        Kernels.$instructionSet.withValue(isa) {
            for (k, m, n1, n2) in Self.shapes {
                let dg = testValues(k * m, seed: 1), x = testValues(k * n1, seed: 2), h = testValues(k * n2, seed: 3)
                let name = "\(isa) \(threads) threads K=\(k) M=\(m) N=\(n1)+\(n2)"
                let (dx, dh, sums, joined, one, noProduct) = dg.withPointer { dg in x.withPointer { x in h.withPointer { h in
                    (gemm(dg, x, m: m, n: n1, k: k, transposeA: true), gemm(dg, h, m: m, n: n2, k: k, transposeA: true),
                     columnSums(dg, rows: k, columns: m),
                     weightGradients(dg, rows: k, columns: m, (x, n1), (h, n2), sums: true),
                     weightGradients(dg, rows: k, columns: m, nil, (h, n2), sums: false),
                     weightGradients(dg, rows: k, columns: m, nil, nil, sums: true))
                } } }
                let (pieces, onePieces) = dg.withPointer { dg in x.withPointer { x in
                    (Self.withStatesInTwoPieces(dg, k: k, m: m, (x, n1), h, columns: n2),
                     Self.withStatesInTwoPieces(dg, k: k, m: m, nil, h, columns: n2))
                } }
                #expect(pieces.0 == dx && pieces.1 == dh && pieces.2 == sums, "\(name): h in two pieces")
                #expect(onePieces.0 == nil && onePieces.1 == dh && onePieces.2 == sums, "\(name): h alone in two pieces")
                #expect(joined.0 == dx && joined.1 == dh, "\(name): the joined product differs from the separate ones")
                #expect(joined.2 == sums, "\(name): the sums taken while packing differ from columnSums")
                #expect(one.0 == nil && one.1 == dh && one.2 == nil, "\(name): one operand")
                #expect(noProduct.0 == nil && noProduct.1 == nil && noProduct.2 == sums, "\(name): sums without a product")
                let exact = KernelTests().exact(dg, x, m: m, n: n1, k: k, ta: true, tb: false).map { Float($0) }
                expectClose(joined.0 ?? [], exact, rtol: 1e-5, atol: 2e-7 * Float(k), "\(name) against the exact product")
            }
        }
    }

    /// The right operands read in place (x86 kernels; M ≤ 256) against the same operands packed first:
    /// the same bits, with panels across the gap and past N, `h`'s two pieces meeting inside a block
    /// of 256 rows of K (K = 300, 257) and on its edge (K = 768), on every instruction set and with
    /// 1 and 2 threads. The shapes' panels lie in one operand for 16- and 32-wide panels alike.
    @Test(arguments: KernelTests.instructionSets, [1, 2])
    func operandsReadInPlaceEqualPacked(_ isa: InstructionSet, _ threads: Int) {
        Kernels.setThreadCount(threads)
        defer { Kernels.setThreadCount(1) }
        Kernels.$instructionSet.withValue(isa) {
            for (k, m, n1, n2) in Self.shapes + [(768, 24, 32, 48), (520, 256, 96, 64)] {
                let dg = testValues(k * m, seed: 11), x = testValues(k * n1, seed: 12), h = testValues(k * n2, seed: 13)
                func gradients() -> [([Float]?, [Float]?, [Float]?)] {
                    dg.withPointer { dg in x.withPointer { x in h.withPointer { hp in
                        [weightGradients(dg, rows: k, columns: m, (x, n1), (hp, n2), sums: true),
                         weightGradients(dg, rows: k, columns: m, (x, n1), nil, sums: true),
                         Self.withStatesInTwoPieces(dg, k: k, m: m, (x, n1), h, columns: n2),
                         Self.withStatesInTwoPieces(dg, k: k, m: m, nil, h, columns: n2)]
                    } } }
                }
                let (inPlace, packed) = (gradients(), Kernels.$readsOperandsInPlace.withValue(false) { gradients() })
                for (i, (a, b)) in zip(inPlace, packed).enumerated() {
                    #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2, "\(isa) \(threads) threads K=\(k) M=\(m) N=\(n1)+\(n2), case \(i)")
                }
            }
        }
    }

    /// The reference backend's joined operand (with the same zero padding between the parts):
    /// the bits of its separate products and sums.
    @Test func joinedProductOnTheReferenceBackend() {
        Kernels.$backend.withValue(.reference) {
            for (k, m, n1, n2) in Self.shapes {
                let dg = testValues(k * m, seed: 4), x = testValues(k * n1, seed: 5), h = testValues(k * n2, seed: 6)
                let (dx, dh, sums, joined) = dg.withPointer { dg in x.withPointer { x in h.withPointer { h in
                    (gemm(dg, x, m: m, n: n1, k: k, transposeA: true), gemm(dg, h, m: m, n: n2, k: k, transposeA: true),
                     columnSums(dg, rows: k, columns: m), weightGradients(dg, rows: k, columns: m, (x, n1), (h, n2), sums: true))
                } } }
                let pieces = dg.withPointer { dg in x.withPointer { x in Self.withStatesInTwoPieces(dg, k: k, m: m, (x, n1), h, columns: n2) } }
                #expect(joined.0 == dx && joined.1 == dh && joined.2 == sums, "reference K=\(k) M=\(m) N=\(n1)+\(n2)")
                #expect(pieces.0 == dx && pieces.1 == dh && pieces.2 == sums, "reference K=\(k) M=\(m) N=\(n1)+\(n2), h in two pieces")
            }
        }
    }

    /// `rowSums` of the packed product, for both layouts of `a`, the in-place kernel for 1–3 rows,
    /// and the reference backend: Σ_p op(a)[i, p] in order of p, so the same bits as a plain loop.
    @Test(arguments: [KernelBackend.reference, .optimized], [false, true])
    func rowSumsAreOrderedSums(_ backend: KernelBackend, _ transposeA: Bool) {
        for m in [1, 2, 3, 13, 100] { for k in [1, 17, 300] {
            let a = testValues(m * k, seed: UInt64(m * 7 + k)), b = testValues(k * 5, seed: 9)
            var want = [Float](repeating: 0.5, count: m)
            for i in 0..<m { for p in 0..<k { want[i] += transposeA ? a[p * m + i] : a[i * k + p] } }
            var sums = [Float](repeating: 0.5, count: m), c = [Float](repeating: 0, count: m * 5)
            Kernels.$backend.withValue(backend) {
                let packed = b.withPointer { PackedMatrix($0, k: k, n: 5, transposed: false) }
                c.withMutablePointer { c in a.withPointer { a in sums.withMutablePointer { s in
                    packed.multiply(into: c, a, m: m, transposeA: transposeA, rowSums: s)
                } } }
            }
            #expect(sums == want, "\(backend) tA=\(transposeA) m=\(m) k=\(k): row sums")
            let exact = KernelTests().exact(a, b, m: m, n: 5, k: k, ta: transposeA, tb: false).map { Float($0) }
            expectClose(c, exact, rtol: 1e-5, atol: 2e-7 * Float(k), "\(backend) tA=\(transposeA) m=\(m) k=\(k): product")
        } }
    }
}
