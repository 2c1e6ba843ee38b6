"""Colour a graph's nodes by what they cost, so "where is the compute?" is answered by looking.

Why colours are computed here and not in the browser: the scale (its ends, log or linear) is a
statement the legend makes to the reader, so it is decided once, in tested Python, and the viewer
only paints the fills it is given. Zero never sits on a log scale, so nodes that cost nothing of a
measure (a ReLU's parameters, a sum's mult-adds) are drawn in a neutral grey that the legend names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from inspector.graph import ArchGraph, GraphNode

BYTES_PER_FLOAT = 4
#: When the largest value is this many times the smallest, a linear scale would paint all but a
#: few nodes the same pale colour; a log scale is used instead (and the legend says so).
LOG_ABOVE_RATIO = 100.0
#: Sequential pale-yellow to orange ramp; its darkest end still carries black text legibly.
RAMP = ("#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014")
ZERO_COLOR = "#eeeeee"


class Measure(StrEnum):
    """What a node can be coloured by; the values are the names used in the viewer's JSON."""

    PARAMS = "params"
    MULT_ADDS = "mult_adds"
    ACTIVATION = "activation_bytes"

    @property
    def title(self) -> str:
        return {Measure.PARAMS: "parameters", Measure.MULT_ADDS: "mult-adds",
                Measure.ACTIVATION: "activation memory (output elements x 4 bytes)"}[self]


def module_prefixes(path: str) -> list[str]:
    """A module path and every module above it: "layer1.0.conv1" gives layer1, layer1.0 and
    layer1.0.conv1."""
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def subtree_totals(per_layer: Mapping[str, int]) -> dict[str, int]:
    """For every module path, the sum over the layers at or under it; one pass over the layers,
    so a 1202-layer network does not search its table once per node."""
    totals: dict[str, int] = {}
    for path, value in per_layer.items():
        for prefix in module_prefixes(path):
            totals[prefix] = totals.get(prefix, 0) + value
    return totals


def activation_bytes(node: GraphNode, output_totals: Mapping[str, int] | None = None) -> int:
    """Float32 bytes of what the node outputs.

    A node that stands for several layers (a block, a folded stage) outputs every one of its
    layers' results, and training keeps them all, so with `output_totals` (from `subtree_totals`
    of the output elements per layer) its value is the sum over the layers under its module path.
    Otherwise, or for a node with no layer of its own (a sum), it is the node's own output.
    """
    if node.module and output_totals and node.module in output_totals:
        return BYTES_PER_FLOAT * output_totals[node.module]
    return BYTES_PER_FLOAT * math.prod(node.shape) if node.shape else 0


def node_values(graph: ArchGraph, measure: Measure,
                output_totals: Mapping[str, int] | None = None) -> dict[str, int]:
    """The measure for every node that computes something (inputs and outputs are left out)."""
    values = {}
    for node in graph.nodes:
        if node.kind in ("input", "output"):
            continue
        if measure is Measure.ACTIVATION:
            values[node.id] = activation_bytes(node, output_totals)
        else:
            values[node.id] = int(getattr(node, measure.value))
    return values


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i:i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


@dataclass(frozen=True)
class ColorScale:
    """A map from a measure's values to the ramp; `low` and `high` are the smallest and largest
    non-zero values it was built from."""

    measure: Measure
    low: int
    high: int
    log: bool

    @classmethod
    def from_values(cls, measure: Measure, values: Iterable[int]) -> ColorScale | None:
        """The scale over the non-zero values, or None when every value is zero."""
        positive = [v for v in values if v > 0]
        if not positive:
            return None
        low, high = min(positive), max(positive)
        return cls(measure, low, high, high / low > LOG_ABOVE_RATIO)

    def position(self, value: int) -> float:
        """Where the value sits between `low` (0.0) and `high` (1.0), clamped."""
        if self.high == self.low:
            return 1.0
        if self.log:
            t = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            t = (value - self.low) / (self.high - self.low)
        return min(1.0, max(0.0, t))

    def color(self, value: int) -> str:
        if value <= 0:
            return ZERO_COLOR
        t = self.position(value) * (len(RAMP) - 1)
        i = min(int(t), len(RAMP) - 2)
        return _mix(RAMP[i], RAMP[i + 1], t - i)

    def legend(self) -> dict:
        """What the viewer's legend shows: the ramp, its ends and whether it is log or linear."""
        return {"measure": self.measure.value, "title": self.measure.title, "low": self.low,
                "high": self.high, "scale": "log" if self.log else "linear",
                "ramp": list(RAMP), "zero_color": ZERO_COLOR}


def overlay(graph: ArchGraph, measure: Measure,
            output_totals: Mapping[str, int] | None = None) -> tuple[dict[str, str], dict | None]:
    """Fill colour per node id and the legend, for one measure (legend None: nothing to colour)."""
    values = node_values(graph, measure, output_totals)
    scale = ColorScale.from_values(measure, values.values())
    if scale is None:
        return {node_id: ZERO_COLOR for node_id in values}, None
    return {node_id: scale.color(v) for node_id, v in values.items()}, scale.legend()
