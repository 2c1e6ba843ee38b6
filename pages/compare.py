"""Compare: any two designs side by side, both editable, the whole comparison in the URL.

Each side starts from a preset, the Designer's design, a JSON spec or a link, and its key fields
can be changed in place. The page's address holds both designs (`a.preset=...&a.layers=...&
b.preset=...`), written with the same functions that put the Designer's design in its URL, so a
link reproduces the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import PRESETS, ResNetSpec, SpecError, get_preset
from inspector.compare import StageMeasure, stage_measure
from inspector.spec import (
    BLOCKS, SHORTCUT_DESCRIPTIONS, SHORTCUTS, STEMS, STRIDE_PLACEMENTS, parse_field,
)
from pages import common

CURRENT = "current design (Designer)"
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


def _key(side: str, field: str) -> str:
    return f"c_{side}_{field}"


# ----- loading a design into one side's editor ------------------------------------------------


def load(side: str, spec: ResNetSpec, preset: str) -> None:
    """Put a design in a side's state and its editor's widgets (before they are drawn)."""
    ss = st.session_state
    ss[f"cmp_spec_{side}"], ss[f"cmp_preset_{side}"] = spec, preset
    ss[f"c_{side}"] = preset
    ss[_key(side, "block")] = spec.block
    ss[_key(side, "layers")] = ",".join(map(str, spec.layers))
    ss[_key(side, "widths")] = ",".join(map(str, spec.widths))
    ss[_key(side, "stem")] = spec.stem
    ss[_key(side, "shortcut")] = spec.shortcut
    ss[_key(side, "stride_in")] = spec.stride_in
    ss[_key(side, "groups")] = spec.groups
    ss[_key(side, "wpg")] = spec.width_per_group
    ss[_key(side, "input")] = spec.input_size
    ss[_key(side, "preact")] = spec.preact
    ss[_key(side, "residual")] = spec.residual
    ss[_key(side, "json")] = spec.to_json()


def _on_pick(side: str) -> None:
    choice = st.session_state[f"c_{side}"]
    if choice == CURRENT:
        load(side, common.current_design(), common.current_preset())
    else:
        load(side, get_preset(choice), choice)


def _on_json(side: str) -> None:
    text = st.session_state[_key(side, "json")]
    try:
        spec = ResNetSpec.from_json(text).validate()
    except SpecError as error:
        st.session_state[f"cmp_json_error_{side}"] = f"Design {side}: {error}"
        return
    st.session_state.pop(f"cmp_json_error_{side}", None)
    load(side, spec, st.session_state[f"cmp_preset_{side}"])


def ensure_sides() -> list[str]:
    """Both sides from the URL on a first visit; editors re-seeded after visiting another page
    (Streamlit forgets a widget's state once a run goes without it)."""
    messages = []
    params = {key: st.query_params[key] for key in st.query_params}
    for side, prefix in PREFIXES.items():
        if f"cmp_spec_{side}" not in st.session_state:
            spec, preset, found = common.spec_from_query(params, prefix, DEFAULTS[side])
            messages += [f"Design {side}: {message}" for message in found]
            load(side, spec, preset)
        elif _key(side, "layers") not in st.session_state:
            load(side, st.session_state[f"cmp_spec_{side}"],
                 st.session_state[f"cmp_preset_{side}"])
    return messages


# ----- the editor -----------------------------------------------------------------------------


def editor(column, side: str) -> Side | None:
    """A side's preset picker and compact editor; None (with a message) while it is invalid."""
    ss = st.session_state
    options = [CURRENT, *PRESETS]
    column.selectbox(f"Design {side}: start from", options, key=f"c_{side}",
                     on_change=_on_pick, args=(side,))
    preset = ss[f"cmp_preset_{side}"]
    with column.expander(f"Edit design {side}"):
        cols = st.columns(3)
        block = cols[0].radio("Block", BLOCKS, key=_key(side, "block"), horizontal=True)
        layers = cols[1].text_input("Blocks per stage", key=_key(side, "layers"))
        widths = cols[2].text_input("Widths", key=_key(side, "widths"))
        cols = st.columns(3)
        stem = cols[0].selectbox("Stem", STEMS, key=_key(side, "stem"))
        shortcut = cols[1].selectbox("Shortcut", SHORTCUTS, key=_key(side, "shortcut"),
                                     format_func=lambda s: f"{s}: {SHORTCUT_DESCRIPTIONS[s]}",
                                     disabled=not ss[_key(side, "residual")])
        stride_in = cols[2].radio("Stride on", STRIDE_PLACEMENTS, key=_key(side, "stride_in"),
                                  horizontal=True, disabled=block != "bottleneck",
                                  help="v1 (the paper): the first 1x1; v1.5: the 3x3")
        cols = st.columns(3)
        groups = cols[0].number_input("Groups", 1, 1024, key=_key(side, "groups"))
        width_per_group = cols[1].number_input("Width per group", 1, 4096, key=_key(side, "wpg"),
                                               disabled=block != "bottleneck")
        input_size = cols[2].number_input("Input size", 1, 4096, key=_key(side, "input"))
        cols = st.columns(3)
        residual = cols[0].toggle("Shortcuts", key=_key(side, "residual"),
                                  help="Off: the plain counterpart, as in the degradation study")
        preact = cols[1].toggle("Pre-activation", key=_key(side, "preact"),
                                help="BN and ReLU before each conv (He et al. 2016)")
        st.text_area("Spec (JSON): paste one and apply it", key=_key(side, "json"), height=150)
        st.button("Apply JSON", key=_key(side, "apply"), on_click=_on_json, args=(side,))
    if f"cmp_json_error_{side}" in ss:
        common.show_error(ss[f"cmp_json_error_{side}"], column)
    try:
        spec = ss[f"cmp_spec_{side}"].replace(
            block=block, layers=parse_field("layers", layers),
            widths=parse_field("widths", widths), stem=stem, shortcut=shortcut,
            stride_in=stride_in, groups=int(groups),
            width_per_group=int(width_per_group) if block == "bottleneck" else 64,
            input_size=int(input_size), residual=residual, preact=preact,
        ).validate()
    except SpecError as error:
        common.show_error(f"Design {side}: {error}", column)
        return None
    ss[f"cmp_spec_{side}"] = spec
    name = f"{preset} (modified)" if common.is_modified(spec, preset) else preset
    column.caption(PRESETS[preset].description if name == preset else
                   "Changed: " + ", ".join(k for k in common.spec_to_query(spec, preset)
                                           if k != "preset") + f" (from {preset}).")
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


def bars(table: pd.DataFrame, names: tuple[str, str], title: str) -> go.Figure:
    figure = go.Figure()
    for name in names:
        figure.add_bar(x=table["stage"], y=table[name], name=name)
    figure.update_layout(title=title, barmode="group", height=360,
                         margin=dict(l=10, r=10, t=50, b=10),
                         legend=dict(orientation="h", y=-0.15, x=0.5, xanchor="center",
                                     yanchor="top"))
    return figure


def publish(a: Side, b: Side) -> None:
    """Both designs in the address, so the link reopens this comparison."""
    query = {**common.spec_to_query(a.spec, a.preset, PREFIXES["A"]),
             **common.spec_to_query(b.spec, b.preset, PREFIXES["B"])}
    current = {key: st.query_params[key] for key in st.query_params}
    if current != query:
        st.query_params.from_dict(query)


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
        column.plotly_chart(bars(stage_measure(result, measure), result.names,
                                 f"{STAGE_TABS[measure]} per stage"),
                            key=f"bars_{measure}", config={"displayModeBar": False})
    st.subheader("Totals")
    common.number_table(result.totals.reset_index(names="measure"))

    st.subheader("Block graphs")
    for side, name, spec in zip("ab", result.names, (a.spec, b.spec)):
        # One graph per row, each the page's width: two half-width columns cut the labels.
        st.markdown(f"**{name}**")
        key, graph_key = f"compare_graph_{side}", spec.spec_hash()
        folded = common.folded_stages(key, graph_key)
        common.show_drawing(common.drawing(spec, "block", "TB", "auto", folded),
                            key=key, graph_key=graph_key)


common.require_navigation()
main()
