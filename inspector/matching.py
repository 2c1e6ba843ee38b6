"""Which preset an analysed network is closest to, how it differs, and which spec it is.

The spec is read off the analysed structure (stem layers, blocks per stage, widths, strides,
shortcut kinds, pre-activation, the ReLU after the sum). It counts as recovered only when the
model our builder makes from it has exactly the user's parameter shapes: then the network can
open in the Designer, be compared, exported and trained.

What the sentence claims is checked, never assumed:
- "equivalent to X" only when X's own spec is the recovered one (input size aside) and the
  model built from it also has the user's op sequence (norm and activation layers, no attention,
  nothing opaque) and the same mult-adds;
- "like X, with: ..." lists every spec field that differs, and whatever no spec field can
  express (an attention branch, biases, other norms or activations, a stem of other widths) with
  the parameters it adds, so that X's spec with every listed field applied (`Match.rebuilt`)
  plus those parameters is exactly the user's count;
- post-activation networks are described through post-activation presets and the other way
  round; a network that is no ResNet is said to be none, with what it is made of.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import torch

from inspector.model import build_model
from inspector.op_trace import ModelError, Op
from inspector.presets import PRESETS
from inspector.residual import IDENTITY_PAD, OTHER, POOLED_PROJECTION, PROJECTION, Structure
from inspector.spec import ResNetSpec, SpecError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Match:
    preset: str  # the closest preset's name
    differences: tuple[str, ...]  # in words; empty when the network is that preset
    spec: ResNetSpec | None  # the recovered spec, when the builder reproduces the network
    #: The preset's spec with every listed spec difference applied (None when they cannot all
    #: be applied): its parameters plus `beyond_spec`'s are the user's.
    rebuilt: ResNetSpec | None = None
    #: What no spec field expresses, in words, with the parameters each adds (may be < 0).
    beyond_spec: tuple[tuple[str, int], ...] = ()
    #: False for a network that is no ResNet: the sentence then says what it is made of.
    close: bool = True
    made_of: str = ""

    @property
    def equivalent(self) -> bool:
        return self.close and not self.differences and not self.beyond_spec

    @property
    def sentence(self) -> str:
        if not self.close:
            return f"not close to any ResNet preset: {self.made_of}"
        if self.equivalent:
            return f"equivalent to {self.preset}"
        beyond = "; ".join(f"{text} ({params:+,} params)" for text, params in self.beyond_spec)
        if not self.differences:
            return f"like {self.preset}, with, beyond what a spec can say: {beyond}"
        parts = list(self.differences)
        if beyond:
            parts.append(f"and, beyond what a spec can say: {beyond}")
        return f"like {self.preset}, with: " + "; ".join(parts)


@dataclass(frozen=True)
class Comparison:
    totals: "pd.DataFrame"  # rows: params, mult_adds, depth, ...; one column per network
    names: tuple[str, str]


def _stem_ops(structure: Structure) -> list[Op]:
    return [op for op in structure.ops if structure.role_of.get(op.id) == "stem"]


def _stem(structure: Structure) -> tuple[str | None, int]:
    """(stem kind, stem width) of the spec vocabulary, or None when no spec stem matches."""
    ops = _stem_ops(structure)
    convs = [op for op in ops if op.kind == "conv"]
    pools = [op for op in ops if op.kind == "maxpool"]
    if not convs:
        return None, 0
    width = ops[-1].shape[1]
    shapes = [(c.kernel, c.stride) for c in convs]
    in_size, stem_size = structure.input_shape[2], convs[0].shape[2]
    if shapes == [(7, 2)] and len(pools) == 1:
        return "imagenet", width
    if shapes == [(3, 2), (3, 1), (3, 1)] and len(pools) == 1:
        return "deep", width
    if shapes == [(3, 3)] and not pools and stem_size == (in_size - 3) // 3 + 1:
        return "patchify", width
    if shapes == [(3, 1)] and not pools and stem_size == in_size:
        return "cifar", width
    return None, width


def _describe_stem(structure: Structure) -> str:
    ops = _stem_ops(structure)
    convs = [op for op in ops if op.kind == "conv"]
    text = " then ".join(f"{c.kernel}x{c.kernel} stride-{c.stride}" for c in convs) or "no conv"
    pool = any(op.kind == "maxpool" for op in ops)
    return f"a {text} stem" + (" with a max-pool" if pool else " and no max-pool")


def infer_spec(structure: Structure) -> dict[str, Any]:
    """The spec fields this network shows; fields it cannot show are left out."""
    blocks = structure.blocks
    fields: dict[str, Any] = {"num_classes": structure.output_shape[-1],
                              "in_channels": structure.input_shape[1]}
    if structure.input_shape[2] == structure.input_shape[3]:
        fields["input_size"] = structure.input_shape[2]
    stem, width = _stem(structure)
    fields["stem_width"] = width
    if stem is not None:
        fields["stem"] = stem
    if not blocks:
        fields["residual"] = False
        return fields
    per_block = {b.main_layers for b in blocks}
    plain_branches = all(len(b.main_convs) == b.main_layers and "softmax" not in b.attention
                         for b in blocks)
    stages = sorted({b.stage for b in blocks})
    fields["layers"] = tuple(sum(1 for b in blocks if b.stage == s) for s in stages)
    firsts = [next(b for b in blocks if b.stage == s) for s in stages]
    lasts = [[b for b in blocks if b.stage == s][-1] for s in stages]
    sizes_in = [_stem_ops(structure)[-1].shape[2] if _stem_ops(structure) else
                structure.input_shape[2]] + [b.output_shape[2] for b in lasts[:-1]]
    fields["strides"] = tuple(_stride(size, b.output_shape[2]) for size, b in zip(sizes_in, lasts))
    by_id = structure.by_id
    fields["preact"] = any(
        by_id[next(i for i in b.ops if i not in b.shortcut_ops)].kind == "bn" for b in blocks)
    fields["relu_after_add"] = any(b.exit != b.add for b in blocks)
    kinds = Counter(b.shortcut_kind for b in blocks)
    if kinds[IDENTITY_PAD]:
        fields["shortcut"] = "A"
    elif kinds[POOLED_PROJECTION]:
        fields["shortcut"] = "D"
    elif kinds[PROJECTION] and all(b.shortcut_kind == PROJECTION for b in blocks):
        fields["shortcut"] = "C" if any(not b.changes_shape for b in blocks) else "B"
    elif kinds[PROJECTION]:
        fields["shortcut"] = "B"  # all identities: options A, B and D build the same network
    if not plain_branches and per_block in ({2}, {3}):  # Res2Net, selective kernels: no spec width says what they are
        fields["block"] = "basic" if per_block == {2} else "bottleneck"
        fields["widths"] = tuple(b.output_shape[1] // (1 if per_block == {2} else 4)
                                 for b in firsts)
    elif per_block == {2}:
        fields["block"] = "basic"
        fields["widths"] = tuple(b.output_shape[1] for b in firsts)
        convs = [by_id[i] for i in blocks[0].ops if by_id[i].kind == "conv"]
        fields["groups"] = convs[0].groups or 1
    elif per_block == {3}:
        fields["block"] = "bottleneck"
        main = [[by_id[i] for i in b.ops if by_id[i].kind == "conv" and i not in b.shortcut_ops
                 and i not in b.attention_ops] for b in firsts]
        fields["widths"] = tuple(b.output_shape[1] // 4 for b in firsts)
        groups = main[0][1].groups or 1
        fields["groups"] = groups
        inner = main[0][1].shape[1]
        fields["width_per_group"] = inner * 64 // (fields["widths"][0] * groups)
        strided = next((convs for b, convs in zip(firsts, main)
                        if b.main_shape[2:] != b.input_shape[2:]), None)
        if strided is not None:
            fields["stride_in"] = "1x1" if strided[0].stride > 1 else "3x3"
    return fields


def _stride(size_in: int, size_out: int) -> int:
    """The stride that takes `size_in` to `size_out` the way padded convs do (ceil division)."""
    return next((s for s in range(1, 9) if -(-size_in // s) == size_out), 1)


def _equivalent(structure: Structure, spec: ResNetSpec, shapes: Counter) -> bool:
    try:
        model = build_model(spec)
    except SpecError:
        return False
    return Counter(tuple(p.shape) for p in model.parameters()) == shapes


def _differences(fields: dict[str, Any], spec: ResNetSpec, structure: Structure) -> list[str]:
    words: list[str] = []
    preset_stem, _ = spec.stem, spec.stem_width
    if "stem" in fields and fields["stem"] != preset_stem:
        words.append(_describe_stem(structure))
    if fields.get("residual", True) != spec.residual:
        words.append("no residual blocks")
    if "block" in fields and fields["block"] != spec.block:
        words.append(f"{fields['block']} blocks instead of {spec.block}")
    elif "block" not in fields and structure.blocks:
        words.append("blocks of uneven length")
    if "layers" in fields and fields["layers"] != spec.layers:
        layers = fields["layers"]
        if len(set(layers)) == 1 and len(set(spec.layers)) == 1 and len(layers) == len(spec.layers):
            noun = "block" if layers[0] == 1 else "blocks"
            words.append(f"{layers[0]} {noun} per stage instead of {spec.layers[0]}")
        else:
            words.append(f"blocks per stage {_numbers(layers)} instead of {_numbers(spec.layers)}")
    if "widths" in fields and fields["widths"] != spec.widths:
        words.append(f"widths {_numbers(fields['widths'])}")
    if "groups" in fields and fields["groups"] != spec.groups:
        words.append(f"{fields['groups']} groups in the 3x3 convs instead of {spec.groups}")
    if "width_per_group" in fields and fields["width_per_group"] != spec.width_per_group:
        words.append(f"width per group {fields['width_per_group']} instead of "
                     f"{spec.width_per_group}")
    if fields.get("in_channels", spec.in_channels) != spec.in_channels:
        words.append(f"{fields['in_channels']} input channels")
    if "stem_width" in fields and "stem" in fields and fields["stem_width"] != spec.stem_width:
        words.append(f"a stem {fields['stem_width']} channels wide")
    if "strides" in fields and fields["strides"] != spec.strides:
        words.append(f"stage strides {_numbers(fields['strides'])}")
    if "stride_in" in fields and fields["stride_in"] != spec.stride_in:
        words.append("the stride on the first 1x1 (v1)" if fields["stride_in"] == "1x1"
                     else "the stride on the 3x3 (v1.5)")
    if fields.get("preact", spec.preact) != spec.preact:
        words.append("pre-activation" if fields["preact"] else "post-activation")
    if "shortcut" in fields and fields["shortcut"] != spec.shortcut:
        words.append(f"shortcut option {fields['shortcut']} instead of {spec.shortcut}")
    if fields.get("relu_after_add", spec.relu_after_add) != spec.relu_after_add:
        words.append("no ReLU after the sum" if spec.relu_after_add else "a ReLU after the sum")
    if fields.get("input_size", spec.input_size) != spec.input_size:
        words.append(f"input {fields['input_size']}x{fields['input_size']}")
    if fields["num_classes"] != spec.num_classes:
        words.append(f"{fields['num_classes']} classes")
    for block in structure.blocks:
        if block.broadcasts:
            words.append(f"{block.name}'s sum broadcasts (its shortcut keeps "
                         f"{'x'.join(map(str, block.shortcut_shape[1:]))})")
        if block.shortcut_kind == OTHER:
            words.append(f"{block.name}'s shortcut is none of the paper's options")
    return words


def _numbers(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values))


#: Spec fields whose difference the sentence names and `Match.rebuilt` applies.
_SPEC_KEYS = ("stem", "stem_width", "block", "layers", "widths", "strides", "stride_in",
              "preact", "shortcut", "relu_after_add", "residual", "num_classes", "groups",
              "width_per_group", "in_channels", "input_size")


def _score(fields: dict[str, Any], spec: ResNetSpec, depth: int) -> tuple:
    """(activation order differs, differing design choices, depth gap, input size gap): lower
    is closer; a post-activation network is never described through a pre-activation preset."""
    keys = ("stem", "block", "layers", "widths", "strides", "stride_in", "shortcut",
            "relu_after_add", "residual", "num_classes", "groups", "width_per_group")
    mismatches = sum(1 for k in keys if k in fields and fields[k] != getattr(spec, k))
    preset_depth = 2 + sum(spec.layers) * (2 if spec.block == "basic" else 3)
    return (fields.get("preact", spec.preact) != spec.preact, mismatches,
            abs(preset_depth - depth), abs(spec.input_size - fields.get("input_size", 0)))


def _made_of(structure: Structure) -> str | None:
    """What a network that is no ResNet is made of, or None when it is one."""
    ops, blocks = structure.ops, structure.blocks
    convs = [op for op in ops if op.kind == "conv"]
    depthwise = [op for op in convs if op.groups and op.groups > 1
                 and op.groups == op.shape[1] and op.kernel > 1]
    linears = sum(op.kind == "fc" for op in ops)
    parts = [f"{len(convs)} convs" + (f" ({len(depthwise)} depthwise)" if depthwise else ""),
             f"{linears} linear layers"]
    if not blocks:
        if any(op.label == "concat" for op in ops):
            return "no residual sums (its paths join by concatenation); " + ", ".join(parts)
        return ("no residual blocks (a plain network, as the paper's plain20 and plain56 "
                "baselines are); " + ", ".join(parts))
    depthwise_ids = {op.id for op in depthwise}
    inverted = [b for b in blocks if any(i in depthwise_ids for i in b.ops)]
    no_conv = [b for b in blocks if not b.main_convs]
    by_id = structure.by_id
    concatenated = {i for op in ops if op.label == "concat" for i in op.inputs}
    dual = [b for b in blocks if b.exit in concatenated
            and any(by_id[i].label == "slice" for i in b.shortcut_ops)]
    if len(dual) * 2 > len(blocks):
        return (f"{len(blocks)} dual-path blocks (a residual part summed, a dense part "
                f"concatenated, as in DPN); " + ", ".join(parts))
    if len(inverted) * 2 > len(blocks):
        return (f"{len(blocks)} residual blocks, {len(inverted)} of them around depthwise "
                f"convs (inverted residuals or ConvNeXt-style blocks); " + ", ".join(parts))
    if len(no_conv) * 2 > len(blocks):
        attention = sum(1 for op in ops if "oftmax" in op.type + op.label or
                        op.type in ("scaled_dot_product_attention", "MultiheadAttention"))
        return (f"{len(blocks)} residual blocks without a conv on their residual branch "
                f"(attention or MLP blocks, {attention} softmax attentions); " + ", ".join(parts))
    return None


def _signature(ops: Iterable[Op]) -> Counter:
    """The op sequence equivalence asks for beyond the parameter shapes: norms, activations,
    pools, gates and opaque steps, by kind and label."""
    return Counter((op.kind, op.shape[1:]) if op.kind in ("maxpool", "avgpool") else
                   (op.kind, op.label) for op in ops
                   if op.kind in ("bn", "relu", "maxpool", "avgpool") or op.opaque
                   or op.label.lower() in ("sigmoid", "softmax", "mul"))


def _same_ops(structure: Structure, spec: ResNetSpec) -> bool:
    """Whether the model built from `spec` runs the user's op sequence and mult-adds."""
    from inspector.facts import compute_facts
    from inspector.op_trace import flatten_model

    if compute_facts(spec).mult_adds != structure.mult_adds:
        return False
    size = spec.input_size
    built = flatten_model(build_model(spec), torch.empty((1, spec.in_channels, size, size),
                                                         device="meta"))
    return _signature(built) == _signature(structure.ops)


