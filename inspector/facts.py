"""Numbers about a design, computed from the spec alone: nothing is built or allocated.

Mult-adds follow torchinfo's convention (what torchvision's GFLOPS column reports): a conv costs
its weight count times its output pixels, a batch norm or linear layer its parameter count.
Tests hold these figures equal to torchinfo on the built model and to the published tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.spec import BlockPlan, ResNetSpec, block_convs, stage_name

BYTES_PER_FLOAT = 4
PROJECTIONS = ("projection", "pooled_projection")


@dataclass(frozen=True)
class Cost:
    """Parameters, mult-adds and activation elements of a part of the network (batch of one)."""

    params: int = 0
    mult_adds: int = 0
    activations: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.params + other.params, self.mult_adds + other.mult_adds,
                    self.activations + other.activations)


def conv_cost(in_ch: int, out_ch: int, kernel: int, groups: int, out_size: int) -> Cost:
    params = out_ch * (in_ch // groups) * kernel * kernel
    pixels = out_size * out_size
    return Cost(params, params * pixels, out_ch * pixels)


def norm_cost(channels: int, size: int) -> Cost:
    """Batch norm (and the activation after it, which stores as much again)."""
    return Cost(2 * channels, 2 * channels, channels * size * size)


def act_cost(channels: int, size: int) -> Cost:
    return Cost(activations=channels * size * size)


def stem_cost(spec: ResNetSpec) -> Cost:
    """Stem convs with their norms; pre-activation leaves the last conv's norm to the blocks."""
    total, channels, size = Cost(), spec.in_channels, spec.input_size
    layers = spec.stem_layers()
    last_conv = max(i for i, layer in enumerate(layers) if layer.kind == "conv")
    for position, layer in enumerate(layers):
        size = layer.output_size(size)
        if layer.kind == "conv":
            total += conv_cost(channels, layer.out_channels, layer.kernel, 1, size)
            channels = layer.out_channels
            if not (spec.preact and position == last_conv):
                total += norm_cost(channels, size) + act_cost(channels, size)
        else:
            total += act_cost(channels, size)
    return total


def shortcut_cost(plan: BlockPlan, preact: bool) -> Cost:
    size = plan.out_size
    if plan.shortcut in PROJECTIONS:
        cost = conv_cost(plan.in_channels, plan.out_channels, 1, 1, size)
        if plan.shortcut == "pooled_projection":
            cost += act_cost(plan.in_channels, size)
        return cost if preact else cost + norm_cost(plan.out_channels, size)
    if plan.shortcut == "identity_pad":
        return act_cost(plan.out_channels, size)
    return Cost()


def block_cost(spec: ResNetSpec, plan: BlockPlan) -> Cost:
    total, size = Cost(), plan.in_size
    for conv in block_convs(spec, plan):
        in_size = size
        size = -(-size // conv.stride)
        norm_channels, norm_size = (
            (conv.in_channels, in_size) if spec.preact else (conv.out_channels, size)
        )
        total += conv_cost(conv.in_channels, conv.out_channels, conv.kernel, conv.groups, size)
        total += norm_cost(norm_channels, norm_size) + act_cost(norm_channels, norm_size)
    if spec.residual:
        total += act_cost(plan.out_channels, plan.out_size)  # the sum
    return total + shortcut_cost(plan, spec.preact)


def head_cost(spec: ResNetSpec, size: int) -> Cost:
    channels = spec.feature_channels
    total = Cost()
    if spec.preact:
        total += norm_cost(channels, size) + act_cost(channels, size)
    fc_params = channels * spec.num_classes + spec.num_classes
    return total + Cost(fc_params, fc_params, channels + spec.num_classes)


def _final_size(spec: ResNetSpec) -> int:
    plans = spec.blocks()
    return plans[-1].out_size if plans else spec.stem_output_size()


def estimate_params(spec: ResNetSpec) -> int:
    """Parameter count of a spec that has passed every check but the size check."""
    return _total(spec).params


def estimate_activation_bytes(spec: ResNetSpec) -> int:
    """Bytes of float32 layer outputs for one image: roughly what training keeps for backward."""
    return _total(spec).activations * BYTES_PER_FLOAT


def _total(spec: ResNetSpec) -> Cost:
    total = stem_cost(spec) + head_cost(spec, _final_size(spec))
    for plan in spec.blocks():
        total += block_cost(spec, plan)
    return total


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
    projections = sum(1 for p in plans if p.shortcut in PROJECTIONS)
    pads = sum(1 for p in plans if p.shortcut == "identity_pad")
    notes = []
    if not spec.residual:
        notes.append("plain network: no shortcuts")
    if projections:
        noun = "shortcut" if projections == 1 else "shortcuts"
        notes.append(f"{projections} projection {noun} not counted")
    if pads:
        noun = "shortcut has" if pads == 1 else "shortcuts have"
        notes.append(f"{pads} zero-padding {noun} no weights")
    if spec.residual and not projections and not pads:
        notes.append("every shortcut is an identity")
    return depth, "; ".join([text] + notes)


def compute_facts(spec: ResNetSpec) -> Facts:
    """All headline numbers of a valid spec (raises SpecError for an invalid one)."""
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
    total = _total(spec)
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
        zero_pad_shortcuts=sum(1 for p in plans if p.shortcut == "identity_pad"),
        stem=StageFacts("conv1", 0, spec.stem_width, spec.stem_output_size(), stem.params,
                        stem.mult_adds, stem_field),
        stages=tuple(stages),
        head_params=head.params,
        activation_bytes=total.activations * BYTES_PER_FLOAT,
        receptive_field=stage_fields[-1],
        output_shape=(1, spec.num_classes),
    )
