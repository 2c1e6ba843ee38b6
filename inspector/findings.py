"""Findings: a residual-aware check of any analysed network, each with a severity and a fix.

Why: hand-written ResNets carry mistakes that run without an error. A tutorial's "ResNet18" has
10 weighted layers; its last block adds a 512x1x1 branch to a 512x2x2 identity and PyTorch
broadcasts the sum silently; 3x3 convs on 1x1 maps hold millions of weights that only ever meet
padding. Generic model linters know layers, not residual blocks; the analysis already knows every
block, its two paths and their shapes, so each rule here reads the `Structure` (blocks, ops with
their shapes and windows) and says what it finds in one sentence with the numbers.

Severities (`kinds.Severity`): error, the network does not do what it appears to; warning,
wasteful or unusual; note, worth knowing. Each rule's docstring says why it is one. A finding
names where it is (`where`: a module path, a block, or the network), the ops it is about
(`nodes`: the layer view's node ids, marked on both graph views) and what to change (`fix`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from torch import nn

from inspector.formatting import count, shape
from inspector.graph import NodeMark
from inspector.kinds import Rule, Severity
from inspector.op_trace import Op, Shape, Window, _is_library_layer, _names_in_code
from inspector.residual import NONE, Block, Structure

#: Layer names listed in one finding's message before "and N more".
NAMED_IN_MESSAGE = 4
#: Module types that compute nothing of their own: never reported as unused.
_PASS_THROUGH = (nn.Identity, nn.Sequential, nn.ModuleList, nn.ModuleDict)
#: Ops that reduce a map to one value per channel on purpose (global context, SE, the head).
_GLOBAL_REDUCTIONS = frozenset({"mean", "amax", "amin", "sum", "max"})


@dataclass(frozen=True)
class Finding:
    """One thing the check found, with where it is and what to change."""

    severity: Severity
    rule: Rule
    where: str  # module path, block ("blk4"), or the network's name
    message: str  # one sentence with the numbers
    fix: str  # what to change
    nodes: tuple[str, ...] = ()  # op ids (layer-view node ids) the finding marks
    params: int = 0  # parameters it is about (never meeting data, cancelled, unused), else 0
    focus: str | None = None  # the op a link centres on; the first of `nodes` when not given

    @property
    def anchor(self) -> str | None:
        """The op id a link to this finding selects, if it is about a place in the graph."""
        return self.focus or (self.nodes[0] if self.nodes else None)

    @property
    def line(self) -> str:
        """The linter's form: `path: severity: message Fix: ...`."""
        return f"{self.where}: {self.severity}: {self.message} Fix: {self.fix}"

    def to_dict(self) -> dict:
        """Plain JSON values, for `check --format json` and other tools."""
        return {"severity": str(self.severity), "rule": str(self.rule), "where": self.where,
                "message": self.message, "fix": self.fix, "nodes": list(self.nodes),
                "params": self.params, "anchor": self.anchor}


@dataclass(frozen=True)
class Unused:
    """A module (or a parameter of a user's module) defined in `__init__` that `forward` never
    used, with the parameters it holds (its whole subtree)."""

    path: str
    type: str
    params: int


# ----- what the rules read ----------------------------------------------------------------------


def _hw(dims: Shape) -> str:
    return shape(dims[1:])


def _names(paths: list[str]) -> str:
    """'a, b, c and 5 more': a list that stays one readable line."""
    named = ", ".join(paths[:NAMED_IN_MESSAGE])
    more = len(paths) - NAMED_IN_MESSAGE
    return f"{named} and {more} more" if more > 0 else named


