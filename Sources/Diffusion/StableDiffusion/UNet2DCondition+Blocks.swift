// Contract: the text-conditioned blocks of Stable Diffusion's UNet, each a port of the diffusers
// class of the same role with the same parameter names (so the state-dict keys of
// `UNet2DConditionModel` load by name):
//   Transformer2DModel        norm, proj_in, transformer_blocks.N, proj_out
//   BasicTransformerBlock     norm1, attn1 (self), norm2, attn2 (cross), norm3, ff.net.{0.proj, 2}
//   CrossAttnDownBlock2D      resnets.M, attentions.M, downsamplers.0   (DownBlock2D: no attentions)
//   UNetMidBlock2DCrossAttn   resnets.0, attentions.0, resnets.1
//   CrossAttnUpBlock2D        resnets.M, attentions.M, upsamplers.0     (UpBlock2D: no attentions)
// The ResNet blocks, down/upsamplers and time embedding are the ones `UNet2D` uses
// (Models/UNet2D+Blocks.swift). Shapes: x [B, C, H, W]; text states [B, S, crossAttentionDim];
// activated time embedding silu(e) [B, E].

import Autograd
import Foundation
import Tensor

/// The GEGLU feed-forward of a transformer block (Shazeer 2020, "GLU Variants Improve
/// Transformer", eq. 6): `net.0.proj` maps C → 2·4C, the halves a, g give a·GELU(g), and `net.2`
/// maps 4C → C (diffusers `FeedForward` with `activation_fn="geglu"`; `net.1` is dropout).
public final class GEGLUFeedForward: Layer {
    /// The projection to both halves (`net.0.proj`).
    public let projection: Linear
    /// The output projection (`net.2`).
    public let output: Linear

    /// Creates the feed-forward for width `dimension` with a 4× inner width.
    public init(dimension: Int, generator: inout some RandomTensorGenerator) {
        projection = Linear(inputFeatures: dimension, outputFeatures: 8 * dimension, generator: &generator)
        output = Linear(inputFeatures: 4 * dimension, outputFeatures: dimension, generator: &generator)
    }

    /// `net.0.proj`, `net.2`.
    public var children: [(name: String, module: any Module)] { [("net.0.proj", projection), ("net.2", output)] }

    /// x [..., C] → [..., C]; the gate a·GELU(g) is one fused pass (`Variable.gatedGELU`).
    public func callAsFunction(_ x: Variable) -> Variable {
        output(projection(x).gatedGELU())
    }
}

/// One transformer block of the UNet (diffusers `BasicTransformerBlock`, pre-LayerNorm):
/// x += attn1(norm1(x)); x += attn2(norm2(x), text); x += ff(norm3(x)).
public final class BasicTransformerBlock: Module {
    /// LayerNorm before self-attention.
    public let norm1: LayerNorm
    /// Self-attention over the image positions.
    public let attn1: Attention
    /// LayerNorm before cross-attention.
    public let norm2: LayerNorm
    /// Cross-attention from the positions to the text states.
    public let attn2: Attention
    /// LayerNorm before the feed-forward.
    public let norm3: LayerNorm
    /// The GEGLU feed-forward.
    public let feedForward: GEGLUFeedForward

    /// Creates the block for width `dimension` = heads × headDimension.
    public init(dimension: Int, heads: Int, headDimension: Int, contextDimension: Int,
                generator: inout some RandomTensorGenerator) {
        norm1 = LayerNorm(dimension: dimension)
        attn1 = Attention(queryDimension: dimension, heads: heads, headDimension: headDimension, generator: &generator)
        norm2 = LayerNorm(dimension: dimension)
        attn2 = Attention(queryDimension: dimension, contextDimension: contextDimension, heads: heads,
                          headDimension: headDimension, generator: &generator)
        norm3 = LayerNorm(dimension: dimension)
        feedForward = GEGLUFeedForward(dimension: dimension, generator: &generator)
    }

