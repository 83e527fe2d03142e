import Testing
@testable import Recurrent

/// The fused C cell steps (Elman, LSTM, GRU; forward and backward) against the plain-Swift cells
/// of the reference backend, one step at a time, on every instruction set this CPU has: hidden
/// sizes around the 8- and 16-unit vectors and the blocks of two or four, 1–3 rows (one vector
/// at a time) and 5 rows (two or four at a time), all units or a range of them. Columns outside the range
/// must come back untouched. The forward runs twice on the fast kernels, writing the cache with
/// ordinary and with non-temporal stores (training), into a 64-byte-aligned buffer so that whole
/// vectors take the non-temporal path; both must give the same bits.
@Suite struct CellKernelTests {
    static let kinds = ["rnn-tanh", "rnn-relu", "lstm", "gru"]

    func cell(_ kind: String) -> any RecurrentCell {
        switch kind {
        case "rnn-tanh": ElmanCell(nonlinearity: .tanh)
        case "rnn-relu": ElmanCell(nonlinearity: .relu)
        case "lstm": LSTMCellKernel()
        default: GRUCellKernel()
        }
    }

    @Test(arguments: KernelTests.instructionSets, kinds)
    func cellStepsMatchReference(_ isa: InstructionSet, _ kind: String) {
        for hidden in KernelTests.sizes {
            for rows in [1, 3, 5] {
                let ranges = [0..<hidden, (hidden / 3)..<(hidden - hidden / 4)].filter { !$0.isEmpty }
                for units in Set(ranges) { check(isa, cell(kind), "\(kind) H=\(hidden) rows=\(rows) units=\(units)", hidden, rows, units) }
            }
        }
    }

    /// Runs one step forward and backward under each backend from the same inputs (the backward
    /// from the reference forward's cache, so that each kernel is compared on its own).
    func check(_ isa: InstructionSet, _ cell: any RecurrentCell, _ label: String, _ H: Int, _ rows: Int, _ units: Range<Int>) {
        let G = cell.gateCount, width = cell.cacheFloats(hidden: H) / H, state = cell.hasCellState
        let gx = testValues(rows * G * H, seed: 1).map { 2 * $0 }, gh = testValues(rows * G * H, seed: 2).map { 2 * $0 }
        let hPrev = testValues(rows * H, seed: 3), cPrev = testValues(rows * H, seed: 4)
        let dh = testValues(rows * H, seed: 5), dcIn = testValues(rows * H, seed: 6), dhPrevIn = testValues(rows * H, seed: 7)
        let sentinel: Float = 12345

        /// h, c, cache of one forward step.
        func forward(streamCache: Bool = false) -> [[Float]] {
            var h = [Float](repeating: sentinel, count: rows * H), c = h
            let k = UnsafeMutableRawPointer.allocate(byteCount: rows * width * H * 4, alignment: 64)
                .initializeMemory(as: Float.self, repeating: sentinel, count: rows * width * H)
            defer { k.deallocate() }
            h.withMutablePointer { h in c.withMutablePointer { c in
                gx.withPointer { gx in gh.withPointer { gh in hPrev.withPointer { hp in cPrev.withPointer { cp in
                    cell.step(h: h, c: state ? c : nil, cache: k, gx: gx, gh: gh, hPrev: hp, cPrev: state ? cp : nil, parameters: nil,
                              batch: rows, hidden: H, units: units, streamCache: streamCache)
                } } } }
            } }
            return [h, c, Array(UnsafeBufferPointer(start: k, count: rows * width * H))]
        }
        /// dgx, dgh, dhPrev, dc of one backward step from `cache`.
        func backward(_ cache: [Float]) -> [[Float]] {
            var dgx = [Float](repeating: sentinel, count: rows * G * H), dgh = dgx
            var dhPrev = dhPrevIn, dc = dcIn
            dgx.withMutablePointer { dx in dgh.withMutablePointer { dq in dhPrev.withMutablePointer { dhp in dc.withMutablePointer { dc in
                cache.withPointer { k in dh.withPointer { dh in hPrev.withPointer { hp in cPrev.withPointer { cp in
                    cell.stepBackward(dgx: dx, dgh: dq, dhPrev: dhp, dc: state ? dc : nil, dh: dh, cache: k, hPrev: hp,
                                      cPrev: state ? cp : nil, parameters: nil, dparameters: nil, batch: rows, hidden: H,
                                      units: units)
                } } } }
            } } } }
            return [dgx, dgh, dhPrev, dc]
        }

        let reference = Kernels.$backend.withValue(.reference) { forward() }
        let fast = Kernels.$instructionSet.withValue(isa) { Kernels.$backend.withValue(.optimized) { forward() } }
        let streamed = Kernels.$instructionSet.withValue(isa) {
            Kernels.$backend.withValue(.optimized) { forward(streamCache: true) }
        }
        #expect(streamed == fast, "\(label) on \(isa): the non-temporal cache stores changed a value")
        let referenceGrads = Kernels.$backend.withValue(.reference) { backward(reference[2]) }
        let fastGrads = Kernels.$instructionSet.withValue(isa) { Kernels.$backend.withValue(.optimized) { backward(reference[2]) } }

        // Every buffer is [rows, blocks·H] with unit j of block g at column g·H + j.
        let buffers = [("h", 1), ("c", 1), ("cache", width)]
        for (n, (name, blocks)) in buffers.enumerated() where name != "c" || state {
            compare(fast[n], reference[n], blocks: blocks, "\(label) on \(isa): \(name)")
        }
        let gradients = [("dgx", G, sentinel), ("dgh", G, sentinel), ("dhPrev", 1, Float.nan), ("dc", 1, Float.nan)]
        for (n, (name, blocks, untouched)) in gradients.enumerated() where name != "dc" || state {
            compare(fastGrads[n], referenceGrads[n], blocks: blocks, untouched: untouched.isNaN ? nil : untouched,
                  "\(label) on \(isa): \(name)")
        }

        /// Within `units`, close to the reference (both backends: float32 with ~2 ulp activations);
        /// outside, equal to the sentinel (or, for in-out buffers, to the reference, which keeps them).
        func compare(_ a: [Float], _ b: [Float], blocks: Int, untouched: Float? = sentinel, _ name: String) {
            var inside: [(Float, Float)] = [], outsideOK = true
            for r in 0..<rows {
                for g in 0..<blocks {
                    for j in 0..<H {
                        let i = (r * blocks + g) * H + j
                        if units.contains(j) { inside.append((a[i], b[i])) }
                        else if a[i] != (untouched ?? b[i]) || b[i] != (untouched ?? b[i]) { outsideOK = false }
                    }
                }
            }
            #expect(outsideOK, "\(name): a column outside the units changed")
            expectClose(inside.map(\.0), inside.map(\.1), rtol: 1e-5, atol: 1e-6, name)
        }
    }
}
