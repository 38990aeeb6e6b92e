// Contract: Stable Diffusion's variational autoencoder (Rombach et al. 2022, §3.1: the KL-
// regularized first stage; Kingma & Welling 2014 for the Gaussian posterior), a port of
// diffusers' `AutoencoderKL` with identical state-dict keys:
//   encoder: conv_in → down_blocks.N (ResNet blocks, stride-2 conv with (0,1,0,1) padding)
//            → mid_block (ResNet, single-head self-attention, ResNet) → conv_norm_out → SiLU
//            → conv_out → quant_conv → (mean, log-variance)
//   decoder: post_quant_conv → conv_in → mid_block → up_blocks.N (ResNet blocks, nearest ×2 +
//            conv) → conv_norm_out → SiLU → conv_out.
// Every GroupNorm has ε = 1e-6. Images are RGB in [-1, 1], [B, 3, H, W] with H and W multiples of
// 2^(levels−1) (8 for SD); latents [B, 4, H/8, W/8] *before* scaling — the diffusion model sees
// latents × `scalingFactor` (0.18215 for SD 1.x and 2.x). TAESD (Models/TAESD.swift) is the fast
// approximate alternative for the same latent space.

import Autograd
import Foundation
import Tensor

/// The hyper-parameters of an `AutoencoderKL` (diffusers' `vae/config.json` names).
public struct AutoencoderKLConfiguration: Equatable, Sendable {
    /// Image channels in.
    public var inChannels: Int = 3
    /// Image channels out.
    public var outChannels: Int = 3
    /// Channels per level, highest resolution first.
    public var blockOutChannels: [Int] = [128, 256, 512, 512]
    /// ResNet blocks per encoder level (decoder levels have one more).
    public var layersPerBlock: Int = 2
    /// Latent channels.
    public var latentChannels: Int = 4
    /// Groups of every GroupNorm.
    public var normNumGroups: Int = 32
    /// Image size the model was trained at (informational).
    public var sampleSize: Int = 512
    /// The factor that brings latents to unit variance for the diffusion model (SD: 0.18215).
    public var scalingFactor: Float = 0.18215
    /// Whether the mid blocks have their attention layer.
    public var midBlockAddAttention: Bool = true

    /// SD 1.5's configuration (also SD 2.x's).
    public init() {}

    /// The number of resolution levels.
    public var levels: Int { blockOutChannels.count }

    /// Reads diffusers' `vae/config.json`.
    /// - Throws: `StableDiffusionError` naming a field that is malformed, unknown or not implemented.
    public init(contentsOf url: URL) throws {
        var r = try ConfigurationReader(url: url)
        inChannels = try r.int("in_channels", 3)
        outChannels = try r.int("out_channels", 3)
        blockOutChannels = try r.ints("block_out_channels", [64])
        layersPerBlock = try r.int("layers_per_block", 1)
        latentChannels = try r.int("latent_channels", 4)
        normNumGroups = try r.int("norm_num_groups", 32)
        sampleSize = try r.int("sample_size", 32)
        scalingFactor = try r.float("scaling_factor", 0.18215)
        midBlockAddAttention = try r.bool("mid_block_add_attention", true)
        let downs = try r.strings("down_block_types", Array(repeating: "DownEncoderBlock2D", count: blockOutChannels.count))
        let ups = try r.strings("up_block_types", Array(repeating: "UpDecoderBlock2D", count: blockOutChannels.count))
        guard downs.count == blockOutChannels.count, ups.count == blockOutChannels.count,
              downs.allSatisfy({ $0 == "DownEncoderBlock2D" }), ups.allSatisfy({ $0 == "UpDecoderBlock2D" }) else {
            throw StableDiffusionError("\(url.path): down/up block types must be one DownEncoderBlock2D / UpDecoderBlock2D per level of block_out_channels, got \(downs) and \(ups)")
        }
        r.ignore(["force_upcast"])  // half-precision advice; computation here is Float32
        try r.require("act_fn", equals: .string("silu"), meaning: "SiLU activations")
        try r.require("shift_factor", equals: .null, meaning: "latents are only scaled, not shifted (SD 3 / Flux VAEs shift)")
        try r.require("latents_mean", equals: .null, meaning: "no per-channel latent statistics (SDXL-style)")
        try r.require("latents_std", equals: .null, meaning: "no per-channel latent statistics (SDXL-style)")
        try r.require("use_quant_conv", equals: .bool(true), meaning: "the 1×1 quant_conv after the encoder")
        try r.require("use_post_quant_conv", equals: .bool(true), meaning: "the 1×1 post_quant_conv before the decoder")
        try r.require("norm_type", equals: .string("group"), meaning: "GroupNorm in the decoder")
        try r.finish()
        typealias L = ConfigurationLimits
        try L.check([blockOutChannels.count], "the number of levels", in: 1...8, source: url.path)
        try L.check(blockOutChannels, "block_out_channels", in: L.width, source: url.path)
        try L.check([normNumGroups], "norm_num_groups", in: L.width, source: url.path)
        try L.check([layersPerBlock], "layers_per_block", in: L.count, source: url.path)
        try L.check([inChannels, outChannels, latentChannels], "in_channels, out_channels and latent_channels", in: L.width, source: url.path)
        try L.check([sampleSize], "sample_size", in: 1...L.width.upperBound, source: url.path)
        try L.checkPositive(scalingFactor, "scaling_factor", source: url.path)
        guard blockOutChannels.allSatisfy({ $0 > 0 && $0 % normNumGroups == 0 }), layersPerBlock >= 1 else {
            throw StableDiffusionError("\(url.path): every block_out_channels entry must be a positive multiple of norm_num_groups \(normNumGroups)")
        }
    }
}

