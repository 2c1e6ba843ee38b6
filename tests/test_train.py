"""The training engine: a real short run learns digits; stop, NaN, OOM, seeds and the schedule.

The accuracy run is the one slow test (half a minute to a minute on two cores): the paper's
CIFAR ResNet-20 with the paper's recipe, 150 steps of 128 on scikit-learn's digits, must reach
90% validation accuracy. Everything else runs a handful of steps on tiny synthetic data.
"""

from __future__ import annotations

import argparse
import threading

import pandas as pd
import pytest
import torch

from inspector import get_preset
from inspector.checkpoint import read_checkpoint
from inspector.data import Dataset, load_dataset
from inspector.train import (TrainConfig, TrainError, TrainingRun, fit_spec, lr_at,
                             smoothed_throughput, train)
from inspector import train as train_module
from inspector.train_cli import register

SMALL = get_preset("resnet20").replace(layers=(1, 1, 1))  # 8 layers, same widths and shortcuts


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return load_dataset("synthetic", image_size=16, num_train=64, num_val=16, num_classes=4)


def quick(**changes) -> TrainConfig:
    settings = {"steps": 4, "batch_size": 16, "log_every": 1, "precision": "fp32"} | changes
    return TrainConfig(**settings)


@pytest.mark.slow
def test_short_cpu_run_learns_digits_to_90_percent():
    data = load_dataset("digits")
    events = []
    result = train(get_preset("resnet20"), data, TrainConfig(steps=150, seed=0), events.append)
    assert result.stopped_reason == "completed", result.message
    assert result.final_val_acc >= 0.90, result.message
    assert events[-1].step == 150 and events[0].loss > events[-1].loss
    # the paper's schedule: lr 0.1, then / 10 at 50% and at 75% of the steps
    # (an event carries the lr of its last step; step k is 0-based step k - 1)
    lrs = {e.step: e.lr for e in events}
    assert [lrs[75], lrs[76], lrs[113], lrs[114]] == pytest.approx([0.1, 0.01, 0.01, 0.001])


def test_stop_is_honoured_before_the_next_step(tiny):
    stop = threading.Event()
    seen = []

    def callback(event):
        seen.append(event.step)
        if event.step == 2:
            stop.set()

    result = train(SMALL, tiny, quick(steps=50), callback, stop)
    assert result.stopped_reason == "stopped"
    assert seen == [1, 2]
    assert "after 2 of 50 steps" in result.message


def test_background_run_stops_on_request(tiny):
    run = TrainingRun("run", SMALL, tiny, quick(steps=100_000)).start()
    run.stop()
    run.join(timeout=60)
    assert not run.running and run.error is None
    assert run.result.stopped_reason == "stopped"
    assert len(run.events) < 100_000


def test_nan_in_the_data_stops_training_with_a_message(tiny):
    poisoned = Dataset(tiny.name, tiny.x_train.clone(), tiny.y_train, tiny.x_val, tiny.y_val,
                       tiny.classes, tiny.mean, tiny.std)
    poisoned.x_train[:, :, 0, 0] = float("nan")
    result = train(SMALL, poisoned, quick(steps=20, augment=False))
    assert result.stopped_reason == "nan"
    assert "NaN" in result.message and "step 1:" in result.message
    assert result.metrics == []


def test_out_of_memory_names_the_batch_size(tiny, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module.F, "cross_entropy", out_of_memory)
    result = train(SMALL, tiny, quick(batch_size=32))
    assert result.stopped_reason == "oom"
    assert "batch size 32" in result.message


def test_same_seed_same_run_other_seed_other_run(tiny):
    first = train(SMALL, tiny, quick(seed=3))
    second = train(SMALL, tiny, quick(seed=3))
    third = train(SMALL, tiny, quick(seed=4))
    assert [e.loss for e in first.metrics] == [e.loss for e in second.metrics]
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [e.loss for e in first.metrics] != [e.loss for e in third.metrics]


