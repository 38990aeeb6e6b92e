// Contract: a data set of autoencoder latents for latent diffusion (Rombach et al. 2022), in
// memory and as a safetensors file:
//   latents  [N, C, h, w]  F32 or F16, already multiplied by `scaling_factor`
//   labels   [N]           integral values, same dtype (optional)
//   __metadata__           {"scaling_factor": "…", "format": "swiftdiffusion-latents", …}
// `scaling_factor` is the factor applied on top of the autoencoder's own latent scale (for TAESD,
// whose latents are SD latents × 0.18215 already, it is 1 unless the data set's latents are far
// from unit variance). To decode: `latents / scaling_factor` → the autoencoder's decoder. This is
// the `scaling_factor` of diffusers' VAE configs (Rombach et al. 2022, §4.3.2 and appendix D.1:
// "we rescale the latents by a factor 1/σ̂ estimated from the first batch").
//
// `fashionMNISTForTAESD` turns Fashion-MNIST [N, 1, 28, 28] in [0, 1] into TAESD's input
// [N, 3, 64, 64] in [0, 1]: pad 28 → 32 with the background value 0 (as the pixel model's data),
// nearest-neighbour ×2 (each pixel a 2×2 block, so 2×2 average pooling recovers the 32×32
// image exactly — the map the FID code uses to compare 64×64 samples), gray copied to R, G, B.
// `encode(images01:with:batchSize:progress:)` runs the encoder in batches without a graph.

import Autograd
import Foundation
import Tensor

/// Autoencoder latents of a labelled image data set, with the scaling factor they were stored at.
public struct LatentDataset: Sendable {
    /// Latents [N, C, h, w], already multiplied by `scalingFactor`.
    public var latents: Tensor
    /// One label per latent (0 for unlabelled data).
    public var labels: [Int]
    /// The factor the autoencoder's latents were multiplied by before storing (decode with
    /// `latents / scalingFactor`).
    public var scalingFactor: Double
    /// Free-form metadata stored in the file (statistics, source, resampling).
    public var metadata: [String: String]

    /// The metadata value of the `format` key.
    public static let formatName = "swiftdiffusion-latents"

    /// The number of classes a labelled latents file may have: labels lie in 0..<65536. A
    /// class-conditional model gets one embedding row per class (plus "no class"), so a label of
    /// 10^9 would ask for 10^9 rows (hundreds of GB with the optimizer state) before training.
    public static let maximumClassCount = 65_536

