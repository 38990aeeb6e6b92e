// Contract: the building blocks of `UNet2D`, each a port of the diffusers class of the same
// role with the same parameter names (so state-dict keys match `UNet2DModel`):
//   ResnetBlock2D    norm1, conv1, time_emb_proj, norm2, dropout, conv2, conv_shortcut
//   Downsample2D     conv (3×3, stride 2, padding 1)
//   Upsample2D       nearest ×2, then conv (3×3, padding 1)
//   UNet2DDownBlock  resnets.M, attentions.M, downsamplers.0  (DownBlock2D / AttnDownBlock2D)
//   UNet2DMidBlock   resnets.0, attentions.0, resnets.1       (UNetMidBlock2D)
//   UNet2DUpBlock    resnets.M, attentions.M, upsamplers.0    (UpBlock2D / AttnUpBlock2D)
//   TimestepEmbedding linear_1, linear_2 (an MLP with SiLU between)
// Parameters are created in diffusers' module-creation order, so a `TorchGenerator` seeded like
// `torch.manual_seed` gives diffusers' initial weights. Shapes: x [B, C, H, W], time embedding
// [B, E].

import Autograd
import Foundation
import Tensor

/// A residual block with two GroupNorm–SiLU–Conv stages and the time embedding added in between
/// (Ho et al. 2020, appendix B; diffusers `ResnetBlock2D` with `time_embedding_norm="default"`):
/// h = conv1(silu(norm1(x))) + time_emb_proj(silu(e))[:, :, None, None],
/// out = shortcut(x) + conv2(dropout(silu(norm2(h)))).
public final class ResnetBlock2D: Module {
    /// GroupNorm of the input.
    public let norm1: GroupNorm
    /// 3×3 convolution from the input to the output channels.
    public let conv1: Conv2d
    /// Projection of the (activated) time embedding to the output channels (absent in the
    /// autoencoder's blocks, which have no time input).
    public let timeEmbeddingProjection: Linear?
    /// GroupNorm of the intermediate features.
    public let norm2: GroupNorm
    /// Dropout before conv2.
    public let dropout: Dropout
    /// 3×3 convolution, output to output channels.
    public let conv2: Conv2d
    /// 1×1 convolution matching the input channels to the output channels, when they differ.
    public let convShortcut: Conv2d?

    /// Creates the block; `timeEmbeddingChannels` nil builds it without time conditioning
    /// (diffusers' `temb_channels=None`, as in the VAE).
    public init(inputChannels: Int, outputChannels: Int, timeEmbeddingChannels: Int?, groups: Int,
                epsilon: Float, dropout: Float, generator: inout some RandomTensorGenerator) {
        norm1 = GroupNorm(groups: groups, channels: inputChannels, epsilon: epsilon)
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: &generator)
        timeEmbeddingProjection = timeEmbeddingChannels.map {
            Linear(inputFeatures: $0, outputFeatures: outputChannels, generator: &generator)
        }
        norm2 = GroupNorm(groups: groups, channels: outputChannels, epsilon: epsilon)
        self.dropout = Dropout(probability: dropout)
        conv2 = Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: &generator)
        convShortcut = inputChannels == outputChannels ? nil
            : Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, generator: &generator)
    }

    /// diffusers' names.
    public var children: [(name: String, module: any Module)] {
        [("norm1", norm1), ("conv1", conv1)] + (timeEmbeddingProjection.map { [("time_emb_proj", $0 as any Module)] } ?? [])
            + [("norm2", norm2), ("dropout", dropout), ("conv2", conv2)]
            + (convShortcut.map { [("conv_shortcut", $0 as any Module)] } ?? [])
    }

    /// The block applied to x [B, Cin, H, W] with `activatedEmbedding` = silu(e) [B, E] (nil for
    /// a block without time conditioning).
    public func callAsFunction(_ x: Variable, activatedEmbedding: Variable?) -> Variable {
        var h = conv1(norm1.thenSiLU(x))
        if let timeEmbeddingProjection, let activatedEmbedding {
            let batch = activatedEmbedding.shape[0], channels = h.shape[1]
            h = h + timeEmbeddingProjection(activatedEmbedding).reshaped([batch, channels, 1, 1])
        }
        h = conv2(dropout(norm2.thenSiLU(h)))
        return (convShortcut?(x) ?? x) + h
    }
}

