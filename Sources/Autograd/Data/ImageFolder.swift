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
            throw ImageFolderError(description: "cannot list \(folder.path): \(fileErrorReason(error))")
        }
        return names.filter { $0.lowercased().hasSuffix(".png") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// The largest image accepted as training data, in pixels (2048 x 2048): the small UNets of
    /// this project train on 32-256 pixel images, and a larger one is refused from its header,
    /// before any pixel is allocated.
    public static let maxPixels = 2048 * 2048

    /// Every image as one tensor [N, C, H, W] in [0, 1].
    ///
    /// - Parameter limit: read at most this many files (in name order).
    /// - Throws: `ImageFolderError` when the folder has no PNG, an image has another shape than
    ///   the first, or the images would not fit in memory; `PNGError` for an unreadable image
    ///   or one larger than `maxPixels`.
    public static func load(_ folder: URL, limit: Int? = nil) throws -> Tensor {
        var urls = try files(in: folder)
        if let limit { urls = Array(urls.prefix(Swift.max(limit, 0))) }
        guard let first = urls.first else { throw ImageFolderError(description: "no .png files in \(folder.path)") }
        let firstImage = try PNG.read(first, maxPixels: maxPixels)
        let itemShape = firstImage.shape
        // The stacked Float32 tensor plus the list of images it is stacked from.
        let need = 2 * 4 * Double(urls.count) * Double(firstImage.count)
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        if need > memory {
            throw ImageFolderError(description: "\(urls.count) images of \(itemShape) in \(folder.path) would need \(Int(need / 1e9)) GB as Float32; "
                + "at most \(Int(memory / (2 * 4 * Double(firstImage.count)))) fit in this machine's \(Int(memory / 1e9)) GB (use --limit or smaller images)")
        }
        var images = [firstImage]
        for url in urls.dropFirst() {
            let image = try PNG.read(url, maxPixels: maxPixels)
            guard image.shape == itemShape else {
                throw ImageFolderError(description: "\(url.lastPathComponent) has shape \(image.shape) but \(first.lastPathComponent) has \(itemShape); resize the images to one size first")
            }
            images.append(image)
        }
        return Tensor.stack(images, axis: 0)
    }
}
