import Foundation
import Synchronization
import _RecurrentKernels

/// A persistent pool of worker threads with a cheap fork-join, for the kernels' parallelism: the
/// recurrent loop dispatches once per sequence and its threads meet per step at a
/// ``StepBarrier``; no thread creation or dispatch queue per call.
///
/// Workers spin on a generation counter for about a millisecond after each task (so that the next
/// layer or call finds them awake: a wake-up through the kernel costs tens of microseconds), then
/// sleep on a semaphore, so an idle pool costs no CPU.
final class WorkerPool: @unchecked Sendable {
    /// The pool the kernels use; its size follows ``Kernels/setThreadCount(_:)``.
    static let shared = WorkerPool()

    private final class Worker: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        let sleeping = Atomic<Bool>(false)
    }

    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let lock = Mutex(())
    private var workers: [Worker] = []
    /// The task of the current generation: `(participant, participants)`. Every worker wakes for
    /// every generation (those with index ≥ `participants` do nothing), so a worker can never
    /// mistake one generation's task for another's.
    private nonisolated(unsafe) var task: ((Int, Int) -> Void)?
    private nonisolated(unsafe) var participants = 1
    /// The caller's task-local settings (kernel backend and instruction set, gradient mode, the
    /// streamed-history threshold, the L2 size), re-established on the workers.
    private nonisolated(unsafe) var settings: (KernelBackend, InstructionSet, Bool, Int, Int) = (.optimized, .scalar, true, 0, 0)

    /// Set on the pool's own threads and during `run`, so nested calls run inline.
    private static let insideKey = ThreadLocalFlag()

    /// How many threads a ``run(upTo:_:)`` started on this thread could use: the configured count,
    /// or 1 inside a running task (nested calls run inline).
    static var availableThreads: Int { insideKey.isSet ? 1 : shared.threadsNow }

    /// The configured thread count, or 1 while the pool backs off from a busy machine (see ``Contention``).
    private var threadsNow: Int { contention.skipsLeft.load(ordering: .relaxed) > 0 ? 1 : Kernels.threadCount.withLock { $0 } }

    /// Whether other programs keep the workers off their cores. When a dispatch's workers arrive
    /// late (the caller waited for them longer than it worked itself, and over 200 µs), or a step
    /// barrier had to yield the core, the pool runs the next dispatches on the calling thread
    /// alone, twice as many after each late one (up to 4096), then tries its workers again.
    /// Measured with one core busy (`yes > /dev/null`) on the 2-core VM: a Fashion-MNIST epoch of
    /// the tutorial's LSTM took 7.2 s on 2 threads and 3.2 s on 1; spin-waiting for a thread that
    /// the system does not run is worse than not waiting at all. Results are the same bits for
    /// any thread count, so backing off changes only the time.
    final class Contention: @unchecked Sendable {
        /// Multi-threaded dispatches still to run on one thread.
        let skipsLeft = Atomic<Int>(0)
        /// Waits at step barriers that had to yield the core.
        let yields = Atomic<Int>(0)
        /// How many dispatches the next back-off lasts.
        nonisolated(unsafe) var nextBackoff = 16
        /// Whether late workers start a back-off (tests of the thread split turn it off).
        let isEnabled = Atomic<Bool>(true)

        /// After a multi-threaded dispatch: the caller's own time, its wait for the workers, and
        /// whether a barrier yielded meanwhile.
        func record(own: UInt64, wait: UInt64, yielded: Bool) {
            guard isEnabled.load(ordering: .relaxed) else { return }
            if yielded || (wait > 200_000 && wait > own) {
                skipsLeft.store(nextBackoff, ordering: .relaxed)
                nextBackoff = min(nextBackoff * 2, 4096)
            } else {
                nextBackoff = max(nextBackoff / 2, 16)
            }
        }
    }
    let contention = Contention()

    /// Runs `body(i, n)` for `i` in `0..<n` on `n` threads (the caller is participant 0), where
    /// `n = min(wanted, Kernels.threadCount)`; returns when all have finished. Calls made from
    /// inside a running task execute inline with `n = 1`.
    func run(upTo wanted: Int, _ body: (Int, Int) -> Void) {
        let n = min(wanted, threadsNow)
        // Subnormal floats take a slow path through the FPU (measured: the demo's plain RNN, whose
        // gradients vanish into that range, ran 7× slower in its last thousand steps); the
        // kernels flush them to zero, on this thread for the call and on the workers always.
        let control = rk_denormals_flushed_begin()
        defer { rk_denormals_flushed_end(control) }
        if n <= 1 || Self.insideKey.isSet {
            body(0, 1)
            // Every top-level dispatch counts a back-off down (those planned while backing off may
            // not ask for more than one thread at all).
            if !Self.insideKey.isSet, contention.skipsLeft.load(ordering: .relaxed) > 0 {
                contention.skipsLeft.subtract(1, ordering: .relaxed)
            }
            return
        }
        lock.withLock { _ in
            ensureWorkers(n - 1)
            withoutActuallyEscaping(body) { escapable in
                task = escapable
                participants = n
                settings = (Kernels.backend, Kernels.instructionSet, GradMode.isEnabled, Kernels.streamedHistoryBytes,
                            Kernels.l2CacheBytes)
                remaining.store(workers.count, ordering: .sequentiallyConsistent)
                generation.add(1, ordering: .sequentiallyConsistent)
                for w in workers where w.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                    w.wake.signal()
                }
                let yieldsBefore = contention.yields.load(ordering: .relaxed), start = DispatchTime.now().uptimeNanoseconds
                Self.insideKey.set(true)
                escapable(0, n)
                Self.insideKey.set(false)
                let finished = DispatchTime.now().uptimeNanoseconds
                var spins = 0
                while remaining.load(ordering: .acquiring) > 0 {
                    spins += 1
                    if spins > 100_000 { sched_yield() }
                }
                let end = spins > 0 ? DispatchTime.now().uptimeNanoseconds : finished
                contention.record(own: finished - start, wait: end - finished,
                                  yielded: contention.yields.load(ordering: .relaxed) != yieldsBefore)
                task = nil
            }
        }
    }

    private func ensureWorkers(_ count: Int) {
        while workers.count < count {
            let index = workers.count + 1, worker = Worker()
            workers.append(worker)
            // Read here, before the caller advances the generation, so the new thread cannot miss it.
            let start = generation.load(ordering: .sequentiallyConsistent)
            let thread = Thread { [unowned self] in self.workerLoop(index: index, worker: worker, seen: start) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func workerLoop(index: Int, worker: Worker, seen start: Int) {
        Self.insideKey.set(true)
        _ = rk_denormals_flushed_begin()  // for the thread's life (see `run`)
        var seen = start
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < 2_000_000 { continue }  // about a millisecond: stay hot between calls
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen { worker.wake.wait() }
                worker.sleeping.store(false, ordering: .sequentiallyConsistent)
                spins = 0
            }
            seen += 1  // generations advance one at a time: the dispatcher waits for every worker
            if index < participants, let task {
                Kernels.$backend.withValue(settings.0) {
                    Kernels.$instructionSet.withValue(settings.1) {
                        GradMode.$isEnabled.withValue(settings.2) {
                            Kernels.$streamedHistoryBytes.withValue(settings.3) {
                                Kernels.$l2CacheBytes.withValue(settings.4) { task(index, participants) }
                            }
                        }
                    }
                }
            }
            remaining.subtract(1, ordering: .releasing)
        }
    }
}

