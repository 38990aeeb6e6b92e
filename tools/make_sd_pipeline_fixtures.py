#!/usr/bin/env python3
"""Writes the pipeline parity fixtures: diffusers scheduler classes as samplers, and complete
Stable Diffusion pipeline runs on the tiny random-weight models of tools/make_sd_fixtures.py.

Run with the fixture environment (diffusers 0.42, torch CPU):
    /tmp/venv/bin/python tools/make_sd_pipeline_fixtures.py [--only schedulers|pipelines|more|twocall|pndm]

1. Tests/DiffusionTests/Fixtures/diffusers_schedulers_ddpm_fmnist.safetensors
   The project's own models/ddpm-fmnist sampled as a user of diffusers would: for each scheduler
   class C, `C.from_config(DDPMPipeline.from_pretrained("models/ddpm-fmnist").scheduler.config)`,
   20 steps, `torch.Generator().manual_seed(0)`, batch 4. The VP schedulers run through
   `DDPMPipeline` itself; the Euler family (which DDPMPipeline does not scale) through the loop
   of diffusers' other pipelines: latents = randn * init_noise_sigma, unet(scale_model_input(x, t), t),
   scheduler.step(..., generator). Stored per class: `<Class>.images` [4, 1, 32, 32] in [-1, 1]
   (before the pipeline's clamp), `<Class>.timesteps` and `<Class>.sigmas` (where the class has them).

2. Tests/DiffusionTests/Fixtures/sd/pipeline-<model>.safetensors for tiny-sd1 and tiny-sd2 (+ inpaint)
   StableDiffusionPipeline / StableDiffusionImg2ImgPipeline / StableDiffusionInpaintPipeline runs
   at 64x64 (see CASES): `<case>.latents` (output_type="latent": before division by the scaling
   factor) and `<case>.image` (the uint8 PNG values as float32, [B, 3, 64, 64]). The metadata
   holds each case's settings as JSON. The init image and mask are written as PNGs beside them.

3. Tests/DiffusionTests/Fixtures/sd/pipeline-more-reference.safetensors and pipeline-more-cases.json
   (`--only more`, MORE_CASES; the files of 2. are left as they are): inpainting with the ordinary
   4-channel tiny models (StableDiffusionInpaintPipeline re-noising the kept region after each
   step; DDIM and Euler ancestral, strength 1 and 0.75), PNDMScheduler off its own timestep grid
   (timestep_spacing linspace and trailing) and in img2img, and DPMSolverSinglestepScheduler with
   use_karras_sigmas. A case's `config` holds the scheduler configuration fields it changes.

4. Tests/DiffusionTests/Fixtures/sd/pipeline-twocall-reference.safetensors and pipeline-twocall-cases.json
   (`--only twocall`, TWOCALL_CASES; the files of 2. and 3. are left as they are): inpainting with the
   ordinary 4-channel tiny models and the schedulers that call the UNet twice per step
   (HeunDiscreteScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler), strength 1 and
   0.75. StableDiffusionInpaintPipeline re-noises the kept region after every `scheduler.step`, the
   predictor half included, with `add_noise(image_latents, noise, timesteps[i + 1])`; with
   `set_begin_index` called, add_noise reads `sigmas[step_index]`, which after a KDPM2 predictor half
   is the next whole sigma, not the interpolated one the UNet is then called at.

5. Tests/DiffusionTests/Fixtures/sd/pipeline-pndm-reference.safetensors and pipeline-pndm-cases.json
   (`--only pndm`, PNDM_CASES; the other files are left as they are): inpainting with the ordinary
   4-channel tiny models and PNDMScheduler (SD's default scheduler), strength 1 and below. PNDM's
   PLMS list repeats one timestep (its second call), and the kept region is re-noised after every
   `step` with `add_noise(image_latents, noise, timesteps[i + 1])`, which PNDM reads by timestep value.
"""
import argparse
import inspect
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

import diffusers
from diffusers import (DDIMScheduler, DDPMPipeline, DDPMScheduler, DPMSolverMultistepScheduler,
                       DPMSolverSinglestepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                       HeunDiscreteScheduler, KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler,
                       LMSDiscreteScheduler, PNDMScheduler, UniPCMultistepScheduler, DEISMultistepScheduler,
                       LCMScheduler)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIXTURES = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures")
torch.set_num_threads(2)

SCHEDULERS = [DDIMScheduler, PNDMScheduler, DDPMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
              HeunDiscreteScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler, LMSDiscreteScheduler,
              DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler, DEISMultistepScheduler,
              LCMScheduler]
VP_SCHEDULERS = {"DDIMScheduler", "PNDMScheduler", "DDPMScheduler", "DPMSolverMultistepScheduler",
                 "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler", "LCMScheduler"}