/// Halves the resolution with a 3×3 stride-2 convolution (diffusers `Downsample2D`, `use_conv=True`).
/// With `padding` 1 (the UNets) the convolution pads every side; with `padding` 0 (the VAE's
/// encoder) the input is first padded by one row and one column at the bottom and right only,
/// as diffusers and the original LDM code do.
public final class Downsample2D: Layer {
    /// The strided convolution.
    public let conv: Conv2d
    /// 1: symmetric padding inside the convolution; 0: asymmetric (0, 1, 0, 1) padding before it.
    public let padding: Int
    /// Creates the layer for `channels` channels.
    public init(channels: Int, padding: Int = 1, generator: inout some RandomTensorGenerator) {
        precondition(padding == 0 || padding == 1, "Downsample2D: padding must be 0 or 1")
        self.padding = padding
        conv = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: 2, padding: padding, generator: &generator)
    }
    /// `conv`.
    public var children: [(name: String, module: any Module)] { [("conv", conv)] }
    /// [B, C, H, W] → [B, C, ⌈H/2⌉, ⌈W/2⌉] (padding 1) or [B, C, ⌊H/2⌋, ⌊W/2⌋] (padding 0, even sizes).
    public func callAsFunction(_ x: Variable) -> Variable {
        padding == 1 ? conv(x) : conv(x.padded([(0, 0), (0, 0), (0, 1), (0, 1)]))
    }
}

/// Doubles the resolution: nearest-neighbour ×2 then a 3×3 convolution (diffusers `Upsample2D`,
/// `use_conv=True`).
public final class Upsample2D: Layer {
    /// The convolution after upsampling.
    public let conv: Conv2d
    /// Creates the layer for `channels` channels.
    public init(channels: Int, generator: inout some RandomTensorGenerator) {
        conv = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: 1, generator: &generator)
    }
    /// `conv`.
    public var children: [(name: String, module: any Module)] { [("conv", conv)] }
    /// [B, C, H, W] → [B, C, 2H, 2W].
    public func callAsFunction(_ x: Variable) -> Variable { conv(x.upsampledNearest2x()) }

    /// [B, C, H, W] → [B, C, size] with size 2H or 2H − 1 (and the same for W): nearest
    /// interpolation to `size`, as `F.interpolate(x, size=size, mode="nearest")` — which for one
    /// less than double picks source pixel ⌊i·H/(2H − 1)⌋ = ⌊i/2⌋, the doubled image without its
    /// last row — then the convolution. A UNet whose down path rounded an odd size up
    /// (⌈n/2⌉) comes back to n this way. nil means 2H × 2W.
    public func callAsFunction(_ x: Variable, size: (height: Int, width: Int)?) -> Variable {
        var up = x.upsampledNearest2x()
        if let size, size.height != up.shape[2] || size.width != up.shape[3] {
            precondition((up.shape[2] - 1...up.shape[2]).contains(size.height) && (up.shape[3] - 1...up.shape[3]).contains(size.width),
                         "Upsample2D: \(x.shape) can be scaled to twice its size or one less, not \(size)")
            up = up.sliced(axis: 2, 0..<size.height).sliced(axis: 3, 0..<size.width)
        }
        return conv(up)
    }
}

/// The self-attention layer of the UNet's attention blocks: GroupNorm, single- or multi-head
/// attention over the H·W positions, residual connection (diffusers `Attention` as built by
/// `AttnDownBlock2D` with biases on q, k, v).
func makeSpatialAttention(channels: Int, headDimension: Int?, groups: Int, epsilon: Float,
                          generator: inout some RandomTensorGenerator) -> Attention {
    let d = headDimension ?? channels
    return Attention(queryDimension: channels, heads: channels / d, headDimension: d, bias: true,
                     groupNormGroups: groups, epsilon: epsilon, residualConnection: true, generator: &generator)
}

/// One level of the contracting path: `layers` ResNet blocks (each followed by self-attention
/// when `hasAttention`), then an optional downsampler. Every block's output is kept as a skip
/// connection for the up path (diffusers `DownBlock2D` / `AttnDownBlock2D`).
public final class UNet2DDownBlock: Module {
    /// The ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// One attention layer per ResNet block (empty for `DownBlock2D`).
    public let attentions: [Attention]
    /// The downsampler (absent on the last level).
    public let downsampler: Downsample2D?

    /// Creates the level.
    /// `timeEmbeddingChannels` nil and `downsamplePadding` 0 give the VAE encoder's
    /// `DownEncoderBlock2D` (same parameter names).
    public init(inputChannels: Int, outputChannels: Int, layers: Int, timeEmbeddingChannels: Int?, hasAttention: Bool,
                headDimension: Int?, addsDownsample: Bool, downsamplePadding: Int = 1, groups: Int, epsilon: Float, dropout: Float,
                generator: inout some RandomTensorGenerator) {
        let inputs = (0..<layers).map { $0 == 0 ? inputChannels : outputChannels }
        (resnets, attentions) = makeResnetStack(inputChannels: inputs, outputChannels: outputChannels,
                                                timeEmbeddingChannels: timeEmbeddingChannels, hasAttention: hasAttention,
                                                headDimension: headDimension, groups: groups, epsilon: epsilon,
                                                dropout: dropout, generator: &generator)
        downsampler = addsDownsample ? Downsample2D(channels: outputChannels, padding: downsamplePadding, generator: &generator) : nil
    }

