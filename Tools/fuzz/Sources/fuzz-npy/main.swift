// Fuzzes `NPY.decode`; an array it accepts must round-trip through `NPY.encode` (values bit for
// bit, as float32).
import Foundation
import FuzzSupport
import Recurrent

runFuzzer { bytes, count in
    let tensor: TensorData
    do {
        tensor = try NPY.decode(data(bytes, count))
    } catch {
        reject(error)
        return 0
    }
    do {
        let again = try NPY.decode(NPY.encode(tensor))
        check(sameBits(tensor, again), "shape \(tensor.shape) changed in a round trip to \(again.shape)")
    } catch {
        check(false, "the library cannot read what it wrote for shape \(tensor.shape): \(error)")
    }
    return 0
}