def test_events_carry_progress_and_validation(tiny):
    result = train(SMALL, tiny, quick(steps=6, eval_every=3))
    steps = [e.step for e in result.metrics]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert [e.val_acc is not None for e in result.metrics] == [False, False, True, False, False,
                                                                True]
    assert all(e.total_steps == 6 and e.images_per_s > 0 for e in result.metrics)
    assert result.metrics[-1].eta_s == 0 and result.metrics[-1].epoch == pytest.approx(6 * 16 / 64)
    frame = result.metrics_frame()
    assert list(frame.step) == steps and "val_acc" in frame.columns


def test_schedules():
    assert [lr_at(s, 100, 0.1, "step") for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert lr_at(0, 100, 0.1, "cosine") == pytest.approx(0.1)
    assert lr_at(50, 100, 0.1, "cosine") == pytest.approx(0.05)
    peak = max(range(100), key=lambda s: lr_at(s, 100, 0.1, "onecycle"))
    assert peak == 30 and lr_at(0, 100, 0.1, "onecycle") == pytest.approx(0.1 / 25)


def test_epochs_set_the_number_of_steps(tiny):
    assert TrainConfig(epochs=2, batch_size=16).total_steps(64) == 8
    result = train(SMALL, tiny, quick(steps=None, epochs=0.5))
    assert result.metrics[-1].step == 2


def test_adam_and_cosine_run(tiny):
    result = train(SMALL, tiny, quick(optimizer="adam", schedule="cosine", lr=1e-3))
    assert result.stopped_reason == "completed"


def test_bad_configs_are_train_errors(tiny):
    for changes, words in (({"schedule": "linear"}, "Schedule"), ({"steps": 0}, "Steps"),
                           ({"batch_size": 0}, "Batch size"), ({"lr": -1.0}, "Learning rate"),
                           ({"lr": 1e30}, "at most 100"), ({"device": "tpu"}, "Device")):
        with pytest.raises(TrainError, match=words):
            train(SMALL, tiny, quick(**changes))
    if not torch.cuda.is_available():
        with pytest.raises(TrainError, match="no GPU"):
            train(SMALL, tiny, quick(device="cuda"))


def test_the_head_and_input_follow_the_dataset(tiny):
    data = load_dataset("synthetic", image_size=32, num_train=4, num_val=2, num_classes=4)
    fitted = fit_spec(get_preset("resnet18"), data)
    assert (fitted.num_classes, fitted.in_channels, fitted.input_size) == (4, 3, 32)
    assert fitted.layers == (2, 2, 2, 2)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_train_saves_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run.pt"
    code = _cli(["train", "--preset", "resnet20", "--set", "layers=1,1,1", "--dataset",
                 "synthetic", "--steps", "3", "--batch-size", "16", "--precision", "fp32",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert f"checkpoint: {out}" in captured.out and "final validation accuracy" in captured.out
    assert "3/3" in captured.err  # the progress bar
    assert read_checkpoint(out).spec.layers == (1, 1, 1)


def test_cli_train_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown preset"):
        _cli(["train", "--preset", "resnet99"])
    with pytest.raises(ValueError, match="Steps"):
        _cli(["train", "--dataset", "synthetic", "--steps", "0"])


def test_a_failing_background_run_reports_its_error(tiny):
    broken = Dataset(tiny.name, tiny.x_train, tiny.y_train + 100, tiny.x_val, tiny.y_val,
                     tiny.classes, tiny.mean, tiny.std)  # labels beyond the 4 classes
    run = TrainingRun("run", SMALL, broken, quick()).start()
    run.join(timeout=60)
    assert run.error is not None and run.error.startswith("Training failed:")
    assert run.result is None


def test_smoothed_throughput_is_images_over_time():
    # Batch 100: 100 images in 1 s, then 100 in 1/3 s, then 200 (two steps) in 0.5 s.
    frame = pd.DataFrame({"step": [1, 2, 4], "images_per_s": [100.0, 300.0, 400.0]})
    rates = smoothed_throughput(frame, window=2)
    assert rates.tolist() == pytest.approx([100.0, 200 / (1 + 1 / 3), 300 / (1 / 3 + 0.5)])
    assert smoothed_throughput(frame).iloc[-1] == pytest.approx(400 / (1 + 1 / 3 + 0.5))