/// One decoder level: `layers` ResNet blocks without time input, then nearest ×2 and a 3×3
/// convolution (diffusers `UpDecoderBlock2D`: `resnets.M`, `upsamplers.0`).
public final class UpDecoderBlock2D: Layer {
    /// The ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// The upsampler (absent on the last level).
    public let upsampler: Upsample2D?

    /// Creates the level.
    public init(inputChannels: Int, outputChannels: Int, layers: Int, addsUpsample: Bool, groups: Int,
                generator: inout some RandomTensorGenerator) {
        resnets = (0..<layers).map {
            ResnetBlock2D(inputChannels: $0 == 0 ? inputChannels : outputChannels, outputChannels: outputChannels,
                          timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6, dropout: 0, generator: &generator)
        }
        upsampler = addsUpsample ? Upsample2D(channels: outputChannels, generator: &generator) : nil
    }

    /// `resnets.M`, `upsamplers.0`.
    public var children: [(name: String, module: any Module)] {
        resnets.enumerated().map { ("resnets.\($0.offset)", $0.element as any Module) }
            + (upsampler.map { [("upsamplers.0", $0 as any Module)] } ?? [])
    }

    /// [B, Cin, H, W] → [B, Cout, 2H, 2W] (or H, W on the last level).
    public func callAsFunction(_ x: Variable) -> Variable {
        var h = x
        for resnet in resnets { h = resnet(h, activatedEmbedding: nil) }
        return upsampler?(h) ?? h
    }
}

/// The encoder half: image → 2 × latent channels (mean and log-variance) before `quant_conv`.
public final class VAEEncoder: Layer {
    /// 3×3 convolution from the image.
    public let convIn: Conv2d
    /// The levels, highest resolution first.
    public let downBlocks: [UNet2DDownBlock]
    /// ResNet, attention, ResNet at the lowest resolution.
    public let midBlock: UNet2DMidBlock
    /// The final GroupNorm.
    public let convNormOut: GroupNorm
    /// 3×3 convolution to 2 × latent channels.
    public let convOut: Conv2d

