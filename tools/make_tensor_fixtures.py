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


def xoshiro_fixture():
    """xoshiro256** words, from a transcription of the authors' reference C code
    (https://prng.di.unimi.it/xoshiro256starstar.c and splitmix64.c)."""
    M = 2**64 - 1

    def splitmix(x):
        while True:
            x = (x + 0x9E3779B97F4A7C15) & M
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
            yield z ^ (z >> 31)

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M

    cases = []
    for seed in [0, 42, 2**64 - 1]:
        sm = splitmix(seed)
        s = [next(sm) for _ in range(4)]
        words = []
        for _ in range(100):
            words.append(str((rotl((s[1] * 5) & M, 7) * 9) & M))
            t = (s[1] << 17) & M
            s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
        cases.append({"seed": str(seed), "words": words})
    return cases


def half_fixture():
    """Float32 inputs (edge cases and random bit patterns) with their float16 bits from numpy
    (IEEE round to nearest even) and bfloat16 bits from torch."""
    rng = np.random.default_rng(1234)
    special = [0x00000000, 0x80000000, 0x3F800000, 0xC0000000, 0x477FE000, 0x477FEFFF, 0x477FF000,
               0x33800000, 0x33000000, 0x33000001, 0x387FC000, 0x38800000, 0x7F800000, 0xFF800000,
               0x7F7FFFFF, 0x00000001, 0x3F801000, 0x3F803000, 0x3F808000, 0x3F818000, 0x7F7F8000]
    bits = np.array(special + rng.integers(0, 2**32, 4000, dtype=np.uint64).tolist()
                    + (rng.integers(0x30000000, 0x48000000, 4000, dtype=np.uint64)).tolist(), dtype=np.uint32)
    values = bits.view(np.float32)
    finite = np.isfinite(values) | np.isinf(values)
    bits, values = bits[finite], values[finite]  # NaN payload handling is tested separately
    with np.errstate(over="ignore"):
        f16 = values.astype(np.float16).view(np.uint16)
    bf16 = torch.from_numpy(values.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return {"float_bits": bits.tolist(), "float16_bits": f16.tolist(), "bfloat16_bits": bf16.tolist()}


def safetensors_fixture():
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(5)
    tensors = {
        "f32": torch.randn(2, 3, generator=g),
        "f16": (torch.randn(4, generator=g) * 1000).to(torch.float16),
        "bf16": torch.randn(3, 2, generator=g).to(torch.bfloat16),
        "i64": torch.tensor([[1, -2], [3, 2**40]], dtype=torch.int64),
        "i32": torch.tensor([7, -8, 9], dtype=torch.int32),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    save_file(tensors, os.path.join(OUT, "small.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected = {}
    for name, t in tensors.items():
        entry = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
        if t.is_floating_point():
            entry["float_bits"] = float_bits(t.float())
        else:
            entry["ints"] = t.flatten().tolist()
        expected[name] = entry
    doc = {"metadata": {"format": "pt", "note": "fixture"}, "tensors": expected}
    # A few values of TAESD's real decoder weights (../shared), read by safetensors + torch.
    # ($SWIFTDIFFUSION_SHARED names the shared folder for a checkout that is not beside it.)
    shared = os.environ.get("SWIFTDIFFUSION_SHARED", os.path.join(OUT, "..", "..", "..", "..", "shared"))
    taesd = os.path.join(shared, "weights", "taesd-sd1", "taesd_decoder.safetensors")
    from safetensors import safe_open
    with safe_open(taesd, "pt") as f:
        doc["taesd_decoder"] = {"count": len(list(f.keys())),
                                "1.weight_first16_bits": float_bits(f.get_tensor("1.weight").float().flatten()[:16]),
                                "19.bias_bits": float_bits(f.get_tensor("19.bias").float())}
    with open(os.path.join(OUT, "small_safetensors.json"), "w") as f:
        json.dump(doc, f, indent=1)


def gzip_fixture():
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(300))
    with open(os.path.join(OUT, "hello.txt.gz"), "wb") as f:
        f.write(gzip.compress(text.encode(), mtime=0))
    with open(os.path.join(OUT, "gzip.json"), "w") as f:
        json.dump({"text": text}, f)


def png_fixture():
    """Tiny images of every 8-bit color type written by Pillow, with their pixels."""
    from PIL import Image

    w, h = 5, 3
    px = lambda x, y, c: (37 * x + 71 * y + 101 * c) % 256
    images = {
        "gray": Image.frombytes("L", (w, h), bytes(px(x, y, 0) for y in range(h) for x in range(w))),
        "gray_alpha": Image.frombytes("LA", (w, h), bytes(px(x, y, c) for y in range(h) for x in range(w) for c in range(2))),
        "rgb": Image.frombytes("RGB", (w, h), bytes(px(x, y, c) for y in range(h) for x in range(w) for c in range(3))),
        "rgba": Image.frombytes("RGBA", (w, h), bytes(px(x, y, c) for y in range(h) for x in range(w) for c in range(4))),
    }
    pal = Image.new("P", (w, h))
    pal.putpalette([10, 20, 30, 200, 100, 0, 0, 255, 128, 255, 255, 255])
    pal.putdata([(x + y) % 4 for y in range(h) for x in range(w)])
    images["palette"] = pal
    pal_t = pal.copy()
    pal_t.info["transparency"] = bytes([255, 0, 128, 255])
    images["palette_alpha"] = pal_t
    doc = {}
    for name, im in images.items():
        path = os.path.join(OUT, f"png_{name}.png")
        if name == "palette_alpha":
            im.save(path, transparency=bytes([255, 0, 128, 255]))
        else:
            im.save(path)
        reread = Image.open(path)
        # Expected [C, H, W] bytes: palette expands to RGB, or RGBA when it has transparency.
        mode = {"P": "RGBA" if "transparency" in reread.info else "RGB"}.get(reread.mode, reread.mode)
        conv = reread.convert(mode)
        arr = np.asarray(conv).reshape(h, w, -1).transpose(2, 0, 1)
        doc[name] = {"mode": reread.mode, "shape": list(arr.shape), "bytes": arr.flatten().tolist()}
    with open(os.path.join(OUT, "png.json"), "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    random_fixture()
    with open(os.path.join(OUT, "half_and_xoshiro.json"), "w") as f:
        json.dump({"half": half_fixture(), "xoshiro": xoshiro_fixture()}, f, separators=(",", ":"))
    safetensors_fixture()
    gzip_fixture()
    png_fixture()
