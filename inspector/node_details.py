"""What the graph viewer knows about each node: its fields, layer-table rows and colours.

Why embed all of it: a click or a change of overlay is answered in the browser at once, without a
round trip to Python; only folding a stage, which needs a new layout, goes back.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from inspector.overlay import Measure, node_values, overlay
from inspector.render import node_element_id
from inspector.trace import ArchGraph


def _plain(value: Any) -> Any:
    """A table cell as JSON has it: tuples as lists, missing numbers as null, numpy as Python."""
    if isinstance(value, tuple):
        return list(value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def rows_under(table: pd.DataFrame, module: str | None) -> list[dict[str, Any]]:
    """The layer table's rows for a module path and everything under it ("layer2.0" finds
    "layer2.0.conv1" but not "layer2.00"); none for a node without a module (a sum)."""
    if not module or table.empty:
        return []
    layers = table["layer"].astype(str)
    picked = table[(layers == module) | layers.str.startswith(module + ".")]
    return [{k: _plain(v) for k, v in row.items()} for row in picked.to_dict("records")]


def layer_outputs(table: pd.DataFrame) -> dict[str, int]:
    """Output elements per layer path (batch included), for the activation overlay."""
    return {str(layer): math.prod(shape)
            for layer, shape in zip(table["layer"], table["output_shape"])}


def viewer_payload(graph: ArchGraph, table: pd.DataFrame,
                   folded: dict[str, int] | None = None) -> dict[str, Any]:
    """Everything the viewer needs besides the SVG, keyed by SVG element id.

    `folded` maps a folded stage's node id to its stage, so clicking it can unfold it.
    """
    folded = folded or {}
    outputs = layer_outputs(table)
    colors, legends = {}, {}
    for measure in Measure:
        colors[measure.value], legends[measure.value] = overlay(graph, measure, outputs)
    activation = node_values(graph, Measure.ACTIVATION, outputs)
    nodes = {}
    for node in graph.nodes:
        fields = {k: _plain(v) for k, v in dataclasses.asdict(node).items()}
        nodes[node_element_id(node.id)] = {
            **fields,
            "folded_stage": folded.get(node.id),
            "colors": {m: colors[m].get(node.id) for m in colors},
            "activation_bytes": activation.get(node.id),
            "rows": rows_under(table, node.module),
        }
    return {"nodes": nodes, "legends": legends}
