"""One drawing path: what the viewer shows and what a file holds, composed in one place.

Why: the picture on screen and the file a user downloads must not drift apart. A page, the CLI's
`graph` and `diff`, and every export ask this module for a `Drawing` from a design, an analysed
model or any traced graph plus a `ViewState` (view, direction, fold of repeats, stages folded
whole, colour-by); the drawing holds the Graphviz graph, the viewer's payload and the file writer.
Folding (`stage_fold`), rendering (`render`), colours (`overlay`) and node details
(`node_details`) are composed here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import graphviz
import pandas as pd

from inspector.diff import ArchDiff, diff_graphs, render_diff
from inspector.formatting import compact
from inspector.graph import ArchGraph
from inspector.kinds import Direction, Fold, GraphFormat, View
from inspector.node_details import layer_outputs, viewer_payload
from inspector.overlay import Measure, overlay, subtree_totals
from inspector.render import DEFAULT_DPI, dot_available, export_graph, render_graph
from inspector.spec import MAX_STAGES, ResNetSpec, quote, stage_name
from inspector.stage_fold import fold_stages, stages_of
from inspector.table import layer_table
from inspector.trace import trace_graph

#: Above this many nodes an unfolded graph would be a page tens of thousands of pixels tall that
#: the browser struggles to draw; runs of identical blocks are folded instead.
MAX_UNFOLDED_NODES = 700


@dataclass(frozen=True)
class ViewState:
    """How a graph is shown: the choices a page's controls and its link carry.

    `folded` lists stages drawn as one node each; `colour` is the measure the nodes are
    coloured by (None: by node type); `search` is the viewer's search text (it changes nothing
    drawn, but travels with the rest in a link).
    """

    view: View = View.BLOCK
    direction: Direction = Direction.TB
    fold: Fold = Fold.AUTO
    folded: tuple[int, ...] = ()
    colour: Measure | None = None
    search: str = ""

    def replace(self, **changes: Any) -> ViewState:
        return dataclasses.replace(self, **changes)

    def to_query(self) -> dict[str, str]:
        """The link's parameters for what differs from the defaults (stages counted from 1)."""
        query = {}
        for name, value in (("view", self.view), ("direction", self.direction),
                            ("fold", self.fold), ("colour", self.colour or "")):
            if value != (getattr(_DEFAULT_STATE, name) or ""):
                query[name] = str(value)
        if self.folded:
            query[FOLDED_PARAM] = ",".join(str(stage + 1) for stage in self.folded)
        if self.search:
            query["search"] = self.search
        return query

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
        """The state a link asks for, and a sentence for each value it cannot mean (that value
        is left at its default, so a mistyped link still opens a picture)."""
        changes: dict[str, Any] = {}
        messages: list[str] = []
        for name, kind in (("view", View), ("direction", Direction), ("fold", Fold),
                           ("colour", Measure)):
            if name in params:
                try:
                    changes[name] = kind(params[name])
                except ValueError:
                    choices = ", ".join(kind)
                    messages.append(f"Link: {name} must be one of {choices}, not "
                                    f"{quote(params[name])}.")
        if FOLDED_PARAM in params:
            text = params[FOLDED_PARAM]
            parts = [part.strip() for part in text.split(",") if part.strip()]
            if all(part.isdigit() and 1 <= int(part) <= MAX_STAGES for part in parts):
                changes["folded"] = tuple(sorted({int(part) - 1 for part in parts}))
            else:
                messages.append(f"Link: {FOLDED_PARAM} lists stages 1 to {MAX_STAGES} separated "
                                f"by commas, not {quote(text)}.")
        if "search" in params:
            changes["search"] = params["search"][:MAX_SEARCH]
        return cls(**changes), messages


_DEFAULT_STATE = ViewState()
#: The link parameter that lists the stages drawn folded ("stages=2,3": conv3_x and conv4_x).
FOLDED_PARAM = "stages"
#: The link parameters a view state uses; a page's design reads none of them.
VIEW_PARAMS = ("view", "direction", "fold", "colour", FOLDED_PARAM, "search")
#: Longer than any node name; a link's search text beyond it is cut.
MAX_SEARCH = 80


@dataclass(frozen=True)
class Drawing:
    """A graph drawn: the Graphviz graph the viewer shows, the viewer's payload, and the file.

    `digraph` is drawn with each node's own fill, since the viewer paints a colour overlay itself
    (and can change it without a round trip); `file_digraph` has the overlay of `state.colour`
    and its scale written under it, so a file shows the picture the screen shows.
    """

    digraph: graphviz.Digraph = field(compare=False, repr=False)
    file_digraph: graphviz.Digraph = field(compare=False, repr=False)
    details: dict[str, Any] = field(compare=False, repr=False)
    state: ViewState
    note: str | None = None  # why the drawing differs from what was asked, if it does
    stages: tuple[tuple[int, str], ...] = ()  # (stage, name) of the stages that can fold
    folded: tuple[int, ...] = ()

    @property
    def dot(self) -> str:
        return self.digraph.source

    @property
    def direction(self) -> Direction:
        return self.state.direction

    @cached_property
    def svg(self) -> str | None:
        """The <svg> element alone (no XML prolog), or None without Graphviz's `dot`."""
        if not dot_available():
            return None
        text = export_graph(self.digraph, GraphFormat.SVG).decode()
        return text[text.index("<svg"):]

    def with_details(self, **extra: Any) -> Drawing:
        """The same drawing with more for the viewer's payload (its SVG, once made, kept)."""
        copy = dataclasses.replace(self, details={**self.details, **extra})
        if "svg" in self.__dict__:
            copy.__dict__["svg"] = self.__dict__["svg"]
        return copy

    def file(self, fmt: GraphFormat | str, dpi: int = DEFAULT_DPI) -> bytes:
        """The drawing as DOT, SVG, PNG (at `dpi`) or PDF, folded and coloured as on screen."""
        return export_graph(self.file_digraph, fmt, dpi)


