"""The graphs of the designs this tool builds, through the same analysis as any user's model.

Why one path: a design's picture and tables must show what its model *does*, and a user's own
network must be drawn by the same rules. So a design's model is built on `meta` and flattened
by `op_trace`, `residual` finds its blocks from the traced sums and reads each shortcut's kind
off the ops on it (never from the spec or from the block class), and `analysis_graph` draws it.

What is particular to our own builder is only what keeps it fast and in the paper's words:
- Within a stage, every block after the first has the same plan (stride 1, equal channels and
  resolution) and so the same modules. Building ResNet-1202's 600 blocks on `meta` costs far
  more than analysing them, so only two blocks per stage are built and the second one's ops are
  repeated under the module paths of the rest. A test holds the result equal to the analysis
  of the full model for every preset.
- Option A's shortcut (`ZeroPadShortcut`) stays one op, "zero-pad +16 ch, /2", as the paper
  describes it, instead of a slice and a pad; ResNet-D's stride-1 pool slot (`nn.Identity`)
  stays an op too, so the layer table has torchinfo's rows.
- A plain design has no sums to find blocks by; its blocks are named by their module paths.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

import torch
from torch import nn

from inspector.analysis_graph import block_view, layer_view, mark_nodes
from inspector.findings import Finding, find, node_marks
from inspector.graph import ArchGraph, BlockInspection, Shape
from inspector.kinds import BlockKind, ShortcutKind, View
from inspector.model import ResidualBlock, ZeroPadShortcut, build_model, stage_path
from inspector.op_trace import Op, flatten_model
from inspector.residual import Block, Structure, assemble
from inspector.spec import ResNetSpec, SpecError, check_block_arguments, quote

#: Traced designs kept per process: the Designer asks for both views and the tables of a design.
_TRACES_KEPT = 8
#: Blocks per stage that are built and traced; later ones repeat the last of these (see `_walk`).
_BLOCKS_BUILT = 2


# ----- a built model, flattened and grouped -------------------------------------------------------


def _zero_pad(op: Op, module: nn.Module) -> Op:
    """Option A's shortcut as the paper names it; other ops as they are."""
    if not isinstance(module, ZeroPadShortcut):
        return op
    label = f"zero-pad +{module.extra_channels} ch" + (
        f", /{module.stride}" if module.stride > 1 else "")
    return dataclasses.replace(op, kind="zero_pad", label=label)


def _analyse(model: nn.Module, input_shape: Shape, plain_blocks: tuple[str, ...] = (),
             layers: tuple[int, ...] | None = None) -> Structure:
    """The generic analysis of one of our models on a meta input of `input_shape`.

    `layers` (the design's blocks per stage) repeats each stage's last built block up to its
    count; `plain_blocks` names a plain design's blocks (see `residual.assemble`).
    """
    ops = flatten_model(model, torch.empty(input_shape, device="meta"), 
                        leaves=(ZeroPadShortcut, nn.Identity))
    ops = [_zero_pad(op, model.get_submodule(op.module)) if op.type == "ZeroPadShortcut" else op
           for op in ops]
    if layers is not None:
        ops = _repeat_blocks(ops, layers)
    return assemble("design", input_shape, ops, sum(op.params for op in ops), plain_blocks)


def _block_of(path: str) -> tuple[str, str]:
    """("layer1.1", ".conv1") for "layer1.1.conv1": a path's first two parts, and the rest."""
    stage, _, rest = path.partition(".")
    block, dot, rest = rest.partition(".")
    return f"{stage}.{block}", dot + rest


def _moved(path: str | None, moves: dict[str, str]) -> str | None:
    """`path` with a leading block path replaced as `moves` says ("layer1.1" -> "layer1.5")."""
    if path is None:
        return None
    block, rest = _block_of(path)
    return moves[block] + rest if block in moves else path


def _renamed(op: Op, moves: dict[str, str]) -> Op:
    return dataclasses.replace(op, id=_moved(op.id, moves), module=_moved(op.module, moves),
                               scope=_moved(op.scope, moves),
                               inputs=tuple(_moved(i, moves) for i in op.inputs))