    /// `resnets.M`, `attentions.M`, `downsamplers.0`.
    public var children: [(name: String, module: any Module)] {
        resnets.enumerated().map { ("resnets.\($0.offset)", $0.element as any Module) }
            + attentions.enumerated().map { ("attentions.\($0.offset)", $0.element as any Module) }
            + (downsampler.map { [("downsamplers.0", $0 as any Module)] } ?? [])
    }

    /// The level's output and the skip connections it adds (one per block plus the downsampled one).
    public func callAsFunction(_ x: Variable, activatedEmbedding: Variable?) -> (output: Variable, skips: [Variable]) {
        var h = x
        var skips: [Variable] = []
        for (i, resnet) in resnets.enumerated() {
            h = resnet(h, activatedEmbedding: activatedEmbedding)
            if !attentions.isEmpty { h = attentions[i](h) }
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            skips.append(h)
        }
        return (h, skips)
    }
}

/// The ResNet blocks of one down or up level, block i taking `inputChannels[i]` channels, each
/// followed by self-attention when `hasAttention`; created (and so initialized from
/// `generator`) in diffusers' order: resnet 0, attention 0, resnet 1, ...
func makeResnetStack(inputChannels: [Int], outputChannels: Int, timeEmbeddingChannels: Int?, hasAttention: Bool,
                     headDimension: Int?, groups: Int, epsilon: Float, dropout: Float,
                     generator: inout some RandomTensorGenerator) -> ([ResnetBlock2D], [Attention]) {
    var resnets: [ResnetBlock2D] = [], attentions: [Attention] = []
    for input in inputChannels {
        resnets.append(ResnetBlock2D(inputChannels: input, outputChannels: outputChannels,
                                     timeEmbeddingChannels: timeEmbeddingChannels, groups: groups, epsilon: epsilon,
                                     dropout: dropout, generator: &generator))
        if hasAttention {
            attentions.append(makeSpatialAttention(channels: outputChannels, headDimension: headDimension,
                                                   groups: groups, epsilon: epsilon, generator: &generator))
        }
    }
    return (resnets, attentions)
}

/// The bottleneck: ResNet block, self-attention, ResNet block (diffusers `UNetMidBlock2D`).
public final class UNet2DMidBlock: Module {
    /// The two ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// The attention layer between them (absent when `add_attention` is false).
    public let attention: Attention?

    /// Creates the block (`timeEmbeddingChannels` nil: the VAE's mid block, no time input).
    public init(channels: Int, timeEmbeddingChannels: Int?, hasAttention: Bool, headDimension: Int?, groups: Int,
                epsilon: Float, dropout: Float, generator: inout some RandomTensorGenerator) {
        let first = ResnetBlock2D(inputChannels: channels, outputChannels: channels, timeEmbeddingChannels: timeEmbeddingChannels,
                                  groups: groups, epsilon: epsilon, dropout: dropout, generator: &generator)
        attention = hasAttention ? makeSpatialAttention(channels: channels, headDimension: headDimension, groups: groups,
                                                        epsilon: epsilon, generator: &generator) : nil
        let second = ResnetBlock2D(inputChannels: channels, outputChannels: channels, timeEmbeddingChannels: timeEmbeddingChannels,
                                   groups: groups, epsilon: epsilon, dropout: dropout, generator: &generator)
        resnets = [first, second]
    }

    /// `attentions.0`, `resnets.0`, `resnets.1`.
    public var children: [(name: String, module: any Module)] {
        (attention.map { [("attentions.0", $0 as any Module)] } ?? [])
            + [("resnets.0", resnets[0]), ("resnets.1", resnets[1])]
    }

    /// resnet → attention → resnet.
    public func callAsFunction(_ x: Variable, activatedEmbedding: Variable?) -> Variable {
        var h = resnets[0](x, activatedEmbedding: activatedEmbedding)
        if let attention { h = attention(h) }
        return resnets[1](h, activatedEmbedding: activatedEmbedding)
    }
}

/// One level of the expanding path: `layers` ResNet blocks, each taking the previous output
/// concatenated (on channels) with the matching skip connection, each followed by self-attention
/// when `hasAttention`, then an optional upsampler (diffusers `UpBlock2D` / `AttnUpBlock2D`).
public final class UNet2DUpBlock: Module {
    /// The ResNet blocks.
    public let resnets: [ResnetBlock2D]
    /// One attention layer per ResNet block (empty for `UpBlock2D`).
    public let attentions: [Attention]
    /// The upsampler (absent on the last, full-resolution level).
    public let upsampler: Upsample2D?