def run_loop(unet, scheduler, shape, steps, generator):
    """The denoising loop of diffusers' pipelines (scale_model_input, init_noise_sigma)."""
    scheduler.set_timesteps(steps)
    latents = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(latents, t)
        out = unet(model_input, t).sample
        latents = scheduler.step(out, t, latents, **step_kwargs(scheduler, generator)).prev_sample
    return latents


def step_kwargs(scheduler, generator):
    """diffusers' prepare_extra_step_kwargs: the generator only where `step` takes one."""
    return {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}


def make_scheduler_fixtures():
    folder = os.path.join(ROOT, "models", "ddpm-fmnist")
    pipe = DDPMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    unet = pipe.unet.float().eval()
    config = pipe.scheduler.config
    tensors, meta = {}, {}
    steps, count = 20, 4
    shape = (count, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size)
    for cls in SCHEDULERS:
        name = cls.__name__
        scheduler = cls.from_config(config)
        with torch.no_grad():
            images = run_loop(unet, scheduler, shape, steps, torch.Generator().manual_seed(0))
            if name in ("DDIMScheduler", "DDPMScheduler"):
                # The same run through DDPMPipeline itself (output_type="np" clamps to [0, 1]);
                # DDPMPipeline passes `generator` to step, which PNDM and DPM-Solver do not take.
                pipe.scheduler = cls.from_config(config)
                ref = pipe(batch_size=count, generator=torch.Generator().manual_seed(0), num_inference_steps=steps,
                           output_type="np").images
                mine = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
                assert np.abs(ref - mine).max() < 1e-5, (name, np.abs(ref - mine).max())
        tensors[f"{name}.images"] = images.float().contiguous()
        tensors[f"{name}.timesteps"] = scheduler.timesteps.float().contiguous()
        if hasattr(scheduler, "sigmas"):
            tensors[f"{name}.sigmas"] = torch.as_tensor(scheduler.sigmas).float().contiguous()
        meta[name] = json.dumps({k: v for k, v in scheduler.config.items() if not k.startswith("_")}, default=str)
        print(f"{name}: timesteps {scheduler.timesteps.tolist()[:6]}..., images mean {images.mean():.4f}")
    meta["settings"] = json.dumps({"steps": steps, "count": count, "seed": 0, "diffusers": diffusers.__version__})
    save_file(tensors, os.path.join(FIXTURES, "diffusers_schedulers_ddpm_fmnist.safetensors"), metadata=meta)


# The real SD 1.5 tokenizer files of the shared data folder (../shared beside the package, or
# $SWIFTDIFFUSION_SHARED for a checkout elsewhere).
SHARED_TOKENIZER = os.path.join(os.environ.get("SWIFTDIFFUSION_SHARED", os.path.join(ROOT, "..", "shared")), "sd15", "tokenizer")
SD = os.path.join(FIXTURES, "sd")
PROMPT = "a photograph of an astronaut riding a horse"
# (name, model, mode, scheduler, settings). 64x64, seed 42 unless said; the tiny VAE downsamples by 4.
CASES = []
for model in ("tiny-sd1", "tiny-sd2"):
    CASES += [
        (f"{model}.ddim", model, "txt2img", "DDIMScheduler", dict(steps=6)),
        (f"{model}.pndm", model, "txt2img", "PNDMScheduler", dict(steps=6, negative="blurry, low quality")),
        (f"{model}.euler", model, "txt2img", "EulerDiscreteScheduler", dict(steps=6)),
        (f"{model}.euler_a", model, "txt2img", "EulerAncestralDiscreteScheduler", dict(steps=6, batch=2, seed=7)),
        (f"{model}.dpmpp_2m", model, "txt2img", "DPMSolverMultistepScheduler", dict(steps=8, clip_skip=1)),
        (f"{model}.heun", model, "txt2img", "HeunDiscreteScheduler", dict(steps=6, guidance=4.0)),
        (f"{model}.img2img", model, "img2img", "EulerDiscreteScheduler", dict(steps=8, strength=0.6)),
        (f"{model}.img2img_ddim", model, "img2img", "DDIMScheduler", dict(steps=8, strength=0.6)),
        (f"{model}.unipc", model, "txt2img", "UniPCMultistepScheduler", dict(steps=6)),
        (f"{model}.deis", model, "txt2img", "DEISMultistepScheduler", dict(steps=6)),
        (f"{model}.lcm", model, "txt2img", "LCMScheduler", dict(steps=4, batch=2, seed=5, guidance=1.5)),
        (f"{model}.img2img_unipc", model, "img2img", "UniPCMultistepScheduler", dict(steps=8, strength=0.6)),
    ]
CASES += [("tiny-sd1-inpaint.ddim", "tiny-sd1-inpaint", "inpaint", "DDIMScheduler", dict(steps=6)),
          ("tiny-sd1-inpaint.euler_a", "tiny-sd1-inpaint", "inpaint", "EulerAncestralDiscreteScheduler", dict(steps=6, seed=3))]


