// Contract: `diffuse encode-latents` — encodes Fashion-MNIST's training images with TAESD into a
// latents file for latent diffusion training (`diffuse train --data latents:<file>`): each
// image padded 28 → 32 with background, nearest ×2 to 64×64, gray → RGB, encoded in batches
// (progress bar) to [N, 4, 8, 8]. Prints the latents' mean and standard deviation; when they are
// far from unit variance, stores them multiplied by a scaling factor (recorded in the file's
// metadata, see `LatentDataset`). The file is written atomically. `--preview` also writes the
// first 16 images above their TAESD round trips.

import ArgumentParser
import Autograd
import Diffusion
import Foundation
import LessonKit
import Tensor

struct EncodeLatentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-latents",
        abstract: "Encode Fashion-MNIST (padded to 32, upscaled to 64x64, RGB) with TAESD into a latents file [N, 4, 8, 8] + labels.")

    @Option(help: "Folder with taesd_encoder.safetensors and taesd_decoder.safetensors.")
    var taesd: String = "../shared/weights/taesd-sd1"
    @Option(help: "Fashion-MNIST folder (default: $FASHION_MNIST_DIR or the Debian package's folder).")
    var fashionMnist: String?
    @Option(parsing: .unconditional, help: "Encode only the first N training images.")
    var limit: Int?
    @Option(parsing: .unconditional, help: "Images per encoder batch.")
    var batchSize: Int = 200
    @Option(parsing: .unconditional, help: "Scaling factor to store the latents at (default: 1/std if the std is outside [0.8, 1.25], else 1).")
    var scalingFactor: Double?
    @Flag(help: "Store Float16 instead of Float32.")
    var float16 = false
    @Option(name: .shortAndLong, help: "Output safetensors file.")
    var output: String
    @Option(help: "Also write a PNG: the first 16 images (64x64) above their TAESD round trips (encode, decode).")
    var preview: String?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if !(1...10_000).contains(batchSize) { throw ValidationError("--batch-size must lie in 1...10000 (images encoded at once), got \(batchSize)") }
        if let scalingFactor, !(scalingFactor > 0 && scalingFactor.isFinite) {
            throw ValidationError("--scaling-factor must be positive")
        }
    }

    func run() throws {
        try reportingErrors {
            let model = try TAESD.load(directory: URL(fileURLWithPath: taesd))
            let data = try FashionMNIST.load(.train, folder: fashionMnist.map { URL(fileURLWithPath: $0) }, limit: limit)
            let images = LatentDataset.fashionMNISTForTAESD(data.inputs)
            let count = images.shape[0]
            log("encoding \(count) Fashion-MNIST images as \(Array(images.shape.dropFirst())) with TAESD (\(taesd))")
            let progress = ProgressBar(total: count, label: "encode", logInterval: 15)
            let clock = ContinuousClock()
            let start = clock.now
            let latents = try LatentDataset.encode(images01: images, with: model, batchSize: batchSize) { end in
                progress.update(completed: end)
            }
            progress.finish()
            let seconds = (clock.now - start) / .seconds(1)
            let raw = LatentDataset.statistics(of: latents)
            let factor = scalingFactor ?? LatentDataset.scalingFactor(forStandardDeviation: raw.standardDeviation)
            let stored = factor == 1 ? latents : latents * Float(factor)
            let scaled = LatentDataset.statistics(of: stored)
            func list(_ values: [Double]) -> String { values.map { String(format: "%.4f", $0) }.joined(separator: ",") }
            let metadata = [
                "source": "fashion-mnist train, padded 28->32 with 0, nearest x2 to 64x64, gray->RGB, TAESD encoder (\(taesd))",
                "autoencoder": "taesd",
                "taesd_latent_scale": "0.18215 (TAESD latents are SD-VAE latents x 0.18215; scaling_factor is applied on top)",
                "raw_mean": String(format: "%.5f", raw.mean), "raw_std": String(format: "%.5f", raw.standardDeviation),
                "raw_channel_means": list(raw.channelMeans), "raw_channel_stds": list(raw.channelStandardDeviations),
                "mean": String(format: "%.5f", scaled.mean), "std": String(format: "%.5f", scaled.standardDeviation),
            ]
            let dataset = try LatentDataset(latents: stored, labels: data.labels, scalingFactor: factor, metadata: metadata)
            try dataset.write(to: URL(fileURLWithPath: output), dtype: float16 ? .f16 : .f32)
            if let preview {
                let n = min(16, count)
                let originals = images.sliced(axis: 0, 0..<n).contiguous()
                let decoded = try model.decode(latents.sliced(axis: 0, 0..<n).contiguous())
                let both = Tensor.concatenate([originals, decoded], axis: 0)
                try PNG.write(imageGrid(both, columns: n, padding: 2, padValue: 1), to: URL(fileURLWithPath: preview))
                let mse = zip(originals.scalars, decoded.scalars).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
                    / Double(originals.count)
                print(String(format: "wrote %@: originals above TAESD round trips, PSNR %.1f dB", preview, 10 * log10(1 / mse)))
            }
            print(String(format: "encoded %d images in %.1f s (%.1f images/s)", count, seconds, Double(count) / seconds))
            print(String(format: "TAESD latents: mean %.4f, std %.4f; per channel means [%@], stds [%@]",
                         raw.mean, raw.standardDeviation, list(raw.channelMeans), list(raw.channelStandardDeviations)))
            print(String(format: "scaling factor %g -> stored latents mean %.4f, std %.4f; wrote %@ %@",
                         factor, scaled.mean, scaled.standardDeviation, output, "\(stored.shape)"))
        }
    }
}
