"""What a design costs, from its geometry alone: parameters, mult-adds, activation memory.

Mult-adds follow torchinfo's convention (what torchvision's GFLOPS column reports): a conv costs
its weight count times its output pixels, a batch norm or linear layer its parameter count.
Beside them `weight_mult_adds` keeps the conv and fc multiplications alone (no norm, no bias):
the paper's count, and what PyTorch's own FLOP counter counts.

Why a module of its own, below `spec`: the spec's size check (`validate`) needs these estimates,
and `facts` builds its tables from them. This module reads a design through the `Design`
protocol and imports nothing from `spec`, so the layers stay geometry -> costs -> spec -> facts
without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from inspector.geometry import BlockPlan, LayerGeometry
from inspector.kinds import BlockKind, ShortcutKind


class Design(Protocol):
    """What the cost model reads of a design. `ResNetSpec` is one; the protocol lets this module
    sit below `spec`, whose size check needs these estimates, without importing it."""

    block: str
    stride_in: str
    groups: int
    preact: bool
    residual: bool
    in_channels: int
    input_size: int
    num_classes: int

    @property
    def feature_channels(self) -> int: ...

    def blocks(self) -> tuple[BlockPlan, ...]: ...

    def stem_layers(self) -> tuple[LayerGeometry, ...]: ...

    def stem_output_size(self) -> int: ...


@dataclass(frozen=True)
class ConvGeometry:
    """One conv on a block's main path."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    groups: int = 1


def block_convs(spec: Design, plan: BlockPlan) -> tuple[ConvGeometry, ...]:
    """The main-path convs of a block, in order.

    Bottlenecks put the stride on the first 1x1 (v1, the paper) or on the 3x3 (v1.5,
    torchvision): same parameters and shapes, different compute.
    """
    if spec.block == BlockKind.BASIC:
        return (
            ConvGeometry(plan.in_channels, plan.width, 3, plan.stride, spec.groups),
            ConvGeometry(plan.width, plan.out_channels, 3, 1, spec.groups),
        )
    stride_1x1, stride_3x3 = (plan.stride, 1) if spec.stride_in == "1x1" else (1, plan.stride)
    return (
        ConvGeometry(plan.in_channels, plan.width, 1, stride_1x1),
        ConvGeometry(plan.width, plan.width, 3, stride_3x3, spec.groups),
        ConvGeometry(plan.width, plan.out_channels, 1, 1),
    )


BYTES_PER_FLOAT = 4
PROJECTIONS = (ShortcutKind.PROJECTION, ShortcutKind.POOLED_PROJECTION)


@dataclass(frozen=True)
class Cost:
    """Parameters, mult-adds and activation elements of a part of the network (batch of one).

    `mult_adds` is torchinfo's count; `weight_mult_adds` leaves out its per-parameter terms for
    norms and biases, which are no multiplications by a weight of an input, so a small net's
    paper-convention figure is not inflated by them (a plain 24-px net: 36,882 against 36,480).
    """

    params: int = 0
    mult_adds: int = 0
    activations: int = 0
    weight_mult_adds: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.params + other.params, self.mult_adds + other.mult_adds,
                    self.activations + other.activations,
                    self.weight_mult_adds + other.weight_mult_adds)


def conv_cost(in_ch: int, out_ch: int, kernel: int, groups: int, out_size: int) -> Cost:
    params = out_ch * (in_ch // groups) * kernel * kernel
    pixels = out_size * out_size
    return Cost(params, params * pixels, out_ch * pixels, params * pixels)


def norm_cost(channels: int, size: int) -> Cost:
    """Batch norm (and the activation after it, which stores as much again)."""
    return Cost(2 * channels, 2 * channels, channels * size * size)


def act_cost(channels: int, size: int) -> Cost:
    return Cost(activations=channels * size * size)


def stem_cost(spec: Design) -> Cost:
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
        if plan.shortcut == ShortcutKind.POOLED_PROJECTION:
            cost += act_cost(plan.in_channels, size)
        return cost if preact else cost + norm_cost(plan.out_channels, size)
    if plan.shortcut == ShortcutKind.IDENTITY_PAD:
        return act_cost(plan.out_channels, size)
    return Cost()


def block_cost(spec: Design, plan: BlockPlan) -> Cost:
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


def head_cost(spec: Design, size: int) -> Cost:
    channels = spec.feature_channels
    total = Cost()
    if spec.preact:
        total += norm_cost(channels, size) + act_cost(channels, size)
    fc_params = channels * spec.num_classes + spec.num_classes
    weights = channels * spec.num_classes
    return total + Cost(fc_params, fc_params, channels + spec.num_classes, weights)


def _final_size(spec: Design) -> int:
    plans = spec.blocks()
    return plans[-1].out_size if plans else spec.stem_output_size()


def estimate_params(spec: Design) -> int:
    """Parameter count of a spec that has passed every check but the size check."""
    return total_cost(spec).params


def estimate_activation_bytes(spec: Design) -> int:
    """Bytes of float32 layer outputs for one image: roughly what training keeps for backward."""
    return total_cost(spec).activations * BYTES_PER_FLOAT


def total_cost(spec: Design) -> Cost:
    """The whole network's cost, summed over stem, blocks and head."""
    total = stem_cost(spec) + head_cost(spec, _final_size(spec))
    for plan in spec.blocks():
        total += block_cost(spec, plan)
    return total
