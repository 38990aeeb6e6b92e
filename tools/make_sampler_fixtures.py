#!/usr/bin/env python3
"""Writes the parity fixtures of the Diffusion module's samplers and schedules.

Run with the fixture environment (k-diffusion needs setuptools<81):
    /tmp/venv/bin/python tools/make_sampler_fixtures.py
It writes Tests/DiffusionTests/Fixtures/{samplers,discrete_samplers,schedules,diffusers_k_samplers,
seeded_samplers,k_samplers_extra}.json; with file names as arguments
(`... make_sampler_fixtures.py k_samplers_extra.json`) only those.

What it does
- A Gaussian mixture (weights, means, isotropic stds) in 3-D with its exact denoiser
  E[x0 | x0 + sigma n = x] implemented in torch float64 (the same formula as
  Sources/Diffusion/GaussianMixture/GaussianMixture.swift, written independently here).
- k-diffusion's own `sample_*` functions run on it over Karras sigmas with a fixed noise
  sequence: noise is injected through `noise_sampler` (each query's (sigma, sigma_next) is
  recorded with the noise it returned); the churn of euler/heun/dpm_2, which calls
  `torch.randn_like`, is captured by monkeypatching `torch.randn_like` and keeping the draws of
  the steps whose gamma > 0 (the Swift samplers draw only then).
- diffusers' DDIMScheduler / DDPMScheduler / PNDMScheduler (PLMS mode) run on an eps-model
  derived from the same mixture, eps(x_vp, t) = (x_ve - D(x_ve, sigma_t)) / sigma_t with
  x_ve = x_vp / sqrt(alphabar_t); DDIM's noise is passed as `variance_noise`, DDPM's drawn
  through a monkeypatched `randn_tensor`.
- Every step's state x (before the step) and denoised estimate are recorded, plus the result.
"""
import inspect
import json
import math
import os
import sys

import numpy as np
import torch

import k_diffusion.sampling as ks
import k_diffusion.external as kext
import diffusers
from diffusers import DDIMScheduler, DDPMScheduler, PNDMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler
import diffusers.schedulers.scheduling_ddpm as ddpm_module

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "DiffusionTests", "Fixtures")

MIXTURE = {
    "weights": [0.5, 0.3, 0.2],
    "means": [[1.0, -0.5, 0.25], [-1.5, 0.75, 1.0], [0.25, 1.5, -1.25]],
    "stds": [0.3, 0.15, 0.5],
}
W = torch.tensor(MIXTURE["weights"])
W = W / W.sum()
MU = torch.tensor(MIXTURE["means"])
S = torch.tensor(MIXTURE["stds"])


def gmm_denoise(x, sigma):
    """x: [B, D], sigma: [B] (or scalar) -> E[x0 | x] in float64."""
    x = x.double()
    sigma = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
    if sigma.numel() == 1:
        sigma = sigma.expand(x.shape[0])
    d = x.shape[1]
    s2 = S**2
    v = s2[None, :] + sigma[:, None] ** 2  # [B, K]
    diff = x[:, None, :] - MU[None]  # [B, K, D]
    logits = torch.log(W)[None] - 0.5 * d * torch.log(v) - 0.5 * (diff**2).sum(-1) / v
    r = torch.softmax(logits, dim=1)
    shrink = s2[None] / v
    return (r[:, :, None] * (MU[None] + shrink[:, :, None] * diff)).sum(1)


class CountingModel:
    def __init__(self):
        self.calls = 0

    def __call__(self, x, sigma, **kwargs):
        self.calls += 1
        return gmm_denoise(x, sigma)


def flat(t):
    return [float(v) for v in t.detach().double().reshape(-1).tolist()]


