"""What the graph viewer knows about each node: its fields, layer-table rows and colours.

Why embed all of it: a click or a change of overlay is answered in the browser at once, without a
round trip to Python; only folding a stage, which needs a new layout, goes back.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from inspector.analysis_graph import node_of
from inspector.findings import Finding
from inspector.overlay import Measure, module_prefixes, node_values, overlay, subtree_totals
from inspector.render import node_element_id
from inspector.graph import ArchGraph
from inspector.residual import Structure


def _plain(value: Any) -> Any:
    """A table cell as JSON has it: tuples as lists, missing numbers as null, numpy as Python."""
    if isinstance(value, tuple):
        return list(value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def rows_by_module(table: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The layer table's rows under every module path ("layer2.0" holds "layer2.0.conv1" but not
    "layer2.00.conv1"), built in one pass over the table."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for record in table.to_dict("records"):
        row = {k: _plain(v) for k, v in record.items()}
        for prefix in module_prefixes(str(row["layer"])):
            rows.setdefault(prefix, []).append(row)
    return rows


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
    totals = subtree_totals(layer_outputs(table))
    rows = rows_by_module(table)
    colors, legends = {}, {}
    for measure in Measure:
        colors[measure.value], legends[measure.value] = overlay(graph, measure, totals)
    activation = node_values(graph, Measure.ACTIVATION, totals)
    nodes = {}
    for node in graph.nodes:
        fields = {k: _plain(v) for k, v in dataclasses.asdict(node).items()}
        nodes[node_element_id(node.id)] = {
            **fields,
            # a property, so not among the fields; the viewer searches it and heads details with it
            "label": node.label,
            "folded_stage": folded.get(node.id),
            "colors": {m: colors[m].get(node.id) for m in colors},
            "activation_bytes": activation.get(node.id),
            "rows": rows.get(node.module, []) if node.module else [],
        }
    return {"nodes": nodes, "legends": legends}


def findings_payload(findings: tuple[Finding, ...], graph: ArchGraph,
                     structure: Structure) -> list[dict[str, Any]]:
    """The findings as the viewer lists them, most serious first, each with the SVG element id
    of the node it is about in this view (None for a finding about the whole network), so a
    click selects and centres that node."""
    payload = []
    for finding in findings:
        node = node_of(graph, structure, finding.anchor) if finding.anchor else None
        payload.append({**finding.to_dict(),
                        "element": node_element_id(node) if node is not None else None})
    return payload
