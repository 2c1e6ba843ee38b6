"""The plain values a design's geometry is made of: stem layers, block plans, the paper's names.

Why a module of their own, at the bottom: the spec produces these values and the cost model
reads them, and neither may import the other's module for it (spec -> costs -> geometry).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerGeometry:
    """A conv or pool in the stem: kernel, stride and padding decide the output size."""

    kind: str  # "conv" or "maxpool"
    kernel: int
    stride: int
    padding: int
    out_channels: int = 0  # 0 for pools: they keep the channels

    def output_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class BlockPlan:
    """What one residual block receives and produces; the builder and facts both read it."""

    stage: int  # 0-based stage index
    index: int  # 0-based position inside the stage
    in_channels: int
    width: int  # channels of the inner (3x3) convs
    out_channels: int
    stride: int
    in_size: int
    out_size: int
    shortcut: str  # one of SHORTCUT_KINDS

    @property
    def name(self) -> str:
        """The paper's name for the block, e.g. conv3_1."""
        return block_name(self.stage, self.index)

    @property
    def changes_shape(self) -> bool:
        return self.stride != 1 or self.in_channels != self.out_channels


def stage_name(stage: int) -> str:
    """The paper's stage names: the stem is conv1, stages are conv2_x, conv3_x, ..."""
    return f"conv{stage + 2}_x"


def block_name(stage: int, index: int) -> str:
    """The paper's name for a block from 0-based stage and index: conv3_1 is stage 1's first."""
    return f"conv{stage + 2}_{index + 1}"
