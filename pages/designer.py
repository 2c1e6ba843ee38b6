"""Designer: start from a preset, change anything, and watch the numbers, graph and tables follow.

The sidebar widgets hold a draft; every run turns the draft into a spec. A valid spec becomes the
design (session and URL); an invalid one shows its sentence while the last valid design stays.
"""

from __future__ import annotations

from urllib.parse import urlencode

import plotly.graph_objects as go
import streamlit as st

from inspector import PRESETS, ResNetSpec, SpecError, find_preset, get_preset
from inspector.spec import (MAX_CHANNELS, MAX_CLASSES, MAX_GROUPS, MAX_INPUT_SIZE, MAX_STAGES,
                            MAX_STRIDE, MAX_WIDTH_PER_GROUP, SHORTCUT_DESCRIPTIONS, SHORTCUTS,
                            STEM_DESCRIPTIONS, STEMS, stage_name)
from pages import common

ss = st.session_state
#: Standard layouts the depth picker offers, by number of stages: label -> (block, layers).
IMAGENET_DEPTHS = {
    "18": ("basic", (2, 2, 2, 2)), "34": ("basic", (3, 4, 6, 3)),
    "50": ("bottleneck", (3, 4, 6, 3)), "101": ("bottleneck", (3, 4, 23, 3)),
    "152": ("bottleneck", (3, 8, 36, 3)), "200": ("bottleneck", (3, 24, 36, 3)),
}
CIFAR_DEPTHS = {
    **{f"{6 * n + 2} (6n+2, n={n})": ("basic", (n, n, n)) for n in (3, 5, 7, 9, 18, 200)},
    "164 (9n+2, n=18)": ("bottleneck", (18, 18, 18)),
}
CUSTOM = "custom"
STRIDE_LABELS = {"1x1": "v1: on the first 1x1 (paper)", "3x3": "v1.5: on the 3x3 (torchvision)"}
#: The slider's usual reach (ResNet-1202's 200 per stage); a loaded design with more stretches it.
MAX_BLOCKS_PER_STAGE = 200
HIDDEN_FIELDS = ("expansion", "zero_init_residual")


