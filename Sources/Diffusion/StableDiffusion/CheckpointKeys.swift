// Contract: every renaming rule between checkpoint formats, in one place. Stable Diffusion's
// weights come in two layouts:
// - a diffusers folder, whose keys are exactly this port's parameter names (plus a few old
//   spellings that diffusers still reads: the VAE attention's `query`/`key`/`value`/`proj_attn`);
// - a single-file checkpoint with the original CompVis (LDM) names: `model.diffusion_model.*`
//   (the UNet as `input_blocks.N.M`, `middle_block.M`, `output_blocks.N.M`),
//   `first_stage_model.*` (the VAE, attention as 1×1 convolutions), and the text encoder as
//   `cond_stage_model.transformer.*` (SD 1.x, OpenAI CLIP in transformers' names) or
//   `cond_stage_model.model.*` (SD 2.x, OpenCLIP with stacked q/k/v `in_proj_weight`).
// The rules are those of diffusers' `convert_original_stable_diffusion_to_diffusers.py`
// (`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_open_clip_checkpoint`),
// written here as functions from a stored key to the diffusers name and a transform.

import Foundation

/// Which model of a Stable Diffusion checkpoint a tensor belongs to.
public enum StableDiffusionPart: String, CaseIterable, Sendable {
    /// The conditional UNet.
    case unet
    /// The autoencoder.
    case vae
    /// The CLIP text encoder.
    case textEncoder = "text_encoder"
}

/// How a stored tensor becomes a parameter.
enum KeyTransform: Equatable {
    /// Used as stored.
    case none
    /// A 1×1 convolution weight [O, I, 1, 1] used as a linear weight [O, I].
    case dropTrailingUnitAxes
    /// One third of a stacked q/k/v tensor: rows `part·n/3 ..< (part+1)·n/3` of axis 0.
    case thirdOfRows(Int)
}

/// Where one parameter comes from in a checkpoint.
struct KeyMapping: Equatable {
    /// The model.
    var part: StableDiffusionPart
    /// The parameter's diffusers name inside that model.
    var name: String
    /// How the stored tensor is turned into it.
    var transform: KeyTransform = .none
}

/// The rules mapping stored names to parameters.
enum CheckpointKeys {
    /// Old diffusers spellings of the VAE attention (diffusers < 0.14 files, SD 1.5's among
    /// them) → current names.
    static func modernDiffusersName(_ name: String) -> String {
        for (old, new) in [(".attentions.0.query.", ".attentions.0.to_q."), (".attentions.0.key.", ".attentions.0.to_k."),
                           (".attentions.0.value.", ".attentions.0.to_v."), (".attentions.0.proj_attn.", ".attentions.0.to_out.0.")]
        where name.contains(old) {
            return name.replacingOccurrences(of: old, with: new)
        }
        return name
    }

    /// Keys of a diffusers file that are buffers, not parameters (ignored by name).
    static func isKnownBuffer(_ name: String) -> Bool {
        name == "text_model.embeddings.position_ids"
    }

    /// The parameters of a single-file (CompVis) key; nil for keys that are not part of the
    /// three models (EMA copies, the training schedule's buffers) and `[]` for known tensors
    /// SD does not use (OpenCLIP's projection, the 24th OpenCLIP layer).
    static func singleFile(_ key: String, unet: UNet2DConditionConfiguration, vaeLevels: Int, textLayers: Int) -> [KeyMapping]? {
        if let rest = key.dropPrefix("model.diffusion_model.") {
            return unetName(rest, unet).map { [KeyMapping(part: .unet, name: $0)] } ?? [KeyMapping(part: .unet, name: "?" + rest)]
        }
        if let rest = key.dropPrefix("first_stage_model.") {
            guard let (name, transform) = vaeName(rest, levels: vaeLevels) else { return [KeyMapping(part: .vae, name: "?" + rest)] }
            return [KeyMapping(part: .vae, name: name, transform: transform)]
        }
        if let rest = key.dropPrefix("cond_stage_model.transformer.") {
            let name = rest.hasPrefix("text_model.") ? rest : "text_model." + rest
            return isKnownBuffer(name) ? [] : [KeyMapping(part: .textEncoder, name: name)]
        }
        if let rest = key.dropPrefix("cond_stage_model.model.") {
            return openCLIPName(rest, layers: textLayers) ?? [KeyMapping(part: .textEncoder, name: "?" + rest)]
        }
        return nil
    }

