"""Designer: start from a preset, change anything, and watch the numbers, graph and tables follow.

The sidebar widgets hold a draft; every run turns the draft into a spec. A valid spec becomes the
design (session and URL); an invalid one shows its sentence while the last valid design stays.
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlencode

import streamlit as st

from inspector import PRESETS, ResNetSpec, SpecError, find_preset, get_preset
from inspector.drawing import ViewState
from inspector.kinds import BlockKind, Direction
from inspector.spec import (MAX_CHANNELS, MAX_CLASSES, MAX_GROUPS, MAX_INPUT_SIZE, MAX_STAGES,
                            MAX_STRIDE, MAX_WIDTH_PER_GROUP, SHORTCUTS, STEM_DESCRIPTIONS, STEMS,
                            STRIDE_PLACEMENTS, stage_name)
from inspector.node_details import findings_payload
from inspector.trace import design_findings, design_structure, trace_graph
from pages import common, findings_view

ss = st.session_state

# ----- session-state keys (tests drive the widgets by these) ---------------------------------
PRESET_KEY = "d_preset"
DEPTH_KEY = "d_depth"
STAGES_KEY = "d_stages"
BASE_WIDTH_KEY = "d_base_width"
PLAIN_KEY = "d_plain"  # the opposite of the spec's `residual`
#: Fields with no control (a custom expansion from a link, zero-init) ride along unchanged.
HIDDEN_KEY = "d_hidden"
#: The widgets that hold one spec field each, by field name.
FIELD_KEYS = {name: f"d_{name}" for name in (
    "block", "stem", "stem_width", "stride_in", "shortcut", "preact", "relu_after_add", "groups",
    "width_per_group", "input_size", "num_classes", "in_channels")}
BLOCK_KEY, PREACT_KEY = FIELD_KEYS["block"], FIELD_KEYS["preact"]
RELU_AFTER_ADD_KEY, SHORTCUT_KEY = FIELD_KEYS["relu_after_add"], FIELD_KEYS["shortcut"]
GROUPS_KEY, WIDTH_PER_GROUP_KEY = FIELD_KEYS["groups"], FIELD_KEYS["width_per_group"]
GRAPH_VIEW_KEY, GRAPH_DIRECTION_KEY, GRAPH_FOLD_KEY = "g_view", "g_direction", "g_fold"
#: The layer table's filters, by the column each filters.
FILTER_KEYS = {"stage": "f_stage", "role": "f_role", "type": "f_type"}
GRAPH_KEY = "designer_graph"


class StageControl(StrEnum):
    """A per-stage widget; its key ends with the stage's number (d_blocks_0, d_width_2, ...)."""

    BLOCKS = "d_blocks"
    WIDTH = "d_width"
    STRIDE = "d_stride"

    def key(self, stage: int) -> str:
        return f"{self}_{stage}"


def forget_stage(stage: int) -> None:
    """Drop a stage's widgets, so a stage added later starts from fresh values."""
    for control in StageControl:
        ss.pop(control.key(stage), None)


#: Standard layouts the depth picker offers, by number of stages: label -> (block, layers).
IMAGENET_DEPTHS = {
    "18": (BlockKind.BASIC, (2, 2, 2, 2)), "34": (BlockKind.BASIC, (3, 4, 6, 3)),
    "50": (BlockKind.BOTTLENECK, (3, 4, 6, 3)), "101": (BlockKind.BOTTLENECK, (3, 4, 23, 3)),
    "152": (BlockKind.BOTTLENECK, (3, 8, 36, 3)), "200": (BlockKind.BOTTLENECK, (3, 24, 36, 3)),
}
CIFAR_DEPTHS = {
    **{f"{6 * n + 2} (6n+2, n={n})": (BlockKind.BASIC, (n, n, n)) for n in (3, 5, 7, 9, 18, 200)},
    "164 (9n+2, n=18)": (BlockKind.BOTTLENECK, (18, 18, 18)),
}
CUSTOM = "custom"
STRIDE_LABELS = {"1x1": "v1: on the first 1x1 (paper)", "3x3": "v1.5: on the 3x3 (torchvision)"}
#: Short labels: the Designer's graph controls share a row with two others.
DIRECTION_LABELS = {Direction.TB: "down", Direction.LR: "across"}
#: The slider's usual reach (ResNet-1202's 200 per stage); a loaded design with more stretches it.
MAX_BLOCKS_PER_STAGE = 200
HIDDEN_FIELDS = ("expansion", "zero_init_residual")


