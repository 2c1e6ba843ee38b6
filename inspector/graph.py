"""The graph every view of a network shares: nodes, edges, and one block inspected on its own.

The trace produces these values; rendering, the tables and the pages read their fields. Labels are
kept as structure (a title, further lines, the module's geometry), so nothing downstream has to
parse text back into meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

from inspector.kinds import EdgeKind, NodeKind, Role, Rule, Severity, ShortcutKind, View

Shape = tuple[int, ...]


@dataclass(frozen=True)
class NodeMark:
    """A finding about a node (see `inspector.findings`), as the drawing and the viewer show it."""

    severity: Severity
    rule: Rule
    message: str


@dataclass(frozen=True)
class GraphNode:
    """One op (layer view) or one residual block, stem layer or head layer (block view).

    `title` is the first line of the node's label in the paper's style ("3x3 conv, 128, /2", or a
    block's name "conv3_1"); `lines` are the further lines (a block's convs, "ReLU" after a sum).
    """

    id: str
    kind: NodeKind
    title: str
    module: str | None  # module path in the built model, e.g. "layer2.0.conv1"
    shape: Shape | None  # output shape, batch first
    params: int
    mult_adds: int  # torchinfo's convention, for the traced batch
    stage: int | None
    block: int | None
    role: Role
    lines: tuple[str, ...] = ()
    module_type: str = ""  # the module's class name ("Conv2d"); blank for functions
    input_shape: Shape | None = None
    kernel: tuple[int, int] | None = None  # convs and pools
    stride: int | None = None  # convs and pools
    groups: int | None = None  # convs
    trainable: bool = False  # has parameters, all of them trainable
    marks: tuple[NodeMark, ...] = ()  # findings about this node, most serious first

    @property
    def label(self) -> str:
        """Title and lines as one text, for people (never parsed back)."""
        return "\n".join((self.title, *self.lines))


@dataclass(frozen=True)
class GraphEdge:
    """A tensor flowing from `src` to `dst`; `kind` says whether it is on a shortcut, and which."""

    src: str
    dst: str
    kind: EdgeKind
    shape: Shape | None
    label: str = ""  # what the shortcut does, e.g. "1x1 conv, 128, /2" (block view)
    #: Whether a shortcut of no named kind (EdgeKind.OTHER) changes the shape; the named kinds
    #: decide that themselves.
    changes_shape: bool = False

    @property
    def dashed(self) -> bool:
        """True for shortcuts that change the shape (the paper's dashed lines)."""
        kind = EdgeKind(self.kind)
        return self.changes_shape if kind == EdgeKind.OTHER else kind.dashed


@dataclass(frozen=True)
class ArchGraph:
    view: View
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    @cached_property
    def by_id(self) -> Mapping[str, GraphNode]:
        """Nodes by id, read-only: traced graphs are shared between callers."""
        return MappingProxyType({node.id: node for node in self.nodes})

    def node(self, node_id: str) -> GraphNode:
        return self.by_id[node_id]

    def shortcut_edges(self) -> list[GraphEdge]:
        """One edge per residual block: the one that delivers the shortcut into the sum."""
        return [e for e in self.edges
                if e.kind != EdgeKind.MAIN and self.by_id[e.dst].kind == NodeKind.ADD]

    @property
    def params(self) -> int:
        return sum(node.params for node in self.nodes)

    @property
    def mult_adds(self) -> int:
        return sum(node.mult_adds for node in self.nodes)


@dataclass(frozen=True)
class BlockInspection:
    graph: ArchGraph  # layer view of the block alone
    params: int
    input_shape: Shape
    output_shape: Shape
    shortcut_kind: ShortcutKind
    dashed: bool
    reason: str  # why the shortcut is drawn solid or dashed, in plain words