# Cases of part 3: the scheduler's `from_config` gets `config` on top of the model's file.
MORE_CASES = []
for model in ("tiny-sd1", "tiny-sd2"):
    MORE_CASES += [
        (f"{model}.pndm_linspace", model, "txt2img", "PNDMScheduler", dict(steps=6, config={"timestep_spacing": "linspace"})),
        (f"{model}.img2img_pndm", model, "img2img", "PNDMScheduler", dict(steps=8, strength=0.6)),
        (f"{model}.dpm_single_karras", model, "txt2img", "DPMSolverSinglestepScheduler",
         dict(steps=7, config={"use_karras_sigmas": True})),
    ]
MORE_CASES += [
    ("tiny-sd1.inpaint4_ddim", "tiny-sd1", "inpaint", "DDIMScheduler", dict(steps=6)),
    ("tiny-sd1.inpaint4_euler_a_075", "tiny-sd1", "inpaint", "EulerAncestralDiscreteScheduler", dict(steps=8, seed=3, strength=0.75)),
    ("tiny-sd2.inpaint4_ddim_075", "tiny-sd2", "inpaint", "DDIMScheduler", dict(steps=8, strength=0.75)),
    ("tiny-sd2.inpaint4_euler_a", "tiny-sd2", "inpaint", "EulerAncestralDiscreteScheduler", dict(steps=6, seed=3)),
    ("tiny-sd1.pndm_trailing", "tiny-sd1", "txt2img", "PNDMScheduler", dict(steps=5, config={"timestep_spacing": "trailing"})),
    ("tiny-sd1.img2img_pndm_linspace", "tiny-sd1", "img2img", "PNDMScheduler",
     dict(steps=8, strength=0.75, config={"timestep_spacing": "linspace"})),
    ("tiny-sd2.img2img_dpm_single_karras", "tiny-sd2", "img2img", "DPMSolverSinglestepScheduler",
     dict(steps=8, strength=0.6, config={"use_karras_sigmas": True})),
]

# Two UNet calls per step: 4-channel inpainting, both models, strength 1 and 0.75 (6 steps: 4 run at 0.75).
TWOCALL_CASES = [
    ("tiny-sd1.inpaint4_heun", "tiny-sd1", "inpaint", "HeunDiscreteScheduler", dict(steps=6)),
    ("tiny-sd2.inpaint4_heun_075", "tiny-sd2", "inpaint", "HeunDiscreteScheduler", dict(steps=6, strength=0.75)),
    ("tiny-sd1.inpaint4_kdpm2", "tiny-sd1", "inpaint", "KDPM2DiscreteScheduler", dict(steps=6)),
    ("tiny-sd1.inpaint4_kdpm2_075", "tiny-sd1", "inpaint", "KDPM2DiscreteScheduler", dict(steps=6, strength=0.75)),
    ("tiny-sd2.inpaint4_kdpm2", "tiny-sd2", "inpaint", "KDPM2DiscreteScheduler", dict(steps=5)),
    ("tiny-sd2.inpaint4_kdpm2_075", "tiny-sd2", "inpaint", "KDPM2DiscreteScheduler", dict(steps=6, strength=0.75)),
    ("tiny-sd1.inpaint4_kdpm2_a_075", "tiny-sd1", "inpaint", "KDPM2AncestralDiscreteScheduler", dict(steps=6, seed=3, strength=0.75)),
    ("tiny-sd2.inpaint4_kdpm2_a", "tiny-sd2", "inpaint", "KDPM2AncestralDiscreteScheduler", dict(steps=5, seed=3)),
]

PNDM_CASES = [
    ("tiny-sd1.inpaint4_pndm", "tiny-sd1", "inpaint", "PNDMScheduler", dict(steps=6)),
    ("tiny-sd1.inpaint4_pndm_075", "tiny-sd1", "inpaint", "PNDMScheduler", dict(steps=8, strength=0.75)),
    ("tiny-sd2.inpaint4_pndm", "tiny-sd2", "inpaint", "PNDMScheduler", dict(steps=5)),
    ("tiny-sd2.inpaint4_pndm_06", "tiny-sd2", "inpaint", "PNDMScheduler", dict(steps=8, strength=0.6)),
]


