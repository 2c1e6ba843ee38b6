"""Residual blocks, stages and the paper's numbers, read off a flattened network.

A residual block is a sum whose two operands come from a common fork; the block is the region
between the fork and the sum. The operand with fewer weighted layers is the shortcut, and the ops
on it decide its kind: none -> identity; weight-free subsampling and zero channels -> option A's
"identity_pad"; a 1x1 conv (+ norm) -> "projection"; a pool then a 1x1 conv ->
"pooled_projection" (ResNet-D); anything else -> "other". In a pre-activated network the
BN-ReLU a projection reads belongs to its block too. A stage starts where the shape changes or
where blocks move to another container module (torchvision's `layer1`, `layer2`). Nothing here
knows our builder, so a preset's model and a hand-written one are described by the same rules (a
test holds the result to `compute_facts`); the designs this tool builds come through here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Iterable

from inspector.facts import BYTES_PER_FLOAT, Facts, StageFacts, shortcut_notes
from inspector.op_trace import GATE_NAMES, Op, Shape
from inspector.spec import stage_name
from inspector.kinds import ShortcutKind

#: Shortcut kinds found in traced graphs; the first four are also the spec's and the graph's.
#: NONE marks a plain block (no sum), which only a caller naming its module can show.
IDENTITY, IDENTITY_PAD, PROJECTION, POOLED_PROJECTION, OTHER, NONE = (
    ShortcutKind.IDENTITY, ShortcutKind.IDENTITY_PAD, ShortcutKind.PROJECTION,
    ShortcutKind.POOLED_PROJECTION, ShortcutKind.OTHER, ShortcutKind.NONE)
PROJECTION_KINDS = (PROJECTION, POOLED_PROJECTION)
NO_BLOCKS_NOTE = "no residual blocks found; shown as a plain network"


@dataclass(frozen=True)
class Block:
    """One residual block: the ops between a fork and the sum that closes it."""

    name: str  # the paper's name, e.g. conv3_1
    stage: int
    index: int
    entry: str  # the op (or "input") whose output the block reads
    fork: str  # the op (or "input") whose output both paths read; the entry, or after it
    add: str
    exit: str  # the sum, or the ReLU right after it
    ops: tuple[str, ...]  # every op of the block, in order (shortcut ops included)
    shortcut_ops: tuple[str, ...]
    tip: str  # what delivers the shortcut into the sum: the fork itself for an identity
    shortcut_kind: str
    input_shape: Shape
    output_shape: Shape
    shortcut_shape: Shape
    main_shape: Shape  # what the residual branch delivers into the sum
    main_convs: tuple[str, ...]  # the paper's table style: "3x3, 128, /2"
    shortcut_label: str
    params: int
    mult_adds: int
    scope: str  # path of the module that holds exactly this block's ops, or ""
    #: Weighted layers on the residual branch as the block's family names them: parallel
    #: convs joined by a concatenation (Res2Net's hierarchical 3x3s, a split-transform-merge)
    #: or by a sum of branches (selective kernels) count once; attention branches not at all.
    main_layers: int = 0
    #: Weighted layers on the longest path through the residual branch (attention aside).
    longest_path: int = 0
    #: The ops of side branches whose sigmoid/softmax gates the main path (SE, ECA, CBAM,
    #: SK, split attention): attention, not main-path layers.
    attention_ops: tuple[str, ...] = ()
    attention: str = ""  # in words, e.g. "squeeze-and-excitation (reduction 16)"
    attention_params: int = 0
    #: Sums inside the residual branch that belong to this block (Res2Net's hierarchy).
    inner_sums: tuple[str, ...] = ()

    @property
    def changes_shape(self) -> bool:
        return self.input_shape != self.output_shape

    @property
    def dashed(self) -> bool:
        """The paper's dashed line: the shortcut itself changes the tensor's shape."""
        if self.shortcut_kind == OTHER:
            return self.shortcut_shape != self.input_shape
        return ShortcutKind(self.shortcut_kind).dashed

    @property
    def broadcasts(self) -> bool:
        """The sum's operands differ in shape: PyTorch broadcasts one onto the other."""
        return self.shortcut_shape != self.main_shape


@dataclass(frozen=True)
class _Sum:
    add: str
    fork: str
    region: frozenset[str]
    shortcut: frozenset[str]
    tip: str
    main_tip: str