class RecordingNoise:
    def __init__(self, shape, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.records = []

    def __call__(self, sigma, sigma_next):
        n = torch.randn(self.shape, generator=self.g, dtype=torch.float64)
        self.records.append({"sigma": float(sigma), "sigma_next": float(sigma_next), "noise": flat(n)})
        return n


def run_k(name, fn, sigmas, x_init, seed, kwargs, churn=None):
    """Runs k-diffusion's sampler `fn`, recording steps and noise."""
    model = CountingModel()
    steps = []

    def callback(d):
        steps.append({"i": int(d["i"]), "sigma": float(d["sigma"]), "sigma_hat": float(d["sigma_hat"]),
                      "x": flat(d["x"]), "denoised": flat(d["denoised"])})

    noise = RecordingNoise(x_init.shape, seed)
    original = torch.randn_like
    drawn = []
    if churn is not None:
        g = torch.Generator().manual_seed(seed)

        def fake_randn_like(t, *a, **k):
            n = torch.randn(t.shape, generator=g, dtype=torch.float64)
            drawn.append(n)
            return n

        torch.randn_like = fake_randn_like
    try:
        args = dict(kwargs)
        if "noise_sampler" in inspect.signature(fn).parameters:
            args["noise_sampler"] = noise
        out = fn(model, x_init.clone(), sigmas, callback=callback, disable=True, **args)
    finally:
        torch.randn_like = original
    records = noise.records
    if churn is not None:
        # Keep the draws of steps with gamma > 0 (k-diffusion draws every step).
        n = len(sigmas) - 1
        records = []
        for i in range(n):
            s = float(sigmas[i])
            gamma = min(churn["s_churn"] / n, 2**0.5 - 1) if churn["s_tmin"] <= s <= churn["s_tmax"] else 0.0
            if gamma > 0:
                records.append({"sigma": s, "sigma_next": s * (gamma + 1), "noise": flat(drawn[i])})
    return {"name": name, "options": {k: v for k, v in kwargs.items()}, "sigmas": flat(sigmas),
            "x_init": flat(x_init), "shape": list(x_init.shape), "noise": records, "steps": steps,
            "final": flat(out), "nfe": model.calls}


def k_cases():
    n_steps = 8
    sigmas = ks.get_sigmas_karras(n_steps, 0.05, 10.0).double()
    g = torch.Generator().manual_seed(1234)
    x_init = torch.randn((2, 3), generator=g, dtype=torch.float64) * float(sigmas[0])
    churn = {"s_churn": 1.0, "s_tmin": 0.2, "s_tmax": 5.0, "s_noise": 1.003}
    cases = [
        ("euler", ks.sample_euler, {}, None),
        ("euler", ks.sample_euler, dict(churn), churn),
        ("euler_ancestral", ks.sample_euler_ancestral, {}, None),
        ("euler_ancestral", ks.sample_euler_ancestral, {"eta": 0.6, "s_noise": 0.95}, None),
        ("heun", ks.sample_heun, {}, None),
        ("heun", ks.sample_heun, dict(churn), churn),
        ("dpm_2", ks.sample_dpm_2, {}, None),
        ("dpm_2", ks.sample_dpm_2, dict(churn), churn),
        ("dpm_2_ancestral", ks.sample_dpm_2_ancestral, {}, None),
        ("lms", ks.sample_lms, {}, None),
        ("lms", ks.sample_lms, {"order": 2}, None),
        ("dpmpp_2s_ancestral", ks.sample_dpmpp_2s_ancestral, {}, None),
        ("dpmpp_2m", ks.sample_dpmpp_2m, {}, None),
        ("dpmpp_sde", ks.sample_dpmpp_sde, {}, None),
        ("dpmpp_2m_sde", ks.sample_dpmpp_2m_sde, {}, None),
        ("dpmpp_2m_sde", ks.sample_dpmpp_2m_sde, {"solver_type": "heun"}, None),
        ("dpmpp_2m_sde", ks.sample_dpmpp_2m_sde, {"eta": 0.5, "s_noise": 1.1}, None),
        ("dpmpp_3m_sde", ks.sample_dpmpp_3m_sde, {}, None),
        ("dpmpp_3m_sde", ks.sample_dpmpp_3m_sde, {"eta": 0.0}, None),
    ]
    return [run_k(name, fn, sigmas, x_init, 100 + idx, kw, churn)
            for idx, (name, fn, kw, churn) in enumerate(cases)]


SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)


def eps_model(sched):
    ac = sched.alphas_cumprod.double()

    def f(x_vp, t):
        a = ac[int(t)]
        sigma = ((1 - a) / a).sqrt()
        x_ve = x_vp / a.sqrt()
        return (x_ve - gmm_denoise(x_ve, sigma)) / sigma

    return f


