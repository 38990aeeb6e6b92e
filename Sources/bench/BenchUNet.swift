// A small DDPM UNet for the training-step benchmark, built from Autograd layers with the
// architecture and parameter names of diffusers' `UNet2DModel(block_out_channels=(32, 64, 128,
// 128), layers_per_block=1, down_block_types=(DownBlock2D ×3, AttnDownBlock2D), up_block_types=
// (AttnUpBlock2D, UpBlock2D ×3), in/out channels 1)`: 4 327 905 parameters, the model the
// PyTorch reference times. The project's own UNet lives in Sources/Diffusion; this copy only
// measures Autograd on the workload of pixel-space DDPM training.

import Foundation
import Autograd
import Tensor

/// diffusers' ResnetBlock2D: GroupNorm, SiLU, conv, + time projection, GroupNorm, SiLU, conv, + shortcut.
final class BenchResnetBlock: Module {
    let norm1: GroupNorm, conv1: Conv2d, timeProjection: Linear, norm2: GroupNorm, conv2: Conv2d
    let shortcut: Conv2d?

    init(input: Int, output: Int, timeChannels: Int, generator: inout TorchGenerator) {
        norm1 = GroupNorm(groups: 32, channels: input)
        conv1 = Conv2d(inputChannels: input, outputChannels: output, kernelSize: 3, padding: 1, generator: &generator)
        timeProjection = Linear(inputFeatures: timeChannels, outputFeatures: output, generator: &generator)
        norm2 = GroupNorm(groups: 32, channels: output)
        conv2 = Conv2d(inputChannels: output, outputChannels: output, kernelSize: 3, padding: 1, generator: &generator)
        shortcut = input == output ? nil : Conv2d(inputChannels: input, outputChannels: output, kernelSize: 1, generator: &generator)
    }

    var children: [(name: String, module: any Module)] {
        [("norm1", norm1), ("conv1", conv1), ("time_emb_proj", timeProjection), ("norm2", norm2), ("conv2", conv2)]
            + (shortcut.map { [("conv_shortcut", $0 as any Module)] } ?? [])
    }

    func callAsFunction(_ x: Variable, _ temb: Variable) -> Variable {
        var h = conv1(norm1(x).silu())
        h = h + timeProjection(temb.silu()).reshaped([x.shape[0], -1, 1, 1])
        h = conv2(norm2(h).silu())
        return (shortcut?(x) ?? x) + h
    }
}

/// A list of modules named "0", "1", ... (torch.nn.ModuleList).
final class ModuleList: Module {
    let modules: [any Module]
    init(_ modules: [any Module]) { self.modules = modules }
    var children: [(name: String, module: any Module)] { modules.enumerated().map { (String($0.offset), $0.element) } }
}

/// A conv module under the name `conv` (diffusers' Downsample2D / Upsample2D).
final class Resample: Module {
    let conv: Conv2d
    let upsamples: Bool
    init(channels: Int, upsamples: Bool, generator: inout TorchGenerator) {
        conv = Conv2d(inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: upsamples ? 1 : 2, padding: 1,
                      generator: &generator)
        self.upsamples = upsamples
    }
    var children: [(name: String, module: any Module)] { [("conv", conv)] }
    func callAsFunction(_ x: Variable) -> Variable { conv(upsamples ? x.upsampledNearest2x() : x) }
}

/// One down or up block: resnets, optional attentions after each, optional resampler.
final class BenchBlock: Module {
    let resnets: [BenchResnetBlock], attentions: [Attention], resampler: Resample?
    init(resnets: [BenchResnetBlock], attentions: [Attention], resampler: Resample?) {
        self.resnets = resnets; self.attentions = attentions; self.resampler = resampler
    }
    var children: [(name: String, module: any Module)] {
        var out: [(String, any Module)] = []
        if !attentions.isEmpty { out.append(("attentions", ModuleList(attentions))) }
        out.append(("resnets", ModuleList(resnets)))
        if let resampler { out.append((resampler.upsamples ? "upsamplers" : "downsamplers", ModuleList([resampler]))) }
        return out
    }
}

/// The benchmark UNet (see the file comment).
final class BenchUNet: Module {
    let channels = [32, 64, 128, 128]
    let convIn: Conv2d, timeLinear1: Linear, timeLinear2: Linear
    let downBlocks: [BenchBlock], midResnets: [BenchResnetBlock], midAttention: Attention, upBlocks: [BenchBlock]
    let normOut: GroupNorm, convOut: Conv2d

