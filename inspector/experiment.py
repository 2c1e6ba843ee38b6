"""The paper's degradation experiment (He et al. 2015, figure 6): plain and residual nets of two
depths trained on the same data, seed and recipe.

What it shows: on CIFAR-10 the paper's plain-56 ends with a higher training error than plain-20
(deeper is worse, and not by overfitting: the training error itself is higher), while ResNet-56
ends below ResNet-20. The per-block gradient norms show the why: in the plain net the gradient
reaching the first blocks is small, with shortcuts it reaches every block.

`run_degradation` trains the four runs one after another through any `train_one` callable (the
CLI passes one with a progress bar, the app one that queues runs on the server), so the plan, the
caption and the figure are the same everywhere. The caption states measured numbers only: at a
small budget the deeper plain net may or may not end worse, and it says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from inspector.presets import get_preset
from inspector.spec import ResNetSpec, SpecError
from inspector.train import TrainConfig, TrainResult

#: The paper's figure 6 (left: plain-20 and plain-56; right: ResNet-20 and ResNet-56).
DEFAULT_DEPTHS = (20, 56)
#: Steps per run by default, for the four runs on digits to finish within 10 minutes on an idle
#: 2-core CPU: ResNet-20 and ResNet-56 take about 41 and 125 million mult-adds per image, x 3 for
#: forward and backward, x 128 images, at the 100-200 GFLOP/s two cores reach in bf16: about 0.3
#: and 0.8 s a step, so 100 x (2 x 0.3 + 2 x 0.8) s, about 4 minutes, with room for validation.
#: An estimate: on a machine shared with other work it takes far longer (README).
DEFAULT_STEPS = 100
#: The final training error is the mean over this last share of the logged intervals: one
#: interval's error on augmented batches swings too much to compare two runs by it.
FINAL_SHARE = 0.1
MAX_DEPTH = 110


class Family:
    """The two panels of the figure."""

    PLAIN = "plain"
    RESIDUAL = "residual"


def cifar_design(depth: int, residual: bool) -> ResNetSpec:
    """The paper's CIFAR network of `depth` = 6n + 2 layers (3 stages of n basic blocks)."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or depth > MAX_DEPTH \
            or (depth - 2) % 6:
        raise SpecError(f"A depth for the CIFAR networks must be 6n + 2 between 8 and "
                        f"{MAX_DEPTH} (20, 32, 44, 56, 110, ...), not {depth}.")
    n = (depth - 2) // 6
    return get_preset("resnet20").replace(layers=(n, n, n), residual=residual)


@dataclass(frozen=True)
class PlannedRun:
    label: str  # "plain-20", "resnet-56"
    family: str
    depth: int
    spec: ResNetSpec


def plan_runs(depths: Sequence[int] = DEFAULT_DEPTHS) -> list[PlannedRun]:
    """plain-d then resnet-d for each depth, shallow first: the paper's figure 6."""
    depths = list(depths)
    if len(depths) < 2 or len(set(depths)) != len(depths):
        raise SpecError("Give at least two different depths, e.g. 20 56.")
    runs = []
    for family, residual in ((Family.PLAIN, False), (Family.RESIDUAL, True)):
        for depth in sorted(depths):
            name = "plain" if family == Family.PLAIN else "resnet"
            runs.append(PlannedRun(f"{name}-{depth}", family, depth,
                                   cifar_design(depth, residual)))
    return runs


def experiment_config(steps: int = DEFAULT_STEPS, seed: int = 0, **changes) -> TrainConfig:
    """The paper's recipe (SGD 0.1, momentum 0.9, wd 1e-4, batch 128, lr / 10 at 50% and 75%),
    validated each about 10 times, block statistics about 60 times per run."""
    return TrainConfig(steps=steps, seed=seed, **changes).validate()


