// Contract: the configuration of a `UNet2D`, with the field names of diffusers' `UNet2DModel`
// `config.json`, so the JSON written next to a checkpoint loads in diffusers
// (`UNet2DModel.from_config(json.load(...))`) and a diffusers config of a supported model decodes
// here. Fields diffusers has but this port does not implement (Fourier time embeddings,
// scale-shift time conditioning, ...) are decoded when present and `validate()` rejects values
// other than the defaults, naming the field, instead of silently building a different network.

import Foundation

/// The hyper-parameters of a `UNet2D` (diffusers `UNet2DModel` config names).
public struct UNet2DConfiguration: Codable, Equatable, Sendable {
    /// Height and width of the images the model was trained on (informational, as in diffusers).
    public var sampleSize: Int
    /// Channels of the input image.
    public var inChannels: Int
    /// Channels of the output (the eps or v prediction).
    public var outChannels: Int
    /// Channels at each resolution level, highest resolution first.
    public var blockOutChannels: [Int]
    /// `DownBlock2D` or `AttnDownBlock2D` per level.
    public var downBlockTypes: [String]
    /// `UpBlock2D` or `AttnUpBlock2D` per level, lowest resolution first.
    public var upBlockTypes: [String]
    /// ResNet blocks per down level (up levels have one more, for the extra skip connection).
    public var layersPerBlock: Int
    /// Channels per attention head; nil means one head spanning all channels.
    public var attentionHeadDim: Int?
    /// Groups of every group normalization.
    public var normNumGroups: Int
    /// ε of every group normalization.
    public var normEps: Float
    /// Number of classes for class conditioning (an embedding added to the time embedding), or nil.
    public var numClassEmbeds: Int?
    /// Order the sinusoidal embedding as [cos, sin] (true, diffusers' default) or [sin, cos].
    public var flipSinToCos: Bool
    /// The frequency shift `downscale_freq_shift` of the sinusoidal embedding.
    public var freqShift: Int
    /// Width of the time embedding MLP; nil means 4 × blockOutChannels[0].
    public var timeEmbeddingDim: Int?
    /// Dropout probability inside the ResNet blocks.
    public var dropout: Float
    /// Whether the mid block has its attention layer.
    public var addAttention: Bool

