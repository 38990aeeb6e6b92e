#!/usr/bin/env python3
"""Counts the floating-point operations of one SD 1.5 UNet call, by operation class.

The call is the `sd15-unet-b2-64` bench case: diffusers' UNet2DConditionModel built from SD 1.5's
`unet/config.json`, a [2, 4, 64, 64] latent, two timesteps and [2, 77, 768] text states. The model is
built on PyTorch's "meta" device, so nothing is allocated or computed: only shapes flow.

Two independent counts:
- torch.utils.flop_counter.FlopCounterMode (PyTorch's own count of convolutions, matrix products and
  attention, 2 FLOPs per multiply-add), the total the classes below must add up to;
- forward hooks on every Conv2d, Linear and Attention module, which sort the same multiply-adds into
  classes: 3x3 convolutions by resolution (and whether Winograd's stride-1 path applies), 1x1
  convolutions, linear projections (self-attention q/k/v/out, cross-attention q/out and k/v on the 77
  text tokens, GEGLU's C -> 8C, the feed-forward's 4C -> C, time embedding), attention's QKᵀ and PV.
Elementwise passes (GroupNorm, LayerNorm, SiLU, GEGLU's gate, residual adds, softmax) are counted in
elements touched, not FLOPs: they are bound by memory, not by the multiply-add units.

With `--gflops R` (the GEMM rate measured by `bench --filter gemm` on the same threads) it prints the
time the multiply-adds alone would take at that rate, for the direct convolution, Winograd F(2x2, 3x3)
(2.25x fewer multiplies on the 3x3 stride-1 layers) and F(4x4, 3x3) (4x fewer), and with
`--diffusers-seconds S` the ratio of that lower bound to diffusers' measured time.

Usage: python3 tools/count_sd15_unet_flops.py [--config ../shared/sd15/unet/config.json]
           [--gflops 140] [--diffusers-seconds 13.3] [--json]
"""
import argparse
import collections
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "..", "shared", "sd15", "unet", "config.json"))
    parser.add_argument("--gflops", type=float, default=None, help="measured GEMM rate, GFLOP/s")
    parser.add_argument("--diffusers-seconds", type=float, default=None, help="diffusers' measured time of the call")
    parser.add_argument("--json", action="store_true", help="print the classes as one JSON object")
    args = parser.parse_args()

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import Attention

    with open(args.config) as f:
        config = json.load(f)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config).eval()
        sample = torch.empty(2, 4, 64, 64)
        timesteps = torch.empty(2)
        states = torch.empty(2, 77, 768)

    flops = collections.OrderedDict()      # class -> FLOPs (2 per multiply-add)
    winograd = collections.defaultdict(float)  # class -> FLOPs of stride-1 3x3 layers in it
    elements = collections.OrderedDict()   # elementwise class -> elements read (one pass)

    def add(table, key, value):
        table[key] = table.get(key, 0.0) + value

    names = {module: name for name, module in unet.named_modules()}

    def conv_hook(module, inputs, output):
        n, c, h, w = inputs[0].shape
        _, o, oh, ow = output.shape
        kh, kw = module.kernel_size
        value = 2.0 * n * o * oh * ow * c * kh * kw / module.groups
        if (kh, kw) == (3, 3):
            key = f"conv3x3 {oh}x{ow}" + (" stride 2" if module.stride[0] == 2 else "")
            if module.stride == (1, 1) and module.groups == 1:
                winograd[key] += value
        else:
            name = names[module]
            role = "proj_in/proj_out" if ("proj_in" in name or "proj_out" in name) else "shortcut"
            key = f"conv1x1 {role}"
        add(flops, key, value)

    def linear_hook(module, inputs, output):
        rows = inputs[0].numel() // inputs[0].shape[-1]
        value = 2.0 * rows * module.in_features * module.out_features
        name = names[module]
        if ".attn1." in name:
            key = "linear self-attention q/k/v/out"
        elif ".attn2.to_k" in name or ".attn2.to_v" in name:
            key = "linear cross-attention k/v (77 tokens)"
        elif ".attn2." in name:
            key = "linear cross-attention q/out"
        elif ".ff.net.0.proj" in name:
            key = "linear GEGLU C->8C"
        elif ".ff.net.2" in name:
            key = "linear feed-forward 4C->C"
        elif "time_emb" in name:
            key = "linear time embedding (ResNet time_emb_proj, time MLP)"
        else:
            key = "linear other"
        add(flops, key, value)

    def attention_hook(module, args_, kwargs, output):
        hidden = args_[0] if args_ else kwargs["hidden_states"]
        context = kwargs.get("encoder_hidden_states")
        b, tq, c = hidden.shape
        tk = tq if context is None else context.shape[1]
        inner = module.to_q.out_features
        kind = "self" if context is None else "cross"
        side = int(round(tq ** 0.5))
        add(flops, f"attention {kind} QK^T+PV {side}x{side} ({tq}x{tk})", 2 * 2.0 * b * tq * tk * inner)
        add(elements, f"softmax {kind} {tq}x{tk}", float(b * module.heads * tq * tk))

    def elementwise_hook(kind):
        def hook(module, inputs, output):
            add(elements, kind, float(inputs[0].numel()))
        return hook

    for module in unet.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(conv_hook)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(linear_hook)
        elif isinstance(module, Attention):
            module.register_forward_hook(attention_hook, with_kwargs=True)
        elif isinstance(module, torch.nn.GroupNorm):
            module.register_forward_hook(elementwise_hook("GroupNorm"))
        elif isinstance(module, torch.nn.LayerNorm):
            module.register_forward_hook(elementwise_hook("LayerNorm"))
        elif isinstance(module, torch.nn.SiLU):
            module.register_forward_hook(elementwise_hook("SiLU"))
        elif type(module).__name__ == "GEGLU":
            module.register_forward_hook(lambda m, i, o: add(elements, "GEGLU gate a*gelu(g)", float(o.numel())))

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        unet(sample, timesteps, encoder_hidden_states=states)
    torch_total = float(counter.get_total_flops())
    total = sum(flops.values())

    # SD's attention at 64x64 sits in the highest-resolution transformer blocks; sort classes by cost.
    ordered = sorted(flops.items(), key=lambda kv: -kv[1])
    conv3 = sum(v for k, v in flops.items() if k.startswith("conv3x3"))
    wino = sum(winograd.values())
    result = {"classes_gflop": {k: v / 1e9 for k, v in ordered},
              "total_gflop": total / 1e9, "flop_counter_total_gflop": torch_total / 1e9,
              "conv3x3_gflop": conv3 / 1e9, "conv3x3_stride1_gflop": wino / 1e9,
              "elementwise_melements": {k: v / 1e6 for k, v in elements.items()}}
    variants = {"direct": total, "winograd F(2x2,3x3)": total - wino + wino / 2.25,
                "winograd F(4x4,3x3)": total - wino + wino / 4.0}
    result["multiply_add_gflop"] = {k: v / 1e9 for k, v in variants.items()}
    if args.gflops:
        result["lower_bound_seconds"] = {k: v / (args.gflops * 1e9) for k, v in variants.items()}
        if args.diffusers_seconds:
            result["lower_bound_over_diffusers"] = {k: v / (args.gflops * 1e9) / args.diffusers_seconds
                                                    for k, v in variants.items()}
    if args.json:
        print(json.dumps(result, indent=1))
        return

    print(f"SD 1.5 UNet, batch 2, 64x64 latent, 77x768 text: {total / 1e9:.1f} GFLOP in the hooked classes, "
          f"{torch_total / 1e9:.1f} GFLOP by FlopCounterMode")
    print(f"{'class':58s} {'GFLOP':>8s} {'share':>6s}")
    for key, value in ordered:
        print(f"{key:58s} {value / 1e9:8.1f} {100 * value / total:5.1f}%")
    print(f"3x3 convolutions {conv3 / 1e9:.1f} GFLOP, of which stride 1 (Winograd applies) {wino / 1e9:.1f}")
    print("elementwise passes (million elements read, one pass each):")
    for key, value in elements.items():
        print(f"  {key:56s} {value / 1e6:8.1f}")
    for key, value in variants.items():
        line = f"multiply-adds with {key:22s}: {value / 1e9:7.1f} GFLOP"
        if args.gflops:
            seconds = value / (args.gflops * 1e9)
            line += f", {seconds:5.2f} s at {args.gflops:g} GFLOP/s"
            if args.diffusers_seconds:
                line += f" = {seconds / args.diffusers_seconds:.2f} x diffusers' {args.diffusers_seconds:g} s"
        print(line)
    if abs(total - torch_total) > 1e-3 * torch_total:
        print(f"warning: the classes miss {(torch_total - total) / 1e9:.2f} GFLOP that FlopCounterMode counts",
              file=sys.stderr)


if __name__ == "__main__":
    main()