    /// Wraps latents, labels and their scaling factor.
    /// - Throws: `TrainingError.invalidData` when the shapes do not fit, a latent is NaN or
    ///   infinite, a label lies outside 0..<`maximumClassCount`, or the factor is not positive
    ///   and finite.
    public init(latents: Tensor, labels: [Int], scalingFactor: Double, metadata: [String: String] = [:]) throws {
        guard latents.rank == 4, latents.shape[0] > 0 else {
            throw TrainingError.invalidData("latents must be [N, C, h, w] with N > 0, got \(latents.shape)")
        }
        guard labels.count == latents.shape[0] else {
            throw TrainingError.invalidData("\(labels.count) labels for \(latents.shape[0]) latents")
        }
        if let i = labels.firstIndex(where: { !(0..<Self.maximumClassCount).contains($0) }) {
            throw TrainingError.invalidData("label \(labels[i]) of latent \(i) lies outside 0..<\(Self.maximumClassCount) "
                + "(a class-conditional model has one embedding row per class; labels are class indices 0, 1, 2, ...)")
        }
        let nonFinite = latents.nonFiniteCount
        if nonFinite > 0 {
            let perItem = latents.count / latents.shape[0]
            let first = latents.contiguous().withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite }! } / perItem
            throw TrainingError.invalidData("\(nonFinite) latent value(s) are NaN or infinite (the first in latent \(first)); "
                + "one would turn the whole model into NaN. Re-encode the images (diffuse encode-latents) or drop those latents")
        }
        guard scalingFactor.isFinite, scalingFactor > 0 else {
            throw TrainingError.invalidData("the scaling factor must be positive and finite, got \(scalingFactor)")
        }
        self.latents = latents.contiguous()
        self.labels = labels
        self.scalingFactor = scalingFactor
        self.metadata = metadata
    }

    // MARK: Files

    /// Reads a latents file (see the file comment). A file without `scaling_factor` metadata
    /// has factor 1; a file without `labels` gets label 0 everywhere.
    /// - Throws: `SafetensorsError` (corrupt file) or `TrainingError.invalidData`.
    public init(contentsOf url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        guard file.contains("latents") else {
            throw TrainingError.invalidData("\(url.path) has no tensor named \"latents\" (expected [N, C, h, w]); it has: \(file.names.joined(separator: ", "))")
        }
        let latents = try file.tensor(named: "latents")
        var labels = Array(repeating: 0, count: latents.rank == 4 ? latents.shape[0] : 0)
        if file.contains("labels") {
            if try file.info(named: "labels").dtype.isFloatingPoint {
                let values = try file.tensor(named: "labels").scalars
                guard values.allSatisfy({ $0 >= 0 && $0 < Float(Self.maximumClassCount) && $0.rounded() == $0 }) else {
                    throw TrainingError.invalidData("\(url.path): labels must be integers in 0..<\(Self.maximumClassCount)")
                }
                labels = values.map { Int($0) }
            } else {
                labels = try file.integers(named: "labels")
            }
        }
        var factor = 1.0
        if let text = file.metadata["scaling_factor"] {
            guard let value = Double(text) else {
                throw TrainingError.invalidData("\(url.path): metadata scaling_factor \"\(text)\" is not a number")
            }
            factor = value
        }
        do {
            try self.init(latents: latents, labels: labels, scalingFactor: factor, metadata: file.metadata)
        } catch let TrainingError.invalidData(message) {
            throw TrainingError.invalidData("\(url.path): \(message)")
        }
    }

    /// Writes the file atomically: `latents` as `dtype`, `labels` as the same dtype, the metadata plus
    /// `format` and `scaling_factor`.
    public func write(to url: URL, dtype: SafetensorsDType = .f32) throws {
        precondition(dtype.isFloatingPoint, "LatentDataset.write: latents need a floating-point dtype, got \(dtype)")
        var meta = metadata
        meta["format"] = Self.formatName
        meta["scaling_factor"] = String(scalingFactor)
        // Labels 0…9 (any integer below 2^11) are exact in F16 and F32; storing them with the
        // latents' dtype keeps one `Safetensors.write` call, so the file is written atomically.
        let labelTensor = Tensor(shape: [labels.count], scalars: labels.map(Float.init))
        try Safetensors.write(["latents": latents, "labels": labelTensor], dtype: dtype, metadata: meta, to: url)
    }

    // MARK: Statistics

    /// Mean and standard deviation of all latent values and of each channel.
    public struct Statistics: Sendable, Equatable {
        /// Mean over every value.
        public var mean: Double
        /// Standard deviation (population) over every value.
        public var standardDeviation: Double
        /// Mean of each channel.
        public var channelMeans: [Double]
        /// Standard deviation of each channel.
        public var channelStandardDeviations: [Double]
    }

    /// The statistics of latents [N, C, h, w] (accumulated in Double).
    public static func statistics(of latents: Tensor) -> Statistics {
        precondition(latents.rank == 4, "LatentDataset.statistics: expected [N, C, h, w], got \(latents.shape)")
        let (n, c, plane) = (latents.shape[0], latents.shape[1], latents.shape[2] * latents.shape[3])
        var sums = Array(repeating: 0.0, count: c), squares = Array(repeating: 0.0, count: c)
        latents.contiguous().withUnsafeBufferPointer { values in
            for i in 0..<n {
                for ch in 0..<c {
                    let base = (i * c + ch) * plane
                    var s = 0.0, q = 0.0
                    for k in 0..<plane { let v = Double(values[base + k]); s += v; q += v * v }
                    sums[ch] += s
                    squares[ch] += q
                }
            }
        }
        let count = Double(n * plane)
        let means = sums.map { $0 / count }
        let stds = zip(squares, means).map { (Swift.max($0 / count - $1 * $1, 0)).squareRoot() }
        let mean = sums.reduce(0, +) / (count * Double(c))
        let variance = squares.reduce(0, +) / (count * Double(c)) - mean * mean
        return Statistics(mean: mean, standardDeviation: Swift.max(variance, 0).squareRoot(),
                          channelMeans: means, channelStandardDeviations: stds)
    }

    /// The scaling factor for latents of standard deviation `standardDeviation`: 1 when it is
    /// within [0.8, 1.25] (close enough to unit variance), else 1/σ rounded to 4 significant
    /// digits (Rombach et al. 2022, appendix D.1).
    public static func scalingFactor(forStandardDeviation standardDeviation: Double) -> Double {
        if standardDeviation >= 0.8 && standardDeviation <= 1.25 { return 1 }
        let raw = 1 / standardDeviation
        let digits = pow(10, 3 - floor(log10(raw)))
        return (raw * digits).rounded() / digits
    }

    // MARK: Encoding

    /// Fashion-MNIST images [N, 1, 28, 28] in [0, 1] → TAESD input [N, 3, 64, 64] in [0, 1]
    /// (pad 2 pixels of background 0 per side, nearest ×2, gray → RGB).
    public static func fashionMNISTForTAESD(_ images01: Tensor) -> Tensor {
        precondition(images01.rank == 4 && images01.shape[1] == 1 && images01.shape[2] == 28 && images01.shape[3] == 28,
                     "fashionMNISTForTAESD: expected [N, 1, 28, 28], got \(images01.shape)")
        let big = images01.paddedImages(by: 2, value: 0).upsampledNearest2x()     // [N, 1, 64, 64]
        return big.expanded(to: [big.shape[0], 3, 64, 64]).contiguous()
    }

    /// Encodes images [N, 3, H, W] in [0, 1] to TAESD latents in batches of `batchSize`,
    /// calling `progress(done)` after each batch.
    /// - Throws: `TAESDError.invalidImages` for images TAESD cannot take.
    public static func encode(images01: Tensor, with taesd: TAESD, batchSize: Int = 100,
                              progress: ((Int) -> Void)? = nil) throws -> Tensor {
        precondition(batchSize >= 1, "LatentDataset.encode: batchSize must be at least 1, got \(batchSize)")
        let n = images01.shape.first ?? 0
        guard n > 0 else { throw TAESDError.invalidImages(shape: images01.shape) }
        var parts: [Tensor] = []
        var start = 0
        while start < n {
            let end = Swift.min(start + batchSize, n)
            parts.append(try taesd.encode(images01.sliced(axis: 0, start..<end).contiguous()))
            start = end
            progress?(end)
        }
        return Tensor.concatenate(parts, axis: 0)
    }

    /// Decodes stored latents to images in the model range [−1, 1]: `latents / scalingFactor`
    /// through TAESD's decoder, clamped to [0, 1] (as `TAESD.decode`), then 2x − 1.
    /// - Throws: `TAESDError.invalidLatents` unless latents are [N, decoder.latentChannels, h, w].
    public static func decode(_ latents: Tensor, with decoder: TAESDDecoder, scalingFactor: Double) throws -> Tensor {
        let s = latents.shape
        guard s.count == 4, s[0] > 0, s[1] == decoder.latentChannels, s[2] > 0, s[3] > 0 else {
            throw TAESDError.invalidLatents(shape: s, latentChannels: decoder.latentChannels)
        }
        let unscaled = scalingFactor == 1 ? latents : latents / Float(scalingFactor)
        let images01 = withoutGradients { decoder(Variable(unscaled)).value }
        return images01.map { Swift.min(Swift.max($0, 0), 1) * 2 - 1 }
    }
}
