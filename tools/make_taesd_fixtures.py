#!/usr/bin/env python3
"""Writes the TAESD reference fixtures read by Tests/DiffusionTests/TAESDTests.swift.

Run with the fixture environment (torch 2.x CPU, diffusers, safetensors, Pillow), from the
package root, with the shared data folder at ../shared (or at $SWIFTDIFFUSION_SHARED):

    /tmp/venv/bin/python tools/make_taesd_fixtures.py

Inputs (not shipped): ../shared/weights/taesd-sd1/taesd_{encoder,decoder}.safetensors (BF16,
ComfyUI keys `1.conv.0.weight`, ...) and ../shared/images/chelsea.png (451x300 RGB).

What it checks before writing anything (each an assert):
- diffusers' AutoencoderTiny (keys prefixed `encoder.layers.` / `decoder.layers.`, decoder index
  minus 1 because the parameter-free Clamp is layer 0 of the file's numbering but lives in
  DecoderTiny.forward) and a TAESD module written here from the architecture (conv3x3 blocks
  with a ReLU fuse, as in madebyollin/taesd) give the same numbers, which pins the conventions:
  - raw TAESD encoder input is RGB in [0, 1]; diffusers' `encode` takes [-1, 1] and maps it
    with (x + 1) / 2 before the same layers;
  - raw TAESD decoder output is RGB nominally in [0, 1] (not clamped); diffusers' `decode`
    returns 2·raw − 1 (nominally [-1, 1], not clamped either).

Output in Tests/DiffusionTests/Fixtures/:
- taesd_chelsea.safetensors (float32), the reference for a 128x96 crop of chelsea.png taken
  without resampling (columns 120..<248, rows 60..<156), so Swift crops the same pixels:
    latents   [1, 4, 12, 16]   raw encoder(crop in [0, 1])
    decoded   [1, 3, 96, 128]  raw decoder(latents), unclamped
  metadata: crop coordinates, the sum of the crop's 8-bit pixel values (to prove the Swift crop
  reads the same bytes), parameter counts, and the round-trip PSNR of a 384x256 crop
  (columns 33..<417, rows 22..<278, the centre of the photo) measured here:
  decode(encode(x)) clamped to [0, 1], PSNR = 10·log10(1 / MSE) over all pixels and channels.
- taesd_keys.json: every parameter name and shape of encoder and decoder, as the files store
  them (the names the Swift modules must produce), and diffusers' AutoencoderTiny state-dict
  names and shapes (for the renaming rules), for tests that run without ../shared.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
from diffusers import AutoencoderTiny
from PIL import Image
from safetensors.torch import load_file, save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.environ.get("SWIFTDIFFUSION_SHARED", os.path.join(ROOT, "..", "shared"))
OUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures")
WEIGHTS = os.path.join(SHARED, "weights", "taesd-sd1")

# Crops (x0, y0, width, height) in pixels of chelsea.png; no resampling anywhere.
FIXTURE_CROP = (120, 60, 128, 96)
PSNR_CROP = (33, 22, 384, 256)


# --- TAESD from its architecture (what the Swift port mirrors) -------------------------------

def conv3x3(channels_in, channels_out, stride=1, bias=True):
    return nn.Conv2d(channels_in, channels_out, kernel_size=3, stride=stride, padding=1, bias=bias)


class Block(nn.Module):
    """relu(conv3x3 → relu → conv3x3 → relu → conv3x3 (x) + skip(x)), skip = identity at 64→64."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Sequential(conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels), nn.ReLU(),
                                  conv3x3(channels, channels))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()

    def forward(self, x):
        return self.fuse(self.conv(x) + self.skip(x))


class SoftClamp(nn.Module):
    """tanh(x / 3) · 3: bounds decoder inputs to (-3, 3) smoothly."""

    def forward(self, x):
        return torch.tanh(x / 3) * 3


def make_encoder(latent_channels=4):
    layers = [conv3x3(3, 64), Block(64)]
    for _ in range(3):
        layers += [conv3x3(64, 64, stride=2, bias=False), Block(64), Block(64), Block(64)]
    layers.append(conv3x3(64, latent_channels))
    return nn.Sequential(*layers)


def make_decoder(latent_channels=4):
    layers = [SoftClamp(), conv3x3(latent_channels, 64), nn.ReLU()]
    for _ in range(3):
        layers += [Block(64), Block(64), Block(64), nn.Upsample(scale_factor=2, mode="nearest"),
                   conv3x3(64, 64, bias=False)]
    layers += [Block(64), conv3x3(64, 3)]
    return nn.Sequential(*layers)


# --- helpers ---------------------------------------------------------------------------------

def load_weights(name):
    state = load_file(os.path.join(WEIGHTS, f"taesd_{name}.safetensors"))
    return {k: v.to(torch.float32) for k, v in state.items()}   # BF16 → float32, exactly