def _beyond_spec(structure: Structure, rebuilt: ResNetSpec | None) -> list[tuple[str, int]]:
    """What no spec field can say, with the parameters each adds; the rest of the parameter gap
    to `rebuilt` (when there is one) is named as other layers, so nothing is left out."""
    from inspector.facts import compute_facts

    items: list[tuple[str, int]] = []
    blocks = structure.blocks
    role = structure.role_of
    stem_params = sum(op.params for op in structure.ops if role.get(op.id) == "stem")
    if _stem(structure)[0] is None and rebuilt is not None:
        items.append((f"{_describe_stem(structure)}, which no spec stem is",
                      stem_params - compute_facts(rebuilt).stem.params))
    kinds = Counter(b.attention for b in blocks if b.attention_ops)
    for kind, count in kinds.items():
        where = "every block" if count == len(blocks) else f"{count} of {len(blocks)} blocks"
        article = "an" if kind[0] in "aeiou" else "a"
        items.append((f"{article} {kind} branch in {where}",
                      sum(b.attention_params for b in blocks if b.attention == kind)))
    attention = {i for b in blocks for i in b.attention_ops}
    biases = sum(op.shape[1] for op in structure.ops
                 if op.kind == "conv" and op.bias and op.id not in attention)
    if biases:
        items.append(("convs with biases", biases))
    norms = Counter(op.label for op in structure.ops if op.kind == "bn" and op.label != "BN")
    for label, count in norms.items():
        items.append((f"{count} {label} layers in place of batch norm", 0))
    activations = Counter(op.label for op in structure.ops
                          if op.kind == "relu" and op.label != "ReLU")
    for label, count in activations.items():
        items.append((f"{count} {label} activations in place of ReLU", 0))
    scaled = [b for b in blocks if any(
        structure.by_id[i].label == "mul" and len(structure.by_id[i].inputs) == 1
        and i not in b.attention_ops and i not in b.shortcut_ops for i in b.ops)]
    if scaled:
        where = "every block" if len(scaled) == len(blocks) else \
            f"{len(scaled)} of {len(blocks)} blocks"
        items.append((f"a residual branch scaled by a constant in {where} (stochastic depth "
                      f"as evaluated, or a fixed scale)", 0))
    fixed = [op for op in structure.ops if op.type == "conv2d" and not op.params]
    if fixed:
        items.append((f"{len(fixed)} convs with fixed filters (blur pools or other buffers)", 0))
    opaque = [op for op in structure.ops if op.opaque]
    if opaque:
        items.append((f"{len(opaque)} opaque steps (TorchScript)", 0))
    between = [op for op in structure.ops
               if op.weighted and structure.role_of.get(op.id) == "main"]
    if between and blocks:
        items.append((f"{len(between)} weighted layers between blocks",
                      sum(op.params for op in between)))
    if rebuilt is not None and rebuilt.preact:
        head = [op for op in structure.ops if role.get(op.id) == "head"]
        after = [op for op in structure.ops if role.get(op.id) in ("head", None)
                 and op.kind == "bn" and structure.block_of.get(op.id) is None]
        if not any(op.kind == "bn" for op in head) and not after:
            channels = blocks[-1].output_shape[1] if blocks else 0
            items.append(("no norm and activation after the last block", -2 * channels))
    if rebuilt is not None:
        stem = [op for op in structure.ops if role.get(op.id) == "stem" and op.kind == "conv"]
        planned = [layer.out_channels for layer in rebuilt.stem_layers()
                   if layer.kind == "conv"]
        if _stem(structure)[0] is not None and len(stem) == len(planned) and \
                [op.shape[1] for op in stem] != planned:
            items.append((f"stem convs of {_numbers(tuple(op.shape[1] for op in stem))} channels "
                          f"instead of {_numbers(tuple(planned))}",
                          stem_params - compute_facts(rebuilt).stem.params))
        rest = structure.params - compute_facts(rebuilt).params - sum(p for _, p in items)
        wider = [b for b in blocks if len(b.main_convs) > b.main_layers]
        if rest and wider:
            where = "every block" if len(wider) == len(blocks) else \
                f"{len(wider)} of {len(blocks)} blocks"
            items.append((f"parallel or hierarchical convs standing for one layer (selective "
                          f"kernels, Res2Net's splits) in {where}", rest))
        elif rest:
            items.append(("other layers no spec field describes", rest))
    return items


