"""Numbers about a design, computed from the spec alone: nothing is built or allocated.

The costs come from `costs` (torchinfo's mult-add convention); this module adds what a reader
asks of a design: depth by the paper's count, per-stage rows, receptive fields. Tests hold these
figures equal to torchinfo on the built model and to the published tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from inspector.costs import (BYTES_PER_FLOAT, PROJECTIONS, Cost, block_cost, block_convs,
                             head_cost, stem_cost, total_cost)
from inspector.kinds import ShortcutKind
from inspector.spec import ResNetSpec, stage_name
#: Designs whose facts are kept: a Compare page shows two, the Designer one at a time.
_FACTS_KEPT = 256


@dataclass(frozen=True)
class StageFacts:
    """One row of the paper's architecture table."""

    name: str  # conv1 for the stem, conv2_x ... for stages
    blocks: int
    out_channels: int
    out_size: int
    params: int
    mult_adds: int
    receptive_field: int


@dataclass(frozen=True)
class Facts:
    """What a user asks of a design before building it."""

    params: int
    mult_adds: int
    depth: int  # the paper's convention: weighted layers on the main path
    depth_explanation: str
    conv_layers: int  # every conv, projections included
    projection_shortcuts: int
    zero_pad_shortcuts: int
    stem: StageFacts
    stages: tuple[StageFacts, ...]
    head_params: int
    activation_bytes: int
    receptive_field: int
    output_shape: tuple[int, int]


def receptive_fields(spec: ResNetSpec) -> tuple[int, list[int]]:
    """Receptive field (pixels) along the main path after the stem and after each stage."""
    field, jump = 1, 1
    for layer in spec.stem_layers():
        field += (layer.kernel - 1) * jump
        jump *= layer.stride
    stem_field, per_stage = field, []
    plans = spec.blocks()
    for stage in range(spec.num_stages):
        for plan in (p for p in plans if p.stage == stage):
            for conv in block_convs(spec, plan):
                field += (conv.kernel - 1) * jump
                jump *= conv.stride
        per_stage.append(field)
    return stem_field, per_stage


def shortcut_notes(kinds: Sequence[str]) -> list[str]:
    """What the depth's explanation says of the shortcuts, given each block's shortcut kind:
    projections are weighted but not counted, zero-padding has no weights. Shared by designs and
    analysed models, so both explain their count in the same words."""
    if all(kind == ShortcutKind.NONE for kind in kinds):
        return ["plain network: no shortcuts"]
    notes = []
    projections = sum(kind in PROJECTIONS for kind in kinds)
    pads = sum(kind == ShortcutKind.IDENTITY_PAD for kind in kinds)
    others = sum(kind == ShortcutKind.OTHER for kind in kinds)
    if projections:
        noun = "shortcut" if projections == 1 else "shortcuts"
        notes.append(f"{projections} projection {noun} not counted")
    if pads:
        noun = "shortcut has" if pads == 1 else "shortcuts have"
        notes.append(f"{pads} zero-padding {noun} no weights")
    if others:
        noun = "shortcut" if others == 1 else "shortcuts"
        notes.append(f"{others} other {noun} not counted")
    if not notes:
        notes.append("every shortcut is an identity")
    return notes


def explain_depth(spec: ResNetSpec) -> tuple[int, str]:
    """The paper's layer count and how it adds up, e.g.
    '34 = 1 (stem conv) + 2 x (3+4+6+3) (block convs) + 1 (fc); 3 projection shortcuts not counted'.
    """
    plans = spec.blocks()
    stem_convs = sum(1 for g in spec.stem_layers() if g.kind == "conv")
    per_block = len(block_convs(spec, plans[0]))
    # The stem counts as one layer whatever its convs: ResNet-C/D keep the name ResNet-50.
    depth = 1 + per_block * len(plans) + 1
    counts = "+".join(str(n) for n in spec.layers)
    stem_label = "stem conv" if stem_convs == 1 else f"stem: {stem_convs} convs counted as one"
    text = f"{depth} = 1 ({stem_label}) + {per_block} x ({counts}) (block convs) + 1 (fc)"
    notes = shortcut_notes([p.shortcut for p in plans])
    return depth, "; ".join([text] + notes)


@lru_cache(maxsize=_FACTS_KEPT)
def weight_mult_adds(spec: ResNetSpec) -> int:
    """Conv and fc multiply-adds alone, without torchinfo's terms for norms and biases: the
    convention of the paper's FLOPs row and of PyTorch's FLOP counter (raises SpecError for an
    invalid spec)."""
    spec.validate()
    return total_cost(spec).weight_mult_adds


@lru_cache(maxsize=_FACTS_KEPT)
def compute_facts(spec: ResNetSpec) -> Facts:
    """All headline numbers of a valid spec (raises SpecError for an invalid one).

    Computed once per spec; `Facts` is frozen, so callers share it safely.
    """
    spec.validate()
    plans = spec.blocks()
    stem = stem_cost(spec)
    stem_field, stage_fields = receptive_fields(spec)
    stages = []
    for stage in range(spec.num_stages):
        members = [p for p in plans if p.stage == stage]
        cost = Cost()
        for plan in members:
            cost += block_cost(spec, plan)
        stages.append(StageFacts(
            name=stage_name(stage), blocks=len(members), out_channels=members[-1].out_channels,
            out_size=members[-1].out_size, params=cost.params, mult_adds=cost.mult_adds,
            receptive_field=stage_fields[stage],
        ))
    head = head_cost(spec, plans[-1].out_size)
    total = total_cost(spec)
    depth, explanation = explain_depth(spec)
    projections = sum(1 for p in plans if p.shortcut in PROJECTIONS)
    return Facts(
        params=total.params,
        mult_adds=total.mult_adds,
        depth=depth,
        depth_explanation=explanation,
        conv_layers=sum(1 for g in spec.stem_layers() if g.kind == "conv")
        + sum(len(block_convs(spec, p)) for p in plans) + projections,
        projection_shortcuts=projections,
        zero_pad_shortcuts=sum(1 for p in plans if p.shortcut == ShortcutKind.IDENTITY_PAD),
        stem=StageFacts("conv1", 0, spec.stem_width, spec.stem_output_size(), stem.params,
                        stem.mult_adds, stem_field),
        stages=tuple(stages),
        head_params=head.params,
        activation_bytes=total.activations * BYTES_PER_FLOAT,
        receptive_field=stage_fields[-1],
        output_shape=(1, spec.num_classes),
    )