def to_float64(sched):
    """diffusers keeps betas and alphas_cumprod in float32, where 1 - alphabar near t = 0 loses
    ~1e-4 relative accuracy to cancellation; the fixtures replace them by float64 values of the
    same formula, so the reference is the scheduler's algorithm in float64."""
    c = sched.config
    if c.beta_schedule == "scaled_linear":
        betas = torch.linspace(c.beta_start**0.5, c.beta_end**0.5, c.num_train_timesteps, dtype=torch.float64) ** 2
    else:
        betas = torch.linspace(c.beta_start, c.beta_end, c.num_train_timesteps, dtype=torch.float64)
    sched.betas = betas
    sched.alphas = 1 - betas
    sched.alphas_cumprod = torch.cumprod(sched.alphas, 0)
    if hasattr(sched, "final_alpha_cumprod"):
        sched.final_alpha_cumprod = torch.tensor(1.0) if c.set_alpha_to_one else sched.alphas_cumprod[0]
    sched.one = torch.tensor(1.0)
    return sched


def run_diffusers(name, sched, steps_count, seed, eta=None):
    to_float64(sched)
    sched.set_timesteps(steps_count)
    g = torch.Generator().manual_seed(seed)
    ac = sched.alphas_cumprod.double()
    t0 = int(sched.timesteps[0])
    x_vp = torch.randn((2, 3), generator=g, dtype=torch.float64)
    x_init = x_vp.clone()
    model = eps_model(sched)
    steps, noise, timesteps = [], [], []
    nfe = 0

    def sigma_of(t):
        if t < 0:
            return 0.0
        a = ac[t]
        return float(((1 - a) / a).sqrt())

    original = ddpm_module.randn_tensor
    ng = torch.Generator().manual_seed(seed + 1)

    def fake_randn(shape, generator=None, device=None, dtype=None, **kw):
        n = torch.randn(shape, generator=ng, dtype=torch.float64)
        noise.append({"noise": flat(n)})
        return n

    ddpm_module.randn_tensor = fake_randn
    try:
        for k, t in enumerate(sched.timesteps):
            t = int(t)
            eps = model(x_vp, t)
            nfe += 1
            a = ac[t]
            denoised = (x_vp - (1 - a).sqrt() * eps) / a.sqrt()
            kwargs = {}
            if isinstance(sched, DDIMScheduler):
                kwargs["eta"] = eta
                if eta > 0:
                    n = torch.randn(x_vp.shape, generator=ng, dtype=torch.float64)
                    noise.append({"noise": flat(n)})
                    kwargs["variance_noise"] = n
            if isinstance(sched, PNDMScheduler) and k == 1:
                # The second model call of the improved-Euler first step: not a step of its own.
                x_vp = sched.step(eps, t, x_vp, **kwargs).prev_sample
                continue
            steps.append({"i": len(steps), "timestep": t, "x": flat(x_vp / a.sqrt()), "x_vp": flat(x_vp),
                          "denoised": flat(denoised)})
            timesteps.append(t)
            x_vp = sched.step(eps, t, x_vp, **kwargs).prev_sample
    finally:
        ddpm_module.randn_tensor = original
    if isinstance(sched, DDPMScheduler):
        final_sigma = 0.0
    else:
        final_sigma = 0.0 if sched.config.set_alpha_to_one else sigma_of(0)
    sigmas = [sigma_of(t) for t in timesteps] + [final_sigma]
    final_scale = math.sqrt(1 + final_sigma**2)
    a0 = ac[t0]
    # Noise records carry the VE sigmas of the step they belong to.
    for j, rec in enumerate(noise):
        rec["sigma"], rec["sigma_next"] = sigmas[j], sigmas[j + 1]
    return {"name": name, "options": {"eta": eta} if eta is not None else {}, "config": dict(sched.config),
            "timesteps": timesteps, "sigmas": sigmas, "x_init_vp": flat(x_init), "x_init": flat(x_init / a0.sqrt()),
            "shape": [2, 3], "noise": noise, "steps": steps, "final_vp": flat(x_vp),
            "final": flat(x_vp * final_scale), "nfe": nfe}


