"""Draw an `ArchGraph` the way the ResNet paper does, and export it as DOT, SVG, PNG or PDF.

Identity shortcuts are solid lines and shape-changing shortcuts dashed (the paper's figure 3);
edges carry the tensor shape (C x H x W); labels read like the paper's ("3x3 conv, 128, /2").
Very deep networks fold runs of identical blocks into one node marked "x N", so ResNet-1202 stays
a readable picture and lays out in a fraction of a second instead of many.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import graphviz

from inspector.formatting import chw, compact, count
from inspector.graph import ArchGraph, GraphEdge, GraphNode
from inspector.kinds import Direction, EdgeKind, GraphFormat, NodeKind, Role, Rule, Severity, View
from inspector.spec import block_name, stage_name

#: Graphs with more nodes than this fold runs of identical blocks unless told otherwise.
FOLD_ABOVE_NODES = 250
#: Shorter runs stay as they are: folding two blocks into one saves nothing worth the "x 2".
MIN_RUN = 3
_INSTALL_HINT = (
    "Graphviz's 'dot' program is not installed; install Graphviz (Debian/Ubuntu: "
    "'apt-get install graphviz', macOS: 'brew install graphviz') or export DOT source instead."
)

_FILL = {
    NodeKind.CONV: "#dbe8f6", NodeKind.BN: "#fbf3d5", NodeKind.RELU: "#e3f1dd",
    NodeKind.MAXPOOL: "#eadff3", NodeKind.AVGPOOL: "#eadff3", NodeKind.FC: "#f9dfcf",
    NodeKind.ZERO_PAD: "#f0f0f0", NodeKind.BLOCK: "#fdf0dc", NodeKind.FLATTEN: "#f0f0f0",
    NodeKind.OTHER: "#f0f0f0",
}
_SHORTCUT_COLOR = "#1f5fa8"
#: Findings' marks (see `inspector.findings`): a border and a "!" line in this colour, which
#: every export keeps and which is not the dashed/solid code of the shortcuts.
MARK_COLORS = {Severity.ERROR: "#c62828", Severity.WARNING: "#e65100", Severity.NOTE: "#00838f"}
MARK_PENWIDTH = "2.5"
_Choice = TypeVar("_Choice", Direction, GraphFormat)
SHORTCUT_ID_PREFIX = "shortcut-"


class GraphvizNotFound(RuntimeError):
    """The `dot` binary is missing; the message says how to install it."""


def dot_available() -> bool:
    return shutil.which("dot") is not None


def _member(kind: type[_Choice], value: str, what: str) -> _Choice:
    """`value` as a member of `kind`, or a ValueError that names the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(kind)
        raise ValueError(f"The {what} must be one of {choices}, not {value!r}.") from None


@dataclass(frozen=True)
class _Run:
    """A block that stands for `count` identical blocks, ending with block `last`."""

    count: int
    last: int


def _block_key(node: GraphNode) -> tuple[int, int] | None:
    return None if node.stage is None or node.block is None else (node.stage, node.block)


def _signature(nodes: list[GraphNode], edges: list[GraphEdge]) -> tuple:
    """What makes two blocks look the same, ignoring their names (a block node's title)."""
    def label(node: GraphNode) -> tuple[str, ...]:
        return node.lines if node.kind == NodeKind.BLOCK else (node.title, *node.lines)

    return (
        tuple((n.kind, label(n), n.shape, n.params, n.role,
               tuple((m.severity, m.rule) for m in n.marks)) for n in nodes),
        tuple((e.kind, e.shape, e.label) for e in edges),
    )


