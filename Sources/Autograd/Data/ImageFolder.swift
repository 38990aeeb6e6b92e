// A folder of PNG files as a data set: every `.png` directly inside the folder, in sorted name
// order, read as [C, H, W] in [0, 1]. All images must share one size and channel count; the
// first that does not is an error naming the file.

import Foundation
import Tensor

/// A folder of PNG images that could not be read as one data set.
public struct ImageFolderError: Error, CustomStringConvertible {
    /// The problem and the file.
    public var description: String
}

/// Reading a folder of PNG images.
public enum ImageFolder {
    /// The PNG files in `folder`, sorted by name.
    public static func files(in folder: URL) throws -> [URL] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw ImageFolderError(description: "cannot list \(folder.path): \(error.localizedDescription)")
        }
        return names.filter { $0.lowercased().hasSuffix(".png") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Every image as one tensor [N, C, H, W] in [0, 1].
    ///
    /// - Parameter limit: read at most this many files (in name order).
    public static func load(_ folder: URL, limit: Int? = nil) throws -> Tensor {
        var urls = try files(in: folder)
        if let limit { urls = Array(urls.prefix(limit)) }
        guard let first = urls.first else { throw ImageFolderError(description: "no .png files in \(folder.path)") }
        let firstImage = try PNG.read(first)
        let itemShape = firstImage.shape
        var images = [firstImage]
        for url in urls.dropFirst() {
            let image = try PNG.read(url)
            guard image.shape == itemShape else {
                throw ImageFolderError(description: "\(url.lastPathComponent) has shape \(image.shape) but \(first.lastPathComponent) has \(itemShape); resize the images to one size first")
            }
            images.append(image)
        }
        return Tensor.stack(images, axis: 0)
    }
}