def _repeat_blocks(ops: list[Op], layers: tuple[int, ...]) -> list[Op]:
    """The ops with each stage's last built block repeated up to the stage's block count.

    Copy `k` of block 1 reads copy `k - 1` where block 1 read block 0, and whatever follows the
    stage reads the last copy.
    """
    last = _BLOCKS_BUILT - 1
    for stage, count in enumerate(layers):
        if count <= _BLOCKS_BUILT:
            continue
        path = stage_path(stage)
        template_path = f"{path}.{last}"
        inside = [i for i, op in enumerate(ops) if _block_of(op.id)[0] == template_path]
        start, end = inside[0], inside[-1] + 1
        template = ops[start:end]
        copies = [_renamed(op, {template_path: f"{path}.{k}",
                                f"{path}.{last - 1}": f"{path}.{k - 1}"})
                  for k in range(_BLOCKS_BUILT, count) for op in template]
        to_last = {template_path: f"{path}.{count - 1}"}
        after = [dataclasses.replace(op, inputs=tuple(_moved(i, to_last) for i in op.inputs))
                 for op in ops[end:]]
        ops = ops[:end] + copies + after
    return ops


def _plain_block_paths(spec: ResNetSpec) -> tuple[str, ...]:
    return tuple(f"{stage_path(p.stage)}.{p.index}" for p in spec.blocks()) \
        if not spec.residual else ()


@lru_cache(maxsize=_TRACES_KEPT)
def _walk(spec: ResNetSpec) -> Structure:
    """The design's model analysed on the spec's input, two blocks per stage built (see the
    module docstring).

    Cached per spec (a frozen value): a page that shows both views and the tables of one design
    traces it once. Everything returned is immutable, so sharing it is safe.
    """
    spec.validate()
    built = dataclasses.replace(spec, layers=tuple(min(n, _BLOCKS_BUILT) for n in spec.layers))
    shape = (1, spec.in_channels, spec.input_size, spec.input_size)
    return _analyse(build_model(built).eval(), shape, _plain_block_paths(spec),
                    None if built.layers == spec.layers else spec.layers)


def design_structure(spec: ResNetSpec) -> Structure:
    """The design analysed (blocks, ops, facts): immutable and shared, see `_walk`."""
    return _walk(spec)


@lru_cache(maxsize=_TRACES_KEPT)
def design_findings(spec: ResNetSpec, name: str | None = None) -> tuple[Finding, ...]:
    """What the check of `inspector.findings` finds in the design, most serious first.

    Sliders can make a design wrong (an input too small for its depth leaves 3x3 convs on 1x1
    maps); the design is checked by the same rules as any model. `name` (a preset's, say) is
    what the findings call the network and what the depth-in-the-name rule reads. Raises
    SpecError for an invalid spec.
    """
    return find(_walk(spec), name)


@lru_cache(maxsize=2 * _TRACES_KEPT)
def _graph(spec: ResNetSpec, view: View) -> ArchGraph:
    structure = _walk(spec)
    graph = block_view(structure) if view == View.BLOCK else layer_view(structure)
    return mark_nodes(graph, structure, node_marks(design_findings(spec)))


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


def _reason(block: Block, shortcut_params: int, stride: int) -> str:
    """Why the shortcut is solid or dashed, from the traced shapes and ops."""
    before, after = block.input_shape, block.output_shape
    kind = block.shortcut_kind
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
    weights = f"{shortcut_params:,} parameters"
    if kind == ShortcutKind.IDENTITY_PAD:
        return (f"Dashed: {what}; option A subsamples x by {stride} and appends zero channels "
                f"({block.shortcut_label}), so the shortcut still has no parameters.")
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
    structure = _analyse(module, tuple(input_shape))
    found = structure.blocks[0]  # a block built with a shortcut always has its sum
    graph = layer_view(structure)
    # A block on its own belongs to no stage: drawn without the network's stage clusters.
    alone = tuple(dataclasses.replace(n, stage=None, block=None) for n in graph.nodes)
    kind = ShortcutKind(found.shortcut_kind)
    shortcut_params = sum(structure.by_id[i].params for i in found.shortcut_ops)
    return BlockInspection(
        graph=ArchGraph(View.LAYER, alone, graph.edges), params=structure.params,
        input_shape=found.input_shape, output_shape=found.output_shape,
        shortcut_kind=kind, dashed=kind.dashed, reason=_reason(found, shortcut_params, stride),
    )