def depth_options(stages: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {4: IMAGENET_DEPTHS, 3: CIFAR_DEPTHS}.get(stages, {})


# ----- widget state <-> spec -----------------------------------------------------------------


def load_widgets(spec: ResNetSpec, preset: str) -> None:
    """Set every sidebar widget from a spec (before the widgets are drawn)."""
    ss["d_preset"] = preset
    ss["d_stages"] = spec.num_stages
    for i in range(MAX_STAGES):
        for name in ("d_blocks", "d_width", "d_stride"):
            ss.pop(f"{name}_{i}", None)
    for i in range(spec.num_stages):
        ss[f"d_blocks_{i}"] = spec.layers[i]
        ss[f"d_width_{i}"] = spec.widths[i]
        ss[f"d_stride_{i}"] = spec.strides[i]
    ss["d_base_width"] = spec.widths[0]
    for name in ("block", "stem", "stem_width", "stride_in", "shortcut", "preact",
                 "relu_after_add", "groups", "width_per_group", "input_size", "num_classes",
                 "in_channels"):
        ss[f"d_{name}"] = getattr(spec, name)
    ss["d_plain"] = not spec.residual
    # Fields with no control (a custom expansion from a link, zero-init) ride along unchanged.
    ss["d_hidden"] = {name: getattr(spec, name) for name in HIDDEN_FIELDS}


def widget_spec() -> ResNetSpec:
    """The draft in the widgets as a spec (not yet validated)."""
    n = ss["d_stages"]
    block = ss["d_block"]
    return ResNetSpec(**ss["d_hidden"]).replace(
        block=block,
        layers=[ss[f"d_blocks_{i}"] for i in range(n)],
        widths=[ss[f"d_width_{i}"] for i in range(n)],
        strides=[ss[f"d_stride_{i}"] for i in range(n)],
        stem=ss["d_stem"], stem_width=ss["d_stem_width"], stride_in=ss["d_stride_in"],
        shortcut=ss["d_shortcut"], preact=ss["d_preact"], residual=not ss["d_plain"],
        relu_after_add=ss["d_relu_after_add"], groups=ss["d_groups"],
        # Width per group only means something in a bottleneck; its widget is off otherwise.
        width_per_group=ss["d_width_per_group"] if block == "bottleneck" else 64,
        input_size=ss["d_input_size"], num_classes=ss["d_num_classes"],
        in_channels=ss["d_in_channels"],
    )


def current_depth_label() -> str:
    n = ss["d_stages"]
    layers = tuple(ss.get(f"d_blocks_{i}") for i in range(n))
    for label, (block, standard) in depth_options(n).items():
        if block == ss["d_block"] and layers == standard:
            return label
    return CUSTOM


# ----- callbacks: they run before the script, so they may set other widgets ------------------


def on_preset() -> None:
    load_widgets(get_preset(ss["d_preset"]), ss["d_preset"])


def on_depth() -> None:
    choice = depth_options(ss["d_stages"]).get(ss["d_depth"])
    if choice is None:
        return
    block, layers = choice
    ss["d_block"] = block
    for i, count in enumerate(layers):
        ss[f"d_blocks_{i}"] = count


def on_stages() -> None:
    """A new stage doubles the last width and halves the resolution, as the paper's do."""
    n = ss["d_stages"]
    for i in range(1, n):
        if f"d_blocks_{i}" not in ss:
            ss[f"d_blocks_{i}"] = 2
            ss[f"d_width_{i}"] = min(ss[f"d_width_{i - 1}"] * 2, MAX_CHANNELS)
            ss[f"d_stride_{i}"] = 2
    for i in range(n, MAX_STAGES):
        for name in ("d_blocks", "d_width", "d_stride"):
            ss.pop(f"{name}_{i}", None)


def on_base_width() -> None:
    for i in range(ss["d_stages"]):
        ss[f"d_width_{i}"] = min(ss["d_base_width"] * 2**i, MAX_CHANNELS)


def on_preact() -> None:
    # Pre-activation blocks end with the sum: no ReLU after it (He et al. 2016).
    ss["d_relu_after_add"] = not ss["d_preact"]


def groups_help() -> str:
    """What the groups control does to the current draft, in its own numbers.

    A bottleneck keeps the width *per group* fixed, so more groups widen its 3x3 (ResNeXt
    32x4d: 32 groups of 4 channels); going from 1 to 2 groups at width per group 64 doubles
    that conv's width, which surprises anyone expecting grouping to save parameters.
    """
    groups, per_group, base = ss["d_groups"], ss["d_width_per_group"], ss["d_width_0"]
    if ss["d_block"] == "bottleneck":
        per_group_here = int(base * per_group / 64)  # width per group scales with the stage
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
    sb.selectbox("Preset", list(PRESETS), key="d_preset", on_change=on_preset,
                 help="Every control below starts from the preset; choosing a preset resets "
                      "them.")
    preset = PRESETS[ss["d_preset"]]
    sb.caption(f"{preset.description}. Source: {preset.source}.")

    sb.subheader("Depth")
    n = ss["d_stages"]
    options = [CUSTOM, *depth_options(n)]
    ss["d_depth"] = current_depth_label()
    sb.selectbox("Standard layout", options, key="d_depth", on_change=on_depth,
                 help="Sets the blocks per stage (and block type) of a published depth. "
                      "ImageNet depths need 4 stages, CIFAR's 6n+2 needs 3.")
    sb.number_input("Stages", 1, MAX_STAGES, key="d_stages", on_change=on_stages)
    for i in range(ss["d_stages"]):
        # A link may carry more blocks than the slider's usual reach; the slider then reaches
        # them rather than clamping the design to its range.
        most = max(MAX_BLOCKS_PER_STAGE, ss[f"d_blocks_{i}"])
        sb.slider(f"Blocks in {stage_name(i)}", 1, most, key=f"d_blocks_{i}")

    sb.subheader("Blocks")
    sb.radio("Block type", ("basic", "bottleneck"), key="d_block", horizontal=True,
             help="basic: two 3x3 convs; bottleneck: 1x1, 3x3, 1x1 with 4x wider output")
    bottleneck = ss["d_block"] == "bottleneck"
    sb.radio("Stride placement", ("1x1", "3x3"), key="d_stride_in",
             format_func=STRIDE_LABELS.get, disabled=not bottleneck,
             help="Where a bottleneck puts its stride 2: same parameters, different compute.")
    sb.toggle("Plain network (no shortcuts)", key="d_plain")
    sb.radio("Shortcut", SHORTCUTS, key="d_shortcut", disabled=ss["d_plain"],
             format_func=lambda s: f"{s}: {SHORTCUT_DESCRIPTIONS[s]}")
    sb.toggle("Pre-activation (BN-ReLU before each conv)", key="d_preact", on_change=on_preact)
    sb.toggle("ReLU after the sum", key="d_relu_after_add")
    cols = sb.columns(2)
    cols[0].number_input("Groups", 1, MAX_GROUPS, key="d_groups", help=groups_help())
    cols[1].number_input("Width per group", 1, MAX_WIDTH_PER_GROUP, key="d_width_per_group",
                         disabled=not bottleneck,
                         help="Bottlenecks only: 64 is ResNet, 4 with 32 groups is ResNeXt "
                              "32x4d, 128 is Wide ResNet-50-2")

    sb.subheader("Widths")
    sb.number_input("Base width (doubles each stage)", 1, MAX_CHANNELS, key="d_base_width",
                    on_change=on_base_width)
    with sb.expander("Per-stage widths and strides"):
        for i in range(ss["d_stages"]):
            cols = st.columns(2)
            cols[0].number_input(f"{stage_name(i)} width", 1, MAX_CHANNELS, key=f"d_width_{i}")
            cols[1].number_input(f"{stage_name(i)} stride", 1, MAX_STRIDE, key=f"d_stride_{i}")

    sb.subheader("Stem and input")
    sb.selectbox("Stem", STEMS, key="d_stem", format_func=lambda s: f"{s}: {STEM_DESCRIPTIONS[s]}")
    sb.number_input("Stem width", 1, MAX_CHANNELS, key="d_stem_width")
    # The ranges are validate()'s own, so every design a link can carry fits the controls.
    cols = sb.columns(3)
    cols[0].number_input("Input size", 1, MAX_INPUT_SIZE, key="d_input_size")
    cols[1].number_input("Channels", 1, MAX_CHANNELS, key="d_in_channels")
    cols[2].number_input("Classes", 1, MAX_CLASSES, key="d_num_classes")


# ----- the main area --------------------------------------------------------------------------


def describe(spec: ResNetSpec, preset: str) -> None:
    changed = [name for name in common.spec_to_query(spec, preset) if name != "preset"]
    if not changed:
        st.caption(f"**{preset}**, as published.")
    else:
        same = find_preset(spec)
        also = f" It builds the same network as **{same}**." if same else ""
        st.caption(f"Modified from **{preset}**: {', '.join(changed)}.{also}")
    st.caption(f"Link to this design: `?{urlencode(common.spec_to_query(spec, preset))}`")


def graph_section(spec: ResNetSpec) -> None:
    st.subheader("Graph")
    cols = st.columns(3)
    view = cols[0].radio("View", ("block", "layer"), key="g_view", horizontal=True)
    direction = cols[1].radio("Direction", ("TB", "LR"), key="g_direction", horizontal=True,
                              format_func={"TB": "down", "LR": "across"}.get)
    fold = cols[2].radio("Fold repeats", ("auto", "on", "off"), key="g_fold", horizontal=True,
                         help="Draw a run of identical blocks once, marked 'x N'; 'auto' folds "
                              "large graphs only")
    st.caption("Solid shortcuts are identities; dashed ones change the shape (zero-padding or "
               "a projection), as in the paper's figure 3.")
    key, graph_key = "designer_graph", spec.spec_hash()
    folded = common.folded_stages(key, graph_key)
    common.show_drawing(common.drawing(spec, view, direction, fold, folded), key=key,
                        graph_key=graph_key)


def stages_section(spec: ResNetSpec) -> None:
    st.subheader("Stages")
    table = common.stages(spec)
    common.number_table(table)
    figure = go.Figure()
    figure.add_bar(x=table["stage"], y=table["params_share"], name="parameters")
    figure.add_bar(x=table["stage"], y=table["mult_adds_share"], name="mult-adds")
    figure.update_layout(title="Share of the network's parameters and mult-adds per stage",
                         barmode="group", height=330, yaxis_tickformat=".0%",
                         margin=dict(l=10, r=10, t=50, b=10),
                         legend=dict(orientation="h", y=-0.15, x=0.5, xanchor="center",
                                     yanchor="top"))
    st.plotly_chart(figure, key="stage_shares", config={"displayModeBar": False})


def layers_section(spec: ResNetSpec) -> None:
    st.subheader("Layers")
    table = common.layers(spec)
    for key, column in (("f_stage", "stage"), ("f_role", "role"), ("f_type", "type")):
        # A filter picked for another design may name stages this one does not have.
        if key in ss:
            ss[key] = [value for value in ss[key] if value in set(table[column])]
    cols = st.columns(3)
    picked_stages = cols[0].multiselect("Stage", list(dict.fromkeys(table["stage"])),
                                        key="f_stage", placeholder="all stages")
    picked_roles = cols[1].multiselect("Role", list(dict.fromkeys(table["role"])),
                                       key="f_role", placeholder="all roles")
    picked_types = cols[2].multiselect("Type", sorted(set(table["type"])), key="f_type",
                                       placeholder="all types")
    shown = table
    for column, picked in (("stage", picked_stages), ("role", picked_roles),
                           ("type", picked_types)):
        if picked:
            shown = shown[shown[column].isin(picked)]
    st.caption(f"{len(shown):,} of {len(table):,} layers")
    common.number_table(shown, height=420)


def main() -> None:
    messages = common.ensure_design()
    if "d_block" not in ss:
        load_widgets(common.current_design(), common.current_preset())
    sidebar()

    st.title("Designer")
    for message in messages:
        common.show_error(message)
    preset = ss["d_preset"]
    try:
        draft = widget_spec().validate()
    except SpecError as error:
        common.show_error(error)
        st.info("Showing the last valid design until the controls describe one that can be built.")
        preset = common.current_preset()
    else:
        common.publish_design(draft, preset)
    spec = common.current_design()
    describe(spec, preset)
    common.show_metrics(spec)
    # The graph gets the page's width: a deep network is long, and a narrow column hid it.
    graph_section(spec)
    stages_section(spec)
    layers_section(spec)


common.require_navigation()
main()
