#!/usr/bin/env python3
"""Writes the reference fixtures read by Tests/TensorTests (the Swift tests never run Python).

Run with the fixture environment (torch 2.x CPU, numpy, safetensors, Pillow):

    /tmp/venv/bin/python tools/make_tensor_fixtures.py

Outputs in Tests/TensorTests/Fixtures/:
- torch_random.json   raw mt19937 words and torch.randn/torch.rand values (float32 bit patterns)
                      for several seeds and shapes, and a sequence of calls on one generator.
- small.safetensors   + small_safetensors.json: tensors of every dtype written by `safetensors`.
- hello.txt.gz        + gzip.json: a gzip stream written by Python's gzip module.
- png_*.png           + png.json: tiny images of every color type written by Pillow, with pixels.
"""
import gzip
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorTests", "Fixtures")


def float_bits(t):
    """float32 tensor -> list of its IEEE bit patterns (exact, unlike decimal printing)."""
    return t.detach().contiguous().to(torch.float32).view(torch.int32).flatten().numpy().astype(np.uint32).tolist()


def mt_words(seed, n):
    """Raw mt19937 words from numpy's independent implementation (init_genrand seeding, like
    torch.manual_seed), cross-checked against what torch's generator itself exposes."""
    bg = np.random.MT19937()
    bg._legacy_seeding(seed & 0xFFFFFFFF)
    words = [int(w) for w in bg.random_raw(n)]
    # torch: int32 random_() returns word % 2^31, int64 random_() returns ((w0 << 32) | w1) % 2^63.
    g = torch.Generator().manual_seed(seed)
    low31 = torch.empty(n, dtype=torch.int32).random_(generator=g).tolist()
    assert low31 == [w & 0x7FFFFFFF for w in words], "torch int32 words disagree with numpy MT19937"
    g = torch.Generator().manual_seed(seed)
    pairs = torch.empty(n // 2, dtype=torch.int64).random_(generator=g).tolist()
    assert pairs == [((words[2 * k] << 32) | words[2 * k + 1]) & (2**63 - 1) for k in range(n // 2)]
    g = torch.Generator().manual_seed(seed)
    torch.empty(1, dtype=torch.int32).random_(generator=g)  # skip one word: pairs now start at word 1
    pairs = torch.empty((n - 1) // 2, dtype=torch.int64).random_(generator=g).tolist()
    assert pairs == [((words[2 * k + 1] << 32) | words[2 * k + 2]) & (2**63 - 1) for k in range((n - 1) // 2)]
    return words


def random_fixture():
    seeds = [0, 42, 31337, 2**32 + 42]  # the last checks that only the low 32 bits seed the MT
    shapes = [[1], [3], [15], [16], [17], [100], [1000], [2, 4, 8, 8]]
    words = [{"seed": s, "words": mt_words(s, 1300)} for s in seeds]
    randn, rand = [], []
    for s in seeds[:3]:
        for shape in shapes:
            g = torch.Generator().manual_seed(s)
            randn.append({"seed": s, "shape": shape, "bits": float_bits(torch.randn(shape, generator=g))})
        for shape in [[1], [5], [17], [100]]:
            g = torch.Generator().manual_seed(s)
            rand.append({"seed": s, "shape": shape, "bits": float_bits(torch.rand(shape, generator=g))})
    # Successive calls on one generator: the cached second normal of the small path, the
    # vectorized path, rand in between.
    calls = [("randn", [3]), ("randn", [5]), ("randn", [17]), ("randn", [1]), ("rand", [4]),
             ("randn", [2]), ("randn", [16]), ("randn", [1]), ("randn", [2, 4, 8, 8]), ("randn", [7])]
    sequence = []
    for s in [7, 2024]:
        g = torch.Generator().manual_seed(s)
        steps = []
        for kind, shape in calls:
            t = (torch.randn if kind == "randn" else torch.rand)(shape, generator=g)
            steps.append({"kind": kind, "shape": shape, "bits": float_bits(t)})
        sequence.append({"seed": s, "calls": steps})
    doc = {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "words": words, "randn": randn, "rand": rand, "sequences": sequence,
    }
    with open(os.path.join(OUT, "torch_random.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    random_fixture()