def discrete_cases():
    def cfg(d):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    ddim = dict(SD, clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")
    out = [
        run_diffusers("ddim", DDIMScheduler(**ddim), 10, 7, eta=0.0),
        run_diffusers("ddim", DDIMScheduler(**ddim), 10, 8, eta=0.5),
        run_diffusers("ddpm", DDPMScheduler(**SD, clip_sample=False, variance_type="fixed_small",
                                            timestep_spacing="leading", steps_offset=0), 10, 9),
        run_diffusers("plms", PNDMScheduler(**SD, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1), 10, 10),
    ]
    for c in out:
        c["config"] = {k: v for k, v in c["config"].items() if isinstance(v, (int, float, str, bool)) or v is None}
    return out


def schedule_fixtures():
    res = {}
    res["karras"] = flat(ks.get_sigmas_karras(10, 0.0292, 14.6146, rho=7.0).double())
    res["exponential"] = flat(ks.get_sigmas_exponential(10, 0.0292, 14.6146).double())
    res["polyexponential"] = flat(ks.get_sigmas_polyexponential(10, 0.0292, 14.6146, rho=2.0).double())
    res["vp"] = flat(ks.get_sigmas_vp(10).double())
    # Beta schedules (diffusers, float32 internally).
    res["betas_linear"] = flat(DDPMScheduler(beta_schedule="linear").betas)
    res["betas_scaled_linear"] = flat(DDPMScheduler(**SD).betas)
    res["betas_cosine"] = flat(DDPMScheduler(beta_schedule="squaredcos_cap_v2").betas)
    # k-diffusion's discrete wrapper: sigma <-> t and the "simple" schedule, on float64 alphas_cumprod.
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    inner_calls = []

    def inner(x, t):  # an arbitrary smooth "network" of (x, t), repeated in Swift
        inner_calls.append(t)
        return torch.sin(x) * (1 + t[:, None] / 1000) + 0.1 * x

    eps_den = kext.DiscreteEpsDDPMDenoiser(inner, ac, quantize=False)
    v_den = kext.DiscreteVDDPMDenoiser(inner, ac, quantize=False)
    q_den = kext.DiscreteEpsDDPMDenoiser(inner, ac, quantize=True)
    res["simple_10"] = flat(eps_den.get_sigmas(10))
    probe = torch.tensor([0.03, 0.1, 0.5, 1.0, 3.3, 10.0, 14.0])
    res["probe_sigmas"] = flat(probe)
    res["sigma_to_t"] = flat(eps_den.sigma_to_t(probe))
    res["sigma_to_t_quantized"] = flat(eps_den.sigma_to_t(probe, quantize=True))
    g = torch.Generator().manual_seed(5)
    x = torch.randn((2, 3), generator=g, dtype=torch.float64) * 2
    res["wrapper_x"] = flat(x)
    res["wrapper_sigma"] = 2.5
    s = torch.full((2,), 2.5)
    res["eps_denoised"] = flat(eps_den(x, s))
    res["v_denoised"] = flat(v_den(x, s))
    res["eps_quantized_denoised"] = flat(q_den(x, s))
    # diffusers Euler: timesteps and sigmas (linear in sigma) for each spacing.
    for spacing, offset in [("linspace", 0), ("leading", 1), ("trailing", 0)]:
        e = EulerDiscreteScheduler(**SD, timestep_spacing=spacing, steps_offset=offset)
        e.set_timesteps(7)
        res[f"euler_{spacing}_timesteps"] = flat(e.timesteps)
        res[f"euler_{spacing}_sigmas"] = flat(e.sigmas)
    d = DDIMScheduler(**SD, timestep_spacing="linspace")
    d.set_timesteps(7)
    res["ddim_linspace_timesteps"] = flat(d.timesteps)
    return res


def run_diffusers_k(label, canonical, cls, config, steps_count, seed, options=None):
    """Runs a diffusers k-style scheduler the way its pipeline does (scale_model_input, model,
    step) on the eps-model of the mixture, recording EVERY model call (the VE state the model
    sees and its sigma), the noise the scheduler draws, and the result. The sigma of a call is
    read back from the input scaling c_in = 1 / sqrt(sigma^2 + 1) (identity for the VP
    DPMSolverMultistepScheduler, whose sigma is sched.sigmas[step_index])."""
    import diffusers.schedulers as dsch
    sched = cls(**SD, **config)
    sched.set_timesteps(steps_count)
    module = sys.modules[cls.__module__]
    draws = []
    ng = torch.Generator().manual_seed(seed + 1)

    step_of_draw = []

    def fake_randn(shape, generator=None, device=None, dtype=None, **kw):
        n = torch.randn(shape, generator=ng, dtype=torch.float64)
        draws.append(flat(n))
        step_of_draw.append(len(calls) - 1)
        return n

    original = getattr(module, "randn_tensor", None)
    if original is not None:
        module.randn_tensor = fake_randn
    original_tree = getattr(module, "BrownianTreeNoiseSampler", None)
    if original_tree is not None:  # DPMSolverSDEScheduler: replace its Brownian tree by recorded draws

        class RecordingTree:
            def __init__(self, *args, **kwargs):
                pass

            def __call__(self, sigma, sigma_next):
                return fake_randn((2, 3))

        module.BrownianTreeNoiseSampler = RecordingTree
    vp = cls is DPMSolverMultistepScheduler
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, 3), generator=g, dtype=torch.float64) * float(sched.init_noise_sigma)
    x_init = x.clone()
    calls = []
    try:
        for t in sched.timesteps:
            xin = sched.scale_model_input(x, t)
            if vp:
                idx = sched.step_index if sched.step_index is not None else 0
                sigma = float(sched.sigmas[idx])
                x_ve = xin * math.sqrt(1 + sigma**2)
            else:
                c = float(sched.scale_model_input(torch.ones(1, dtype=torch.float64), t)[0])
                x_ve = xin / c
                # c_in is rounded to float32 inside diffusers; the sigma the step uses is the
                # scheduler's own (float32) value, the nearest entry of its sigma tables.
                approx = math.sqrt(1 / c**2 - 1)
                table = flat(sched.sigmas) + (flat(sched.sigmas_interpol) if hasattr(sched, "sigmas_interpol") else [])
                if getattr(sched, "mid_point_sigma", None) is not None:  # DPMSolverSDE's second stage
                    table.append(float(sched.mid_point_sigma))
                sigma = min(table, key=lambda v: abs(v - approx))
            denoised = gmm_denoise(x_ve, torch.tensor(sigma))
            eps = (x_ve - denoised) / sigma
            calls.append({"sigma": sigma, "x": flat(x_ve)})
            x = sched.step(eps, t, x).prev_sample
    finally:
        if original is not None:
            module.randn_tensor = original
        if original_tree is not None:
            module.BrownianTreeNoiseSampler = original_tree
    base = EulerDiscreteScheduler(**SD, **{k: v for k, v in config.items() if k in ("timestep_spacing", "steps_offset")})
    base.set_timesteps(steps_count)
    sigmas = flat(sched.sigmas) if vp else flat(base.sigmas)
    init_scale = 1.0  # Euler-family samples are VE already; the VP multistep starts at alpha = 1/sqrt(1+s^2)
    if vp:
        init_scale = math.sqrt(1 + sigmas[0] ** 2)
    return {"name": canonical, "label": label, "options": options or {}, "sigmas": sigmas,
            "x_init": flat(x_init * init_scale), "shape": [2, 3], "noise": [{"sigma": 0, "sigma_next": 0, "noise": d} for d in draws],
            "steps": [], "calls": calls, "final": flat(x), "nfe": len(calls),
            # Draws made during the last model call's step (to sigma = 0) are multiplied by 0.
            "unused_noise": sum(1 for k in step_of_draw if k == len(calls) - 1)}


