"""Analyse any PyTorch ResNet: the same picture and numbers as for our presets.

    from inspector.analysis import analyze
    result = analyze(model, (3, 32, 32))
    result                       # in Jupyter: the block graph, solid and dashed shortcuts
    result.facts.depth_explanation, result.layer_table(), result.closest().sentence
    result.findings              # broadcasting sums, dead weights, misleading names... (findings.py)

Why a generic path: people arrive with a network already written (a tutorial's, a paper
re-implementation, torchvision's) and want it described like a preset: which shortcuts are
identities and which change the shape, depth by the paper's count, parameters, and how it differs
from ResNet-18/34/50. `op_trace` flattens the model on the meta device, `residual` finds its blocks
and counts it, `analysis_graph` draws it, `matching` names the closest preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch import nn

from inspector.analysis_graph import block_view, layer_table, layer_view, mark_nodes
from inspector.findings import Finding, Unused, find, node_marks, unused_in
from inspector.matching import Comparison, Match, compare_analyses, match
from inspector.op_trace import ModelError, Shape, trace_model
from inspector.residual import Structure, assemble
from inspector.spec import MAX_INPUT_SIZE, MAX_PARAMS
from inspector.graph import ArchGraph
from inspector.kinds import View

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_INPUT = (3, 224, 224)


@dataclass(frozen=True)
class Analysis(Structure):
    """`Structure` with the views people ask for: graphs, tables, findings, the closest preset."""

    unused: tuple[Unused, ...] = ()  # modules `forward` never ran (see `findings.unused_in`)

    @cached_property
    def findings(self) -> tuple[Finding, ...]:
        """What a residual-aware check finds, most serious first (see `inspector.findings`)."""
        return find(self, self.name, self.unused)

    def graph(self, view: str = "block") -> ArchGraph:
        """The network as the rest of the project draws it (`render.render_graph`), the nodes
        with findings marked."""
        if view not in ("block", "layer"):
            raise ModelError(f"The view must be 'block' or 'layer', not {view!r}.")
        graph = block_view(self) if view == "block" else layer_view(self)
        return mark_nodes(graph, self, node_marks(self.findings))

    def layer_table(self) -> "pd.DataFrame":
        return layer_table(self)

    def stage_table(self) -> "pd.DataFrame":
        """The paper's architecture table: the stem (conv1), then one row per stage."""
        import pandas as pd

        rows = [self.facts.stem, *self.facts.stages]
        return pd.DataFrame([{f: getattr(row, f) for f in row.__dataclass_fields__}
                             for row in rows])

    def svg(self, view: str = "block") -> str:
        from inspector.drawing import ViewState, draw_analysis

        return draw_analysis(self, ViewState(View(view))).file("svg").decode()

    def _repr_svg_(self) -> str:
        """Jupyter shows the block graph inline."""
        return self.svg("block")

    def closest(self) -> Match:
        """The closest preset, the differences in words and, when equivalent, the spec."""
        return match(self)

    def compare(self, other: "Analysis | Any", names: tuple[str, str] | None = None) -> Comparison:
        """Totals and stages side by side with another analysis, a spec or a preset name."""
        return compare_analyses(self, other, names)


def check_input(input_shape: Iterable[int]) -> Shape:
    """(C, H, W) as whole numbers this tool can handle, or ModelError."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                                  for d in shape):
        raise ModelError(f"The input shape must be three positive whole numbers (C, H, W), "
                         f"not {shape!r}.")
    if max(shape[1:]) > MAX_INPUT_SIZE or shape[0] > 16384:
        raise ModelError(f"An input of {'x'.join(map(str, shape))} is larger than this tool "
                         f"handles ({MAX_INPUT_SIZE} pixels a side, 16384 channels).")
    return shape


def count_params(model: nn.Module) -> int:
    """Parameters as the module holds them: a parameter shared by two layers counts once."""
    return sum(p.numel() for p in model.parameters())


def check_size(model: nn.Module, params: int | None = None) -> int:
    """The parameter count, or ModelError when it is beyond what this tool takes."""
    params = count_params(model) if params is None else params
    if params > MAX_PARAMS:
        raise ModelError(f"This model has {params / 1e9:.1f} billion parameters; the limit is "
                         f"{MAX_PARAMS / 1e9:.0f} billion.")
    return params


def analyze(model: nn.Module, input_shape: Iterable[int] = DEFAULT_INPUT,
            name: str | None = None) -> Analysis:
    """Trace `model` on a meta input of `input_shape` (C, H, W) and describe it.

    Raises ModelError for a model that cannot be traced, an input it rejects or a size this
    tool refuses. The model's weights are neither copied nor changed.
    """
    if not isinstance(model, nn.Module):
        raise ModelError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
    shape = check_input(input_shape)
    parameters = list(model.parameters())  # walking the module tree is slow: once
    params = check_size(model, sum(p.numel() for p in parameters))
    traced = trace_model(model, torch.empty((1, *shape), device="meta"))
    structure = assemble(name or type(model).__name__, (1, *shape), traced.ops, params)
    fields = {f: getattr(structure, f) for f in Structure.__dataclass_fields__}
    fields["notes"] = traced.notes + structure.notes
    fields["parameter_shapes"] = tuple(sorted(tuple(p.shape) for p in parameters))
    fields["unused"] = unused_in(model, traced.ops)
    return Analysis(**fields)
