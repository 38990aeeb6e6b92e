// TAESD's layers: the residual block, the encoder and the decoder, built from Autograd layers so
// they run on Variables (trainable) and their parameters carry the checkpoint's dotted names.
//
// Architecture (madebyollin/taesd, `taesd.py`; diffusers' `EncoderTiny`/`DecoderTiny`):
//   Block(c_in, c_out)  = ReLU( conv3x3 → ReLU → conv3x3 → ReLU → conv3x3 (x) + skip(x) ),
//                         skip = 1x1 conv without bias when c_in ≠ c_out, else the identity
//   Encoder: conv(3→64), Block, [conv stride 2 no bias, Block ×3] ×3, conv(64→latent)
//   Decoder: Clamp, conv(latent→64), ReLU, [Block ×3, Upsample ×2 nearest, conv no bias] ×3,
//            Block, conv(64→3)
// Every conv is 3x3 with padding 1 (sizes are kept, or halved by the stride-2 convs, rounding up).
// The layers are numbered as `torch.nn.Sequential` numbers them, parameter-free layers included,
// so names are exactly the keys of `taesd_encoder.safetensors` / `taesd_decoder.safetensors`
// (ComfyUI layout: `0.weight`, `1.conv.0.weight`, `2.weight`, ... `14.bias` for the encoder;
// `1.weight`, ..., `19.bias` for the decoder, whose layer 0 is the parameter-free Clamp).
// Ranges: the encoder takes RGB in [0, 1]; the decoder returns RGB nominally in [0, 1],
// unclamped (it overshoots slightly).

import Autograd
import Tensor

/// TAESD's residual block: `relu(conv(x) + skip(x))`, where `conv` is three 3x3 convolutions
/// with ReLUs between them and `skip` a bias-free 1x1 convolution when the channel counts differ
/// (the identity otherwise). Parameters: `conv.0.*`, `conv.2.*`, `conv.4.*` and `skip.weight`.
public final class TAESDBlock: Layer {
    /// conv3x3 → ReLU → conv3x3 → ReLU → conv3x3 (indices 0 to 4, as in PyTorch).
    public let conv: Sequential
    /// The 1x1 projection of the input when the channel counts differ; nil for the identity.
    public let skip: Conv2d?

    /// Creates the block with PyTorch's default initialization drawn from `generator`
    /// (the three convolutions first, then the skip projection, as torch constructs them).
    public init(inputChannels: Int, outputChannels: Int, generator: inout some RandomTensorGenerator) {
        conv = Sequential([
            Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: &generator),
            ReLU(),
            Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: &generator),
            ReLU(),
            Conv2d(inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1, generator: &generator),
        ])
        skip = inputChannels == outputChannels ? nil
            : Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, bias: false, generator: &generator)
    }

    /// `conv` and, when present, `skip`.
    public var children: [(name: String, module: any Module)] {
        [("conv", conv as any Module)] + (skip.map { [("skip", $0 as any Module)] } ?? [])
    }

    /// x: [N, c_in, H, W] → [N, c_out, H, W].
    public func callAsFunction(_ x: Variable) -> Variable {
        (conv(x) + (skip?(x) ?? x)).relu()
    }
}

/// TAESD's soft clamp at the decoder's input: `tanh(x / 3) · 3`, which maps any latent into
/// (−3, 3) and is close to the identity for |x| ≲ 1.
public final class TAESDClamp: Layer {
    /// Creates the layer (it has no parameters).
    public init() {}

    /// 3·tanh(x/3), elementwise.
    public func callAsFunction(_ x: Variable) -> Variable { (x / 3).tanh() * 3 }
}

/// Nearest-neighbour upsampling by 2 (`torch.nn.Upsample(scale_factor=2)`), as a layer.
public final class TAESDUpsample: Layer {
    /// Creates the layer (it has no parameters).
    public init() {}

    /// x: [N, C, H, W] → [N, C, 2H, 2W], each pixel repeated in a 2x2 square.
    public func callAsFunction(_ x: Variable) -> Variable { x.upsampledNearest2x() }
}

