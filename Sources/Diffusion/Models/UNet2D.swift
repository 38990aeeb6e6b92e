// Contract: a configurable UNet (Ronneberger et al. 2015, in the form of DDPM, Ho et al. 2020,
// appendix B) that predicts eps or v from a noisy image and its timestep — a port of diffusers'
// `UNet2DModel` with identical state-dict keys:
//   conv_in → [down blocks, keeping skips] → mid block → [up blocks, consuming skips]
//   → conv_norm_out → SiLU → conv_out,
// every ResNet block conditioned on e = time_embedding(sinusoid(t)) (+ class_embedding(y)).
// Shapes: x [B, inChannels, H, W] with H and W divisible by 2^(levels−1); timesteps: one per
// sample (or one for all); output [B, outChannels, H, W]. Built from Autograd layers, so the same
// model trains (with gradients) and samples (inside `withoutGradients`).

import Autograd
import Foundation
import Tensor

/// A UNet with diffusers' `UNet2DModel` architecture and parameter names.
public final class UNet2D: Module {
    /// The hyper-parameters.
    public let configuration: UNet2DConfiguration
    /// 3×3 convolution from the image to the first level's channels.
    public let convIn: Conv2d
    /// The time-embedding MLP.
    public let timeEmbedding: TimestepEmbedding
    /// The class embedding table, for class-conditional models.
    public let classEmbedding: Embedding?
    /// The contracting path, highest resolution first.
    public let downBlocks: [UNet2DDownBlock]
    /// The bottleneck.
    public let midBlock: UNet2DMidBlock
    /// The expanding path, lowest resolution first.
    public let upBlocks: [UNet2DUpBlock]
    /// The final GroupNorm.
    public let convNormOut: GroupNorm
    /// 3×3 convolution to the output channels.
    public let convOut: Conv2d

    /// Builds the network with PyTorch's default initialization, drawing from `generator` in the
    /// order diffusers creates its modules (so `TorchGenerator(seed: s)` reproduces
    /// `torch.manual_seed(s); UNet2DModel(**config)`).
    /// - Throws: `UNet2DConfigurationError` for a configuration this port cannot build.
    public init(configuration: UNet2DConfiguration, generator: inout some RandomTensorGenerator) throws {
        try configuration.validate()
        self.configuration = configuration
        let c = configuration
        let channels = c.blockOutChannels, levels = channels.count
        let embedding = c.timeEmbeddingWidth, groups = c.normNumGroups, eps = c.normEps
        convIn = Conv2d(inputChannels: c.inChannels, outputChannels: channels[0], kernelSize: 3, padding: 1, generator: &generator)
        timeEmbedding = TimestepEmbedding(inputChannels: channels[0], embeddingChannels: embedding, generator: &generator)
        classEmbedding = c.numClassEmbeds.map { Embedding(count: $0, dimension: embedding, generator: &generator) }

        var down: [UNet2DDownBlock] = []
        var skipChannels = [channels[0]]                    // conv_in's output is the first skip
        for level in 0..<levels {
            let input = level == 0 ? channels[0] : channels[level - 1]
            let isLast = level == levels - 1
            down.append(UNet2DDownBlock(inputChannels: input, outputChannels: channels[level], layers: c.layersPerBlock,
                                        timeEmbeddingChannels: embedding, hasAttention: c.downBlockTypes[level] == "AttnDownBlock2D",
                                        headDimension: c.attentionHeadDim, addsDownsample: !isLast, groups: groups,
                                        epsilon: eps, dropout: c.dropout, generator: &generator))
            skipChannels += Array(repeating: channels[level], count: c.layersPerBlock + (isLast ? 0 : 1))
        }
        downBlocks = down
        midBlock = UNet2DMidBlock(channels: channels[levels - 1], timeEmbeddingChannels: embedding, hasAttention: c.addAttention,
                                  headDimension: c.attentionHeadDim, groups: groups, epsilon: eps, dropout: c.dropout,
                                  generator: &generator)
        var up: [UNet2DUpBlock] = []
        var previous = channels[levels - 1]
        for i in 0..<levels {
            let level = levels - 1 - i
            var consumed: [Int] = []
            for _ in 0...c.layersPerBlock { consumed.append(skipChannels.removeLast()) }
            up.append(UNet2DUpBlock(previousChannels: previous, outputChannels: channels[level], skipChannels: consumed,
                                    timeEmbeddingChannels: embedding, hasAttention: c.upBlockTypes[i] == "AttnUpBlock2D",
                                    headDimension: c.attentionHeadDim, addsUpsample: level != 0, groups: groups,
                                    epsilon: eps, dropout: c.dropout, generator: &generator))
            previous = channels[level]
        }
        upBlocks = up
        convNormOut = GroupNorm(groups: groups, channels: channels[0], epsilon: eps)
        convOut = Conv2d(inputChannels: channels[0], outputChannels: c.outChannels, kernelSize: 3, padding: 1, generator: &generator)
    }