def diffusers_k_cases():
    from diffusers import (DPMSolverSDEScheduler, EulerAncestralDiscreteScheduler, HeunDiscreteScheduler, KDPM2DiscreteScheduler,
                           KDPM2AncestralDiscreteScheduler, LMSDiscreteScheduler, DPMSolverMultistepScheduler as DPMS)
    lin = {"timestep_spacing": "linspace"}
    return [
        run_diffusers_k("EulerDiscreteScheduler", "euler", EulerDiscreteScheduler, lin, 8, 20),
        run_diffusers_k("EulerAncestralDiscreteScheduler", "euler_ancestral", EulerAncestralDiscreteScheduler, lin, 8, 21),
        run_diffusers_k("HeunDiscreteScheduler", "heun", HeunDiscreteScheduler, lin, 8, 22),
        run_diffusers_k("KDPM2DiscreteScheduler", "dpm_2", KDPM2DiscreteScheduler, lin, 8, 23),
        run_diffusers_k("KDPM2AncestralDiscreteScheduler", "dpm_2_ancestral", KDPM2AncestralDiscreteScheduler, lin, 8, 24),
        run_diffusers_k("LMSDiscreteScheduler", "lms", LMSDiscreteScheduler, lin, 8, 25),
        run_diffusers_k("DPMSolverSDEScheduler", "dpmpp_sde", DPMSolverSDEScheduler, lin, 8, 28),
        run_diffusers_k("DPMSolverMultistepScheduler", "dpmpp_2m", DPMS,
                        dict(lin, algorithm_type="dpmsolver++", solver_order=2, lower_order_final=False,
                             final_sigmas_type="zero"), 8, 26),
        run_diffusers_k("DPMSolverMultistepScheduler(algorithm_type=sde-dpmsolver++)", "dpmpp_2m_sde", DPMS,
                        dict(lin, algorithm_type="sde-dpmsolver++", solver_order=2, lower_order_final=False,
                             final_sigmas_type="zero"), 8, 27),
    ]


