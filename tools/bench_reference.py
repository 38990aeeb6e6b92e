#!/usr/bin/env python3
"""Times the shapes of `swift run -c release bench` with NumPy (OpenBLAS) and PyTorch (CPU).

Prints one JSON object per line, the same format as `bench --json`:
  {"name": ..., "shape": ..., "threads": ..., "milliseconds": ..., "gflops": ..., "library": ...}
The median of `--repetitions` timed runs after two warm-up runs is reported.

Each (library, thread count) pair runs in its own child process, because OpenBLAS reads its
thread count from the environment when NumPy is imported. For the NumPy children the variables
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed: with them set (as on this machine's default
environment) OpenBLAS falls back to its AVX2 kernel at half its speed.

The three Stable Diffusion 1.5 cases (`sd15-unet-b2-64`, `sd15-vae-decode-512`,
`sd15-text-encoder-b2`) time diffusers / transformers in float32 on a full-size SD 1.5 with random
weights: the folder written by `tools/make_sd_fixtures.py --full-size DIR` (fp16 files, diffusers'
`variant="fp16"` naming), named by the environment variable SWIFTDIFFUSION_SD15_RANDOM; without it they
are skipped with a note on standard error. The models are loaded (fp16 files upcast to float32:
`from_pretrained(DIR, subfolder=..., variant="fp16", torch_dtype=torch.float32)`) outside the timing;
each timed run is one call under torch.inference_mode(): the UNet on a [2, 4, 64, 64] latent with
timesteps [981, 17.5] and [2, 77, 768] text states, one VAE decode of a [1, 4, 64, 64] latent to
[1, 3, 512, 512], the text encoder on [2, 77] ids. These calls take seconds, so they get one warm-up
run and the median of min(--repetitions, 3) timed runs. Their `gflops` is 0 (not counted).

`--sd15-peak-memory` (with SWIFTDIFFUSION_SD15_RANDOM set) instead measures, in this fresh process,
diffusers' peak resident memory for: load the UNet, VAE and text encoder in float32 (as above), one UNet
call (batch 2, 64x64, 77 tokens) and one VAE decode (64x64 -> 512x512), all under inference_mode on
`--threads` threads (the first value of the list). It prints one JSON line:
  {"name": "sd15-peak-memory", "shape": ..., "threads": N, "peakResidentMB": ..., "afterLoadResidentMB": ...,
   "seconds": ..., "library": "torch"}
where the MB figures are getrusage(RUSAGE_SELF).ru_maxrss (peak resident set, KiB on Linux) / 1024,
the second one read right after loading, and `seconds` is the wall time of the whole sequence. It exits
with status 2 (and a message) when the variable is unset or the folder is missing.

Usage: python3 tools/bench_reference.py [--threads 1,2] [--repetitions 5] [--filter gemm] [--cpu-time]
       SWIFTDIFFUSION_SD15_RANDOM=/tmp/sd15-random python3 tools/bench_reference.py --filter sd15
       SWIFTDIFFUSION_SD15_RANDOM=/tmp/sd15-random python3 tools/bench_reference.py --sd15-peak-memory --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (name, shape description, kind, parameters) -- keep in step with Sources/bench/BenchCases.swift.
CASES = [
    ("gemm-1024", "1024x1024 * 1024x1024", "gemm", (1024, 1024, 1024)),
    ("gemm-2048", "2048x2048 * 2048x2048", "gemm", (2048, 2048, 2048)),
    ("gemm-sd-4096x320x1280", "4096x320 * 320x1280", "gemm", (4096, 1280, 320)),
    ("gemm-sd-4096x1280x320", "4096x1280 * 1280x320", "gemm", (4096, 320, 1280)),
    ("gemm-sd-1024x640x640", "1024x640 * 640x640", "gemm", (1024, 640, 640)),
    ("gemm-sd-77x768x320", "77x768 * 768x320", "gemm", (77, 320, 768)),
    ("linear-sd-4096x320x1280", "4096x320 * (1280x320)T", "linear", (4096, 1280, 320)),
    ("linear-sd-77x768x320", "77x768 * (320x768)T", "linear", (77, 320, 768)),
    ("conv3x3-sd-2x320x64x64", "N=2 C=320 64x64 -> 320, 3x3 pad 1", "conv", (2, 320, 64, 64, 320)),
    ("conv3x3-sd-2x640x32x32", "N=2 C=640 32x32 -> 640, 3x3 pad 1", "conv", (2, 640, 32, 32, 640)),
    ("conv3x3-sd-2x1280x16x16", "N=2 C=1280 16x16 -> 1280, 3x3 pad 1", "conv", (2, 1280, 16, 16, 1280)),
    ("conv3x3-sd-2x1280x8x8", "N=2 C=1280 8x8 -> 1280, 3x3 pad 1", "conv", (2, 1280, 8, 8, 1280)),
    ("conv3x3-128x32x28x28", "N=128 C=32 28x28 -> 64, 3x3 pad 1", "conv", (128, 32, 28, 28, 64)),
    ("conv3x3-128x64x16x16", "N=128 C=64 16x16 -> 64, 3x3 pad 1", "conv", (128, 64, 16, 16, 64)),
    ("conv3x3-128x128x8x8", "N=128 C=128 8x8 -> 128, 3x3 pad 1", "conv", (128, 128, 8, 8, 128)),
    ("conv3x3-128x128x4x4", "N=128 C=128 4x4 -> 128, 3x3 pad 1", "conv", (128, 128, 4, 4, 128)),
    ("attention-sd-4096", "B=2 H=8 T=4096 D=40", "attention", (2, 8, 4096, 40)),
    ("train-classifier-b128", "FashionClassifier, batch 128 x 1x28x28, AdamW", "train_classifier", (128,)),
    ("train-unet-b128", "DDPM UNet 4.3M, batch 128 x 1x32x32, AdamW", "train_unet", (128,)),
]

# The three passes of a convolution at the shipped UNets' levels (Sources/bench/BenchConvPass.swift):
# (channels, output channels, side), batch 32, 3x3, padding 1.
for _c, _o, _side in [(128, 128, 2), (128, 128, 4), (64, 64, 4), (64, 64, 8), (32, 32, 8), (32, 32, 16), (16, 16, 32)]:
    for _pass in ("forward", "input", "weight"):
        CASES.append((f"convpass-32x{_c}x{_side}x{_side}-{_o}-{_pass}", "", "conv_pass", (32, _c, _side, _side, _o, _pass)))

# The shipped models (Sources/bench/BenchDiffusion.swift): training at batch 32 and one sampling
# step (a UNet evaluation without gradients) at batch 64 of diffusers' UNet2DModel built from the
# same config.json. A model whose config.json is absent is skipped, as on the Swift side.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _folder in ("ddpm-fmnist", "ldm-fmnist"):
    _config = os.path.join(ROOT, "models", _folder, "unet", "config.json")
    if os.path.exists(_config):
        CASES.append((f"train-{_folder}-b32", "", "train_config", (_config, 32)))
        CASES.append((f"sample-{_folder}-b64", "", "sample_config", (_config, 64)))

# Stable Diffusion 1.5 (random weights, see the module docstring): skipped when the variable is unset.
SD15_VARIABLE = "SWIFTDIFFUSION_SD15_RANDOM"
CASES += [
    ("sd15-unet-b2-64", "SD 1.5 UNet, 2x4x64x64, 77x768 states", "sd15_unet", ()),
    ("sd15-vae-decode-512", "SD 1.5 VAE decode 1x4x64x64 -> 512x512", "sd15_vae_decode", ()),
    ("sd15-text-encoder-b2", "SD 1.5 CLIP text encoder, 2x77 ids", "sd15_text_encoder", ()),
]


def sd15_folder():
    """The folder of tools/make_sd_fixtures.py --full-size, or None (after a note) when unavailable."""
    folder = os.environ.get(SD15_VARIABLE, "")
    if not folder:
        return None
    if not os.path.isfile(os.path.join(folder, "unet", "diffusion_pytorch_model.fp16.safetensors")):
        print(f"bench_reference: {SD15_VARIABLE}={folder} holds no unet/diffusion_pytorch_model.fp16.safetensors; "
              "skipping the sd15 cases (write it with tools/make_sd_fixtures.py --full-size DIR)", file=sys.stderr)
        return None
    return folder


def sd15_load(part, folder):
    """One SD 1.5 component in float32 from the fp16 files of `folder` (diffusers' variant naming)."""
    import torch
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if part == "text_encoder":
        from transformers import CLIPTextModel
        return CLIPTextModel.from_pretrained(folder, subfolder=part, variant="fp16", dtype=torch.float32).eval()
    from diffusers import AutoencoderKL, UNet2DConditionModel
    cls = UNet2DConditionModel if part == "unet" else AutoencoderKL
    return cls.from_pretrained(folder, subfolder=part, variant="fp16", torch_dtype=torch.float32).eval()


def sd15_inputs():
    """The inputs of the three SD 1.5 cases (their values do not change the cost)."""
    import torch
    g = torch.Generator().manual_seed(0)
    ids = torch.full((2, 77), 49407, dtype=torch.long)
    ids[:, 0] = 49406
    ids[1, 1:6] = torch.tensor([320, 1125, 539, 320, 2368])  # "a photo of a cat"
    return {"sample": torch.randn(2, 4, 64, 64, generator=g), "timesteps": torch.tensor([981.0, 17.5]),
            "states": torch.randn(2, 77, 768, generator=g), "latent": torch.randn(1, 4, 64, 64, generator=g),
            "ids": ids}


def sd15_step(kind, folder):
    """A function running one SD 1.5 call of `kind` (model loaded here, outside the timing)."""
    import torch
    x = sd15_inputs()
    if kind == "sd15_unet":
        unet = sd15_load("unet", folder)

        def run():
            with torch.inference_mode():
                unet(x["sample"], x["timesteps"], encoder_hidden_states=x["states"])
    elif kind == "sd15_vae_decode":
        vae = sd15_load("vae", folder)

        def run():
            with torch.inference_mode():
                vae.decode(x["latent"])
    else:
        text_encoder = sd15_load("text_encoder", folder)

        def run():
            with torch.inference_mode():
                text_encoder(x["ids"])
    return run


def sd15_peak_memory(threads):
    """Peak resident memory of diffusers for load (fp32) + one UNet call + one VAE decode; one JSON line."""
    import resource
    folder = sd15_folder()
    if folder is None:
        print(f"bench_reference: --sd15-peak-memory needs {SD15_VARIABLE} (the folder of "
              "tools/make_sd_fixtures.py --full-size DIR)", file=sys.stderr)
        sys.exit(2)
    start = time.perf_counter()
    import torch
    torch.set_num_threads(threads)
    unet, vae, text_encoder = (sd15_load(part, folder) for part in ("unet", "vae", "text_encoder"))
    after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x = sd15_inputs()
    with torch.inference_mode():
        unet(x["sample"], x["timesteps"], encoder_hidden_states=x["states"])
        vae.decode(x["latent"])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": "sd15-peak-memory",
                      "shape": "load UNet+VAE+text encoder fp32, UNet 2x4x64x64, VAE decode 512x512",
                      "threads": threads, "peakResidentMB": round(peak, 1),
                      "afterLoadResidentMB": round(after_load, 1), "seconds": round(seconds, 2),
                      "library": "torch"}), flush=True)