def _plural(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class _Network:
    """A structure with the lookups every rule needs, computed once."""

    def __init__(self, structure: Structure, name: str) -> None:
        self.structure = structure
        self.name = name
        self.ops = structure.ops
        self.by_id = structure.by_id
        self.position = {op.id: i for i, op in enumerate(self.ops)}
        self.position["input"] = -1

    @cached_property
    def consumers(self) -> dict[str, list[Op]]:
        readers: dict[str, list[Op]] = {}
        for op in self.ops:
            for parent in op.inputs:
                readers.setdefault(parent, []).append(op)
        return readers

    @cached_property
    def residual_blocks(self) -> list[Block]:
        return [b for b in self.structure.blocks if b.shortcut_kind != NONE]

    def shape_of(self, op_id: str) -> Shape:
        return self.structure.input_shape if op_id == "input" else self.by_id[op_id].shape

    def input_of(self, op: Op) -> Shape | None:
        return self.shape_of(op.inputs[0]) if op.inputs else None

    def path(self, op_id: str) -> str:
        op = self.by_id.get(op_id)
        return (op.module or op.id) if op is not None else op_id

    def block_where(self, block: Block) -> str:
        return block.scope or block.name

    def block_title(self, block: Block) -> str:
        """'blk4 (conv5_1)': the user's name and the paper's."""
        return f"{block.scope} ({block.name})" if block.scope else block.name

    def main_ops(self, block: Block) -> list[Op]:
        """The block's residual branch: its ops off the shortcut, the sum and its ReLU aside."""
        skip = {*block.shortcut_ops, block.add, block.exit}
        return [self.by_id[i] for i in block.ops if i not in skip]

    def side_ops(self, block: Block, main: bool) -> list[Op]:
        return self.main_ops(block) if main else [self.by_id[i] for i in block.shortcut_ops]


# ----- the rules ----------------------------------------------------------------------------------


def _reduces_globally(op: Op, network: _Network) -> bool:
    before = network.input_of(op)
    if len(op.shape) != 4 or op.shape[2:] != (1, 1) or before is None or len(before) != 4:
        return False
    if before[2:] == (1, 1):
        return False
    adaptive_pool = op.kind in ("avgpool", "maxpool") and not op.kernel
    return adaptive_pool or op.label in _GLOBAL_REDUCTIONS


def broadcast_sums(network: _Network) -> Iterator[Finding]:
    """Error: a residual sum whose two operands differ in shape.

    PyTorch broadcasts a dimension of size 1 onto the other operand's size without a word, so a
    block whose branch has shrunk to 1x1 (or to one channel) still runs: it adds the same values
    at every position instead of x + F(x) position by position, which is not what a residual
    block computes. A sum whose smaller operand was pooled globally on purpose (GCNet adds a
    pooled Cx1x1 context to every position) is a design choice and only a note.
    """
    for block in network.residual_blocks:
        if not block.broadcasts:
            continue
        main, short = block.main_shape, block.shortcut_shape
        small_is_main = math.prod(main) < math.prod(short)
        small_side = network.side_ops(block, small_is_main)
        if any(_reduces_globally(op, network) for op in small_side):
            severity = Severity.NOTE
            fix = "Nothing, if adding a global context at every position is the intent."
        else:
            severity = Severity.ERROR
            fix = ("Give both operands the same shape: the same stride and channels on the "
                   "shortcut (a 1x1 conv with BN, the paper's option B) as on the residual "
                   "branch, or no stride on the branch.")
        smaller, larger = ("residual branch", "shortcut") if small_is_main \
            else ("shortcut", "residual branch")
        message = (f"block {network.block_title(block)}: the sum adds {_hw(main)} from the "
                   f"residual branch to {_hw(short)} from the shortcut; PyTorch broadcasts the "
                   f"{smaller}'s {_hw(main if small_is_main else short)} over the {larger}'s "
                   f"{_hw(short if small_is_main else main)}, giving {_hw(block.output_shape)}.")
        yield Finding(severity, Rule.BROADCAST_SUM, network.block_where(block), message, fix,
                      nodes=(block.add,))


def _strided(ops: Iterable[Op]) -> list[Op]:
    return [op for op in ops if op.kernel and op.stride > 1]


def _change(before: Shape, after: Shape) -> str:
    """'2x2 -> 1x1 and 256 -> 512 channels': what a path does to the shape, in words."""
    parts = []
    if before[2:] != after[2:]:
        parts.append(f"{shape(before[2:])} -> {shape(after[2:])}")
    if before[1] != after[1]:
        parts.append(f"{before[1]} -> {after[1]} channels")
    return " and ".join(parts)


def one_path_changes(network: _Network) -> Iterator[Finding]:
    """Error where the sum broadcasts: a stride or a channel change on one path of a block only.

    Both paths of a residual block must change the shape alike: a stride or a new channel count
    on the residual branch needs the same on the shortcut (a projection, or option A's
    subsampling and zero channels). When only one path changes the shape and the sum still
    runs, it broadcasts (see `broadcast_sums`): this finding names the layer that made the
    change and the path that lacks it. A stride on one path that changes nothing (it acts on a
    1x1 map) is a note: the shortcut it implies is an identity, and the stride is dead weight.
    """
    for block in network.residual_blocks:
        before = block.input_shape
        main_change = _change(before, block.main_shape)
        short_change = _change(before, block.shortcut_shape)
        where = network.block_where(block)
        if block.broadcasts and bool(main_change) != bool(short_change):
            on_main = bool(main_change)
            side = network.side_ops(block, on_main)
            doers = _strided(side) or [op for op in side if op.weighted] or side
            doer = doers[0]
            other = ("the shortcut is an identity" if block.shortcut_kind == "identity"
                     else f"the shortcut ({block.shortcut_label or block.shortcut_kind}) keeps "
                          f"{_hw(block.shortcut_shape if on_main else block.main_shape)}")
            path = "residual branch" if on_main else "shortcut"
            message = (f"block {network.block_title(block)}: only the {path} changes the shape "
                       f"({main_change or short_change}, from {network.path(doer.id)}, "
                       f"{doer.label}); {other if on_main else 'the residual branch does not'}.")
            fix = ("Add the same change to the shortcut: a 1x1 conv with stride "
                   f"{doer.stride if doer.kernel else 1} and BN to {block.main_shape[1]} "
                   f"channels (option B)." if on_main else
                   "Give the residual branch the shortcut's stride and channels, or drop them "
                   "from the shortcut.")
            yield Finding(Severity.ERROR, Rule.ONE_PATH_CHANGE, where, message, fix,
                          nodes=(doer.id,))
            continue
        if block.broadcasts:
            continue
        for main_side in (True, False):
            side = network.side_ops(block, main_side)
            other = network.side_ops(block, not main_side)
            idle = [op for op in _strided(side) if (network.input_of(op) or ())[2:] == (1, 1)]
            if idle and not _strided(other):
                op = idle[0]
                message = (f"block {network.block_title(block)}: {network.path(op.id)} "
                           f"({op.label}) has stride {op.stride} on the "
                           f"{'residual branch' if main_side else 'shortcut'} only, but acts "
                           f"on a 1x1 map and changes nothing: the shortcut it implies is an "
                           f"identity.")
                yield Finding(Severity.NOTE, Rule.ONE_PATH_CHANGE, where, message,
                              "Drop the stride, or give the network a larger input.",
                              nodes=(op.id,))


def live_taps(window: Window, size: int) -> int:
    """How many of the kernel's taps along one axis ever read a data position (not padding).

    Output position o reads input index o * stride - pad_before + t * dilation with tap t;
    the tap is live when some output position puts that index inside 0 .. size - 1. Padding
    that copies data (reflect, replicate, circular) is data: every tap is live.
    """
    if not window.zeros:
        return window.kernel
    span = window.dilation * (window.kernel - 1)
    outputs = (size + window.pad_before + window.pad_after - span - 1) // window.stride + 1
    live = 0
    for tap in range(window.kernel):
        low = window.pad_before - tap * window.dilation  # o * stride must reach this...
        high = size - 1 + low  # ...and stay at or below this
        first = max(0, -(-low // window.stride))
        live += first < outputs and first * window.stride <= high
    return live


def dead_taps(network: _Network) -> Iterator[Finding]:
    """Warning: convolutions whose kernel reaches past the feature map from every position.

    A 3x3 conv on a 1x1 map with padding 1 multiplies 8 of its 9 taps by padding zeros wherever
    it is applied: those weights never meet data, get no gradient from it and only cost memory.
    Which taps ever touch a data position follows exactly from the input size, the padding, the
    stride and the dilation (`live_taps`, per axis); the finding gives the weights of the others.
    """
    for op in network.ops:
        before = network.input_of(op)
        if op.kind != "conv" or not op.windows or before is None \
                or len(before) != 2 + len(op.windows):
            continue
        sizes = before[2:]
        live = [live_taps(w, n) for w, n in zip(op.windows, sizes)]
        taps = math.prod(w.kernel for w in op.windows)
        alive = math.prod(live)
        if alive == taps:
            continue
        weights = op.params - (op.shape[1] if op.bias else 0)
        dead = weights // taps * (taps - alive)
        kernel = "x".join(str(w.kernel) for w in op.windows)
        pads = sorted({w.pad_before for w in op.windows} | {w.pad_after for w in op.windows})
        message = (f"{kernel} conv on a {'x'.join(map(str, sizes))} map (padding "
                   f"{'/'.join(map(str, pads))}, stride {op.stride}): {taps - alive} of its "
                   f"{taps} kernel taps only ever multiply padding, so {count(dead)} of its "
                   f"{count(weights)} weights never meet data.")
        fix = ("Use a smaller kernel here (1x1 on a 1x1 map), a larger input, or fewer "
               "downsampling steps before this layer.")
        yield Finding(Severity.WARNING, Rule.DEAD_TAPS, network.path(op.id), message, fix,
                      nodes=(op.id,), params=dead)


def _stage_of(network: _Network, op: Op) -> int:
    block = network.structure.block_of.get(op.id)
    if block is not None:
        return block.stage
    return network.structure.stage_of.get(op.id, -1)


def early_collapse(network: _Network) -> Iterator[Finding]:
    """Note: the map reaches 1x1 before the last stage.

    From there on every 3x3 conv sees one pixel and padding (see `dead_taps`), strides change
    nothing and the stages after it work on a vector. The trunk's collapse is a strided conv or
    a fixed-window pool to 1x1 outside the head, where the block around it ends at 1x1 too
    (the global pools of squeeze-and-excitation branches are not the trunk's).
    """
    stages = len(network.structure.facts.stages)
    for op in network.ops:
        before = network.input_of(op)
        if not op.kernel or len(op.shape) != 4 or op.shape[2:] != (1, 1) or before is None \
                or before[2:] == (1, 1) or network.structure.role_of.get(op.id) == "head":
            continue
        block = network.structure.block_of.get(op.id)
        if block is not None and block.output_shape[2:] != (1, 1):
            continue
        stage = _stage_of(network, op)
        if stage >= stages - 1:
            return
        after = [b for b in network.structure.blocks if b.stage > stage]
        where = "the stem" if stage < 0 else f"conv{stage + 2}_x"
        message = (f"the map is 1x1 after {network.path(op.id)} ({op.label}, in {where}), "
                   f"before the last stage: the {_plural(len(after), 'block')} after it work "
                   f"on single pixels.")
        fix = "Use a larger input or fewer stride-2 steps, so the last stage still sees a map."
        yield Finding(Severity.NOTE, Rule.EARLY_COLLAPSE, network.path(op.id), message, fix,
                      nodes=(op.id,))
        return


def input_covered(network: _Network) -> Iterator[Finding]:
    """Note: blocks after the receptive field has covered the whole input.

    Along the main path each k x k layer widens the field by (k - 1) x dilation x the product
    of the strides before it. Once the field spans the input, each later position already sees
    the whole image: the blocks after that add depth, not context. Normal in a classifier, worth
    knowing when choosing an input size or a depth.
    """
    structure = network.structure
    side = max(structure.input_shape[2:], default=0)
    shortcut = {i for b in structure.blocks for i in b.shortcut_ops}
    field, jump = 1, 1
    for op in network.ops:
        if op.id in shortcut or structure.role_of.get(op.id) == "head":
            continue
        if op.kernel and op.kind in ("conv", "maxpool", "avgpool"):
            dilation = op.windows[0].dilation if op.windows else 1
            field += (op.kernel - 1) * dilation * jump
            jump *= op.stride
        if field >= side:
            at = network.position[op.id]
            after = [b for b in structure.blocks if network.position[b.ops[0]] > at]
            if after:
                names = [network.block_where(b) for b in after]
                message = (f"the receptive field reaches {field} px at {network.path(op.id)}, "
                           f"covering the whole {shape(structure.input_shape[2:])} input; the "
                           f"{_plural(len(after), 'block')} after it ({_names(names)}) "
                           f"add{'s' if len(after) == 1 else ''} depth but no wider view.")
                fix = ("Nothing to change for a classifier; for finer detail use a larger "
                       "input or fewer downsampling steps.")
                yield Finding(Severity.NOTE, Rule.INPUT_COVERED, network.path(op.id), message,
                              fix, focus=op.id)
            return


def bias_before_norm(network: _Network) -> Iterator[Finding]:
    """Warning: a conv or linear bias immediately followed by a BatchNorm.

    BatchNorm (and SyncBatchNorm, InstanceNorm) subtracts the per-channel mean of its input,
    which removes any per-channel constant: the bias is cancelled and the norm's own shift
    (beta) does its job. The paper's convs have no bias for this reason; the parameters are
    wasted and the optimiser still updates them.
    """
    found: list[tuple[Op, Op]] = []
    for op in network.ops:
        if op.kind not in ("conv", "fc") or not op.bias:
            continue
        after = network.consumers.get(op.id, [])
        if len(after) == 1 and after[0].kind == "bn" and after[0].inputs == (op.id,):
            found.append((op, after[0]))
    if not found:
        return
    paths = [network.path(op.id) for op, _ in found]
    total = sum(op.shape[1] for op, _ in found)  # one bias per output channel or feature
    norms = "/".join(sorted({norm.type for _, norm in found}))
    one = len(found) == 1
    message = (f"{_plural(len(found), 'layer')} ({_names(paths)}) "
               f"{'has a bias' if one else 'have biases'} right before a {norms}, whose mean "
               f"subtraction cancels {'it' if one else 'them'}: {count(total)} parameters "
               f"that do nothing.")
    yield Finding(Severity.WARNING, Rule.BIAS_BEFORE_NORM, paths[0] if one else network.name,
                  message, "Create these layers with bias=False.",
                  nodes=tuple(op.id for op, _ in found), params=total)


#: A family name followed by the depth it states: resnet18, ResNet_50, WRN-28-10,
#: preact_resnet164, CifarResNet20 (the leftmost family wins: wide_resnet50_2 is a ResNet-50).
_DEPTH_NAME = re.compile(
    r"(wrn|wide_?res_?net|pre_?act_?res_?net|se_?res_?ne_?xt|se_?res_?net|res_?ne_?xt"
    r"|res2_?net|res_?ne_?st|res_?net|plain)[-_ ]?(\d{1,4})(?!\d)", re.IGNORECASE)


def stated_depth(name: str) -> tuple[str, int] | None:
    """(family, depth) that a name states, e.g. ('wrn', 28) for 'WRN_28_10'; None if none."""
    found = _DEPTH_NAME.search(name)
    if found is None:
        return None
    return found.group(1).lower().replace("_", ""), int(found.group(2))


def depth_name(network: _Network) -> Iterator[Finding]:
    """Warning: a name that states a depth other than its family's own count.

    The ResNet paper counts weighted layers on the main path with the fc and without shortcut
    projections (ResNet-34 = 1 + 2 x 16 + 1); the Wide ResNet paper counts every convolution,
    the shortcut projections included, and not the fc (WRN-28-10: 28; 26 by the ResNet count,
    which is therefore no finding). A name that promises 18 layers on a network of 10 misleads
    everyone who reads the code, the logs and the papers' tables next to it.
    """
    stated = stated_depth(network.name)
    if stated is None:
        return
    family, named = stated
    facts = network.structure.facts
    if family == "wrn":
        counted = sum(op.kind == "conv" and op.weighted for op in network.ops)
        how = (f"{counted} convolutions, the shortcut projections included and the fc not, "
               f"as the Wide ResNet paper counts")
    else:
        counted = facts.depth
        how = f"{counted} weighted layers as the ResNet paper counts: {facts.depth_explanation}"
    if counted == named:
        return
    message = f"named {named}, counts {how}."
    fix = (f"Rename it after its depth ({counted}), or give it the layers its name states.")
    yield Finding(Severity.WARNING, Rule.DEPTH_NAME, network.name, message, fix)


def _activation_order(network: _Network, block: Block) -> tuple[bool, bool]:
    """(starts with a norm or activation, ReLU after the sum)."""
    main = network.main_ops(block)
    pre = bool(main) and main[0].kind in ("bn", "relu")
    return pre, block.exit != block.add


def activation_order(network: _Network) -> Iterator[Finding]:
    """Note: blocks that mix the two activation orders.

    The ResNet paper's blocks are post-activation: conv-BN-ReLU, conv-BN, then the sum and a
    ReLU after it (He et al. 2015, figure 2). Pre-activation blocks (He et al. 2016) put BN-ReLU
    before each conv and leave the sum without a ReLU, so the identity path stays clean. A block
    that starts with a conv and has no ReLU after its sum, or one that starts with BN-ReLU and
    has one, is neither; so is a network with blocks of both kinds. Such networks train, but
    not as either paper's did (placing the ReLU after the sum is worth about 1.5 points on
    CIFAR-10 in a common re-implementation).
    """
    blocks = network.residual_blocks
    orders = {block.name: _activation_order(network, block) for block in blocks}
    post_bare = [b for b in blocks if orders[b.name] == (False, False)]
    pre_relu = [b for b in blocks if orders[b.name] == (True, True)]
    kinds = {pre for pre, _ in orders.values()}
    parts, marked = [], []
    if post_bare:
        parts.append(f"{_plural(len(post_bare), 'block')} ({_names([network.block_where(b) for b in post_bare])}) "
                     f"start with a conv (post-activation) but have no ReLU after the sum")
        marked += post_bare
    if pre_relu:
        parts.append(f"{_plural(len(pre_relu), 'block')} ({_names([network.block_where(b) for b in pre_relu])}) "
                     f"start with BN-ReLU (pre-activation) but have a ReLU after the sum")
        marked += pre_relu
    if not parts and len(kinds) > 1:
        pre = [b for b in blocks if orders[b.name][0]]
        parts.append(f"the network mixes {_plural(len(pre), 'pre-activation block')} with "
                     f"{_plural(len(blocks) - len(pre), 'post-activation block')}")
        marked += pre
    if not parts:
        return
    message = "; ".join(parts) + "."
    fix = ("Pick one order: a ReLU after every sum with conv-first blocks (the ResNet paper), or "
           "BN-ReLU before each conv and none after the sum (pre-activation).")
    yield Finding(Severity.NOTE, Rule.ACTIVATION_ORDER, network.name, message, fix,
                  nodes=tuple(b.add for b in marked))


def preact_final_norm(network: _Network) -> Iterator[Finding]:
    """Note: a pre-activation network without BN-ReLU after its last block.

    Pre-activation blocks leave their sum un-normalised and un-activated; the paper (He et al.
    2016) ends the network with BN and ReLU before the global pool, else the classifier reads
    the raw sum of every block's branch.
    """
    blocks = network.residual_blocks
    if not blocks:
        return
    pre = sum(_activation_order(network, b)[0] for b in blocks)
    if pre * 2 <= len(blocks):
        return
    last = blocks[-1]
    kinds = set()
    for op in network.ops[network.position[last.exit] + 1:]:
        if op.kind in ("avgpool", "maxpool", "flatten", "fc") or len(op.shape) != 4:
            break
        kinds.add(op.kind)
    if {"bn", "relu"} <= kinds:
        return
    message = (f"the network's blocks are pre-activation, but the last block "
               f"({network.block_where(last)}) goes to the head without BN-ReLU.")
    yield Finding(Severity.NOTE, Rule.PREACT_FINAL_NORM, network.block_where(last), message,
                  "Add a BatchNorm and a ReLU after the last block, before the pooling.",
                  nodes=(last.add,))


def norm_on_1x1(network: _Network) -> Iterator[Finding]:
    """Note: BatchNorm on 1x1 maps (or on vectors).

    With one value per channel per image, training with a batch of one fails ("Expected more
    than 1 value per channel when training"), and small batches give noisy statistics.
    """
    found = []
    for op in network.ops:
        before = network.input_of(op)
        if op.kind != "bn" or "BatchNorm" not in op.type or before is None:
            continue
        if len(before) == 2 or (len(before) == 4 and before[2:] == (1, 1)):
            found.append(op)
    if not found:
        return
    paths = [network.path(op.id) for op in found]
    message = (f"{_plural(len(found), 'BatchNorm layer')} ({_names(paths)}) "
               f"normalise{'s' if len(found) == 1 else ''} 1x1 maps: training with a batch of "
               f"one fails there and small batches give noisy statistics.")
    yield Finding(Severity.NOTE, Rule.NORM_ON_1X1, paths[0] if len(found) == 1 else network.name,
                  message, "Train with batches of several images, or use a larger input.",
                  nodes=tuple(op.id for op in found))


def unused(network: _Network, modules: tuple[Unused, ...]) -> Iterator[Finding]:
    """Warning: parameters or modules defined but never used in `forward`.

    They still count in the parameter total, go to the optimiser and the checkpoint, and make
    DistributedDataParallel fail unless it is told to look for unused parameters; most often
    they are a mistake in `forward` (a list looped one short, a layer left out).
    """
    if not modules:
        return
    total = sum(m.params for m in modules)
    kinds: dict[str, int] = {}
    for m in modules:
        kinds[m.type] = kinds.get(m.type, 0) + 1
    what = ", ".join(f"{n} {t}" for t, n in kinds.items())
    message = (f"{_plural(len(modules), 'module')} defined in __init__ never run in forward "
               f"({what}: {_names([m.path for m in modules])}), holding "
               f"{count(total)} parameters.")
    where = modules[0].path if len(modules) == 1 else network.name
    yield Finding(Severity.WARNING, Rule.UNUSED, where, message,
                  "Use them in forward, or delete them.", params=total)


_RULES: tuple[Callable[[_Network], Iterator[Finding]], ...] = (
    broadcast_sums, one_path_changes, dead_taps, early_collapse, input_covered,
    bias_before_norm, depth_name, activation_order, preact_final_norm, norm_on_1x1)


def find(structure: Structure, name: str | None = None,
         unused_modules: tuple[Unused, ...] = ()) -> tuple[Finding, ...]:
    """Every finding about the network, most serious first, then in the network's order.

    `name` (default: the structure's) is what the depth-in-the-name rule reads; `unused_modules`
    comes from `unused_in` (only a model given as a module can tell).
    """
    network = _Network(structure, name or structure.name)
    found = [f for rule in _RULES for f in rule(network)]
    found += unused(network, unused_modules)
    order = {rule: i for i, rule in enumerate(Rule)}

    def key(finding: Finding) -> tuple[int, int, int]:
        anchor = finding.anchor
        at = network.position.get(anchor, -1) if anchor else -1
        return finding.severity.rank, at, order[finding.rule]

    return tuple(sorted(found, key=key))


# ----- what forward never touches ----------------------------------------------------------------


def _prefixes(path: str) -> Iterator[str]:
    parts = path.split(".")
    for n in range(1, len(parts) + 1):
        yield ".".join(parts[:n])


def unused_in(model: nn.Module, ops: Iterable[Op]) -> tuple[Unused, ...]:
    """The modules (and user modules' own parameters) that the traced `forward` never ran.

    A library layer ran when it is an op, or inside one (a layer's own sublayers); a user's
    module ran when any op ran inside it, and its own parameters count as used when its code
    reads their names. Pass-through modules (Identity, empty containers) and parameter-free
    user modules are never reported: they leave no op even when they run. Only the outermost
    unused module of a subtree is listed, with the subtree's parameters. Traced in eval mode: a
    module that runs only in training (an auxiliary head) is reported too.
    """
    layers: set[str] = set()
    inside: set[str] = set()  # every module path some op ran in (or as)
    for op in ops:
        for path in (op.module, op.scope):
            if path and path not in inside:
                inside.update(_prefixes(path))
        if op.module:
            layers.add(op.module)
    entries = list(model.named_modules(remove_duplicate=False))
    whole = set(layers)  # library layers that ran as one op, and everything inside them
    ran = {id(model)}
    for path, module in entries:
        if path and path.rpartition(".")[0] in whole:
            whole.add(path)
        if path in inside or path in whole:
            ran.add(id(module))
    found: list[Unused] = []
    quiet: set[str] = set()  # reported modules and everything inside them
    seen: set[int] = set()
    for path, module in entries:
        if id(module) in seen:
            continue
        seen.add(id(module))
        if path and path.rpartition(".")[0] in quiet:
            quiet.add(path)
            continue
        if id(module) not in ran:
            params = sum(p.numel() for p in module.parameters())
            silent = isinstance(module, _PASS_THROUGH) or not _is_library_layer(module)
            if silent and not params:
                continue
            found.append(Unused(path, type(module).__name__, params))
            quiet.add(path)
            continue
        own = [(n, p) for n, p in module._parameters.items() if p is not None]
        if not own or _extends_library_layer(module):
            continue
        read = _names_in_code(type(module))
        found += [Unused(f"{path}.{name}" if path else name, "Parameter", parameter.numel())
                  for name, parameter in own if name not in read]
    return tuple(found)


def _extends_library_layer(module: nn.Module) -> bool:
    """A library layer, or a user's subclass of one (ConvNeXt's `LayerNorm2d(nn.LayerNorm)`):
    torch's own code reads its parameters, so the user's code need not name them."""
    return any(klass is not nn.Module and klass.__module__.startswith(("torch.nn.", "torch.ao.nn."))
               and not issubclass(klass, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
               for klass in type(module).__mro__)


# ----- on the graph ---------------------------------------------------------------------------------


def node_marks(findings: Iterable[Finding]) -> dict[str, tuple[NodeMark, ...]]:
    """The marks each op carries: one per finding that names it, most serious first."""
    marks: dict[str, list[NodeMark]] = {}
    for finding in findings:
        for op_id in finding.nodes:
            marks.setdefault(op_id, []).append(
                NodeMark(finding.severity, finding.rule, finding.message))
    return {op_id: tuple(sorted(found, key=lambda m: m.severity.rank))
            for op_id, found in marks.items()}


def summary(findings: Iterable[Finding]) -> str:
    """'1 error, 2 warnings, 1 note', or 'no findings'."""
    counts = {s: 0 for s in Severity}
    for finding in findings:
        counts[finding.severity] += 1
    parts = [_plural(n, str(s)) for s, n in counts.items() if n]
    return ", ".join(parts) if parts else "no findings"
