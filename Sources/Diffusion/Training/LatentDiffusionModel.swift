// Contract: a latent diffusion model (Rombach et al. 2022): a DDPM over autoencoder latents plus
// the TAESD decoder that turns sampled latents into images. Folder layout (like diffusers'
// latent pipelines):
//   model_index.json                          {"_class_name": "LatentDiffusionPipeline", ...}
//   unet/config.json, unet/diffusion_pytorch_model.safetensors   the latent UNet (F16 EMA)
//   scheduler/scheduler_config.json           DDPMScheduler config (clip_sample false)
//   vae/config.json                           diffusers AutoencoderTiny config; `scaling_factor`
//                                             is the factor the training latents were stored at
//   vae/taesd_decoder.safetensors (+ LICENSE) optional: TAESD's decoder weights
// A folder is a latent model when it contains `vae/`. `export` writes the whole folder in a
// staging folder and renames it into place. The decoder weights are read from
// `vae/taesd_decoder.safetensors` when present, else from a TAESD folder given to `load`, else
// from `$SWIFTDIFFUSION_SHARED/weights/taesd-sd1` or `../shared/weights/taesd-sd1` (relative to
// the working directory). TAESD's weights are not shipped with this project's models (see
// `../shared/README.md`); users download them (MIT) from madebyollin/taesd.
// Sampling: noise [count, C, h, w] → any sampler over the latent DDPM (denoised estimates not
// clipped: latents are not bounded) → `latents / scaling_factor` → TAESD decoder → images
// [count, 3, 8h, 8w] in [−1, 1].

import Autograd
import Foundation
import Tensor

/// Why a latent diffusion model folder cannot be loaded or written.
public enum LatentModelError: Error, CustomStringConvertible, Equatable {
    /// The folder has no `vae/` subfolder, so it is not a latent model.
    case missingVAEFolder(folder: String)
    /// `vae/config.json` is missing or unreadable.
    case invalidVAEConfig(path: String, reason: String)
    /// No TAESD decoder weights were found in any searched place.
    case missingDecoderWeights(searched: [String])
    /// The UNet's input/output channels differ from the autoencoder's latent channels.
    case channelMismatch(unetInChannels: Int, unetOutChannels: Int, latentChannels: Int)

    /// What went wrong and how to fix it.
    public var description: String {
        switch self {
        case .missingVAEFolder(let folder):
            return "\(folder) has no vae/ folder, so it is not a latent diffusion model; "
                + "load pixel-space models with DDPMModel.load(from:)"
        case .invalidVAEConfig(let path, let reason):
            return "cannot read the autoencoder config \(path): \(reason); it must be a diffusers "
                + "AutoencoderTiny config.json with latent_channels and scaling_factor"
        case .missingDecoderWeights(let searched):
            return "TAESD decoder weights (\(TAESD.decoderFileName)) not found; searched: "
                + searched.joined(separator: ", ")
                + ". Download taesd_decoder.safetensors from https://huggingface.co/madebyollin/taesd (MIT) "
                + "into the model's vae/ folder or pass its folder (diffuse sample --vae <folder>)"
        case .channelMismatch(let inC, let outC, let latent):
            return "the UNet takes \(inC) and predicts \(outC) channels but the autoencoder's latents have "
                + "\(latent) channels; the unet/ and vae/ folders do not belong together"
        }
    }
}

/// The `vae/config.json` fields this project reads and writes (diffusers' `AutoencoderTiny` names).
public struct TAESDConfiguration: Codable, Equatable, Sendable {
    /// "AutoencoderTiny".
    public var className: String
    /// Latent channels (4 for SD 1.x).
    public var latentChannels: Int
    /// The factor latents were multiplied by for the UNet (decode `latents / scalingFactor`).
    public var scalingFactor: Double
    /// Image channels.
    public var inChannels: Int
    /// Image channels.
    public var outChannels: Int

    enum CodingKeys: String, CodingKey {
        case className = "_class_name", latentChannels = "latent_channels", scalingFactor = "scaling_factor"
        case inChannels = "in_channels", outChannels = "out_channels"
    }

