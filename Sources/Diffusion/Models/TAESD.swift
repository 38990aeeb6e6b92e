// TAESD, the Tiny AutoEncoder for Stable Diffusion (madebyollin/taesd, MIT): a 2 x 1.2 M
// parameter convolutional encoder/decoder pair distilled to map images to and from the SD 1.x
// latent space (the same space works for SD 2.x; `taesdxl` has the same architecture).
//
// Contract:
// - `TAESD.load(directory:)` / `load(encoderURL:decoderURL:)` read `taesd_encoder.safetensors`
//   and `taesd_decoder.safetensors` (ComfyUI/madebyollin key layout, any of F32/F16/BF16,
//   widened to Float32), `load(diffusersFile:)` diffusers' single file; all strictly: a missing
//   file, a missing or unexpected key or a shape mismatch is one thrown `TAESDError` naming the
//   file and every problem.
// - `encode(images01)`: images [N, 3, H, W] with RGB in [0, 1] (H, W multiples of 8) → latents
//   [N, 4, H/8, W/8]. These are SD latents already multiplied by the SD VAE's scaling factor
//   0.18215 (Rombach et al. 2022, section 4.3.2 / appendix D.1): the values the UNet consumes.
//   With diffusers' AutoencoderKL: `vae.encode(2x − 1).latent_dist.mean · 0.18215 ≈ encode(x)`
//   (approximately: TAESD is distilled from the SD VAE).
// - `decode(latents)`: latents [N, 4, h, w] (UNet scale) → images [N, 3, 8h, 8w] clamped to
//   [0, 1].
// - Both run inside `withoutGradients`: no graph is recorded. Training code calls `encoder` and
//   `decoder` directly on Variables instead, which records the graph as usual.
//
// Conventions of the other implementations (checked by tools/make_taesd_fixtures.py):
// - madebyollin's `taesd.py`: `encoder(x01)` and `decoder(latents).clamp(0, 1)`: the same
//   ranges as here.
// - diffusers' `AutoencoderTiny`: `encode` takes [-1, 1] and applies (x + 1)/2 before the same
//   layers; `decode` returns 2·raw − 1 (unclamped). Its state-dict keys are this file's keys
//   with `encoder.layers.` / `decoder.layers.` prefixes and decoder indices one lower.

import Autograd
import Foundation
import Tensor

/// Why TAESD could not be loaded or run on the given input.
public enum TAESDError: Error, CustomStringConvertible {
    /// No weight file at the given path.
    case missingWeights(path: String)
    /// The file's tensors do not match the module (missing/unexpected keys, shapes).
    case weightsDoNotFit(path: String, part: String, problems: StateDictionaryError)
    /// Images that are not [N, 3, H, W] with H and W positive multiples of 8.
    case invalidImages(shape: [Int])
    /// Latents that are not [N, latentChannels, h, w] with h, w > 0.
    case invalidLatents(shape: [Int], latentChannels: Int)

    /// What went wrong, where, and how to fix it.
    public var description: String {
        switch self {
        case .missingWeights(let path):
            return "TAESD weights not found at \(path). Download taesd_encoder.safetensors and "
                + "taesd_decoder.safetensors (or diffusers' diffusion_pytorch_model.safetensors) from "
                + "https://huggingface.co/madebyollin/taesd (MIT licence, also linked from "
                + "https://github.com/madebyollin/taesd) into one folder and pass it to TAESD.load(directory:)."
        case .weightsDoNotFit(let path, let part, let problems):
            let hint = part == "AutoencoderTiny"
                ? "expected diffusers keys such as \"encoder.layers.1.conv.0.weight\"; is it another TAESD variant?"
                : "expected madebyollin/ComfyUI keys such as \"1.conv.0.weight\"; is it the "
                    + (part == "encoder" ? "decoder" : "encoder") + " file, another TAESD variant, or a diffusers file "
                    + "(load those with TAESD.load(diffusersFile:))?"
            return "\(path) does not fit TAESD's \(part) (\(hint)): \(problems.description)"
        case .invalidImages(let shape):
            return "TAESD.encode expects images [N, 3, H, W] with H and W positive multiples of 8 and RGB in [0, 1], "
                + "got shape \(shape); crop or pad the images first"
        case .invalidLatents(let shape, let channels):
            return "TAESD.decode expects latents [N, \(channels), h, w] with h, w > 0, got shape \(shape)"
        }
    }
}

/// TAESD: the tiny autoencoder for the Stable Diffusion 1.x latent space (madebyollin/taesd).
///
/// ```swift
/// let taesd = try TAESD.load(directory: URL(fileURLWithPath: "../shared/weights/taesd-sd1"))
/// let latents = try taesd.encode(images)      // [N, 3, H, W] in [0, 1] → [N, 4, H/8, W/8]
/// let decoded = try taesd.decode(latents)     // → [N, 3, H, W] in [0, 1]
/// ```
///
/// Latents are on the UNet's scale (SD VAE latents × 0.18215). As a `Module`, its parameters are
/// named `encoder.<file key>` and `decoder.<file key>`, like the `TAESD` `nn.Module` of
/// madebyollin's `taesd.py`.
public final class TAESD: Module {
    /// The encoder, images in [0, 1] → latents.
    public let encoder: TAESDEncoder
    /// The decoder, latents → images nominally in [0, 1] (unclamped).
    public let decoder: TAESDDecoder

