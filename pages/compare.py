"""Compare: any two designs side by side, both editable, the whole comparison in the URL.

Each side starts from a preset, the Designer's design, a JSON spec or a link, and its key fields
can be changed in place. The page's address holds both designs (`a.preset=...&a.layers=...&
b.preset=...`), written with the same functions that put the Designer's design in its URL, so a
link reproduces the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import streamlit as st

from inspector import PRESETS, ResNetSpec, SpecError, get_preset
from inspector.compare import StageMeasure, stage_measure
from inspector.kinds import BlockKind
from inspector.spec import (BLOCKS, MAX_GROUPS, MAX_INPUT_SIZE, MAX_WIDTH_PER_GROUP, SHORTCUTS,
                            STEMS, STRIDE_PLACEMENTS, parse_field)
from pages import common

CURRENT = "current design (Designer)"
DIFF_KEY, DIFF_FILES_KEY = "compare_diff", "cmp_diff"
DEFAULTS = {"A": "resnet34", "B": "resnet50"}
PREFIXES = common.COMPARE_PREFIXES
STAGE_TABS = {
    StageMeasure.PARAMS: "Parameters", StageMeasure.MULT_ADDS: "Mult-adds",
    StageMeasure.BLOCKS: "Blocks", StageMeasure.OUT_CHANNELS: "Channels",
    StageMeasure.OUT_SIZE: "Output size",
}


@dataclass(frozen=True)
class Side:
    """One side of the comparison as the page holds it."""

    name: str
    spec: ResNetSpec
    preset: str


# ----- session-state keys, per side ("A" or "B"); tests drive the widgets by these ------------


class _Field(StrEnum):
    """An editor widget, named as the end of its key (c_A_layers, c_B_wpg, ...)."""

    BLOCK = "block"
    LAYERS = "layers"
    WIDTHS = "widths"
    STEM = "stem"
    SHORTCUT = "shortcut"
    STRIDE_IN = "stride_in"
    GROUPS = "groups"
    WIDTH_PER_GROUP = "wpg"
    INPUT_SIZE = "input"
    PREACT = "preact"
    RESIDUAL = "residual"
    JSON = "json"
    APPLY = "apply"


def _key(side: str, field: _Field) -> str:
    """The key of one side's editor widget."""
    return f"c_{side}_{field}"


@dataclass(frozen=True)
class _SideKeys:
    """One side's session-state keys besides its editor's widgets."""

    pick: str  # the "start from" picker
    spec: str  # the side's last valid design
    preset: str  # the preset that design started from
    json_error: str  # why the last "Apply JSON" failed, shown until one succeeds
    json_shown: str  # the JSON the page last wrote into the box (the box follows the design
    # until the user types into it)


KEYS = {side: _SideKeys(pick=f"c_{side}", spec=f"cmp_spec_{side}", preset=f"cmp_preset_{side}",
                        json_error=f"cmp_json_error_{side}",
                        json_shown=f"cmp_json_shown_{side}")
        for side in PREFIXES}


# ----- loading a design into one side's editor ------------------------------------------------


def load(side: str, spec: ResNetSpec, preset: str) -> None:
    """Put a design in a side's state and its editor's widgets (before they are drawn)."""
    ss = st.session_state
    ss[KEYS[side].spec], ss[KEYS[side].preset] = spec, preset
    ss[KEYS[side].pick] = preset
    ss[_key(side, _Field.BLOCK)] = spec.block
    ss[_key(side, _Field.LAYERS)] = ",".join(map(str, spec.layers))
    ss[_key(side, _Field.WIDTHS)] = ",".join(map(str, spec.widths))
    ss[_key(side, _Field.STEM)] = spec.stem
    ss[_key(side, _Field.SHORTCUT)] = spec.shortcut
    ss[_key(side, _Field.STRIDE_IN)] = spec.stride_in
    ss[_key(side, _Field.GROUPS)] = spec.groups
    ss[_key(side, _Field.WIDTH_PER_GROUP)] = spec.width_per_group
    ss[_key(side, _Field.INPUT_SIZE)] = spec.input_size
    ss[_key(side, _Field.PREACT)] = spec.preact
    ss[_key(side, _Field.RESIDUAL)] = spec.residual
    ss[_key(side, _Field.JSON)] = ss[KEYS[side].json_shown] = spec.to_json()