    init(generator g: inout TorchGenerator) {
        let c = channels, temb = 4 * c[0]
        func attention(_ dim: Int) -> Attention {
            Attention(queryDimension: dim, heads: dim / 8, headDimension: 8, bias: true, groupNormGroups: 32,
                      residualConnection: true, generator: &g)
        }
        convIn = Conv2d(inputChannels: 1, outputChannels: c[0], kernelSize: 3, padding: 1, generator: &g)
        timeLinear1 = Linear(inputFeatures: c[0], outputFeatures: temb, generator: &g)
        timeLinear2 = Linear(inputFeatures: temb, outputFeatures: temb, generator: &g)
        var down: [BenchBlock] = []
        var previous = c[0]
        for (i, out) in c.enumerated() {
            let final = i == c.count - 1
            let resnet = BenchResnetBlock(input: previous, output: out, timeChannels: temb, generator: &g)
            down.append(BenchBlock(resnets: [resnet], attentions: final ? [attention(out)] : [],
                                   resampler: final ? nil : Resample(channels: out, upsamples: false, generator: &g)))
            previous = out
        }
        downBlocks = down
        midResnets = [BenchResnetBlock(input: c[3], output: c[3], timeChannels: temb, generator: &g)]
        midAttention = attention(c[3])
        let secondMid = BenchResnetBlock(input: c[3], output: c[3], timeChannels: temb, generator: &g)
        var up: [BenchBlock] = []
        let reversed = Array(c.reversed())
        var output = reversed[0]
        for i in 0..<reversed.count {
            let prev = output
            output = reversed[i]
            let input = reversed[Swift.min(i + 1, reversed.count - 1)]
            let final = i == reversed.count - 1
            var resnets: [BenchResnetBlock] = []
            var attentions: [Attention] = []
            for j in 0..<2 {
                let skip = j == 1 ? input : output
                resnets.append(BenchResnetBlock(input: (j == 0 ? prev : output) + skip, output: output, timeChannels: temb, generator: &g))
                if i == 0 { attentions.append(attention(output)) }
            }
            up.append(BenchBlock(resnets: resnets, attentions: attentions,
                                 resampler: final ? nil : Resample(channels: output, upsamples: true, generator: &g)))
        }
        upBlocks = up
        normOut = GroupNorm(groups: 32, channels: c[0])
        convOut = Conv2d(inputChannels: c[0], outputChannels: 1, kernelSize: 3, padding: 1, generator: &g)
        midSecond = secondMid
    }
    let midSecond: BenchResnetBlock

    var children: [(name: String, module: any Module)] {
        [("conv_in", convIn),
         ("time_embedding", NamedPair(("linear_1", timeLinear1), ("linear_2", timeLinear2))),
         ("down_blocks", ModuleList(downBlocks)),
         ("up_blocks", ModuleList(upBlocks)),
         ("mid_block", NamedPair(("attentions", ModuleList([midAttention])), ("resnets", ModuleList(midResnets + [midSecond])))),
         ("conv_norm_out", normOut), ("conv_out", convOut)]
    }

    /// Sinusoidal timestep features as diffusers' `Timesteps(32, flip_sin_to_cos=True, shift=0)`.
    func timestepFeatures(_ t: [Float]) -> Tensor {
        let half = channels[0] / 2
        return Tensor(shape: [t.count, 2 * half]) { out in
            for (row, time) in t.enumerated() {
                for k in 0..<half {
                    let angle = time * Foundation.exp(-Foundation.log(10_000) * Float(k) / Float(half))
                    out[row * 2 * half + k] = Foundation.cos(angle)
                    out[row * 2 * half + half + k] = Foundation.sin(angle)
                }
            }
        }
    }

    func callAsFunction(_ x: Variable, timesteps: [Float]) -> Variable {
        let temb = timeLinear2(timeLinear1(Variable(timestepFeatures(timesteps))).silu())
        var h = convIn(x)
        var skips = [h]
        for block in downBlocks {
            for (j, resnet) in block.resnets.enumerated() {
                h = resnet(h, temb)
                if j < block.attentions.count { h = block.attentions[j](h) }
                skips.append(h)
            }
            if let resampler = block.resampler { h = resampler(h); skips.append(h) }
        }
        h = midSecond(midAttention(midResnets[0](h, temb)), temb)
        for block in upBlocks {
            for (j, resnet) in block.resnets.enumerated() {
                h = resnet(Variable.concatenate([h, skips.removeLast()], axis: 1), temb)
                if j < block.attentions.count { h = block.attentions[j](h) }
            }
            if let resampler = block.resampler { h = resampler(h) }
        }
        return convOut(normOut(h).silu())
    }
}

/// Two named children (for diffusers' small containers).
final class NamedPair: Module {
    let pair: [(name: String, module: any Module)]
    init(_ a: (String, any Module), _ b: (String, any Module)) { pair = [a, b] }
    var children: [(name: String, module: any Module)] { pair }
}

/// FLOPs of one training step (forward + backward) per image, as counted by
/// `torch.utils.flop_counter.FlopCounterMode` for diffusers' UNet2DModel of the same configuration
/// (matrix products and convolutions; 17 650 745 344 for a batch of 8).
let unetTrainingFlopsPerImage = 2_206_343_168.0

/// One DDPM training step of the UNet: ε-prediction MSE on random noisy images, AdamW.
func unetTrainingCase(batch: Int) -> BenchCase {
    BenchCase(name: "train-unet-b\(batch)", shape: "DDPM UNet 4.3M, batch \(batch) x 1x32x32, AdamW",
              flops: unetTrainingFlopsPerImage * Double(batch)) {
        var generator = TorchGenerator(seed: 0)
        let model = BenchUNet(generator: &generator)
        let optimizer = Adam.adamW(parameters: model.namedParameters(), learningRate: 1e-4)
        let images = generator.randn([batch, 1, 32, 32]), noise = generator.randn([batch, 1, 32, 32])
        let timesteps = (0..<batch).map { Float(($0 * 37) % 1000) }
        return {
            optimizer.zeroGrad()
            let loss = meanSquaredError(model(Variable(images), timesteps: timesteps), Variable(noise))
            loss.backward()
            optimizer.step()
        }
    }
}
