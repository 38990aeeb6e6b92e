#!/usr/bin/env python3
"""Tiny random-weight Stable Diffusion models (SD 1.x, SD 2.x, SD 1.x inpainting) and their diffusers
reference outputs, for the Swift CLIPTextModel / UNet2DConditionModel / AutoencoderKL parity and loader
tests. With `--full-size OUTDIR`: the full-size SD 1.5 architecture with seeded random weights (not for CI).

Usage: HF_HUB_OFFLINE=1 /tmp/venv/bin/python tools/make_sd_fixtures.py
       HF_HUB_OFFLINE=1 /tmp/venv/bin/python tools/make_sd_fixtures.py --full-size /tmp/sd15-random

Everything is built from local configs; nothing is downloaded. The CLIP tokenizer is the real one from
../shared/sd15/tokenizer (vocab.json, merges.txt).

Tiny mode writes Tests/DiffusionTests/Fixtures/sd/:

  tiny-sd1/                            a diffusers folder
    model_index.json                   StableDiffusionPipeline; safety_checker/feature_extractor [null, null]
    unet/config.json, unet/diffusion_pytorch_model.safetensors           F32
    vae/config.json, vae/diffusion_pytorch_model.safetensors             F32
    text_encoder/config.json, text_encoder/model.safetensors             F16, keys `text_model.*` (the layout
                                       of every published SD text encoder; transformers >= 5.6 saves
                                       without the `text_model.` prefix and loads both)
    tokenizer/tokenizer_config.json, tokenizer/special_tokens_map.json   only these two: vocab.json and
                                       merges.txt (1.6 MB) are NOT copied; tests read them from
                                       ../shared/sd15/tokenizer (SD 1.x and SD 2.x use the same vocabulary)
    scheduler/scheduler_config.json    a copy of SD 1.5's (PNDM, epsilon)
  tiny-sd1.safetensors                 the same weights as one CompVis/original single-file checkpoint, F16:
                                       model.diffusion_model.*   (input_blocks / middle_block / output_blocks)
                                       first_stage_model.*       (VAE; attention q/k/v/proj_out as 1x1 convs
                                                                  [C, C, 1, 1], `norm`, `nin_shortcut`)
                                       cond_stage_model.transformer.text_model.*
                                       + cond_stage_model.transformer.text_model.embeddings.position_ids,
                                         I64 [1, 77] = 0..76, as in the published SD 1.x files (not a
                                         weight: loaders skip it)
  tiny-sd2/                            as tiny-sd1 (unet/vae F32, text_encoder F16), SD 2.x style:
                                       UNet use_linear_projection (proj_in/proj_out are Linear [C, C]),
                                       attention_head_dim a per-block list that diffusers uses as the
                                       NUMBER OF HEADS per block (the SD 2 quirk). Here [2, 4, 8]: heads
                                       x head dim = down 0: 2 x 8, down 1: 4 x 8, mid (the last entry):
                                       8 x 4, up 1: 4 x 8, up 2: 2 x 8 (the list reversed for up blocks);
                                       upcast_attention; text encoder hidden_act "gelu"; tokenizer
                                       pad_token "!" (id 0); scheduler DDIM with prediction_type
                                       "v_prediction" (as stabilityai/stable-diffusion-2-1)
  tiny-sd2.safetensors                 single file in BF16, text encoder in OpenCLIP keys
                                       cond_stage_model.model.{token_embedding.weight, positional_embedding,
                                       transformer.resblocks.N.{ln_1, attn.in_proj_weight [3D, D] (q;k;v
                                       stacked), attn.in_proj_bias [3D], attn.out_proj, ln_2, mlp.c_fc,
                                       mlp.c_proj}, ln_final, text_projection [D, D], logit_scale []}.
                                       The published SD 2.x files hold the full 24-layer OpenCLIP ViT-H;
                                       SD 2 conditions on the penultimate layer, so diffusers' text encoder
                                       has 23 layers and `convert_open_clip_checkpoint` skips the keys of
                                       `resblocks.23` (and `text_projection`) by name
                                       (SD_2_TEXT_ENCODER_KEYS_TO_IGNORE). Likewise this file holds ONE MORE
                                       resblock than text_encoder/config.json's num_hidden_layers (3):
                                       resblocks.3 is random and unused. Loaders take resblocks
                                       0..<num_hidden_layers and ignore the rest, text_projection and
                                       logit_scale. (diffusers' converter, which skips only the name
                                       `resblocks.23`, turns the tiny file's resblocks.3 into
                                       `encoder.layers.3.*` keys that the 3-layer model does not have;
                                       the round-trip check below asserts that these are the only extras.)
  tiny-sd1-inpaint/unet/               SD 1 UNet with in_channels 9 (latent 4 + mask 1 + masked-image latent 4),
                                       config.json + diffusion_pytorch_model.safetensors F32
  tiny-sd1-inpaint.safetensors         that UNet alone in the single-file style (model.diffusion_model.*), F16

  tiny-sd1-reference.safetensors, tiny-sd2-reference.safetensors, tiny-sd1-inpaint-reference.safetensors:
  F32 tensors (prompt_ids I64), computed by diffusers/transformers in float32 on the CPU from the exact
  stored weights:
    prompt_ids                 [3, 77] I64   CLIPTokenizer(prompts, padding="max_length", max_length=77,
                                             truncation=True); SD 1 pads with 49407, SD 2 with "!" = 0.
                                             Prompt 0 is "", prompt 2 is longer than 77 tokens (truncated to
                                             <start> + 75 tokens + <end>).
    text.last_hidden_state     [3, 77, 32]   text_encoder(ids).last_hidden_state (after final_layer_norm)
    text.penultimate_normed    [3, 77, 32]   final_layer_norm(hidden_states[-2]): AUTOMATIC1111's
                                             "clip skip 2" = diffusers' `clip_skip=1`
    text.pooled                [3, 32]       pooler_output (the state at the first argmax id, i.e. <end>)
    unet.sample                [2, 4, 16, 16] (inpaint: [2, 9, 16, 16]) random
    unet.timesteps             [2]           981 and 17.5 (float; one per sample)
    unet.encoder_hidden_states [2, 77, 32]   text.last_hidden_state of prompts 0 and 1 ("" and the cat)
    unet.output                [2, 4, 16, 16] unet(sample, timesteps, encoder_hidden_states).sample
    vae.image                  [1, 3, 32, 32] smooth random image in [-1, 1]
    vae.mean, vae.logvar       [1, 4, 8, 8]  vae.encode(image).latent_dist.{mean, logvar}; diffusers clamps
                                             logvar to [-30, 20] (no value here reaches the clamp)
    vae.latent                 [1, 4, 8, 8]  random: the RAW decoder input (no 1/scaling_factor inside)
    vae.decoded                [1, 3, 32, 32] vae.decode(latent).sample (not clamped)
  (the inpaint file holds only unet.*; its encoder_hidden_states come from tiny-sd1's text encoder.)
  `__metadata__`: prompts (JSON list), the three configs (JSON), pad_token, prediction_type,
  scaling_factor, versions.

Configs (both SD versions unless said): UNet down CrossAttnDownBlock2D, CrossAttnDownBlock2D, DownBlock2D;
up UpBlock2D, CrossAttnUpBlock2D, CrossAttnUpBlock2D; mid UNetMidBlock2DCrossAttn; block_out_channels
(16, 32, 32); layers_per_block 2; norm_num_groups 8; cross_attention_dim 32; time embedding 16 -> 64;
SD 1 attention_head_dim 2 (= 2 heads everywhere: head dims 8, 16, mid 16, up 16, 8); sample 16x16x4. Text:
CLIPTextConfig vocab 49408, hidden 32, 3 layers, 77 positions, intermediate 64; SD 1 4 heads quick_gelu,
SD 2 2 heads gelu. VAE: block_out_channels (8, 16, 16), layers_per_block 2 (encoder blocks have 2
resnets, decoder blocks 3), norm_num_groups 4, latent_channels 4, scaling_factor 0.18215; image 32x32 ->
latent 8x8. (Channels are this small to keep the committed fixtures at a few MB.)

Weights: every parameter is random and scaled so that every part matters: GroupNorm/LayerNorm weights
1 + 0.3 N(0,1) and biases 0.2 N(0,1); other biases 0.1 N(0,1); token embeddings N(0,1), position
embeddings 0.5 N(0,1); linear/conv weights N(0,1) * gain / sqrt(fan_in) with
gain 1.8 for attention query/key projections (softmax far from uniform; the script prints the mean
largest attention probability) and 0.7 on residual branch outputs (activations stay O(1); the script
prints each block's output std). To keep the files small, the token-embedding rows of ids that no
fixture prompt uses are ZERO (49408 x 32 rows; the zeros compress in git). SD 1 and inpaint weights are
rounded to float16-representable values, SD 2 weights to values representable in BOTH bfloat16 and
float16 (bfloat16 rounding, magnitudes below 2^-14 flushed to 0), so every stored format (F32 folders,
F16 text encoders and SD 1 single files, BF16 SD 2 single file) holds exactly the weights the
references were computed with.

The script then checks (and prints) that every tensor round-trips exactly: the single files are read
back from disk and converted with diffusers' own `single_file_utils` (`convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint`, `convert_open_clip_checkpoint`), the
folders are loaded with `from_pretrained`, and the single files are also loaded with `from_single_file`
(UNet, VAE) / `create_diffusers_clip_model_from_ldm` (text) and re-run against the references.

Full-size mode (`--full-size OUTDIR`, a few GB of RAM, ~2 GB of files, not committed): SD 1.5's UNet,
VAE and text encoder from ../shared/sd15/*/config.json with seeded random weights (PyTorch /
transformers default init, norm weights 1 + 0.1 N, norm biases 0.05 N), cast to float16 and saved with
diffusers' variant naming: OUTDIR/{unet/diffusion_pytorch_model.fp16.safetensors,
vae/diffusion_pytorch_model.fp16.safetensors, text_encoder/model.fp16.safetensors (keys text_model.*)},
with the config.json files, tokenizer/, scheduler/ and model_index.json copied from ../shared/sd15.
OUTDIR/reference.safetensors (F32, float32 math on the fp16-rounded weights): prompt_ids [2, 77] I64
("" and "a photo of an astronaut riding a horse on the moon"), text.last_hidden_state [2, 77, 768],
unet.sample [2, 4, 64, 64], unet.timesteps [2] (981, 17.5), unet.encoder_hidden_states [2, 77, 768]
(= text.last_hidden_state), unet.output [2, 4, 64, 64], vae.latent [1, 4, 64, 64] (raw decoder input),
vae.decoded [1, 3, 512, 512]. `tools/bench_reference.py` times diffusers on this folder (sd15-* cases).
"""
import argparse
import gzip
import json
import os
import re
import shutil
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import torch.nn.functional as F
import diffusers
import transformers
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures", "sd")
# The real SD 1.5 configs and tokenizer: ../shared beside the package, or $SWIFTDIFFUSION_SHARED.
SHARED = os.path.join(os.environ.get("SWIFTDIFFUSION_SHARED", os.path.join(ROOT, "..", "shared")), "sd15")
TOKENIZER = os.path.join(SHARED, "tokenizer")