def depth_options(stages: int) -> dict[str, tuple[BlockKind, tuple[int, ...]]]:
    return {4: IMAGENET_DEPTHS, 3: CIFAR_DEPTHS}.get(stages, {})


# ----- widget state <-> spec -----------------------------------------------------------------


def load_widgets(spec: ResNetSpec, preset: str) -> None:
    """Set every sidebar widget from a spec (before the widgets are drawn)."""
    ss[PRESET_KEY] = preset
    ss[STAGES_KEY] = spec.num_stages
    for i in range(MAX_STAGES):
        forget_stage(i)
    for i in range(spec.num_stages):
        ss[StageControl.BLOCKS.key(i)] = spec.layers[i]
        ss[StageControl.WIDTH.key(i)] = spec.widths[i]
        ss[StageControl.STRIDE.key(i)] = spec.strides[i]
    ss[BASE_WIDTH_KEY] = spec.widths[0]
    for name, key in FIELD_KEYS.items():
        ss[key] = getattr(spec, name)
    ss[PLAIN_KEY] = not spec.residual
    ss[HIDDEN_KEY] = {name: getattr(spec, name) for name in HIDDEN_FIELDS}


def widget_spec() -> ResNetSpec:
    """The draft in the widgets as a spec (not yet validated)."""
    n = ss[STAGES_KEY]
    fields = {name: ss[key] for name, key in FIELD_KEYS.items()}
    fields["width_per_group"] = common.width_per_group(fields["block"],
                                                       fields["width_per_group"])
    fields["stride_in"] = common.stride_placement(fields["block"], fields["stride_in"])
    return ResNetSpec(**ss[HIDDEN_KEY]).replace(
        **fields,
        layers=[ss[StageControl.BLOCKS.key(i)] for i in range(n)],
        widths=[ss[StageControl.WIDTH.key(i)] for i in range(n)],
        strides=[ss[StageControl.STRIDE.key(i)] for i in range(n)],
        residual=not ss[PLAIN_KEY],
    )


def current_depth_label() -> str:
    n = ss[STAGES_KEY]
    layers = tuple(ss.get(StageControl.BLOCKS.key(i)) for i in range(n))
    for label, (block, standard) in depth_options(n).items():
        if block == ss[BLOCK_KEY] and layers == standard:
            return label
    return CUSTOM


# ----- callbacks: they run before the script, so they may set other widgets ------------------


def on_preset() -> None:
    load_widgets(get_preset(ss[PRESET_KEY]), ss[PRESET_KEY])


def on_depth() -> None:
    choice = depth_options(ss[STAGES_KEY]).get(ss[DEPTH_KEY])
    if choice is None:
        return
    block, layers = choice
    ss[BLOCK_KEY] = block
    for i, count in enumerate(layers):
        ss[StageControl.BLOCKS.key(i)] = count


def on_stages() -> None:
    """A new stage doubles the last width and halves the resolution, as the paper's do."""
    n = ss[STAGES_KEY]
    for i in range(1, n):
        if StageControl.BLOCKS.key(i) not in ss:
            ss[StageControl.BLOCKS.key(i)] = 2
            previous = ss[StageControl.WIDTH.key(i - 1)]
            ss[StageControl.WIDTH.key(i)] = min(previous * 2, MAX_CHANNELS)
            ss[StageControl.STRIDE.key(i)] = 2
    for i in range(n, MAX_STAGES):
        forget_stage(i)


def on_base_width() -> None:
    for i in range(ss[STAGES_KEY]):
        ss[StageControl.WIDTH.key(i)] = min(ss[BASE_WIDTH_KEY] * 2**i, MAX_CHANNELS)


def on_preact() -> None:
    # Pre-activation blocks end with the sum: no ReLU after it (He et al. 2016).
    ss[RELU_AFTER_ADD_KEY] = not ss[PREACT_KEY]


def groups_help() -> str:
    """What the groups control does to the current draft, in its own numbers.

    A bottleneck keeps the width *per group* fixed, so more groups widen its 3x3 (ResNeXt
    32x4d: 32 groups of 4 channels); going from 1 to 2 groups at width per group 64 doubles
    that conv's width, which surprises anyone expecting grouping to save parameters.
    """
    draft = widget_spec()
    groups, base = draft.groups, draft.widths[0]
    if draft.block == BlockKind.BOTTLENECK:
        per_group_here = draft.inner_width(0) // groups  # width per group scales with the stage
        return (f"Grouped 3x3 convs (ResNeXt's cardinality). A bottleneck's 3x3 has groups x "
                f"width per group channels (times stage width / 64): here {groups} x "
                f"{per_group_here} = {groups * per_group_here} in {stage_name(0)}. The width per "
                f"group stays fixed, so more groups widen the block and add parameters: at 64 "
                f"per group, 2 groups double the 3x3's width. ResNeXt 32x4d is 32 groups of 4.")
    return (f"Grouped 3x3 convs: each of the {groups} groups sees {base / groups:g} of "
            f"{stage_name(0)}'s {base} channels, so the 3x3 weights shrink {groups}x while the "
            f"widths stay as set.")


