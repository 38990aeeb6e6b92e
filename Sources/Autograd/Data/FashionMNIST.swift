// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60 000 training and 10 000 test images of
// clothing, 28×28 gray, 10 classes, in the idx format, gzip-compressed.
//
// The files come from the Debian package `dataset-fashion-mnist`, installed at
// /usr/share/datasets/fashion-mnist/. The environment variable `FASHION_MNIST_DIR` (or the
// `folder:` argument) points elsewhere. Both `.gz` and uncompressed files are accepted.

import Foundation
import Tensor

/// A missing or unreadable Fashion-MNIST installation.
public struct FashionMNISTError: Error, CustomStringConvertible {
    /// What is missing and how to get it.
    public var description: String
}

/// Loading Fashion-MNIST.
public enum FashionMNIST {
    /// The folder the Debian package installs to.
    public static let defaultFolder = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    /// The environment variable that overrides the folder.
    public static let environmentVariable = "FASHION_MNIST_DIR"

    /// The class names, in label order.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Which part of the data set.
    public enum Split: String, Sendable {
        /// 60 000 training images.
        case train
        /// 10 000 test images (file prefix `t10k`).
        case test
        var prefix: String { self == .train ? "train" : "t10k" }
    }

    /// The folder to read: `folder`, else `$FASHION_MNIST_DIR`, else the package's folder.
    public static func resolvedFolder(_ folder: URL? = nil) -> URL {
        if let folder { return folder }
        if let path = ProcessInfo.processInfo.environment[environmentVariable], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return defaultFolder
    }

    /// Images [N, 1, 28, 28] scaled to [0, 1] and labels 0...9.
    ///
    /// - Parameters:
    ///   - limit: read only the first `limit` examples (for quick runs and tests).
    /// - Throws: `FashionMNISTError` naming the package when the files are missing;
    ///   `IDXError` when a file is malformed.
    public static func load(_ split: Split, folder: URL? = nil, limit: Int? = nil) throws -> LabelledDataset {
        let base = resolvedFolder(folder)
        let images = try readIDX(base, "\(split.prefix)-images-idx3-ubyte")
        let labels = try readIDX(base, "\(split.prefix)-labels-idx1-ubyte")
        guard images.rank == 3, labels.rank == 1, images.shape[0] == labels.shape[0] else {
            throw FashionMNISTError(description: "\(base.path): images \(images.shape) and labels \(labels.shape) do not form a data set of [N, 28, 28] images with N labels")
        }
        let n = Swift.min(limit ?? images.shape[0], images.shape[0])
        let pixels = images.sliced(axis: 0, 0..<n).reshaped([n, 1, images.shape[1], images.shape[2]]) / 255
        let labelValues = labels.sliced(axis: 0, 0..<n).scalars.map { Int($0) }
        guard labelValues.allSatisfy({ (0..<10).contains($0) }) else {
            throw FashionMNISTError(description: "\(base.path): a label is outside 0...9")
        }
        return LabelledDataset(inputs: pixels, labels: labelValues)
    }

    private static func readIDX(_ folder: URL, _ stem: String) throws -> Tensor {
        let fileManager = FileManager.default
        for (name, compressed) in [(stem + ".gz", true), (stem, false)] {
            let url = folder.appendingPathComponent(name)
            guard fileManager.fileExists(atPath: url.path) else { continue }
            var data = try Data(contentsOf: url, options: .mappedIfSafe)
            if compressed { data = try Gzip.decompress(data) }
            return try IDX.parse(data, name: url.path)
        }
        throw FashionMNISTError(description: "Fashion-MNIST file \(stem)(.gz) not found in \(folder.path). Install it with `sudo apt-get install dataset-fashion-mnist`, or set \(environmentVariable) to a folder holding the idx files.")
    }
}