    /// The file names `load(directory:)` looks for.
    public static let encoderFileName = "taesd_encoder.safetensors"
    /// The file names `load(directory:)` looks for.
    public static let decoderFileName = "taesd_decoder.safetensors"

    /// Creates a randomly initialized TAESD (PyTorch's default initialization, encoder first),
    /// for training from scratch or before loading weights.
    public init(latentChannels: Int = 4, generator: inout some RandomTensorGenerator) {
        encoder = TAESDEncoder(latentChannels: latentChannels, generator: &generator)
        decoder = TAESDDecoder(latentChannels: latentChannels, generator: &generator)
    }

    /// `encoder` and `decoder`.
    public var children: [(name: String, module: any Module)] {
        [("encoder", encoder), ("decoder", decoder)]
    }

    /// The number of latent channels (4 for SD 1.x).
    public var latentChannels: Int { encoder.latentChannels }

    /// Loads `taesd_encoder.safetensors` and `taesd_decoder.safetensors` from `directory`, or,
    /// when the folder has neither, diffusers' `diffusion_pytorch_model.safetensors`.
    ///
    /// - Throws: `TAESDError` (missing file, keys or shapes that do not fit) or
    ///   `SafetensorsError` (corrupt file).
    public static func load(directory: URL, latentChannels: Int = 4) throws -> TAESD {
        let encoderURL = directory.appendingPathComponent(encoderFileName)
        let decoderURL = directory.appendingPathComponent(decoderFileName)
        let diffusersURL = directory.appendingPathComponent(diffusersFileName)
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: encoderURL.path) && !fileManager.fileExists(atPath: decoderURL.path)
            && fileManager.fileExists(atPath: diffusersURL.path) {
            return try load(diffusersFile: diffusersURL, latentChannels: latentChannels)
        }
        return try load(encoderURL: encoderURL, decoderURL: decoderURL, latentChannels: latentChannels)
    }

    /// Loads the encoder and decoder weights from two safetensors files with madebyollin's keys.
    ///
    /// - Throws: `TAESDError` (missing file, keys or shapes that do not fit) or
    ///   `SafetensorsError` (corrupt file).
    public static func load(encoderURL: URL, decoderURL: URL, latentChannels: Int = 4) throws -> TAESD {
        for url in [encoderURL, decoderURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw TAESDError.missingWeights(path: url.path)
        }
        // The random initialization is overwritten; any seed will do.
        var generator = TorchGenerator(seed: 0)
        let model = TAESD(latentChannels: latentChannels, generator: &generator)
        try loadWeights(into: model.encoder, from: encoderURL, part: "encoder")
        try loadWeights(into: model.decoder, from: decoderURL, part: "decoder")
        return model
    }

    /// Reads every tensor of `url` and loads them strictly by name into `module`.
    private static func loadWeights(into module: any Module, from url: URL, part: String) throws {
        let file = try SafetensorsFile(contentsOf: url)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        do {
            try module.loadStateDictionary(tensors)
        } catch let problems as StateDictionaryError {
            throw TAESDError.weightsDoNotFit(path: url.path, part: part, problems: problems)
        }
    }

    /// Encodes images to latents without recording a graph.
    ///
    /// - Parameter images01: [N, 3, H, W], RGB in [0, 1], H and W multiples of 8.
    /// - Returns: latents [N, latentChannels, H/8, W/8] on the UNet's scale.
    /// - Throws: `TAESDError.invalidImages` for any other shape.
    public func encode(_ images01: Tensor) throws -> Tensor {
        let s = images01.shape
        guard s.count == 4, s[0] > 0, s[1] == 3, s[2] > 0, s[3] > 0, s[2] % 8 == 0, s[3] % 8 == 0 else {
            throw TAESDError.invalidImages(shape: s)
        }
        return withoutGradients { encoder(Variable(images01)).value }
    }

    /// Decodes latents to images clamped to [0, 1], without recording a graph. (For the raw,
    /// unclamped output, call `decoder` on a `Variable`.)
    ///
    /// - Parameter latents: [N, latentChannels, h, w] on the UNet's scale.
    /// - Returns: images [N, 3, 8h, 8w] in [0, 1].
    /// - Throws: `TAESDError.invalidLatents` for any other shape.
    public func decode(_ latents: Tensor) throws -> Tensor {
        let s = latents.shape
        guard s.count == 4, s[0] > 0, s[1] == latentChannels, s[2] > 0, s[3] > 0 else {
            throw TAESDError.invalidLatents(shape: s, latentChannels: latentChannels)
        }
        return withoutGradients { decoder(Variable(latents)).value }.clamped(min: 0, max: 1)
    }
}
