// Contract: loads Stable Diffusion's text encoder, UNet and VAE from either
// - a diffusers folder (`model_index.json`, `unet/`, `vae/`, `text_encoder/`, each with
//   `config.json` and `*.safetensors`, also the `*.fp16.safetensors` variant and sharded
//   `*.safetensors.index.json` files), or
// - a single-file checkpoint (`.safetensors` with CompVis key names, SD 1.x or 2.x), configured
//   by a diffusers folder's config files when given, otherwise by SD 1.5's or SD 2.1's
//   configuration chosen from the keys (the UNet's input channels read from `conv_in`'s shape,
//   so 9-channel inpainting files load),
// in F32, F16 or BF16. The renaming rules live in CheckpointKeys.swift. Loading is strict: every
// missing parameter, unexpected key, wrong shape, non-float dtype, truncated or corrupt file and
// pickle file (`.ckpt`, `.bin`: unsupported, convert to safetensors) is a thrown
// `StableDiffusionError` naming the file and the key, what was expected and what was found.
// Models are built with `DeferredWeights` (no memory for initial values) and filled by name.

import Autograd
import Foundation
import Tensor

/// A Stable Diffusion checkpoint on disk, opened (headers read, data mapped) but not yet loaded.
public struct StableDiffusionCheckpoint {
    /// One stored tensor: the file, its key there, and how it becomes a parameter.
    struct Source {
        let file: SafetensorsFile
        let key: String
        let transform: KeyTransform
    }

    /// The file or folder this was opened from.
    public let url: URL
    /// The UNet's configuration.
    public let unetConfiguration: UNet2DConditionConfiguration
    /// The VAE's configuration.
    public let vaeConfiguration: AutoencoderKLConfiguration
    /// The text encoder's configuration.
    public let textEncoderConfiguration: CLIPTextConfiguration
    /// Each part's parameters by diffusers name.
    let sources: [StableDiffusionPart: [String: Source]]
    /// Keys that map to no parameter, by part (reported when the part is loaded).
    let unexpected: [StableDiffusionPart: [String]]