    /// Creates the encoder of `configuration`.
    public init(_ c: AutoencoderKLConfiguration, generator: inout some RandomTensorGenerator) {
        let channels = c.blockOutChannels, last = channels[c.levels - 1]
        convIn = Conv2d(inputChannels: c.inChannels, outputChannels: channels[0], kernelSize: 3, padding: 1, generator: &generator)
        downBlocks = (0..<c.levels).map { level in
            UNet2DDownBlock(inputChannels: level == 0 ? channels[0] : channels[level - 1], outputChannels: channels[level],
                            layers: c.layersPerBlock, timeEmbeddingChannels: nil, hasAttention: false, headDimension: nil,
                            addsDownsample: level < c.levels - 1, downsamplePadding: 0, groups: c.normNumGroups,
                            epsilon: 1e-6, dropout: 0, generator: &generator)
        }
        midBlock = UNet2DMidBlock(channels: last, timeEmbeddingChannels: nil, hasAttention: c.midBlockAddAttention,
                                  headDimension: last, groups: c.normNumGroups, epsilon: 1e-6, dropout: 0, generator: &generator)
        convNormOut = GroupNorm(groups: c.normNumGroups, channels: last, epsilon: 1e-6)
        convOut = Conv2d(inputChannels: last, outputChannels: 2 * c.latentChannels, kernelSize: 3, padding: 1, generator: &generator)
    }

    /// diffusers' names.
    public var children: [(name: String, module: any Module)] {
        [("conv_in", convIn)] + downBlocks.enumerated().map { ("down_blocks.\($0.offset)", $0.element as any Module) }
            + [("mid_block", midBlock), ("conv_norm_out", convNormOut), ("conv_out", convOut)]
    }

    /// [B, 3, H, W] → [B, 2·latent, H/f, W/f].
    public func callAsFunction(_ x: Variable) -> Variable {
        var h = convIn(x)
        for block in downBlocks { h = block(h, activatedEmbedding: nil).output }
        h = midBlock(h, activatedEmbedding: nil)
        return convOut(convNormOut.thenSiLU(h))
    }
}

/// The decoder half: latent (after `post_quant_conv`) → image.
public final class VAEDecoder: Layer {
    /// 3×3 convolution from the latent.
    public let convIn: Conv2d
    /// ResNet, attention, ResNet at the lowest resolution.
    public let midBlock: UNet2DMidBlock
    /// The levels, lowest resolution first.
    public let upBlocks: [UpDecoderBlock2D]
    /// The final GroupNorm.
    public let convNormOut: GroupNorm
    /// 3×3 convolution to the image channels.
    public let convOut: Conv2d

    /// Creates the decoder of `configuration`.
    public init(_ c: AutoencoderKLConfiguration, generator: inout some RandomTensorGenerator) {
        let reversed = Array(c.blockOutChannels.reversed())
        convIn = Conv2d(inputChannels: c.latentChannels, outputChannels: reversed[0], kernelSize: 3, padding: 1, generator: &generator)
        midBlock = UNet2DMidBlock(channels: reversed[0], timeEmbeddingChannels: nil, hasAttention: c.midBlockAddAttention,
                                  headDimension: reversed[0], groups: c.normNumGroups, epsilon: 1e-6, dropout: 0, generator: &generator)
        upBlocks = (0..<c.levels).map { i in
            UpDecoderBlock2D(inputChannels: reversed[max(i - 1, 0)], outputChannels: reversed[i], layers: c.layersPerBlock + 1,
                             addsUpsample: i < c.levels - 1, groups: c.normNumGroups, generator: &generator)
        }
        convNormOut = GroupNorm(groups: c.normNumGroups, channels: c.blockOutChannels[0], epsilon: 1e-6)
        convOut = Conv2d(inputChannels: c.blockOutChannels[0], outputChannels: c.outChannels, kernelSize: 3, padding: 1, generator: &generator)
    }

    /// diffusers' names.
    public var children: [(name: String, module: any Module)] {
        [("conv_in", convIn), ("mid_block", midBlock)]
            + upBlocks.enumerated().map { ("up_blocks.\($0.offset)", $0.element as any Module) }
            + [("conv_norm_out", convNormOut), ("conv_out", convOut)]
    }

    /// [B, latent, h, w] → [B, 3, h·f, w·f].
    public func callAsFunction(_ z: Variable) -> Variable {
        var h = midBlock(convIn(z), activatedEmbedding: nil)
        for block in upBlocks { h = block(h) }
        return convOut(convNormOut.thenSiLU(h))
    }
}