    // Fields present in diffusers configs whose non-default values this port does not implement.
    /// Must be "positional".
    public var timeEmbeddingType: String?
    /// Must be "default".
    public var resnetTimeScaleShift: String?
    /// Must be nil (class conditioning is `numClassEmbeds`).
    public var classEmbedType: String?
    /// Must be false.
    public var centerInputSample: Bool?
    /// Must be "conv".
    public var downsampleType: String?
    /// Must be "conv".
    public var upsampleType: String?
    /// Must be "silu".
    public var actFn: String?
    /// Must be 1.
    public var midBlockScaleFactor: Float?
    /// Must be 1.
    public var downsamplePadding: Int?
    /// Must be "UNetMidBlock2D".
    public var midBlockType: String?
    /// Must be nil or equal to `normNumGroups`.
    public var attnNormNumGroups: Int?
    /// The diffusers class name, "UNet2DModel".
    public var className: String?

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", inChannels = "in_channels", outChannels = "out_channels"
        case blockOutChannels = "block_out_channels", downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types", layersPerBlock = "layers_per_block"
        case attentionHeadDim = "attention_head_dim", normNumGroups = "norm_num_groups", normEps = "norm_eps"
        case numClassEmbeds = "num_class_embeds", flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift"
        case timeEmbeddingDim = "time_embedding_dim", dropout, addAttention = "add_attention"
        case timeEmbeddingType = "time_embedding_type", resnetTimeScaleShift = "resnet_time_scale_shift"
        case classEmbedType = "class_embed_type", centerInputSample = "center_input_sample"
        case downsampleType = "downsample_type", upsampleType = "upsample_type", actFn = "act_fn"
        case midBlockScaleFactor = "mid_block_scale_factor", downsamplePadding = "downsample_padding"
        case midBlockType = "mid_block_type", attnNormNumGroups = "attn_norm_num_groups"
        case className = "_class_name"
    }

    /// Creates a configuration; `attentionLevels` lists the levels (0 = full resolution) whose
    /// down and up blocks have self-attention after each ResNet block.
    public init(sampleSize: Int = 32, inChannels: Int = 1, outChannels: Int = 1,
                blockOutChannels: [Int] = [32, 64, 128, 128], layersPerBlock: Int = 1,
                attentionLevels: Set<Int> = [3], attentionHeadDim: Int? = 32, normNumGroups: Int = 32,
                normEps: Float = 1e-5, numClassEmbeds: Int? = nil, timeEmbeddingDim: Int? = nil,
                dropout: Float = 0, addAttention: Bool = true) {
        self.sampleSize = sampleSize
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        let levels = blockOutChannels.indices
        downBlockTypes = levels.map { attentionLevels.contains($0) ? "AttnDownBlock2D" : "DownBlock2D" }
        upBlockTypes = levels.reversed().map { attentionLevels.contains($0) ? "AttnUpBlock2D" : "UpBlock2D" }
        self.attentionHeadDim = attentionHeadDim
        self.normNumGroups = normNumGroups
        self.normEps = normEps
        self.numClassEmbeds = numClassEmbeds
        flipSinToCos = true
        freqShift = 0
        self.timeEmbeddingDim = timeEmbeddingDim
        self.dropout = dropout
        self.addAttention = addAttention
        timeEmbeddingType = "positional"
        resnetTimeScaleShift = "default"
        classEmbedType = nil
        centerInputSample = false
        downsampleType = "conv"
        upsampleType = "conv"
        actFn = "silu"
        midBlockScaleFactor = 1
        downsamplePadding = 1
        midBlockType = "UNetMidBlock2D"
        attnNormNumGroups = nil
        className = "UNet2DModel"
    }

    /// Decodes a configuration, filling diffusers' defaults for absent fields.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sampleSize) ?? 32
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        blockOutChannels = try c.decode([Int].self, forKey: .blockOutChannels)
        downBlockTypes = try c.decode([String].self, forKey: .downBlockTypes)
        upBlockTypes = try c.decode([String].self, forKey: .upBlockTypes)
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 2
        // diffusers' default is 8; an explicit null means "one head per block".
        attentionHeadDim = c.contains(.attentionHeadDim) ? try c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) : 8
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        numClassEmbeds = try c.decodeIfPresent(Int.self, forKey: .numClassEmbeds)
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? true
        freqShift = try c.decodeIfPresent(Int.self, forKey: .freqShift) ?? 0
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        addAttention = try c.decodeIfPresent(Bool.self, forKey: .addAttention) ?? true
        timeEmbeddingType = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingType)
        resnetTimeScaleShift = try c.decodeIfPresent(String.self, forKey: .resnetTimeScaleShift)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        centerInputSample = try c.decodeIfPresent(Bool.self, forKey: .centerInputSample)
        downsampleType = try c.decodeIfPresent(String.self, forKey: .downsampleType)
        upsampleType = try c.decodeIfPresent(String.self, forKey: .upsampleType)
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn)
        midBlockScaleFactor = try c.decodeIfPresent(Float.self, forKey: .midBlockScaleFactor)
        downsamplePadding = try c.decodeIfPresent(Int.self, forKey: .downsamplePadding)
        midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType)
        attnNormNumGroups = try c.decodeIfPresent(Int.self, forKey: .attnNormNumGroups)
        className = try c.decodeIfPresent(String.self, forKey: .className)
    }

    /// Encodes every field, nil ones as JSON null (diffusers writes them that way too).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sampleSize, forKey: .sampleSize)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(outChannels, forKey: .outChannels)
        try c.encode(blockOutChannels, forKey: .blockOutChannels)
        try c.encode(downBlockTypes, forKey: .downBlockTypes)
        try c.encode(upBlockTypes, forKey: .upBlockTypes)
        try c.encode(layersPerBlock, forKey: .layersPerBlock)
        try c.encode(attentionHeadDim, forKey: .attentionHeadDim)
        try c.encode(normNumGroups, forKey: .normNumGroups)
        try c.encode(normEps, forKey: .normEps)
        try c.encode(numClassEmbeds, forKey: .numClassEmbeds)
        try c.encode(flipSinToCos, forKey: .flipSinToCos)
        try c.encode(freqShift, forKey: .freqShift)
        try c.encode(timeEmbeddingDim, forKey: .timeEmbeddingDim)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(addAttention, forKey: .addAttention)
        try c.encode(timeEmbeddingType, forKey: .timeEmbeddingType)
        try c.encode(resnetTimeScaleShift, forKey: .resnetTimeScaleShift)
        try c.encode(classEmbedType, forKey: .classEmbedType)
        try c.encode(centerInputSample, forKey: .centerInputSample)
        try c.encode(downsampleType, forKey: .downsampleType)
        try c.encode(upsampleType, forKey: .upsampleType)
        try c.encode(actFn, forKey: .actFn)
        try c.encode(midBlockScaleFactor, forKey: .midBlockScaleFactor)
        try c.encode(downsamplePadding, forKey: .downsamplePadding)
        try c.encode(midBlockType, forKey: .midBlockType)
        try c.encode(attnNormNumGroups, forKey: .attnNormNumGroups)
        try c.encode(className, forKey: .className)
    }

    /// Width of the time embedding (4 × the first level's channels unless set).
    public var timeEmbeddingWidth: Int { timeEmbeddingDim ?? blockOutChannels[0] * 4 }

    /// The levels whose down block has attention.
    public var attentionLevels: [Int] { downBlockTypes.indices.filter { downBlockTypes[$0] == "AttnDownBlock2D" } }

    /// A lower bound of the network's parameter count from its sizes alone (the two 3×3
    /// convolutions of every ResNet block, down and up), computed in Double so that no
    /// configuration overflows; used to refuse, before allocating, a network that cannot fit.
    public var minimumParameterCount: Int {
        let convolutions = (2 * Double(layersPerBlock) + 1) * 2        // down: layers, up: layers + 1; two convs each
        let total = blockOutChannels.reduce(0.0) { $0 + convolutions * 9 * Double($1) * Double($1) }
        return total < 1e18 ? Int(total) : Int(1e18)
    }

    /// How many times the input is halved (one less than the number of levels).
    public var downsamplingFactor: Int { 1 << (blockOutChannels.count - 1) }

    /// Throws a `ConfigurationError` naming the first field this port cannot build or whose
    /// sizes do not fit together: every number is range-checked (`ConfigurationLimits`) before
    /// any division or allocation, group counts must divide the channels, head dimensions the
    /// attention widths, and the network's Float32 weights must fit in memory.
    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw ConfigurationError(description: "UNet2DModel config: \(message)") }
        typealias L = ConfigurationLimits
        let source = "UNet2DModel config"
        let levels = blockOutChannels.count
        if levels == 0 { try fail("block_out_channels is empty; give at least one level, e.g. [32, 64]") }
        try L.check([levels], "the number of levels (entries of block_out_channels)", in: L.levels, source: source)
        try L.check(blockOutChannels, "block_out_channels", in: L.width, source: source)
        try L.check([inChannels], "in_channels", in: L.width, source: source)
        try L.check([outChannels], "out_channels", in: L.width, source: source)
        try L.check([layersPerBlock], "layers_per_block", in: L.count, source: source)
        try L.check([normNumGroups], "norm_num_groups", in: L.width, source: source)
        try L.check([sampleSize], "sample_size", in: L.width, source: source)
        try L.checkPositive(normEps, "norm_eps", source: source)
        if let h = attentionHeadDim { try L.check([h], "attention_head_dim", in: L.width, source: source) }
        if let d = timeEmbeddingDim { try L.check([d], "time_embedding_dim", in: L.width, source: source) }
        if let n = numClassEmbeds { try L.check([n], "num_class_embeds", in: L.classes, source: source) }
        // The sinusoidal embedding divides by (half width − freq_shift): keep it positive.
        try L.check([freqShift], "freq_shift", in: 0...max(0, blockOutChannels[0] / 2 - 1), source: source)
        if !dropout.isFinite || !(0..<1).contains(dropout) { try fail("dropout is \(dropout), outside the allowed [0, 1)") }
        if downBlockTypes.count != levels || upBlockTypes.count != levels {
            try fail("down_block_types (\(downBlockTypes.count)) and up_block_types (\(upBlockTypes.count)) need one entry per level of block_out_channels (\(levels))")
        }
        for t in downBlockTypes where t != "DownBlock2D" && t != "AttnDownBlock2D" {
            try fail("down block type \"\(t)\" is not supported; use DownBlock2D or AttnDownBlock2D")
        }
        for t in upBlockTypes where t != "UpBlock2D" && t != "AttnUpBlock2D" {
            try fail("up block type \"\(t)\" is not supported; use UpBlock2D or AttnUpBlock2D")
        }
        for (i, c) in blockOutChannels.enumerated() where c % normNumGroups != 0 {
            try fail("norm_num_groups \(normNumGroups) does not divide the \(c) channels of level \(i) (block_out_channels \(blockOutChannels)); every entry must be a multiple of it")
        }
        if let h = attentionHeadDim {
            for (i, t) in downBlockTypes.enumerated() where t == "AttnDownBlock2D" && blockOutChannels[i] % h != 0 {
                try fail("attention_head_dim \(h) does not divide the \(blockOutChannels[i]) channels of level \(i)")
            }
            if addAttention && blockOutChannels[levels - 1] % h != 0 {
                try fail("attention_head_dim \(h) does not divide the \(blockOutChannels[levels - 1]) channels of the mid block")
            }
        }
        // The weights must fit in memory before any layer is allocated.
        try L.checkMemory(count: minimumParameterCount, bytesEach: 4, what: "Float32 parameters (the least a UNet of these sizes has)",
                          source: source)
        let unsupported: [(String, Bool)] = [
            ("time_embedding_type \(timeEmbeddingType ?? "") (only \"positional\")", (timeEmbeddingType ?? "positional") != "positional"),
            ("resnet_time_scale_shift \(resnetTimeScaleShift ?? "") (only \"default\")", (resnetTimeScaleShift ?? "default") != "default"),
            ("class_embed_type \(classEmbedType ?? "") (only null; use num_class_embeds)", classEmbedType != nil),
            ("center_input_sample true", centerInputSample == true),
            ("downsample_type \(downsampleType ?? "") (only \"conv\")", (downsampleType ?? "conv") != "conv"),
            ("upsample_type \(upsampleType ?? "") (only \"conv\")", (upsampleType ?? "conv") != "conv"),
            ("act_fn \(actFn ?? "") (only \"silu\")", (actFn ?? "silu") != "silu"),
            ("mid_block_scale_factor \(midBlockScaleFactor ?? 1) (only 1)", (midBlockScaleFactor ?? 1) != 1),
            ("downsample_padding \(downsamplePadding ?? 1) (only 1)", (downsamplePadding ?? 1) != 1),
            ("mid_block_type \(midBlockType ?? "") (only \"UNetMidBlock2D\")", (midBlockType ?? "UNetMidBlock2D") != "UNetMidBlock2D"),
            ("attn_norm_num_groups \(attnNormNumGroups ?? 0) (only null or norm_num_groups)", attnNormNumGroups != nil && attnNormNumGroups != normNumGroups),
        ]
        if let bad = unsupported.first(where: \.1) { try fail("unsupported UNet2DModel option: \(bad.0)") }
    }
}