def init_image_and_mask():
    """A 64x64 test picture (gradients and a disc) and a mask (white = repaint) written as PNGs."""
    from PIL import Image
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    r = 0.5 + 0.5 * np.sin(x / 7.0)
    g = y / 63.0
    b = ((x - 40) ** 2 + (y - 24) ** 2 < 15 ** 2).astype(np.float64) * 0.8 + 0.1
    rgb = (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[16:48, 8:40] = 255
    image, mask_image = Image.fromarray(rgb, "RGB"), Image.fromarray(mask, "L")
    image.save(os.path.join(SD, "pipeline-init.png"))
    mask_image.save(os.path.join(SD, "pipeline-mask.png"))
    return image, mask_image


def load_pipeline(model, kind):
    from diffusers import (AutoencoderKL, StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline,
                           StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextModel, CLIPTokenizer
    base = "tiny-sd1" if model == "tiny-sd1-inpaint" else model
    folder = os.path.join(SD, base)
    with open(os.path.join(folder, "tokenizer", "special_tokens_map.json")) as f:
        pad = json.load(f)["pad_token"]
    pad = pad["content"] if isinstance(pad, dict) else pad
    tokenizer = CLIPTokenizer.from_pretrained(SHARED_TOKENIZER, pad_token=pad)
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder")).float()
    # diffusers 0.42 reads `text_encoder.text_model.final_layer_norm` for clip_skip; transformers 5
    # has the layer norm on the model itself. Point the old name at it (outside nn.Module's registry).
    if not hasattr(text_encoder, "text_model"):
        import types
        object.__setattr__(text_encoder, "text_model", types.SimpleNamespace(final_layer_norm=text_encoder.final_layer_norm))
    vae = AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).float()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(SD, model, "unet")).float()
    scheduler = PNDMScheduler.from_pretrained(os.path.join(folder, "scheduler"))
    cls = {"txt2img": StableDiffusionPipeline, "img2img": StableDiffusionImg2ImgPipeline,
           "inpaint": StableDiffusionInpaintPipeline}[kind]
    pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def make_pipeline_fixtures(case_list=None, suffix=""):
    if case_list is None:
        image, mask = init_image_and_mask()
        case_list = CASES
    else:  # parts 3 to 5 read the committed picture and mask
        from PIL import Image
        image = Image.open(os.path.join(SD, "pipeline-init.png")).convert("RGB")
        mask = Image.open(os.path.join(SD, "pipeline-mask.png")).convert("L")
    tensors, cases = {}, []
    classes = {cls.__name__: cls for cls in SCHEDULERS}
    for name, model, kind, scheduler_name, settings in case_list:
        pipe = load_pipeline(model, kind)
        config = settings.get("config")
        pipe.scheduler = classes[scheduler_name].from_config(pipe.scheduler.config, **(config or {}))
        case = dict(name=name, model=model, mode=kind, scheduler=scheduler_name, prompt=PROMPT,
                    negative=settings.get("negative", ""), steps=settings["steps"], guidance=settings.get("guidance", 7.5),
                    seed=settings.get("seed", 42), batch=settings.get("batch", 1), clip_skip=settings.get("clip_skip", 0),
                    strength=settings.get("strength", 1.0), width=64, height=64)
        if config:
            case["config"] = config
        kwargs = dict(prompt=PROMPT, negative_prompt=case["negative"] or None, num_inference_steps=case["steps"],
                      guidance_scale=case["guidance"], num_images_per_prompt=case["batch"],
                      generator=torch.Generator().manual_seed(case["seed"]), output_type="latent")
        if case["clip_skip"]:
            kwargs["clip_skip"] = case["clip_skip"]
        if kind == "txt2img":
            kwargs.update(height=64, width=64)
        elif kind == "img2img":
            kwargs.update(image=image, strength=case["strength"])
        else:
            kwargs.update(image=image, mask_image=mask, height=64, width=64, strength=case["strength"])
        with torch.no_grad():
            latents = pipe(**kwargs).images
            decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        pixels = ((decoded / 2 + 0.5).clamp(0, 1) * 255).round()
        tensors[f"{name}.latents"] = latents.float().contiguous()
        # 8-bit values are exact in float16: parts 3 to 5 store them so, at half the size.
        tensors[f"{name}.image"] = (pixels.half() if suffix else pixels.float()).contiguous()
        cases.append(case)
        print(f"{name}: latents {tuple(latents.shape)} mean {latents.mean():.4f} std {latents.std():.4f}")
    save_file(tensors, os.path.join(SD, f"pipeline{suffix}-reference.safetensors"),
              metadata={"diffusers": diffusers.__version__})
    with open(os.path.join(SD, f"pipeline{suffix}-cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["schedulers", "pipelines", "more", "twocall", "pndm"])
    args = parser.parse_args()
    if args.only in (None, "schedulers"):
        make_scheduler_fixtures()
    if args.only in (None, "pipelines"):
        make_pipeline_fixtures()
    if args.only in (None, "more"):
        make_pipeline_fixtures(MORE_CASES, suffix="-more")
    if args.only in (None, "twocall"):
        make_pipeline_fixtures(TWOCALL_CASES, suffix="-twocall")
    if args.only in (None, "pndm"):
        make_pipeline_fixtures(PNDM_CASES, suffix="-pndm")
