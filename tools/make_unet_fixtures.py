#!/usr/bin/env python3
"""Reference outputs of a tiny diffusers UNet2DModel for the Swift UNet2D parity test.

Writes Tests/DiffusionTests/Fixtures/unet2d_tiny.safetensors (Float32) holding
  model.<name>          every parameter of the model (state-dict keys)
  input.sample          the input x [B, C, H, W]
  input.timesteps       one (fractional) timestep per sample [B]
  input.class_labels    one class label per sample [B] (stored as float)
  input.weights         a fixed random tensor r shaped like the output
  output.sample         UNet(x, t, class_labels)
  grad.<name>           d(sum(output * r)) / d<name> for a few parameters
  grad.input.sample     d(sum(output * r)) / dx
and Tests/DiffusionTests/Fixtures/unet2d_tiny.json with the model config (diffusers names).

The model exercises every part of the Swift UNet2D: channel changes (1x1 shortcuts), two
resnets per level, attention in a down block, the mid block and an up block, down/upsampling,
class conditioning, and timesteps that differ per sample and are not integers.

Usage: /tmp/venv/bin/python tools/make_unet_fixtures.py
"""
import json
import os

import torch
from diffusers import UNet2DModel
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "DiffusionTests", "Fixtures")

CONFIG = dict(
    sample_size=8,
    in_channels=2,
    out_channels=2,
    block_out_channels=(8, 16, 16),
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    layers_per_block=2,
    attention_head_dim=4,
    norm_num_groups=4,
    num_class_embeds=3,
)

GRADIENT_PARAMETERS = [
    "conv_in.weight",
    "time_embedding.linear_1.weight",
    "class_embedding.weight",
    "down_blocks.1.attentions.0.to_q.weight",
    "down_blocks.0.resnets.1.norm1.weight",
    "mid_block.resnets.0.time_emb_proj.bias",
    "up_blocks.1.resnets.0.conv_shortcut.weight",
    "up_blocks.2.resnets.2.conv2.bias",
    "conv_out.weight",
]


def main():
    torch.manual_seed(0)
    model = UNet2DModel(**CONFIG).float()
    # Group-norm affine parameters start at 1 and 0; randomize them so the test sees them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    batch = 2
    x = torch.randn(batch, CONFIG["in_channels"], 8, 8)
    x.requires_grad_(True)
    timesteps = torch.tensor([3.0, 517.25])
    labels = torch.tensor([2, 0])
    r = torch.randn(batch, CONFIG["out_channels"], 8, 8)
    out = model(x, timesteps, class_labels=labels).sample
    loss = (out * r).sum()
    loss.backward()

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors["input.sample"] = x.detach().contiguous()
    tensors["input.timesteps"] = timesteps
    tensors["input.class_labels"] = labels.float()
    tensors["input.weights"] = r
    tensors["output.sample"] = out.detach().contiguous()
    params = dict(model.named_parameters())
    for name in GRADIENT_PARAMETERS:
        tensors[f"grad.{name}"] = params[name].grad.detach().contiguous()
    tensors["grad.input.sample"] = x.grad.detach().contiguous()
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "unet2d_tiny.safetensors"),
              metadata={"generator": "tools/make_unet_fixtures.py", "torch": torch.__version__})
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in model.config.items() if not k.startswith("_")}
    with open(os.path.join(OUT, "unet2d_tiny.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    print("output std:", out.std().item())


if __name__ == "__main__":
    main()
