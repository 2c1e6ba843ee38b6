"""The degradation experiment (the paper's figure 6) from the command line, on a tiny budget:
the runs, the figure files and a caption made of the measured numbers. Not timed."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from inspector.cli import main as cli_main
from inspector.experiment import cifar_design, plan_runs
from inspector.facts import compute_facts
from inspector.spec import SpecError


def test_the_planned_runs_are_the_papers_cifar_networks():
    runs = plan_runs((56, 20))
    assert [r.label for r in runs] == ["plain-20", "plain-56", "resnet-20", "resnet-56"]
    # the paper's depth count: 6n + 2 weighted layers, with or without shortcuts
    assert [compute_facts(r.spec).depth for r in runs] == [20, 56, 20, 56]
    assert [r.spec.residual for r in runs] == [False, False, True, True]
    with pytest.raises(SpecError, match="6n \\+ 2"):
        cifar_design(21, residual=True)
    with pytest.raises(SpecError, match="two different depths"):
        plan_runs((20,))


def test_cli_degradation_writes_figure_metrics_and_caption(tmp_path, capsys):
    out = tmp_path / "fig6"
    code = cli_main(["experiment", "degradation", "--depths", "8", "14", "--steps", "3",
                     "--batch-size", "16", "--precision", "fp32", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert (out / "figure6.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (out / "figure6.svg").read_text()
    assert "<svg" in svg and "plain-14" in svg and "resnet-8" in svg
    metrics = pd.read_csv(out / "metrics.csv")
    assert sorted(metrics.run.unique()) == ["plain-14", "plain-8", "resnet-14", "resnet-8"]
    assert metrics.groupby("run").step.max().eq(3).all()
    stats = pd.read_csv(out / "block_stats.csv")
    # n blocks per stage x 3 stages: 3 blocks for depth 8, 6 for depth 14
    assert stats.groupby("run").block.nunique().to_dict() == {
        "plain-8": 3, "plain-14": 6, "resnet-8": 3, "resnet-14": 6}
    caption = (out / "caption.txt").read_text()
    assert caption.strip() in printed
    for label in ("plain-8", "plain-14", "resnet-8", "resnet-14"):
        assert re.search(rf"{label} \d+\.\d% / \d+\.\d%", caption), label
    assert re.search(r"The deeper plain net \(plain-14, training error \d+\.\d%\) "
                     r"(ended worse than|did not end worse than) the shallower one", caption)


def test_cli_degradation_bad_depth_is_one_line(tmp_path, capsys):
    code = cli_main(["experiment", "degradation", "--depths", "20", "21", "--out",
                     str(tmp_path / "x")])
    assert code == 2
    assert "6n + 2" in capsys.readouterr().err
