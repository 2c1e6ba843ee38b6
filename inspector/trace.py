"""Trace a built ResNet with torch.fx into the one graph that rendering, tables and pages share.

Why fx: the picture shows what the model *does*, so it cannot drift from the builder. In
particular each block's shortcut kind is read off the traced ops that lie between the block's
input and its sum, never copied from the spec.

Why it is fast enough for a slider: residual blocks are traced as leaves of the network, and each
distinct block is traced once per call. Two blocks with equal modules (same `repr`) and equal
plain attributes run the same `forward`, so they trace to the same graph and, for the same input
shape, propagate to the same shapes; ResNet-152 has 50 blocks but only 8 distinct ones. Shapes come
from running each op on the `meta` device (no weights). Ops whose output shape is fixed by their
definition (batch norm, ReLU, sums of equal shapes, adaptive pools, linear layers) skip their meta
kernels, which are slow Python decompositions; convs and pools, which decide the geometry, run.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import fx, nn

from inspector.model import ResidualBlock, ZeroPadShortcut, build_model
from inspector.spec import BLOCKS, ResNetSpec, SpecError, check_block_arguments, stage_name

VIEWS = ("block", "layer")
EDGE_KINDS = ("main", "identity", "identity_pad", "projection", "pooled_projection")
#: Shortcuts that change the tensor's shape; the paper draws them dashed.
DASHED_KINDS = frozenset({"identity_pad", "projection", "pooled_projection"})
ROLES = ("input", "stem", "main", "shortcut", "head", "output")

Shape = tuple[int, ...]

#: Layers whose output has their input's shape (per-element or per-channel maps).
_SHAPE_KEEPING = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
#: Attributes the builder leaves on a block for analysis only; `forward` never reads them.
_ANALYSIS_ATTRIBUTES = frozenset({"stage", "index", "shortcut_kind"})


@dataclass(frozen=True)
class GraphNode:
    """One op (layer view) or one residual block, stem layer or head layer (block view)."""

    id: str
    kind: str  # input, output, conv, bn, relu, maxpool, avgpool, add, fc, flatten, zero_pad, block
    label: str  # the paper's style: "3x3 conv, 128, /2"
    module: str | None  # module path in the built model, e.g. "layer2.0.conv1"
    shape: Shape | None  # output shape, batch first
    params: int
    mult_adds: int  # torchinfo's convention, for the traced batch
    stage: int | None
    block: int | None
    role: str  # one of ROLES


@dataclass(frozen=True)
class GraphEdge:
    """A tensor flowing from `src` to `dst`; `kind` says whether it is on a shortcut, and which."""

    src: str
    dst: str
    kind: str  # one of EDGE_KINDS
    shape: Shape | None
    label: str = ""  # what the shortcut does, e.g. "1x1 conv, 128, /2" (block view)

    @property
    def dashed(self) -> bool:
        """True for shortcuts that change the shape (the paper's dashed lines)."""
        return self.kind in DASHED_KINDS


@dataclass(frozen=True)
class ArchGraph:
    view: str  # "block" or "layer"
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    @cached_property
    def by_id(self) -> dict[str, GraphNode]:
        return {node.id: node for node in self.nodes}

    def node(self, node_id: str) -> GraphNode:
        return self.by_id[node_id]

    def shortcut_edges(self) -> list[GraphEdge]:
        """One edge per residual block: the one that delivers the shortcut into the sum."""
        return [e for e in self.edges if e.kind != "main" and self.by_id[e.dst].kind == "add"]

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
    shortcut_kind: str
    dashed: bool
    reason: str  # why the shortcut is drawn solid or dashed, in plain words


# ----- tracing ------------------------------------------------------------------------------


class _NetworkTracer(fx.Tracer):
    """Keeps residual blocks whole: the network's graph is stem, blocks, head."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, ResidualBlock) or super().is_leaf_module(m, qualname)


class _BlockTracer(fx.Tracer):
    """Traces inside a block; option A's shortcut stays one node instead of a slice and a pad."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, ZeroPadShortcut) or super().is_leaf_module(m, qualname)


def _pair(value: int | tuple[int, ...]) -> int:
    return value[0] if isinstance(value, tuple) else value


def _describe_module(module: nn.Module) -> tuple[str, str]:
    """(kind, label) of a leaf module, labelled as the paper's figures do."""
    if isinstance(module, nn.Conv2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        label = f"{kernel}x{kernel} conv, {module.out_channels}"
        label += f", /{stride}" if stride > 1 else ""
        label += f", {module.groups} groups" if module.groups > 1 else ""
        return "conv", label
    if isinstance(module, nn.BatchNorm2d):
        return "bn", "BN"
    if isinstance(module, nn.ReLU):
        return "relu", "ReLU"
    if isinstance(module, nn.MaxPool2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        return "maxpool", f"{kernel}x{kernel} max pool" + (f", /{stride}" if stride > 1 else "")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "avgpool", "avg pool"
    if isinstance(module, nn.AvgPool2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        return "avgpool", f"{kernel}x{kernel} avg pool" + (f", /{stride}" if stride > 1 else "")
    if isinstance(module, nn.Linear):
        return "fc", f"fc {module.out_features}"
    if isinstance(module, ZeroPadShortcut):
        label = f"zero-pad +{module.extra_channels} ch"
        return "zero_pad", label + (f", /{module.stride}" if module.stride > 1 else "")
    return "other", type(module).__name__


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCTIONS
    return node.op == "call_method" and node.target in ("add", "add_")


def _describe_node(node: fx.Node, root: nn.Module) -> tuple[str, str]:
    if node.op == "call_module":
        return _describe_module(root.get_submodule(node.target))
    if _is_add(node):
        return "add", "+"
    name = getattr(node.target, "__name__", str(node.target))
    return ("flatten", "flatten") if name == "flatten" else ("other", name)


def _cost(node: fx.Node, root: nn.Module, shape: Shape) -> tuple[int, int]:
    """Parameters and mult-adds as torchinfo counts them: convs pay per output pixel."""
    if node.op != "call_module":
        return 0, 0
    module = root.get_submodule(node.target)
    params = sum(p.numel() for p in module.parameters())
    if isinstance(module, nn.modules.conv._ConvNd):
        return params, params * shape[0] * math.prod(shape[2:])
    return params, params * shape[0]


def _output(node: fx.Node, root: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
    """The op's output on meta tensors.

    Ops whose output shape is fixed by their definition skip their meta kernels, which are Python
    decompositions: slow, and the first of them in a process imports torch's compiler (~1.5 s).
    Those are shape-keeping layers (batch norm, ReLU), sums of equal shapes, adaptive pools and
    linear layers on matching inputs. Convs and pools, which decide the geometry, always run.
    """
    if node.op == "call_module":
        module = root.get_submodule(node.target)
        x = args[0]
        if isinstance(module, _SHAPE_KEEPING):
            return x
        if isinstance(module, nn.AdaptiveAvgPool2d):
            size = module.output_size
            size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
            size = tuple(d if d is not None else x.shape[-2 + i] for i, d in enumerate(size))
            return x.new_empty((*x.shape[:-2], *size))
        if isinstance(module, nn.Linear) and x.shape[-1] == module.in_features:
            return x.new_empty((*x.shape[:-1], module.out_features))
        return module(*args, **kwargs)
    if _is_add(node) and len(args) == 2 and args[0].shape == args[1].shape:
        return args[0].new_empty(args[0].shape)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    raise SpecError(f"Cannot follow the traced op {node.op} {node.target}.")


def _propagate(graph: fx.Graph, root: nn.Module, inputs: list[torch.Tensor]) -> dict[fx.Node, torch.Tensor]:
    """Every node's output on meta tensors, in graph order."""
    values: dict[fx.Node, torch.Tensor] = {}
    pending = iter(inputs)
    load = values.__getitem__
    with torch.no_grad():
        for node in graph.nodes:
            if node.op == "placeholder":
                values[node] = next(pending)
            elif node.op == "output":
                values[node] = load(node.args[0])
            else:
                args = fx.node.map_arg(node.args, load)
                values[node] = _output(node, root, args, fx.node.map_arg(node.kwargs, load))
    return values


def _block_key(block: ResidualBlock) -> tuple:
    """Everything a block's `forward` can depend on: its modules and its plain attributes."""
    plain = tuple(sorted(
        (name, value) for name, value in vars(block).items()
        if not name.startswith("_") and name not in _ANALYSIS_ATTRIBUTES
        and isinstance(value, (bool, int, float, str, type(None)))
    ))
    return type(block), repr(block), plain


# ----- one block: layers, shortcut path and the derived shortcut kind ------------------------


@dataclass(frozen=True)
class _Op:
    """A traced op inside a block, relative to the block (ids are module paths or fx names)."""

    local: str
    kind: str
    label: str
    module: str | None
    shape: Shape
    params: int
    mult_adds: int
    role: str
    inputs: tuple[tuple[str | None, str], ...]  # (local id or None for the block input, edge kind)


@dataclass(frozen=True)
class _BlockLayout:
    """What a block does to one input shape; shared by every identical block."""

    ops: tuple[_Op, ...]
    exit: str  # local id of the op whose output leaves the block
    shortcut_kind: str  # derived from the traced ops
    shortcut_label: str
    shortcut_shape: Shape | None
    shortcut_params: int
    conv_labels: tuple[str, ...]  # main-path convs, the paper's table style ("3x3, 128, /2")
    input_shape: Shape
    output_shape: Shape

    @property
    def params(self) -> int:
        return sum(op.params for op in self.ops)

    @property
    def mult_adds(self) -> int:
        return sum(op.mult_adds for op in self.ops)


def _ancestors(node: fx.Node) -> set[fx.Node]:
    seen, stack = {node}, [node]
    while stack:
        for parent in stack.pop().all_input_nodes:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _weighted(nodes: set[fx.Node], root: nn.Module) -> int:
    return sum(
        1 for n in nodes
        if n.op == "call_module" and any(True for _ in root.get_submodule(n.target).parameters())
    )


def _split_at_sum(add: fx.Node, root: nn.Module) -> tuple[set[fx.Node], fx.Node]:
    """The ops on the shortcut path of a sum, and the node the shortcut branches off.

    Each operand of the sum owns the ops that only it depends on. The shortcut is the operand
    with fewer weighted layers (an identity owns none; a projection owns one 1x1 conv, while the
    residual branch has two or three convs); ties go to the one with fewer ops.
    """
    left, right = add.all_input_nodes[0], add.all_input_nodes[-1]
    left_all, right_all = _ancestors(left), _ancestors(right)
    left_own, right_own = left_all - right_all, right_all - left_all

    def weight(own: set[fx.Node]) -> tuple[int, int]:
        return _weighted(own, root), len(own)

    own, tip = (left_own, left) if weight(left_own) <= weight(right_own) else (right_own, right)
    if not own:
        return own, tip
    # fx keeps nodes in topological order: the first owned node is where the path starts.
    first = next(n for n in add.graph.nodes if n in own)
    branch = next(p for p in first.all_input_nodes if p not in own)
    return own, branch


def _classify(own: set[fx.Node], root: nn.Module, branch_shape: Shape, sum_shape: Shape) -> str:
    """The shortcut kind, from what lies on its path."""
    if not own:
        return "identity"
    if _weighted(own, root):
        pooled = any(
            (n.op == "call_module" and isinstance(root.get_submodule(n.target), nn.AvgPool2d))
            or getattr(n.target, "__name__", "") == "avg_pool2d"
            for n in own
        )
        return "pooled_projection" if pooled else "projection"
    return "identity_pad" if branch_shape != sum_shape else "identity"


def _layout(graph: fx.Graph, block: nn.Module, input_value: torch.Tensor) -> _BlockLayout:
    values = _propagate(graph, block, [input_value])
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    placeholder = next(n for n in graph.nodes if n.op == "placeholder")
    output = next(n for n in graph.nodes if n.op == "output")
    sums = [n for n in nodes if _is_add(n)]
    shape = {n: tuple(values[n].shape) for n in graph.nodes}
    own: set[fx.Node] = set()
    kind, add, tip = "none", None, None
    if sums:
        add = sums[-1]
        own, branch = _split_at_sum(add, block)
        kind = _classify(own, block, shape[branch], shape[add])
        tip = next(p for p in add.all_input_nodes if p in own or p is branch)

    def edge_kind(src: fx.Node, dst: fx.Node) -> str:
        return kind if dst in own or (dst is add and src is tip) else "main"

    ops = []
    for node in nodes:
        op_kind, label = _describe_node(node, block)
        params, mult_adds = _cost(node, block, shape[node])
        inputs = tuple(
            (None if p is placeholder else _local(p), edge_kind(p, node)) for p in node.all_input_nodes
        )
        ops.append(_Op(
            local=_local(node), kind=op_kind, label=label,
            module=node.target if node.op == "call_module" else None, shape=shape[node],
            params=params, mult_adds=mult_adds, role="shortcut" if node in own else "main",
            inputs=inputs,
        ))
    shortcut_ops = [op for op in ops if op.role == "shortcut"]
    conv_labels = tuple(
        op.label.replace(" conv", "") for op in ops if op.kind == "conv" and op.role == "main"
    )
    exit_node = output.all_input_nodes[0]
    return _BlockLayout(
        ops=tuple(ops),
        exit=_local(exit_node),
        shortcut_kind=kind,
        shortcut_label="; ".join(op.label for op in shortcut_ops if op.kind != "bn"),
        shortcut_shape=shape[tip] if tip is not None else None,
        shortcut_params=sum(op.params for op in shortcut_ops),
        conv_labels=conv_labels,
        input_shape=tuple(input_value.shape),
        output_shape=shape[exit_node],
    )


def _local(node: fx.Node) -> str:
    return node.target if node.op == "call_module" else node.name


# ----- the whole network ----------------------------------------------------------------------


@dataclass(frozen=True)
class _BlockUse:
    prefix: str  # module path, e.g. "layer2.0"
    stage: int
    index: int
    layout: _BlockLayout


def _walk(spec: ResNetSpec) -> tuple[list, Shape]:
    """Trace the network once and propagate shapes; identical blocks share their layout."""
    model = build_model(spec).eval()
    graph = _NetworkTracer().trace(model)
    x = torch.empty(1, spec.in_channels, spec.input_size, spec.input_size, device="meta")
    traces: dict[tuple, fx.Graph] = {}
    layouts: dict[tuple, _BlockLayout] = {}
    values: dict[fx.Node, torch.Tensor] = {}
    items: list = []
    seen_block = False
    with torch.no_grad():
        for node in graph.nodes:
            if node.op == "placeholder":
                values[node] = x
                items.append(GraphNode("input", "input", "input", None, tuple(x.shape), 0, 0,
                                       None, None, "input"))
                continue
            if node.op == "output":
                continue
            args = fx.node.map_arg(node.args, values.__getitem__)
            module = model.get_submodule(node.target) if node.op == "call_module" else None
            if isinstance(module, ResidualBlock):
                key = _block_key(module)
                if key not in traces:
                    traces[key] = _BlockTracer().trace(module)
                layout_key = (key, tuple(args[0].shape))
                if layout_key not in layouts:
                    layouts[layout_key] = _layout(traces[key], module, args[0])
                layout = layouts[layout_key]
                values[node] = torch.empty(layout.output_shape, device="meta")
                items.append(_BlockUse(node.target, module.stage, module.index, layout))
                seen_block = True
                continue
            kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
            values[node] = _output(node, model, args, kwargs)
            kind, label = _describe_node(node, model)
            shape = tuple(values[node].shape)
            params, mult_adds = _cost(node, model, shape)
            items.append(GraphNode(
                node.target if node.op == "call_module" else node.name, kind, label,
                node.target if node.op == "call_module" else None, shape, params, mult_adds,
                None, None, "head" if seen_block else "stem",
            ))
    output_shape = items[-1].shape
    return items, output_shape


def _layer_view(items: list, output_shape: Shape) -> ArchGraph:
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    exit_id = None
    for item in items:
        if isinstance(item, GraphNode):
            if exit_id is not None:
                edges.append(GraphEdge(exit_id, item.id, "main", nodes[-1].shape))
            nodes.append(item)
            exit_id = item.id
            continue
        layout, prefix = item.layout, item.prefix
        entry_id, entry_shape = exit_id, layout.input_shape
        shapes = {}
        for op in layout.ops:
            node_id = f"{prefix}.{op.local}"
            shapes[op.local] = op.shape
            nodes.append(GraphNode(
                node_id, op.kind, op.label, f"{prefix}.{op.module}" if op.module else None,
                op.shape, op.params, op.mult_adds, item.stage, item.index, op.role,
            ))
            for src, kind in op.inputs:
                src_id = entry_id if src is None else f"{prefix}.{src}"
                src_shape = entry_shape if src is None else shapes[src]
                edges.append(GraphEdge(src_id, node_id, kind, src_shape))
        exit_id = f"{prefix}.{layout.exit}"
    nodes.append(GraphNode("output", "output", "output", None, output_shape, 0, 0, None, None,
                           "output"))
    edges.append(GraphEdge(exit_id, "output", "main", output_shape))
    return ArchGraph("layer", tuple(nodes), tuple(edges))


#: Block view: these layers fold into the layer before them (a conv's BN and ReLU, a pool's flatten).
_FOLLOWERS = ("bn", "relu", "flatten")


def _block_label(use: _BlockUse) -> str:
    name = f"{stage_name(use.stage)[:-2]}_{use.index + 1}"
    return "\n".join((name,) + use.layout.conv_labels)


def _block_view(items: list, output_shape: Shape) -> ArchGraph:
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    exit_id: str | None = None
    exit_shape: Shape | None = None
    mergeable = False  # whether the last node is a top-level layer that can absorb BN/ReLU
    for item in items:
        if isinstance(item, GraphNode):
            if mergeable and item.kind in _FOLLOWERS:
                last = nodes[-1]
                label = last.label if last.kind not in ("bn", "relu") else f"{last.label}, {item.label}"
                nodes[-1] = GraphNode(
                    last.id, last.kind, label, last.module, item.shape, last.params + item.params,
                    last.mult_adds + item.mult_adds, None, None, last.role,
                )
                exit_shape = item.shape
                continue
            if exit_id is not None:
                edges.append(GraphEdge(exit_id, item.id, "main", exit_shape))
            nodes.append(item)
            exit_id, exit_shape = item.id, item.shape
            mergeable = item.kind != "input"
            continue
        layout = item.layout
        body = GraphNode(
            item.prefix, "block", _block_label(item), item.prefix, layout.output_shape,
            layout.params, layout.mult_adds, item.stage, item.index, "main",
        )
        nodes.append(body)
        edges.append(GraphEdge(exit_id, body.id, "main", exit_shape))
        if layout.shortcut_kind != "none":
            has_relu = any(op.kind == "relu" and op.local == layout.exit for op in layout.ops)
            add = GraphNode(
                f"{item.prefix}.add", "add", "+ ReLU" if has_relu else "+", None,
                layout.output_shape, 0, 0, item.stage, item.index, "main",
            )
            nodes.append(add)
            edges.append(GraphEdge(body.id, add.id, "main", layout.output_shape))
            edges.append(GraphEdge(exit_id, add.id, layout.shortcut_kind, layout.shortcut_shape,
                                   layout.shortcut_label))
            exit_id = add.id
        else:
            exit_id = body.id
        exit_shape = layout.output_shape
        mergeable = False
    nodes.append(GraphNode("output", "output", "output", None, output_shape, 0, 0, None, None,
                           "output"))
    edges.append(GraphEdge(exit_id, "output", "main", output_shape))
    return ArchGraph("block", tuple(nodes), tuple(edges))


def trace_graph(spec: ResNetSpec, view: str = "block") -> ArchGraph:
    """The network's graph: one node per block ("block") or per op ("layer").

    Raises SpecError for an invalid spec or an unknown view.
    """
    if view not in VIEWS:
        raise SpecError(f"The view must be one of {', '.join(map(repr, VIEWS))}, not {view!r}.")
    items, output_shape = _walk(spec)
    return _block_view(items, output_shape) if view == "block" else _layer_view(items, output_shape)


# ----- a single block, for the block explorer -------------------------------------------------


def _chw(shape: Shape) -> str:
    return "x".join(str(d) for d in shape[1:])


def _reason(layout: _BlockLayout, stride: int) -> str:
    """Why the shortcut is solid or dashed, from the traced shapes and ops."""
    before, after = layout.input_shape, layout.output_shape
    kind = layout.shortcut_kind
    if kind == "identity":
        return (f"Solid: input and output are both {_chw(before)}, so the shortcut is the identity: "
                f"x passes unchanged to the sum and adds no parameters.")
    changes = []
    if before[1] != after[1]:
        changes.append(f"channels {before[1]} -> {after[1]}")
    if before[2:] != after[2:]:
        changes.append(f"resolution {before[2]}x{before[3]} -> {after[2]}x{after[3]}")
    what = (f"the block changes the shape from {_chw(before)} to {_chw(after)} "
            f"({', '.join(changes)})") if changes else None
    weights = f"{layout.shortcut_params:,} parameters"
    if kind == "identity_pad":
        return (f"Dashed: {what}; option A subsamples x by {stride} and appends zero channels "
                f"({layout.shortcut_label}), so the shortcut still has no parameters.")
    if kind == "pooled_projection":
        return (f"Dashed: {what}; a {stride}x{stride} average pool lowers the resolution, then a "
                f"1x1 conv matches the channels (ResNet-D, {weights}).")
    if what is None:
        return (f"Dashed: the shape ({_chw(before)}) does not change, but option C puts a "
                f"1x1 projection on every shortcut ({weights}).")
    step = f" with stride {stride}" if stride > 1 else ""
    return (f"Dashed: {what}, so x cannot be added as it is; a 1x1 conv{step} projects it "
            f"({weights}).")


_NETWORK_WORDS = ((re.compile(r"\bBlock conv2_(?:x_)?1\b"), "The block"),
                  (re.compile(r"\bblock conv2_(?:x_)?1\b"), "the block"),
                  (re.compile(r"\bStage conv2_x's\b"), "The block's"),
                  (re.compile(r"\bstage conv2_x\b"), "the block"))


def _about_the_block(message: str) -> str:
    """The spec's message for the one-block network, reworded: the page has no stages."""
    for pattern, words in _NETWORK_WORDS:
        message = pattern.sub(words, message)
    return message


def inspect_block(
    block: str, in_channels: int, out_channels: int, stride: int, shortcut: str,
    input_shape: tuple[int, int, int, int], *, stride_in: str = "3x3", preact: bool = False,
    groups: int = 1, width_per_group: int = 64,
) -> BlockInspection:
    """Trace one residual block on a given input: its layers, shapes and shortcut.

    `shortcut` is the paper's option ('A', 'B', 'C', or 'D'); `out_channels` is the block's
    output (a bottleneck's is 4x its width). Raises SpecError for a block that cannot be built.
    """
    check_block_arguments(**locals())  # first line: locals() holds exactly the arguments
    if block not in BLOCKS:
        raise SpecError(f"block must be one of {', '.join(map(repr, BLOCKS))}, not {block!r}.")
    if len(input_shape) != 4 or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise SpecError(f"The input shape must be four positive whole numbers (N, C, H, W), "
                        f"not {tuple(input_shape)!r}.")
    if input_shape[1] != in_channels:
        raise SpecError(f"The input has {input_shape[1]} channels but the block expects "
                        f"{in_channels}.")
    expansion = 4 if block == "bottleneck" else 1
    if out_channels % expansion:
        raise SpecError(f"A bottleneck's output channels are 4x its width: {out_channels} is not "
                        f"a multiple of 4.")
    height, width = input_shape[2:]
    if min(height, width) < stride:
        raise SpecError(f"A {height}x{width} input is too small for this block: its "
                        f"stride-{stride} convs need at least {stride}x{stride}.")
    # A one-block network behind a size-keeping stem: the spec's own checks then cover the block.
    try:
        spec = ResNetSpec(
            block=block, layers=(1,), widths=(max(out_channels // expansion, 1),),
            strides=(stride,), stem="cifar", stem_width=in_channels, stride_in=stride_in,
            shortcut=shortcut, preact=preact, relu_after_add=not preact, groups=groups,
            width_per_group=width_per_group, num_classes=1, in_channels=in_channels,
            input_size=min(input_shape[2:]),
        ).validate()
    except SpecError as error:
        raise SpecError(_about_the_block(str(error))) from None
    plan = spec.blocks()[0]
    with torch.device("meta"):
        module = ResidualBlock(spec, plan).eval()
    x = torch.empty(tuple(input_shape), device="meta")
    layout = _layout(_BlockTracer().trace(module), module, x)
    use = _BlockUse("block", 0, 0, layout)
    source = GraphNode("input", "input", "input", None, tuple(x.shape), 0, 0, None, None, "input")
    graph = _layer_view([source, use], layout.output_shape)
    # A block on its own belongs to no stage: drawn without the network's stage clusters.
    alone = tuple(dataclasses.replace(n, stage=None, block=None) for n in graph.nodes)
    return BlockInspection(
        graph=ArchGraph("layer", alone, graph.edges), params=layout.params,
        input_shape=layout.input_shape, output_shape=layout.output_shape,
        shortcut_kind=layout.shortcut_kind, dashed=layout.shortcut_kind in DASHED_KINDS,
        reason=_reason(layout, stride),
    )