def _on_pick(side: str) -> None:
    choice = st.session_state[KEYS[side].pick]
    if choice == CURRENT:
        load(side, common.current_design(), common.current_preset())
    else:
        load(side, get_preset(choice), choice)


def _on_json(side: str) -> None:
    text = st.session_state[_key(side, _Field.JSON)]
    try:
        spec = ResNetSpec.from_json(text).validate()
    except SpecError as error:
        st.session_state[KEYS[side].json_error] = f"Design {side}: {error}"
        return
    st.session_state.pop(KEYS[side].json_error, None)
    load(side, spec, st.session_state[KEYS[side].preset])


def _follow_design(side: str, spec: ResNetSpec) -> None:
    """Keep the JSON box showing the side's design (before the box is drawn), unless the user
    has typed into it: "Apply JSON" must never bring back a design the editor has left."""
    ss = st.session_state
    box, shown = _key(side, _Field.JSON), KEYS[side].json_shown
    if ss.get(box) == ss.get(shown):
        ss[box] = ss[shown] = spec.to_json()


def ensure_sides() -> list[str]:
    """Both sides from the URL on a first visit; editors re-seeded after visiting another page
    (Streamlit forgets a widget's state once a run goes without it)."""
    messages = []
    params = common.current_query()
    for side, prefix in PREFIXES.items():
        if KEYS[side].spec not in st.session_state:
            spec, preset, found = common.spec_from_query(params, prefix, DEFAULTS[side])
            messages += [f"Design {side}: {message}" for message in found]
            load(side, spec, preset)
        elif _key(side, _Field.LAYERS) not in st.session_state:
            load(side, st.session_state[KEYS[side].spec],
                 st.session_state[KEYS[side].preset])
    return messages


# ----- the editor -----------------------------------------------------------------------------


def editor(column, side: str) -> Side | None:
    """A side's preset picker and compact editor; None (with a message) while it is invalid."""
    ss = st.session_state
    options = [CURRENT, *PRESETS]
    column.selectbox(f"Design {side}: start from", options, key=KEYS[side].pick,
                     on_change=_on_pick, args=(side,))
    preset = ss[KEYS[side].preset]
    with column.expander(f"Edit design {side}"):
        cols = st.columns(3)
        block = cols[0].radio("Block", BLOCKS, key=_key(side, _Field.BLOCK), horizontal=True)
        layers = cols[1].text_input("Blocks per stage", key=_key(side, _Field.LAYERS))
        widths = cols[2].text_input("Widths", key=_key(side, _Field.WIDTHS))
        cols = st.columns(3)
        stem = cols[0].selectbox("Stem", STEMS, key=_key(side, _Field.STEM))
        shortcut = cols[1].selectbox("Shortcut", SHORTCUTS, key=_key(side, _Field.SHORTCUT),
                                     format_func=common.shortcut_label,
                                     disabled=not ss[_key(side, _Field.RESIDUAL)])
        stride_in = cols[2].radio("Stride on", STRIDE_PLACEMENTS, key=_key(side, _Field.STRIDE_IN),
                                  horizontal=True, disabled=block != BlockKind.BOTTLENECK,
                                  help="v1 (the paper): the first 1x1; v1.5: the 3x3")
        cols = st.columns(3)
        groups = cols[0].number_input("Groups", 1, MAX_GROUPS, key=_key(side, _Field.GROUPS))
        width_per_group = cols[1].number_input("Width per group", 1, MAX_WIDTH_PER_GROUP,
                                               key=_key(side, _Field.WIDTH_PER_GROUP),
                                               disabled=block != BlockKind.BOTTLENECK)
        input_size = cols[2].number_input("Input size", 1, MAX_INPUT_SIZE,
                                          key=_key(side, _Field.INPUT_SIZE))
        cols = st.columns(3)
        residual = cols[0].toggle("Shortcuts", key=_key(side, _Field.RESIDUAL),
                                  help="Off: the plain counterpart, as in the degradation study")
        preact = cols[1].toggle("Pre-activation", key=_key(side, _Field.PREACT),
                                help="BN and ReLU before each conv (He et al. 2016)")
        problem = None
        try:
            spec = ss[KEYS[side].spec].replace(
                block=block, layers=parse_field("layers", layers),
                widths=parse_field("widths", widths), stem=stem, shortcut=shortcut,
                stride_in=common.stride_placement(block, stride_in), groups=int(groups),
                width_per_group=common.width_per_group(block, int(width_per_group)),
                input_size=int(input_size), residual=residual, preact=preact,
            ).validate()
        except SpecError as error:
            problem = error
        else:
            _follow_design(side, spec)
        st.text_area("Spec (JSON): paste one and apply it", key=_key(side, _Field.JSON), height=150)
        st.button("Apply JSON", key=_key(side, _Field.APPLY), on_click=_on_json, args=(side,))
    if KEYS[side].json_error in ss:
        common.show_error(ss[KEYS[side].json_error], column)
    if problem is not None:
        common.show_error(f"Design {side}: {problem}", column)
        return None
    ss[KEYS[side].spec] = spec
    name = common.design_name(spec, preset)
    column.caption(PRESETS[preset].description if name == preset else
                   f"Changed: {', '.join(common.changed_fields(spec, preset))} (from {preset}).")
    return Side(name, spec, preset)