    /// Builds the network with weights drawn from `TorchGenerator(seed: seed)`.
    public convenience init(configuration: UNet2DConfiguration, seed: UInt64 = 0) throws {
        var generator = TorchGenerator(seed: seed)
        try self.init(configuration: configuration, generator: &generator)
    }

    /// diffusers' module names.
    public var children: [(name: String, module: any Module)] {
        var out: [(name: String, module: any Module)] = [("conv_in", convIn), ("time_embedding", timeEmbedding)]
        if let classEmbedding { out.append(("class_embedding", classEmbedding)) }
        out += downBlocks.enumerated().map { ("down_blocks.\($0.offset)", $0.element as any Module) }
        out.append(("mid_block", midBlock))
        out += upBlocks.enumerated().map { ("up_blocks.\($0.offset)", $0.element as any Module) }
        out += [("conv_norm_out", convNormOut), ("conv_out", convOut)]
        return out
    }

    /// The prediction for noisy images `x` [B, C, H, W] at `timesteps` (B values, or one for the
    /// whole batch; fractional values are allowed) with optional `classLabels` (B values).
    public func callAsFunction(_ x: Variable, timesteps: [Float], classLabels: [Int]? = nil) -> Variable {
        let c = configuration
        precondition(x.rank == 4 && x.shape[1] == c.inChannels,
                     "UNet2D: input must be [B, \(c.inChannels), H, W], got \(x.shape)")
        let batch = x.shape[0], factor = c.downsamplingFactor
        precondition(x.shape[2] % factor == 0 && x.shape[3] % factor == 0,
                     "UNet2D: height and width \(x.shape[2])x\(x.shape[3]) must be divisible by \(factor)")
        precondition(timesteps.count == batch || timesteps.count == 1,
                     "UNet2D: \(timesteps.count) timesteps for a batch of \(batch)")
        let t = timesteps.count == batch ? timesteps : Array(repeating: timesteps[0], count: batch)
        let features = sinusoidalTimestepEmbedding(t, dimension: c.blockOutChannels[0],
                                                   flipSinToCos: c.flipSinToCos, frequencyShift: c.freqShift)
        var embedding = timeEmbedding(Variable(features))
        if let classEmbedding {
            guard let classLabels else { preconditionFailure("UNet2D: this model is class-conditional; pass classLabels") }
            precondition(classLabels.count == batch, "UNet2D: \(classLabels.count) class labels for a batch of \(batch)")
            embedding = embedding + classEmbedding(classLabels)
        } else {
            precondition(classLabels == nil, "UNet2D: class labels given to a model without class conditioning")
        }
        // Every ResNet block applies SiLU to the embedding before its projection; do it once.
        let activated = embedding.silu()

        var h = convIn(x)
        var skips = [h]
        for block in downBlocks {
            let (output, blockSkips) = block(h, activatedEmbedding: activated)
            h = output
            skips += blockSkips
        }
        h = midBlock(h, activatedEmbedding: activated)
        for block in upBlocks { h = block(h, skips: &skips, activatedEmbedding: activated) }
        return convOut(convNormOut.thenSiLU(h))
    }

    /// Inference on a plain tensor (no graph recorded): the prediction at one timestep `t` for
    /// the whole batch.
    public func predict(_ x: Tensor, timestep t: Double, classLabels: [Int]? = nil) -> Tensor {
        withoutGradients { self(Variable(x), timesteps: [Float(t)], classLabels: classLabels).value }
    }
}
