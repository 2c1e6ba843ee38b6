"""The Train page's instrument: each block's statistics on the graph and as a heatmap.

The run's block graph is drawn in the app's viewer with its nodes coloured by a chosen statistic
at a chosen recorded step ("follow live" keeps the newest); beside it, a blocks x steps heatmap
per run, all runs on one colour scale; below, the curves of one block in every run.
"""

from __future__ import annotations

import hashlib
import math

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from inspector.block_stats import BlockStatsLog
from inspector.drawing import Drawing, ViewState
from inspector.kinds import BlockStatistic, Direction, Fold, View
from inspector.stats_overlay import colour_details, statistic_scale
from inspector.train import TrainingRun
from pages import common, graph_viewer

ss = st.session_state
STAT_KEY, RUN_KEY, FOLLOW_KEY = "train_stat", "train_stat_run", "train_follow"
STEP_KEY, BLOCK_KEY, VIEWER_KEY = "train_stat_step", "train_stat_block", "train_viewer"
#: Statistics whose values span orders of magnitude are shown as log10 on the heatmap.
LOG_STATISTICS = (BlockStatistic.GRAD_NORM,)


def _log(run: TrainingRun) -> BlockStatsLog | None:
    log = run.trainer.block_stats
    return log if log is not None and len(log) else None


def _heat(value: float, statistic: BlockStatistic) -> float | None:
    if not math.isfinite(value):
        return None
    if statistic in LOG_STATISTICS:
        return math.log10(value) if value > 0 else None
    return value


def heatmap(runs: list[TrainingRun], statistic: BlockStatistic) -> go.Figure:
    """One blocks x steps heatmap per run (first block at the top), one colour scale for all."""
    logs = [(run, _log(run)) for run in runs]
    logs = [(run, log) for run, log in logs if log is not None]
    figure = make_subplots(rows=len(logs), cols=1, subplot_titles=[r.label for r, _ in logs],
                           vertical_spacing=0.12 if len(logs) > 1 else 0.0)
    every = [_heat(v, statistic) for _, log in logs for row in log.matrix(statistic)[1]
             for v in row]
    finite = [v for v in every if v is not None]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for number, (run, log) in enumerate(logs, start=1):
        steps, rows = log.matrix(statistic)
        z = [[_heat(rows[r][b], statistic) for r in range(len(steps))]
             for b in range(len(log.blocks))]
        figure.add_heatmap(z=z, x=steps, y=log.blocks, coloraxis="coloraxis", row=number, col=1,
                           hovertemplate="step %{x}<br>%{y}<br>%{z:.3g}<extra>"
                                         f"{run.label}</extra>")
        figure.update_yaxes(autorange="reversed", row=number, col=1)
    title = ("log10 " if statistic in LOG_STATISTICS else "") + statistic.value
    figure.update_layout(coloraxis={"colorscale": "Viridis", "cmin": low, "cmax": high,
                                    "colorbar": {"title": {"text": title}}},
                         height=max(320, 260 * len(logs)),
                         margin={"t": 40, "b": 30, "l": 10, "r": 10})
    figure.update_xaxes(title_text="step")
    return figure


def block_curves(runs: list[TrainingRun], block: str) -> go.Figure:
    """The three statistics of one block over the steps, one line per run."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=[s.value for s in BlockStatistic],
                           horizontal_spacing=0.07)
    for run in runs:
        log = _log(run)
        if log is None or block not in log.blocks:
            continue
        column = log.blocks.index(block)
        for number, statistic in enumerate(BlockStatistic, start=1):
            steps, rows = log.matrix(statistic)
            figure.add_scatter(x=steps, y=[row[column] for row in rows], name=run.label,
                               legendgroup=run.label, showlegend=number == 1, row=1, col=number)
    figure.update_yaxes(type="log", row=1, col=1)
    figure.update_xaxes(title_text="step")
    figure.update_layout(height=300, margin={"t": 40, "b": 30, "l": 10, "r": 10},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def show_coloured(drawing: Drawing, details: dict) -> None:
    """The drawing in the viewer with the statistic's colours: the cached drawing's SVG (drawn
    once), only the colours change from one redraw to the next."""
    if drawing.svg is None:
        common.show_drawing(drawing, key=VIEWER_KEY)  # says that Graphviz is missing
        return
    drawing_key = hashlib.blake2b(drawing.svg.encode(), digest_size=8).hexdigest()
    graph_viewer.show_viewer(drawing.svg, details, key=VIEWER_KEY, graph_key="",
                             drawing_key=drawing_key, direction=drawing.direction, stages=[],
                             folded=(), height=520, colour=details.get("overlay", ""))


def _step_index(steps: list[int]) -> int:
    """The newest record when following live, else the step chosen on the slider."""
    follow = st.checkbox("Follow live", value=True, key=FOLLOW_KEY,
                         help="Show the newest record while the run trains.")
    if follow or len(steps) < 2:
        st.caption(f"Step {steps[-1]} (newest record)")
        return len(steps) - 1
    if ss.get(STEP_KEY) not in steps:
        ss[STEP_KEY] = steps[-1]
    step = st.select_slider("Step", options=steps, key=STEP_KEY)
    return steps.index(step)


def instrument(runs: list[TrainingRun]) -> None:
    """The graph coloured by a statistic, the heatmap beside it and one block's curves."""
    measured = [run for run in runs if _log(run) is not None]
    st.subheader("Each block while it trains")
    if not measured:
        st.caption("Per-block statistics appear here after the first step.")
        return
    statistic = st.selectbox("Statistic", tuple(BlockStatistic), key=STAT_KEY,
                             format_func=lambda s: BlockStatistic(s).title)
    statistic = BlockStatistic(statistic)
    labels = [run.label for run in measured]
    if ss.get(RUN_KEY) not in labels:
        ss[RUN_KEY] = labels[-1]
    left, right = st.columns(2)
    with left:
        label = st.selectbox("Run on the graph", labels, key=RUN_KEY)
        run = measured[labels.index(label)]
        log = _log(run)
        steps, rows = log.matrix(statistic)
        index = _step_index(steps)
        every = [v for other in measured for row in _log(other).matrix(statistic)[1] for v in row]
        scale = statistic_scale(every)
        spec = run.trainer.spec
        if spec is not None:
            drawing = common.drawing(spec, ViewState(View.BLOCK, Direction.TB, Fold.OFF))
            details = colour_details(drawing.details, dict(zip(log.blocks, rows[index])),
                                     statistic, scale, steps[index])
            show_coloured(drawing, details)
    with right:
        st.plotly_chart(heatmap(measured, statistic), width="stretch")
    block = st.selectbox("Curves of block", log.blocks, key=BLOCK_KEY)
    st.plotly_chart(block_curves(measured, block), width="stretch")