    /// diffusers' names.
    public var children: [(name: String, module: any Module)] {
        [("norm1", norm1), ("attn1", attn1), ("norm2", norm2), ("attn2", attn2), ("norm3", norm3), ("ff", feedForward)]
    }

    /// x [B, T, C] with text states [B, S, Dc] → [B, T, C].
    public func callAsFunction(_ x: Variable, context: Variable) -> Variable {
        var h = x + attn1(norm1(x))
        h = h + attn2(norm2(h), context: context)
        return h + feedForward(norm3(h))
    }
}

/// The attention layer of the UNet's levels (diffusers `Transformer2DModel`, continuous input):
/// GroupNorm (ε 1e-6), proj_in, transformer blocks over the H·W positions, proj_out, plus the
/// input. The projections are 1×1 convolutions (SD 1.x) or linear layers applied after the
/// reshape to tokens (SD 2.x, `use_linear_projection`): the same map, stored differently.
public final class Transformer2DModel: Module {
    /// GroupNorm of the input.
    public let norm: GroupNorm
    /// Input projection: a 1×1 `Conv2d` or a `Linear`.
    public let projectionIn: any Module
    /// The transformer blocks.
    public let transformerBlocks: [BasicTransformerBlock]
    /// Output projection: a 1×1 `Conv2d` or a `Linear`.
    public let projectionOut: any Module

    /// Creates the layer for `channels` = heads × headDimension channels.
    public init(channels: Int, heads: Int, layers: Int, contextDimension: Int, groups: Int, linearProjection: Bool,
                generator: inout some RandomTensorGenerator) {
        norm = GroupNorm(groups: groups, channels: channels, epsilon: 1e-6)
        func projection(_ generator: inout some RandomTensorGenerator) -> any Module {
            linearProjection ? Linear(inputFeatures: channels, outputFeatures: channels, generator: &generator)
                : Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 1, generator: &generator)
        }
        projectionIn = projection(&generator)
        transformerBlocks = (0..<layers).map { _ in
            BasicTransformerBlock(dimension: channels, heads: heads, headDimension: channels / heads,
                                  contextDimension: contextDimension, generator: &generator)
        }
        projectionOut = projection(&generator)
    }

    /// `norm`, `proj_in`, `transformer_blocks.N`, `proj_out`.
    public var children: [(name: String, module: any Module)] {
        [("norm", norm), ("proj_in", projectionIn)]
            + transformerBlocks.enumerated().map { ("transformer_blocks.\($0.offset)", $0.element as any Module) }
            + [("proj_out", projectionOut)]
    }

    /// x [B, C, H, W] attending to text states [B, S, Dc] → [B, C, H, W].
    public func callAsFunction(_ x: Variable, context: Variable) -> Variable {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        // The tokens are copied row-major once here, so the blocks' LayerNorm and residual sum
        // read them contiguously instead of each walking the transposed view.
        func toTokens(_ v: Variable) -> Variable { v.reshaped([batch, channels, height * width]).transposed(1, 2).contiguous() }
        func toImage(_ v: Variable) -> Variable { v.transposed(1, 2).reshaped([batch, channels, height, width]) }
        var h = norm(x)
        if let conv = projectionIn as? Conv2d {
            h = toTokens(conv(h))
        } else if let linear = projectionIn as? Linear {
            h = linear(toTokens(h))
        }
        for block in transformerBlocks { h = block(h, context: context) }
        if let conv = projectionOut as? Conv2d {
            h = conv(toImage(h))
        } else if let linear = projectionOut as? Linear {
            h = toImage(linear(h))
        }
        return h + x
    }
}

