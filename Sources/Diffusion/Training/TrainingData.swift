// Contract: loads the images of a `TrainingDataSource` into memory as a `LabelledDataset` of
// [N, C, H, W] values in the range the diffusion model sees: pixels scaled from [0, 1] to
// [-1, 1] (DDPM, Ho et al. 2020, §4: "scaled linearly to [−1, 1]"); latents as stored.
// Fashion-MNIST is padded from 28×28 to 32×32 with the background value (−1) so a UNet can
// halve it three times. Unlabelled sources get label 0 for every image.

import Autograd
import Foundation
import Tensor

extension DiscreteTimeDenoiser.Prediction: Codable {}

extension TrainingDataSource {
    /// A short human-readable name ("fashion-mnist", "folder /x", "latents /y.safetensors").
    public var summary: String {
        switch self {
        case .fashionMNIST: return "fashion-mnist"
        case .imageFolder(let path): return "folder \(path)"
        case .latents(let path): return "latents \(path)"
        }
    }

    /// Reads the data set.
    /// - Parameter limit: read at most this many examples (quick runs, tests).
    /// - Throws: the loader's error (missing files name the package or path), or
    ///   `TrainingError.invalidData`.
    public func load(limit: Int? = nil) throws -> LabelledDataset {
        switch self {
        case .fashionMNIST(let folder):
            let raw = try FashionMNIST.load(.train, folder: folder.map { URL(fileURLWithPath: $0) }, limit: limit)
            let scaled = (raw.inputs * 2 - 1).paddedImages(by: 2, value: -1)
            return LabelledDataset(inputs: scaled, labels: raw.labels)
        case .imageFolder(let path):
            let images = try ImageFolder.load(URL(fileURLWithPath: path), limit: limit)
            return LabelledDataset(inputs: images * 2 - 1, labels: Array(repeating: 0, count: images.shape[0]))
        case .latents(let path):
            let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: path))
            guard file.contains("latents") else {
                throw TrainingError.invalidData("\(path) has no tensor named \"latents\" (expected [N, C, H, W]); it has: \(file.names.joined(separator: ", "))")
            }
            var latents = try file.tensor(named: "latents")
            guard latents.rank == 4, latents.shape[0] > 0 else {
                throw TrainingError.invalidData("\(path): latents must be [N, C, H, W], got \(latents.shape)")
            }
            var labels = Array(repeating: 0, count: latents.shape[0])
            if file.contains("labels") {
                if try file.info(named: "labels").dtype.isFloatingPoint {
                    let values = try file.tensor(named: "labels").scalars
                    guard values.allSatisfy({ $0 >= 0 && $0.rounded() == $0 }) else {
                        throw TrainingError.invalidData("\(path): labels must be non-negative integers")
                    }
                    labels = values.map { Int($0) }
                } else {
                    labels = try file.integers(named: "labels")
                }
                guard labels.count == latents.shape[0] else {
                    throw TrainingError.invalidData("\(path): \(labels.count) labels for \(latents.shape[0]) latents")
                }
            }
            if let limit, limit < labels.count {
                latents = latents.sliced(axis: 0, 0..<limit)
                labels = Array(labels.prefix(limit))
            }
            return LabelledDataset(inputs: latents, labels: labels)
        }
    }
}