PROMPTS = [
    "",
    "a photo of a cat",
    "a highly detailed oil painting of an old lighthouse on a rocky cliff above a stormy sea at dusk, "
    "dramatic clouds, crashing waves, warm light in the windows, seagulls circling overhead, a small "
    "fishing boat returning to the harbour, wet stones glistening, moss on the walls, trending on "
    "artstation, volumetric lighting, by a famous romantic landscape painter, ultra sharp, 8k",
]
TIMESTEPS = [981.0, 17.5]

UNET_COMMON = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    center_input_sample=False,
    flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    mid_block_type="UNetMidBlock2DCrossAttn",
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[16, 32, 32],
    layers_per_block=2,
    downsample_padding=1,
    mid_block_scale_factor=1,
    act_fn="silu",
    norm_num_groups=8,
    norm_eps=1e-5,
    cross_attention_dim=32,
)
UNET_SD1 = dict(UNET_COMMON, attention_head_dim=2)
UNET_SD2 = dict(UNET_COMMON, attention_head_dim=[2, 4, 8], use_linear_projection=True, upcast_attention=True)
UNET_INPAINT = dict(UNET_SD1, in_channels=9)

VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 3,
    up_block_types=["UpDecoderBlock2D"] * 3,
    block_out_channels=[8, 16, 16],
    layers_per_block=2,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=4,
    sample_size=32,
    scaling_factor=0.18215,
)


