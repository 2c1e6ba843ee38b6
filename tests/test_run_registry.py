"""The server's run registry: a run whose page stops beating is stopped within 30 s of the
server's clock, a reload finds its runs by id, and every run is listed."""

from __future__ import annotations

import pytest

from inspector import get_preset
from inspector.data import load_dataset
from inspector.run_registry import HEARTBEAT_TIMEOUT_S, SWEEP_EVERY_S, RunRegistry
from inspector.train import TrainConfig, TrainingRun

SMALL = get_preset("resnet20").replace(layers=(1, 1, 1))


class Clock:
    """The server's monotonic clock, moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("synthetic", image_size=16, num_train=64, num_val=16, num_classes=4)


def test_a_run_whose_page_stopped_beating_stops_within_30_seconds(tiny):
    assert HEARTBEAT_TIMEOUT_S + SWEEP_EVERY_S <= 30  # a sweep at most every SWEEP_EVERY_S
    clock = Clock()
    registry = RunRegistry(clock)
    config = TrainConfig(steps=100_000, batch_size=16, precision="fp32")
    kept = TrainingRun("kept", SMALL, tiny, config).start()
    closed = TrainingRun("closed", SMALL, tiny, config).start()
    kept_id, closed_id = registry.add(kept), registry.add(closed)
    try:
        # the page of `kept` beats every second; the page of `closed` was closed at 1000 s
        for second in range(1, 31):
            clock.now = 1000.0 + second
            registry.beat([kept_id])
            if second % SWEEP_EVERY_S == 0:
                stopped = registry.sweep()
                if closed_id in stopped:
                    break
        assert clock.now - 1000.0 <= 30
        assert stopped == [closed_id]
        closed.join(timeout=60)
        assert not closed.running and closed.result.stopped_reason == "stopped"
        assert kept.running  # its page is open
        assert registry.get(kept_id) is kept and registry.id_of(closed) == closed_id
        assert [e.run_id for e in registry.entries()] == [kept_id, closed_id]
    finally:
        for run in (kept, closed):
            run.stop()
            run.join(timeout=60)
