"""Cross-check of lesson 06's few-step findings with k-diffusion's own samplers.

Runs k-diffusion's samplers (PyPI package `k-diffusion`; pin `setuptools<81`) on the lesson's
default 2-D Gaussian mixture with its exact denoiser, in float64, with the Karras schedule
(sigma 0.002 ... 80) at 5 and 10 steps and 2000 samples, and prints the lesson's mode
statistics (fraction of samples more than sqrt(2 ln 100) stds from their mode, spread ratio).
With `--csv out/lesson-06/distribution.csv` it prints the Swift lesson's numbers beside them.
The noise differs from the lesson's, so expect agreement up to sampling noise (about 1 % in
the fractions), not digit for digit.

    /tmp/venv/bin/python tools/lesson06_kdiffusion_crosscheck.py --csv out/lesson-06/distribution.csv
"""
import argparse
import csv
import math

import torch
from k_diffusion import sampling

WEIGHTS = torch.tensor([0.30, 0.20, 0.20, 0.15, 0.15], dtype=torch.float64)
MEANS = torch.tensor([[-2, -1], [2, -1.2], [0, 2], [-1.2, 0.9], [1.3, 0.8]], dtype=torch.float64)
STDS = torch.tensor([0.15, 0.10, 0.20, 0.08, 0.12], dtype=torch.float64)


def denoise(x, sigma):
    """E[x0 | x] for the mixture: responsibilities times per-mode posterior means."""
    s = float(sigma.reshape(-1)[0])
    v = STDS**2 + s * s
    d2 = ((x[:, None, :] - MEANS[None]) ** 2).sum(-1)
    r = torch.softmax(torch.log(WEIGHTS) - torch.log(v) - 0.5 * d2 / v, dim=-1)
    shrink = STDS**2 / v
    return (r[:, :, None] * (MEANS[None] + shrink[None, :, None] * (x[:, None, :] - MEANS[None]))).sum(1)


class Model:
    def __call__(self, x, sigma, **kwargs):
        return denoise(x, sigma)


def mode_statistics(x):
    d2 = ((x[:, None, :] - MEANS[None]) ** 2).sum(-1)
    k = (torch.log(WEIGHTS) - 2 * torch.log(STDS) - d2 / (2 * STDS**2)).argmax(-1)
    r2 = d2[torch.arange(len(x)), k] / STDS[k] ** 2
    return (r2 > 2 * math.log(100)).double().mean().item(), (r2 / 2).mean().sqrt().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", help="the lesson's distribution.csv, to print its numbers beside")
    args = parser.parse_args()
    swift = {}
    if args.csv:
        with open(args.csv) as f:
            for row in csv.DictReader(f):
                swift[(row["sampler"], int(row["steps"]))] = (float(row["off_mode_fraction"]), float(row["spread_ratio"]))
    torch.manual_seed(0)
    z = torch.randn(2000, 2, dtype=torch.float64)
    names = ["euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
             "dpmpp_2m", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"]
    print(f"{'steps':>5} {'sampler':<20} {'off-mode':>9} {'spread':>7}   {'Swift off-mode':>14} {'Swift spread':>12}")
    for steps in [5, 10]:
        sigmas = sampling.get_sigmas_karras(steps, 0.002, 80.0, 7.0).double()
        for name in names:
            torch.manual_seed(1)
            x = getattr(sampling, "sample_" + name)(Model(), z * sigmas[0], sigmas, disable=True)
            off, spread = mode_statistics(x)
            theirs = swift.get((name, steps))
            extra = f"   {theirs[0]:>14.3f} {theirs[1]:>12.2f}" if theirs else ""
            print(f"{steps:>5} {name:<20} {off:>9.3f} {spread:>7.2f}{extra}")


if __name__ == "__main__":
    main()