# ----- the sidebar ----------------------------------------------------------------------------


def sidebar() -> None:
    sb = st.sidebar
    sb.selectbox("Preset", list(PRESETS), key=PRESET_KEY, on_change=on_preset,
                 help="Every control below starts from the preset; choosing a preset resets "
                      "them.")
    preset = PRESETS[ss[PRESET_KEY]]
    sb.caption(f"{preset.description}. Source: {preset.source}.")

    sb.subheader("Depth")
    n = ss[STAGES_KEY]
    options = [CUSTOM, *depth_options(n)]
    ss[DEPTH_KEY] = current_depth_label()
    sb.selectbox("Standard layout", options, key=DEPTH_KEY, on_change=on_depth,
                 help="Sets the blocks per stage (and block type) of a published depth. "
                      "ImageNet depths need 4 stages, CIFAR's 6n+2 needs 3.")
    sb.number_input("Stages", 1, MAX_STAGES, key=STAGES_KEY, on_change=on_stages)
    for i in range(ss[STAGES_KEY]):
        # A link may carry more blocks than the slider's usual reach; the slider then reaches
        # them rather than clamping the design to its range.
        most = max(MAX_BLOCKS_PER_STAGE, ss[StageControl.BLOCKS.key(i)])
        sb.slider(f"Blocks in {stage_name(i)}", 1, most, key=StageControl.BLOCKS.key(i))

    sb.subheader("Blocks")
    sb.radio("Block type", tuple(BlockKind), key=BLOCK_KEY, horizontal=True,
             help="basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1 with 4x wider output")
    bottleneck = ss[BLOCK_KEY] == BlockKind.BOTTLENECK
    sb.radio("Stride placement", STRIDE_PLACEMENTS, key=FIELD_KEYS["stride_in"],
             format_func=STRIDE_LABELS.get, disabled=not bottleneck,
             help="Where a bottleneck puts its stride 2: same parameters, different compute.")
    sb.toggle("Plain network (no shortcuts)", key=PLAIN_KEY)
    sb.radio("Shortcut", SHORTCUTS, key=SHORTCUT_KEY, disabled=ss[PLAIN_KEY],
             format_func=common.shortcut_label)
    sb.toggle("Pre-activation (BN-ReLU before each conv)", key=PREACT_KEY, on_change=on_preact)
    sb.toggle("ReLU after the sum", key=RELU_AFTER_ADD_KEY)
    cols = sb.columns(2)
    cols[0].number_input("Groups", 1, MAX_GROUPS, key=GROUPS_KEY, help=groups_help())
    cols[1].number_input("Width per group", 1, MAX_WIDTH_PER_GROUP, key=WIDTH_PER_GROUP_KEY,
                         disabled=not bottleneck,
                         help="Bottlenecks only: 64 is ResNet, 4 with 32 groups is ResNeXt "
                              "32x4d, 128 is Wide ResNet-50-2")

    sb.subheader("Widths")
    sb.number_input("Base width (doubles each stage)", 1, MAX_CHANNELS, key=BASE_WIDTH_KEY,
                    on_change=on_base_width)
    with sb.expander("Per-stage widths and strides"):
        for i in range(ss[STAGES_KEY]):
            cols = st.columns(2)
            cols[0].number_input(f"{stage_name(i)} width", 1, MAX_CHANNELS,
                                 key=StageControl.WIDTH.key(i))
            cols[1].number_input(f"{stage_name(i)} stride", 1, MAX_STRIDE,
                                 key=StageControl.STRIDE.key(i))

    sb.subheader("Stem and input")
    sb.selectbox("Stem", STEMS, key=FIELD_KEYS["stem"],
                 format_func=lambda stem: f"{stem}: {STEM_DESCRIPTIONS[stem]}")
    sb.number_input("Stem width", 1, MAX_CHANNELS, key=FIELD_KEYS["stem_width"])
    # The ranges are validate()'s own, so every design a link can carry fits the controls.
    cols = sb.columns(3)
    cols[0].number_input("Input size", 1, MAX_INPUT_SIZE, key=FIELD_KEYS["input_size"])
    cols[1].number_input("Channels", 1, MAX_CHANNELS, key=FIELD_KEYS["in_channels"])
    cols[2].number_input("Classes", 1, MAX_CLASSES, key=FIELD_KEYS["num_classes"])