/// The encoder's output: a diagonal Gaussian over latents (diffusers
/// `DiagonalGaussianDistribution`; log-variance clamped to [-30, 20] as there).
public struct LatentDistribution {
    /// The mean, [B, latent, h, w] (unscaled latents).
    public let mean: Tensor
    /// The log-variance, same shape.
    public let logVariance: Tensor

    /// The mode (the mean): what img2img pipelines use with `sample_mode="argmax"`.
    public var mode: Tensor { mean }

    /// mean + exp(logvar / 2) · noise, with noise drawn from `generator` shaped like the mean
    /// (with `TorchGenerator` this is diffusers' `latent_dist.sample(generator)`).
    public func sample(generator: inout some RandomTensorGenerator) -> Tensor {
        let noise = generator.randn(mean.shape)
        return mean + (logVariance * 0.5).exp() * noise
    }
}

/// Stable Diffusion's KL autoencoder (diffusers `AutoencoderKL`).
public final class AutoencoderKL: Module {
    /// The hyper-parameters.
    public let configuration: AutoencoderKLConfiguration
    /// Image → moments.
    public let encoder: VAEEncoder
    /// Latent → image.
    public let decoder: VAEDecoder
    /// 1×1 convolution on the encoder's moments.
    public let quantConv: Conv2d
    /// 1×1 convolution on the latent before the decoder.
    public let postQuantConv: Conv2d

    /// Builds the autoencoder (`DeferredWeights()` when weights are loaded next).
    public init(configuration: AutoencoderKLConfiguration, generator: inout some RandomTensorGenerator) {
        self.configuration = configuration
        let c = configuration
        encoder = VAEEncoder(c, generator: &generator)
        decoder = VAEDecoder(c, generator: &generator)
        quantConv = Conv2d(inputChannels: 2 * c.latentChannels, outputChannels: 2 * c.latentChannels, kernelSize: 1, generator: &generator)
        postQuantConv = Conv2d(inputChannels: c.latentChannels, outputChannels: c.latentChannels, kernelSize: 1, generator: &generator)
    }

    /// `encoder`, `decoder`, `quant_conv`, `post_quant_conv`.
    public var children: [(name: String, module: any Module)] {
        [("encoder", encoder), ("decoder", decoder), ("quant_conv", quantConv), ("post_quant_conv", postQuantConv)]
    }

    /// The spatial downsampling factor (8 for SD).
    public var downsamplingFactor: Int { 1 << (configuration.levels - 1) }

    /// The posterior of images [B, 3, H, W] in [-1, 1] (H, W multiples of `downsamplingFactor`).
    public func encode(_ images: Tensor) -> LatentDistribution {
        precondition(images.rank == 4 && images.shape[1] == configuration.inChannels
                     && images.shape[2] % downsamplingFactor == 0 && images.shape[3] % downsamplingFactor == 0,
                     "AutoencoderKL.encode: images must be [B, \(configuration.inChannels), H, W] with H, W multiples of \(downsamplingFactor), got \(images.shape)")
        let moments = withoutGradients { quantConv(encoder(Variable(images))).value }
        let k = configuration.latentChannels
        let mean = moments.sliced(axis: 1, start: 0, end: k).contiguous()
        let logVariance = moments.sliced(axis: 1, start: k, end: 2 * k).map { Swift.min(Swift.max($0, -30), 20) }
        return LatentDistribution(mean: mean, logVariance: logVariance)
    }

    /// Images [B, 3, H·f, W·f] (about [-1, 1]) from unscaled latents [B, latent, H, W]; divide
    /// the diffusion model's latents by `scalingFactor` first.
    public func decode(_ latents: Tensor) -> Tensor {
        precondition(latents.rank == 4 && latents.shape[1] == configuration.latentChannels,
                     "AutoencoderKL.decode: latents must be [B, \(configuration.latentChannels), h, w], got \(latents.shape)")
        return withoutGradients { decoder(postQuantConv(Variable(latents))).value }
    }
}
