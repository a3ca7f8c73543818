#!/usr/bin/env python3
"""Summarise py-spy collapsed stacks (``chatbench.py --py-spy FILE``): the functions with the
most samples on top of the stack (self) and anywhere in it (inclusive), as shares of all.

    python bench/profile_summary.py /tmp/fanout.spy [--top 20]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(args.stacks) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            # py-spy names a frame by its current line; group by function instead.
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"{total} samples")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title}:")
        for frame, n in table.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
