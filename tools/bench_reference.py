#!/usr/bin/env python3
"""Times the shapes of `swift run -c release bench` with NumPy (OpenBLAS) and PyTorch (CPU).

Prints one JSON object per line, the same format as `bench --json`:
  {"name": ..., "shape": ..., "threads": ..., "milliseconds": ..., "gflops": ..., "library": ...}
The median of `--repetitions` timed runs after two warm-up runs is reported.

Each (library, thread count) pair runs in its own child process, because OpenBLAS reads its
thread count from the environment when NumPy is imported. For the NumPy children the variables
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed: with them set (as on this machine's default
environment) OpenBLAS falls back to its AVX2 kernel at half its speed.

Usage: python3 tools/bench_reference.py [--threads 1,2] [--repetitions 5] [--filter gemm]
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
    ("conv3x3-sd-2x320x64x64", "N=2 C=320 64x64 -> 320, 3x3 pad 1", "conv", (2, 320, 64, 64, 320)),
    ("conv3x3-128x32x28x28", "N=128 C=32 28x28 -> 64, 3x3 pad 1", "conv", (128, 32, 28, 28, 64)),
    ("attention-sd-4096", "B=2 H=8 T=4096 D=40", "attention", (2, 8, 4096, 40)),
]


def flops(kind, p):
    if kind == "gemm":
        m, n, k = p
        return 2.0 * m * n * k
    if kind == "conv":
        n, c, h, w, o = p
        return 2.0 * n * o * c * 9 * h * w
    b, heads, t, d = p
    return 4.0 * b * heads * t * t * d


def median_seconds(run, repetitions):
    for _ in range(2):
        run()
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(library, threads, repetitions, name_filter):
    import numpy as np
    rng = np.random.default_rng(0)
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
    for name, shape, kind, p in CASES:
        if name_filter and name_filter not in name:
            continue
        if library == "numpy":
            if kind != "gemm":
                continue  # NumPy has no convolution or attention kernel.
            m, n, k = p
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            run = lambda: a @ b
        else:
            import torch
            import torch.nn.functional as F
            if kind == "gemm":
                m, n, k = p
                a, b = torch.randn(m, k), torch.randn(k, n)
                run = lambda: torch.mm(a, b)
            elif kind == "conv":
                nb, c, h, w, o = p
                x, weight = torch.randn(nb, c, h, w), torch.randn(o, c, 3, 3)
                run = lambda: F.conv2d(x, weight, padding=1)
            else:
                bsz, heads, t, d = p
                q, k_, v = (torch.randn(bsz, heads, t, d) for _ in range(3))
                run = lambda: F.scaled_dot_product_attention(q, k_, v)
            if library == "torch":
                inner = run
                def run(inner=inner):
                    with torch.no_grad():
                        inner()
        seconds = median_seconds(run, repetitions)
        print(json.dumps({"name": name, "shape": shape, "threads": threads,
                          "milliseconds": round(seconds * 1e3, 4),
                          "gflops": round(flops(kind, p) / seconds / 1e9, 2),
                          "library": library}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--filter", default="")
    parser.add_argument("--worker", choices=["numpy", "torch"])
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, int(args.threads), args.repetitions, args.filter)
        return
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
                            "--repetitions", str(args.repetitions), "--filter", args.filter],
                           env=env, check=True)


if __name__ == "__main__":
    main()
