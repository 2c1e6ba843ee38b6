"""How numbers read, everywhere: CLI, Markdown, graphs and pages format through these functions.

One place, so that a count is never "9536" in one table and "215,808" in the next, and a model
is "11.7M" in the CLI and the graph alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_SCALES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def count(value: int) -> str:
    """An exact count with thousands separators, as the published tables print them: 9,536."""
    return f"{value:,}"


def compact(value: float) -> str:
    """A count to one decimal of its prefix: 11.7M, 9.5k, 4.1G; counts under 1,000 stay exact."""
    for scale, suffix in _SCALES:
        if abs(value) >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:g}"


def mult_adds(value: int) -> str:
    """Mult-adds as torchvision's GFLOPS column reads: 4.09 G, or 40.8 M for small networks."""
    return f"{value / 1e9:.2f} G" if value >= 1e8 else f"{value / 1e6:.1f} M"


def megabytes(value: float) -> str:
    """Bytes in decimal megabytes: 150.2 MB."""
    return f"{value / 1e6:.1f} MB"


def amount(value: float, unit: str = "") -> str:
    """A quantity with a unit and a metric prefix: 150.2 MB, 1.2 GB; without a unit, `compact`."""
    if not unit:
        return compact(value)
    for scale, suffix in _SCALES:
        if abs(value) >= scale:
            return f"{value / scale:.1f} {suffix}{unit}"
    return f"{value:g} {unit}"


def percent(share: float) -> str:
    """A share of a whole: 0.602 is 60.2%."""
    return f"{share:.1%}"


def shape(dims: Sequence[int]) -> str:
    """A tensor shape for tables: 1x64x56x56."""
    return "x".join(str(d) for d in dims)


def chw(dims: Sequence[int] | None) -> str:
    """Channels x height x width of a batch-first shape, as graph edges show it: 64 x 56 x 56.

    Spaced, unlike `shape`: on a drawn edge the label must stay readable at a small font.
    """
    return "" if not dims else " x ".join(str(d) for d in dims[1:])


def cell(value: object) -> str:
    """One table cell for a reader: counts with separators, shapes joined, blanks for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return shape(value)
    return str(value)
