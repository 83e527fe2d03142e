import Foundation

/// An image-classification dataset in MNIST's layout: MNIST itself, Fashion-MNIST, KMNIST or
/// EMNIST, as four IDX files (see ``IDX``) of unsigned-byte images and labels.
///
/// A recurrent network reads each image as a sequence of `rows` steps of `cols` pixels (the
/// "row-by-row MNIST" task): ``Split/images(at:)`` gives a batch laid out `[B, rows, cols]`, the
/// input of a `batchFirst` layer.
public struct MNISTData: Sendable, Equatable {
    /// The images and labels of one split, training or test.
    public struct Split: Sendable, Equatable {
        /// The pixels, `[count, rows, cols]` in row-major order, 0 to 255.
        public let pixels: [UInt8]
        /// The class of each image, from 0.
        public let labels: [Int]
        /// Pixels per column of an image (28 for MNIST).
        public let rows: Int
        /// Pixels per row of an image (28 for MNIST).
        public let cols: Int

        /// Creates a split. `pixels.count` must be `labels.count · rows · cols` and every label
        /// non-negative (preconditions).
        public init(pixels: [UInt8], labels: [Int], rows: Int, cols: Int) {
            precondition(rows >= 0 && cols >= 0 && pixels.count == labels.count * rows * cols,
                         "MNISTData.Split: \(pixels.count) pixels are not \(labels.count) images of \(rows)×\(cols)")
            precondition(labels.allSatisfy { $0 >= 0 }, "MNISTData.Split: labels must be non-negative")
            self.pixels = pixels
            self.labels = labels
            self.rows = rows
            self.cols = cols
        }

        /// The number of images.
        public var count: Int { labels.count }

        /// The images at `indices` as `[B, rows, cols]` floats in [0, 1]: pixel / 255, as
        /// torchvision's `transforms.ToTensor()` scales them (no normalization).
        ///
        /// Every index must be in `0..<count` (a precondition).
        public func images(at indices: some Collection<Int>) -> [Float] {
            let size = rows * cols
            return [Float](unsafeUninitializedCapacity: indices.count * size) { out, initialized in
                pixels.withUnsafeBufferPointer { p in
                    var o = 0
                    for i in indices {
                        precondition(i >= 0 && i < count, "MNISTData.Split.images(at:): index \(i) is out of range 0..<\(count)")
                        for k in 0..<size { out[o + k] = Float(p[i * size + k]) / 255 }
                        o += size
                    }
                }
                initialized = indices.count * size
            }
        }

        /// The labels at `indices`, in order: the targets of `crossEntropy(logits:targets:)`.
        ///
        /// Every index must be in `0..<count` (a precondition).
        public func labels(at indices: some Collection<Int>) -> [Int] {
            indices.map { labels[$0] }
        }
    }

    /// The training split (60000 images for MNIST and Fashion-MNIST).
    public let training: Split
    /// The test split (10000 images for MNIST and Fashion-MNIST).
    public let test: Split
    /// The number of classes: the largest label in either split plus one (10 for MNIST).
    public let classCount: Int

    /// Pixels per column of an image, the same in both splits.
    public var rows: Int { training.rows }
    /// Pixels per row of an image, the same in both splits.
    public var cols: Int { training.cols }

    /// Creates a dataset from two splits whose images have the same size (a precondition).
    public init(training: Split, test: Split) {
        precondition(training.rows == test.rows && training.cols == test.cols,
                     "MNISTData: training images are \(training.rows)×\(training.cols) but test images \(test.rows)×\(test.cols)")
        self.training = training
        self.test = test
        classCount = max(training.labels.max() ?? -1, test.labels.max() ?? -1) + 1
    }

    /// The standard file names, each also accepted with `.gz` and with a dot before `idx`
    /// (`train-images.idx3-ubyte`, as some downloads name them).
    public static let fileNames = (trainingImages: "train-images-idx3-ubyte", trainingLabels: "train-labels-idx1-ubyte",
                                   testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte")

    /// Reads the four files of an MNIST-style dataset from `directory` (what torchvision's
    /// `datasets.MNIST(root, download=False)` reads from its `raw` folder).
    ///
    /// - Throws: ``FileFormatError`` naming the file (or, for a missing file, the folder and the
    ///   names looked for): a file that is not valid IDX, images that are not unsigned bytes of
    ///   rank 3, labels that are not unsigned bytes of rank 1, a different number of images and
    ///   labels, or training and test images of different sizes.
    public static func load(directory: URL) throws -> MNISTData {
        let names = fileNames
        let trainingImages = try read(names.trainingImages, in: directory)
        let trainingLabels = try read(names.trainingLabels, in: directory)
        let testImages = try read(names.testImages, in: directory)
        let testLabels = try read(names.testLabels, in: directory)
        let training = try split(trainingImages, trainingLabels), test = try split(testImages, testLabels)
        guard training.rows == test.rows && training.cols == test.cols else {
            throw FileFormatError(file: testImages.url.path,
                                  "test images are \(test.rows)×\(test.cols) pixels but training images are \(training.rows)×\(training.cols)")
        }
        return MNISTData(training: training, test: test)
    }

    /// The first of `name`, `name.gz` and their dotted variants that exists in `directory`, read.
    private static func read(_ name: String, in directory: URL) throws -> (url: URL, array: IDXArray) {
        let dotted = name.replacingOccurrences(of: "-idx", with: ".idx")
        let candidates = [name, name + ".gz", dotted, dotted + ".gz"]
        guard let url = candidates.map({ directory.appendingPathComponent($0) }).first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw FileFormatError(file: directory.path, "no \(name) in this folder (looked for \(candidates.joined(separator: ", ")))")
        }
        return (url, try IDX.read(from: url))
    }

    private static func split(_ images: (url: URL, array: IDXArray), _ labels: (url: URL, array: IDXArray)) throws -> Split {
        let (i, l) = (images.array, labels.array)
        guard i.dataType == .uint8, i.shape.count == 3 else {
            throw FileFormatError(file: images.url.path, "images must be ubyte of rank 3 [count, rows, cols], not \(i.dataType.name) of shape \(i.shape)")
        }
        guard l.dataType == .uint8, l.shape.count == 1 else {
            throw FileFormatError(file: labels.url.path, "labels must be ubyte of rank 1 [count], not \(l.dataType.name) of shape \(l.shape)")
        }
        guard i.shape[0] == l.shape[0] else {
            throw FileFormatError(file: labels.url.path, "\(l.shape[0]) labels for the \(i.shape[0]) images of \(images.url.lastPathComponent)")
        }
        return Split(pixels: i.bytes, labels: l.bytes.map { Int($0) }, rows: i.shape[1], cols: i.shape[2])
    }
}