def crop01(image, box):
    """[1, 3, h, w] float32 in [0, 1] from the uint8 pixels, and the pixels' sum."""
    x0, y0, w, h = box
    pixels = image[y0:y0 + h, x0:x0 + w, :]
    tensor = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1).unsqueeze(0).contiguous()
    return tensor, int(pixels.astype(np.int64).sum())


def main():
    torch.manual_seed(0)
    encoder_state, decoder_state = load_weights("encoder"), load_weights("decoder")

    encoder, decoder = make_encoder().eval(), make_decoder().eval()
    encoder.load_state_dict(encoder_state, strict=True)
    decoder.load_state_dict(decoder_state, strict=True)

    tiny = AutoencoderTiny().eval()   # default config: 4 latent channels, 64 channels, relu
    renamed = {"encoder.layers." + k: v for k, v in encoder_state.items()}
    for k, v in decoder_state.items():
        index, rest = k.split(".", 1)
        renamed[f"decoder.layers.{int(index) - 1}.{rest}"] = v
    tiny.load_state_dict(renamed, strict=True)   # raises on any missing or unexpected key

    image = np.asarray(Image.open(os.path.join(SHARED, "images", "chelsea.png")).convert("RGB"))
    assert image.shape == (300, 451, 3), image.shape

    with torch.no_grad():
        x, pixel_sum = crop01(image, FIXTURE_CROP)
        latents = encoder(x)
        decoded = decoder(latents)

        # The two implementations agree, and the conventions are as documented above.
        diffusers_latents = tiny.encode(x * 2 - 1).latents
        diffusers_decoded = tiny.decode(latents).sample
        assert torch.allclose(latents, diffusers_latents, atol=1e-5, rtol=0), (latents - diffusers_latents).abs().max()
        assert torch.allclose(decoded, (diffusers_decoded + 1) / 2, atol=1e-5, rtol=0)

        big, _ = crop01(image, PSNR_CROP)
        round_trip = decoder(encoder(big)).clamp(0, 1)
        mse = float(((round_trip - big) ** 2).mean())
        psnr = 10 * math.log10(1 / mse)

    print(f"latents {tuple(latents.shape)}: min {latents.min():.4f} max {latents.max():.4f} "
          f"mean {latents.mean():.4f} std {latents.std():.4f}")
    print(f"decoded {tuple(decoded.shape)}: min {decoded.min():.4f} max {decoded.max():.4f}")
    print(f"fixture crop MSE vs input (clamped): {float(((decoded.clamp(0, 1) - x) ** 2).mean()):.6f}")
    print(f"round-trip PSNR of the {PSNR_CROP[2]}x{PSNR_CROP[3]} crop: {psnr:.4f} dB")

    encoder_count = sum(p.numel() for p in encoder.parameters())
    decoder_count = sum(p.numel() for p in decoder.parameters())
    metadata = {
        "source": "tools/make_taesd_fixtures.py",
        "image": "chelsea.png",
        "crop_x": str(FIXTURE_CROP[0]), "crop_y": str(FIXTURE_CROP[1]),
        "crop_width": str(FIXTURE_CROP[2]), "crop_height": str(FIXTURE_CROP[3]),
        "crop_pixel_sum": str(pixel_sum),
        "psnr_crop_x": str(PSNR_CROP[0]), "psnr_crop_y": str(PSNR_CROP[1]),
        "psnr_crop_width": str(PSNR_CROP[2]), "psnr_crop_height": str(PSNR_CROP[3]),
        "round_trip_psnr_db": repr(psnr),
        "encoder_parameters": str(encoder_count),
        "decoder_parameters": str(decoder_count),
    }
    os.makedirs(OUT, exist_ok=True)
    save_file({"latents": latents.contiguous(), "decoded": decoded.contiguous()},
              os.path.join(OUT, "taesd_chelsea.safetensors"), metadata=metadata)

    keys = {
        "encoder": [{"name": k, "shape": list(v.shape)} for k, v in encoder.state_dict().items()],
        "decoder": [{"name": k, "shape": list(v.shape)} for k, v in decoder.state_dict().items()],
        "encoder_parameters": encoder_count,
        "decoder_parameters": decoder_count,
        # diffusers' AutoencoderTiny names, in its own order, for the renaming rules.
        "diffusers": [{"name": k, "shape": list(v.shape)} for k, v in tiny.state_dict().items()],
    }
    assert set(k["name"] for k in keys["encoder"]) == set(encoder_state)
    assert set(k["name"] for k in keys["decoder"]) == set(decoder_state)
    with open(os.path.join(OUT, "taesd_keys.json"), "w") as f:
        json.dump(keys, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
