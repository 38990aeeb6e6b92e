// The Stable Diffusion loader on bad input: each defect of a model folder or checkpoint is a
// thrown error whose message names the file, the key or field, what was expected and what was
// found — never a crash or a model built from the wrong weights. Each test damages a copy of the
// tiny SD 1.x fixture (Fixtures/sd/tiny-sd1) in a temporary folder.

import Autograd
import Diffusion
import Foundation
import Tensor
import Testing

/// A temporary copy of the tiny SD 1.x folder, removed by the caller.
private func copyOfTinyFolder() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sd-loading-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: TinySD.url("tiny-sd1"), to: folder)
    return folder
}

/// Every tensor of a safetensors file, widened to Float32.
private func tensors(of url: URL) throws -> [String: Tensor] {
    let file = try SafetensorsFile(contentsOf: url)
    return Dictionary(uniqueKeysWithValues: try file.names.map { ($0, try file.tensor(named: $0)) })
}

/// The message of the error `body` throws (a failed expectation when it throws nothing).
private func message(_ body: () throws -> Void) -> String {
    do { try body() } catch { return "\(error)" }
    Issue.record("expected an error")
    return ""
}

@Suite("Stable Diffusion loading errors")
struct StableDiffusionLoadingTests {
    @Test("a missing, an unexpected and a wrongly shaped key are each named")
    func keys() throws {
        let folder = try copyOfTinyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let vaeFile = folder.appendingPathComponent("vae/diffusion_pytorch_model.safetensors")
        var weights = try tensors(of: vaeFile)
        weights["decoder.conv_out.bias"] = nil
        weights["decoder.extra.weight"] = Tensor.zeros([3])
        weights["encoder.conv_in.weight"] = Tensor.zeros([8, 3, 5, 5])
        try Safetensors.write(weights, to: vaeFile)
        let text = message { _ = try StableDiffusionCheckpoint(contentsOf: folder).loadVAE() }
        #expect(text.contains("missing 1 key: decoder.conv_out.bias"), "\(text)")
        #expect(text.contains("unexpected 1 key: decoder.extra.weight"), "\(text)")
        #expect(text.contains("encoder.conv_in.weight: shape [8, 3, 5, 5], the model expects [8, 3, 3, 3]"), "\(text)")
        #expect(text.contains("diffusion_pytorch_model.safetensors"), "\(text)")
    }

    @Test("integer weights are refused with the dtype named")
    func dtype() throws {
        let folder = try copyOfTinyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let vaeFile = folder.appendingPathComponent("vae/diffusion_pytorch_model.safetensors")
        try Safetensors.write(try tensors(of: vaeFile).mapValues { $0.map { $0.rounded() } }, dtype: .i64, to: vaeFile)
        let text = message { _ = try StableDiffusionCheckpoint(contentsOf: folder).loadVAE() }
        #expect(text.contains("dtype I64, expected F32, F16 or BF16"), "\(text)")
    }

    @Test("a truncated weight file names the file")
    func truncated() throws {
        let folder = try copyOfTinyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let unetFile = folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")
        let data = try Data(contentsOf: unetFile)
        try data.prefix(data.count / 2).write(to: unetFile)
        let text = message { _ = try StableDiffusionCheckpoint(contentsOf: folder) }
        #expect(text.contains("unet/diffusion_pytorch_model.safetensors"), "\(text)")
    }