def config_unet(path):
    """diffusers' UNet2DModel from a config.json, with inputs, timesteps and labels as the Swift cases."""
    from diffusers import UNet2DModel
    with open(path) as f:
        config = json.load(f)
    model = UNet2DModel.from_config(config)
    return model, model.config


def config_training_step(path, batch):
    """One DDPM training step (epsilon MSE, AdamW) of the model in `path` on random inputs."""
    import torch
    import torch.nn.functional as F
    model, c = config_unet(path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    shape = (batch, c.in_channels, c.sample_size, c.sample_size)
    inputs, noise = torch.randn(shape), torch.randn(shape)
    timesteps = torch.arange(batch) * 37 % 1000
    labels = torch.arange(batch) % c.num_class_embeds if c.num_class_embeds else None

    def step():
        optimizer.zero_grad()
        F.mse_loss(model(inputs, timesteps, class_labels=labels).sample, noise).backward()
        optimizer.step()
    return step


def config_sampling_step(path, batch):
    """One UNet evaluation without gradients (a sampler step's cost) of the model in `path`."""
    import torch
    model, c = config_unet(path)
    inputs = torch.randn(batch, c.in_channels, c.sample_size, c.sample_size)
    timesteps = torch.full((batch,), 500)
    labels = torch.arange(batch) % c.num_class_embeds if c.num_class_embeds else None

    def step():
        with torch.no_grad():
            model(inputs, timesteps, class_labels=labels)
    return step


# FLOPs of one UNet training step per image, counted by torch.utils.flop_counter (BenchUNet.swift).
UNET_TRAINING_FLOPS_PER_IMAGE = 2_206_343_168


def unet_training_step(batch):
    """One DDPM training step (epsilon MSE, AdamW) of diffusers' UNet2DModel as Sources/bench/BenchUNet.swift (the project's UNet2D)."""
    import torch
    import torch.nn.functional as F
    from diffusers import UNet2DModel

    model = UNet2DModel(sample_size=32, in_channels=1, out_channels=1, layers_per_block=1,
                        block_out_channels=(32, 64, 128, 128),
                        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images, noise = torch.randn(batch, 1, 32, 32), torch.randn(batch, 1, 32, 32)
    timesteps = torch.arange(batch) * 37 % 1000

    def step():
        optimizer.zero_grad()
        F.mse_loss(model(images, timesteps).sample, noise).backward()
        optimizer.step()
    return step

# Multiply-adds of one FashionClassifier forward pass per image (Sources/bench/BenchTraining.swift).
CLASSIFIER_MACS = 28 * 28 * 32 * 9 + 14 * 14 * 32 * 32 * 9 + 7 * 7 * 64 * 32 * 9 + 3136 * 128 + 128 * 10


def classifier_training_step(batch):
    """Forward, cross-entropy, backward and AdamW of lesson 03's classifier, as the Swift case."""
    import torch
    import torch.nn.functional as F

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(32, 32, 3, stride=2, padding=1)
            self.conv3 = torch.nn.Conv2d(32, 64, 3, stride=2, padding=1)
            self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
            self.fc2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            h = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
            return self.fc2(F.relu(self.fc1(h.flatten(1))))

    model = Classifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.rand(batch, 1, 28, 28)
    labels = torch.arange(batch) % 10

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return step


def flops(kind, p):
    if kind in ("gemm", "linear"):
        m, n, k = p
        return 2.0 * m * n * k
    if kind in ("conv", "conv_pass"):
        n, c, h, w, o = p[:5]
        return 2.0 * n * o * c * 9 * h * w
    if kind == "train_classifier":
        return 3 * 2.0 * CLASSIFIER_MACS * p[0]
    if kind == "train_unet":
        return float(UNET_TRAINING_FLOPS_PER_IMAGE * p[0])
    if kind in ("train_config", "sample_config"):
        return 0.0  # not counted: these cases report images per second
    if kind.startswith("sd15_"):
        return 0.0  # not counted
    b, heads, t, d = p
    return 4.0 * b * heads * t * t * d


def median_seconds(run, repetitions, clock, warmups=2):
    for _ in range(warmups):
        run()
    times = []
    for _ in range(repetitions):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def worker(library, threads, repetitions, name_filter, cpu_time):
    # CPU time (all threads of this process) instead of wall time: see `bench --cpu-time`.
    clock = time.process_time if cpu_time else time.perf_counter
    import numpy as np
    rng = np.random.default_rng(0)
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
    folder = sd15_folder()
    for name, shape, kind, p in CASES:
        if name_filter and name_filter not in name:
            continue
        if kind.startswith("sd15_") and (library != "torch" or folder is None):
            continue
        if library == "numpy":
            if kind not in ("gemm", "linear"):
                continue  # NumPy has no convolution or attention kernel.
            m, n, k = p
            a = rng.standard_normal((m, k), dtype=np.float32)
            if kind == "gemm":
                b = rng.standard_normal((k, n), dtype=np.float32)
            else:
                b = rng.standard_normal((n, k), dtype=np.float32).T  # a transposed view, as in nn.Linear
            run = lambda: a @ b
        else:
            import torch
            import torch.nn.functional as F
            if kind == "train_classifier":
                run = classifier_training_step(*p)
            elif kind == "train_unet":
                run = unet_training_step(*p)
            elif kind == "train_config":
                run = config_training_step(*p)
            elif kind == "sample_config":
                run = config_sampling_step(*p)
            elif kind.startswith("sd15_"):
                run = sd15_step(kind, folder)
            elif kind == "gemm":
                m, n, k = p
                a, b = torch.randn(m, k), torch.randn(k, n)
                run = lambda: torch.mm(a, b)
            elif kind == "linear":
                m, n, k = p
                a, w = torch.randn(m, k), torch.randn(n, k)
                run = lambda: F.linear(a, w)
            elif kind == "conv":
                nb, c, h, w, o = p
                x, weight = torch.randn(nb, c, h, w), torch.randn(o, c, 3, 3)
                run = lambda: F.conv2d(x, weight, padding=1)
            elif kind == "conv_pass":
                nb, c, h, w, o, which = p
                x, weight, dy = torch.randn(nb, c, h, w), torch.randn(o, c, 3, 3), torch.randn(nb, o, h, w)
                if which == "forward":
                    run = lambda: F.conv2d(x, weight, padding=1)
                else:
                    # The backward kernel autograd calls, with only the requested gradient.
                    mask = [which == "input", which == "weight", False]
                    run = lambda: torch.ops.aten.convolution_backward(dy, x, weight, None, [1, 1], [1, 1], [1, 1],
                                                                      False, [0, 0], 1, mask)
            else:
                bsz, heads, t, d = p
                q, k_, v = (torch.randn(bsz, heads, t, d) for _ in range(3))
                run = lambda: F.scaled_dot_product_attention(q, k_, v)
            if not kind.startswith(("train_", "sample_")):  # inference kernels run without autograd
                inner = run
                def run(inner=inner):
                    with torch.no_grad():
                        inner()
        if kind.startswith("sd15_"):  # seconds per call: one warm-up, at most three timed runs
            seconds = median_seconds(run, min(repetitions, 3), clock, warmups=1)
        else:
            seconds = median_seconds(run, repetitions, clock)
        run = None  # frees a loaded model before the next case
        line = {"name": name, "shape": shape, "threads": threads, "milliseconds": round(seconds * 1e3, 4),
                "gflops": round(flops(kind, p) / seconds / 1e9, 2), "library": library}
        if kind in ("train_config", "sample_config"):
            line["imagesPerSecond"] = round(p[1] / seconds, 2)
        print(json.dumps(line), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--filter", default="")
    parser.add_argument("--worker", choices=["numpy", "torch"])
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with CPU seconds, not wall seconds (one thread on a busy machine)")
    parser.add_argument("--sd15-peak-memory", action="store_true",
                        help=f"print the peak resident memory of diffusers running SD 1.5 from ${SD15_VARIABLE}")
    args = parser.parse_args()
    if args.sd15_peak_memory:
        sd15_peak_memory(int(args.threads.split(",")[0]))
        return
    if args.worker:
        worker(args.worker, int(args.threads), args.repetitions, args.filter, args.cpu_time)
        return
    if not os.environ.get(SD15_VARIABLE) and any(k.startswith("sd15_") and args.filter in n for n, _, k, _ in CASES):
        print(f"bench_reference: {SD15_VARIABLE} is not set; skipping the sd15 cases "
              "(write the folder with tools/make_sd_fixtures.py --full-size DIR)", file=sys.stderr)
    libraries = []
    for library in ("numpy", "torch"):
        try:
            __import__(library)
            libraries.append(library)
        except ImportError:
            print(f"bench_reference: {library} is not installed; skipping it", file=sys.stderr)
    for threads in [int(t) for t in args.threads.split(",")]:
        for library in libraries:
            env = dict(os.environ)
            for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
                env.pop(variable, None)
            for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[variable] = str(threads)
            subprocess.run([sys.executable, __file__, "--worker", library, "--threads", str(threads),
                            "--repetitions", str(args.repetitions), "--filter", args.filter]
                           + (["--cpu-time"] if args.cpu_time else []),
                           env=env, check=True)


if __name__ == "__main__":
    main()
