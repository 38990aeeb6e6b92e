#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/diffusers_multistep_samplers.json: diffusers'
UniPCMultistepScheduler, DEISMultistepScheduler and LCMScheduler run on the Gaussian-mixture
fixture denoiser, for the parity tests of the `unipc`, `deis` and `lcm` samplers and of
`DiffusersSchedulerPlan` (Tests/DiffusionTests/DiffusersMultistepParityTests.swift).

Run with the fixture environment (diffusers 0.42, torch CPU; k-diffusion for the shared helpers):
    /tmp/venv/bin/python tools/make_multistep_sampler_fixtures.py

Each case builds the scheduler with SD's betas and the case's options, replaces its float32
alphas_cumprod by float64 values of the same formula (`to_float64` of make_sampler_fixtures.py;
the sigma tables keep the float32 values diffusers builds, held in float64), and runs the loop of diffusers'
pipelines (scale_model_input is the identity for these classes) on the eps-model of the mixture:
eps(x_vp, t) = (x_ve - D(x_ve, sigma)) / sigma with x_ve = x_vp sqrt(1 + sigma^2) and sigma the
scheduler's own sigma of that step. LCM's noise (drawn through `randn_tensor`) is recorded. Stored
per case: the configuration as diffusers holds it (JSON text, read back by the Swift
DiffusersSchedulerConfiguration), the timesteps and sigmas, every model call (sigma and the VE
state), and the result on the VE scale (x_vp sqrt(1 + sigma_last^2)).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_sampler_fixtures import MIXTURE, SD, flat, gmm_denoise, to_float64, write  # noqa: E402

from diffusers import DEISMultistepScheduler, LCMScheduler, UniPCMultistepScheduler  # noqa: E402
import diffusers.schedulers.scheduling_lcm as lcm_module  # noqa: E402


def jsonable(config):
    out = {}
    for k, v in dict(config).items():
        if isinstance(v, tuple):
            v = list(v)
        if v is None or isinstance(v, (bool, int, float, str)) or (isinstance(v, list) and all(isinstance(e, (int, float)) for e in v)):
            out[k] = v
    return out


def run(name, cls, options, steps, seed):
    sched = cls(**SD, **options)
    to_float64(sched)
    sched.set_timesteps(steps)
    if hasattr(sched, "sigmas"):  # float32 values, computed on in float64 (the default dtype here)
        sched.sigmas = sched.sigmas.double()
    lcm = cls is LCMScheduler
    ac = sched.alphas_cumprod.double()
    draws = []
    ng = torch.Generator().manual_seed(seed + 1)

    def fake_randn(shape, generator=None, device=None, dtype=None, **kw):
        n = torch.randn(shape, generator=ng, dtype=torch.float64)
        draws.append(flat(n))
        return n

    original = lcm_module.randn_tensor
    lcm_module.randn_tensor = fake_randn
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, 3), generator=g, dtype=torch.float64) * float(sched.init_noise_sigma)
    calls, timesteps = [], [int(t) for t in sched.timesteps]
    try:
        for k, t in enumerate(sched.timesteps):
            if lcm:
                a = ac[int(t)]
                sigma = float(((1 - a) / a).sqrt())
            else:
                sigma = float(sched.sigmas[k])
            x_ve = x * math.sqrt(1 + sigma**2)
            if k == 0:
                x_init = x_ve.clone()
            denoised = gmm_denoise(x_ve, torch.tensor(sigma))
            eps = (x_ve - denoised) / sigma
            calls.append({"sigma": sigma, "x": flat(x_ve)})
            x = sched.step(eps, t, x).prev_sample
    finally:
        lcm_module.randn_tensor = original
    if lcm:
        sigmas = [c["sigma"] for c in calls] + [0.0]
    else:
        sigmas = flat(sched.sigmas)
    assert torch.isfinite(x).all(), name
    return {"name": name, "className": cls.__name__, "configJSON": json.dumps(jsonable(sched.config)),
            "steps": steps, "timesteps": timesteps, "sigmas": sigmas, "x_init": flat(x_init), "shape": [2, 3],
            "noise": [{"sigma": 0, "sigma_next": 0, "noise": d} for d in draws], "calls": calls,
            "final": flat(x * math.sqrt(1 + sigmas[-1] ** 2))}


def cases():
    return [
        # diffusers' defaults: bh2, order 2, lower order at the end, final sigma 0.
        run("unipc", UniPCMultistepScheduler, {}, 8, 40),
        # bh1 gives NaN on a step to sigma = 0 in diffusers (B(h) = -inf times 0): end at sigma_min.
        run("unipc", UniPCMultistepScheduler, dict(solver_type="bh1", solver_order=3, final_sigmas_type="sigma_min"), 8, 41),
        run("unipc", UniPCMultistepScheduler, dict(solver_type="bh2", solver_order=3, lower_order_final=False,
                                                   final_sigmas_type="sigma_min", disable_corrector=[2]), 10, 42),
        run("unipc", UniPCMultistepScheduler, dict(solver_order=3, use_karras_sigmas=True), 9, 45),
        run("unipc", UniPCMultistepScheduler, dict(solver_type="bh1", timestep_spacing="leading", steps_offset=1,
                                                   final_sigmas_type="sigma_min"), 7, 43),
        run("unipc", UniPCMultistepScheduler, dict(solver_order=1, timestep_spacing="trailing"), 6, 44),
        # DEIS: order 2 by default; below 15 steps the last steps lower their order.
        run("deis", DEISMultistepScheduler, {}, 8, 50),
        run("deis", DEISMultistepScheduler, dict(solver_order=3), 8, 51),
        run("deis", DEISMultistepScheduler, dict(solver_order=3, timestep_spacing="trailing"), 16, 52),
        # LCM: timesteps from the 50-step distillation grid, boundary scalings, fresh noise.
        run("lcm", LCMScheduler, {}, 4, 60),
        run("lcm", LCMScheduler, dict(original_inference_steps=30, timestep_scaling=5.0), 7, 61),
    ]


if __name__ == "__main__":
    write("diffusers_multistep_samplers.json", {"mixture": MIXTURE, "cases": cases()})
