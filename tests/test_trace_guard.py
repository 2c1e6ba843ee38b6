"""Tracing a graph (torch.fx patches nn.Module.__call__ process-wide) while a run trains in
another thread must not break the run: before the guard, the run failed with "module is not
installed as a submodule" as soon as a page drew a graph during a step."""

from __future__ import annotations

import threading

from inspector import get_preset
from inspector.analysis import analyze
from inspector.data import load_dataset
from inspector.model import build_model
from inspector.train import TrainConfig, TrainingRun
from inspector.trace_guard import SharedExclusive


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


def test_a_waiting_exclusive_holds_back_new_shared_holders():
    guard = SharedExclusive()
    order = []
    entered = threading.Event()

    def writer():
        with guard.exclusive():
            order.append("exclusive")

    with guard.shared():
        thread = threading.Thread(target=writer)
        thread.start()
        while not guard._writers_waiting:  # the writer now waits for this reader
            pass

        def reader():
            entered.set()
            with guard.shared():
                order.append("shared")

        late = threading.Thread(target=reader)
        late.start()
        entered.wait()
    thread.join(10)
    late.join(10)
    assert order == ["exclusive", "shared"]
