// Fuzzes `SafeTensorsFile(decoding:)`; a file it accepts must round-trip through `encoded()`
// (values bit for bit, as F32) and then goes through what `RecurrentModel.load` does with it.
import Foundation
import FuzzSupport
import Recurrent

runFuzzer { bytes, count in
    let file: SafeTensorsFile
    do {
        file = try SafeTensorsFile(decoding: data(bytes, count))
    } catch {
        reject(error)
        return 0
    }
    if let encoded = try? file.encoded() {
        do {
            let again = try SafeTensorsFile(decoding: encoded)
            check(again.metadata == file.metadata, "metadata changed in a round trip: \(file.metadata) → \(again.metadata)")
            check(Set(again.tensors.keys) == Set(file.tensors.keys), "tensor names changed in a round trip")
            for (name, t) in file.tensors {
                check(sameBits(t, again.tensors[name]!), "tensor '\(name)' changed in a round trip")
            }
        } catch {
            check(false, "the library cannot read what it wrote: \(error)")
        }
    }
    loadModel(metadata: file.metadata, tensors: file.tensors)
    return 0
}