/// The ResNet blocks of one down or up level of `c`, block i taking `inputChannels[i]` channels,
/// each followed by a `Transformer2DModel` when `hasAttention`; created (and so initialized from
/// `generator`) in diffusers' order: resnet 0, attention 0, resnet 1, ...
func makeCrossAttentionStack(_ c: UNet2DConditionConfiguration, inputChannels: [Int], outputChannels: Int,
                             hasAttention: Bool, heads: Int, transformerLayers: Int,
                             generator: inout some RandomTensorGenerator) -> ([ResnetBlock2D], [Transformer2DModel]) {
    var resnets: [ResnetBlock2D] = [], attentions: [Transformer2DModel] = []
    for input in inputChannels {
        resnets.append(ResnetBlock2D(inputChannels: input, outputChannels: outputChannels,
                                     timeEmbeddingChannels: c.timeEmbeddingDim, groups: c.normNumGroups,
                                     epsilon: c.normEps, dropout: 0, generator: &generator))
        if hasAttention {
            attentions.append(Transformer2DModel(channels: outputChannels, heads: heads, layers: transformerLayers,
                                                 contextDimension: c.crossAttentionDim, groups: c.normNumGroups,
                                                 linearProjection: c.useLinearProjection, generator: &generator))
        }
    }
    return (resnets, attentions)
}

/// One level of the contracting path: ResNet blocks, each followed by a `Transformer2DModel`
/// when the level has cross-attention, then an optional downsampler (diffusers
/// `CrossAttnDownBlock2D` / `DownBlock2D`). Every block's output is kept as a skip connection.
public final class CrossAttentionDownBlock: Module {
    /// The ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// One attention layer per ResNet block (empty for `DownBlock2D`).
    public let attentions: [Transformer2DModel]
    /// The downsampler (absent on the last level).
    public let downsampler: Downsample2D?

    /// Creates level `level` of `configuration`.
    init(_ c: UNet2DConditionConfiguration, level: Int, generator: inout some RandomTensorGenerator) {
        let output = c.blockOutChannels[level], input = level == 0 ? c.blockOutChannels[0] : c.blockOutChannels[level - 1]
        let inputs = (0..<c.layersPerBlock).map { $0 == 0 ? input : output }
        (resnets, attentions) = makeCrossAttentionStack(
            c, inputChannels: inputs, outputChannels: output, hasAttention: c.downBlockTypes[level] == "CrossAttnDownBlock2D",
            heads: c.attentionHeads[level], transformerLayers: c.transformerLayersPerBlock[level], generator: &generator)
        downsampler = level == c.levels - 1 ? nil : Downsample2D(channels: output, generator: &generator)
    }

    /// `resnets.M`, `attentions.M`, `downsamplers.0`.
    public var children: [(name: String, module: any Module)] {
        resnets.enumerated().map { ("resnets.\($0.offset)", $0.element as any Module) }
            + attentions.enumerated().map { ("attentions.\($0.offset)", $0.element as any Module) }
            + (downsampler.map { [("downsamplers.0", $0 as any Module)] } ?? [])
    }

    /// The level's output; appends its skip connections to `skips`.
    func callAsFunction(_ x: Variable, activatedEmbedding: Variable, context: Variable, skips: inout [Variable]) -> Variable {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            h = resnet(h, activatedEmbedding: activatedEmbedding)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            skips.append(h)
        }
        return h
    }
}

/// The bottleneck: ResNet block, `Transformer2DModel`, ResNet block (diffusers
/// `UNetMidBlock2DCrossAttn`).
public final class CrossAttentionMidBlock: Module {
    /// The two ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// The attention layer between them.
    public let attention: Transformer2DModel

