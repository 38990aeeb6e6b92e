// Contract: Stable Diffusion's denoising network (Rombach et al. 2022, "High-Resolution Image
// Synthesis with Latent Diffusion Models", §3.3 and appendix), a port of diffusers'
// `UNet2DConditionModel` with identical state-dict keys:
//   conv_in → [down levels, keeping skips] → mid block → [up levels, consuming skips]
//   → conv_norm_out → SiLU → conv_out,
// every ResNet block conditioned on e = time_embedding(sinusoid(t)) and every attention layer
// cross-attending to the text encoder's states. Shapes: sample [B, inChannels, H, W] with H and
// W divisible by 2^(levels−1) (8 px of latent per 64 px of image at SD's 4 levels); timesteps:
// one per sample or one for all; text states [B, S, crossAttentionDim]; output [B, outChannels,
// H, W] (eps or v, as the scheduler config says). Inference runs inside `withoutGradients`.

import Autograd
import Foundation
import Tensor

/// Stable Diffusion's conditional UNet with diffusers' architecture and parameter names.
public final class UNet2DConditionModel: Module {
    /// The hyper-parameters.
    public let configuration: UNet2DConditionConfiguration
    /// 3×3 convolution from the latent (or 9 inpainting channels) to the first level's channels.
    public let convIn: Conv2d
    /// The time-embedding MLP (`time_embedding`).
    public let timeEmbedding: TimestepEmbedding
    /// The contracting path, highest resolution first.
    public let downBlocks: [CrossAttentionDownBlock]
    /// The bottleneck.
    public let midBlock: CrossAttentionMidBlock
    /// The expanding path, lowest resolution first.
    public let upBlocks: [CrossAttentionUpBlock]
    /// The final GroupNorm.
    public let convNormOut: GroupNorm
    /// 3×3 convolution to the output channels.
    public let convOut: Conv2d

    /// Builds the network. Pass `DeferredWeights()` as the generator when weights are loaded
    /// next (no memory is spent on initial values), or a seeded generator for random weights.
    /// - Throws: `StableDiffusionError` when the configuration does not fit together.
    public init(configuration: UNet2DConditionConfiguration, generator: inout some RandomTensorGenerator) throws {
        try configuration.validate()
        self.configuration = configuration
        let c = configuration, channels = c.blockOutChannels
        convIn = Conv2d(inputChannels: c.inChannels, outputChannels: channels[0], kernelSize: 3, padding: 1, generator: &generator)
        timeEmbedding = TimestepEmbedding(inputChannels: channels[0], embeddingChannels: c.timeEmbeddingDim, generator: &generator)
        downBlocks = (0..<c.levels).map { CrossAttentionDownBlock(c, level: $0, generator: &generator) }
        midBlock = CrossAttentionMidBlock(c, generator: &generator)
        upBlocks = (0..<c.levels).map { CrossAttentionUpBlock(c, index: $0, generator: &generator) }
        convNormOut = GroupNorm(groups: c.normNumGroups, channels: channels[0], epsilon: c.normEps)
        convOut = Conv2d(inputChannels: channels[0], outputChannels: c.outChannels, kernelSize: 3, padding: 1, generator: &generator)
    }

    /// diffusers' names (`time_proj` has no parameters).
    public var children: [(name: String, module: any Module)] {
        var list: [(name: String, module: any Module)] = [("conv_in", convIn), ("time_embedding", timeEmbedding)]
        for (i, block) in downBlocks.enumerated() { list.append(("down_blocks.\(i)", block)) }
        list.append(("mid_block", midBlock))
        for (i, block) in upBlocks.enumerated() { list.append(("up_blocks.\(i)", block)) }
        list += [("conv_norm_out", convNormOut), ("conv_out", convOut)]
        return list
    }

    /// The prediction for `sample` at `timesteps` (one per sample, or one for the batch; any
    /// real value: the sinusoidal features are continuous) given text states `context`.
    public func callAsFunction(_ sample: Variable, timesteps: [Float], context: Variable) -> Variable {
        let c = configuration, batch = sample.shape[0]
        precondition(sample.rank == 4 && sample.shape[1] == c.inChannels,
                     "UNet2DConditionModel: sample must be [B, \(c.inChannels), H, W], got \(sample.shape)")
        precondition(timesteps.count == batch || timesteps.count == 1,
                     "UNet2DConditionModel: \(timesteps.count) timesteps for a batch of \(batch)")
        precondition(context.rank == 3 && context.shape[0] == batch && context.shape[2] == c.crossAttentionDim,
                     "UNet2DConditionModel: text states must be [\(batch), S, \(c.crossAttentionDim)], got \(context.shape)")
        precondition(sample.shape[2] > 0 && sample.shape[3] > 0, "UNet2DConditionModel: empty sample \(sample.shape)")
        let times = timesteps.count == batch ? timesteps : Array(repeating: timesteps[0], count: batch)
        let features = sinusoidalTimestepEmbedding(times, dimension: c.blockOutChannels[0], flipSinToCos: c.flipSinToCos,
                                                   frequencyShift: c.freqShift)
        let activated = timeEmbedding(Variable(features)).silu()

        var h = convIn(sample)
        var skips = [h]
        for block in downBlocks { h = block(h, activatedEmbedding: activated, context: context, skips: &skips) }
        h = midBlock(h, activatedEmbedding: activated, context: context)
        for block in upBlocks { h = block(h, skips: &skips, activatedEmbedding: activated, context: context) }
        return convOut(convNormOut.thenSiLU(h))
    }
}
