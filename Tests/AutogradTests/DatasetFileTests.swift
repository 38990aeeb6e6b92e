import Foundation
import Testing
import Tensor
import Autograd

@Suite("Data files: Fashion-MNIST, PNG folders")
struct DatasetFileTests {
    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("autograd-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Reference values read with Python's gzip module from the Debian package's files:
    /// first training labels 9 0 0 3 0 2 7 2 5 5; first test labels 9 2 1 1 6; the first test
    /// image's bytes sum to 33456 with maximum 255.
    @Test func readsTheInstalledDataSet() throws {
        let train = try FashionMNIST.load(.train, limit: 10)
        #expect(train.inputs.shape == [10, 1, 28, 28])
        #expect(train.labels == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        let test = try FashionMNIST.load(.test, limit: 5)
        #expect(test.labels == [9, 2, 1, 1, 6])
        let first = test.inputs.sliced(axis: 0, 0..<1).scalars
        #expect(abs(first.reduce(0, +) * 255 - 33456) < 0.05)
        #expect(first.max() == 1)
    }

    @Test func missingFilesNameTheDebianPackage() throws {
        let empty = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect {
            _ = try FashionMNIST.load(.train, folder: empty)
        } throws: { error in
            String(describing: error).contains("apt-get install dataset-fashion-mnist")
        }
    }

    @Test func truncatedIDXFileIsAClearError() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var images = IDX.encode(bytes: [UInt8](repeating: 7, count: 2 * 28 * 28), shape: [2, 28, 28])
        images.removeLast(5)
        try images.write(to: folder.appendingPathComponent("t10k-images-idx3-ubyte"))
        try IDX.encode(bytes: [1, 2], shape: [2]).write(to: folder.appendingPathComponent("t10k-labels-idx1-ubyte"))
        #expect(throws: IDXError.self) { _ = try FashionMNIST.load(.test, folder: folder) }
    }

    @Test func paddingTo32() {
        let images = Tensor(shape: [1, 1, 28, 28], repeating: 1)
        let padded = images.paddedImages(by: 2, value: 0)
        #expect(padded.shape == [1, 1, 32, 32])
        #expect(padded[0, 0, 0, 0] == 0 && padded[0, 0, 2, 2] == 1 && padded[0, 0, 29, 29] == 1 && padded[0, 0, 30, 30] == 0)
    }

    @Test func pngFolderRoundTrip() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 8-bit values k/255 survive the round trip exactly (up to Float rounding of k/255).
        let a = Tensor(shape: [1, 2, 3], scalars: [0, 51, 102, 153, 204, 255].map { $0 / 255 })
        let b = Tensor(shape: [1, 2, 3], scalars: [255, 0, 255, 0, 255, 0].map { $0 / 255 })
        try PNG.write(b, to: folder.appendingPathComponent("b.png"))
        try PNG.write(a, to: folder.appendingPathComponent("a.png"))
        try Data("not an image".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        let images = try ImageFolder.load(folder)
        #expect(images.shape == [2, 1, 2, 3])
        #expect(maxAbsDifference(images.sliced(axis: 0, 0..<1).reshaped([1, 2, 3]), a) < 1e-6)
        #expect(maxAbsDifference(images.sliced(axis: 0, 1..<2).reshaped([1, 2, 3]), b) < 1e-6)

        try PNG.write(Tensor(shape: [1, 3, 3], repeating: 0.5), to: folder.appendingPathComponent("c.png"))
        #expect {
            _ = try ImageFolder.load(folder)
        } throws: { error in String(describing: error).contains("c.png") }
    }
}
