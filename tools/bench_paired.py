#!/usr/bin/env python3
"""Alternates `bench` and the reference script round by round, so each ratio compares runs taken
a minute apart instead of the whole suite apart.

On a shared machine the speed of both sides drifts by 10-40% over minutes. `bench` runs all of
its cases and then all of the reference's, so a drift between the two halves lands in the ratio.
Here each round runs `bench --no-reference` on the chosen cases and tools/bench_reference.py
on the same cases, in alternating order from round to round; the ratio of a round is the reference's median over ours from that round, and
the median over the rounds is reported with the range.

With `--baseline OTHER_BENCH` the other side is another build of `bench` instead of the
reference (a before/after comparison of a change: build the old commit, copy its
`.build/release/bench` aside); the two run in alternating order, and a ratio is the baseline's
time over this build's (> 1: this build is faster).

Usage (after `swift build -c release --product bench`):
  python3 tools/bench_paired.py --python /tmp/venv/bin/python --filter train- --threads 1,2 --rounds 3
  python3 tools/bench_paired.py --python /tmp/venv/bin/python --filter gemm --cpu-time --rounds 3
  python3 tools/bench_paired.py --baseline /tmp/bench-before --filter gemm --threads 1 --rounds 4
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def json_lines(command):
    """The JSON objects a command prints, one per line (other lines are ignored)."""
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build/release/bench"))
    parser.add_argument("--python", default="python3", help="the Python with NumPy and PyTorch")
    parser.add_argument("--filter", default="")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--baseline", help="another bench binary to compare against instead of the reference")
    args = parser.parse_args()
    common = ["--threads", args.threads, "--repetitions", str(args.repetitions)]
    if args.filter:
        common += ["--filter", args.filter]
    if args.cpu_time:
        common += ["--cpu-time"]
    ratios = {}  # (name, threads, library) -> [ratio per round]
    def run_ours():
        return json_lines([args.bench, "--no-reference", "--json"] + common)

    def run_theirs():
        if args.baseline:
            return [dict(r, library="baseline")
                    for r in json_lines([args.baseline, "--no-reference", "--json"] + common)]
        return json_lines([args.python, os.path.join(ROOT, "tools/bench_reference.py")] + common)

    for round_index in range(args.rounds):
        # Alternate which side runs first, so a drift within a round does not favour one side.
        if round_index % 2 == 0:
            ours_lines, theirs = run_ours(), run_theirs()
        else:
            theirs, ours_lines = run_theirs(), run_ours()
        ours = {(r["name"], r["threads"]): r["milliseconds"] for r in ours_lines}
        for r in theirs:
            key = (r["name"], r["threads"])
            if key in ours:
                ratio = r["milliseconds"] / ours[key]
                ratios.setdefault((r["name"], r["threads"], r["library"]), []).append(ratio)
                print(f"round {round_index + 1}: {r['name']} threads {r['threads']} {r['library']}: "
                      f"ours {ours[key]:.3f} ms, theirs {r['milliseconds']:.3f} ms, ratio {ratio:.2f}",
                      file=sys.stderr, flush=True)
    print(f"{'case':<40} {'threads':>7} {'library':<7} {'median':>6}  per round (their time / ours)")
    for (name, threads, library), values in sorted(ratios.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<40} {threads:>7} {library:<7} {statistics.median(values):>6.2f}  {rounds}")


if __name__ == "__main__":
    main()
