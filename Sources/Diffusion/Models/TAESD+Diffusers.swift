// Loading TAESD from diffusers' `AutoencoderTiny` layout: one safetensors file
// (`diffusion_pytorch_model.safetensors`, as in the Hugging Face repository madebyollin/taesd)
// whose keys are this port's with two renaming rules, checked against diffusers by
// tools/make_taesd_fixtures.py:
//   encoder.N.rest ↔ encoder.layers.N.rest
//   decoder.N.rest ↔ decoder.layers.(N − 1).rest   (diffusers applies the clamp in `forward`,
//                                                    so its Sequential starts one layer later)

import Autograd
import Foundation
import Tensor

extension TAESD {
    /// The file name of diffusers' `AutoencoderTiny` weights inside a model folder.
    public static let diffusersFileName = "diffusion_pytorch_model.safetensors"

    /// The diffusers `AutoencoderTiny` name of one of this model's parameter names
    /// (`encoder.1.conv.0.weight` → `encoder.layers.1.conv.0.weight`,
    /// `decoder.1.weight` → `decoder.layers.0.weight`); other names are returned as they are.
    public static func diffusersName(forParameter name: String) -> String {
        if let (index, rest) = layerIndex(of: name, after: "encoder.") { return "encoder.layers.\(index)\(rest)" }
        if let (index, rest) = layerIndex(of: name, after: "decoder.") { return "decoder.layers.\(index - 1)\(rest)" }
        return name
    }

    /// This model's name for a diffusers `AutoencoderTiny` state-dict key (the inverse of
    /// `diffusersName(forParameter:)`); other keys are returned as they are.
    public static func parameterName(forDiffusersKey key: String) -> String {
        if let (index, rest) = layerIndex(of: key, after: "encoder.layers.") { return "encoder.\(index)\(rest)" }
        if let (index, rest) = layerIndex(of: key, after: "decoder.layers.") { return "decoder.\(index + 1)\(rest)" }
        return key
    }

    /// For `prefix` + "N.rest": N and ".rest"; nil when `name` has another form.
    private static func layerIndex(of name: String, after prefix: String) -> (Int, Substring)? {
        guard name.hasPrefix(prefix) else { return nil }
        let tail = name.dropFirst(prefix.count)
        guard let dot = tail.firstIndex(of: "."), let index = Int(tail[..<dot]) else { return nil }
        return (index, tail[dot...])
    }

    /// Loads TAESD from a diffusers `AutoencoderTiny` weights file (keys `encoder.layers.*`,
    /// `decoder.layers.*`), strictly.
    ///
    /// - Throws: `TAESDError` (missing file, keys or shapes that do not fit) or
    ///   `SafetensorsError` (corrupt file).
    public static func load(diffusersFile url: URL, latentChannels: Int = 4) throws -> TAESD {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TAESDError.missingWeights(path: url.path) }
        let file = try SafetensorsFile(contentsOf: url)
        var tensors: [String: Tensor] = [:]
        for key in file.names { tensors[parameterName(forDiffusersKey: key)] = try file.tensor(named: key) }
        var generator = TorchGenerator(seed: 0)   // overwritten by the file
        let model = TAESD(latentChannels: latentChannels, generator: &generator)
        do {
            try model.loadStateDictionary(tensors)
        } catch var problems as StateDictionaryError {
            // Report the file's own (diffusers) names.
            problems.missingKeys = problems.missingKeys.map(diffusersName(forParameter:))
            problems.unexpectedKeys = problems.unexpectedKeys.map(diffusersName(forParameter:))
            problems.shapeMismatches = problems.shapeMismatches.map { (diffusersName(forParameter: $0.name), $0.expected, $0.found) }
            throw TAESDError.weightsDoNotFit(path: url.path, part: "AutoencoderTiny", problems: problems)
        }
        return model
    }
}