/// TAESD's encoder: RGB images in [0, 1], [N, 3, H, W] → latents [N, latentChannels, ⌈H/8⌉, ⌈W/8⌉]
/// (for SD 1.x: the SD VAE's latents already multiplied by 0.18215).
///
/// Its parameters are named as the layers of a `torch.nn.Sequential` (`0.weight`,
/// `1.conv.0.weight`, ..., `14.bias`): the keys of `taesd_encoder.safetensors`.
public final class TAESDEncoder: Layer {
    /// The 15 layers: conv, Block, then three times (stride-2 conv, 3 Blocks), then conv.
    public let layers: Sequential
    /// The number of latent channels (4 for SD 1.x/2.x/XL).
    public let latentChannels: Int

    /// Creates the encoder with PyTorch's default initialization drawn from `generator`.
    public init(latentChannels: Int = 4, generator: inout some RandomTensorGenerator) {
        self.latentChannels = latentChannels
        var list: [any Layer] = [
            Conv2d(inputChannels: 3, outputChannels: 64, kernelSize: 3, padding: 1, generator: &generator),
            TAESDBlock(inputChannels: 64, outputChannels: 64, generator: &generator),
        ]
        for _ in 0..<3 {
            list.append(Conv2d(inputChannels: 64, outputChannels: 64, kernelSize: 3, stride: 2, padding: 1, bias: false,
                               generator: &generator))
            for _ in 0..<3 { list.append(TAESDBlock(inputChannels: 64, outputChannels: 64, generator: &generator)) }
        }
        list.append(Conv2d(inputChannels: 64, outputChannels: latentChannels, kernelSize: 3, padding: 1, generator: &generator))
        layers = Sequential(list)
    }

    /// The layers under their indices, with no prefix (as the weight file names them).
    public var children: [(name: String, module: any Module)] { layers.children }

    /// images01: [N, 3, H, W] in [0, 1] → latents [N, latentChannels, ⌈H/8⌉, ⌈W/8⌉].
    public func callAsFunction(_ images01: Variable) -> Variable { layers(images01) }
}

/// TAESD's decoder: latents [N, latentChannels, h, w] → RGB images [N, 3, 8h, 8w], nominally in
/// [0, 1] but not clamped.
///
/// Its parameters are named as the layers of a `torch.nn.Sequential` whose layer 0 is the
/// parameter-free clamp (`1.weight`, `3.conv.0.weight`, ..., `19.bias`): the keys of
/// `taesd_decoder.safetensors`.
public final class TAESDDecoder: Layer {
    /// The 20 layers: clamp, conv, ReLU, three times (3 Blocks, upsample, conv), Block, conv.
    public let layers: Sequential
    /// The number of latent channels (4 for SD 1.x/2.x/XL).
    public let latentChannels: Int

    /// Creates the decoder with PyTorch's default initialization drawn from `generator`.
    public init(latentChannels: Int = 4, generator: inout some RandomTensorGenerator) {
        self.latentChannels = latentChannels
        var list: [any Layer] = [
            TAESDClamp(),
            Conv2d(inputChannels: latentChannels, outputChannels: 64, kernelSize: 3, padding: 1, generator: &generator),
            ReLU(),
        ]
        for _ in 0..<3 {
            for _ in 0..<3 { list.append(TAESDBlock(inputChannels: 64, outputChannels: 64, generator: &generator)) }
            list.append(TAESDUpsample())
            list.append(Conv2d(inputChannels: 64, outputChannels: 64, kernelSize: 3, padding: 1, bias: false, generator: &generator))
        }
        list.append(TAESDBlock(inputChannels: 64, outputChannels: 64, generator: &generator))
        list.append(Conv2d(inputChannels: 64, outputChannels: 3, kernelSize: 3, padding: 1, generator: &generator))
        layers = Sequential(list)
    }

    /// The layers under their indices, with no prefix (as the weight file names them).
    public var children: [(name: String, module: any Module)] { layers.children }

    /// latents: [N, latentChannels, h, w] → images [N, 3, 8h, 8w], nominally in [0, 1], unclamped.
    public func callAsFunction(_ latents: Variable) -> Variable { layers(latents) }
}