def fold_blocks(graph: ArchGraph, min_run: int = MIN_RUN) -> tuple[ArchGraph, dict[tuple[int, int], _Run]]:
    """Keep the first of each run of `min_run` or more identical blocks in a stage.

    Returns the smaller graph and, for each kept block that stands for a run, its size.
    """
    members: dict[tuple[int, int], list[GraphNode]] = {}
    for node in graph.nodes:
        key = _block_key(node)
        if key is not None:
            members.setdefault(key, []).append(node)
    owner = {n.id: key for key, nodes in members.items() for n in nodes}
    incoming: dict[tuple[int, int], list[GraphEdge]] = {key: [] for key in members}
    for edge in graph.edges:
        if edge.dst in owner:
            incoming[owner[edge.dst]].append(edge)
    signature = {key: _signature(members[key], incoming[key]) for key in members}

    runs: dict[tuple[int, int], _Run] = {}
    removed: set[str] = set()
    keys = list(members)
    start = 0
    while start < len(keys):
        end = start
        while (end + 1 < len(keys) and keys[end + 1][0] == keys[start][0]
               and signature[keys[end + 1]] == signature[keys[start]]):
            end += 1
        if end - start + 1 >= min_run:
            runs[keys[start]] = _Run(end - start + 1, keys[end][1])
            for key in keys[start + 1:end + 1]:
                removed.update(n.id for n in members[key])
        start = end + 1
    if not runs:
        return graph, {}

    # The kept block's exit takes over the edges that left the last block of its run.
    exits = {}
    for edge in graph.edges:
        src_key, dst_key = owner.get(edge.src), owner.get(edge.dst)
        if src_key is not None and src_key != dst_key:
            exits[src_key] = edge.src
    kept_exit = {}
    for key, run in runs.items():
        kept_exit[exits[(key[0], run.last)]] = exits[key]
    edges = []
    for edge in graph.edges:
        if edge.dst in removed:
            continue
        if edge.src in removed:
            edge = GraphEdge(kept_exit[edge.src], edge.dst, edge.kind, edge.shape, edge.label)
        edges.append(edge)
    nodes = tuple(n for n in graph.nodes if n.id not in removed)
    return ArchGraph(graph.view, nodes, tuple(edges)), runs


#: Points added above and below each line of a multi-line label. Graphviz spaces lines one
#: font size apart, so the underscore of "conv2_1" (about 0.24 em below its baseline in the
#: fonts that stand in for Helvetica) met the capitals of the line below (0.73 em above theirs)
#: in PNG and PDF; two points either side keep a clear gap at the label sizes used here.
LINE_PAD = 2


def _html(lines: list[str], small: list[str] = (), badge: str = "", color: str = "") -> str:
    """An HTML-like Graphviz label: the first line bold, then plain lines, then small grey ones,
    then a findings badge in `color`; one table row each, so the lines keep `LINE_PAD` clear of
    each other."""
    parts = [f"<B>{html.escape(lines[0])}</B>"] + [html.escape(line) for line in lines[1:]]
    parts += [f'<FONT POINT-SIZE="9" COLOR="#555555">{html.escape(s)}</FONT>' for s in small]
    if badge:
        parts.append(f'<FONT POINT-SIZE="9" COLOR="{color}"><B>{html.escape(badge)}</B></FONT>')
    return _rows(parts)


def _rows(parts: list[str], align: str = "CENTER") -> str:
    """Label lines (HTML-like markup) as rows of a borderless table."""
    rows = "".join(f'<TR><TD ALIGN="{align}">{part}</TD></TR>' for part in parts)
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="{LINE_PAD}">'
            f"{rows}</TABLE>>")


def mark_badge(node: GraphNode) -> str:
    """'! error: broadcasting sum (+1)': the node's most serious finding, and how many more."""
    if not node.marks:
        return ""
    first = node.marks[0]
    more = f" (+{len(node.marks) - 1})" if len(node.marks) > 1 else ""
    return f"! {first.severity}: {Rule(first.rule).title}{more}"