# ----- the main area --------------------------------------------------------------------------


def describe(spec: ResNetSpec, preset: str) -> None:
    changed = common.changed_fields(spec, preset)
    if not changed:
        st.caption(f"**{preset}**, as published.")
    else:
        same = find_preset(spec)
        also = f" It builds the same network as **{same}**." if same else ""
        st.caption(f"Modified from **{preset}**: {', '.join(changed)}.{also}")


#: The graph's controls, by the ViewState field each sets.
GRAPH_CONTROLS = {"view": GRAPH_VIEW_KEY, "direction": GRAPH_DIRECTION_KEY, "fold": GRAPH_FOLD_KEY}


def graph_section(spec: ResNetSpec, state: ViewState) -> None:
    """The graph right under the title, its controls in one row above it, so a change's effect
    is on screen without scrolling."""
    cols = st.columns(3)
    common.view_choice(GRAPH_VIEW_KEY, cols[0])
    common.direction_choice(GRAPH_DIRECTION_KEY, cols[1], DIRECTION_LABELS)
    common.fold_choice(GRAPH_FOLD_KEY, cols[2],
                       help="Draw a run of identical blocks once, marked 'x N'; 'auto' folds "
                            "large graphs only")
    drawing = common.drawing(spec, state.replace(search=""))
    payload = findings_payload(design_findings(spec), trace_graph(spec, state.view),
                               design_structure(spec))
    common.show_drawing(findings_view.with_findings(drawing, payload), key=GRAPH_KEY,
                        graph_key=spec.spec_hash(), reports=True, search=state.search)
    st.caption("Solid shortcuts are identities; dashed ones change the shape (zero-padding or "
               "a projection), as in the paper's figure 3.")


def stages_section(spec: ResNetSpec) -> None:
    st.subheader("Stages")
    # Each stage's share of the parameters and mult-adds as a bar in its row: a chart beside
    # the table said the same at the cost of a redraw that delayed every change's new graph.
    common.number_table(common.stages(spec), share_bars=True)


def layers_section(spec: ResNetSpec) -> None:
    st.subheader("Layers")
    table = common.layers(spec)
    options = {"stage": list(dict.fromkeys(table["stage"])),
               "role": list(dict.fromkeys(table["role"])), "type": sorted(set(table["type"]))}
    shown = table
    for (column, choices), where in zip(options.items(), st.columns(len(options))):
        key = FILTER_KEYS[column]
        if key in ss:  # a filter picked for another design may name stages this one lacks
            ss[key] = [value for value in ss[key] if value in choices]
        picked = where.multiselect(column.capitalize(), choices, key=key,
                                   placeholder=f"all {column}s")
        if picked:
            shown = shown[shown[column].isin(picked)]
    st.caption(f"{len(shown):,} of {len(table):,} layers")
    common.number_table(shown, height=420)


def main() -> None:
    messages = common.ensure_design()
    if BLOCK_KEY not in ss:
        load_widgets(common.current_design(), common.current_preset())
    messages += common.view_state_from_link(GRAPH_CONTROLS)
    sidebar()

    st.title("Designer")
    for message in messages:
        common.show_error(message)
    preset = ss[PRESET_KEY]
    try:
        draft = widget_spec().validate()
    except SpecError as error:
        common.show_error(error)
        st.info("Showing the last valid design until the controls describe one that can be built.")
        preset = common.current_preset()
        draft = None
    spec = draft or common.current_design()
    state = common.current_view_state(GRAPH_CONTROLS, GRAPH_KEY, spec.spec_hash())
    if draft is not None:
        common.publish_design(draft, preset, state)
    describe(spec, preset)
    # The graph first, across the page's width: a deep network is long, and a change's effect
    # must be seen without scrolling; the numbers follow it.
    graph_section(spec, state)
    common.show_metrics(spec)
    findings_view.show_findings(design_findings(spec))
    st.caption(f"Link to this design and picture: "
               f"`?{urlencode(common.current_query())}`")
    stages_section(spec)
    layers_section(spec)


common.require_navigation()
main()
