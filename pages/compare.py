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
        spec, preset = common.current_design(), common.current_preset()
        return (f"{preset} (modified)" if common.is_modified(spec, preset) else preset), spec
    column.caption(PRESETS[name].description)
    return name, get_preset(name)


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

    result = common.comparison(spec_a, spec_b, names)
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
            common.show_drawing(common.drawing(spec, "block", "TB", "auto"),
                                height=900)


common.require_navigation()
main()
