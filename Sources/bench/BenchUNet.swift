// The DDPM UNet training-step case: the project's `UNet2D` (Sources/Diffusion) in the
// configuration of diffusers' `UNet2DModel(block_out_channels=(32, 64, 128, 128),
// layers_per_block=1, down_block_types=(DownBlock2D ×3, AttnDownBlock2D), up_block_types=
// (AttnUpBlock2D, UpBlock2D ×3), in/out channels 1, attention_head_dim=8)`: 4 327 905
// parameters, the model `tools/bench_reference.py` times in PyTorch.

import Autograd
import Diffusion
import Tensor

/// FLOPs of one training step (forward + backward) per image, as counted by
/// `torch.utils.flop_counter.FlopCounterMode` for diffusers' UNet2DModel of the same configuration
/// (matrix products and convolutions; 17 650 745 344 for a batch of 8).
let unetTrainingFlopsPerImage = 2_206_343_168.0

/// One DDPM training step of the UNet: ε-prediction MSE on random noisy images, AdamW.
func unetTrainingCase(batch: Int) -> BenchCase {
    BenchCase(name: "train-unet-b\(batch)", shape: "DDPM UNet 4.3M, batch \(batch) x 1x32x32, AdamW",
              flops: unetTrainingFlopsPerImage * Double(batch)) {
        var generator = TorchGenerator(seed: 0)
        let configuration = UNet2DConfiguration(sampleSize: 32, inChannels: 1, outChannels: 1,
                                                blockOutChannels: [32, 64, 128, 128], layersPerBlock: 1,
                                                attentionLevels: [3], attentionHeadDim: 8)
        // The configuration is fixed and valid, so construction cannot fail here.
        let model = try! UNet2D(configuration: configuration, generator: &generator)
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
