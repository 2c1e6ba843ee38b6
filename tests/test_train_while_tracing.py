"""Tracing a graph (torch.fx patches nn.Module.__call__ process-wide) while a run trains in
another thread must not break the run (op_trace.TRACE_GATE): without it, the run failed with
"module is not installed as a submodule" as soon as the Train page drew its graph during a step."""

from __future__ import annotations

from inspector import get_preset
from inspector.analysis import analyze
from inspector.data import load_dataset
from inspector.model import build_model
from inspector.train import TrainConfig, TrainingRun


def test_a_run_survives_graphs_traced_while_it_trains():
    data = load_dataset("synthetic", image_size=16, num_train=64, num_val=16, num_classes=4)
    spec = get_preset("resnet20").replace(layers=(1, 1, 1))
    run = TrainingRun("traced", spec, data, TrainConfig(steps=15, batch_size=16,
                                                        precision="fp32")).start()
    meta = build_model(get_preset("resnet20"))
    traces = 0
    while run.running or traces < 3:
        analyze(meta, (3, 32, 32))
        traces += 1
    run.join(timeout=120)
    assert run.error is None, run.error
    assert run.result.stopped_reason == "completed"