def _node_attrs(node: GraphNode, run: _Run | None,
                fills: Mapping[str, str] | None = None) -> dict[str, str]:
    """Label and style, plus an element id and a hover tooltip for the interactive viewer;
    `fills` (node id -> colour) replaces the fill of the nodes it names (a colour overlay)."""
    attrs = {"id": node_element_id(node.id), "tooltip": _tooltip(node), **_node_style(node, run)}
    if fills and node.id in fills and node.kind not in (NodeKind.INPUT, NodeKind.OUTPUT):
        attrs["fillcolor"] = fills[node.id]
    if node.marks:
        color = MARK_COLORS[Severity(node.marks[0].severity)]
        attrs.update(color=color, penwidth=MARK_PENWIDTH, **{"class": "marked"})
        if node.kind == NodeKind.ADD:
            attrs.update(xlabel=mark_badge(node), fontcolor=color)
    return attrs


def _node_style(node: GraphNode, run: _Run | None) -> dict[str, str]:
    if node.kind in (NodeKind.INPUT, NodeKind.OUTPUT):
        text = f"{node.title}  {chw(node.shape)}"
        return {"label": text, "shape": "plaintext", "fontsize": "11"}
    if node.kind == NodeKind.ADD:  # "+", or "+ ReLU" when the block ends with one
        return {"label": " ".join((node.title, *node.lines)),
                "shape": "ellipse" if node.lines else "circle",
                "fontsize": "12", "width": "0.3", "height": "0.3", "margin": "0.02",
                "style": "filled", "fillcolor": "white"}
    style = {"shape": "box", "style": "rounded,filled", "fillcolor": _FILL.get(node.kind, "#f0f0f0"),
             "fontsize": "11"}
    badge = mark_badge(node)
    color = MARK_COLORS[Severity(node.marks[0].severity)] if node.marks else ""
    if node.kind == NodeKind.BLOCK:
        title = node.title
        small = [f"{compact(node.params)} params"]
        if run is not None:
            title = f"{title} .. {block_name(node.stage, run.last)}"
            small = [f"x {run.count} identical blocks", f"{compact(node.params)} params each"]
        return {**style, "label": _html([title, *node.lines], small, badge, color)}
    if node.params and node.kind in (NodeKind.CONV, NodeKind.FC):
        return {**style, "label": _html([node.title, *node.lines],
                                        [f"{compact(node.params)} params"], badge, color)}
    if badge:
        return {**style, "label": _html([node.title, *node.lines], [], badge, color)}
    return {**style, "label": node.label}


def _broadcasts_into(node: GraphNode) -> bool:
    return node.kind == NodeKind.ADD and any(m.rule == Rule.BROADCAST_SUM for m in node.marks)


def _edge_attrs(edge: GraphEdge, graph: ArchGraph, side: str) -> dict[str, str]:
    attrs = _plain_edge_attrs(edge, graph, side)
    dst = graph.node(edge.dst)
    if _broadcasts_into(dst) and edge.shape:
        # Both operands of a broadcasting sum carry their shapes, in the mark's colour.
        color = MARK_COLORS[Severity(dst.marks[0].severity)]
        attrs.update(label=chw(edge.shape), fontcolor=color, color=color, penwidth="2")
    return attrs


def _plain_edge_attrs(edge: GraphEdge, graph: ArchGraph, side: str) -> dict[str, str]:
    src, dst = graph.node(edge.src), graph.node(edge.dst)
    attrs = {"fontsize": "9", "fontcolor": "#444444"}
    if edge.kind != EdgeKind.MAIN:
        # The id marks shortcuts for the viewer and for tests that measure where they run.
        attrs.update(color=_SHORTCUT_COLOR, penwidth="1.4",
                     id=f"{SHORTCUT_ID_PREFIX}{edge.src}>{edge.dst}")
        if Role.SHORTCUT not in (src.role, dst.role):
            # A bare skip leaves and joins on one side, arcing past the block as in the paper.
            attrs.update(tailport=side, headport=side)
        if edge.dashed:
            attrs["style"] = "dashed"
            label = "\n".join(s for s in (edge.label, chw(edge.shape)) if s)
            if label and dst.kind == NodeKind.ADD:
                attrs["label"] = label
        return attrs
    if graph.view == View.BLOCK:
        show = not (src.kind == NodeKind.BLOCK and dst.kind == NodeKind.ADD)
    else:  # only where the shape is new: after convs, pools, sums and the like
        show = src.kind not in (NodeKind.BN, NodeKind.RELU)
    if show and edge.shape:
        attrs["label"] = chw(edge.shape)
    return attrs