    /// Creates the mid block of `configuration`.
    init(_ c: UNet2DConditionConfiguration, generator: inout some RandomTensorGenerator) {
        let channels = c.blockOutChannels[c.levels - 1]
        func resnet(_ generator: inout some RandomTensorGenerator) -> ResnetBlock2D {
            ResnetBlock2D(inputChannels: channels, outputChannels: channels, timeEmbeddingChannels: c.timeEmbeddingDim,
                          groups: c.normNumGroups, epsilon: c.normEps, dropout: 0, generator: &generator)
        }
        let first = resnet(&generator)
        attention = Transformer2DModel(channels: channels, heads: c.attentionHeads[c.levels - 1],
                                       layers: c.transformerLayersPerBlock[c.levels - 1], contextDimension: c.crossAttentionDim,
                                       groups: c.normNumGroups, linearProjection: c.useLinearProjection, generator: &generator)
        resnets = [first, resnet(&generator)]
    }

    /// `attentions.0`, `resnets.0`, `resnets.1`.
    public var children: [(name: String, module: any Module)] {
        [("attentions.0", attention), ("resnets.0", resnets[0]), ("resnets.1", resnets[1])]
    }

    /// resnet → attention → resnet.
    func callAsFunction(_ x: Variable, activatedEmbedding: Variable, context: Variable) -> Variable {
        let h = attention(resnets[0](x, activatedEmbedding: activatedEmbedding), context: context)
        return resnets[1](h, activatedEmbedding: activatedEmbedding)
    }
}

/// One level of the expanding path: `layersPerBlock + 1` ResNet blocks, each taking the previous
/// output concatenated with a skip connection, each followed by a `Transformer2DModel` when the
/// level has cross-attention, then an optional upsampler (diffusers `CrossAttnUpBlock2D` /
/// `UpBlock2D`).
public final class CrossAttentionUpBlock: Module {
    /// The ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// One attention layer per ResNet block (empty for `UpBlock2D`).
    public let attentions: [Transformer2DModel]
    /// The upsampler (absent on the last, full-resolution level).
    public let upsampler: Upsample2D?

    /// Creates up level `index` (0 = lowest resolution) of `configuration`.
    init(_ c: UNet2DConditionConfiguration, index: Int, generator: inout some RandomTensorGenerator) {
        let reversed = Array(c.blockOutChannels.reversed()), heads = Array(c.attentionHeads.reversed())
        let layers = Array(c.transformerLayersPerBlock.reversed())
        let output = reversed[index], previous = reversed[max(index - 1, 0)]
        let input = reversed[min(index + 1, c.levels - 1)]
        let count = c.layersPerBlock + 1
        // Each block takes the previous output concatenated with its skip connection.
        let inputs = (0..<count).map { j in (j == 0 ? previous : output) + (j == count - 1 ? input : output) }
        (resnets, attentions) = makeCrossAttentionStack(
            c, inputChannels: inputs, outputChannels: output, hasAttention: c.upBlockTypes[index] == "CrossAttnUpBlock2D",
            heads: heads[index], transformerLayers: layers[index], generator: &generator)
        upsampler = index == c.levels - 1 ? nil : Upsample2D(channels: output, generator: &generator)
    }

    /// `resnets.M`, `attentions.M`, `upsamplers.0`.
    public var children: [(name: String, module: any Module)] {
        resnets.enumerated().map { ("resnets.\($0.offset)", $0.element as any Module) }
            + attentions.enumerated().map { ("attentions.\($0.offset)", $0.element as any Module) }
            + (upsampler.map { [("upsamplers.0", $0 as any Module)] } ?? [])
    }

    /// Consumes skip connections from the end of `skips` (last pushed, first used). The
    /// upsampler scales to the size of the next skip connection, which is one less than double
    /// where the down path rounded an odd size up (diffusers' `upsample_size`).
    func callAsFunction(_ x: Variable, skips: inout [Variable], activatedEmbedding: Variable, context: Variable) -> Variable {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            h = resnet(Variable.concatenate([h, skips.removeLast()], axis: 1), activatedEmbedding: activatedEmbedding)
            if !attentions.isEmpty { h = attentions[i](h, context: context) }
        }
        if let upsampler { h = upsampler(h, size: skips.last.map { ($0.shape[2], $0.shape[3]) }) }
        return h
    }
}
