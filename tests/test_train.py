"""The training engine: a real short run learns digits; stop, NaN, OOM, seeds and the schedule.

The accuracy run is the one slow test (half a minute to a minute on two cores): the paper's
CIFAR ResNet-20 with the paper's recipe, 150 steps of 128 on scikit-learn's digits, must reach
90% validation accuracy. Everything else runs a handful of steps on tiny synthetic data.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch

from inspector import get_preset
from inspector.checkpoint import read_checkpoint
from inspector.cli import main as cli_main
from inspector.data import Dataset, load_dataset
from inspector.model import build_model
from inspector.train import (TrainConfig, TrainError, TrainingRun, estimate_training_memory,
                             fit_spec, lr_at, smoothed_throughput, train)
from inspector import train as train_module
from inspector.train_cli import register

ROOT = Path(__file__).resolve().parent.parent
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


# --- Runs that share a server -----------------------------------------------------------------

def test_two_runs_with_one_seed_at_the_same_time_give_equal_results(tiny):
    results = {}

    def run(name):
        results[name] = train(SMALL, tiny, quick(steps=8, seed=5))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    first, second = results["a"], results["b"]
    assert [e.loss for e in first.metrics] == [e.loss for e in second.metrics]
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_the_server_caps_concurrent_runs_and_queues_the_rest(tiny, monkeypatch):
    monkeypatch.setenv("RESNET_INSPECTOR_MAX_RUNS", "1")
    slots = train_module.RunSlots()
    first = TrainingRun("first", SMALL, tiny, quick(steps=100_000), slots=slots).start()
    second = TrainingRun("second", SMALL, tiny, quick(steps=1), slots=slots).start()
    third = TrainingRun("third", SMALL, tiny, quick(steps=1), slots=slots).start()
    try:
        assert slots.active() == [first]
        assert (second.queue_position, third.queue_position) == (1, 2)
        assert second.running and not second.events  # waiting, not training
        third.stop()  # leaves the queue without ever training
        assert third.queue_position is None and not third.running
        assert "waited for a free slot" in third.error
    finally:
        first.stop()
        first.join(timeout=60)
    second.join(timeout=60)  # the queued run started when the slot was handed back
    assert second.result.stopped_reason == "completed"
    assert slots.active() == [] and slots.waiting() == []
    monkeypatch.setenv("RESNET_INSPECTOR_MAX_RUNS", "none")
    with pytest.raises(TrainError, match="RESNET_INSPECTOR_MAX_RUNS must be a whole number"):
        TrainingRun("fourth", SMALL, tiny, quick(), slots=slots).start()


def test_a_run_stops_when_its_owner_is_collected(tiny):
    owner = train_module.RunOwner()
    run = TrainingRun("owned", SMALL, tiny, quick(steps=100_000), owner=owner).start()
    try:
        del owner
        gc.collect()
        run.join(timeout=60)
        assert not run.running
        assert run.result.stopped_reason == "stopped"
        assert len(run.events) < 100_000
    finally:
        run.stop()
        run.join(timeout=60)


# --- Checks before anything is allocated ------------------------------------------------------

def test_the_memory_estimate_counts_the_built_models_parameters(tiny):
    spec = fit_spec(get_preset("resnet56"), tiny)
    params = sum(p.numel() for p in build_model(spec).parameters())  # on meta: no weights
    device = torch.device("cpu")
    sgd = estimate_training_memory(spec, quick(batch_size=8), 8, tiny, device)
    assert sgd.weights == sgd.gradients == sgd.optimizer_state == params * 4
    adam = estimate_training_memory(spec, quick(optimizer="adam"), 8, tiny, device)
    assert adam.optimizer_state == 2 * params * 4
    double = estimate_training_memory(spec, quick(), 16, tiny, device)
    assert double.activations == 2 * sgd.activations > 0


def test_a_design_too_large_for_the_memory_is_refused_with_the_figures(tiny, monkeypatch):
    monkeypatch.setenv("RESNET_INSPECTOR_TRAIN_MEMORY_GB", "0.5")
    wide = get_preset("resnet20").replace(widths=(512, 1024, 2048))  # 0.3 billion
    with pytest.raises(TrainError, match=r"needs about .* GB \(weights .*more than the 0.50 GB"):
        TrainingRun("wide", wide, tiny, quick())
    monkeypatch.setenv("RESNET_INSPECTOR_TRAIN_MEMORY_GB", "lots")
    with pytest.raises(TrainError, match="RESNET_INSPECTOR_TRAIN_MEMORY_GB must be a number"):
        train(SMALL, tiny, quick())


def test_refusing_a_huge_design_allocates_nothing():
    """1.6 billion parameters (19 GB with SGD) against a 2 GB cap, in a fresh process."""
    script = (
        "import sys\n"
        "from inspector import get_preset\n"
        "from inspector.data import load_dataset\n"
        "from inspector.train import TrainConfig, TrainError, Trainer\n"
        "data = load_dataset('synthetic', num_train=16, num_val=4)\n"
        "spec = get_preset('resnet18').replace(widths=(512, 1024, 2048, 4096),\n"
        "                                      layers=(2, 2, 2, 5))\n"
        "try:\n"
        "    Trainer(spec, data, TrainConfig(steps=1, batch_size=2))\n"
        "except TrainError as error:\n"
        "    print(error)\n"
        # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
        "print(next(int(l.split()[1]) for l in open('/proc/self/status')\n"
        "           if l.startswith('VmHWM:')) * 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=ROOT,
                          env={**os.environ, "RESNET_INSPECTOR_TRAIN_MEMORY_GB": "2"})
    assert done.returncode == 0, done.stderr
    message, peak = done.stdout.strip().splitlines()
    assert "more than the 2.00 GB available" in message
    assert "weights 6.47," in message  # 1.62 billion float32 parameters
    assert int(peak) < 1.5e9  # the interpreter and PyTorch; 6 GB of weights were never made


def test_batch_size_one_with_a_1x1_feature_map_is_said_in_our_words(tiny):
    # ResNet-18 on 32x32 images ends at 1x1: batch norm there needs two values per channel
    small_images = load_dataset("synthetic", num_train=8, num_val=2, num_classes=4)
    with pytest.raises(TrainError, match="Batch size 1 cannot train this design"):
        train(get_preset("resnet18"), small_images, quick(batch_size=1))
    result = train(SMALL, tiny, quick(batch_size=1, steps=2))  # 4x4 at the end: it trains
    assert result.stopped_reason == "completed"


# --- Failures the loss shows, and the ETA --------------------------------------------------

def test_a_diverging_run_stops_with_a_message(tiny):
    result = train(SMALL, tiny, quick(steps=200, lr=100.0, augment=False))
    assert result.stopped_reason == "diverged", result.message
    assert "Lower the learning rate" in result.message
    assert result.metrics and result.metrics[-1].step < 200
    assert max(e.loss for e in result.metrics) > 100 * result.metrics[0].loss


def test_the_loss_watch_needs_several_high_checks():
    watch = train_module.LossWatch()
    assert watch.verdict(1, 2.3) is None
    assert watch.verdict(2, 500.0) is None and watch.verdict(3, 1.0) is None  # one spike
    assert [watch.verdict(s, 1e9) for s in (4, 5)] == [None, None]
    reason, message = watch.verdict(6, 1e9)
    assert reason == "diverged" and "step 6" in message and "100 times" in message
    reason, message = train_module.LossWatch().verdict(1, float("nan"))
    assert reason == "nan" and "NaN" in message


def test_the_eta_waits_for_warm_up_and_smooths_the_step_time():
    eta = train_module.EtaEstimator(total=100)
    # warm-up intervals (slow: allocation, kernel choice) are left out
    assert eta.update(0, 5, 5.0) is None
    assert eta.update(5, 10, 0.5) is None and eta.update(10, 15, 0.5) is None
    assert eta.update(15, 20, 0.5) == pytest.approx(0.1 * 80)
    # one slow interval moves the estimate by a share, not to the new rate
    assert eta.update(20, 25, 5.0) == pytest.approx((0.3 * 1.0 + 0.7 * 0.1) * 75)
    assert eta.update(25, 100, 1.0) == 0.0


def test_events_say_estimating_before_the_eta_is_stable(tiny):
    result = train(SMALL, tiny, quick(steps=12))
    etas = [e.eta_s for e in result.metrics]
    assert etas[:train_module.ETA_WARMUP_STEPS + train_module.ETA_INTERVALS - 1] == [None] * 7
    assert all(eta is not None and eta >= 0 for eta in etas[7:]) and etas[-1] == 0


# --- The command line: one line and exit 2 before anything trains ---------------------------

def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli_main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_module.Trainer, "events", refuse)


def test_cli_unwritable_out_is_one_line_before_training(tmp_path, capsys, no_training):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: use a path under a file instead
            target = tmp_path / "file"
            target.write_text("x")
            out = target / "run.pt"
        else:
            out = locked / "run.pt"
        code, stdout, stderr = _main(["train", "--dataset", "synthetic", "--out", str(out)],
                                     capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and stdout == ""
    assert len(stderr.splitlines()) == 1 and "Cannot write the checkpoint" in stderr


@pytest.mark.parametrize("args, words", [
    (["--steps", "0"], "Steps must be"), (["--epochs", "0"], "Epochs must be"),
    (["--epochs", "1e9"], "Epochs must be"), (["--batch-size", "0"], "Batch size"),
    (["--batch-size", "70000"], "Batch size"), (["--lr", "0"], "Learning rate"),
    (["--lr", "1000"], "Learning rate"), (["--lr", "nan"], "Learning rate"),
    (["--weight-decay", "-1"], "Weight decay"), (["--weight-decay", "2"], "Weight decay"),
    (["--steps", "20000000"], "Steps must be"), (["--download"], "--download applies"),
    (["--preset", "resnet18", "--batch-size", "1"], "Batch size 1 cannot"),
    (["--schedule", "linear"], "invalid choice"),
])
def test_cli_config_errors_are_one_line_and_exit_2(args, words, capsys, no_training):
    try:
        code, stdout, stderr = _main(["train", "--dataset", "synthetic", *args], capsys)
    except SystemExit as exit_:  # argparse's own checks exit through _Parser
        code, stderr, stdout = exit_.code, capsys.readouterr().err, ""
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert words in stderr


def test_a_model_that_does_not_fit_is_an_out_of_memory_result(tiny, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 9000000000 bytes.")

    monkeypatch.setattr(train_module, "build_model", out_of_memory)
    result = train(SMALL, tiny, quick())
    assert result.stopped_reason == "oom" and result.model is None
    assert result.message == "The model does not fit in the memory of cpu."
