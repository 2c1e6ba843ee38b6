"""How one network differs from another, block by block, drawn side by side.

The alignment rule, chosen after how diff tools for sequences and trees pair nodes (Myers' and
Ratcliff-Obershelp sequence alignment as in `difflib`; tree differs such as GumTree first match
the largest identical subtrees, then pair what is left by position among matched parents):

1. Both networks are read as ResNets: a stem, stages of residual blocks, a head (the same
   analysis that draws them; any model the project can trace qualifies).
2. Stages are paired by position (conv2_x with conv2_x): a stage is the unit people compare, and
   its position is its meaning (resolution level). A stage that only one side has is added or
   removed whole.
3. Within a pair of stages, blocks are aligned by `difflib.SequenceMatcher` over their
   signatures (block type, each main-path conv's kernel, stride, groups and width, the input
   width, the shortcut's kind, the order of the main path's convs, norms and activations), the
   longest runs of identical blocks first. What falls between
   matched runs is paired by position as "changed" while both sides have blocks left, and the
   rest is added (only in B) or removed (only in A).
4. Each changed block says what changed: block type, width, input width, stride, kernel, groups,
   shortcut kind, or the order of its convs, norms and activations (pre-activation). Runs of three or more identical pairs are drawn as one row.

Limits: blocks never pair across stages (a block moved to another stage is removed here and
added there); within a changed stretch pairing is by position, so inserting a different block
at the front of a stage marks every block after it as changed rather than one as added;
signatures ignore names and spatial sizes, so the same network at another input size is
"the same" block for block (the totals on the Compare page say how the costs differ).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import graphviz

from inspector.formatting import compact
from inspector.graph import ArchGraph, GraphNode
from inspector.kinds import DiffStatus, EdgeKind, NodeKind, Role
from inspector.spec import block_name, stage_name

#: Identical pairs in a row, from this many on, are drawn as one row.
MIN_SAME_RUN = 3
#: The two networks, in the order they are given (and drawn, left to right).
SIDES = ("A", "B")
Status = DiffStatus


# Fill and border of a block drawn with each status: the marks survive SVG, PNG and PDF.
_FILL = {Status.SAME: "#f4f4f4", Status.CHANGED: "#fff1c2", Status.ADDED: "#d8f0d8",
         Status.REMOVED: "#f8d7da"}
_BORDER = {Status.SAME: "#999999", Status.CHANGED: "#b8860b", Status.ADDED: "#2e7d32",
           Status.REMOVED: "#c62828"}


@dataclass(frozen=True)
class Conv:
    """A main-path conv as the diff compares it."""

    kernel: tuple[int, int]
    stride: int
    groups: int
    width: int  # output channels

    def text(self) -> str:
        kernel = f"{self.kernel[0]}x{self.kernel[1]}"
        parts = [kernel, str(self.width)]
        if self.groups > 1:
            parts.append(f"C={self.groups}")
        if self.stride > 1:
            parts.append(f"/{self.stride}")
        return ", ".join(parts)


@dataclass(frozen=True)
class BlockSide:
    """One block of one network: what is compared, and what is shown about it."""

    name: str  # the paper's name, conv3_1
    module: str  # its module path, or ""
    in_width: int
    convs: tuple[Conv, ...]
    shortcut: str  # an EdgeKind value, or "none" for a plain block
    params: int
    mult_adds: int
    #: The main path's layers in order ("conv BN ReLU conv BN"): where the norms and activations
    #: sit, which is what pre-activation changes.
    order: str = ""

    @property
    def signature(self) -> tuple:
        return (self.in_width, self.convs, self.shortcut, self.order)

    @property
    def kind(self) -> str:
        """basic (two 3x3), bottleneck (1x1, 3x3, 1x1), or the number of convs."""
        kernels = [conv.kernel[0] for conv in self.convs]
        if kernels == [3, 3]:
            return "basic"
        if kernels == [1, 3, 1]:
            return "bottleneck"
        return f"{len(kernels)} convs"

    @property
    def stride(self) -> int:
        stride = 1
        for conv in self.convs:
            stride *= conv.stride
        return stride

    @property
    def width(self) -> int:
        return self.convs[-1].width if self.convs else self.in_width

    def lines(self) -> list[str]:
        """The block as its node reads: convs, then the shortcut."""
        return [conv.text() for conv in self.convs] + [f"shortcut: {self.shortcut}"]


@dataclass(frozen=True)
class Part:
    """The stem or the head: a few layers compared as one."""

    lines: tuple[str, ...]
    params: int


@dataclass(frozen=True)
class Row:
    """One aligned row: A's block, B's block (either may be None) and what differs."""

    status: Status
    a: BlockSide | None
    b: BlockSide | None
    changes: tuple[str, ...] = ()
    #: The blocks a folded row stands for, as (A's name, B's name) pairs; one pair otherwise.
    covers: tuple[tuple[str | None, str | None], ...] = ()

    @property
    def count(self) -> int:
        return max(1, len(self.covers))

    def names(self, side: str) -> list[str]:
        """The names of the blocks this row stands for on one side."""
        index = SIDES.index(side)
        pairs = self.covers or ((self.a and self.a.name, self.b and self.b.name),)
        return [pair[index] for pair in pairs if pair[index] is not None]


@dataclass(frozen=True)
class StageDiff:
    stage: int
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class ArchDiff:
    """Two networks aligned: stem, stages of rows, head."""

    names: tuple[str, str]
    stem: tuple[Part, Part]
    stages: tuple[StageDiff, ...]
    head: tuple[Part, Part]

    def marked(self) -> dict[str, list[str]]:
        """Block names with a mark on each side: {"A": [...], "B": [...]}, same blocks left out."""
        marked: dict[str, list[str]] = {"A": [], "B": []}
        for stage in self.stages:
            for row in stage.rows:
                if row.status is not Status.SAME:
                    for side in SIDES:
                        marked[side] += row.names(side)
        return marked

    @property
    def identical(self) -> bool:
        return (self.stem[0] == self.stem[1] and self.head[0] == self.head[1]
                and all(row.status is Status.SAME for s in self.stages for row in s.rows))


# ----- reading a network ---------------------------------------------------------------------


def _conv(node: GraphNode) -> Conv:
    kernel = node.kernel or (1, 1)
    return Conv(tuple(kernel), node.stride or 1, node.groups or 1,
                node.shape[1] if node.shape else 0)


def _module_of(nodes: Sequence[GraphNode]) -> str:
    """The longest module path every member shares ("layer2.0"), or ""."""
    paths = [n.module.split(".") for n in nodes if n.module]
    if not paths:
        return ""
    common = paths[0]
    for path in paths[1:]:
        while path[:len(common)] != common:
            common = common[:-1]
    return ".".join(common)


#: The layers whose order a block's signature keeps, by the names people use for them.
_ORDER_NAMES = {NodeKind.CONV: "conv", NodeKind.BN: "BN", NodeKind.RELU: "ReLU"}


def _part(nodes: Iterable[GraphNode]) -> Part:
    nodes = list(nodes)
    lines = tuple(n.title for n in nodes if n.kind not in (NodeKind.BN, NodeKind.RELU,
                                                          NodeKind.FLATTEN))
    return Part(lines, sum(n.params for n in nodes))


def read_blocks(graph: ArchGraph) -> tuple[Part, dict[int, list[BlockSide]], Part]:
    """Stem, blocks by stage and head of a layer-view graph (`trace_graph(spec, "layer")` or
    `Analysis.graph("layer")`)."""
    members: dict[tuple[int, int], list[GraphNode]] = {}
    for node in graph.nodes:
        if node.stage is not None and node.block is not None:
            members.setdefault((node.stage, node.block), []).append(node)
    shortcut: dict[tuple[int, int], str] = {}
    for edge in graph.edges:
        dst = graph.node(edge.dst)
        if edge.kind != EdgeKind.MAIN and dst.stage is not None and dst.block is not None:
            shortcut.setdefault((dst.stage, dst.block), str(edge.kind))
    stages: dict[int, list[BlockSide]] = {}
    for (stage, block), nodes in members.items():
        main = [n for n in nodes if n.role != Role.SHORTCUT]
        convs = tuple(_conv(n) for n in main if n.kind == NodeKind.CONV)
        order = " ".join(_ORDER_NAMES[n.kind] for n in main if n.kind in _ORDER_NAMES)
        first = nodes[0].input_shape or nodes[0].shape or (0, 0)
        stages.setdefault(stage, []).append(BlockSide(
            block_name(stage, block), _module_of(nodes), first[1], convs,
            shortcut.get((stage, block), "none"), sum(n.params for n in nodes),
            sum(n.mult_adds for n in nodes), order))
    stem = _part(n for n in graph.nodes if n.role == Role.STEM)
    head = _part(n for n in graph.nodes if n.role == Role.HEAD)
    return stem, stages, head


def part_changes(a: Part, b: Part) -> list[str]:
    """What differs between two stems or two heads, in words."""
    said = []
    if a.lines != b.lines:
        said.append("changed: layers")
    if a.params != b.params:
        said.append(f"changed: params {compact(a.params)} -> {compact(b.params)}")
    return said


# ----- aligning ------------------------------------------------------------------------------


def changes(a: BlockSide, b: BlockSide) -> tuple[str, ...]:
    """What differs between two paired blocks, in words (empty when nothing does)."""
    said: list[str] = []
    if a.kind != b.kind:
        said.append(f"block {a.kind} -> {b.kind}")
    if a.in_width != b.in_width:
        said.append(f"input width {a.in_width} -> {b.in_width}")
    if len(a.convs) == len(b.convs):
        for index, (x, y) in enumerate(zip(a.convs, b.convs), 1):
            for what, left, right in (("width", x.width, y.width),
                                      ("kernel", f"{x.kernel[0]}x{x.kernel[1]}",
                                       f"{y.kernel[0]}x{y.kernel[1]}"),
                                      ("stride", x.stride, y.stride),
                                      ("groups", x.groups, y.groups)):
                if left != right:
                    said.append(f"conv{index} {what} {left} -> {right}")
    else:
        if a.width != b.width:
            said.append(f"width {a.width} -> {b.width}")
        if a.stride != b.stride:
            said.append(f"stride {a.stride} -> {b.stride}")
        groups = (max(c.groups for c in a.convs), max(c.groups for c in b.convs))
        if groups[0] != groups[1]:
            said.append(f"groups {groups[0]} -> {groups[1]}")
    if a.shortcut != b.shortcut:
        said.append(f"shortcut {a.shortcut} -> {b.shortcut}")
    if a.order != b.order and a.kind == b.kind:  # another block type implies another order
        said.append(f"layer order {a.order} -> {b.order}")
    return tuple(said)


def align(a: Sequence[BlockSide], b: Sequence[BlockSide]) -> list[Row]:
    """The rows of one stage (see the module's rule), identical runs not yet folded."""
    matcher = SequenceMatcher(None, [x.signature for x in a], [y.signature for y in b],
                              autojunk=False)
    rows: list[Row] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = list(a[i1:i2]), list(b[j1:j2])
        if op == "equal":
            rows += [Row(Status.SAME, x, y) for x, y in zip(left, right)]
            continue
        for x, y in zip(left, right):
            rows.append(Row(Status.CHANGED, x, y, changes(x, y)))
        paired = min(len(left), len(right))
        rows += [Row(Status.REMOVED, x, None) for x in left[paired:]]
        rows += [Row(Status.ADDED, None, y) for y in right[paired:]]
    return rows


def _foldable(first: Row, row: Row) -> bool:
    """Whether `row` continues a run that `first` starts: identical pairs, or blocks added (or
    removed) that are identical to each other."""
    if row.status is not first.status or row.status is Status.CHANGED:
        return False
    if row.status is Status.SAME:
        return True
    block, other = (row.a, first.a) if row.status is Status.REMOVED else (row.b, first.b)
    return block.signature == other.signature


def fold_same(rows: Sequence[Row], min_run: int = MIN_SAME_RUN) -> list[Row]:
    """Runs of `min_run` or more identical pairs (or identical added or removed blocks) as one
    row each, which names every block it stands for."""
    out: list[Row] = []
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and _foldable(rows[start], rows[end]):
            end += 1
        run = rows[start:end]
        if len(run) >= min_run and run[0].status is not Status.CHANGED:
            covers = tuple((r.a and r.a.name, r.b and r.b.name) for r in run)
            out.append(Row(run[0].status, run[0].a, run[0].b, covers=covers))
            start = end
        else:
            out.append(rows[start])
            start += 1
    return out


def diff_graphs(a: ArchGraph, b: ArchGraph, names: tuple[str, str]) -> ArchDiff:
    """The diff of two layer-view graphs."""
    stem_a, stages_a, head_a = read_blocks(a)
    stem_b, stages_b, head_b = read_blocks(b)
    stages = []
    for stage in sorted({*stages_a, *stages_b}):
        rows = fold_same(align(stages_a.get(stage, []), stages_b.get(stage, [])))
        stages.append(StageDiff(stage, tuple(rows)))
    return ArchDiff(names, (stem_a, stem_b), tuple(stages), (head_a, head_b))


# ----- drawing -------------------------------------------------------------------------------

def row_id(side: str, stage: int | str, index: int) -> str:
    """The node (and SVG element) id of one side of one row; tests and the viewer read it."""
    return f"diff-{side}-{stage}-{index}"


def _label(title: str, lines: Iterable[str], note: Iterable[str] = (),
           status: Status = Status.SAME) -> str:
    parts = [f"<B>{html.escape(title)}</B>"] + [html.escape(line) for line in lines]
    color = _BORDER[status]
    parts += [f'<FONT POINT-SIZE="10" COLOR="{color}"><B>{html.escape(text)}</B></FONT>'
              for text in note]
    rows = "".join(f"<TR><TD>{part}</TD></TR>" for part in parts)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{rows}</TABLE>>'


def _row_text(row: Row, side: str) -> tuple[str, list[str], list[str]]:
    """Title, lines and the mark's words of one side of a row."""
    block = row.a if side == "A" else row.b
    assert block is not None
    title = block.name
    lines = block.lines()
    if row.count > 1:
        title = f"{block.name} .. {row.names(side)[-1]}"
        lines = ([f"{row.count} blocks, the same on both sides"] if row.status is Status.SAME
                 else [*lines, f"x {row.count} identical blocks"])
    if row.status is Status.CHANGED:
        return title, lines, ["changed: " + c for c in row.changes] or ["changed"]
    if row.status is Status.ADDED:
        return title, lines, ["added: only in B"]
    if row.status is Status.REMOVED:
        return title, lines, ["removed: only in A"]
    return title, lines, []


def render_diff(diff: ArchDiff, fontname: str = "Helvetica") -> tuple[graphviz.Digraph,
                                                                       dict[str, Any]]:
    """The two networks side by side, one row per aligned block, and the viewer's payload
    (each marked node carries both versions, so a click shows them side by side)."""
    digraph = graphviz.Digraph(
        name="resnet_diff",
        graph_attr={"rankdir": "TB", "newrank": "true", "nodesep": "0.6", "ranksep": "0.25",
                    "fontname": fontname, "pad": "0.3"},
        node_attr={"fontname": fontname, "fontsize": "11", "shape": "box",
                   "style": "rounded,filled"},
        edge_attr={"arrowsize": "0.6"},
    )
    payload: dict[str, Any] = {}
    rows: list[tuple[str, list[tuple[str | None, dict[str, str], dict[str, Any]]]]] = []

    def part_row(key: str, title: str, pair: tuple[Part, Part]) -> None:
        note = part_changes(*pair)
        status = Status.CHANGED if note else Status.SAME
        cells = []
        for side, part in zip(SIDES, pair):
            node = row_id(side, key, 0)
            attrs = {"label": _label(title, part.lines, note, status), "id": node,
                     "class": f"diff-{status}", "fillcolor": _FILL[status],
                     "color": _BORDER[status], "penwidth": "1" if status is Status.SAME else "2.5"}
            versions = {s: list(p.lines) for s, p in zip(SIDES, pair)}
            cells.append((node, attrs, _payload(node, title, part.lines, status, note, versions,
                                                part.params)))
        rows.append((key, cells))

    part_row("stem", "stem", diff.stem)
    for stage in diff.stages:
        rows.append((f"title{stage.stage}", [
            (row_id(side, f"title{stage.stage}", 0),
             {"label": stage_name(stage.stage), "shape": "plaintext", "style": "",
              "fontsize": "13", "id": row_id(side, f"title{stage.stage}", 0)}, None)
            for side in SIDES]))
        for index, row in enumerate(stage.rows):
            cells = []
            for side in SIDES:
                block = row.a if side == "A" else row.b
                node = row_id(side, stage.stage, index)
                if block is None:
                    cells.append((None, {}, None))
                    continue
                title, lines, note = _row_text(row, side)
                marked = row.status is not Status.SAME
                attrs = {"label": _label(title, lines, note, row.status), "id": node,
                         "class": f"diff-{row.status}", "fillcolor": _FILL[row.status],
                         "color": _BORDER[row.status], "penwidth": "2.5" if marked else "1",
                         "tooltip": f"{title}: {row.status}"}
                versions = {s: ([b.name, *b.lines()] if b is not None else ["(no such block)"])
                            for s, b in zip(SIDES, (row.a, row.b))}
                cells.append((node, attrs, _payload(node, title, lines, row.status, note,
                                                    versions, block.params, block.module,
                                                    block.mult_adds)))
            rows.append((f"{stage.stage}-{index}", cells))
    part_row("head", "head", diff.head)

    previous: dict[str, str] = {}  # the node above, a gap's placeholder included
    drawn: dict[str, str] = {}  # the last node drawn on each side
    for key, cells in rows:
        with digraph.subgraph() as rank:
            rank.attr(rank="same")
            for side, (node, attrs, info) in zip(SIDES, cells):
                name = node or row_id(side, f"gap{key}", 0)
                if node is None:  # the other side's block has no partner: keep the row's place
                    rank.node(name, label="", shape="point", style="invis", width="0.01")
                else:
                    rank.node(name, **attrs)
                    if info is not None:
                        payload[name] = info
                if side in previous and previous[side] != drawn.get(side):
                    digraph.edge(previous[side], name, style="invis")  # the rows' order
                if node is not None:
                    if side in drawn:  # the path, across any gap
                        digraph.edge(drawn[side], name)
                    drawn[side] = name
                previous[side] = name
    for side, name in zip(SIDES, diff.names):
        digraph.node(f"diff-{side}-name", label=f"{side}: {name}", shape="plaintext",
                     style="", fontsize="14", id=f"diff-{side}-name")
    with digraph.subgraph() as top:
        top.attr(rank="min")
        for side in SIDES:
            top.node(f"diff-{side}-name")
    for side in SIDES:
        digraph.edge(f"diff-{side}-name", row_id(side, "stem", 0), style="invis")
    return digraph, {"nodes": payload, "legends": {}}


def _payload(node: str, title: str, lines: Sequence[str], status: Status, note: Sequence[str],
             versions: dict[str, list[str]], params: int, module: str = "",
             mult_adds: int = 0) -> dict[str, Any]:
    """What the viewer shows for one diff node: its fields, and both versions side by side."""
    return {"id": node, "label": "\n".join([title, *lines, *note]), "module": module or None,
            "kind": f"diff: {status}", "shape": None, "params": params, "mult_adds": mult_adds,
            "rows": [], "colors": {}, "folded_stage": None, "activation_bytes": None,
            "status": str(status), "versions": versions}


def summary(diff: ArchDiff) -> str:
    """One sentence: how many blocks changed, were added or removed."""
    counts = {status: 0 for status in Status}
    for stage in diff.stages:
        for row in stage.rows:
            counts[row.status] += row.count
    parts = [f"{counts[Status.CHANGED]} changed", f"{counts[Status.ADDED]} added (only in B)",
             f"{counts[Status.REMOVED]} removed (only in A)", f"{counts[Status.SAME]} the same"]
    stem = "" if diff.stem[0] == diff.stem[1] else "; the stems differ"
    head = "" if diff.head[0] == diff.head[1] else "; the heads differ"
    return f"Blocks: {', '.join(parts)}{stem}{head}."
