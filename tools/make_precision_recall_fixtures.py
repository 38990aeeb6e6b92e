#!/usr/bin/env python3
"""Writes the reference values of the improved precision and recall tests.

Run with the fixture environment:
    /tmp/venv/bin/python tools/make_precision_recall_fixtures.py
It writes Tests/DiffusionTests/Fixtures/precision_recall.json.

What it does
- Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-3) written in NumPy as the
  authors' reference implementation computes them: the full pairwise Euclidean distance matrix
  of a set, the k-th nearest-neighbour radius of each point as the (k+1)-th smallest distance in
  its row (the point itself is at distance 0), then
      precision = mean over generated g of any_r (|g - r| <= radius_r)
      recall    = mean over real r of any_g (|r - g| <= radius_g)
  in float64 from float32 features.
- Cases of random "features" (float32, written with 9 significant digits, which identify a
  float32 exactly): a generated set narrower than the real one (precision high, recall low),
  a wider one (the reverse), a shifted one in 32 dimensions, one of unequal sizes, and k = 1
  and k = 5 on the same sets.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "DiffusionTests", "Fixtures")


def pairwise_distances(a, b):
    """|a_i - b_j| for every pair, in float64, without the |a|^2 + |b|^2 - 2ab shortcut."""
    diff = a[:, None, :].astype(np.float64) - b[None, :, :].astype(np.float64)
    return np.sqrt((diff * diff).sum(axis=2))


def kth_radii(x, k):
    d = pairwise_distances(x, x)
    return np.partition(d, k, axis=1)[:, k]          # index 0 is the point itself


def precision_recall(real, generated, k):
    real_radii, generated_radii = kth_radii(real, k), kth_radii(generated, k)
    d = pairwise_distances(generated, real)             # [M, N]
    precision = float((d <= real_radii[None, :]).any(axis=1).mean())
    recall = float((d.T <= generated_radii[None, :]).any(axis=1).mean())
    return precision, recall


def float32_list(x):
    return [float("%.9g" % v) for v in x.flatten()]


def main():
    rng = np.random.default_rng(20261203)
    cases = []

    def add(name, real, generated, k):
        real, generated = real.astype(np.float32), generated.astype(np.float32)
        p, r = precision_recall(real, generated, k)
        cases.append({"name": name, "dimension": real.shape[1], "k": k,
                      "realCount": real.shape[0], "generatedCount": generated.shape[0],
                      "real": float32_list(real), "generated": float32_list(generated),
                      "precision": p, "recall": r})

    real8 = rng.standard_normal((60, 8))
    add("narrower", real8, 0.5 * rng.standard_normal((60, 8)) + 0.3, 3)
    wide = 1.6 * rng.standard_normal((60, 8))
    add("wider", real8, wide, 3)
    add("wider k=1", real8, wide, 1)
    add("wider k=5", real8, wide, 5)
    mixing = rng.standard_normal((32, 32)) / np.sqrt(32)
    real32 = rng.standard_normal((120, 32)) @ mixing
    add("shifted d=32", real32, rng.standard_normal((120, 32)) @ mixing + 0.6 * rng.standard_normal(32), 3)
    add("unequal sizes", real8, 0.8 * rng.standard_normal((45, 8)) - 0.2, 3)

    out = {"generator": "tools/make_precision_recall_fixtures.py", "versions": {"numpy": np.__version__}, "cases": cases}
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "precision_recall.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)
    print("wrote", path, [(c["name"], c["precision"], c["recall"]) for c in cases])


if __name__ == "__main__":
    main()
