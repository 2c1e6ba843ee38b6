"""Two CPU processes under torchrun (DDP over gloo) learn digits as one process does with the same
global batch, and only rank 0 prints and writes the checkpoint.

Why a tolerance and not equality: each process normalises its half of the batch with its own batch
norm statistics (32 images instead of 64) and draws its own crops, so the two runs are close, not
bit-equal. After 50 steps (batch 64, AdamW 0.01, cosine) on the paper's 8-layer CIFAR ResNet both
reach about 70-80% validation accuracy; they must agree within TOLERANCE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 0.12  # validation accuracy, absolute
ARGS = ["train", "--preset", "resnet20", "--set", "layers=1,1,1", "--steps", "50",
        "--batch-size", "64", "--optimizer", "adam", "--lr", "0.01", "--schedule", "cosine",
        "--precision", "fp32", "--quiet"]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_two_processes_reach_the_accuracy_of_one_with_the_same_global_batch(tmp_path):
    one = _run([sys.executable, "-m", "inspector", *ARGS, "--out", str(tmp_path / "one.pt")])
    assert one.returncode == 0, one.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2"]
    two = _run([*torchrun, "-m", "inspector", *ARGS, "--out", str(tmp_path / "two.pt")])
    assert two.returncode == 0, two.stderr
    assert "on 2 processes (gloo)" in two.stderr
    assert two.stdout.count("final validation accuracy") == 1  # rank 0 alone prints
    single = read_checkpoint(tmp_path / "one.pt")
    double = read_checkpoint(tmp_path / "two.pt")
    acc_one, acc_two = (c.metrics[-1]["val_acc"] for c in (single, double))
    assert acc_one > 0.5 and acc_two > 0.5, (acc_one, acc_two)
    assert abs(acc_one - acc_two) <= TOLERANCE, (acc_one, acc_two)
    # the same format: every event of the run, and the block statistics
    assert [m["step"] for m in double.metrics] == [m["step"] for m in single.metrics]
    assert double.block_stats.blocks == single.block_stats.blocks


def test_the_distributed_environment_is_read_and_checked(monkeypatch):
    from inspector import distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.from_environment() is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    place = distributed.from_environment("cpu")
    assert (place.rank, place.world_size, place.backend, place.is_main) == (1, 2, "gloo", False)
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(distributed.DistributedError, match="RANK must be a whole number"):
        distributed.from_environment("cpu")