    @Test("pickle checkpoints are refused with the fix")
    func pickle() throws {
        let folder = try copyOfTinyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let ckpt = folder.appendingPathComponent("model.ckpt")
        try Data("PK\u{3}\u{4}".utf8).write(to: ckpt)
        let text = message { _ = try StableDiffusionCheckpoint(contentsOf: ckpt) }
        #expect(text.contains("pickle") && text.contains("safetensors"), "\(text)")
        // A diffusers part holding only a .bin file.
        let unet = folder.appendingPathComponent("unet")
        try FileManager.default.removeItem(at: unet.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        try Data().write(to: unet.appendingPathComponent("diffusion_pytorch_model.bin"))
        let binText = message { _ = try StableDiffusionCheckpoint(contentsOf: folder) }
        #expect(binText.contains("diffusion_pytorch_model.bin") && binText.contains("safe_serialization"), "\(binText)")
    }

    @Test("unknown and unimplemented configuration fields are named", arguments: [
        ("\"brand_new_option\": 3", "unknown field \"brand_new_option\" = 3"),
        ("\"resnet_time_scale_shift\": \"scale_shift\"", "field \"resnet_time_scale_shift\" = \"scale_shift\" is not implemented"),
        ("\"down_block_types\": [\"CrossAttnDownBlock2D\", \"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]",
         "down block type \"SimpleCrossAttnDownBlock2D\" is not implemented"),
        ("\"layers_per_block\": \"two\"", "field \"layers_per_block\" is \"two\"; expected an integer"),
    ])
    func configuration(field: String, expected: String) throws {
        try expectConfigurationError(in: "unet/config.json", field: field, expected: expected)
    }

    @Test("numbers a model cannot be built with are refused before anything is built", arguments: [
        ("unet/config.json", "\"norm_num_groups\": 0", "norm_num_groups is 0, outside the allowed 1...16384"),
        ("unet/config.json", "\"layers_per_block\": 1000000000", "layers_per_block is 1000000000, outside the allowed 1...256"),
        ("unet/config.json", "\"attention_head_dim\": 0", "the attention head count is 0"),
        ("unet/config.json", "\"block_out_channels\": [8, -16, 16]", "block_out_channels is -16"),
        ("unet/config.json", "\"norm_eps\": -1", "norm_eps is -1.0; it must be a finite positive number"),
        ("vae/config.json", "\"norm_num_groups\": 0", "norm_num_groups is 0"),
        ("vae/config.json", "\"scaling_factor\": 0", "scaling_factor is 0.0"),
        ("text_encoder/config.json", "\"num_hidden_layers\": 100000", "num_hidden_layers and num_attention_heads is 100000"),
        ("text_encoder/config.json", "\"vocab_size\": 0", "vocab_size is 0"),
    ])
    func impossibleNumbers(file: String, field: String, expected: String) throws {
        try expectConfigurationError(in: file, field: field, expected: expected)
    }

    /// Replaces (or adds) `field` in a copy of the tiny folder's `file` and expects opening the
    /// folder to throw an error naming the file and containing `expected`.
    private func expectConfigurationError(in file: String, field: String, expected: String) throws {
        let folder = try copyOfTinyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent(file)
        var text = try String(contentsOf: config, encoding: .utf8)
        // Remove the field's existing entry (it may span several lines), then add the new one first.
        let name = String(field.prefix { $0 != ":" })
        if let range = text.range(of: "\n  \(name):") {
            let rest = text[range.upperBound...]
            let next = rest.range(of: "\n  \"")?.lowerBound ?? rest.range(of: "\n}")!.lowerBound
            text.removeSubrange(range.lowerBound..<next)
            if let last = text.range(of: ",\n}") { text.replaceSubrange(last, with: "\n}") }
        }
        text = text.replacingOccurrences(of: "{\n", with: "{\n  \(field),\n")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let error = message { _ = try StableDiffusionCheckpoint(contentsOf: folder) }
        #expect(error.contains(expected), "\(error)")
        #expect(error.contains(file), "\(error)")
    }

    @Test("a model built with DeferredWeights holds no initial values")
    func deferred() throws {
        var deferred = DeferredWeights()
        let unet = try UNet2DConditionModel(configuration: UNet2DConditionConfiguration(), generator: &deferred)
        #expect(unet.parameterCount == 859_520_964)   // the real SD 1.5 UNet's size (../shared/README.md)
        // Only the norms' γ and β (created as ones and zeros, not drawn) hold memory.
        #expect(unet.parameters.reduce(0) { $0 + $1.value.storage.count } < unet.parameterCount / 1000)
        let vae = AutoencoderKL(configuration: AutoencoderKLConfiguration(), generator: &deferred)
        #expect(vae.parameterCount == 83_653_863)
        let text = CLIPTextModel(configuration: CLIPTextConfiguration(), generator: &deferred)
        #expect(text.parameterCount == 123_060_480)
    }
}
