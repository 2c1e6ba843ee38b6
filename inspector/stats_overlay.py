"""Colour a trained network's graph by a per-block statistic at one recorded step.

The viewer already paints fills that Python computed (`inspector.overlay`); this adds one more
overlay per statistic, on a scale fixed over every record of every run shown, so scrubbing
through the steps or switching runs never re-scales the colours under the reader's eyes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

from inspector.kinds import BlockStatistic
from inspector.overlay import LOG_ABOVE_RATIO, RAMP, ZERO_COLOR, ColorScale, Measure


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def statistic_scale(values: Iterable[float]) -> ColorScale | None:
    """A scale over the positive finite values (log when they span more than 100x)."""
    positive = [v for v in _finite(values) if v > 0]
    if not positive:
        return None
    low, high = min(positive), max(positive)
    # ColorScale's colour and position need only the numbers; the legend is written below.
    return ColorScale(Measure.PARAMS, low, high, high / low > LOG_ABOVE_RATIO)


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def statistic_legend(statistic: BlockStatistic, scale: ColorScale, step: int) -> dict[str, Any]:
    return {"measure": statistic.value, "title": f"{statistic.title}, step {step}",
            "low": _round(scale.low), "high": _round(scale.high),
            "scale": "log" if scale.log else "linear", "ramp": list(RAMP),
            "zero_color": ZERO_COLOR}


def colour_details(details: Mapping[str, Any], values: Mapping[str, float],
                   statistic: BlockStatistic, scale: ColorScale | None,
                   step: int) -> dict[str, Any]:
    """A copy of the viewer's payload (`node_details.viewer_payload`) with the statistic as an
    overlay: block nodes (by module path) get their colour, and the viewer opens on it."""
    payload = copy.deepcopy(dict(details))
    for info in payload["nodes"].values():
        value = values.get(info.get("module") or "")
        colour = None
        if scale is not None and value is not None and math.isfinite(value):
            colour = scale.color(value)  # type: ignore[arg-type]
        info["colors"][statistic.value] = colour
    payload["legends"][statistic.value] = (None if scale is None
                                           else statistic_legend(statistic, scale, step))
    payload["overlay"] = statistic.value
    return payload
