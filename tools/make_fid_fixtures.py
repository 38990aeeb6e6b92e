#!/usr/bin/env python3
"""Writes the reference values of the Fréchet distance tests.

Run with the fixture environment:
    /tmp/venv/bin/python tools/make_fid_fixtures.py
It writes Tests/DiffusionTests/Fixtures/frechet_distance.json.

What it does
- For D = 3, 8 and 32: two sets of random "features" (float32, N = 3D and 2D rows; the second
  set is a differently mixed and shifted Gaussian so the two covariances do not commute),
  written with 9 significant digits, which identify a float32 exactly.
- Their statistics as pytorch-fid computes them: `mu = np.mean(x, axis=0)`,
  `sigma = np.cov(x, rowvar=False)` (unbiased, N - 1), in float64 from the float32 values.
- The Fréchet distance with pytorch-fid's formula (`calculate_frechet_distance`), written out
  here so the file needs no pytorch-fid install:
      d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))
  with `scipy.linalg.sqrtm` (Schur method) and the real part of its trace.
- One more case per D with covariances given directly (random SPD matrices, no features), so
  the distance is checked apart from the statistics code.
"""
import json
import os

import numpy as np
import scipy
import scipy.linalg

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "DiffusionTests", "Fixtures")


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's calculate_frechet_distance, without its eps fallback (never needed here)."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    assert np.isfinite(covmean).all()
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def float32_list(x):
    """float32 values with 9 significant digits (enough to read back the same float32)."""
    return [float("%.9g" % v) for v in x.flatten()]


def random_features(rng, n, d, scale, shift):
    mixing = rng.standard_normal((d, d)) * scale / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mixing + shift
    return x.astype(np.float32)


def main():
    rng = np.random.default_rng(20240527)
    feature_cases = []
    for d in (3, 8, 32):
        x1 = random_features(rng, 3 * d, d, 1.0, 0.0)
        x2 = random_features(rng, 2 * d, d, 1.5, rng.standard_normal(d) * 0.5)
        stats = []
        for x in (x1, x2):
            x64 = x.astype(np.float64)
            stats.append((np.mean(x64, axis=0), np.cov(x64, rowvar=False)))
        feature_cases.append({
            "dimension": d,
            "features1": float32_list(x1), "count1": x1.shape[0],
            "features2": float32_list(x2), "count2": x2.shape[0],
            "mean1": stats[0][0].tolist(), "covariance1": stats[0][1].flatten().tolist(),
            "mean2": stats[1][0].tolist(), "covariance2": stats[1][1].flatten().tolist(),
            "distance": frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1]),
        })
    covariance_cases = []
    for d in (3, 8, 32):
        a = rng.standard_normal((d, d + 2))
        b = rng.standard_normal((d, d + 5)) * 0.7
        s1 = a @ a.T / d
        s2 = b @ b.T / d + 0.1 * np.eye(d)
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        covariance_cases.append({
            "dimension": d, "mean1": mu1.tolist(), "covariance1": s1.flatten().tolist(),
            "mean2": mu2.tolist(), "covariance2": s2.flatten().tolist(),
            "distance": frechet_distance(mu1, s1, mu2, s2),
        })
    out = {
        "generator": "tools/make_fid_fixtures.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__},
        "featureCases": feature_cases,
        "covarianceCases": covariance_cases,
    }
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "frechet_distance.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)
    print("wrote", path, [c["distance"] for c in feature_cases], [c["distance"] for c in covariance_cases])


if __name__ == "__main__":
    main()
