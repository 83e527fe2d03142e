import Foundation
import Synchronization

/// A float buffer for the kernels' scratch (input-projection chunks, gate gradients, saved states
/// and activations), taken from a process-wide pool and given back after use.
///
/// Large fresh allocations come from `mmap` and pay a page fault for every 4 KiB on first touch
/// (about 30% of a small layer's forward pass, measured); buffers handed out again are already
/// mapped. The pool keeps at most ``Scratch/poolLimit`` bytes; beyond that, buffers are freed.
struct Scratch {
    /// The first element; `capacity` floats are usable (uninitialized when taken).
    let base: UnsafeMutablePointer<Float>
    let capacity: Int

    /// Bytes of idle buffers the pool keeps for reuse.
    static let poolLimit = 256 << 20

    private static let pool = Mutex<[(address: UInt, capacity: Int)]>([])

    /// A buffer of at least `count` floats: the smallest idle one that fits (and wastes at most
    /// half), else a new one.
    static func take(_ count: Int) -> Scratch {
        if count == 0 { return Scratch(base: UnsafeMutablePointer(bitPattern: 64)!, capacity: 0) }
        let reused: (address: UInt, capacity: Int)? = pool.withLock { free in
            var best: Int? = nil
            for (i, b) in free.enumerated() where b.capacity >= count && b.capacity <= 2 * count {
                if best == nil || b.capacity < free[best!].capacity { best = i }
            }
            return best.map { free.remove(at: $0) }
        }
        if let reused { return Scratch(base: UnsafeMutablePointer(bitPattern: reused.address)!, capacity: reused.capacity) }
        // On a 64-byte boundary, so that whole vectors of rows whose length is a multiple of 16 floats
        // never straddle two cache lines (malloc's 16-byte alignment split every one of them:
        // seed-mnist training ran 8% slower, medium training 4%).
        let base = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        return Scratch(base: base, capacity: count)
    }

    /// Frees every idle buffer; returns how many bytes were released.
    @discardableResult
    static func releaseIdle() -> Int {
        let idle = pool.withLock { free in
            defer { free.removeAll() }
            return free
        }
        for b in idle { UnsafeMutableRawPointer(bitPattern: b.address)!.deallocate() }
        return idle.reduce(0) { $0 + $1.capacity } * MemoryLayout<Float>.stride
    }

    /// Returns `buffer` to the pool (or frees it when the pool is full); it must not be used after.
    static func give(_ buffer: Scratch) {
        if buffer.capacity == 0 { return }
        let kept = pool.withLock { free in
            let bytes = free.reduce(0) { $0 + $1.capacity } * MemoryLayout<Float>.stride
            guard bytes + buffer.capacity * MemoryLayout<Float>.stride <= poolLimit else { return false }
            free.append((UInt(bitPattern: buffer.base), buffer.capacity))
            return true
        }
        if !kept { UnsafeMutableRawPointer(buffer.base).deallocate() }
    }
}