def seeded_cases():
    """k-diffusion's DEFAULT noise (torch.randn_like after torch.manual_seed), float32 state, as
    AUTOMATIC1111 runs it: replayed in Swift by GeneratorNoise(TorchGenerator(seed:))."""
    out = []
    for name, fn, shape, seed in [("euler_ancestral", ks.sample_euler_ancestral, (6, 3), 31),
                                  ("dpm_2_ancestral", ks.sample_dpm_2_ancestral, (16, 3), 32),
                                  ("dpmpp_2s_ancestral", ks.sample_dpmpp_2s_ancestral, (1, 3), 33)]:
        sigmas = ks.get_sigmas_karras(6, 0.05, 10.0).float()
        g = torch.Generator().manual_seed(1000 + seed)
        x_init = (torch.randn(shape, generator=g, dtype=torch.float64) * float(sigmas[0])).float()
        steps = []

        def callback(d):
            steps.append({"i": int(d["i"]), "sigma": float(d["sigma"]), "sigma_hat": float(d["sigma_hat"]),
                          "x": flat(d["x"]), "denoised": flat(d["denoised"])})

        def model(x, sigma, **kw):
            return gmm_denoise(x.double(), sigma.double()).float()

        torch.manual_seed(seed)
        result = fn(model, x_init.clone(), sigmas, callback=callback, disable=True)
        out.append({"name": name, "seed": seed, "options": {}, "sigmas": flat(sigmas), "x_init": flat(x_init),
                    "shape": list(shape), "noise": [], "steps": steps, "final": flat(result), "nfe": 0})
    return out