    /// Opens `url`: a diffusers folder or a single-file `.safetensors` checkpoint.
    ///
    /// - Parameters:
    ///   - configurationFolder: for a single file, a diffusers folder whose `unet/`, `vae/` and
    ///     `text_encoder/` `config.json` describe it; nil chooses SD 1.5 or SD 2.1 from the keys.
    ///   - variant: for a folder, the weight-file variant to prefer (`"fp16"` reads
    ///     `diffusion_pytorch_model.fp16.safetensors`); nil takes the plain file, or the only
    ///     variant present.
    /// - Throws: `StableDiffusionError` or `SafetensorsError` naming the problem.
    public init(contentsOf url: URL, configurationFolder: URL? = nil, variant: String? = nil) throws {
        self.url = url
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw StableDiffusionError("\(url.path) does not exist (expected a diffusers folder or a .safetensors checkpoint)")
        }
        if isFolder.boolValue {
            let folder = url
            unetConfiguration = try UNet2DConditionConfiguration(contentsOf: folder.appendingPathComponent("unet/config.json"))
            vaeConfiguration = try AutoencoderKLConfiguration(contentsOf: folder.appendingPathComponent("vae/config.json"))
            textEncoderConfiguration = try CLIPTextConfiguration(contentsOf: folder.appendingPathComponent("text_encoder/config.json"))
            var sources: [StableDiffusionPart: [String: Source]] = [:]
            for part in StableDiffusionPart.allCases {
                let stem = part == .textEncoder ? "model" : "diffusion_pytorch_model"
                var map: [String: Source] = [:]
                for file in try Self.weightFiles(in: folder.appendingPathComponent(part.rawValue), stem: stem, variant: variant) {
                    for key in file.names where !CheckpointKeys.isKnownBuffer(key) {
                        map[CheckpointKeys.modernDiffusersName(key)] = Source(file: file, key: key, transform: .none)
                    }
                }
                sources[part] = map
            }
            self.sources = sources
            unexpected = [:]
        } else {
            let file = try Self.openSingleFile(url)
            let names = file.names
            var unet = UNet2DConditionConfiguration(), vae = AutoencoderKLConfiguration(), text = CLIPTextConfiguration()
            if let configurationFolder {
                unet = try UNet2DConditionConfiguration(contentsOf: configurationFolder.appendingPathComponent("unet/config.json"))
                vae = try AutoencoderKLConfiguration(contentsOf: configurationFolder.appendingPathComponent("vae/config.json"))
                text = try CLIPTextConfiguration(contentsOf: configurationFolder.appendingPathComponent("text_encoder/config.json"))
            } else if names.contains(where: { $0.hasPrefix("cond_stage_model.model.") }) {
                (unet, text) = (.stableDiffusion21, .openCLIPViTH)
            }
            if let info = file.infos["model.diffusion_model.input_blocks.0.0.weight"], info.shape.count == 4 {
                unet.inChannels = info.shape[1]
            }
            let vaeLevels = CheckpointKeys.vaeLevels(names)
            var sources: [StableDiffusionPart: [String: Source]] = [:], unexpected: [StableDiffusionPart: [String]] = [:]
            for key in names {
                guard let mappings = CheckpointKeys.singleFile(key, unet: unet, vaeLevels: vaeLevels,
                                                               textLayers: text.numHiddenLayers) else { continue }
                for m in mappings {
                    if m.name.hasPrefix("?") {
                        unexpected[m.part, default: []].append(key)
                    } else {
                        sources[m.part, default: [:]][m.name] = Source(file: file, key: key, transform: m.transform)
                    }
                }
            }
            unetConfiguration = unet
            vaeConfiguration = vae
            textEncoderConfiguration = text
            self.sources = sources
            self.unexpected = unexpected
        }
    }

    /// Opens a single-file checkpoint, refusing pickle files with the fix.
    private static func openSingleFile(_ url: URL) throws -> SafetensorsFile {
        let ext = url.pathExtension.lowercased()
        if ["ckpt", "pt", "pth", "bin"].contains(ext) {
            throw StableDiffusionError("\(url.path) is a PyTorch pickle checkpoint (.\(ext)), which this project does not read "
                + "(unpickling runs arbitrary code); convert it to .safetensors first, e.g. with "
                + "`safetensors.torch.save_file(torch.load(path)[\"state_dict\"], \"model.safetensors\")`")
        }
        return try SafetensorsFile(contentsOf: url)
    }

    /// The safetensors files holding one part of a diffusers folder.
    private static func weightFiles(in folder: URL, stem: String, variant: String?) throws -> [SafetensorsFile] {
        let manager = FileManager.default
        let contents = (try? manager.contentsOfDirectory(atPath: folder.path)) ?? []
        guard !contents.isEmpty else {
            throw StableDiffusionError("\(folder.path) is missing or empty (a diffusers folder has unet/, vae/ and text_encoder/)")
        }
        var candidates: [String] = []
        if let variant { candidates.append("\(stem).\(variant).safetensors") }
        candidates.append("\(stem).safetensors")
        candidates += contents.filter { $0.hasPrefix(stem + ".") && $0.hasSuffix(".safetensors") }.sorted()
        for name in candidates where contents.contains(name) {
            return [try SafetensorsFile(contentsOf: folder.appendingPathComponent(name))]
        }
        // Sharded weights: `<stem>[.variant].safetensors.index.json` lists the shard of every key.
        if let index = contents.first(where: { $0.hasPrefix(stem) && $0.hasSuffix(".safetensors.index.json") }) {
            let url = folder.appendingPathComponent(index)
            guard let data = manager.contents(atPath: url.path),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw StableDiffusionError("\(url.path) is not a safetensors index (expected a \"weight_map\" object)")
            }
            return try Set(map.values).sorted().map { try SafetensorsFile(contentsOf: folder.appendingPathComponent($0)) }
        }
        if let pickle = contents.first(where: { $0.hasSuffix(".bin") || $0.hasSuffix(".ckpt") }) {
            throw StableDiffusionError("\(folder.appendingPathComponent(pickle).path) is a PyTorch pickle file, which this project "
                + "does not read; save the model with `save_pretrained(..., safe_serialization=True)` to get .safetensors")
        }
        throw StableDiffusionError("no \(stem)*.safetensors in \(folder.path) (found: \(contents.sorted().joined(separator: ", ")))")
    }

    /// Loads a UNet from its own folder (`config.json` and weights, like a diffusers folder's
    /// `unet/`), for example an inpainting UNet used with another model's text encoder and VAE.
    public static func loadUNet(folder: URL, variant: String? = nil, keepHalfPrecision: Bool = true) throws -> UNet2DConditionModel {
        let configuration = try UNet2DConditionConfiguration(contentsOf: folder.appendingPathComponent("config.json"))
        var map: [String: Source] = [:]
        for file in try weightFiles(in: folder, stem: "diffusion_pytorch_model", variant: variant) {
            for key in file.names { map[key] = Source(file: file, key: key, transform: .none) }
        }
        var deferred = DeferredWeights()
        let model = try UNet2DConditionModel(configuration: configuration, generator: &deferred)
        try fill(model, part: .unet, sources: map, unexpected: [], url: folder, keepHalfPrecision: keepHalfPrecision)
        return model
    }

    /// Loads the UNet.
    /// - Parameter keepHalfPrecision: keep F16/BF16 weight matrices in their stored 16-bit form
    ///   (widened where a kernel packs them), halving resident memory; F32 files load as F32.
    public func loadUNet(keepHalfPrecision: Bool = true) throws -> UNet2DConditionModel {
        var deferred = DeferredWeights()
        let model = try UNet2DConditionModel(configuration: unetConfiguration, generator: &deferred)
        try Self.fill(model, part: .unet, sources: sources[.unet] ?? [:], unexpected: unexpected[.unet] ?? [], url: url,
                      keepHalfPrecision: keepHalfPrecision)
        return model
    }

    /// Loads the autoencoder.
    public func loadVAE(keepHalfPrecision: Bool = true) throws -> AutoencoderKL {
        var deferred = DeferredWeights()
        let model = AutoencoderKL(configuration: vaeConfiguration, generator: &deferred)
        try Self.fill(model, part: .vae, sources: sources[.vae] ?? [:], unexpected: unexpected[.vae] ?? [], url: url,
                      keepHalfPrecision: keepHalfPrecision)
        return model
    }

    /// Loads the text encoder.
    public func loadTextEncoder(keepHalfPrecision: Bool = true) throws -> CLIPTextModel {
        var deferred = DeferredWeights()
        let model = CLIPTextModel(configuration: textEncoderConfiguration, generator: &deferred)
        try Self.fill(model, part: .textEncoder, sources: sources[.textEncoder] ?? [:], unexpected: unexpected[.textEncoder] ?? [],
                      url: url, keepHalfPrecision: keepHalfPrecision)
        return model
    }

    /// Sets every parameter of `model` from `available` (diffusers name → stored tensor), after
    /// checking all of them; `unexpected` are stored keys already known to map to nothing.
    static func fill(_ model: some Module, part: StableDiffusionPart, sources available: [String: Source], unexpected: [String],
                     url: URL, keepHalfPrecision: Bool) throws {
        let parameters = model.namedParameters()
        var problems: [String] = []
        let missing = parameters.map(\.name).filter { available[$0] == nil }
        if !missing.isEmpty {
            problems.append("missing \(missing.count) key\(missing.count == 1 ? "" : "s"): " + Self.list(missing))
        }
        let known = Set(parameters.map(\.name))
        let extra = available.filter { !known.contains($0.key) }.map { "\($0.value.key)" } + unexpected
        if !extra.isEmpty {
            problems.append("unexpected \(extra.count) key\(extra.count == 1 ? "" : "s"): " + Self.list(extra.sorted()))
        }
        for (name, variable) in parameters {
            guard let source = available[name] else { continue }
            let info = try source.file.info(named: source.key)
            guard info.dtype.isFloatingPoint else {
                problems.append("\(source.key): dtype \(info.dtype.rawValue), expected F32, F16 or BF16")
                continue
            }
            let shape = Self.transformedShape(info.shape, source.transform)
            if shape != variable.shape {
                problems.append("\(source.key): shape \(info.shape)\(shape != info.shape ? " (used as \(shape ?? []))" : ""), "
                    + "the model expects \(variable.shape) for \(name)")
            }
        }
        guard problems.isEmpty else {
            let where_ = Set(available.values.map { $0.file.url.lastPathComponent }).sorted().joined(separator: ", ")
            throw StableDiffusionError("\(url.path): the \(part.rawValue) weights (\(where_.isEmpty ? "no file" : where_)) do not fit "
                + "its configuration:\n  " + problems.joined(separator: "\n  ")
                + "\n(a different model version, or a config.json that does not belong to these weights?)")
        }
        for (name, variable) in parameters {
            try load(available[name]!, into: variable, keepHalfPrecision: keepHalfPrecision)
        }
    }

    /// Sets one parameter. With `keepHalfPrecision`, an F16/BF16 tensor of two or more axes
    /// (the weights of linear, convolution and embedding layers: all but ~0.1% of the
    /// parameters) stays 16-bit, mapped from the file; 1-D tensors (biases, norms) are widened.
    private static func load(_ source: Source, into variable: Variable, keepHalfPrecision: Bool) throws {
        if keepHalfPrecision, variable.rank >= 2, let half = try source.file.halfPrecisionTensor(named: source.key) {
            switch source.transform {
            case .none: variable.halfPrecisionValue = half
            case .dropTrailingUnitAxes: variable.halfPrecisionValue = half.reshaped(variable.shape)
            case .thirdOfRows(let k):
                let n = half.shape[0] / 3
                variable.halfPrecisionValue = half.slicedRows(k * n..<((k + 1) * n))
            }
            return
        }
        var value = try source.file.tensor(named: source.key)
        switch source.transform {
        case .none: break
        case .dropTrailingUnitAxes: value = value.reshaped(variable.shape)
        case .thirdOfRows(let k):
            let n = value.shape[0] / 3
            value = value.sliced(axis: 0, start: k * n, end: (k + 1) * n).contiguous()
        }
        variable.value = value
    }

    /// The shape a stored tensor has after `transform`, or nil when the transform does not apply.
    static func transformedShape(_ shape: [Int], _ transform: KeyTransform) -> [Int]? {
        switch transform {
        case .none: return shape
        case .dropTrailingUnitAxes:
            return shape.count == 4 && shape[2] == 1 && shape[3] == 1 ? Array(shape.prefix(2)) : (shape.count == 2 ? shape : nil)
        case .thirdOfRows:
            guard let first = shape.first, first % 3 == 0 else { return nil }
            return [first / 3] + shape.dropFirst()
        }
    }

    /// The first names of a list, and how many more.
    private static func list(_ names: [String]) -> String {
        names.prefix(8).joined(separator: ", ") + (names.count > 8 ? ", … (\(names.count - 8) more)" : "")
    }
}

extension UNet2DConditionConfiguration {
    /// Stable Diffusion 2.1's UNet (768-v and base differ only in sample size and the
    /// scheduler's prediction type): per-level heads [5, 10, 20, 20] of width 64, linear
    /// projections, 1024-wide text states.
    public static var stableDiffusion21: UNet2DConditionConfiguration {
        var c = UNet2DConditionConfiguration()
        c.sampleSize = 96
        c.crossAttentionDim = 1024
        c.attentionHeads = [5, 10, 20, 20]
        c.useLinearProjection = true
        c.upcastAttention = true
        return c
    }
}

extension CLIPTextConfiguration {
    /// OpenCLIP ViT-H/14's text tower as Stable Diffusion 2.x uses it: width 1024, 16 heads,
    /// GELU, 23 of its 24 layers.
    public static var openCLIPViTH: CLIPTextConfiguration {
        var c = CLIPTextConfiguration()
        c.hiddenSize = 1024
        c.intermediateSize = 4096
        c.numHiddenLayers = 23
        c.numAttentionHeads = 16
        c.hiddenAct = "gelu"
        return c
    }
}