def _ancestors(start: str, low: int, inputs: dict[str, tuple[str, ...]],
               position: dict[str, int]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for parent in inputs.get(stack.pop(), ()):
            if parent not in seen and position[parent] >= low:
                seen.add(parent)
                stack.append(parent)
    return seen


def _find_sums(ops: list[Op], weighted: Callable[[Iterable[str]], int],
               attention: frozenset[str] = frozenset()) -> list[_Sum]:
    """Every sum whose two operands share a fork, with the ops of its region and shortcut
    (sums inside an attention branch, such as CBAM's avg + max, are the branch's own)."""
    position = {"input": -1, **{op.id: i for i, op in enumerate(ops)}}
    inputs = {op.id: tuple(i for i in op.inputs if i not in attention) for op in ops}
    sums = []
    for op in ops:
        if op.kind != "add" or len(op.inputs) != 2 or op.id in attention:
            continue
        left, right = op.inputs
        low, step = min(position[left], position[right]) - 32, 64
        while True:
            left_all = _ancestors(left, low, inputs, position)
            right_all = _ancestors(right, low, inputs, position)
            common = left_all & right_all
            if common or low < -1:
                break
            low, step = low - step, step * 2
        if not common:
            continue
        fork = max(common, key=position.__getitem__)
        after = position[fork]
        left_own = {n for n in left_all - right_all if position[n] > after}
        right_own = {n for n in right_all - left_all if position[n] > after}
        shortcut_side = min(((weighted(left_own), len(left_own), 0, left_own, left),
                             (weighted(right_own), len(right_own), 1, right_own, right)))
        own, tip = shortcut_side[3], shortcut_side[4]
        main_tip = right if tip is left else left
        region = {n for n in left_all | right_all if position[n] > after} | {op.id}
        sums.append(_Sum(op.id, fork, frozenset(region), frozenset(own),
                         tip if own else fork, main_tip))
    return sums


# ----- attention branches ------------------------------------------------------------------------


def is_gate(op: Op) -> bool:
    """A sigmoid or softmax: what an attention branch multiplies into the main path."""
    return op.type in GATE_NAMES or op.label in GATE_NAMES


def _is_mul(op: Op) -> bool:
    return op.label == "mul" or op.type in ("mul", "__mul__", "__rmul__", "mul_")


def _computes(op: Op) -> bool:
    """Whether an op on a gate's side does the attention's own work (weights or a pooling), so
    that `x * torch.sigmoid(x)`, a hand-written SiLU, is an activation and no attention."""
    return op.params > 0 or op.kind in ("avgpool", "maxpool") or \
        op.type in ("mean", "amax", "max", "sum", "adaptive_avg_pool2d", "adaptive_max_pool2d")


def find_attention(ops: list[Op]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Attention branches: (the ops of every side branch whose gate, a sigmoid or softmax, is
    multiplied into the main path; the products that apply them).

    A branch is the gated operand and every op that feeds only gated operands: a
    selective-kernel unit gates each branch with weights computed from the branches' sum, and
    the branches themselves stay main path (they also feed the products); ResNeSt's one softmax
    feeds the products of all its splits."""
    position = {"input": -1, **{op.id: i for i, op in enumerate(ops)}}
    inputs = {op.id: op.inputs for op in ops}
    by_id = {op.id: op for op in ops}
    consumers: dict[str, set[str]] = {}
    for op in ops:
        for parent in op.inputs:
            consumers.setdefault(parent, set()).add(op.id)
    branch: set[str] = set()
    products: list[str] = []
    candidates: set[str] = set()
    for op in ops:
        if not _is_mul(op) or len(op.inputs) != 2:
            continue
        left, right = op.inputs
        low = min(position[left], position[right]) - 64
        left_all = _ancestors(left, low, inputs, position)
        right_all = _ancestors(right, low, inputs, position)
        gated = [side for side, own in ((left, left_all - right_all), (right, right_all - left_all))
                 if any(is_gate(by_id[i]) for i in own if i in by_id)
                 and any(_computes(by_id[i]) for i in own if i in by_id)]
        if len(gated) != 1:
            continue
        branch.add(gated[0])
        products.append(op.id)
        candidates |= (left_all | right_all) - {"input"}
    for candidate in sorted(candidates, key=position.__getitem__, reverse=True):
        readers = consumers.get(candidate, set())
        if candidate not in branch and readers and readers <= branch:
            branch.add(candidate)
    return frozenset(branch), tuple(products)


def _describe_attention(ops: list[Op], gated: Shape) -> str:
    """The attention's name from what it is made of: squeeze-and-excitation (a pool, two
    weighted layers, a sigmoid over channels), ECA (one 1-D conv), CBAM (a channel and a
    spatial gate), selective kernels / split attention (a softmax)."""
    gates = [op for op in ops if is_gate(op)]
    weighted = [op for op in ops if op.params and op.kind != "bn"]
    softmax = any("oftmax" in (op.type + op.label) for op in gates)
    spatial = any(len(op.shape) == 4 and op.shape[1] == 1 and op.shape[2:] != (1, 1)
                  for op in gates)
    channel = any(len(op.shape) == 2 or (len(op.shape) == 4 and op.shape[2:] == (1, 1)
                                         and op.shape[1] > 1) for op in gates)
    if softmax:
        return "selective-kernel or split attention (a softmax over parallel branches)"
    if spatial and channel:
        return "convolutional block attention (channel and spatial gates)"
    if spatial:
        return "spatial attention"
    if len(weighted) == 1 and weighted[0].kind not in ("conv", "fc"):
        kernel = weighted[0].params
        return f"efficient channel attention (a 1-D conv of kernel {kernel})"
    if len(weighted) >= 2 and channel:
        first = weighted[0]
        hidden = first.shape[1] if len(first.shape) > 1 else 0
        channels = gated[1] if len(gated) > 1 else 0
        if hidden and channels % hidden == 0:
            return f"squeeze-and-excitation (reduction {channels // hidden})"
        return "squeeze-and-excitation"
    return "an attention gate"


# ----- the depth of a block's residual branch ----------------------------------------------------


def _branch_depths(main: list[Op], entry_ids: set[str]) -> tuple[int, int]:
    """(layers as the family names them, layers on the longest path) through a residual branch.

    A weighted layer whose output reaches a concatenation before any other weighted layer is in
    that concatenation's group; consecutive layers of one group on a path count once (Res2Net's
    hierarchical 3x3 convs stand where the bottleneck's one 3x3 stands). Parallel branches count
    once by taking the longest."""
    member = {op.id for op in main}
    consumers: dict[str, list[Op]] = {}
    for op in main:
        for parent in op.inputs:
            consumers.setdefault(parent, []).append(op)

    def last_concat(op: Op) -> str:
        """Concatenations that feed concatenations (Res2Net grows its output one split at a
        time) are one join."""
        while True:
            following = [r for r in consumers.get(op.id, []) if r.label == "concat"]
            if not following:
                return op.id
            op = following[0]

    def group_of(op: Op) -> str | None:
        seen, stack = set(), [op.id]
        while stack:
            for reader in consumers.get(stack.pop(), []):
                if reader.id in seen:
                    continue
                seen.add(reader.id)
                if reader.label == "concat":
                    return last_concat(reader)
                if not reader.weighted and not _splits_channels((reader,)):
                    stack.append(reader.id)
        return None

    named: dict[str, tuple[int, str | None]] = {i: (0, None) for i in entry_ids}
    longest: dict[str, int] = {i: 0 for i in entry_ids}
    for op in main:
        sources = [i for i in op.inputs if i in member or i in named]
        best = max((named.get(i, (0, None)) for i in sources), default=(0, None),
                   key=lambda v: v[0])
        far = max((longest.get(i, 0) for i in sources), default=0)
        if op.weighted:
            group = group_of(op)
            same = group is not None and group == best[1]
            named[op.id] = (best[0] + (0 if same else 1), group)
            longest[op.id] = far + 1
        else:
            named[op.id] = best
            longest[op.id] = far
    tips = [op.id for op in main]
    return (max((named[t][0] for t in tips), default=0),
            max((longest[t] for t in tips), default=0))


def _unique_params(ops: Iterable[Op]) -> int:
    """Parameters of these ops, a module called twice (CBAM's shared MLP) counted once."""
    seen: set[str] = set()
    total = 0
    for op in ops:
        if op.module is not None:
            if op.module in seen:
                continue
            seen.add(op.module)
        total += op.params
    return total


def _splits_channels(ops: Iterable[Op]) -> bool:
    """Whether a path takes part of a tensor's channels (a slice, split or chunk)."""
    return any(op.label == "slice" or op.type in ("split", "chunk", "tensor_split")
               for op in ops)


#: Weight-free ops that subsample or add zero channels: option A's zero-padding identity.
_PADDING_KINDS = frozenset({"zero_pad", "avgpool", "maxpool"})
_PADDING_LABELS = frozenset({"slice", "concat", "zeros_like", "new_zeros", "mul", "zeros"})


def _classify(shortcut: list[Op], fork_shape: Shape, tip_shape: Shape) -> str:
    """The shortcut kind from the ops on its path (see the module docstring)."""
    if not shortcut:
        return IDENTITY
    weighted = [op for op in shortcut if op.weighted or op.params]
    if weighted:
        convs = [op for op in weighted if op.kind == "conv"]
        norms_only = all(op.kind in ("conv", "bn") for op in weighted)
        if len(convs) == 1 and convs[0].kernel == 1 and norms_only:
            pooled = any(op.kind == "avgpool" for op in shortcut
                         if shortcut.index(op) < shortcut.index(convs[0]))
            return POOLED_PROJECTION if pooled else PROJECTION
        return OTHER
    if fork_shape == tip_shape:
        return IDENTITY
    if tip_shape[1] >= fork_shape[1] and all(
            op.kind in _PADDING_KINDS or op.label in _PADDING_LABELS for op in shortcut):
        return IDENTITY_PAD
    return OTHER




# ----- the whole network ------------------------------------------------------------------------


@dataclass(frozen=True)
class Structure:
    """A network's ops grouped the paper's way: stem, stages of blocks, head."""

    name: str
    input_shape: Shape  # batch first
    ops: tuple[Op, ...]
    blocks: tuple[Block, ...]
    facts: Facts
    notes: tuple[str, ...]
    roles: tuple[tuple[str, str], ...]  # (op id, stem/main/shortcut/head) for ops outside blocks
    stages: tuple[tuple[str, int], ...]  # (op id, stage) for every op in a stage
    parameter_shapes: tuple[Shape, ...] = ()  # sorted; what a recovered spec must reproduce
    #: The depth as the network's own family names it, where that differs from the paper's
    #: count (e.g. "WRN-28-10 by the Wide ResNet count (...)"); also in the explanation.
    depth_conventions: tuple[str, ...] = ()

    @cached_property
    def by_id(self) -> dict[str, Op]:
        return {op.id: op for op in self.ops}

    @cached_property
    def role_of(self) -> dict[str, str]:
        return dict(self.roles)

    @cached_property
    def stage_of(self) -> dict[str, int]:
        return dict(self.stages)

    @cached_property
    def block_of(self) -> dict[str, Block]:
        return {op_id: block for block in self.blocks for op_id in block.ops}

    @property
    def params(self) -> int:
        return self.facts.params

    @property
    def mult_adds(self) -> int:
        return self.facts.mult_adds

    @property
    def depth(self) -> int:
        return self.facts.depth

    @property
    def explanation(self) -> str:
        return self.facts.depth_explanation

    @property
    def output_shape(self) -> Shape:
        return self.ops[-1].shape

    def shortcut_kinds(self) -> list[str]:
        return [block.shortcut_kind for block in self.blocks]


def _exit_relu(add: Op, consumers: dict[str, list[Op]]) -> Op | None:
    after = consumers.get(add.id, [])
    if len(after) == 1 and after[0].kind == "relu" and after[0].inputs == (add.id,):
        return after[0]
    return None


def _weighted_count(ids: Iterable[str], by_id: dict[str, Op]) -> int:
    return sum(1 for i in ids if i in by_id and (by_id[i].weighted or by_id[i].params))


def _label(op: Op) -> str:
    return op.label.replace(" conv", "")


def _improper(found: _Sum, by_id: dict[str, Op], attention: frozenset[str]) -> bool:
    """A sum that merges parts of one computation rather than closing a residual block: its
    shortcut side takes a slice of the channels (Res2Net's hierarchy, split attention), or
    both sides carry the same number of weighted layers and the shortcut is no 1x1 projection
    (parallel branches, as in a selective-kernel unit)."""
    shortcut = [by_id[i] for i in found.shortcut if i in by_id and i not in attention]
    if _splits_channels(shortcut):
        return True
    main = [by_id[i] for i in found.region - found.shortcut
            if i in by_id and i != found.add and i not in attention]
    weights = sum(1 for op in shortcut if _layer(op))
    projection = len([op for op in shortcut if op.kind == "conv"]) == 1 and all(
        op.kernel == 1 for op in shortcut if op.kind == "conv")
    return weights > 0 and not projection and weights == sum(1 for op in main if _layer(op))


def _layer(op: Op) -> bool:
    """A layer with weights other than a norm's."""
    return op.weighted or (op.params > 0 and op.kind != "bn")


def _build_blocks(ops: list[Op], by_id: dict[str, Op], input_shape: Shape) -> list[dict]:
    """Raw blocks (without stage names yet), innermost first when sums nest.

    A sum nested in another block's residual branch that merges parts of one computation
    (see `_improper`) is that block's own, not a block of its own."""
    consumers: dict[str, list[Op]] = {}
    for op in ops:
        for parent in op.inputs:
            consumers.setdefault(parent, []).append(op)
    shape = {"input": input_shape, **{op.id: op.shape for op in ops}}
    position = {op.id: i for i, op in enumerate(ops)}
    attention, products = find_attention(ops)
    sums = _find_sums(ops, lambda ids: _weighted_count(
        (i for i in ids if i not in attention), by_id), attention)
    served: dict[str, set[str]] = {}  # attention op -> the ops off the branch it feeds
    for op in reversed(ops):
        if op.id in attention:
            served[op.id] = set()
            for reader in consumers.get(op.id, []):
                served[op.id] |= served.get(reader.id, set()) if reader.id in attention \
                    else {reader.id}
    inner: set[str] = set()
    for found in sums:
        if _improper(found, by_id, attention) and any(
                found.add in other.region and found.add not in other.shortcut
                and found.add != other.add for other in sums):
            inner.add(found.add)
    taken: set[str] = set()
    raw = []
    for found in sums:
        if found.add in inner:
            continue
        add = by_id[found.add]
        members = set(found.region) - taken
        members |= {a for a, fed in served.items() if fed & members and a not in taken}
        exit_op = _exit_relu(add, consumers)
        if exit_op is not None and exit_op.id not in taken:
            members.add(exit_op.id)
        exit_id = exit_op.id if exit_op is not None else add.id
        taken |= members
        ordered = tuple(sorted(members, key=position.__getitem__))
        shortcut = [by_id[i] for i in ordered if i in found.shortcut]
        kind = _classify(shortcut, shape[found.fork], shape[found.tip])
        gates = tuple(i for i in ordered if i in attention)
        main = [by_id[i] for i in ordered
                if i not in found.shortcut and i not in attention and i != add.id]
        named, longest = _branch_depths(main, {found.fork})
        gated_shape = next((by_id[m].shape for m in products if m in members), add.shape)
        raw.append(dict(
            entry=found.fork, fork=found.fork, add=add.id, exit=exit_id, ops=ordered,
            shortcut_ops=tuple(op.id for op in shortcut), tip=found.tip, shortcut_kind=kind,
            input_shape=shape[found.fork], output_shape=shape[exit_id],
            shortcut_shape=shape[found.tip], main_shape=shape[found.main_tip],
            main_convs=tuple(_label(op) for op in main if op.kind == "conv"),
            shortcut_label="; ".join(op.label for op in shortcut
                                     if op.kind not in ("bn", "relu", "other")),
            params=sum(by_id[i].params for i in ordered),
            mult_adds=sum(by_id[i].mult_adds for i in ordered),
            main_layers=named, longest_path=longest, attention_ops=gates,
            attention=_describe_attention([by_id[i] for i in gates], gated_shape)
            if gates else "",
            attention_params=_unique_params([by_id[i] for i in gates]),
            inner_sums=tuple(i for i in ordered if i in inner),
        ))
    raw.sort(key=lambda b: position[b["add"]])
    if any(by_id[b["ops"][0]].kind == "bn" for b in raw):  # pre-activated blocks
        for block in raw:
            _take_preactivation(block, by_id, consumers, taken, position)
    return raw


def _take_preactivation(block: dict, by_id: dict[str, Op], consumers: dict[str, list[Op]],
                        taken: set[str], position: dict[str, int]) -> None:
    """Give a pre-activated block the BN-ReLU before its fork.

    A pre-activated block's projection reads its BN-ReLU output, so that BN-ReLU lies before
    the fork; it is still the block's own (the paper's stem ends with its conv, and a stage's
    first block holds its own norm). Norms and activations that only this block reads join it.
    """
    members = set(block["ops"])
    entry = block["fork"]
    while entry in by_id and entry not in taken:
        op = by_id[entry]
        readers = {c.id for c in consumers.get(op.id, [])}
        if op.kind not in ("bn", "relu") or len(op.inputs) != 1 or not readers <= members:
            break
        members.add(op.id)
        taken.add(op.id)
        block["params"] += op.params
        block["mult_adds"] += op.mult_adds
        entry = op.inputs[0]
    block["entry"] = entry
    block["ops"] = tuple(sorted(members, key=position.__getitem__))


def _plain_blocks(ops: list[Op], scopes: tuple[str, ...], input_shape: Shape) -> list[dict]:
    """Blocks of a plain network, one per named module: a plain block has no sum to find it
    by, so only a caller that built the network (a design's builder) can name them."""
    shape = {"input": input_shape, **{op.id: op.shape for op in ops}}
    named = set(scopes)
    members: dict[str, list[Op]] = {scope: [] for scope in scopes}
    for op in ops:
        path = (op.module or op.scope).split(".")
        owner = next((".".join(path[:n]) for n in range(len(path), 0, -1)
                      if ".".join(path[:n]) in named), None)
        if owner is not None:
            members[owner].append(op)
    raw = []
    for scope, block in members.items():
        if not block:
            continue
        entry, last = (block[0].inputs or ("input",))[0], block[-1]
        raw.append(dict(
            entry=entry, fork=entry, add=last.id, exit=last.id,
            ops=tuple(op.id for op in block), shortcut_ops=(), tip=entry, shortcut_kind=NONE,
            input_shape=shape[entry], output_shape=last.shape, shortcut_shape=last.shape,
            main_shape=last.shape,
            main_convs=tuple(_label(op) for op in block if op.kind == "conv"),
            shortcut_label="", params=sum(op.params for op in block),
            mult_adds=sum(op.mult_adds for op in block), scope=scope,
            main_layers=sum(op.weighted for op in block),
            longest_path=sum(op.weighted for op in block),
        ))
    return raw


def _exclusive_scopes(raw: list[dict], ops: list[Op]) -> None:
    """Each block's module: the deepest one running all of its ops and no other op."""
    under: dict[str, int] = {}  # module path -> ops run inside that module
    for op in ops:
        paths = {op.scope, op.module or op.scope}
        prefixes = {".".join(p.split(".")[:n]) for p in paths if p
                    for n in range(1, p.count(".") + 2)}
        for prefix in prefixes:
            under[prefix] = under.get(prefix, 0) + 1
    by_id = {op.id: op for op in ops}
    for block in raw:
        if block.get("scope") is not None:
            continue
        parts = [by_id[o].scope.split(".") if by_id[o].scope else [] for o in block["ops"]]
        common = []
        for segment in zip(*parts):
            if len(set(segment)) > 1:
                break
            common.append(segment[0])
        scope = ".".join(common)
        block["owner"] = scope
        block["scope"] = scope if scope and under.get(scope) == len(block["ops"]) else ""


def _starts_stage(block: dict, previous: dict | None) -> bool:
    """A stage starts where the shape changes: at the first block, at a block whose input is
    not the previous block's output (a layer between them resized it), and at a block whose
    residual branch or output has a shape other than its input's (only a change of resolution
    when the blocks sit in one container: DPN's blocks widen their dense path in every block).
    Blocks that are modules in different containers (torchvision's `layer1`, `layer2`) are in
    different stages too, shape or not."""
    if previous is None:
        return True
    if block["scope"] and previous["scope"] and \
            block["scope"].rpartition(".")[0] != previous["scope"].rpartition(".")[0]:
        return True
    if block["input_shape"][2:] != previous["output_shape"][2:] or \
            block["main_shape"][2:] != block["input_shape"][2:] or \
            block["output_shape"][2:] != block["input_shape"][2:]:
        return True
    owners = block.get("owner", ""), previous.get("owner", "")
    container = owners[0].rpartition(".")[0]
    if all(owners) and owners[0] != owners[1] and container and \
            container == owners[1].rpartition(".")[0]:
        return False  # channels that grow in one container: DPN's dense path, not a stage
    return block["input_shape"] != previous["output_shape"] or \
        block["main_shape"] != block["input_shape"] or \
        block["output_shape"] != block["input_shape"]


def _global(op: Op) -> bool:
    """A pool to 1x1 or a layer that leaves the image behind: the head starts here."""
    return len(op.shape) != 4 or (op.kind in ("avgpool", "maxpool") and op.shape[2:] == (1, 1))


def _receptive_field(path: list[Op]) -> int:
    field_px, jump = 1, 1
    for op in path:
        if op.kernel and op.kind in ("conv", "maxpool", "avgpool"):
            field_px += (op.kernel - 1) * jump
            jump *= op.stride
    return field_px


def _cost(ops: Iterable[Op]) -> tuple[int, int]:
    ops = list(ops)
    return sum(op.params for op in ops), sum(op.mult_adds for op in ops)


def _plain_layers(plain_body: list[Op], stages: dict[str, int]) -> str | None:
    """A plain network's convs as the paper pairs them, e.g. '2 x (3+3+3)' for plain-20: in
    threes where every stage repeats 1x1, 3x3, 1x1 (bottleneck style), else in twos where every
    stage has an even count (basic style); None when neither fits."""
    kernels: dict[int, list[int]] = {}
    for op in plain_body:
        if op.weighted:
            kernels.setdefault(stages[op.id], []).append(op.kernel)
    if not kernels:
        return None
    per_stage = [kernels[s] for s in sorted(kernels)]
    if all(len(k) % 3 == 0 and k == [1, 3, 1] * (len(k) // 3) for k in per_stage):
        per = 3
    elif all(len(k) % 2 == 0 for k in per_stage):
        per = 2
    else:
        return None
    return f"{per} x ({'+'.join(str(len(k) // per) for k in per_stage)}) (block convs)"


def _depth(stem: list[Op], blocks: list[Block], between: list[Op], head: list[Op],
           layers: list[int], plain_body: list[Op], stages: dict[str, int]) -> tuple[int, str]:
    """The paper's count: one for the stem, the convs on each block's main path, the weighted
    layers between blocks and in the head; shortcut projections are not counted."""
    stem_convs = sum(op.weighted for op in stem)
    head_layers = sum(op.weighted for op in head)
    parts: list[str] = []
    depth = 0
    if stem_convs:
        depth += 1
        label = "stem conv" if stem_convs == 1 else f"stem: {stem_convs} convs counted as one"
        parts.append(f"1 ({label})")
    if blocks:
        per_block = [b.main_layers for b in blocks]
        depth += sum(per_block)
        counts = "+".join(str(n) for n in layers)
        if len(set(per_block)) == 1:
            parts.append(f"{per_block[0]} x ({counts}) (block convs)")
        else:
            parts.append(f"({'+'.join(map(str, per_block))}) (block convs)")
    body = sum(op.weighted for op in between + plain_body)
    grouped = None if blocks else _plain_layers(plain_body, stages)
    if body:
        depth += body
        where = "convs between blocks" if blocks else "convs"
        parts.append(grouped or f"{body} ({where})")
    if head_layers:
        depth += head_layers
        parts.append(f"{head_layers} ({'fc' if head_layers == 1 else 'head layers'})")
    text = f"{depth} = " + " + ".join(parts) if parts else "0 weighted layers"
    notes = shortcut_notes([b.shortcut_kind for b in blocks])
    attention = [b for b in blocks if b.attention_ops]
    if attention:
        notes.append(f"{len(attention)} attention branches beside the main path not counted")
    deeper = [b for b in blocks if b.longest_path > b.main_layers]
    if deeper:
        longest = depth + sum(b.longest_path - b.main_layers for b in deeper)
        notes.append(f"parallel convs joined by a concatenation or a sum count as one layer; "
                     f"the longest path passes {longest} weighted layers ("
                     f"{max(b.longest_path for b in deeper)} in the deepest block)")
    return depth, "; ".join([text] + notes)


def _chw(shape: Shape) -> str:
    return "x".join(str(d) for d in shape[1:])


def assemble(name: str, input_shape: Shape, ops: list[Op], params: int,
             plain_blocks: tuple[str, ...] = ()) -> Structure:
    """Group flat ops into stem, stages of blocks and head, and count them the paper's way.

    Residual blocks are found from their sums. `plain_blocks` names the modules that are the
    blocks of a network without sums (a plain design); it is used only where no sum is found.
    """
    by_id = {op.id: op for op in ops}
    raw = _build_blocks(ops, by_id, input_shape)
    if not raw and plain_blocks:
        raw = _plain_blocks(ops, plain_blocks, input_shape)
    _exclusive_scopes(raw, ops)
    position = {op.id: i for i, op in enumerate(ops)}
    stage, index, previous = -1, 0, None
    blocks: list[Block] = []
    for item in raw:
        if _starts_stage(item, previous):
            stage, index = stage + 1, 0
        blocks.append(Block(name=f"{stage_name(stage)[:-2]}_{index + 1}", stage=stage,
                            index=index, **{k: v for k, v in item.items() if k != "owner"}))
        index, previous = index + 1, item
    in_block = {op_id for block in blocks for op_id in block.ops}
    shortcut_ids = {op_id for block in blocks for op_id in block.shortcut_ops}
    stages: dict[str, int] = {}
    roles: dict[str, str] = {}
    stem: list[Op] = []
    head: list[Op] = []
    between: list[Op] = []
    plain_body: list[Op] = []
    if blocks:
        first = min(position[i] for i in blocks[0].ops)
        last = position[blocks[-1].exit]
        block_at = [(position[b.ops[0]], b) for b in blocks]
        block_stage = {op_id: b.stage for b in blocks for op_id in b.ops}
        for op in ops:
            if op.id in in_block:
                stages[op.id] = block_stage[op.id]
                continue
            at = position[op.id]
            if at < first:
                stem.append(op)
                roles[op.id] = "stem"
            elif at > last:
                head.append(op)
                roles[op.id] = "head"
            else:  # between blocks: belongs to the stage of the next block
                following = next((b for start, b in block_at if start > at), blocks[-1])
                stages[op.id] = following.stage
                between.append(op)
                roles[op.id] = "main"
    else:
        weighted_seen = 0
        in_head = False
        stage_shape: Shape | None = None
        stage_number = -1
        for op in ops:
            in_head = in_head or _global(op)
            if in_head:
                head.append(op)
                roles[op.id] = "head"
                continue
            weighted_seen += op.weighted
            if weighted_seen <= 1:
                stem.append(op)
                roles[op.id] = "stem"
                continue
            if op.shape[2:] != stage_shape:
                stage_number, stage_shape = stage_number + 1, op.shape[2:]
            stages[op.id] = stage_number
            plain_body.append(op)
            roles[op.id] = "main"
    main_path = [op for op in stem + [by_id[i] for i in sorted(
        (i for i in stages if i not in shortcut_ids), key=position.__getitem__)]]
    facts = _facts(stem, head, blocks, between, plain_body, stages, by_id, params, ops,
                   main_path)
    conventions = _family_depths(stem, blocks, ops, facts)
    if conventions:
        facts = replace(facts, depth_explanation="; ".join(
            (facts.depth_explanation, *conventions)))
    notes = []
    if not blocks:
        notes.append(NO_BLOCKS_NOTE)
    for block in blocks:
        if block.broadcasts:
            notes.append(f"{block.name}: the sum broadcasts {_chw(block.main_shape)} from the "
                         f"residual branch onto {_chw(block.shortcut_shape)} from the shortcut; "
                         f"the two paths do not have the same shape.")
        if block.shortcut_kind == OTHER:
            notes.append(f"{block.name}: the shortcut ({block.shortcut_label or 'its ops'}) is "
                         f"none of the paper's options.")
    return Structure(name, input_shape, tuple(ops), tuple(blocks), facts, tuple(notes),
                     tuple(roles.items()), tuple(stages.items()),
                     depth_conventions=conventions)


def _family_depths(stem: list[Op], blocks: list[Block], ops: list[Op],
                   facts: Facts) -> tuple[str, ...]:
    """Depth as another family names it, when the network looks like one of that family.

    Wide ResNets (Zagoruyko & Komodakis): one 3x3 stem conv to 16 channels, three stages of
    basic blocks 16k, 32k, 64k wide (k >= 2). "WRN-n-k" counts every conv, the shortcut
    projections included, and not the fc: WRN-28-10 is 26 by the ResNet paper's count."""
    convs = [op for op in stem if op.kind == "conv"]
    widths = [b.output_shape[1] for b in blocks if b.index == 0]
    if len(convs) != 1 or convs[0].kernel != 3 or convs[0].shape[1] != 16 or \
            len(facts.stages) != 3 or len(widths) != 3 or not blocks or \
            any(b.main_layers != 2 or b.attention_ops for b in blocks):
        return ()
    k = widths[0] / 16
    if k < 2 or widths[1] != 2 * widths[0] or widths[2] != 4 * widths[0]:
        return ()
    attention = {i for b in blocks for i in b.attention_ops}
    n = sum(1 for op in ops if op.kind == "conv" and op.id not in attention)
    factor = f"{k:g}"
    return (f"WRN-{n}-{factor} by the Wide ResNet count ({n} = every conv, the "
            f"{sum(b.shortcut_kind in PROJECTION_KINDS for b in blocks)} shortcut projections "
            f"included, and not the fc)",)


def _facts(stem: list[Op], head: list[Op], blocks: list[Block], between: list[Op],
           plain_body: list[Op], stages: dict[str, int], by_id: dict[str, Op], params: int,
           ops: list[Op], main_path: list[Op]) -> Facts:
    layers = [sum(1 for b in blocks if b.stage == s) for s in range(_stage_count(stages))]
    gates, _ = find_attention(ops)  # attention outside blocks (a gated layer's SE) is no layer

    def main(part: list[Op]) -> list[Op]:
        return [op for op in part if op.id not in gates]

    depth, explanation = _depth(main(stem), blocks, main(between), main(head), layers,
                                main(plain_body), stages)
    stage_facts = []
    path_so_far: list[Op] = list(stem)
    main_ids = {op.id for op in main_path}
    for number in range(_stage_count(stages)):
        members = [by_id[i] for i in by_id if stages.get(i) == number]
        path_so_far += [op for op in members if op.id in main_ids]
        stage_blocks = [b for b in blocks if b.stage == number]
        last_shape = stage_blocks[-1].output_shape if stage_blocks else members[-1].shape
        cost = _cost(members)
        stage_facts.append(StageFacts(
            name=stage_name(number), blocks=len(stage_blocks), out_channels=last_shape[1],
            out_size=last_shape[2], params=cost[0], mult_adds=cost[1],
            receptive_field=_receptive_field(path_so_far),
        ))
    stem_cost = _cost(stem)
    stem_shape = stem[-1].shape if stem else ops[0].shape
    convs = sum(op.kind == "conv" for op in ops)
    return Facts(
        params=params,
        mult_adds=sum(op.mult_adds for op in ops),
        depth=depth,
        depth_explanation=explanation,
        conv_layers=convs,
        projection_shortcuts=sum(b.shortcut_kind in PROJECTION_KINDS for b in blocks),
        zero_pad_shortcuts=sum(b.shortcut_kind == IDENTITY_PAD for b in blocks),
        stem=StageFacts("conv1", 0, stem_shape[1], stem_shape[2] if len(stem_shape) == 4 else 1,
                        stem_cost[0], stem_cost[1], _receptive_field(stem)),
        stages=tuple(stage_facts),
        head_params=_cost(head)[0],
        activation_bytes=sum(math.prod(op.shape) for op in ops if op.kind != "flatten")
        * BYTES_PER_FLOAT,
        receptive_field=_receptive_field(path_so_far),
        output_shape=tuple(ops[-1].shape),
    )


def _stage_count(stages: dict[str, int]) -> int:
    return max(stages.values(), default=-1) + 1
