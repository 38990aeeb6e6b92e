#!/usr/bin/env python3
"""Writes the pipeline parity fixtures: diffusers scheduler classes as samplers, and complete
Stable Diffusion pipeline runs on the tiny random-weight models of tools/make_sd_fixtures.py.

Run with the fixture environment (diffusers 0.42, torch CPU):
    /tmp/venv/bin/python tools/make_sd_pipeline_fixtures.py [--only schedulers|pipelines]

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
                       LMSDiscreteScheduler, PNDMScheduler)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIXTURES = os.path.join(ROOT, "Tests", "DiffusionTests", "Fixtures")
torch.set_num_threads(2)

SCHEDULERS = [DDIMScheduler, PNDMScheduler, DDPMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
              HeunDiscreteScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler, LMSDiscreteScheduler,
              DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler]
VP_SCHEDULERS = {"DDIMScheduler", "PNDMScheduler", "DDPMScheduler", "DPMSolverMultistepScheduler",
                 "DPMSolverSinglestepScheduler"}


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


def make_pipeline_fixtures():
    raise SystemExit("not yet")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["schedulers", "pipelines"])
    args = parser.parse_args()
    if args.only in (None, "schedulers"):
        make_scheduler_fixtures()
    if args.only in (None, "pipelines"):
        make_pipeline_fixtures()
