"""UNet calls at latent sizes that are not multiples of the UNet's downsampling factor.

diffusers' UNet2DConditionModel accepts any latent size: the stride-2 downsamplers round up
(ceil(n / 2)), and each up block's upsampler interpolates to the size of the skip connection
it meets next (`forward_upsample_size`). Stable Diffusion images therefore only need to be
multiples of the VAE's factor 8. This script records the tiny SD 1.x and SD 2.x fixture UNets
(Tests/DiffusionTests/Fixtures/sd/tiny-sd{1,2}, made by tools/make_sd_fixtures.py) at two such
sizes, in float32, for the Swift test that checks the same sizes.

Usage: python tools/make_sd_odd_size_fixture.py   (diffusers, torch, safetensors)
Writes Tests/DiffusionTests/Fixtures/sd/odd-size-reference.safetensors with, for each model M
and case k: M.k.sample [1, 4, H, W], M.k.timesteps [1], M.k.encoder_hidden_states [1, 77, D],
M.k.output [1, 4, H, W].
"""

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "DiffusionTests" / "Fixtures" / "sd"
SIZES = [(10, 6), (7, 13)]  # the tiny UNets halve twice: neither is a multiple of 4


def main():
    torch.manual_seed(0)
    out = {}
    for model in ["tiny-sd1", "tiny-sd2"]:
        unet = UNet2DConditionModel.from_pretrained(FIXTURES / model / "unet").float().eval()
        for k, (h, w) in enumerate(SIZES):
            sample = torch.randn(1, unet.config.in_channels, h, w)
            states = torch.randn(1, 77, unet.config.cross_attention_dim)
            timesteps = torch.tensor([500.0])
            with torch.no_grad():
                output = unet(sample, timesteps, encoder_hidden_states=states).sample
            prefix = f"{model}.{k}."
            out[prefix + "sample"] = sample
            out[prefix + "timesteps"] = timesteps
            out[prefix + "encoder_hidden_states"] = states
            out[prefix + "output"] = output
            print(model, (h, w), "output std", float(output.std()))
    save_file({k: v.contiguous() for k, v in out.items()}, str(FIXTURES / "odd-size-reference.safetensors"))


if __name__ == "__main__":
    main()
