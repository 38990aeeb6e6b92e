// Contract: the configuration of Stable Diffusion's conditional UNet, read from diffusers'
// `unet/config.json` (`UNet2DConditionModel`). The defaults are Stable Diffusion 1.5's
// (../shared/sd15/unet/config.json); SD 2.x differs only in configuration (per-block head counts,
// linear projections, a 1024-wide text encoder). Every field of diffusers' class is either
// implemented or accepted only at its default value; anything else is a thrown error naming the
// field, never a different network built in silence.

import Foundation

/// The hyper-parameters of a `UNet2DConditionModel` (diffusers' field names in `config.json`).
public struct UNet2DConditionConfiguration: Equatable, Sendable {
    /// Latent height and width the model was trained at (informational; 64 for SD 1.5 = 512 px).
    public var sampleSize: Int = 64
    /// Input channels: 4 latent channels, 9 for inpainting models (latent, mask, masked image).
    public var inChannels: Int = 4
    /// Output channels (the prediction).
    public var outChannels: Int = 4
    /// Sinusoidal time features ordered [cos, sin] (true) or [sin, cos].
    public var flipSinToCos: Bool = true
    /// `downscale_freq_shift` of the sinusoidal features.
    public var freqShift: Int = 0
    /// `CrossAttnDownBlock2D` or `DownBlock2D` per level, highest resolution first.
    public var downBlockTypes: [String] = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    /// `UpBlock2D` or `CrossAttnUpBlock2D` per level, lowest resolution first.
    public var upBlockTypes: [String] = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    /// Channels per level.
    public var blockOutChannels: [Int] = [320, 640, 1280, 1280]
    /// ResNet blocks per down level (up levels have one more).
    public var layersPerBlock: Int = 2
    /// Groups of every GroupNorm outside the transformer blocks.
    public var normNumGroups: Int = 32
    /// ε of the ResNet blocks' GroupNorms.
    public var normEps: Float = 1e-5
    /// Width of the text states the cross-attention reads (768 for SD 1.x, 1024 for SD 2.x).
    public var crossAttentionDim: Int = 768
    /// Transformer blocks inside each attention layer, per down level.
    public var transformerLayersPerBlock: [Int] = [1, 1, 1, 1]
    /// Attention heads per down level. diffusers' `attention_head_dim` holds this number for
    /// historical reasons (SD 1.5: 8 heads everywhere; SD 2.x: [5, 10, 20, 20]), unless
    /// `num_attention_heads` is given; the width of each head is channels / heads.
    public var attentionHeads: [Int] = [8, 8, 8, 8]
    /// 1×1 convolutions (false, SD 1.x) or linear layers (true, SD 2.x) around the transformer blocks.
    public var useLinearProjection: Bool = false
    /// Whether attention is computed in Float32 in half-precision runs (SD 2.1); every
    /// computation here is Float32, so it changes nothing.
    public var upcastAttention: Bool = false

    /// SD 1.5's configuration.
    public init() {}

    /// The number of resolution levels.
    public var levels: Int { blockOutChannels.count }
    /// Width of the time embedding: 4 × the first level's channels.
    public var timeEmbeddingDim: Int { 4 * blockOutChannels[0] }

    /// Reads diffusers' `unet/config.json`.
    /// - Throws: `StableDiffusionError` naming a field that is malformed, unknown or not implemented.
    public init(contentsOf url: URL) throws {
        var r = try ConfigurationReader(url: url)
        try self.init(reading: &r)
        try r.finish()
    }