    /// Creates the level. `skipChannels` lists the channel count of each skip connection the
    /// blocks consume, in consumption order; `previousChannels` are the channels of the input.
    public init(previousChannels: Int, outputChannels: Int, skipChannels: [Int], timeEmbeddingChannels: Int,
                hasAttention: Bool, headDimension: Int?, addsUpsample: Bool, groups: Int, epsilon: Float, dropout: Float,
                generator: inout some RandomTensorGenerator) {
        // Each block takes the previous output concatenated with its skip connection.
        let inputs = skipChannels.enumerated().map { ($0.offset == 0 ? previousChannels : outputChannels) + $0.element }
        (resnets, attentions) = makeResnetStack(inputChannels: inputs, outputChannels: outputChannels,
                                                timeEmbeddingChannels: timeEmbeddingChannels, hasAttention: hasAttention,
                                                headDimension: headDimension, groups: groups, epsilon: epsilon,
                                                dropout: dropout, generator: &generator)
        upsampler = addsUpsample ? Upsample2D(channels: outputChannels, generator: &generator) : nil
    }

    /// `resnets.M`, `attentions.M`, `upsamplers.0`.
    public var children: [(name: String, module: any Module)] {
        resnets.enumerated().map { ("resnets.\($0.offset)", $0.element as any Module) }
            + attentions.enumerated().map { ("attentions.\($0.offset)", $0.element as any Module) }
            + (upsampler.map { [("upsamplers.0", $0 as any Module)] } ?? [])
    }

    /// Consumes skip connections from the end of `skips` (last pushed, first used).
    public func callAsFunction(_ x: Variable, skips: inout [Variable], activatedEmbedding: Variable) -> Variable {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            let skip = skips.removeLast()
            h = resnet(Variable.concatenate([h, skip], axis: 1), activatedEmbedding: activatedEmbedding)
            if !attentions.isEmpty { h = attentions[i](h) }
        }
        if let upsampler { h = upsampler(h) }
        return h
    }
}

/// The time-embedding MLP: linear_1, SiLU, linear_2 (diffusers `TimestepEmbedding`).
public final class TimestepEmbedding: Layer {
    /// Sinusoidal features → embedding width.
    public let linear1: Linear
    /// Embedding width → embedding width.
    public let linear2: Linear
    /// Creates the MLP.
    public init(inputChannels: Int, embeddingChannels: Int, generator: inout some RandomTensorGenerator) {
        linear1 = Linear(inputFeatures: inputChannels, outputFeatures: embeddingChannels, generator: &generator)
        linear2 = Linear(inputFeatures: embeddingChannels, outputFeatures: embeddingChannels, generator: &generator)
    }
    /// `linear_1`, `linear_2`.
    public var children: [(name: String, module: any Module)] { [("linear_1", linear1), ("linear_2", linear2)] }
    /// linear_2(silu(linear_1(x))).
    public func callAsFunction(_ x: Variable) -> Variable { linear2(linear1(x).silu()) }
}

/// The sinusoidal timestep features of DDPM (Ho et al. 2020, §4, after the Transformer's
/// positional encoding, Vaswani et al. 2017, §3.5), as diffusers' `get_timestep_embedding`:
/// fᵢ = exp(−ln(10000)·i/(half − shift)) for i < half = dim/2, features [sin(t·f), cos(t·f)],
/// swapped to [cos, sin] when `flipSinToCos`, zero-padded to an odd `dimension`. Float32
/// arithmetic in torch's order. Result: [timesteps.count, dimension].
public func sinusoidalTimestepEmbedding(_ timesteps: [Float], dimension: Int, flipSinToCos: Bool = true,
                                        frequencyShift: Int = 0) -> Tensor {
    let half = dimension / 2
    let logPeriod = Float(-Foundation.log(10000.0))
    let frequencies = (0..<half).map { Foundation.exp(logPeriod * Float($0) / Float(half - frequencyShift)) }
    return Tensor(shape: [timesteps.count, dimension]) { out in
        for (row, t) in timesteps.enumerated() {
            for i in 0..<half {
                let angle = t * frequencies[i]
                let (first, second) = flipSinToCos ? (Foundation.cos(angle), Foundation.sin(angle))
                                                   : (Foundation.sin(angle), Foundation.cos(angle))
                out[row * dimension + i] = first
                out[row * dimension + half + i] = second
            }
        }
    }
}
