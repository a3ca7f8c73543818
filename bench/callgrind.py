"""Instructions per unit of work from two callgrind runs (``bench/inproc.py``,
``bench/logins.py``): the slope between two output files named ``NAME.N``, where N is the
count of work done in each run; the fixed cost of start-up cancels out."""

from __future__ import annotations


def total_instructions(path: str) -> int:
    """The ``totals:``/``summary:`` line of a callgrind output file."""
    with open(path) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise SystemExit(f"{path}: no totals line")


def slope(small: str, large: str) -> float:
    """Instructions per unit between ``small`` and ``large`` (``NAME.N`` files)."""
    n_small = int(small.rsplit(".", 1)[1])
    n_large = int(large.rsplit(".", 1)[1])
    return (total_instructions(large) - total_instructions(small)) / (n_large - n_small)