@dataclass
class FinishedRun:
    planned: PlannedRun
    result: TrainResult

    def curves(self) -> pd.DataFrame:
        """step, training error (augmented batches since the previous event), validation error."""
        frame = self.result.metrics_frame()
        return pd.DataFrame({"step": frame.step, "train_error": 1 - frame.train_acc,
                             "val_error": 1 - frame.val_acc.astype(float)})

    @property
    def final_train_error(self) -> float:
        errors = self.curves().train_error
        if errors.empty:
            return math.nan
        tail = max(1, math.ceil(len(errors) * FINAL_SHARE))
        return float(errors.iloc[-tail:].mean())

    @property
    def final_val_error(self) -> float:
        acc = self.result.final_val_acc
        return math.nan if acc is None else 1 - acc

    def first_block_grad(self) -> pd.DataFrame:
        """step and gradient norm of the first block (layer1.0): where a plain net starves."""
        log = self.result.block_stats
        if log is None or not log.blocks:
            return pd.DataFrame(columns=["step", "grad_norm"])
        steps, rows = log.matrix("grad_norm")
        return pd.DataFrame({"step": steps, "grad_norm": [row[0] for row in rows]})


@dataclass
class DegradationResult:
    runs: list[FinishedRun] = field(default_factory=list)
    dataset: str = ""
    steps: int = 0

    def by_label(self) -> dict[str, FinishedRun]:
        return {run.planned.label: run for run in self.runs}

    def family(self, family: str) -> list[FinishedRun]:
        return sorted((r for r in self.runs if r.planned.family == family),
                      key=lambda r: r.planned.depth)

    def metrics_frame(self) -> pd.DataFrame:
        """Every run's logged events with its label, family and depth: the CSV written."""
        frames = []
        for run in self.runs:
            frame = run.result.metrics_frame()
            frame.insert(0, "depth", run.planned.depth)
            frame.insert(0, "family", run.planned.family)
            frame.insert(0, "run", run.planned.label)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def block_stats_frame(self) -> pd.DataFrame:
        frames = []
        for run in self.runs:
            if run.result.block_stats is not None:
                frame = run.result.block_stats.frame()
                frame.insert(0, "run", run.planned.label)
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def caption(self) -> str:
        """The measured final errors and whether the deeper plain net ended worse, in words."""
        parts = []
        for run in self.runs:
            parts.append(f"{run.planned.label} {_percent(run.final_train_error)} / "
                         f"{_percent(run.final_val_error)}")
        text = (f"Final training / validation error after {self.steps} steps on {self.dataset} "
                f"(training error: mean of the last {FINAL_SHARE:.0%} of the logged intervals, "
                f"on augmented batches): " + ", ".join(parts) + ".")
        unfinished = [r.planned.label for r in self.runs
                      if r.result.stopped_reason != "completed"]
        if unfinished:
            text += f" Not completed: {', '.join(unfinished)}."
        for family, name in ((Family.PLAIN, "plain"), (Family.RESIDUAL, "residual")):
            runs = self.family(family)
            if len(runs) < 2:
                continue
            shallow, deep = runs[0], runs[-1]
            a, b = shallow.final_train_error, deep.final_train_error
            if math.isnan(a) or math.isnan(b):
                continue
            verdict = "ended worse than" if b > a else "did not end worse than"
            text += (f" The deeper {name} net ({deep.planned.label}, training error "
                     f"{_percent(b)}) {verdict} the shallower one ({shallow.planned.label}, "
                     f"{_percent(a)})")
            if family == Family.PLAIN:
                text += (": the degradation the paper reports." if b > a else
                         ": the paper's degradation did not show at this budget.")
            else:
                text += "."
        return text


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def run_degradation(train_one: Callable[[PlannedRun, TrainConfig], TrainResult],
                    config: TrainConfig, depths: Sequence[int] = DEFAULT_DEPTHS,
                    dataset: str = "digits") -> DegradationResult:
    """Train the planned runs one after another with the same config (data, seed, recipe)."""
    outcome = DegradationResult(dataset=dataset, steps=int(config.steps or 0))
    for planned in plan_runs(depths):
        outcome.runs.append(FinishedRun(planned, train_one(planned, config)))
    return outcome
