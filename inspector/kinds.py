"""The words the project's data speaks, as types: block, shortcut, node, edge kinds, roles, views,
and how a graph is drawn (direction, file format, folding).

Why StrEnums: each member *is* its string ("projection" == ShortcutKind.PROJECTION), so JSON
specs, URLs, DataFrames and any code that still compares strings keep working, while new code
gets names a checker can follow and a typo that fails at import instead of drawing nothing.
This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum


#: Shortcuts that change the tensor's shape; the paper draws them dashed.
_SHAPE_CHANGING = frozenset({"identity_pad", "projection", "pooled_projection"})


class BlockKind(StrEnum):
    """The residual block's layout."""

    BASIC = "basic"  # two 3x3 convs
    BOTTLENECK = "bottleneck"  # 1x1, 3x3, 1x1


class _DrawnDashed:
    """Shortcut and edge kinds share one rule: those that change the shape are dashed."""

    value: str

    @property
    def dashed(self) -> bool:
        """Whether the shortcut changes the tensor's shape (the paper's dashed lines)."""
        return self.value in _SHAPE_CHANGING


class ShortcutKind(_DrawnDashed, StrEnum):
    """What a block's shortcut does, as read off the traced ops (or planned by the spec)."""

    NONE = "none"  # a plain block: no shortcut at all
    IDENTITY = "identity"
    IDENTITY_PAD = "identity_pad"  # option A: subsample and append zero channels
    PROJECTION = "projection"  # a 1x1 conv
    POOLED_PROJECTION = "pooled_projection"  # ResNet-D: average pool, then a 1x1 conv
    OTHER = "other"  # a shortcut of a kind this project does not name


class EdgeKind(_DrawnDashed, StrEnum):
    """Whether a tensor flows along the main path or a shortcut, and which shortcut."""

    MAIN = "main"
    IDENTITY = "identity"
    IDENTITY_PAD = "identity_pad"
    PROJECTION = "projection"
    POOLED_PROJECTION = "pooled_projection"
    OTHER = "other"


class NodeKind(StrEnum):
    """One op of the layer view, or a whole block of the block view."""

    INPUT = "input"
    OUTPUT = "output"
    CONV = "conv"
    BN = "bn"
    RELU = "relu"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADD = "add"
    FC = "fc"
    FLATTEN = "flatten"
    ZERO_PAD = "zero_pad"
    BLOCK = "block"
    OTHER = "other"


class Role(StrEnum):
    """Which part of the network a node belongs to."""

    INPUT = "input"
    STEM = "stem"
    MAIN = "main"  # a block's main path (or the block itself in the block view)
    SHORTCUT = "shortcut"
    HEAD = "head"
    OUTPUT = "output"


class View(StrEnum):
    """One node per block (the paper's figures) or one per op."""

    BLOCK = "block"
    LAYER = "layer"


class Direction(StrEnum):
    """Which way a drawn graph runs: Graphviz's rankdir values."""

    TB = "TB"  # top to bottom, as the paper draws its networks
    LR = "LR"  # left to right

    @property
    def shortcut_side(self) -> str:
        """The compass side a bare skip leaves and joins on: beside the main path (east when it
        runs down, south when it runs across), so it arcs past the block as in the paper."""
        return "e" if self is Direction.TB else "s"


#: What each graph file is served as.
_MEDIA_TYPES = {"dot": "text/vnd.graphviz", "svg": "image/svg+xml", "png": "image/png",
                "pdf": "application/pdf"}


class GraphFormat(StrEnum):
    """A drawn graph's file: DOT source, or what Graphviz's `dot` lays out from it."""

    DOT = "dot"
    SVG = "svg"
    PNG = "png"
    PDF = "pdf"

    @property
    def needs_dot(self) -> bool:
        """Whether writing it takes Graphviz's `dot` program (DOT source is text we write)."""
        return self is not GraphFormat.DOT

    @property
    def binary(self) -> bool:
        """Whether the file is bytes a terminal cannot show."""
        return self in (GraphFormat.PNG, GraphFormat.PDF)

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self.value]


class Fold(StrEnum):
    """Whether a drawing folds runs of identical blocks into one node marked "x N"."""

    AUTO = "auto"  # only large graphs
    ON = "on"
    OFF = "off"

    @property
    def folding(self) -> bool | None:
        """The renderer's `fold` argument: None leaves it to the graph's size."""
        return {Fold.AUTO: None, Fold.ON: True, Fold.OFF: False}[self]


class Severity(StrEnum):
    """How much a finding matters, most serious first (see `inspector.findings`)."""

    ERROR = "error"  # the network does not do what it appears to
    WARNING = "warning"  # wasteful or unusual
    NOTE = "note"  # worth knowing

    @property
    def rank(self) -> int:
        """0 for errors, 1 for warnings, 2 for notes: findings sort by it."""
        return list(Severity).index(self)

    def at_least(self, threshold: "Severity") -> bool:
        """Whether this is as serious as `threshold` or more (an error is at least a warning)."""
        return self.rank <= Severity(threshold).rank


class Rule(StrEnum):
    """What a finding is about: one rule of `inspector.findings` each."""

    BROADCAST_SUM = "broadcast-sum"
    ONE_PATH_CHANGE = "one-path-change"
    DEAD_TAPS = "dead-taps"
    EARLY_COLLAPSE = "early-collapse"
    INPUT_COVERED = "input-covered"
    BIAS_BEFORE_NORM = "bias-before-norm"
    DEPTH_NAME = "depth-name"
    ACTIVATION_ORDER = "activation-order"
    PREACT_FINAL_NORM = "preact-final-norm"
    NORM_ON_1X1 = "norm-on-1x1"
    UNUSED = "unused"

    @property
    def title(self) -> str:
        """A few words for a graph's badge: "broadcasting sum"."""
        return _RULE_TITLES[self.value]


_RULE_TITLES = {
    "broadcast-sum": "broadcasting sum", "one-path-change": "shape changes on one path",
    "dead-taps": "taps meet only padding", "early-collapse": "1x1 before the last stage",
    "input-covered": "field covers the input", "bias-before-norm": "bias before BatchNorm",
    "depth-name": "depth in the name", "activation-order": "activation order",
    "preact-final-norm": "no final BN-ReLU", "norm-on-1x1": "BatchNorm on 1x1",
    "unused": "never used",
}


class DiffStatus(StrEnum):
    """What a row of a diff of two networks says about its block (or stem, or head)."""

    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"  # only in B
    REMOVED = "removed"  # only in A


class BlockStatistic(StrEnum):
    """What training records per block (`inspector.block_stats`); the values name its columns."""

    GRAD_NORM = "grad_norm"
    BRANCH_RATIO = "branch_ratio"
    ZERO_SHARE = "zero_share"

    @property
    def title(self) -> str:
        return {BlockStatistic.GRAD_NORM: "gradient norm of the block's parameters",
                BlockStatistic.BRANCH_RATIO: "||F(x)|| / ||x||, residual branch against input",
                BlockStatistic.ZERO_SHARE: "share of outputs that are zero after the ReLU",
                }[self]
