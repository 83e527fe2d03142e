import Foundation
import Synchronization

/// The batch rows of a sequence shared out over the pool's threads, each thread walking its rows
/// through every step with no meeting per step (batch rows are independent), and the work that is
/// left handed over at the end: a thread that has finished its rows asks the thread with the most
/// work left for the later half of its rows, which that thread gives up before its next step.
///
/// The cores of a shared machine run at different speeds for seconds at a time, so equal halves
/// finish apart, and the thread done first used to wait for the other (up to a fifth of its time
/// in `perf` of `gru` training). Each row's steps still run in order and one at a time, by
/// whichever thread holds the row, with the same arithmetic, so the results do not depend on who
/// runs them.
final class RowShares: @unchecked Sendable {
    /// One participant's rows and its mailbox for handovers.
    private final class Share: @unchecked Sendable {
        let state = Atomic<Int>(RowShares.idle)
        let rows = Atomic<Int>(0)       // lower << 32 | upper of the rows its owner walks
        let next = Atomic<Int>(0)       // the step its owner runs next
        let handed = Atomic<Int>(0)     // lower << 32 | upper of the rows given up
        let handedAt = Atomic<Int>(0)   // the step from which the asker runs them
    }
    // A share's state: a handover is asked (by one thread at a time), then granted or refused by
    // the owner before its next step, then read by the asker, who sets it back to idle. An owner
    // that has finished closes its share (answering a pending question first).
    private static let idle = 0, asked = 1, granted = 2, refused = 3, closed = 4

    /// Fewer rows than this on either side are not split off (1–3 rows take other kernel paths).
    static let minimumRows = 4
    /// Starts every row on participant 0, so that the others begin by taking rows over: for
    /// tests, which then see handovers happen on every run.
    @TaskLocal static var startsOnOne = false
    /// How many handovers have been granted in this process (for tests).
    static let handovers = Atomic<Int>(0)

    private let shares: [Share]
    private let steps: Int, count: Int

    /// Rows `0..<count` for `participants` threads walking `steps` steps: equal shares to start with.
    init(count: Int, steps: Int, participants: Int) {
        self.count = count
        self.steps = steps
        let parts = max(1, participants), startsOnOne = Self.startsOnOne
        shares = (0..<parts).map { part in
            let share = Share()
            let rows = startsOnOne ? (part == 0 ? 0..<count : count..<count) : partition(count, part, parts)
            share.rows.store(Self.pack(rows), ordering: .relaxed)  // published to the others by the pool's start
            return share
        }
    }

    private static func pack(_ rows: Range<Int>) -> Int { rows.lowerBound << 32 | rows.upperBound }
    private static func unpack(_ value: Int) -> Range<Int> { (value >> 32)..<(value & 0xFFFF_FFFF) }

    /// Runs participant `part` of `parts`: `step(rows, s)` for its rows at every step in order, then
    /// for rows taken over from others from the step they were handed over at (the owner goes on
    /// from that step with fewer rows, the asker with the others).
    func walk(part: Int, parts: Int, _ step: (Range<Int>, Int) -> Void) {
        guard parts == shares.count else {  // the thread count changed since `init`: equal shares, no handovers
            let rows = partition(count, part, parts)
            for s in 0..<steps where !rows.isEmpty { step(rows, s) }
            return
        }
        var rows = Self.unpack(shares[part].rows.load(ordering: .relaxed)), from = 0
        while true {
            if !rows.isEmpty { run(shares[part], rows: rows, from: from, step) }
            close(shares[part])
            guard parts > 1, let (taken, at) = takeOver(part: part, parts: parts) else { return }
            shares[part].state.store(Self.idle, ordering: .releasing)  // open again for others to ask
            (rows, from) = (taken, at)
        }
    }

    /// The owner's loop: before each step it answers a pending question.
    private func run(_ share: Share, rows: Range<Int>, from: Int, _ step: (Range<Int>, Int) -> Void) {
        var rows = rows
        share.rows.store(Self.pack(rows), ordering: .releasing)
        for s in from..<steps {
            share.next.store(s, ordering: .relaxed)
            if share.state.load(ordering: .acquiring) == Self.asked {
                if rows.count >= 2 * Self.minimumRows && steps - s >= 2 {
                    let middle = rows.lowerBound + rows.count / 2
                    share.handed.store(Self.pack(middle..<rows.upperBound), ordering: .relaxed)
                    share.handedAt.store(s, ordering: .relaxed)
                    rows = rows.lowerBound..<middle
                    share.rows.store(Self.pack(rows), ordering: .relaxed)
                    // Releases every step before s of the rows given up to the asker.
                    share.state.store(Self.granted, ordering: .releasing)
                    Self.handovers.add(1, ordering: .relaxed)
                } else {
                    share.state.store(Self.refused, ordering: .releasing)
                }
            }
            step(rows, s)
        }
    }

    /// Marks a finished owner's share closed, answering a question that came too late.
    private func close(_ share: Share) {
        var spins = 0
        while true {
            switch share.state.load(ordering: .acquiring) {
            case Self.idle:
                if share.state.compareExchange(expected: Self.idle, desired: Self.closed, ordering: .acquiringAndReleasing).exchanged {
                    return
                }
            case Self.asked:
                share.state.store(Self.refused, ordering: .releasing)
            default:  // granted or refused: the asker has yet to read the answer
                spins += 1
                if spins > 20_000 { sched_yield() }
            }
        }
    }

    /// Asks the participant with the most work left for half its rows; nil when none is worth it.
    private func takeOver(part: Int, parts: Int) -> (Range<Int>, Int)? {
        var looks = 0
        while true {
            looks += 1
            if looks > 1_000 { sched_yield() }
            var best: (owner: Int, work: Int)? = nil
            for owner in 0..<parts where owner != part {
                let share = shares[owner]
                if share.state.load(ordering: .acquiring) == Self.closed { continue }
                let rows = Self.unpack(share.rows.load(ordering: .acquiring)).count
                let left = steps - share.next.load(ordering: .relaxed)
                guard rows >= 2 * Self.minimumRows && left >= 2 else { continue }
                if rows * left > (best?.work ?? 0) { best = (owner, rows * left) }
            }
            guard let owner = best?.owner else { return nil }
            let share = shares[owner]
            // Another asker got there first, or the owner finished: look again.
            guard share.state.compareExchange(expected: Self.idle, desired: Self.asked, ordering: .acquiringAndReleasing).exchanged
            else { continue }
            var spins = 0
            while true {
                let state = share.state.load(ordering: .acquiring)
                if state == Self.granted {
                    let answer = (Self.unpack(share.handed.load(ordering: .relaxed)), share.handedAt.load(ordering: .relaxed))
                    share.state.store(Self.idle, ordering: .releasing)
                    return answer
                }
                if state == Self.refused {
                    share.state.store(Self.idle, ordering: .releasing)
                    return nil
                }
                spins += 1
                if spins > 20_000 { sched_yield() }
            }
        }
    }
}