def _cluster_label(stage: int, nodes: list[GraphNode], runs: dict[tuple[int, int], _Run]) -> str:
    """The stage's title on two short left-aligned lines, so it stays narrow beside the stage."""
    blocks = sum(runs[(stage, b)].count if (stage, b) in runs else 1 for b in {n.block for n in nodes})
    noun = "block" if blocks == 1 else "blocks"
    return _rows([html.escape(f"{stage_name(stage)}: {blocks} {noun}"),
                  html.escape(f"output {chw(nodes[-1].shape)}")], "LEFT")


def node_element_id(node_id: str) -> str:
    """The SVG element id of a node: a prefix keeps it apart from ids of the page around it."""
    return f"node-{node_id}"


def stage_element_id(stage: int) -> str:
    return f"stage-{stage}"


def stage_title_id(stage: int) -> str:
    """Node name and element id of a stage's title (clicking it folds the stage)."""
    return f"stage-title-{stage}"


def _tooltip(node: GraphNode) -> str:
    """What hovering a node says: its module path, output shape and costs, one per line."""
    lines = [" / ".join((node.title, *node.lines))]
    if node.module:
        lines.append(f"module: {node.module}")
    if node.shape:
        lines.append(f"output: {chw(node.shape)}")
    if node.kind not in (NodeKind.INPUT, NodeKind.OUTPUT):
        lines.append(f"params: {count(node.params)}   mult-adds: {count(node.mult_adds)}")
    lines += [f"{mark.severity}: {mark.message}" for mark in node.marks]
    return "\n".join(lines)


def render_graph(graph: ArchGraph, direction: Direction | str = Direction.TB,
                 fold: bool | None = None, fills: Mapping[str, str] | None = None,
                 caption: str = "") -> graphviz.Digraph:
    """The graph as a `graphviz.Digraph`, clustered by stage (and by block in the layer view).

    fold=None folds runs of identical blocks when the graph has more than FOLD_ABOVE_NODES nodes.
    `fills` colours nodes by id (a file then shows the overlay the screen shows) and `caption`
    is written under the drawing (the overlay's scale).
    """
    direction = _member(Direction, direction, "direction")
    if fold is None:
        fold = len(graph.nodes) > FOLD_ABOVE_NODES
    runs: dict[tuple[int, int], _Run] = {}
    if fold:
        graph, runs = fold_blocks(graph)
    digraph = graphviz.Digraph(
        name=f"resnet_{graph.view}",
        graph_attr={"rankdir": direction.value, "fontname": "Helvetica", "fontsize": "12",
                    "nodesep": "0.25", "ranksep": "0.3", "newrank": "true",
                    # A margin inside the drawing, so no label touches the edge of the picture.
                    "pad": "0.3", **({"label": caption, "labelloc": "b", "labeljust": "l"}
                                     if caption else {})},
        node_attr={"fontname": "Helvetica"},
        edge_attr={"fontname": "Helvetica", "arrowsize": "0.6"},
    )
    by_stage: dict[int | None, list[GraphNode]] = {}
    for node in graph.nodes:
        by_stage.setdefault(node.stage, []).append(node)
    for stage, nodes in by_stage.items():
        if stage is None:
            for node in nodes:
                digraph.node(node.id, **_node_attrs(node, None, fills))
            continue
        with digraph.subgraph(name=f"cluster_stage{stage}") as cluster:
            cluster.attr(style="rounded", color="#999999", id=stage_element_id(stage),
                         **({"label": ""} if caption else {}))  # not the caption again
            # The title is a node beside the stage's first node, not the box's label: a label
            # spans the box's top band, which the path into the stage must cross, while dot
            # routes every edge around nodes.
            title = stage_title_id(stage)
            cluster.node(title, label=_cluster_label(stage, nodes, runs), shape="plaintext",
                         fontsize="12", id=title, tooltip=stage_name(stage))
            _add_stage_nodes(cluster, graph, nodes, runs, fills)
            with cluster.subgraph() as row:
                row.attr(rank="same")
                row.node(title)
                row.node(nodes[0].id)
    side = direction.shortcut_side
    for edge in graph.edges:
        digraph.edge(edge.src, edge.dst, **_edge_attrs(edge, graph, side))
    return digraph


