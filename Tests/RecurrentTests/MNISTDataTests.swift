import Foundation
import Testing
@testable import Recurrent

private let fashionMNIST = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
private let fashionMNISTPresent = FileManager.default.fileExists(atPath: fashionMNIST.appendingPathComponent("train-images-idx3-ubyte.gz").path)

/// A tiny dataset: 3 training images of 2×4 pixels (labels 0, 2, 1) and 2 test images (labels 4, 0).
struct TinyDataset {
    static let trainingPixels = (0..<24).map { UInt8($0 * 10) }, trainingLabels: [UInt8] = [0, 2, 1]
    static let testPixels = (0..<16).map { UInt8(255 - $0) }, testLabels: [UInt8] = [4, 0]

    enum Naming: String, CaseIterable { case plain, gzip, dotted, dottedGzip }

    /// Writes the four files into `dir`, named as `naming` says; `change` may replace any of them first.
    static func write(to dir: URL, naming: Naming = .plain, change: (inout [String: IDXArray]) -> Void = { _ in }) throws {
        var files = [
            "train-images-idx3-ubyte": IDXArray(shape: [3, 2, 4], dataType: .uint8, bytes: trainingPixels),
            "train-labels-idx1-ubyte": IDXArray(shape: [3], dataType: .uint8, bytes: trainingLabels),
            "t10k-images-idx3-ubyte": IDXArray(shape: [2, 2, 4], dataType: .uint8, bytes: testPixels),
            "t10k-labels-idx1-ubyte": IDXArray(shape: [2], dataType: .uint8, bytes: testLabels),
        ]
        change(&files)
        for (name, array) in files {
            let dotted = naming == .dotted || naming == .dottedGzip, compressed = naming == .gzip || naming == .dottedGzip
            let fileName = (dotted ? name.replacingOccurrences(of: "-idx", with: ".idx") : name) + (compressed ? ".gz" : "")
            let data = IDX.encode(array)
            try (compressed ? storedGzip(data) : data).write(to: dir.appendingPathComponent(fileName))
        }
    }
}