    /// ResNet block names: LDM `in_layers.0` … → diffusers `norm1` ….
    private static func unetResnet(_ rest: String) -> String? {
        let pairs = [("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
                     ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut.")]
        for (old, new) in pairs where rest.hasPrefix(old) { return new + rest.dropFirst(old.count) }
        return nil
    }

    /// An LDM UNet key (without `model.diffusion_model.`) → the diffusers name.
    static func unetName(_ key: String, _ c: UNet2DConditionConfiguration) -> String? {
        let direct = [("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
                      ("input_blocks.0.0.", "conv_in."), ("out.0.", "conv_norm_out."), ("out.2.", "conv_out.")]
        for (old, new) in direct where key.hasPrefix(old) { return new + key.dropFirst(old.count) }
        let parts = key.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4 || (parts.count == 3 && parts[0] == "middle_block") else { return nil }
        let perLevel = c.layersPerBlock + 1
        switch parts[0] {
        case "middle_block":
            guard let m = Int(parts[1]) else { return nil }
            let rest = parts.dropFirst(2).joined(separator: ".")
            switch m {
            case 0: return unetResnet(rest).map { "mid_block.resnets.0." + $0 }
            case 1: return "mid_block.attentions.0." + rest
            case 2: return unetResnet(rest).map { "mid_block.resnets.1." + $0 }
            default: return nil
            }
        case "input_blocks":
            guard let n = Int(parts[1]), let k = Int(parts[2]), n >= 1 else { return nil }
            let level = (n - 1) / perLevel, j = (n - 1) % perLevel, rest = parts[3]
            guard level < c.levels else { return nil }
            if j < c.layersPerBlock {
                if k == 0 { return unetResnet(rest).map { "down_blocks.\(level).resnets.\(j)." + $0 } }
                if k == 1 { return "down_blocks.\(level).attentions.\(j)." + rest }
                return nil
            }
            guard k == 0, let tail = rest.dropPrefix("op.") else { return nil }
            return "down_blocks.\(level).downsamplers.0.conv." + tail
        case "output_blocks":
            guard let n = Int(parts[1]), let k = Int(parts[2]) else { return nil }
            let level = n / perLevel, j = n % perLevel, rest = parts[3]
            guard level < c.levels else { return nil }
            let hasAttention = c.upBlockTypes[level] == "CrossAttnUpBlock2D"
            if k == 0 { return unetResnet(rest).map { "up_blocks.\(level).resnets.\(j)." + $0 } }
            if k == 1 && hasAttention { return "up_blocks.\(level).attentions.\(j)." + rest }
            if k == (hasAttention ? 2 : 1), let tail = rest.dropPrefix("conv.") { return "up_blocks.\(level).upsamplers.0.conv." + tail }
            return nil
        default:
            return nil
        }
    }

    /// An LDM VAE key (without `first_stage_model.`) → the diffusers name and transform. The
    /// LDM decoder numbers its levels `up.0` = highest resolution, diffusers `up_blocks.0` =
    /// lowest, so `up.i` is level `levels − 1 − i` (`levels` from `vaeLevels`).
    static func vaeName(_ key: String, levels: Int) -> (String, KeyTransform)? {
        func resnet(_ rest: String) -> String { rest.hasPrefix("nin_shortcut.") ? "conv_shortcut." + rest.dropFirst(13) : rest }
        let parts = key.split(separator: ".").map(String.init)
        guard parts.count >= 2 else { return nil }
        if ["quant_conv", "post_quant_conv"].contains(parts[0]) { return (key, .none) }
        guard parts[0] == "encoder" || parts[0] == "decoder" else { return nil }
        let side = parts[0], rest = parts.dropFirst().joined(separator: ".")
        for (old, new) in [("conv_in.", "conv_in."), ("conv_out.", "conv_out."), ("norm_out.", "conv_norm_out.")]
        where rest.hasPrefix(old) { return ("\(side).\(new)" + rest.dropFirst(old.count), .none) }
        if let tail = rest.dropPrefix("mid.block_1.") { return ("\(side).mid_block.resnets.0." + resnet(tail), .none) }
        if let tail = rest.dropPrefix("mid.block_2.") { return ("\(side).mid_block.resnets.1." + resnet(tail), .none) }
        if let tail = rest.dropPrefix("mid.attn_1.") {
            for (old, new) in [("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."), ("proj_out.", "to_out.0.")]
            where tail.hasPrefix(old) {
                let transform: KeyTransform = tail.hasSuffix("weight") && old != "norm." ? .dropTrailingUnitAxes : .none
                return ("\(side).mid_block.attentions.0.\(new)" + tail.dropFirst(old.count), transform)
            }
            return nil
        }
        // encoder.down.i.block.j.* / encoder.down.i.downsample.conv.* / decoder.up.i.block.j.* / decoder.up.i.upsample.conv.*
        guard parts.count >= 5, let i = Int(parts[2]) else { return nil }
        let level = side == "decoder" ? levels - 1 - i : i
        let blocks = side == "encoder" ? "down_blocks" : "up_blocks"
        guard (side == "encoder" && parts[1] == "down") || (side == "decoder" && parts[1] == "up"), level >= 0 else { return nil }
        if parts[3] == "block", let j = Int(parts[4]) {
            return ("\(side).\(blocks).\(level).resnets.\(j)." + resnet(parts.dropFirst(5).joined(separator: ".")), .none)
        }
        let sampler = side == "encoder" ? "downsample" : "upsample"
        if parts[3] == sampler && parts[4] == "conv" {
            return ("\(side).\(blocks).\(level).\(sampler)rs.0.conv." + parts.dropFirst(5).joined(separator: "."), .none)
        }
        return nil
    }

    /// The number of decoder levels in a set of LDM VAE keys (`decoder.up.N.*`).
    static func vaeLevels(_ keys: [String]) -> Int {
        let indices = keys.compactMap { key -> Int? in
            guard let rest = key.dropPrefix("first_stage_model.decoder.up.") else { return nil }
            return Int(rest.prefix { $0 != "." })
        }
        return (indices.max() ?? -1) + 1
    }

    /// An OpenCLIP text key (without `cond_stage_model.model.`) → transformers' names. The
    /// projection, logit scale and the layers beyond `layers` (SD 2 leaves out OpenCLIP's last
    /// layer) map to `[]`.
    static func openCLIPName(_ key: String, layers: Int) -> [KeyMapping]? {
        func text(_ name: String, _ transform: KeyTransform = .none) -> KeyMapping {
            KeyMapping(part: .textEncoder, name: "text_model." + name, transform: transform)
        }
        switch key {
        case "token_embedding.weight": return [text("embeddings.token_embedding.weight")]
        case "positional_embedding": return [text("embeddings.position_embedding.weight")]
        case "ln_final.weight", "ln_final.bias": return [text("final_layer_norm." + key.dropFirst(9))]
        case "text_projection", "logit_scale": return []
        default: break
        }
        guard let rest = key.dropPrefix("transformer.resblocks.") else { return nil }
        let parts = rest.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let i = Int(parts[0]) else { return nil }
        if i >= layers { return [] }
        let layer = "encoder.layers.\(i)."
        let tail = parts[1]
        if tail == "attn.in_proj_weight" || tail == "attn.in_proj_bias" {
            let suffix = tail.hasSuffix("weight") ? "weight" : "bias"
            return ["q_proj", "k_proj", "v_proj"].enumerated().map {
                text(layer + "self_attn.\($0.element).\(suffix)", .thirdOfRows($0.offset))
            }
        }
        for (old, new) in [("ln_1.", "layer_norm1."), ("ln_2.", "layer_norm2."), ("mlp.c_fc.", "mlp.fc1."),
                           ("mlp.c_proj.", "mlp.fc2."), ("attn.out_proj.", "self_attn.out_proj.")] where tail.hasPrefix(old) {
            return [text(layer + new + tail.dropFirst(old.count))]
        }
        return nil
    }
}

extension String {
    /// The rest of the string after `prefix`, or nil when it does not start with it.
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
