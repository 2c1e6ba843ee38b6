"""Compare: two designs side by side, with the differences explained from the numbers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from inspector import PRESETS, ResNetSpec, get_preset
from pages import common

CURRENT = "current design (Designer)"
DEFAULTS = ("resnet34", "resnet50")


def pick(column, side: str, default: str) -> tuple[str, ResNetSpec]:
    options = [CURRENT, *PRESETS]
    name = column.selectbox(f"Design {side}", options, index=options.index(default),
                            key=f"c_{side}")
    if name == CURRENT:
        spec = common.current_design()
        preset = common.current_preset()
        label = preset if common.spec_to_query(spec, preset) == {"preset": preset} else \
            f"{preset} (modified)"
        return label, spec
    column.caption(PRESETS[name].description)
    return name, get_preset(name)


def metrics(column, spec: ResNetSpec, other: ResNetSpec | None) -> None:
    """Headline numbers; on the right side, with the change from the left one."""
    mine = common.facts(spec.spec_hash(), spec)
    theirs = common.facts(other.spec_hash(), other) if other is not None else None

    def delta(value: int, base: int | None, fmt) -> str | None:
        if base is None or value == base:
            return None
        sign = "+" if value > base else "-"
        return f"{sign}{fmt(abs(value - base))} ({value / base:.2f}x)" if base else None

    base = (lambda attr: getattr(theirs, attr)) if theirs else (lambda attr: None)
    row = column.columns(2)
    row[0].metric("Parameters", common.count(mine.params),
                  delta(mine.params, base("params"), common.count), delta_color="off")
    row[1].metric("Mult-adds", common.giga(mine.mult_adds),
                  delta(mine.mult_adds, base("mult_adds"), common.giga), delta_color="off")
    row = column.columns(2)
    row[0].metric("Depth", mine.depth, delta(mine.depth, base("depth"), str), delta_color="off")
    row[1].metric("Activation memory", common.megabytes(mine.activation_bytes),
                  delta(mine.activation_bytes, base("activation_bytes"), common.megabytes),
                  delta_color="off")
    column.caption(f"Depth {mine.depth_explanation}.")


def bars(stages: pd.DataFrame, names: tuple[str, str], measure: str, title: str) -> go.Figure:
    figure = go.Figure()
    for suffix, name in zip(("a", "b"), names):
        figure.add_bar(x=stages["stage"], y=stages[f"{measure}_{suffix}"], name=name)
    figure.update_layout(title=title, barmode="group", height=360,
                         margin=dict(l=10, r=10, t=50, b=10),
                         legend=dict(orientation="h", y=-0.15, x=0.5, xanchor="center",
                                     yanchor="top"))
    return figure


def main() -> None:
    st.title("Compare")
    cols = st.columns(2)
    name_a, spec_a = pick(cols[0], "A", DEFAULTS[0])
    name_b, spec_b = pick(cols[1], "B", DEFAULTS[1])
    if name_a == name_b:
        names = (f"{name_a} (A)", f"{name_b} (B)")
    else:
        names = (name_a, name_b)
    metrics(cols[0], spec_a, None)
    metrics(cols[1], spec_b, spec_a)

    result = common.comparison(spec_a.spec_hash() + spec_b.spec_hash(), spec_a, spec_b, names)
    st.info(result.explanation)

    st.subheader("Per stage")
    common.number_table(result.stages)
    cols = st.columns(2)
    cols[0].plotly_chart(bars(result.stages, names, "params", "Parameters per stage"),
                         key="bars_params",
                         config={"displayModeBar": False})
    cols[1].plotly_chart(bars(result.stages, names, "mult_adds", "Mult-adds per stage"),
                         key="bars_mult_adds",
                         config={"displayModeBar": False})
    st.subheader("Totals")
    common.number_table(result.totals.reset_index(names="measure"))

    st.subheader("Block graphs")
    cols = st.columns(2)
    for column, name, spec in ((cols[0], names[0], spec_a), (cols[1], names[1], spec_b)):
        with column:
            st.markdown(f"**{name}**")
            common.show_drawing(common.drawing(spec.spec_hash(), spec, "block", "TB", "auto"),
                                height=900)


common.require_navigation()
main()
