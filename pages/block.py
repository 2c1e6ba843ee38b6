"""Block: one residual block on its own, traced on an input you choose."""

from __future__ import annotations

import streamlit as st

from inspector import SpecError
from inspector.kinds import BlockKind
from inspector.spec import (MAX_BATCH, MAX_CHANNELS, MAX_GROUPS, MAX_INPUT_SIZE, MAX_STRIDE,
                            MAX_WIDTH_PER_GROUP, SHORTCUTS, STRIDE_PLACEMENTS)
from pages import common

STRIDE_LABELS = {"1x1": "v1: first 1x1", "3x3": "v1.5: the 3x3"}
DIRECTION_KEY = "b_direction"
GRAPH_KEY = "block_graph"


def controls() -> dict:
    """The block's settings, as `inspect_block`'s arguments."""
    cols = st.columns(4)
    block = cols[0].radio("Block type", tuple(BlockKind), key="b_block", horizontal=True)
    in_channels = cols[1].number_input("In channels", 1, MAX_CHANNELS, 64, key="b_in")
    out_channels = cols[2].number_input(
        "Out channels", 1, MAX_CHANNELS, 128, key="b_out",
        help="A bottleneck's output is 4x its inner width, so this must be a multiple of 4.")
    stride = cols[3].number_input("Stride", 1, MAX_STRIDE, 2, key="b_stride")
    cols = st.columns(4)
    shortcut = cols[0].selectbox("Shortcut", SHORTCUTS, index=1, key="b_shortcut",
                                 format_func=common.shortcut_label)
    stride_in = cols[1].radio("Stride placement", STRIDE_PLACEMENTS, index=1, key="b_stride_in",
                              format_func=STRIDE_LABELS.get, horizontal=True,
                              disabled=block != BlockKind.BOTTLENECK)
    groups = cols[2].number_input("Groups", 1, MAX_GROUPS, 1, key="b_groups")
    width_per_group = cols[3].number_input("Width per group", 1, MAX_WIDTH_PER_GROUP, 64,
                                           key="b_wpg",
                                           disabled=block != BlockKind.BOTTLENECK)
    cols = st.columns(4)
    batch = cols[0].number_input("Batch", 1, MAX_BATCH, 2, key="b_batch")
    height = cols[1].number_input("Height", 1, MAX_INPUT_SIZE, 32, key="b_height")
    width = cols[2].number_input("Width", 1, MAX_INPUT_SIZE, 32, key="b_width")
    preact = cols[3].toggle("Pre-activation", key="b_preact")
    return dict(
        block=block, in_channels=in_channels, out_channels=out_channels, stride=stride,
        shortcut=shortcut, input_shape=(batch, in_channels, height, width), stride_in=stride_in,
        preact=preact, groups=groups,
        width_per_group=common.width_per_group(block, width_per_group),
    )


def main() -> None:
    st.title("Block")
    st.caption("One residual block, traced with torch.fx on the input below: its layers with "
               "their output shapes, its parameters, and its shortcut.")
    arguments = controls()
    st.caption(f"Input shape: {list(arguments['input_shape'])} (N, C, H, W)")
    try:
        inspection = common.block_inspection(**arguments)
    except SpecError as error:
        common.show_error(error)
        return
    cols = st.columns(3)
    cols[0].metric("Parameters", common.count(inspection.params))
    cols[1].metric("Output shape", " x ".join(str(d) for d in inspection.output_shape))
    cols[2].metric("Shortcut", ("dashed" if inspection.dashed else "solid") + ": "
                   + inspection.shortcut_kind.replace("_", " "))
    (st.warning if inspection.dashed else st.success)(inspection.reason)
    direction = common.direction_choice(DIRECTION_KEY)
    common.show_drawing(common.block_drawing(direction, **arguments), key=GRAPH_KEY)


common.require_navigation()
main()