def text_config(act, heads):
    """A text_encoder/config.json in the style of the published SD ones (legacy eos_token_id 2)."""
    return {
        "architectures": ["CLIPTextModel"],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "dropout": 0.0,
        "eos_token_id": 2,
        "hidden_act": act,
        "hidden_size": 32,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": heads,
        "num_hidden_layers": 3,
        "pad_token_id": 1,
        "projection_dim": 32,
        "torch_dtype": "float16",
        "vocab_size": 49408,
    }


TEXT_SD1 = text_config("quick_gelu", 4)
TEXT_SD2 = text_config("gelu", 2)

SD2_SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.8.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


def model_index(scheduler_class):
    return {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


# ----------------------------------------------------------------------------------------------------
# Weights


RESIDUAL_OUTPUTS = ("to_out.0", "proj_out", "ff.net.2", "conv2", "out_proj", "fc2")
QUERY_KEY = ("to_q", "to_k", "q_proj", "k_proj")


def randomize(model, seed, used_ids=None):
    """Every parameter random, scaled so that every part matters (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mname, module in model.named_modules():
            for pname, p in module.named_parameters(recurse=False):
                n = torch.randn(p.shape, generator=g)
                if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
                    value = 1 + 0.3 * n if pname == "weight" else 0.2 * n
                elif isinstance(module, torch.nn.Embedding):
                    scale = 1.0 if "token" in mname else 0.5
                    value = scale * n
                    if used_ids is not None and "token" in mname:
                        keep = torch.zeros(p.shape[0], dtype=torch.bool)
                        keep[sorted(used_ids)] = True
                        value[~keep] = 0
                elif pname == "bias":
                    value = 0.1 * n
                else:
                    fan_in = p[0].numel()
                    gain = 1.0
                    if mname.endswith(QUERY_KEY):
                        gain = 1.8
                    elif mname.endswith(RESIDUAL_OUTPUTS):
                        gain = 0.7
                    value = n * gain / fan_in ** 0.5
                p.copy_(value)


def round_f16(t):
    return t.half().float()


def round_bf16_f16(t):
    """Nearest bfloat16 value, flushed to zero below float16's normal range: exact in F32, F16 and BF16."""
    r = t.bfloat16().float()
    r = torch.where(r.abs() < 2.0 ** -14, torch.zeros_like(r), r)
    assert torch.equal(r.half().float(), r) and torch.equal(r.bfloat16().float(), r)
    return r


def round_model(model, rounding):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(rounding(p))


# ----------------------------------------------------------------------------------------------------
# diffusers -> original (CompVis / OpenCLIP) key conversion, after diffusers'
# scripts/convert_diffusers_to_original_stable_diffusion.py, generalised to any number of levels.

UNET_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
               ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
            "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def unet_to_original(sd, config):
    """diffusers UNet2DConditionModel state dict -> `model.diffusion_model.*` keys."""
    per = config["layers_per_block"]
    levels = len(config["down_block_types"])
    up_has_attention = ["CrossAttn" in t for t in config["up_block_types"]]
    out = {}
    for key, value in sd.items():
        new = None
        for d, o in UNET_TOP.items():
            if key.startswith(d + "."):
                new = o + key[len(d):]
        m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
        if m:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            new = f"input_blocks.{(per + 1) * i + j + 1}.{0 if kind == 'resnets' else 1}.{rest}"
        m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key)
        if m:
            new = f"input_blocks.{(per + 1) * (int(m[1]) + 1)}.0.op.{m[2]}"
        m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)
        if m:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            new = f"output_blocks.{(per + 1) * i + j}.{0 if kind == 'resnets' else 1}.{rest}"
        m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key)
        if m:
            i = int(m[1])
            assert i < levels - 1
            new = f"output_blocks.{(per + 1) * i + per}.{2 if up_has_attention[i] else 1}.{m[2]}"
        m = re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key)
        if m:
            new = f"middle_block.{2 * int(m[1])}.{m[2]}"
        m = re.match(r"mid_block\.attentions\.0\.(.*)", key)
        if m:
            new = f"middle_block.1.{m[1]}"
        assert new is not None, key
        if ".resnets." in key:
            head, _, leaf = new.rpartition(".")  # e.g. input_blocks.1.0.norm1 . weight
            block, _, name = head.rpartition(".")
            name = dict(UNET_RESNET)[name]
            new = f"{block}.{name}.{leaf}"
        out["model.diffusion_model." + new] = value
    return out


VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_original(sd, config):
    """diffusers AutoencoderKL state dict -> `first_stage_model.*` keys (attention as 1x1 convolutions)."""
    levels = len(config["block_out_channels"])
    out = {}
    for key, value in sd.items():
        new = key.replace("conv_norm_out", "norm_out")
        m = re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key)
        if m:
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"
        m = re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", key)
        if m:
            new = f"encoder.down.{m[1]}.downsample.{m[2]}"
        m = re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key)
        if m:
            new = f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{m[3]}"
        m = re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key)
        if m:
            new = f"decoder.up.{levels - 1 - int(m[1])}.upsample.{m[2]}"
        m = re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key)
        if m:
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        m = re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)\.(weight|bias)", key)
        if m:
            new = f"{m[1]}.mid.attn_1.{VAE_ATTENTION[m[2]]}.{m[3]}"
            if m[2] != "group_norm" and m[3] == "weight":
                value = value[:, :, None, None]
        new = new.replace("conv_shortcut", "nin_shortcut")
        out["first_stage_model." + new] = value
    return out


def clip_to_original(sd):
    """transformers CLIPTextModel state dict (flattened or `text_model.*`) -> `cond_stage_model.transformer.*`."""
    return {"cond_stage_model.transformer." + with_text_model_prefix(k): v for k, v in sd.items()}


def with_text_model_prefix(key):
    return key if key.startswith("text_model.") else "text_model." + key


def clip_to_open_clip(sd, extra_layer, text_projection, logit_scale):
    """transformers CLIPTextModel state dict -> OpenCLIP `cond_stage_model.model.*` keys (SD 2.x single files).

    `extra_layer`: the state dict of one more encoder layer, stored as the last resblock (unused, as
    ViT-H's 24th layer in the published files)."""
    sd = {k.removeprefix("text_model."): v for k, v in sd.items()}
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.layers."))
    for k, v in extra_layer.items():
        sd[f"encoder.layers.{layers}.{k}"] = v
    p = "cond_stage_model.model."
    out = {p + "token_embedding.weight": sd.pop("embeddings.token_embedding.weight"),
           p + "positional_embedding": sd.pop("embeddings.position_embedding.weight"),
           p + "ln_final.weight": sd.pop("final_layer_norm.weight"),
           p + "ln_final.bias": sd.pop("final_layer_norm.bias")}
    names = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
    for n in range(layers + 1):
        src = f"encoder.layers.{n}."
        dst = f"{p}transformer.resblocks.{n}."
        for leaf in ("weight", "bias"):
            out[dst + f"attn.in_proj_{leaf}"] = torch.cat(
                [sd.pop(src + f"self_attn.{x}_proj.{leaf}") for x in "qkv"], dim=0)
            for d, o in names.items():
                out[dst + f"{o}.{leaf}"] = sd.pop(src + f"{d}.{leaf}")
    assert not sd, sorted(sd)
    out[p + "text_projection"] = text_projection
    out[p + "logit_scale"] = logit_scale
    return out


# ----------------------------------------------------------------------------------------------------
# Checks


def block_stds(model, run, prefixes):
    """Runs `run()` and returns {module name: output std} for the named submodules."""
    stats, hooks = {}, []
    for name, module in model.named_modules():
        if name in prefixes:
            def hook(mod, inp, out, name=name):
                t = out[0] if isinstance(out, tuple) else out
                t = getattr(t, "sample", t)
                stats[name] = t.std().item()
            hooks.append(module.register_forward_hook(hook))
    run()
    for h in hooks:
        h.remove()
    return stats


def attention_peaks(model, run, heads_of):
    """Mean (over rows) of the largest attention probability of every attention (q/k captured by hooks).

    A uniform softmax over N keys gives 1/N."""
    captured, hooks = {}, []
    for name, module in model.named_modules():
        for qn, kn in (("to_q", "to_k"), ("q_proj", "k_proj")):
            if hasattr(module, qn) and hasattr(module, kn):
                for which, sub in (("q", getattr(module, qn)), ("k", getattr(module, kn))):
                    def hook(mod, inp, out, name=name, which=which):
                        captured.setdefault(name, {})[which] = out.detach()
                    hooks.append(sub.register_forward_hook(hook))
    run()
    for h in hooks:
        h.remove()
    result = {}
    for name, qk in captured.items():
        q, k = qk["q"], qk["k"]
        if q.dim() == 4:  # a VAE attention given a [B, C, H, W] map is flattened by diffusers first
            continue
        heads = heads_of(name)
        b, n, c = q.shape
        d = c // heads
        qh = q.view(b, n, heads, d).transpose(1, 2)
        kh = k.view(b, k.shape[1], heads, d).transpose(1, 2)
        logits = qh @ kh.transpose(-1, -2) / d ** 0.5
        if "self_attn" in name:  # CLIP: causal
            logits = logits + torch.full((n, n), float("-inf")).triu(1)
        result[name] = (logits.softmax(-1).amax(-1).mean().item(), 1 / k.shape[1])
    return result


