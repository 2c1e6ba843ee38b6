"""Per-layer and per-stage tables, read off the traced graph; torchinfo's summary on request.

The layer view of the trace already holds every layer's input and output shapes, parameters and
mult-adds (torchinfo's convention), so the tables cost no second pass over the model. Tests hold
every row equal to torchinfo's on the built model, and the totals to torchvision's published
counts. The stage table follows the paper's architecture table: conv1 is the stem's conv at
112x112, and the stem's max-pool opens the conv2_x row at 56x56.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Sequence

from inspector.analysis_graph import LAYER_COLUMNS
from inspector.formatting import cell, percent
from inspector.graph import GraphNode
from inspector.kinds import NodeKind, Role, View
from inspector.spec import ResNetSpec, block_name, stage_name
from inspector.trace import trace_graph

if TYPE_CHECKING:
    import pandas as pd

STAGE_COLUMNS = ("stage", "blocks", "output_size", "channels", "params", "mult_adds",
                 "params_share", "mult_adds_share")
STEM, HEAD = "conv1", "head"
#: What people read above each machine column name (pages and Markdown).
HEADERS = {
    "layer": "Layer", "type": "Type", "kernel": "Kernel", "stride": "Stride", "groups": "Groups",
    "input_shape": "Input shape", "output_shape": "Output shape", "params": "Params",
    "mult_adds": "Mult-adds", "trainable": "Trainable", "stage": "Stage", "block": "Block",
    "role": "Role", "blocks": "Blocks", "output_size": "Output size", "channels": "Channels",
    "params_share": "Params %", "mult_adds_share": "Mult-adds %",
    "out_channels": "Channels", "out_size": "Output size", "difference": "Difference",
    "ratio": "Ratio", "measure": "Measure",
    # a comparison's measures (its rows)
    "depth": "Depth", "activation_bytes": "Activation memory (bytes)", "conv_layers": "Conv layers",
    "projection_shortcuts": "Projection shortcuts", "feature_channels": "Feature channels",
    "receptive_field": "Receptive field (px)", "input_size": "Input size",
}
#: Comparison columns end in the side they describe: blocks_a, blocks_b, blocks_diff.
_SIDES = {"_a": " (A)", "_b": " (B)", "_diff": " (B - A)"}
#: Columns holding a share of a whole (shown as percentages).
SHARE_COLUMNS = frozenset({"params_share", "mult_adds_share"})


def _stage_of(node: GraphNode) -> str:
    """The paper's row for a layer: the stem's max-pool belongs to conv2_x, as in its table."""
    if node.stage is not None:
        return stage_name(node.stage)
    if node.role == Role.STEM:
        return stage_name(0) if node.kind == NodeKind.MAXPOOL else STEM
    return HEAD


def layer_rows(spec: ResNetSpec) -> list[dict[str, Any]]:
    """One row per leaf layer, in execution order, as plain values (raises SpecError for an
    invalid spec). The command line prints these without importing pandas."""
    graph = trace_graph(spec, View.LAYER)
    return [{
        "layer": node.module, "type": node.module_type,
        "kernel": "x".join(map(str, node.kernel)) if node.kernel else "",
        "stride": node.stride, "groups": node.groups,
        "input_shape": node.input_shape, "output_shape": node.shape,
        "params": node.params, "mult_adds": node.mult_adds, "trainable": node.trainable,
        "stage": _stage_of(node),
        "block": "" if node.block is None else block_name(node.stage, node.block),
        "role": str(node.role),
    } for node in graph.nodes if node.module is not None]


def layer_table(spec: ResNetSpec) -> "pd.DataFrame":
    """`layer_rows` as a DataFrame."""
    import pandas as pd

    table = pd.DataFrame(layer_rows(spec), columns=list(LAYER_COLUMNS))
    return table.astype({"stride": "Int64", "groups": "Int64"})  # blank for layers without one


def stage_rows(layers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's architecture table with costs from layer rows: stem (conv1), each stage,
    the head."""
    total_params = sum(row["params"] for row in layers)
    total_mult_adds = sum(row["mult_adds"] for row in layers)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in layers:
        groups.setdefault(row["stage"], []).append(row)
    rows = []
    for stage, group in groups.items():
        maps = [row["output_shape"] for row in group if len(row["output_shape"]) == 4]
        last = group[-1]["output_shape"]
        params = int(sum(row["params"] for row in group))
        mult_adds = int(sum(row["mult_adds"] for row in group))
        rows.append({
            "stage": stage,
            "blocks": len({row["block"] for row in group if row["block"]}),
            "output_size": f"{maps[-1][2]}x{maps[-1][3]}" if maps else "",
            "channels": int(last[1]),
            "params": params,
            "mult_adds": mult_adds,
            "params_share": params / total_params if total_params else 0.0,
            "mult_adds_share": mult_adds / total_mult_adds if total_mult_adds else 0.0,
        })
    return rows


def stage_table(spec: ResNetSpec, layers: "pd.DataFrame | None" = None) -> "pd.DataFrame":
    """The paper's architecture table with costs: stem (conv1), each stage, the head.

    Pass `layers` (from `layer_table`) to reuse a table already made.
    """
    import pandas as pd

    records = layer_rows(spec) if layers is None else layers.to_dict("records")
    return pd.DataFrame(stage_rows(records), columns=list(STAGE_COLUMNS))


def torchinfo_summary(spec: ResNetSpec) -> str:
    """torchinfo's familiar text summary of the built model (on `meta`: no weights).

    A second, slower pass over the model, so it runs only when asked for.
    """
    import torchinfo  # optional export; the tables above never need it

    from inspector.model import build_model

    size = (1, spec.in_channels, spec.input_size, spec.input_size)
    return str(torchinfo.summary(build_model(spec), input_size=size, device="meta", mode="eval",
                                 verbose=0))


def to_csv(df: "pd.DataFrame") -> str:
    return df.to_csv(index=False)


def rows_to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV of plain rows, written as pandas writes a DataFrame's (blank for a missing value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def header(name: object) -> str:
    """The human header for a machine column name; names it does not know stay as they are
    (a comparison's design names, for instance)."""
    text = str(name)
    for suffix, side in _SIDES.items():
        base = text.removesuffix(suffix)
        if base != text and base in HEADERS:
            return HEADERS[base] + side
    return HEADERS.get(text, text)


def _cell(value: object, share: bool) -> str:
    if share and isinstance(value, float):
        text = percent(value)
    else:
        text = cell(value.item() if hasattr(value, "item") else value)
    return text.replace("|", "\\|")


def to_markdown(df: "pd.DataFrame") -> str:
    """A GitHub-style Markdown table with human headers (pandas' own needs an extra package)."""
    return _markdown(list(df.columns), df.itertuples(index=False))


def rows_to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """`to_markdown` of plain rows."""
    return _markdown(list(columns), ([row.get(c) for c in columns] for row in rows))


def _markdown(columns: list[Any], body_rows: Any) -> str:
    top = "| " + " | ".join(header(name) for name in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    shares = [str(name) in SHARE_COLUMNS for name in columns]
    body = ["| " + " | ".join(_cell(v, s) for v, s in zip(row, shares)) + " |"
            for row in body_rows]
    return "\n".join([top, rule, *body]) + "\n"