def match(structure: Structure) -> Match:
    """The closest preset by activation order, then differing design choices, then depth; how
    it differs, complete (see the module docstring); or that the network is no ResNet."""
    fields = infer_spec(structure)
    best = min(PRESETS.values(), key=lambda p: _score(fields, p.spec, structure.depth))
    made_of = _made_of(structure)
    if made_of is not None:
        return Match(best.name, (), None, close=False, made_of=made_of)
    differences = _differences(fields, best.spec, structure)
    spec = _recover(fields, structure)
    changes = {k: fields[k] for k in _SPEC_KEYS
               if k in fields and fields[k] != getattr(best.spec, k)}
    try:
        rebuilt = best.spec.replace(**changes).validate()
    except (SpecError, TypeError, ValueError):
        rebuilt = None
    beyond = _beyond_spec(structure, rebuilt)
    if spec is not None and not beyond and spec.replace(
            input_size=best.spec.input_size).spec_hash() == best.spec.spec_hash():
        if not _same_ops(structure, spec):
            beyond = [("an op sequence (norms, activations, pools) other than the preset's", 0)]
        differences = [] if spec.input_size == best.spec.input_size else [
            f"input {spec.input_size}x{spec.input_size}"]
    elif not differences and not beyond:
        beyond = [("parameter shapes no spec field describes", 0)]
    return Match(best.name, tuple(differences), spec, rebuilt, tuple(beyond))


