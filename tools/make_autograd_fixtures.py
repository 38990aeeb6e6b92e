#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures for Tests/AutogradTests (run with /tmp/venv/bin/python).

    /tmp/venv/bin/python tools/make_autograd_fixtures.py

Outputs (small JSON files under Tests/AutogradTests/Fixtures/):
  optimizers.json  update sequences of torch.optim SGD/Adam/AdamW on fixed gradients,
                   learning-rate schedules (LinearLR, CosineAnnealingLR, OneCycleLR),
                   clip_grad_norm_ results.
  initialization.json  torch.nn.Linear/Conv2d/Embedding default initialization after
                   torch.manual_seed(0) (checks the same draws from TorchGenerator).
  blocks.json      a diffusers ResnetBlock2D (group norm, SiLU, time embedding, 1x1 shortcut)
                   and diffusers Attention blocks (self-attention with group norm and residual
                   as in the UNet mid block; cross-attention), each with weights by state-dict
                   name, input, output, and the gradients of sum(output * w) for a fixed random w
                   with respect to every parameter and input.
"""
import json
import math
import os
import sys

import torch

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "AutogradTests", "Fixtures")


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(x) for x in t.reshape(-1).tolist()]}


def optimizer_fixture():
    torch.manual_seed(0)
    shapes = [[3, 4], [5]]
    initial = [torch.randn(s) for s in shapes]
    steps = 6
    grads = [[torch.randn(s) for s in shapes] for _ in range(steps)]
    configs = [
        ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
        ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("sgd_nesterov", torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02)),
        ("adam", torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
        ("adam_l2", torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
        ("adamw", torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)),
    ]
    runs = {}
    for name, cls, kwargs in configs:
        params = [p.clone().requires_grad_(True) for p in initial]
        opt = cls(params, foreach=False, **kwargs)
        trajectory = []
        for k in range(steps):
            for p, g in zip(params, grads[k]):
                p.grad = g.clone()
            opt.step()
            trajectory.append([tensor_json(p) for p in params])
        runs[name] = {"kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
                      "trajectory": trajectory}

    def schedule(make, n):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return lrs

    schedules = {
        "linear_warmup": schedule(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=8), 12),
        "cosine": schedule(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 14),
        "one_cycle": schedule(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20), 20),
    }

    torch.manual_seed(1)
    clip_grads = [torch.randn(3, 4) * 2, torch.randn(7)]
    clipped = [g.clone() for g in clip_grads]
    ps = [torch.nn.Parameter(torch.zeros_like(g)) for g in clipped]
    for p, g in zip(ps, clipped):
        p.grad = g
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.5)
    clip = {"grads": [tensor_json(g) for g in clip_grads], "max_norm": 1.5, "total_norm": float(total),
            "clipped": [tensor_json(p.grad) for p in ps]}

    return {"initial": [tensor_json(p) for p in initial],
            "grads": [[tensor_json(g) for g in step] for step in grads],
            "runs": runs, "schedules": schedules, "clip": clip}


def block_case(module, inputs, seed):
    """Forward + gradients of sum(out * w) for a fixed random w."""
    module = module.to(torch.float32)
    named_inputs = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = module(**named_inputs)
    torch.manual_seed(seed)
    w = torch.rand_like(out) * 2 - 1
    (out * w).sum().backward()
    return {
        "weights": {k: tensor_json(v) for k, v in module.state_dict().items()},
        "inputs": {k: tensor_json(v) for k, v in named_inputs.items()},
        "output": tensor_json(out),
        "output_weights": tensor_json(w),
        "parameter_grads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
        "input_grads": {k: tensor_json(v.grad) for k, v in named_inputs.items()},
    }


def randomize(module, seed):
    """Non-trivial weights everywhere (group-norm affine parameters included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            is_norm_scale = p.ndim == 1 and "norm" in name and name.endswith("weight")
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if is_norm_scale else 0.0))


def blocks_fixture():
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    cases = {}
    torch.manual_seed(2)
    resnet = ResnetBlock2D(in_channels=4, out_channels=8, temb_channels=6, groups=2, groups_out=4, eps=1e-5)
    randomize(resnet, 3)
    x = torch.randn(2, 4, 5, 5)
    temb = torch.randn(2, 6)
    # ResnetBlock2D.forward(input_tensor, temb): wrapped to give named inputs.
    class ResnetWrapper(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block
        def forward(self, x, temb):
            return self.block(x, temb)
    case = block_case(ResnetWrapper(resnet), {"x": x, "temb": temb}, 4)
    case["weights"] = {k.removeprefix("block."): v for k, v in case["weights"].items()}
    case["parameter_grads"] = {k.removeprefix("block."): v for k, v in case["parameter_grads"].items()}
    cases["resnet"] = case

    torch.manual_seed(5)
    attn = Attention(query_dim=8, heads=2, dim_head=4, rescale_output_factor=1.0, eps=1e-6, norm_num_groups=4,
                     residual_connection=True, bias=True, upcast_softmax=True, _from_deprecated_attn_block=True,
                     processor=AttnProcessor2_0())
    randomize(attn, 6)
    class AttnWrapper(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block
        def forward(self, x):
            return self.block(x)
    case = block_case(AttnWrapper(attn), {"x": torch.randn(2, 8, 3, 3)}, 7)
    case["weights"] = {k.removeprefix("block."): v for k, v in case["weights"].items()}
    case["parameter_grads"] = {k.removeprefix("block."): v for k, v in case["parameter_grads"].items()}
    cases["self_attention"] = case

    torch.manual_seed(8)
    cross = Attention(query_dim=8, cross_attention_dim=6, heads=2, dim_head=5, processor=AttnProcessor2_0())
    randomize(cross, 9)
    class CrossWrapper(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block
        def forward(self, x, context):
            return self.block(x, encoder_hidden_states=context)
    case = block_case(CrossWrapper(cross), {"x": torch.randn(2, 4, 8), "context": torch.randn(2, 3, 6)}, 10)
    case["weights"] = {k.removeprefix("block."): v for k, v in case["weights"].items()}
    case["parameter_grads"] = {k.removeprefix("block."): v for k, v in case["parameter_grads"].items()}
    cases["cross_attention"] = case
    return cases


def init_fixture():
    """Default initializations drawn after torch.manual_seed(0), in construction order."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 3)
    conv = torch.nn.Conv2d(2, 4, 3)
    embedding = torch.nn.Embedding(4, 6)
    linear_no_bias = torch.nn.Linear(7, 2, bias=False)
    modules = {"linear": linear, "conv": conv, "embedding": embedding, "linear_no_bias": linear_no_bias}
    return {name: {k: tensor_json(v) for k, v in m.state_dict().items()} for name, m in modules.items()}


def write(name, obj):
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("optimizers.json", optimizer_fixture())
    write("blocks.json", blocks_fixture())
    write("initialization.json", init_fixture())