def _add_stage_nodes(cluster: graphviz.Digraph, graph: ArchGraph, nodes: list[GraphNode],
                     runs: dict[tuple[int, int], _Run],
                     fills: Mapping[str, str] | None = None) -> None:
    if graph.view == View.BLOCK:
        for node in nodes:
            cluster.node(node.id, **_node_attrs(node, runs.get((node.stage, node.block)), fills))
        return
    by_block: dict[int, list[GraphNode]] = {}
    for node in nodes:
        by_block.setdefault(node.block, []).append(node)
    for block, members in by_block.items():
        run = runs.get((members[0].stage, block))
        name = block_name(members[0].stage, block)
        if run is not None:
            name += f" .. _{run.last + 1}  (x {run.count} identical blocks)"
        with cluster.subgraph(name=f"cluster_s{members[0].stage}_b{block}") as sub:
            sub.attr(label=name, style="dashed,rounded", color="#bbbbbb", labeljust="l")
            for node in members:
                sub.node(node.id, **_node_attrs(node, None, fills))


#: Print quality: ResNet-50's block view comes out over 1000 pixels wide.
DEFAULT_DPI = 200


def export_graph(digraph: graphviz.Digraph, fmt: GraphFormat | str,
                 dpi: int = DEFAULT_DPI) -> bytes:
    """DOT source (needs no binary), or SVG, PNG (at `dpi`) or PDF through Graphviz's `dot`."""
    fmt = _member(GraphFormat, str(fmt).lower(), "format")
    if not fmt.needs_dot:
        return digraph.source.encode()
    if not 10 <= dpi <= 1200:
        raise ValueError(f"The resolution must be 10 to 1200 dpi, not {dpi}.")
    if not dot_available():
        raise GraphvizNotFound(_INSTALL_HINT)
    graph = digraph
    if fmt is GraphFormat.PNG:
        graph = digraph.copy()
        graph.graph_attr["dpi"] = str(dpi)
    try:
        data = graph.pipe(format=fmt.value, quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFound(_INSTALL_HINT) from None
    except (graphviz.CalledProcessError, subprocess.CalledProcessError) as error:
        detail = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        reason = detail[0] if detail else f"exit status {error.returncode}"
        raise RuntimeError(f"Graphviz could not draw the graph: {reason}") from None
    return with_resolution(data, dpi) if fmt is GraphFormat.PNG else data


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INCHES_PER_METRE = 1 / 0.0254


def with_resolution(png: bytes, dpi: int) -> bytes:
    """The PNG with its resolution stated in a pHYs chunk (pixels per metre), right after IHDR.

    Graphviz's cairo renderer draws at `dpi` but writes no pHYs chunk, so a word processor
    placed the picture at 96 dpi, twice its intended size at 200 dpi. A chunk already there is
    replaced. (PNG specification, section 11.3.5.3.)
    """
    if not png.startswith(_PNG_SIGNATURE):
        return png
    chunks, at = [], len(_PNG_SIGNATURE)
    while at + 8 <= len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        end = at + 12 + length
        if png[at + 4:at + 8] != b"pHYs":
            chunks.append(png[at:end])
        at = end
    per_metre = round(dpi * _INCHES_PER_METRE)
    body = b"pHYs" + per_metre.to_bytes(4, "big") * 2 + b"\x01"  # unit 1: the metre
    phys = (9).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    return _PNG_SIGNATURE + chunks[0] + phys + b"".join(chunks[1:])
