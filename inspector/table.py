"""Per-layer and per-stage tables, measured by torchinfo on the meta device.

The layer table is torchinfo's view of the built model (an independent count from the analytic
facts in `facts.py`), so the two agreeing is a real check; tests hold both to torchvision's
published parameter counts. Running on `meta` needs no weights, and eval mode lets a batch of one
pass batch norm on 1x1 maps.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import torchinfo
from torch import nn

from inspector.model import ResidualBlock, build_model
from inspector.spec import ResNetSpec, stage_name

LAYER_COLUMNS = ("layer", "type", "kernel", "stride", "groups", "input_shape", "output_shape",
                 "params", "mult_adds", "trainable", "stage", "block", "role")
STAGE_COLUMNS = ("stage", "blocks", "output_size", "channels", "params", "mult_adds",
                 "params_share", "mult_adds_share")
STEM, HEAD = "conv1", "head"


def _geometry(module: nn.Module) -> tuple[str, int | None, int | None]:
    """Kernel ("3x3"), stride and groups of convs and pools; blanks for other layers."""
    if not isinstance(module, (nn.modules.conv._ConvNd, nn.MaxPool2d, nn.AvgPool2d)):
        return "", None, None
    kernel, stride = module.kernel_size, module.stride
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    stride = stride if isinstance(stride, tuple) else (stride, stride)
    groups = getattr(module, "groups", None)
    return "x".join(map(str, kernel)), stride[0], groups


def _block_owners(model: nn.Module) -> dict[int, tuple[ResidualBlock, bool]]:
    """For every module inside a residual block: the block, and whether it is on the shortcut."""
    owners = {}
    for block in model.modules():
        if isinstance(block, ResidualBlock):
            shortcut = set()
            if block.downsample is not None:
                shortcut = {id(m) for m in block.downsample.modules()}
            for module in block.modules():
                owners[id(module)] = (block, id(module) in shortcut)
    return owners


def layer_table(spec: ResNetSpec) -> pd.DataFrame:
    """One row per leaf layer, in execution order (raises SpecError for an invalid spec)."""
    model = build_model(spec)
    size = (1, spec.in_channels, spec.input_size, spec.input_size)
    stats = torchinfo.summary(model, input_size=size, device="meta", mode="eval", verbose=0)
    names = {id(module): name for name, module in model.named_modules()}
    owners = _block_owners(model)
    rows, seen_block = [], False
    for info in stats.summary_list:
        if not info.is_leaf_layer:
            continue
        module = info.module
        kernel, stride, groups = _geometry(module)
        owner = owners.get(id(module))
        if owner is not None:
            block, on_shortcut = owner
            seen_block = True
            stage, name = stage_name(block.stage), f"{stage_name(block.stage)[:-2]}_{block.index + 1}"
            role = "shortcut" if on_shortcut else "main"
        else:
            stage, name = (HEAD, "") if seen_block else (STEM, "")
            role = "head" if seen_block else "stem"
        params = int(info.num_params)
        rows.append({
            "layer": names[id(module)], "type": type(module).__name__, "kernel": kernel,
            "stride": stride, "groups": groups, "input_shape": tuple(info.input_size),
            "output_shape": tuple(info.output_size), "params": params,
            "mult_adds": int(info.macs),
            "trainable": params > 0 and info.trainable_params == params,
            "stage": stage, "block": name, "role": role,
        })
    table = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    return table.astype({"stride": "Int64", "groups": "Int64"})  # blank for layers without one


def stage_table(spec: ResNetSpec, layers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's architecture table with costs: stem (conv1), each stage, the head.

    Pass `layers` (from `layer_table`) to reuse a table already measured.
    """
    if layers is None:
        layers = layer_table(spec)
    total_params, total_mult_adds = layers["params"].sum(), layers["mult_adds"].sum()
    rows = []
    for stage, group in layers.groupby("stage", sort=False):
        maps = [shape for shape in group["output_shape"] if len(shape) == 4]
        last = group["output_shape"].iloc[-1]
        params, mult_adds = int(group["params"].sum()), int(group["mult_adds"].sum())
        rows.append({
            "stage": stage,
            "blocks": len({b for b in group["block"] if b}),
            "output_size": f"{maps[-1][2]}x{maps[-1][3]}" if maps else "",
            "channels": int(last[1]),
            "params": params,
            "mult_adds": mult_adds,
            "params_share": params / total_params if total_params else 0.0,
            "mult_adds_share": mult_adds / total_mult_adds if total_mult_adds else 0.0,
        })
    return pd.DataFrame(rows, columns=list(STAGE_COLUMNS))


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def _cell(value: object, percent: bool = False) -> str:
    """One Markdown cell, written for a reader: 21,797,672 and 60.2%, not 21797672 and 0.6016."""
    if isinstance(value, (bool, np.bool_)):
        text = str(value)
    elif percent and isinstance(value, numbers.Real):
        text = f"{value:.1%}"
    elif isinstance(value, numbers.Integral):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)  # 2048 channels, 21,797,672 params
    elif isinstance(value, numbers.Real):
        text = f"{value:.4g}"
    elif value is None or (not isinstance(value, (tuple, list)) and pd.isna(value)):
        text = ""
    else:
        text = str(value)
    return text.replace("|", "\\|")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-style Markdown table (pandas' own needs an extra package)."""
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    percent = [str(name).endswith("_share") for name in df.columns]
    body = ["| " + " | ".join(_cell(v, p) for v, p in zip(row, percent)) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