    /// A TAESD configuration with the given latent scaling factor.
    public init(latentChannels: Int = 4, scalingFactor: Double) {
        className = "AutoencoderTiny"
        self.latentChannels = latentChannels
        self.scalingFactor = scalingFactor
        inChannels = 3
        outChannels = 3
    }

    /// Decodes, with diffusers' `AutoencoderTiny` defaults for absent fields.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className) ?? "AutoencoderTiny"
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? 4
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? 1
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
    }

    /// Writes the fields above plus `AutoencoderTiny`'s fixed architecture fields, so the file
    /// reads like one diffusers writes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(className, forKey: .className)
        try c.encode(latentChannels, forKey: .latentChannels)
        try c.encode(scalingFactor, forKey: .scalingFactor)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(outChannels, forKey: .outChannels)
        var fixed = encoder.container(keyedBy: FixedKeys.self)
        try fixed.encode("relu", forKey: .actFn)
        try fixed.encode([64, 64, 64, 64], forKey: .encoderBlockOutChannels)
        try fixed.encode([64, 64, 64, 64], forKey: .decoderBlockOutChannels)
        try fixed.encode([1, 3, 3, 3], forKey: .numEncoderBlocks)
        try fixed.encode([3, 3, 3, 1], forKey: .numDecoderBlocks)
        try fixed.encode(3, forKey: .latentMagnitude)
        try fixed.encode(0.5, forKey: .latentShift)
        try fixed.encode("nearest", forKey: .upsampleFn)
        try fixed.encode(2, forKey: .upsamplingScalingFactor)
        try fixed.encode(0.0, forKey: .shiftFactor)
    }

    private enum FixedKeys: String, CodingKey {
        case actFn = "act_fn", encoderBlockOutChannels = "encoder_block_out_channels"
        case decoderBlockOutChannels = "decoder_block_out_channels", numEncoderBlocks = "num_encoder_blocks"
        case numDecoderBlocks = "num_decoder_blocks", latentMagnitude = "latent_magnitude", latentShift = "latent_shift"
        case upsampleFn = "upsample_fn", upsamplingScalingFactor = "upsampling_scaling_factor", shiftFactor = "shift_factor"
    }
}

/// A latent-space DDPM with the TAESD decoder: samples decoded images.
///
/// ```swift
/// let model = try LatentDiffusionModel.load(from: URL(fileURLWithPath: "models/ldm-fmnist"))
/// let images = try model.sample(count: 16, sampler: "euler_ancestral", steps: 10, seed: 0)  // [16, 3, 64, 64]
/// ```
public final class LatentDiffusionModel {
    /// The DDPM over latents (UNet, schedule, prediction type).
    public let latentModel: DDPMModel
    /// TAESD's decoder, latents → images in [0, 1].
    public let decoder: TAESDDecoder
    /// The autoencoder configuration (latent channels, scaling factor).
    public let vae: TAESDConfiguration

    /// The folder name whose presence marks a latent model.
    public static let vaeFolderName = "vae"

    /// Combines a latent DDPM and a TAESD decoder.
    /// - Throws: `LatentModelError.channelMismatch` when the UNet's channels differ from the
    ///   decoder's latent channels; `TrainingError.invalidModel` for a non-positive scaling factor.
    public init(latentModel: DDPMModel, decoder: TAESDDecoder, scalingFactor: Double) throws {
        let c = latentModel.unet.configuration
        guard c.inChannels == decoder.latentChannels, c.outChannels == decoder.latentChannels else {
            throw LatentModelError.channelMismatch(unetInChannels: c.inChannels, unetOutChannels: c.outChannels,
                                                   latentChannels: decoder.latentChannels)
        }
        guard scalingFactor.isFinite, scalingFactor > 0 else {
            throw TrainingError.invalidModel("the latent scaling factor must be positive, got \(scalingFactor)")
        }
        self.latentModel = latentModel
        self.decoder = decoder
        vae = TAESDConfiguration(latentChannels: decoder.latentChannels, scalingFactor: scalingFactor)
    }

    /// True when `folder` contains a `vae/` folder.
    public static func isLatentModel(at folder: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent(vaeFolderName).path, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }

    /// The TAESD folders searched after `vae/` and the folder passed to `load`:
    /// `$SWIFTDIFFUSION_SHARED/weights/taesd-sd1` (when set) and `../shared/weights/taesd-sd1`.
    public static var sharedTAESDFolders: [URL] {
        var folders: [URL] = []
        if let shared = ProcessInfo.processInfo.environment["SWIFTDIFFUSION_SHARED"], !shared.isEmpty {
            folders.append(URL(fileURLWithPath: shared).appendingPathComponent("weights/taesd-sd1"))
        }
        folders.append(URL(fileURLWithPath: "../shared/weights/taesd-sd1"))
        return folders
    }

    /// Loads an exported latent model folder (see the file comment).
    /// - Parameters:
    ///   - taesdFolder: a folder with `taesd_decoder.safetensors`, used when `vae/` has none.
    ///   - fallbackFolders: searched last (default `sharedTAESDFolders`).
    /// - Throws: `LatentModelError` (no `vae/`, no decoder weights, channels that do not match),
    ///   `TrainingError.invalidModel` / `StateDictionaryError` for the UNet as `DDPMModel.load`,
    ///   `TAESDError` for decoder weights that do not fit.
    public static func load(from folder: URL, taesdFolder: URL? = nil,
                            fallbackFolders: [URL] = sharedTAESDFolders) throws -> LatentDiffusionModel {
        guard isLatentModel(at: folder) else { throw LatentModelError.missingVAEFolder(folder: folder.path) }
        let configURL = folder.appendingPathComponent("\(vaeFolderName)/config.json")
        let vae: TAESDConfiguration
        do {
            vae = try JSONDecoder().decode(TAESDConfiguration.self, from: Data(contentsOf: configURL))
        } catch {
            throw LatentModelError.invalidVAEConfig(path: configURL.path, reason: "\(error)")
        }
        let latentModel = try DDPMModel.load(from: folder)
        let c = latentModel.unet.configuration
        guard c.inChannels == vae.latentChannels, c.outChannels == vae.latentChannels else {
            throw LatentModelError.channelMismatch(unetInChannels: c.inChannels, unetOutChannels: c.outChannels,
                                                   latentChannels: vae.latentChannels)
        }
        let folders = [folder.appendingPathComponent(vaeFolderName)] + (taesdFolder.map { [$0] } ?? []) + fallbackFolders
        let candidates = folders.map { $0.appendingPathComponent(TAESD.decoderFileName) }
        guard let weightsURL = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw LatentModelError.missingDecoderWeights(searched: candidates.map(\.path))
        }
        let decoder = try loadDecoder(from: weightsURL, latentChannels: vae.latentChannels)
        return try LatentDiffusionModel(latentModel: latentModel, decoder: decoder, scalingFactor: vae.scalingFactor)
    }

    /// Reads TAESD's decoder weights (madebyollin/ComfyUI keys) strictly.
    public static func loadDecoder(from url: URL, latentChannels: Int = 4) throws -> TAESDDecoder {
        var generator = TorchGenerator(seed: 0)     // overwritten by the weights
        let decoder = TAESDDecoder(latentChannels: latentChannels, generator: &generator)
        let file = try SafetensorsFile(contentsOf: url)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        try DDPMModel.requireFinite(tensors, in: url)
        do {
            try decoder.loadStateDictionary(tensors)
        } catch let problems as StateDictionaryError {
            throw TAESDError.weightsDoNotFit(path: url.path, part: "decoder", problems: problems)
        }
        return decoder
    }

    /// Writes the folder (see the file comment) as a whole: every file goes to a hidden staging
    /// folder next to `folder`, which is then renamed into place (an existing `folder` is
    /// replaced). With `decoderWeights`, that file (and a `LICENSE` or `LICENSE.taesd` found next
    /// to it, as `LICENSE`) is copied into `vae/`.
    public func export(to folder: URL, dtype: SafetensorsDType = .f16, decoderWeights: URL? = nil) throws {
        try Self.export(latentModel: latentModel, vae: vae, to: folder, dtype: dtype, decoderWeights: decoderWeights)
    }

    /// Writes a latent model folder from a latent DDPM and its autoencoder configuration, as
    /// `export(to:dtype:decoderWeights:)` (what `diffuse export` does for a training checkpoint).
    /// - Throws: `LatentModelError.channelMismatch` when the UNet does not take `vae.latentChannels`.
    public static func export(latentModel: DDPMModel, vae: TAESDConfiguration, to folder: URL,
                              dtype: SafetensorsDType = .f16, decoderWeights: URL? = nil) throws {
        let c = latentModel.unet.configuration
        guard c.inChannels == vae.latentChannels, c.outChannels == vae.latentChannels else {
            throw LatentModelError.channelMismatch(unetInChannels: c.inChannels, unetOutChannels: c.outChannels,
                                                   latentChannels: vae.latentChannels)
        }
        let fm = FileManager.default
        let parent = folder.standardizedFileURL.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(folder.lastPathComponent).staging-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: staging) }
        try latentModel.export(to: staging, dtype: dtype)
        let vaeFolder = staging.appendingPathComponent(vaeFolderName)
        try fm.createDirectory(at: vaeFolder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(vae), to: vaeFolder.appendingPathComponent("config.json"))
        if let decoderWeights {
            try AtomicFile.write(Data(contentsOf: decoderWeights), to: vaeFolder.appendingPathComponent(TAESD.decoderFileName))
            let source = decoderWeights.deletingLastPathComponent()
            if let license = ["LICENSE", "LICENSE.taesd"].map({ source.appendingPathComponent($0) })
                .first(where: { fm.fileExists(atPath: $0.path) }) {
                try AtomicFile.write(Data(contentsOf: license), to: vaeFolder.appendingPathComponent("LICENSE"))
            }
        }
        let index = #"{"_class_name": "LatentDiffusionPipeline", "_diffusers_version": "0.30.0", "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"], "vae": ["diffusers", "AutoencoderTiny"]}"#
        try AtomicFile.write(Data((index + "\n").utf8), to: staging.appendingPathComponent("model_index.json"))
        // rename(2) cannot replace a non-empty folder: move the old one aside first.
        if fm.fileExists(atPath: folder.path) {
            let old = parent.appendingPathComponent(".\(folder.lastPathComponent).old-\(UUID().uuidString)")
            try fm.moveItem(at: folder, to: old)
            try fm.moveItem(at: staging, to: folder)
            try? fm.removeItem(at: old)
        } else {
            try fm.moveItem(at: staging, to: folder)
        }
    }

    /// Samples latents [count, C, h, w] (unclipped) with `DDPMModel.sample`'s arguments.
    public func sampleLatents(count: Int, sampler: String, steps: Int, schedule: String? = nil, seed: UInt64,
                              classLabels: [Int]? = nil, guidanceScale: Double = 1, clipDenoised: Bool? = nil,
                              samplerOptions: SamplerOptions = SamplerOptions(), callback: SamplerCallback? = nil) throws -> Tensor {
        try latentModel.sample(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                               classLabels: classLabels, guidanceScale: guidanceScale,
                               clipDenoised: clipDenoised ?? false, samplerOptions: samplerOptions, callback: callback)
    }

    /// Decodes latents on the UNet's scale to images [N, 3, 8h, 8w] in [−1, 1].
    public func decode(_ latents: Tensor) throws -> Tensor {
        try LatentDataset.decode(latents, with: decoder, scalingFactor: vae.scalingFactor)
    }

    /// Decoded images [count, 3, 8h, 8w] in [−1, 1] (same arguments as `DDPMModel.sample`;
    /// `clipDenoised` defaults to false, as the scheduler's `clip_sample` of a latent model).
    public func sample(count: Int, sampler: String, steps: Int, schedule: String? = nil, seed: UInt64,
                       classLabels: [Int]? = nil, guidanceScale: Double = 1, clipDenoised: Bool? = nil,
                       samplerOptions: SamplerOptions = SamplerOptions()) throws -> Tensor {
        try decode(sampleLatents(count: count, sampler: sampler, steps: steps, schedule: schedule, seed: seed,
                                 classLabels: classLabels, guidanceScale: guidanceScale, clipDenoised: clipDenoised,
                                 samplerOptions: samplerOptions))
    }
}
