// Fuzzes `Gzip.decompress`.
import Foundation
import FuzzSupport
import Recurrent

runFuzzer { bytes, count in
    let input = data(bytes, count)
    do {
        _ = try Gzip.decompress(input)
        check(Gzip.isGzip(input), "decompressed data that isGzip refuses")
    } catch {
        reject(error)
    }
    return 0
}
