"""The degradation experiment drawn as the paper's figure 6, as PNG or SVG.

Top row as in the paper: training error dashed, validation error solid, one panel for the plain
nets and one for the residual nets, one colour per depth. Bottom row: the gradient norm of each
run's first block over the steps (log scale), the reason behind the top row.

Why matplotlib and not plotly: plotly writes static images only through kaleido, which drives a
Chrome of its own; matplotlib writes PNG and SVG from Python alone. Its object-oriented API (a
`Figure` with no pyplot) keeps drawing thread-safe on a server.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from inspector.experiment import DegradationResult, Family

#: One colour per depth, shallow first (the paper: thin/bold lines; here colours).
DEPTH_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
FORMATS = ("png", "svg")


def degradation_figure(outcome: DegradationResult) -> Figure:
    figure = Figure(figsize=(11, 7.5), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True)
    panels = ((Family.PLAIN, "plain networks"), (Family.RESIDUAL, "ResNets"))
    for column, (family, title) in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        for number, run in enumerate(outcome.family(family)):
            color = DEPTH_COLORS[number % len(DEPTH_COLORS)]
            curves = run.curves()
            label = run.planned.label
            top.plot(curves.step, curves.train_error * 100, "--", color=color, linewidth=1,
                     label=f"{label} train")
            val = curves.dropna(subset=["val_error"])
            top.plot(val.step, val.val_error * 100, "-", color=color, linewidth=2,
                     marker="o", markersize=3, label=f"{label} validation")
            grad = run.first_block_grad()
            if not grad.empty:
                bottom.plot(grad.step, grad.grad_norm, color=color, label=label)
        top.set_title(f"{title}: error (dashed: training, solid: validation)")
        top.set_ylabel("error (%)")
        top.set_ylim(bottom=0)
        top.legend(fontsize=8)
        top.grid(alpha=0.3)
        bottom.set_title("gradient norm of the first block (layer1.0)")
        bottom.set_yscale("log")
        bottom.set_xlabel("step")
        bottom.legend(fontsize=8)
        bottom.grid(alpha=0.3, which="both")
    figure.suptitle(f"Degradation experiment (He et al. 2015, figure 6) on {outcome.dataset}, "
                    f"{outcome.steps} steps")
    return figure


def figure_bytes(outcome: DegradationResult, fmt: str = "png", dpi: int = 120) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"The figure's format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    buffer = io.BytesIO()
    degradation_figure(outcome).savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()
