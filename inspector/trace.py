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
from functools import lru_cache

import torch
from torch import fx, nn

from inspector.graph import ArchGraph, BlockInspection, GraphEdge, GraphNode, Shape
from inspector.kinds import BlockKind, EdgeKind, NodeKind, Role, ShortcutKind, View
from inspector.model import ResidualBlock, ZeroPadShortcut, build_model
from inspector.spec import ResNetSpec, SpecError, block_name, check_block_arguments, quote

#: Layers whose output has their input's shape (per-element or per-channel maps).
_SHAPE_KEEPING = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
#: Attributes the builder leaves on a block for analysis only; `forward` never reads them.
_ANALYSIS_ATTRIBUTES = frozenset({"stage", "index", "shortcut_kind"})
#: Traced networks kept per process: the Designer asks for both views and the tables of a design.
_TRACES_KEPT = 8


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


def _describe_module(module: nn.Module) -> tuple[NodeKind, str]:
    """(kind, title) of a leaf module, labelled as the paper's figures do."""
    if isinstance(module, nn.Conv2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        title = f"{kernel}x{kernel} conv, {module.out_channels}"
        title += f", /{stride}" if stride > 1 else ""
        title += f", {module.groups} groups" if module.groups > 1 else ""
        return NodeKind.CONV, title
    if isinstance(module, nn.BatchNorm2d):
        return NodeKind.BN, "BN"
    if isinstance(module, nn.ReLU):
        return NodeKind.RELU, "ReLU"
    if isinstance(module, nn.MaxPool2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        return NodeKind.MAXPOOL, f"{kernel}x{kernel} max pool" + (f", /{stride}" if stride > 1 else "")
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return NodeKind.AVGPOOL, "avg pool"
    if isinstance(module, nn.AvgPool2d):
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        return NodeKind.AVGPOOL, f"{kernel}x{kernel} avg pool" + (f", /{stride}" if stride > 1 else "")
    if isinstance(module, nn.Linear):
        return NodeKind.FC, f"fc {module.out_features}"
    if isinstance(module, ZeroPadShortcut):
        title = f"zero-pad +{module.extra_channels} ch"
        return NodeKind.ZERO_PAD, title + (f", /{module.stride}" if module.stride > 1 else "")
    return NodeKind.OTHER, type(module).__name__


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCTIONS
    return node.op == "call_method" and node.target in ("add", "add_")


def _describe_node(node: fx.Node, root: nn.Module) -> tuple[NodeKind, str]:
    if node.op == "call_module":
        return _describe_module(root.get_submodule(node.target))
    if _is_add(node):
        return NodeKind.ADD, "+"
    name = getattr(node.target, "__name__", str(node.target))
    return (NodeKind.FLATTEN, "flatten") if name == "flatten" else (NodeKind.OTHER, name)


def _square(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value[0], value[1]) if isinstance(value, tuple) else (value, value)


def _traced_node(node: fx.Node, root: nn.Module, shape: Shape, input_shape: Shape | None,
                 role: Role) -> GraphNode:
    """One traced op as a graph node, with the costs torchinfo would count for it.

    Convs pay their weights once per output pixel; other layers their parameter count per
    sample. Ids and module paths are relative to `root`; the network's walk prefixes them.
    """
    kind, title = _describe_node(node, root)
    if node.op != "call_module":
        return GraphNode(node.name, kind, title, None, shape, 0, 0, None, None, role,
                         input_shape=input_shape)
    module = root.get_submodule(node.target)
    weights = list(module.parameters())
    params = sum(p.numel() for p in weights)
    pixels = math.prod(shape[2:]) if isinstance(module, nn.modules.conv._ConvNd) else 1
    kernel = stride = groups = None
    if isinstance(module, (nn.modules.conv._ConvNd, nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride = _square(module.kernel_size), _square(module.stride)[0]
        groups = getattr(module, "groups", None)
    return GraphNode(
        node.target, kind, title, node.target, shape, params, params * shape[0] * pixels,
        None, None, role, module_type=type(module).__name__, input_shape=input_shape,
        kernel=kernel, stride=stride, groups=groups,
        trainable=params > 0 and all(p.requires_grad for p in weights),
    )


def _first_input_shape(node: fx.Node, shape: dict[fx.Node, Shape]) -> Shape | None:
    parents = node.all_input_nodes
    return shape[parents[0]] if parents else None


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

    node: GraphNode  # id and module relative to the block; no stage or block yet
    inputs: tuple[tuple[str | None, EdgeKind], ...]  # (local id or None for the block input, kind)


@dataclass(frozen=True)
class _BlockLayout:
    """What a block does to one input shape; shared by every identical block."""

    ops: tuple[_Op, ...]
    exit: str  # local id of the op whose output leaves the block
    shortcut_kind: ShortcutKind  # derived from the traced ops
    shortcut_label: str
    shortcut_shape: Shape | None
    shortcut_params: int
    conv_labels: tuple[str, ...]  # main-path convs, the paper's table style ("3x3, 128, /2")
    input_shape: Shape
    output_shape: Shape

    @property
    def params(self) -> int:
        return sum(op.node.params for op in self.ops)

    @property
    def mult_adds(self) -> int:
        return sum(op.node.mult_adds for op in self.ops)

    @property
    def relu_after_sum(self) -> bool:
        return any(op.node.kind == NodeKind.RELU and op.node.id == self.exit for op in self.ops)


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


def _classify(own: set[fx.Node], root: nn.Module, branch_shape: Shape,
              sum_shape: Shape) -> ShortcutKind:
    """The shortcut kind, from what lies on its path."""
    if not own:
        return ShortcutKind.IDENTITY
    if _weighted(own, root):
        pooled = any(
            (n.op == "call_module" and isinstance(root.get_submodule(n.target), nn.AvgPool2d))
            or getattr(n.target, "__name__", "") == "avg_pool2d"
            for n in own
        )
        return ShortcutKind.POOLED_PROJECTION if pooled else ShortcutKind.PROJECTION
    return ShortcutKind.IDENTITY_PAD if branch_shape != sum_shape else ShortcutKind.IDENTITY


def _layout(graph: fx.Graph, block: nn.Module, input_value: torch.Tensor) -> _BlockLayout:
    values = _propagate(graph, block, [input_value])
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    placeholder = next(n for n in graph.nodes if n.op == "placeholder")
    output = next(n for n in graph.nodes if n.op == "output")
    sums = [n for n in nodes if _is_add(n)]
    shape = {n: tuple(values[n].shape) for n in graph.nodes}
    own: set[fx.Node] = set()
    kind, add, tip = ShortcutKind.NONE, None, None
    if sums:
        add = sums[-1]
        own, branch = _split_at_sum(add, block)
        kind = _classify(own, block, shape[branch], shape[add])
        tip = next(p for p in add.all_input_nodes if p in own or p is branch)

    def edge_kind(src: fx.Node, dst: fx.Node) -> EdgeKind:
        on_shortcut = dst in own or (dst is add and src is tip)
        return EdgeKind.of_shortcut(kind) if on_shortcut else EdgeKind.MAIN

    ops = []
    for node in nodes:
        role = Role.SHORTCUT if node in own else Role.MAIN
        inputs = tuple((None if p is placeholder else _local(p), edge_kind(p, node))
                       for p in node.all_input_nodes)
        traced = _traced_node(node, block, shape[node], _first_input_shape(node, shape), role)
        ops.append(_Op(traced, inputs))
    shortcut_ops = [op.node for op in ops if op.node.role == Role.SHORTCUT]
    conv_labels = tuple(
        op.node.title.replace(" conv", "") for op in ops
        if op.node.kind == NodeKind.CONV and op.node.role == Role.MAIN
    )
    exit_node = output.all_input_nodes[0]
    return _BlockLayout(
        ops=tuple(ops),
        exit=_local(exit_node),
        shortcut_kind=kind,
        shortcut_label="; ".join(n.title for n in shortcut_ops if n.kind != NodeKind.BN),
        shortcut_shape=shape[tip] if tip is not None else None,
        shortcut_params=sum(n.params for n in shortcut_ops),
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


@dataclass(frozen=True)
class _Walk:
    """The network once traced: stem and head layers as nodes, blocks as shared layouts."""

    items: tuple[GraphNode | _BlockUse, ...]
    output_shape: Shape


#: Blocks per stage that are built and traced; later ones repeat the last of these (see `_walk`).
_BLOCKS_BUILT = 2


@lru_cache(maxsize=_TRACES_KEPT)
def _walk(spec: ResNetSpec) -> _Walk:
    """The network's stem, blocks and head, traced with shapes propagated.

    Within a stage, every block after the first gets the same plan (`spec.blocks()`: stride 1,
    equal channels and resolution) and so is built as the same modules. Building ResNet-1202's
    600 blocks on `meta` costs far more than tracing them, so only the first two blocks of each
    stage are built and traced, and the rest repeat the second one's layout under their own
    module paths. Tests hold the result equal to a walk of the full model for every preset, and
    the tables' rows to torchinfo's on the full model.

    Cached per spec (a frozen value): a page that shows both views and the tables of one design
    traces it once. Everything returned is immutable, so sharing it is safe.
    """
    spec.validate()
    built = dataclasses.replace(spec, layers=tuple(min(n, _BLOCKS_BUILT) for n in spec.layers))
    walk = _walk_model(build_model(built).eval(), spec)
    return walk if built.layers == spec.layers else _repeat_blocks(walk, spec.layers)


def _repeat_blocks(walk: _Walk, layers: tuple[int, ...]) -> _Walk:
    """The walk with each stage's last traced block repeated up to the stage's block count."""
    items: list[GraphNode | _BlockUse] = []
    for item in walk.items:
        items.append(item)
        if isinstance(item, _BlockUse) and item.index == _BLOCKS_BUILT - 1:
            stage_path = item.prefix.rpartition(".")[0]  # the stage's nn.Sequential
            items.extend(_BlockUse(f"{stage_path}.{index}", item.stage, index, item.layout)
                         for index in range(_BLOCKS_BUILT, layers[item.stage]))
    return _Walk(tuple(items), walk.output_shape)


def _walk_model(model: nn.Module, spec: ResNetSpec) -> _Walk:
    """Trace a built network on the spec's input; identical blocks share their layout."""
    graph = _NetworkTracer().trace(model)
    x = torch.empty(1, spec.in_channels, spec.input_size, spec.input_size, device="meta")
    traces: dict[tuple, fx.Graph] = {}
    layouts: dict[tuple, _BlockLayout] = {}
    values: dict[fx.Node, torch.Tensor] = {}
    items: list[GraphNode | _BlockUse] = []
    seen_block = False
    with torch.no_grad():
        for node in graph.nodes:
            if node.op == "placeholder":
                values[node] = x
                items.append(GraphNode("input", NodeKind.INPUT, "input", None, tuple(x.shape), 0, 0,
                                       None, None, Role.INPUT))
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
            parents = node.all_input_nodes
            input_shape = tuple(values[parents[0]].shape) if parents else None
            items.append(_traced_node(node, model, tuple(values[node].shape), input_shape,
                                      Role.HEAD if seen_block else Role.STEM))
    return _Walk(tuple(items), items[-1].shape)


def _layer_view(walk: _Walk) -> ArchGraph:
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    exit_id = None
    for item in walk.items:
        if isinstance(item, GraphNode):
            if exit_id is not None:
                edges.append(GraphEdge(exit_id, item.id, EdgeKind.MAIN, nodes[-1].shape))
            nodes.append(item)
            exit_id = item.id
            continue
        layout, prefix = item.layout, item.prefix
        entry_id, entry_shape = exit_id, layout.input_shape
        shapes = {}
        for op in layout.ops:
            local = op.node
            node_id = f"{prefix}.{local.id}"
            shapes[local.id] = local.shape
            nodes.append(dataclasses.replace(
                local, id=node_id, module=f"{prefix}.{local.module}" if local.module else None,
                stage=item.stage, block=item.index,
            ))
            for src, kind in op.inputs:
                src_id = entry_id if src is None else f"{prefix}.{src}"
                src_shape = entry_shape if src is None else shapes[src]
                edges.append(GraphEdge(src_id, node_id, kind, src_shape))
        exit_id = f"{prefix}.{layout.exit}"
    nodes.append(GraphNode("output", NodeKind.OUTPUT, "output", None, walk.output_shape, 0, 0,
                           None, None, Role.OUTPUT))
    edges.append(GraphEdge(exit_id, "output", EdgeKind.MAIN, walk.output_shape))
    return ArchGraph(View.LAYER, tuple(nodes), tuple(edges))


#: Block view: these layers fold into the layer before (a conv's BN and ReLU, a pool's flatten).
_FOLLOWERS = (NodeKind.BN, NodeKind.RELU, NodeKind.FLATTEN)


def _block_view(walk: _Walk) -> ArchGraph:
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    exit_id: str | None = None
    exit_shape: Shape | None = None
    mergeable = False  # whether the last node is a top-level layer that can absorb BN/ReLU
    for item in walk.items:
        if isinstance(item, GraphNode):
            if mergeable and item.kind in _FOLLOWERS:
                last = nodes[-1]
                title = (last.title if last.kind not in (NodeKind.BN, NodeKind.RELU)
                         else f"{last.title}, {item.title}")
                nodes[-1] = dataclasses.replace(
                    last, title=title, shape=item.shape, params=last.params + item.params,
                    mult_adds=last.mult_adds + item.mult_adds,
                )
                exit_shape = item.shape
                continue
            if exit_id is not None:
                edges.append(GraphEdge(exit_id, item.id, EdgeKind.MAIN, exit_shape))
            nodes.append(item)
            exit_id, exit_shape = item.id, item.shape
            mergeable = item.kind != NodeKind.INPUT
            continue
        layout = item.layout
        body = GraphNode(
            item.prefix, NodeKind.BLOCK, block_name(item.stage, item.index), item.prefix,
            layout.output_shape, layout.params, layout.mult_adds, item.stage, item.index, Role.MAIN,
            lines=layout.conv_labels, input_shape=layout.input_shape,
        )
        nodes.append(body)
        edges.append(GraphEdge(exit_id, body.id, EdgeKind.MAIN, exit_shape))
        if layout.shortcut_kind != ShortcutKind.NONE:
            add = GraphNode(
                f"{item.prefix}.add", NodeKind.ADD, "+", None, layout.output_shape, 0, 0,
                item.stage, item.index, Role.MAIN, lines=("ReLU",) if layout.relu_after_sum else (),
            )
            nodes.append(add)
            edges.append(GraphEdge(body.id, add.id, EdgeKind.MAIN, layout.output_shape))
            edges.append(GraphEdge(exit_id, add.id, EdgeKind.of_shortcut(layout.shortcut_kind),
                                   layout.shortcut_shape, layout.shortcut_label))
            exit_id = add.id
        else:
            exit_id = body.id
        exit_shape = layout.output_shape
        mergeable = False
    nodes.append(GraphNode("output", NodeKind.OUTPUT, "output", None, walk.output_shape, 0, 0,
                           None, None, Role.OUTPUT))
    edges.append(GraphEdge(exit_id, "output", EdgeKind.MAIN, walk.output_shape))
    return ArchGraph(View.BLOCK, tuple(nodes), tuple(edges))


@lru_cache(maxsize=2 * _TRACES_KEPT)
def _graph(spec: ResNetSpec, view: View) -> ArchGraph:
    walk = _walk(spec)
    return _block_view(walk) if view == View.BLOCK else _layer_view(walk)


def trace_graph(spec: ResNetSpec, view: View | str = View.BLOCK) -> ArchGraph:
    """The network's graph: one node per block ("block") or per op ("layer").

    The result is immutable and shared between callers asking for the same spec and view.
    Raises SpecError for an invalid spec or an unknown view.
    """
    if view not in View.__members__.values():
        raise SpecError(f"The view must be one of {', '.join(repr(str(v)) for v in View)}, "
                        f"not {view!r}.")
    return _graph(spec, View(view))


# ----- a single block, for the block explorer -------------------------------------------------


def _chw(shape: Shape) -> str:
    return "x".join(str(d) for d in shape[1:])


def _reason(layout: _BlockLayout, stride: int) -> str:
    """Why the shortcut is solid or dashed, from the traced shapes and ops."""
    before, after = layout.input_shape, layout.output_shape
    kind = layout.shortcut_kind
    if kind == ShortcutKind.IDENTITY:
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
    if kind == ShortcutKind.IDENTITY_PAD:
        return (f"Dashed: {what}; option A subsamples x by {stride} and appends zero channels "
                f"({layout.shortcut_label}), so the shortcut still has no parameters.")
    if kind == ShortcutKind.POOLED_PROJECTION:
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
    if block not in BlockKind.__members__.values():
        raise SpecError(f"block must be one of {', '.join(repr(str(b)) for b in BlockKind)}, "
                        f"not {quote(block)}.")
    if len(input_shape) != 4 or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise SpecError(f"The input shape must be four positive whole numbers (N, C, H, W), "
                        f"not {tuple(input_shape)!r}.")
    if input_shape[1] != in_channels:
        raise SpecError(f"The input has {input_shape[1]} channels but the block expects "
                        f"{in_channels}.")
    expansion = 4 if block == BlockKind.BOTTLENECK else 1
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
    source = GraphNode("input", NodeKind.INPUT, "input", None, tuple(x.shape), 0, 0, None, None,
                       Role.INPUT)
    graph = _layer_view(_Walk((source, use), layout.output_shape))
    # A block on its own belongs to no stage: drawn without the network's stage clusters.
    alone = tuple(dataclasses.replace(n, stage=None, block=None) for n in graph.nodes)
    return BlockInspection(
        graph=ArchGraph(View.LAYER, alone, graph.edges), params=layout.params,
        input_shape=layout.input_shape, output_shape=layout.output_shape,
        shortcut_kind=layout.shortcut_kind, dashed=layout.shortcut_kind.dashed,
        reason=_reason(layout, stride),
    )