    init(reading r: inout ConfigurationReader) throws {
        sampleSize = try r.int("sample_size", 64)
        inChannels = try r.int("in_channels", 4)
        outChannels = try r.int("out_channels", 4)
        flipSinToCos = try r.bool("flip_sin_to_cos", true)
        freqShift = try r.int("freq_shift", 0)
        downBlockTypes = try r.strings("down_block_types", downBlockTypes)
        upBlockTypes = try r.strings("up_block_types", upBlockTypes)
        blockOutChannels = try r.ints("block_out_channels", blockOutChannels)
        layersPerBlock = try r.int("layers_per_block", 2)
        normNumGroups = try r.int("norm_num_groups", 32)
        normEps = try r.float("norm_eps", 1e-5)
        crossAttentionDim = try r.int("cross_attention_dim", 1280)
        let levels = blockOutChannels.count
        func perLevel(_ values: [Int]?, _ name: String, fallback: Int) throws -> [Int] {
            guard let values else { return Array(repeating: fallback, count: levels) }
            if values.count == 1 { return Array(repeating: values[0], count: levels) }
            guard values.count == levels else {
                throw StableDiffusionError("\(r.source): \"\(name)\" lists \(values.count) values for \(levels) levels")
            }
            return values
        }
        transformerLayersPerBlock = try perLevel(r.intOrInts("transformer_layers_per_block"), "transformer_layers_per_block", fallback: 1)
        let headDim = try r.intOrInts("attention_head_dim"), heads = try r.intOrInts("num_attention_heads")
        attentionHeads = try perLevel(heads ?? headDim, heads != nil ? "num_attention_heads" : "attention_head_dim", fallback: 8)
        useLinearProjection = try r.bool("use_linear_projection", false)
        upcastAttention = try r.bool("upcast_attention", false)
        r.ignore(["dropout"])  // inference only
        try r.require("center_input_sample", equals: .bool(false), meaning: "inputs are used as given")
        try r.require("mid_block_type", equals: .string("UNetMidBlock2DCrossAttn"), meaning: "the cross-attention mid block")
        try r.require("only_cross_attention", equals: .bool(false), meaning: "every transformer block has self-attention")
        try r.require("downsample_padding", equals: .number(1.0), meaning: "3×3 stride-2 downsampling with padding 1")
        try r.require("mid_block_scale_factor", equals: .number(1.0), meaning: "no output scaling in the mid block")
        try r.require("act_fn", equals: .string("silu"), meaning: "SiLU activations")
        try r.require("encoder_hid_dim", equals: .null, meaning: "text states go to cross-attention unprojected")
        try r.require("encoder_hid_dim_type", equals: .null, meaning: "no encoder hidden-state projection")
        try r.require("dual_cross_attention", equals: .bool(false), meaning: "one cross-attention per block")
        try r.require("class_embed_type", equals: .null, meaning: "no class conditioning")
        try r.require("num_class_embeds", equals: .null, meaning: "no class conditioning")
        try r.require("addition_embed_type", equals: .null, meaning: "no added (SDXL-style) embeddings")
        try r.require("addition_time_embed_dim", equals: .null, meaning: "no added time embeddings")
        try r.require("addition_embed_type_num_heads", equals: .number(64.0), meaning: "no added embeddings")
        try r.require("projection_class_embeddings_input_dim", equals: .null, meaning: "no class projection")
        try r.require("class_embeddings_concat", equals: .bool(false), meaning: "no class embedding")
        try r.require("resnet_time_scale_shift", equals: .string("default"), meaning: "the time embedding is added, not scale-shift")
        try r.require("resnet_skip_time_act", equals: .bool(false), meaning: "SiLU before every time projection")
        try r.require("resnet_out_scale_factor", equals: .number(1.0), meaning: "no ResNet output scaling")
        try r.require("time_embedding_type", equals: .string("positional"), meaning: "sinusoidal time features")
        try r.require("time_embedding_dim", equals: .null, meaning: "time embedding width 4 × block_out_channels[0]")
        try r.require("time_embedding_act_fn", equals: .null, meaning: "no activation after the time embedding")
        try r.require("timestep_post_act", equals: .null, meaning: "no activation inside the time embedding's output")
        try r.require("time_cond_proj_dim", equals: .null, meaning: "no extra time condition")
        try r.require("conv_in_kernel", equals: .number(3.0), meaning: "3×3 conv_in")
        try r.require("conv_out_kernel", equals: .number(3.0), meaning: "3×3 conv_out")
        try r.require("attention_type", equals: .string("default"), meaning: "plain attention")
        try r.require("cross_attention_norm", equals: .null, meaning: "no normalization of the text states")
        try r.require("mid_block_only_cross_attention", equals: .null, meaning: "self-attention in the mid block")
        try r.require("reverse_transformer_layers_per_block", equals: .null, meaning: "up levels mirror the down levels")
        try validate(source: r.source)
    }

    /// Checks the block lists and channel counts fit together.
    public func validate(source: String = "UNet configuration") throws {
        func fail(_ message: String) -> StableDiffusionError { StableDiffusionError("\(source): \(message)") }
        guard levels >= 1, downBlockTypes.count == levels, upBlockTypes.count == levels else {
            throw fail("block_out_channels has \(levels) levels but down_block_types has \(downBlockTypes.count) and up_block_types \(upBlockTypes.count)")
        }
        for type in downBlockTypes where type != "CrossAttnDownBlock2D" && type != "DownBlock2D" {
            throw fail("down block type \"\(type)\" is not implemented (supported: CrossAttnDownBlock2D, DownBlock2D)")
        }
        for type in upBlockTypes where type != "CrossAttnUpBlock2D" && type != "UpBlock2D" {
            throw fail("up block type \"\(type)\" is not implemented (supported: CrossAttnUpBlock2D, UpBlock2D)")
        }
        typealias L = ConfigurationLimits
        try L.check([levels], "the number of levels", in: 1...8, source: source)
        try L.check(blockOutChannels, "block_out_channels", in: L.width, source: source)
        try L.check([normNumGroups], "norm_num_groups", in: L.width, source: source)
        try L.check([layersPerBlock], "layers_per_block", in: L.count, source: source)
        try L.check(transformerLayersPerBlock, "transformer_layers_per_block", in: L.count, source: source)
        try L.check(attentionHeads, "the attention head count", in: L.count, source: source)
        try L.check([inChannels, outChannels, crossAttentionDim], "in_channels, out_channels and cross_attention_dim", in: L.width, source: source)
        try L.check([sampleSize], "sample_size", in: 1...L.width.upperBound, source: source)
        try L.checkPositive(normEps, "norm_eps", source: source)
        for (level, channels) in blockOutChannels.enumerated() {
            guard channels > 0, channels % normNumGroups == 0 else {
                throw fail("level \(level) has \(channels) channels, not a positive multiple of norm_num_groups \(normNumGroups)")
            }
            guard attentionHeads[level] > 0, channels % attentionHeads[level] == 0 else {
                throw fail("level \(level): \(channels) channels do not split into \(attentionHeads[level]) attention heads")
            }
        }
        guard layersPerBlock >= 1, inChannels >= 1, outChannels >= 1, crossAttentionDim >= 1 else {
            throw fail("layers_per_block, in_channels, out_channels and cross_attention_dim must be positive")
        }
    }
}