def overlay_caption(legend: Mapping[str, Any] | None) -> str:
    """The colour scale in words, for a file that has no viewer legend beside it."""
    if not legend:
        return ""
    measure = Measure(legend["measure"])
    unit = " bytes" if measure is Measure.ACTIVATION else ""
    return (f"Coloured by {legend['title']}, {legend['scale']} scale: palest "
            f"{compact(legend['low'])}{unit}, darkest {compact(legend['high'])}{unit}; "
            f"grey: none")


def _fold_note(graph: ArchGraph, state: ViewState) -> tuple[bool | None, str | None]:
    """The renderer's fold argument and, when an unfolded drawing was refused, why."""
    folding = Fold(state.fold).folding
    if folding is False and len(graph.nodes) > MAX_UNFOLDED_NODES:
        return True, (f"This {state.view} graph has {len(graph.nodes):,} nodes, too many to draw "
                      f"unfolded (limit {MAX_UNFOLDED_NODES}); runs of identical blocks are "
                      f"folded.")
    return folding, None


def hidden_in_folds(graph: ArchGraph, folded: tuple[int, ...]) -> list[dict[str, Any]]:
    """What a search can find inside each folded stage: its nodes' ids, labels and modules, in
    the text the viewer searches, so a search can say "3 more in folded conv4_x"."""
    texts: dict[int, list[str]] = {}
    for node in graph.nodes:
        if node.stage in folded:
            texts.setdefault(node.stage, []).append(
                f"{node.id}\n{node.label}\n{node.module or ''}")
    return [{"stage": stage, "name": stage_name(stage), "texts": found}
            for stage, found in sorted(texts.items())]


def draw_graph(graph: ArchGraph, table: pd.DataFrame, state: ViewState = ViewState(),
               can_fold_stages: bool = True) -> Drawing:
    """Any traced graph drawn with `table` (its per-layer table) behind the node details.

    `can_fold_stages` False draws no stage as folded and offers none (a single block).
    """
    owners: dict[str, int] = {}
    hidden: list[dict[str, Any]] = []
    if can_fold_stages and state.folded:
        hidden = hidden_in_folds(graph, state.folded)
        graph, owners = fold_stages(graph, state.folded)
    folding, note = _fold_note(graph, state)
    details = {**viewer_payload(graph, table, owners), "hidden": hidden}
    digraph = render_graph(graph, direction=state.direction, fold=folding)
    file_digraph = digraph
    if state.colour is not None:
        totals = subtree_totals(layer_outputs(table)) if len(table) else None
        fills, legend = overlay(graph, Measure(state.colour), totals)
        file_digraph = render_graph(graph, direction=state.direction, fold=folding, fills=fills,
                                    caption=overlay_caption(legend))
    stages: tuple[tuple[int, str], ...] = ()
    if can_fold_stages:
        # Folded stages have left the graph as stage-less nodes; the viewer still lists them.
        stages = tuple((s, stage_name(s)) for s in sorted({*stages_of(graph), *owners.values()}))
    return Drawing(digraph, file_digraph, details, state, note, stages,
                   tuple(sorted(owners.values())))


def draw_design(spec: ResNetSpec, state: ViewState = ViewState(),
                table: pd.DataFrame | None = None) -> Drawing:
    """A design's graph in `state.view`; pass `table` (its layer table) when already made."""
    graph = trace_graph(spec, state.view)
    return draw_graph(graph, layer_table(spec) if table is None else table, state)


def draw_analysis(analysis: Any, state: ViewState = ViewState()) -> Drawing:
    """An analysed model (`analysis.Analysis`) drawn like a design."""
    return draw_graph(analysis.graph(state.view), analysis.layer_table(), state)


def layer_graph(source: Any) -> ArchGraph:
    """The layer view of a design (ResNetSpec) or an analysed model (`analysis.Analysis`)."""
    if isinstance(source, ResNetSpec):
        return trace_graph(source, View.LAYER)
    return source.graph(View.LAYER)


def draw_diff(a: Any, b: Any, names: tuple[str, str]) -> tuple[Drawing, ArchDiff]:
    """Two designs or analysed models aligned block by block and drawn side by side (see
    `inspector.diff`); the drawing has nothing to fold or colour, only its marks."""
    diff = diff_graphs(layer_graph(a), layer_graph(b), names)
    digraph, details = render_diff(diff)
    names = dict(zip(("A", "B"), (f"A: {names[0]}", f"B: {names[1]}")))
    return Drawing(digraph, digraph, {**details, "hidden": [], "names": names}, ViewState()), diff