def print_stats(title, stats):
    print(f"  {title}: " + ", ".join(f"{k} {v:.2f}" for k, v in stats.items()))


def assert_same(label, expected, actual, allowed_extra=()):
    """Exact equality (values as float32) of two state dicts; reports the count."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    assert not missing, f"{label}: missing {missing[:5]}"
    assert set(extra) == set(allowed_extra), f"{label}: unexpected extra keys {extra[:8]}"
    for k, v in expected.items():
        a = actual[k]
        assert a.shape == v.shape, f"{label}: {k} {tuple(a.shape)} != {tuple(v.shape)}"
        assert torch.equal(a.float(), v.float()), f"{label}: {k} differs"
    note = f" (+ {len(extra)} expected extra keys)" if extra else ""
    print(f"  round trip {label}: {len(expected)} tensors identical{note}")


# ----------------------------------------------------------------------------------------------------
# References


def tokenize(pad_token=None):
    kwargs = {"pad_token": pad_token} if pad_token else {}
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER, **kwargs)
    ids = tokenizer(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    return ids.long()


def text_references(text_encoder, ids):
    with torch.no_grad():
        out = text_encoder(ids, output_hidden_states=True)
        return {
            "text.last_hidden_state": out.last_hidden_state,
            "text.penultimate_normed": text_encoder.final_layer_norm(out.hidden_states[-2]),
            "text.pooled": out.pooler_output,
        }


def unet_references(unet, states, seed):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(2, unet.config.in_channels, 16, 16, generator=g)
    timesteps = torch.tensor(TIMESTEPS, dtype=torch.float32)
    with torch.no_grad():
        output = unet(sample, timesteps, encoder_hidden_states=states).sample
    return {"unet.sample": sample, "unet.timesteps": timesteps, "unet.encoder_hidden_states": states,
            "unet.output": output}


def vae_references(vae, seed):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, 3, 4, 4, generator=g)
    image = torch.tanh(1.2 * F.interpolate(coarse, size=(32, 32), mode="bicubic", align_corners=False))
    image = (image + 0.05 * torch.randn(1, 3, 32, 32, generator=g)).clamp(-1, 1)
    latent = torch.randn(1, 4, 8, 8, generator=g)
    with torch.no_grad():
        dist = vae.encode(image).latent_dist
        decoded = vae.decode(latent).sample
    assert dist.logvar.min() > -30 and dist.logvar.max() < 20
    return {"vae.image": image, "vae.mean": dist.mean, "vae.logvar": dist.logvar, "vae.latent": latent,
            "vae.decoded": decoded}


def rerun(refs, unet=None, vae=None, text_encoder=None):
    """Recomputes the references with models loaded some other way; returns the largest difference."""
    worst = 0.0
    with torch.no_grad():
        if text_encoder is not None:
            out = text_encoder(refs["prompt_ids"]).last_hidden_state
            worst = max(worst, (out - refs["text.last_hidden_state"]).abs().max().item())
        if unet is not None:
            out = unet(refs["unet.sample"], refs["unet.timesteps"],
                       encoder_hidden_states=refs["unet.encoder_hidden_states"]).sample
            worst = max(worst, (out - refs["unet.output"]).abs().max().item())
        if vae is not None:
            out = vae.decode(refs["vae.latent"]).sample
            worst = max(worst, (out - refs["vae.decoded"]).abs().max().item())
            mean = vae.encode(refs["vae.image"]).latent_dist.mean
            worst = max(worst, (mean - refs["vae.mean"]).abs().max().item())
    return worst


# ----------------------------------------------------------------------------------------------------
# Writing


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def save_sorted(tensors, path, metadata):
    """safetensors' save_file with the metadata in sorted order (safetensors writes it in hash order), so
    that regenerating gives byte-identical files."""
    import struct
    from safetensors.torch import save
    data = save(tensors, metadata=metadata)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])


def contiguous(sd, dtype=None):
    return {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous()
            for k, v in sd.items()}


def save_text_encoder(folder, model, config, dtype):
    write_json(os.path.join(folder, "config.json"), config)
    sd = {with_text_model_prefix(k): v for k, v in model.state_dict().items()}
    save_file(contiguous(sd, dtype), os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})


def write_tokenizer(folder, pad_token):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(TOKENIZER, "tokenizer_config.json")) as f:
        config = json.load(f)
    with open(os.path.join(TOKENIZER, "special_tokens_map.json")) as f:
        special = json.load(f)
    config["pad_token"] = pad_token
    special["pad_token"] = pad_token
    config.pop("special_tokens_map_file", None)
    write_json(os.path.join(folder, "tokenizer_config.json"), config)
    write_json(os.path.join(folder, "special_tokens_map.json"), special)


def config_json(model):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(model.config).items()
            if not k.startswith("_")}


def metadata(extra):
    base = {"generator": "tools/make_sd_fixtures.py", "torch": torch.__version__,
            "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "prompts": json.dumps(PROMPTS)}
    base.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return base


def unet_prefixes(unet):
    names = ["conv_in", "time_embedding"]
    names += [f"down_blocks.{i}" for i in range(len(unet.down_blocks))]
    names += ["mid_block"] + [f"up_blocks.{i}" for i in range(len(unet.up_blocks))] + ["conv_out"]
    return names


def vae_prefixes(vae):
    names = []
    for part in ("encoder", "decoder"):
        blocks = "down_blocks" if part == "encoder" else "up_blocks"
        names += [f"{part}.conv_in"] + [f"{part}.{blocks}.{i}" for i in range(3)] + [f"{part}.mid_block",
                                                                                     f"{part}.conv_out"]
    return names


def report_model(label, model, run, prefixes, heads_of):
    print_stats(f"{label} block output std", block_stds(model, run, prefixes))
    peaks = attention_peaks(model, run, heads_of)
    if peaks:
        values = [p for p, _ in peaks.values()]
        uniform = max(u for _, u in peaks.values())
        print(f"  {label} attention: mean largest probability {min(values):.2f}..{max(values):.2f} over "
              f"{len(values)} attentions (uniform would be <= {uniform:.3f})")


def build_sd(name, unet_config, text_cfg, pad_token, rounding, seed, scheduler, scheduler_class,
             single_dtype, open_clip):
    """Builds, saves and checks one tiny SD model; returns (references, models)."""
    print(f"{name}:")
    folder = os.path.join(OUT, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    ids = tokenize(pad_token)
    used = set(ids.flatten().tolist())

    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in text_cfg.items() if k != "architectures"}))
    text_encoder.eval()
    randomize(text_encoder, seed + 1, used_ids=used)
    round_model(text_encoder, rounding)
    unet = UNet2DConditionModel(**unet_config).eval()
    randomize(unet, seed + 2)
    round_model(unet, rounding)
    vae = AutoencoderKL(**VAE).eval()
    randomize(vae, seed + 3)
    round_model(vae, rounding)
    print(f"  parameters: unet {sum(p.numel() for p in unet.parameters()):,}, vae "
          f"{sum(p.numel() for p in vae.parameters()):,}, text encoder "
          f"{sum(p.numel() for p in text_encoder.parameters()):,} ({len(used)} token rows non-zero)")

    refs = {"prompt_ids": ids}
    refs.update(text_references(text_encoder, ids))
    states = refs["text.last_hidden_state"][:2].clone()
    refs.update(unet_references(unet, states, seed + 4))
    refs.update(vae_references(vae, seed + 5))

    text_heads = text_cfg["num_attention_heads"]
    report_model("text", text_encoder, lambda: text_encoder(ids),
                 [f"encoder.layers.{i}" for i in range(text_cfg["num_hidden_layers"])], lambda n: text_heads)
    unet_heads = {n: m.heads for n, m in unet.named_modules() if hasattr(m, "heads")}
    report_model("unet", unet, lambda: unet(refs["unet.sample"], refs["unet.timesteps"],
                                            encoder_hidden_states=states), unet_prefixes(unet),
                 lambda n: unet_heads[n])
    report_model("vae", vae, lambda: (vae.encode(refs["vae.image"]), vae.decode(refs["vae.latent"])),
                 vae_prefixes(vae), lambda n: 1)
    print(f"  output std: text {refs['text.last_hidden_state'].std():.2f}, unet {refs['unet.output'].std():.2f}, "
          f"vae decoded {refs['vae.decoded'].std():.2f}, latent mean std {refs['vae.mean'].std():.2f}, "
          f"logvar {refs['vae.logvar'].min():.2f}..{refs['vae.logvar'].max():.2f}")

    # The diffusers folder.
    write_json(os.path.join(folder, "model_index.json"), model_index(scheduler_class))
    unet.save_pretrained(os.path.join(folder, "unet"), safe_serialization=True)
    vae.save_pretrained(os.path.join(folder, "vae"), safe_serialization=True)
    save_text_encoder(os.path.join(folder, "text_encoder"), text_encoder, text_cfg, torch.float16)
    write_tokenizer(os.path.join(folder, "tokenizer"), pad_token or "<|endoftext|>")
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), scheduler)

    # The single file.
    unet_sd, vae_sd, text_sd = unet.state_dict(), vae.state_dict(), text_encoder.state_dict()
    single = {}
    single.update(unet_to_original(unet_sd, unet_config))
    single.update(vae_to_original(vae_sd, VAE))
    if open_clip:
        g = torch.Generator().manual_seed(seed + 6)
        extra = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in text_cfg.items() if k != "architectures"}))
        randomize(extra, seed + 7)
        round_model(extra, rounding)
        extra_layer = extra.encoder.layers[0].state_dict()
        d = text_cfg["hidden_size"]
        projection = rounding(torch.randn(d, d, generator=g) / d ** 0.5)
        logit_scale = rounding(torch.tensor(4.6052))  # log(100), as trained CLIP models end
        single.update(clip_to_open_clip(text_sd, extra_layer, projection, logit_scale))
    else:
        single.update(clip_to_original(text_sd))
        single["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    single_path = os.path.join(OUT, f"{name}.safetensors")
    save_file(contiguous(single, single_dtype), single_path)

    # Checks: the single file read back and converted by diffusers.
    from diffusers.loaders import single_file_utils as sfu
    loaded = load_file(single_path)
    assert_same("single file -> unet (convert_ldm_unet_checkpoint)", unet_sd,
                sfu.convert_ldm_unet_checkpoint(loaded, dict(unet.config)))
    assert_same("single file -> vae (convert_ldm_vae_checkpoint)", vae_sd,
                sfu.convert_ldm_vae_checkpoint(loaded, dict(vae.config)))
    prefixed = {with_text_model_prefix(k): v for k, v in text_sd.items()}
    if open_clip:
        converted = sfu.convert_open_clip_checkpoint(text_encoder, loaded)
        n = text_cfg["num_hidden_layers"]
        extra_keys = [k for k in converted if k.startswith(f"text_model.encoder.layers.{n}.")]
        assert_same("single file -> text encoder (convert_open_clip_checkpoint)", prefixed, converted, extra_keys)
    else:
        converted = sfu.convert_ldm_clip_checkpoint(loaded)
        converted.pop("text_model.embeddings.position_ids")
        assert_same("single file -> text encoder (convert_ldm_clip_checkpoint)", prefixed, converted)

    # Checks: the folder loaded by diffusers / transformers.
    unet2 = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    vae2 = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    text2 = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=torch.float32)
    assert_same("folder unet (from_pretrained)", unet_sd, unet2.state_dict())
    assert_same("folder vae (from_pretrained)", vae_sd, vae2.state_dict())
    assert_same("folder text encoder (from_pretrained)", text_sd, text2.state_dict())
    print(f"  folder models re-run: largest difference {rerun(refs, unet2, vae2, text2.eval()):.1e}")

    # Checks: the single file loaded by diffusers' from_single_file.
    unet3 = UNet2DConditionModel.from_single_file(single_path, config=folder, subfolder="unet",
                                                  torch_dtype=torch.float32, local_files_only=True)
    vae3 = AutoencoderKL.from_single_file(single_path, config=folder, subfolder="vae",
                                          torch_dtype=torch.float32, local_files_only=True)
    checkpoint = load_file(single_path)
    if open_clip:  # diffusers skips only the name `resblocks.23`; drop the tiny file's unused last layer here
        n = text_cfg["num_hidden_layers"]
        checkpoint = {k: v for k, v in checkpoint.items() if f"transformer.resblocks.{n}." not in k}
    text3 = sfu.create_diffusers_clip_model_from_ldm(CLIPTextModel, checkpoint, config=folder,
                                                     subfolder="text_encoder", torch_dtype=torch.float32,
                                                     local_files_only=True)
    assert_same("single file unet (from_single_file)", unet_sd, unet3.state_dict())
    assert_same("single file vae (from_single_file)", vae_sd, vae3.state_dict())
    assert_same("single file text encoder (create_diffusers_clip_model_from_ldm)", text_sd, text3.state_dict())
    print(f"  single-file models re-run: largest difference {rerun(refs, unet3, vae3, text3):.1e}")

    meta = metadata({"unet_config": config_json(unet), "vae_config": config_json(vae),
                     "text_encoder_config": text_cfg, "pad_token": pad_token or "<|endoftext|>",
                     "prediction_type": scheduler.get("prediction_type", "epsilon"),
                     "scaling_factor": str(VAE["scaling_factor"]),
                     "unet_encoder_hidden_states": "text.last_hidden_state of prompts 0 and 1",
                     "vae_latent": "raw decoder input: vae.decode(latent), no 1/scaling_factor inside"})
    save_sorted(contiguous(refs), os.path.join(OUT, f"{name}-reference.safetensors"), meta)
    return refs, text_encoder


def build_inpaint(sd1_refs, seed):
    name = "tiny-sd1-inpaint"
    print(f"{name}:")
    folder = os.path.join(OUT, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**UNET_INPAINT).eval()
    randomize(unet, seed + 2)
    round_model(unet, round_f16)
    states = sd1_refs["text.last_hidden_state"][:2].clone()
    refs = unet_references(unet, states, seed + 4)
    unet_heads = {n: m.heads for n, m in unet.named_modules() if hasattr(m, "heads")}
    report_model("unet", unet, lambda: unet(refs["unet.sample"], refs["unet.timesteps"],
                                            encoder_hidden_states=states), unet_prefixes(unet),
                 lambda n: unet_heads[n])
    print(f"  output std: unet {refs['unet.output'].std():.2f}")
    unet.save_pretrained(os.path.join(folder, "unet"), safe_serialization=True)
    single_path = os.path.join(OUT, f"{name}.safetensors")
    unet_sd = unet.state_dict()
    save_file(contiguous(unet_to_original(unet_sd, UNET_INPAINT), torch.float16), single_path)
    from diffusers.loaders import single_file_utils as sfu
    assert_same("single file -> unet (convert_ldm_unet_checkpoint)", unet_sd,
                sfu.convert_ldm_unet_checkpoint(load_file(single_path), dict(unet.config)))
    unet2 = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    assert_same("folder unet (from_pretrained)", unet_sd, unet2.state_dict())
    unet3 = UNet2DConditionModel.from_single_file(single_path, config=folder, subfolder="unet",
                                                  torch_dtype=torch.float32, local_files_only=True)
    assert_same("single file unet (from_single_file)", unet_sd, unet3.state_dict())
    print(f"  re-run: folder {rerun(refs, unet2):.1e}, single file {rerun(refs, unet3):.1e}")
    meta = metadata({"unet_config": config_json(unet),
                     "unet_encoder_hidden_states": "tiny-sd1 text.last_hidden_state of prompts 0 and 1",
                     "unet_sample_channels": "0..3 noisy latent, 4 mask, 5..8 masked-image latent"})
    save_sorted(contiguous(refs), os.path.join(OUT, f"{name}-reference.safetensors"), meta)


def print_sizes():
    total = total_gz = 0
    print("files:")
    for dirpath, _, files in sorted(os.walk(OUT)):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                data = fh.read()
            gz = len(gzip.compress(data, 6))
            total += len(data)
            total_gz += gz
            print(f"  {os.path.relpath(path, OUT):62s} {len(data) / 1e6:7.3f} MB  (gzip {gz / 1e6:6.3f} MB)")
    print(f"  total {total / 1e6:.2f} MB on disk, {total_gz / 1e6:.2f} MB compressed")


def print_layout(path):
    with safe_open(path, "pt") as f:
        for k in f.keys():
            s = f.get_slice(k)
            print(f"    {k:28s} {s.get_dtype():4s} {s.get_shape()}")


def tiny():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(SHARED, "scheduler", "scheduler_config.json")) as f:
        sd1_scheduler = json.load(f)
    sd1_refs, _ = build_sd("tiny-sd1", UNET_SD1, TEXT_SD1, None, round_f16, 100, sd1_scheduler,
                           "PNDMScheduler", torch.float16, open_clip=False)
    build_sd("tiny-sd2", UNET_SD2, TEXT_SD2, "!", round_bf16_f16, 200, SD2_SCHEDULER, "DDIMScheduler",
             torch.bfloat16, open_clip=True)
    build_inpaint(sd1_refs, 300)
    for name in ("tiny-sd1", "tiny-sd1-inpaint"):
        print(f"  {name}-reference.safetensors:")
        print_layout(os.path.join(OUT, f"{name}-reference.safetensors"))
    print_sizes()


# ----------------------------------------------------------------------------------------------------
# Full size


def full_size(outdir):
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(outdir, exist_ok=True)
    for f in ("model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
              "text_encoder/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
              "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json"):
        os.makedirs(os.path.dirname(os.path.join(outdir, f)), exist_ok=True)
        shutil.copyfile(os.path.join(SHARED, f), os.path.join(outdir, f))

    def mild_norms(model, seed):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
                    module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=g))
                    module.bias.copy_(0.05 * torch.randn(module.bias.shape, generator=g))

    def fp16_roundtrip(model):
        sd = {k: v.half().contiguous() for k, v in model.state_dict().items()}
        with torch.no_grad():
            for k, p in model.state_dict().items():
                p.copy_(sd[k].float())
        return sd

    refs, timings = {}, {}
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    prompts = ["", "a photo of an astronaut riding a horse on the moon"]
    ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    refs["prompt_ids"] = ids.long()

    t = time.perf_counter()
    torch.manual_seed(1)
    config = CLIPTextConfig.from_json_file(os.path.join(SHARED, "text_encoder", "config.json"))
    text_encoder = CLIPTextModel(config).eval()
    mild_norms(text_encoder, 11)
    sd = fp16_roundtrip(text_encoder)
    save_file({with_text_model_prefix(k): v for k, v in sd.items()},
              os.path.join(outdir, "text_encoder", "model.fp16.safetensors"), metadata={"format": "pt"})
    del sd
    timings["text encoder build+save"] = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        states = text_encoder(refs["prompt_ids"]).last_hidden_state
    timings["text encoder [2,77]"] = time.perf_counter() - t
    refs["text.last_hidden_state"] = states
    del text_encoder

    t = time.perf_counter()
    torch.manual_seed(2)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(os.path.join(SHARED, "unet"))).eval()
    mild_norms(unet, 12)
    sd = fp16_roundtrip(unet)
    save_file(sd, os.path.join(outdir, "unet", "diffusion_pytorch_model.fp16.safetensors"),
              metadata={"format": "pt"})
    del sd
    timings["unet build+save"] = time.perf_counter() - t
    g = torch.Generator().manual_seed(3)
    refs["unet.sample"] = torch.randn(2, 4, 64, 64, generator=g)
    refs["unet.timesteps"] = torch.tensor(TIMESTEPS, dtype=torch.float32)
    refs["unet.encoder_hidden_states"] = states.clone()
    t = time.perf_counter()
    with torch.no_grad():
        refs["unet.output"] = unet(refs["unet.sample"], refs["unet.timesteps"],
                                   encoder_hidden_states=states).sample
    timings["unet b2 64x64"] = time.perf_counter() - t
    del unet

    t = time.perf_counter()
    torch.manual_seed(4)
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(os.path.join(SHARED, "vae"))).eval()
    mild_norms(vae, 14)
    sd = fp16_roundtrip(vae)
    save_file(sd, os.path.join(outdir, "vae", "diffusion_pytorch_model.fp16.safetensors"),
              metadata={"format": "pt"})
    del sd
    timings["vae build+save"] = time.perf_counter() - t
    refs["vae.latent"] = torch.randn(1, 4, 64, 64, generator=g)
    t = time.perf_counter()
    with torch.no_grad():
        refs["vae.decoded"] = vae.decode(refs["vae.latent"]).sample
    timings["vae decode 64x64 -> 512x512"] = time.perf_counter() - t
    del vae

    save_sorted(contiguous(refs), os.path.join(outdir, "reference.safetensors"),
                metadata({"prompts": json.dumps(prompts),
                          "weights": "fp16 files of this folder, math in float32",
                          "vae_latent": "raw decoder input: vae.decode(latent), no 1/scaling_factor inside"}))
    print(f"full size SD 1.5 (random weights) in {outdir}, {torch.get_num_threads()} threads:")
    for k, v in timings.items():
        print(f"  {k:32s} {v:8.2f} s")
    for k, v in refs.items():
        print(f"  {k:28s} {str(v.dtype):14s} {list(v.shape)}  std {v.float().std():.3f}")
    for dirpath, _, files in sorted(os.walk(outdir)):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            print(f"  {os.path.relpath(path, outdir):50s} {os.path.getsize(path) / 1e6:10.2f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", metavar="OUTDIR", help="build full-size SD 1.5 with random weights in OUTDIR")
    args = parser.parse_args()
    if args.full_size:
        full_size(args.full_size)
    else:
        tiny()


if __name__ == "__main__":
    main()
