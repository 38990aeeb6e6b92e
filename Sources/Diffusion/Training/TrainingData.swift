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
            // Validated at load: shapes, labels in range, no NaN or infinite latent.
            let set = try LatentDataset(contentsOf: URL(fileURLWithPath: path))
            var (latents, labels) = (set.latents, set.labels)
            if let limit, limit < labels.count {
                latents = latents.sliced(axis: 0, 0..<limit)
                labels = Array(labels.prefix(limit))
            }
            return LabelledDataset(inputs: latents, labels: labels)
        }
    }
}