def _recover(fields: dict[str, Any], structure: Structure) -> ResNetSpec | None:
    if not structure.blocks or "block" not in fields or "stem" not in fields:
        return None
    try:
        spec = ResNetSpec().replace(**fields).validate()
    except SpecError:
        return None
    shapes = _user_shapes(structure)
    return spec if shapes is not None and _equivalent(structure, spec, shapes) else None


def _user_shapes(structure: Structure) -> Counter | None:
    return Counter(structure.parameter_shapes) if structure.parameter_shapes else None


def compare_analyses(first: Structure, other: Any,
                     names: tuple[str, str] | None = None) -> Comparison:
    """Totals side by side: another analysis, a `ResNetSpec` or a preset name."""
    from inspector.facts import compute_facts
    from inspector.presets import get_preset

    if isinstance(other, str):
        other_name, other_facts = other, compute_facts(get_preset(other))
    elif isinstance(other, ResNetSpec):
        other_name, other_facts = "design", compute_facts(other)
    elif isinstance(other, Structure):
        other_name, other_facts = other.name, other.facts
    else:
        raise ModelError("Compare with an analysis, a ResNetSpec or a preset name.")
    names = names or (first.name, other_name)
    rows = {}
    for label, a, b in (
        ("params", first.facts.params, other_facts.params),
        ("mult_adds", first.facts.mult_adds, other_facts.mult_adds),
        ("depth", first.facts.depth, other_facts.depth),
        ("activation_bytes", first.facts.activation_bytes, other_facts.activation_bytes),
        ("stages", len(first.facts.stages), len(other_facts.stages)),
        ("blocks", sum(s.blocks for s in first.facts.stages),
         sum(s.blocks for s in other_facts.stages)),
        ("projection_shortcuts", first.facts.projection_shortcuts,
         other_facts.projection_shortcuts),
        ("receptive_field", first.facts.receptive_field, other_facts.receptive_field),
    ):
        rows[label] = {names[0]: a, names[1]: b, "difference": b - a}
    import pandas as pd

    return Comparison(pd.DataFrame(rows).T, names)