# ----- what is shown --------------------------------------------------------------------------


def metrics(column, spec: ResNetSpec, baseline: ResNetSpec | None) -> None:
    """Headline numbers; on the right side, with the change from the left one."""
    mine = common.facts(spec)
    base = common.facts(baseline) if baseline is not None else None

    def show(where, label: str, attr: str, fmt) -> None:
        value = getattr(mine, attr)
        delta = None
        if base is not None and value != getattr(base, attr):
            before = getattr(base, attr)
            sign = "+" if value > before else "-"
            delta = f"{sign}{fmt(abs(value - before))} ({value / before:.2f}x)"
        where.metric(label, fmt(value), delta, delta_color="off")

    row = column.columns(2)
    show(row[0], "Parameters", "params", common.count)
    show(row[1], "Mult-adds", "mult_adds", common.mult_adds)
    row = column.columns(2)
    show(row[0], "Depth", "depth", str)
    show(row[1], "Activation memory", "activation_bytes", common.megabytes)
    column.caption(f"Depth {mine.depth_explanation}.")


def publish(a: Side, b: Side) -> None:
    """Both designs in the address, so the link reopens this comparison."""
    query = {**common.spec_to_query(a.spec, a.preset, PREFIXES["A"]),
             **common.spec_to_query(b.spec, b.preset, PREFIXES["B"])}
    common.set_query(query)


def main() -> None:
    st.title("Compare")
    for message in ensure_sides():
        common.show_error(message)
    cols = st.columns(2)
    a, b = editor(cols[0], "A"), editor(cols[1], "B")
    if a is None or b is None:
        return
    publish(a, b)
    metrics(cols[0], a.spec, None)
    metrics(cols[1], b.spec, a.spec)
    if a.spec.spec_hash() == b.spec.spec_hash():
        st.info(f"Both sides are the same design ({a.name}): there is no difference to show. "
                "Change one side to compare.")
        return

    result = common.comparison(a.spec, b.spec, (a.name, b.name))
    st.info(result.explanation)

    st.subheader("Per stage")
    for tab, measure in zip(st.tabs(list(STAGE_TABS.values())), STAGE_TABS):
        with tab:
            common.number_table(stage_measure(result, measure))
    cols = st.columns(2)
    for column, measure in zip(cols, (StageMeasure.PARAMS, StageMeasure.MULT_ADDS)):
        figure = common.stage_bars(stage_measure(result, measure),
                                   {name: name for name in result.names},
                                   f"{STAGE_TABS[measure]} per stage")
        column.plotly_chart(figure,
                            key=f"bars_{measure}", config={"displayModeBar": False})
    st.subheader("Totals")
    common.totals_table(result.totals)

    st.subheader("Side by side, block by block")
    drawing, said = common.diff_drawing(a.spec, b.spec, result.names)
    st.caption(f"{said} Blocks are aligned stage by stage; changed blocks are marked in amber "
               "with what changed, blocks only in B in green, only in A in red, and runs of "
               "identical blocks are drawn once. Click a block for both versions. (An uploaded "
               "model is drawn beside any preset or the Designer's design on Your model.)")
    common.show_drawing(drawing, key=DIFF_KEY, height=720)
    common.diff_downloads(drawing, DIFF_FILES_KEY)


common.require_navigation()
main()
