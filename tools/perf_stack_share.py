#!/usr/bin/env python3
"""The share of `perf record -g` samples whose call stack passes through functions matching each
pattern: how much of a run's CPU time a code path takes, callees included, on all threads (the
leaf-symbol view of `perf report` splits a path over its kernels; `--children` counts a
function once per thread that runs it).

Usage:
  perf record -e cpu-clock -F 999 -g -o PERF.data .build/release/bench --filter sd15-unet --threads 2 --repetitions 1 --no-reference
  perf script -i PERF.data | python3 tools/perf_stack_share.py "F(2x2)=winogradConv2d|F2x3" "F(4x4)=winograd4x4"

Each argument is NAME=REGEX (Python regular expression over the stack's symbol names); a sample
counts for the first pattern its stack matches.
"""
import re
import sys


def samples(lines):
    """The call stacks of `perf script` output, one list of frame lines per sample."""
    stack = []
    for line in lines:
        if line.startswith((" ", "\t")):
            if line.strip():
                stack.append(line.strip())
        else:
            if stack:
                yield stack
            stack = []
    if stack:
        yield stack


def main():
    patterns = []
    for argument in sys.argv[1:]:
        name, _, expression = argument.partition("=")
        if not expression:
            sys.exit(f"perf_stack_share: expected NAME=REGEX, got {argument!r}")
        patterns.append((name, re.compile(expression)))
    if not patterns:
        sys.exit(__doc__)
    counts = {name: 0 for name, _ in patterns}
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        frames = " ".join(stack)
        for name, expression in patterns:
            if expression.search(frames):
                counts[name] += 1
                break
    if total == 0:
        sys.exit("perf_stack_share: no samples on standard input (pipe `perf script -i FILE` into it)")
    print(f"{total} samples")
    for name, count in counts.items():
        print(f"{name}: {count} samples, {100 * count / total:.1f}%")


if __name__ == "__main__":
    main()
