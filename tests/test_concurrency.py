"""Many sessions at once: torch.fx patches torch.nn.Module.__call__ for the whole process while
it traces, so without `op_trace.TRACE_GATE` a trace in one thread broke another thread's trace or
forward pass ("module is not installed as a submodule"), found by benchmarks/server_soak.py with
three Designer sessions at once."""

from __future__ import annotations

import threading

import torch

from inspector.analysis import analyze
from inspector.infer import predict_topk
from inspector.model import build_model
from inspector.presets import get_preset


def test_traces_and_forward_passes_in_many_threads_at_once():
    base = get_preset("resnet20").replace(layers=(1, 1, 1))
    failures: list[str] = []
    start = threading.Barrier(6)

    def analyse(offset: int) -> None:
        start.wait()
        for classes in range(offset, offset + 6):  # a new design each time: nothing cached
            spec = base.replace(num_classes=classes)
            try:
                result = analyze(build_model(spec), (3, 32, 32))
                expected = sum(p.numel() for p in build_model(spec, "meta").parameters())
                assert result.params == expected
            except Exception as error:  # noqa: BLE001 - collected, reported below
                failures.append(f"{type(error).__name__}: {error}")

    def predict() -> None:
        model = build_model(base, "cpu").eval()
        start.wait()
        for _ in range(30):
            try:
                predict_topk(model, torch.zeros(1, 3, 32, 32), 3)
            except Exception as error:  # noqa: BLE001
                failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=analyse, args=(10 + 10 * i,)) for i in range(4)]
    threads += [threading.Thread(target=predict) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert not failures, failures[:3]
