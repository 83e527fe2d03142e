// Fuzzes `IDX.decode` (plain or gzip-compressed); an array it accepts must round-trip through
// `IDX.encode`, and its values convert without trapping.
import Foundation
import FuzzSupport
import Recurrent

runFuzzer { bytes, count in
    let array: IDXArray
    do {
        array = try IDX.decode(data(bytes, count))
    } catch {
        reject(error)
        return 0
    }
    check(array.count == array.shape.reduce(1, *), "shape \(array.shape) but \(array.count) values")
    do {
        let again = try IDX.decode(IDX.encode(array))
        check(again == array, "shape \(array.shape) changed in a round trip")
    } catch {
        check(false, "the library cannot read what it wrote for shape \(array.shape): \(error)")
    }
    _ = array.floats(dividedBy: 255)
    _ = array.integers
    return 0
}