def run_dpm_solver(name, sigma_min, sigma_max, n, x_init, seed, kwargs):
    """k-diffusion's sample_dpm_fast / sample_dpm_adaptive, which take the two ends of the range
    (and n) instead of a sigma list. The case's sigmas are the list the Swift sampler is given:
    n + 1 values from sigma_max (Karras), ending at sigma_min then 0, as ComfyUI passes them.
    k-diffusion queries the noise sampler on every (accepted) step even with eta = 0, where it
    multiplies the noise by 0; those records are dropped (the Swift samplers draw only when eta > 0).
    dpm_adaptive's callback fires after each attempt, so for it only the result and counts are kept."""
    model = CountingModel()
    steps = []

    def callback(d):
        steps.append({"i": int(d["i"]), "sigma": float(d["sigma"]), "sigma_hat": float(d["sigma_hat"]),
                      "x": flat(d["x"]), "denoised": flat(d["denoised"])})

    noise = RecordingNoise(x_init.shape, seed)
    info = {}
    if name == "dpm_fast":
        out = ks.sample_dpm_fast(model, x_init.clone(), sigma_min, sigma_max, n, callback=callback, disable=True,
                                 noise_sampler=noise, **kwargs)
    else:
        out, info = ks.sample_dpm_adaptive(model, x_init.clone(), sigma_min, sigma_max, disable=True,
                                           noise_sampler=noise, return_info=True, **kwargs)
        steps = []
    sigmas = ks.get_sigmas_karras(n, sigma_min, sigma_max).double()
    records = noise.records if kwargs.get("eta", 0) else []
    return {"name": name, "options": dict(kwargs), "sigmas": flat(sigmas), "x_init": flat(x_init),
            "shape": list(x_init.shape), "noise": records, "steps": steps, "final": flat(out), "nfe": model.calls,
            "accepted": int(info.get("n_accept", 0)), "rejected": int(info.get("n_reject", 0))}


def extra_cases():
    """Issue 17: dpm_fast, dpm_adaptive, and eta/s_noise on every ancestral/SDE sampler."""
    g = torch.Generator().manual_seed(4321)
    x_init = torch.randn((2, 3), generator=g, dtype=torch.float64) * 10.0
    dpm = [
        ("dpm_fast", 8, {}), ("dpm_fast", 9, {}), ("dpm_fast", 7, {}),
        ("dpm_fast", 8, {"eta": 0.7, "s_noise": 0.9}),
        ("dpm_adaptive", 0, {}),
        ("dpm_adaptive", 0, {"order": 2, "rtol": 0.01, "atol": 0.001}),
        ("dpm_adaptive", 0, {"rtol": 0.002, "atol": 0.0005, "pcoeff": 0.1, "icoeff": 0.5, "dcoeff": 0.05, "h_init": 0.1}),
        ("dpm_adaptive", 0, {"eta": 0.5, "s_noise": 1.05}),
    ]
    cases = [run_dpm_solver(name, 0.05, 10.0, n if n else 8, x_init, 200 + i, kw) for i, (name, n, kw) in enumerate(dpm)]
    sigmas = ks.get_sigmas_karras(8, 0.05, 10.0).double()
    options = [
        ("euler_ancestral", ks.sample_euler_ancestral, {"eta": 0.3, "s_noise": 1.2}),
        ("dpm_2_ancestral", ks.sample_dpm_2_ancestral, {"eta": 0.5, "s_noise": 1.05}),
        ("dpmpp_2s_ancestral", ks.sample_dpmpp_2s_ancestral, {"eta": 0.4, "s_noise": 0.9}),
        ("dpmpp_sde", ks.sample_dpmpp_sde, {"eta": 0.7, "s_noise": 1.02}),
        ("dpmpp_2m_sde", ks.sample_dpmpp_2m_sde, {"eta": 0.25, "s_noise": 0.8}),
        ("dpmpp_3m_sde", ks.sample_dpmpp_3m_sde, {"eta": 0.5, "s_noise": 1.1}),
    ]
    cases += [run_k(name, fn, sigmas, x_init, 300 + i, kw) for i, (name, fn, kw) in enumerate(options)]
    return cases


def write(name, obj):
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    files = {
        "samplers.json": lambda: {"mixture": MIXTURE, "cases": k_cases()},
        "discrete_samplers.json": lambda: {"mixture": MIXTURE, "schedule": SD, "cases": discrete_cases()},
        "schedules.json": schedule_fixtures,
        "diffusers_k_samplers.json": lambda: {"mixture": MIXTURE, "cases": diffusers_k_cases()},
        "seeded_samplers.json": lambda: {"mixture": MIXTURE, "cases": seeded_cases()},
        "k_samplers_extra.json": lambda: {"mixture": MIXTURE, "cases": extra_cases()},
    }
    wanted = sys.argv[1:] or list(files)
    unknown = [w for w in wanted if w not in files]
    if unknown:
        sys.exit(f"unknown fixture file(s) {unknown}; choose from {list(files)}")
    for name in wanted:
        write(name, files[name]())