@Suite struct MNISTDataTests {
    @Test(arguments: TinyDataset.Naming.allCases)
    func loadsTheFourFiles(_ naming: TinyDataset.Naming) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyDataset.write(to: dir.url, naming: naming)
        let data = try MNISTData.load(directory: dir.url)
        #expect(data.rows == 2 && data.cols == 4 && data.classCount == 5)
        #expect(data.training == MNISTData.Split(pixels: TinyDataset.trainingPixels, labels: [0, 2, 1], rows: 2, cols: 4))
        #expect(data.test.pixels == TinyDataset.testPixels && data.test.labels == [4, 0] && data.test.count == 2)
    }

    /// A batch is `[B, rows, cols]`, pixel / 255, in the order of the indices.
    @Test func gathersBatchesScaledLikeToTensor() {
        let split = MNISTData.Split(pixels: TinyDataset.trainingPixels, labels: [0, 2, 1], rows: 2, cols: 4)
        let batch = split.images(at: [2, 0])
        #expect(batch.count == 2 * 2 * 4)
        #expect(batch == (Array(TinyDataset.trainingPixels[16..<24]) + Array(TinyDataset.trainingPixels[0..<8])).map { Float($0) / 255 })
        #expect(split.labels(at: [2, 0]) == [1, 0])
        #expect(split.images(at: 1..<2).count == 8 && split.images(at: []).isEmpty)
    }

    enum Broken: String, CaseIterable {
        case missingTestLabels, countMismatch, imagesRank2, labelsRank2, labelsNotUnsignedBytes, imagesNotUnsignedBytes, sizesDiffer, notIDX

        func apply(_ files: inout [String: IDXArray]) {
            switch self {
            case .missingTestLabels: files["t10k-labels-idx1-ubyte"] = nil
            case .countMismatch: files["train-labels-idx1-ubyte"] = IDXArray(shape: [2], dataType: .uint8, bytes: [0, 1])
            case .imagesRank2: files["train-images-idx3-ubyte"] = IDXArray(shape: [3, 8], dataType: .uint8, bytes: TinyDataset.trainingPixels)
            case .labelsRank2: files["t10k-labels-idx1-ubyte"] = IDXArray(shape: [2, 1], dataType: .uint8, bytes: [4, 0])
            case .labelsNotUnsignedBytes: files["train-labels-idx1-ubyte"] = IDXArray(shape: [3], dataType: .int16, bytes: [0, 0, 0, 2, 0, 1])
            case .imagesNotUnsignedBytes: files["t10k-images-idx3-ubyte"] = IDXArray(shape: [2, 2, 4], dataType: .int8, bytes: TinyDataset.testPixels)
            case .sizesDiffer: files["t10k-images-idx3-ubyte"] = IDXArray(shape: [2, 4, 2], dataType: .uint8, bytes: TinyDataset.testPixels)
            case .notIDX: break
            }
        }

        var expected: (file: String, message: String) {
            switch self {
            case .missingTestLabels:
                ("", "no t10k-labels-idx1-ubyte in this folder (looked for t10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz, t10k-labels.idx1-ubyte, t10k-labels.idx1-ubyte.gz)")
            case .countMismatch: ("train-labels-idx1-ubyte", "2 labels for the 3 images of train-images-idx3-ubyte")
            case .imagesRank2: ("train-images-idx3-ubyte", "images must be ubyte of rank 3 [count, rows, cols], not ubyte of shape [3, 8]")
            case .labelsRank2: ("t10k-labels-idx1-ubyte", "labels must be ubyte of rank 1 [count], not ubyte of shape [2, 1]")
            case .labelsNotUnsignedBytes: ("train-labels-idx1-ubyte", "labels must be ubyte of rank 1 [count], not short of shape [3]")
            case .imagesNotUnsignedBytes: ("t10k-images-idx3-ubyte", "images must be ubyte of rank 3 [count, rows, cols], not byte of shape [2, 2, 4]")
            case .sizesDiffer: ("t10k-images-idx3-ubyte", "test images are 4×2 pixels but training images are 2×4")
            case .notIDX: ("train-labels-idx1-ubyte", "not an IDX file: it must start with two zero bytes, not 0x68 0x65")
            }
        }
    }

    @Test(arguments: Broken.allCases)
    func brokenDatasetsThrowOneLineErrorsNamingTheFile(_ c: Broken) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try TinyDataset.write(to: dir.url) { c.apply(&$0) }
        if c == .notIDX { try Data("hello".utf8).write(to: dir.file("train-labels-idx1-ubyte")) }
        let (file, message) = c.expected
        #expect(throws: FileFormatError(file: file.isEmpty ? dir.url.path : dir.path(file), message)) {
            _ = try MNISTData.load(directory: dir.url)
        }
    }

    /// The real files, when installed: Fashion-MNIST has 6000 training and 1000 test images of each of its 10 classes.
    @Test(.enabled(if: fashionMNISTPresent))
    func loadsFashionMNIST() throws {
        let data = try MNISTData.load(directory: fashionMNIST)
        #expect(data.training.count == 60000 && data.test.count == 10000)
        #expect(data.rows == 28 && data.cols == 28 && data.classCount == 10)
        #expect(data.training.pixels.count == 60000 * 28 * 28)
        for c in 0..<10 {
            #expect(data.training.labels.filter { $0 == c }.count == 6000)
            #expect(data.test.labels.filter { $0 == c }.count == 1000)
        }
        let batch = data.training.images(at: [0, 59999])
        #expect(batch.count == 2 * 784 && batch.allSatisfy { (0...1).contains($0) } && batch.contains(1))
    }

    /// Decompression agrees with the system gzip on the real files, byte for byte.
    @Test(.enabled(if: fashionMNISTPresent && systemGzip != nil),
          arguments: ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"])
    func fashionMNISTMatchesTheSystemGzip(_ name: String) throws {
        let compressed = try Data(contentsOf: fashionMNIST.appendingPathComponent(name))
        #expect(try Gzip.decompress(compressed) == (try runGzip(["-dc"], input: compressed)))
    }
}