/// A spin barrier for the participants of one ``WorkerPool/run(upTo:_:)`` that walk a sequence
/// together (the persistent-RNN pattern: one dispatch per sequence, then one cheap barrier per
/// time step instead of a fork-join per step).
final class StepBarrier: @unchecked Sendable {
    private let arrived = Atomic<Int>(0)

    /// Waits until all `participants` have called this for the `crossing`-th time (1, 2, …).
    func wait(participants: Int, crossing: Int) {
        if participants <= 1 { return }
        arrived.add(1, ordering: .acquiringAndReleasing)
        var spins = 0
        while arrived.load(ordering: .acquiring) < crossing * participants {
            spins += 1
            if spins > 20_000 {
                // Past the first crossing (where a worker may still be waking), the participants do
                // equal work per step: a long wait means the system is not running one of them.
                if spins == 20_001 && crossing > 1 { WorkerPool.shared.contention.yields.add(1, ordering: .relaxed) }
                sched_yield()
            }
        }
    }
}

/// How many steps of a sequence one thread has finished, for another thread that consumes them
/// one step behind (a pipeline of stacked layers).
final class StepProgress: @unchecked Sendable {
    private let finished = Atomic<Int>(0)

    /// Announces that the first `count` steps are written (their writes become visible to `wait`).
    func publish(_ count: Int) { finished.store(count, ordering: .releasing) }

    /// Waits until at least `count` steps are announced.
    func wait(for count: Int) {
        var spins = 0
        while finished.load(ordering: .acquiring) < count {
            spins += 1
            if spins > 20_000 { sched_yield() }  // waiting for the lower layer's work is expected here: not contention
        }
    }
}

/// A per-thread boolean (pthread-specific), for detecting nested pool use.
final class ThreadLocalFlag: @unchecked Sendable {
    private var key = pthread_key_t()
    init() { pthread_key_create(&key, nil) }
    var isSet: Bool { pthread_getspecific(key) != nil }
    func set(_ value: Bool) { pthread_setspecific(key, value ? UnsafeRawPointer(bitPattern: 1) : nil) }
}

/// The half-open range of `0..<count` that participant `i` of `n` handles (contiguous, balanced).
func partition(_ count: Int, _ i: Int, _ n: Int) -> Range<Int> {
    (count * i / n)..<(count * (i + 1) / n)
}
