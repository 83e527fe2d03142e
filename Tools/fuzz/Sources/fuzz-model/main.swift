// Fuzzes model architecture reading (`ModelArchitecture(metadata:)`) and inference
// (`ModelArchitecture(inferringFrom:)`), then what `RecurrentModel.load` does with the result.
//
// The input is text, one entry a line (see README.md):
//   key=value            a `__metadata__` entry (`format=recurrent` selects reading the metadata)
//   name:d0,d1,...       a tensor of that shape (`name:` alone is a scalar); its values are small
//                        numbers, so the product of the sizes is capped (a zero size allows any other)
//   @nonlinearity=relu   the arguments of `RecurrentModel.load` (`@batch_first=true`,
//                        `@head_placement=last_step`), which override what the metadata says
import Foundation
import FuzzSupport
import Recurrent

/// The most values the tensors of one input may hold together.
let maximumValues = 1 << 16

runFuzzer { bytes, count in
    let text = String(decoding: UnsafeBufferPointer(start: bytes, count: bytes == nil ? 0 : count), as: UTF8.self)
    var metadata: [String: String] = [:]
    var tensors: [String: TensorData] = [:]
    var nonlinearity: Nonlinearity?, batchFirst: Bool?, headPlacement: ModelArchitecture.HeadPlacement?
    var values = 0
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("@"), let eq = line.firstIndex(of: "=") {
            let value = String(line[line.index(after: eq)...])
            switch line[line.index(after: line.startIndex)..<eq] {
            case "nonlinearity": nonlinearity = Nonlinearity(rawValue: value)
            case "batch_first": batchFirst = Bool(value)
            case "head_placement": headPlacement = .init(rawValue: value)
            default: break
            }
        } else if let colon = line.lastIndex(of: ":"), let shape = parseShape(line[line.index(after: colon)...]) {
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { return 0 }
                elements = p
            }
            guard elements <= maximumValues - values else { return 0 }
            values += elements
            let scalars = (0..<elements).map { Float($0 % 7) * 0.125 - 0.375 }
            tensors[String(line[..<colon])] = TensorData(shape: shape, scalars: scalars)
        } else if let eq = line.firstIndex(of: "=") {
            metadata[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
    }
    loadModel(metadata: metadata, tensors: tensors, nonlinearity: nonlinearity, batchFirst: batchFirst,
              headPlacement: headPlacement)
    return 0
}

/// `d0,d1,...` as sizes (each ≥ 0), `[]` for an empty text, nil for anything else.
func parseShape(_ text: Substring) -> [Int]? {
    if text.isEmpty { return [] }
    var shape: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        guard let d = Int(part), d >= 0 else { return nil }
        shape.append(d)
    }
    return shape.count <= 8 ? shape : nil
}
