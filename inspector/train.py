"""The training engine: the paper's recipe on any spec, with metric events for live curves.

Why a hand-written loop and not a DataLoader: the whole dataset already sits on the training
device as one tensor (see `inspector.data`), so a step is an index, one batched augmentation and
the model; nothing waits on per-image Python. The loop uses channels_last (NHWC) memory,
which cuDNN and oneDNN both run faster, bf16 autocast on GPUs and on CPUs with native bf16
instructions (AVX512-BF16 or AMX), which roughly halves the step time there, and optionally
`torch.compile`.

Metrics are read back (a device sync) only every `log_every` steps, so the GPU is not stalled on
every step; on the CPU the loss is checked after every step since that costs nothing.

A server runs requests from many people at once, so a run is checked before anything is allocated
(its memory estimate against what the device has free, batch norm against a batch of one), draws
every random number from its own generators (two runs with one seed agree even when they train
side by side), stops when its loss diverges, and takes one of a few server-wide slots.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from inspector.data import Dataset, augment, normalize
from inspector.costs import estimate_activation_bytes, estimate_params
from inspector.model import ResNet, build_model
from inspector.op_trace import TRACE_GATE
from inspector.spec import ResNetSpec

if TYPE_CHECKING:  # pandas only where a table of metrics is asked for: the CLI starts faster
    import pandas as pd

SCHEDULES = ("step", "cosine", "onecycle", "constant")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
EVAL_BATCH = 512
#: A loss above this multiple of its first value (at least 1) ...
DIVERGENCE_FACTOR = 100.0
#: ... for this many checks in a row (steps on a CPU, logged intervals on a GPU) ends the run.
DIVERGENCE_CHECKS = 3
#: Steps left out of the ETA: the allocator, kernel selection and compilation make them slow.
ETA_WARMUP_STEPS = 5
#: Intervals averaged before an ETA is shown at all (until then: "estimating").
ETA_INTERVALS = 3
ETA_SMOOTHING = 0.3  # weight of the newest interval in the moving average
#: Training keeps every layer output for backward and backward makes gradients of the same size.
ACTIVATION_COPIES = 2
#: Server settings, read when a run starts: the number of concurrent runs and a memory cap.
MAX_RUNS_ENV = "RESNET_INSPECTOR_MAX_RUNS"
DEFAULT_MAX_RUNS = 2
MEMORY_CAP_ENV = "RESNET_INSPECTOR_TRAIN_MEMORY_GB"


class StopReason(StrEnum):
    """How a run ended; `message` on the result says it in a sentence."""

    COMPLETED = "completed"
    STOPPED = "stopped"
    NAN = "nan"
    DIVERGED = "diverged"
    OOM = "oom"


class TrainError(ValueError):
    """A training request that cannot run, with a sentence a user can act on."""


MAX_SEED = 2**64 - 1


@dataclass
class TrainConfig:
    """A training recipe. Defaults are the paper's CIFAR recipe (section 4.2), scaled to `steps`:
    SGD, lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, lr divided by 10 at 50% and 75%."""

    steps: int | None = 300
    epochs: float | None = None  # when set, overrides steps: epochs x (training images / batch)
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"
    optimizer: str = "sgd"
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True  # NHWC: faster convs on GPUs and in oneDNN on CPUs
    compile: bool = False
    augment: bool = True
    log_every: int | None = None  # None: about 100 events per run
    eval_every: int | None = None  # None: about 10 validations per run, and one at the end
    seed: int = 0

    def validate(self) -> "TrainConfig":
        checks = [
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.steps is not None or self.epochs is not None, "give steps or epochs"),
            (self.steps is None or 1 <= self.steps <= 10_000_000, "steps must be at least 1"),
            (self.epochs is None or 0 < self.epochs <= 100_000, "epochs must be above 0"),
            (1 <= self.batch_size <= 65536, "batch size must be between 1 and 65536"),
            (0 < self.lr <= 100 and math.isfinite(self.lr),
             "learning rate must be above 0 and at most 100"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (0 <= self.weight_decay < 1, "weight decay must be in [0, 1)"),
            (self.log_every is None or self.log_every >= 1, "log_every must be at least 1"),
            (self.eval_every is None or self.eval_every >= 1, "eval_every must be at least 1"),
            # torch's generators take a 64-bit unsigned seed; a larger one failed only when the
            # weights were drawn, after the run had been announced
            (isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED,
             f"seed must be a whole number from 0 to {MAX_SEED:,} (2**64 - 1)"),
        ]
        for ok, sentence in checks:
            if not ok:
                raise TrainError(sentence[0].upper() + sentence[1:] + ".")
        return self

    def total_steps(self, num_train: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * num_train / self.batch_size))
        return int(self.steps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class MetricEvent:
    """What the loop reports every `log_every` steps; `val_*` are None between validations."""

    step: int
    total_steps: int
    epoch: float
    loss: float  # mean training loss since the previous event
    train_acc: float  # training accuracy (augmented batches) since the previous event
    val_loss: float | None
    val_acc: float | None
    lr: float
    images_per_s: float  # training since the previous event; validation passes excluded
    elapsed_s: float
    eta_s: float | None  # None while the step time is still being estimated


@dataclass
class TrainResult:
    spec: ResNetSpec  # the spec trained: the head and input fitted to the dataset
    model: ResNet | None  # None when the model did not fit in memory
    config: TrainConfig
    dataset: str
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    metrics: list[MetricEvent] = field(default_factory=list)
    stopped_reason: StopReason = StopReason.COMPLETED
    message: str = ""
    device: str = "cpu"
    precision: str = "fp32"

    @property
    def final_val_acc(self) -> float | None:
        return next((e.val_acc for e in reversed(self.metrics) if e.val_acc is not None), None)

    def metrics_frame(self) -> pd.DataFrame:
        return metrics_frame(self.metrics)


def metrics_frame(events: list[MetricEvent]) -> pd.DataFrame:
    import pandas as pd

    columns = [f.name for f in fields(MetricEvent)]
    return pd.DataFrame([asdict(e) for e in events], columns=columns)


def smoothed_throughput(frame: pd.DataFrame, window: int = 10) -> pd.Series:
    """Images per second over the last `window` events: total images over total time.

    One step's rate swings with whatever else the machine does in that instant (on a small CPU,
    drawing the page); the ratio of sums over a window is the throughput a user can expect.
    With a constant batch, images and time per event are steps x batch and that over the rate,
    so the batch cancels: sum(steps) / sum(steps / rate).
    """
    steps = frame.step.diff().fillna(frame.step).clip(lower=1)
    seconds = steps / frame.images_per_s
    return (steps.rolling(window, min_periods=1).sum()
            / seconds.rolling(window, min_periods=1).sum())


def fit_spec(spec: ResNetSpec, dataset: Dataset) -> ResNetSpec:
    """The spec with its classifier, input channels and input size set to the dataset's."""
    return spec.replace(num_classes=dataset.num_classes, in_channels=dataset.in_channels,
                        input_size=dataset.image_size).validate()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("CUDA was asked for but no GPU is available to PyTorch here; "
                         "choose device 'cpu' or 'auto'.")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX) through oneDNN."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' picks bf16 where the hardware runs it natively, else fp32."""
    if name != "auto":
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainError("This GPU does not support bf16; choose precision 'fp32'.")
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"


def lr_at(step: int, total: int, base: float, schedule: str) -> float:
    """The learning rate for 0-based `step` of `total`."""
    progress = step / max(1, total)
    if schedule == "step":  # the paper: divide by 10 at 50% and 75% (32k and 48k of 64k)
        return base * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "cosine":
        return 0.5 * base * (1.0 + math.cos(math.pi * progress))
    if schedule == "onecycle":  # warm up for 30% from base/25, then anneal to base/1e4
        warm = 0.3
        if progress < warm:
            start = base / 25
            return start + (base - start) * 0.5 * (1 - math.cos(math.pi * progress / warm))
        rest = (progress - warm) / (1 - warm)
        end = base / 1e4
        return end + (base - end) * 0.5 * (1 + math.cos(math.pi * rest))
    return base


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on BN parameters and biases: decaying BN scales only fights normalisation.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adam":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=False)


def _is_oom(error: BaseException) -> bool:
    text = str(error).lower()
    return (isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text
            or "can't allocate memory" in text)


GB = 1e9


@dataclass(frozen=True)
class MemoryEstimate:
    """What one training run holds on its device, in bytes, before a single step runs."""

    weights: int
    gradients: int
    optimizer_state: int
    activations: int  # for one batch, float32 (bf16 needs less: this errs on the safe side)
    data: int  # the dataset copied to the device (nothing extra on the CPU, where it already is)
    batch_size: int

    @property
    def total(self) -> int:
        return (self.weights + self.gradients + self.optimizer_state + self.activations
                + self.data)

    def describe(self) -> str:
        data = f", data {self.data / GB:.2f}" if self.data else ""
        return (f"about {self.total / GB:.2f} GB (weights {self.weights / GB:.2f}, gradients "
                f"{self.gradients / GB:.2f}, optimizer state {self.optimizer_state / GB:.2f}, "
                f"activations {self.activations / GB:.2f} at batch size {self.batch_size}{data})")


def estimate_training_memory(spec: ResNetSpec, config: TrainConfig, batch_size: int,
                             dataset: Dataset, device: torch.device) -> MemoryEstimate:
    """Weights, gradients, optimiser state, activations x batch and data, from the spec alone."""
    weights = estimate_params(spec) * 4
    if config.optimizer == "adam":
        states = 2  # AdamW: first and second moments
    else:
        states = 1 if config.momentum > 0 else 0  # SGD: the momentum buffer
    data = 0 if device.type == "cpu" else dataset.x_train.nbytes + dataset.x_val.nbytes
    activations = estimate_activation_bytes(spec) * batch_size * ACTIVATION_COPIES
    return MemoryEstimate(weights, weights, weights * states, activations, data, batch_size)


def _memory_cap() -> int | None:
    text = os.environ.get(MEMORY_CAP_ENV)
    if not text:
        return None
    try:
        cap = float(text)
    except ValueError:
        cap = -1.0
    if not (cap > 0 and math.isfinite(cap)):
        raise TrainError(f"{MEMORY_CAP_ENV} must be a number of gigabytes above 0, not {text!r}.")
    return int(cap * GB)


def _cpu_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo: what the kernel can give without swapping."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory(device: torch.device) -> int | None:
    """Bytes a run may use on `device`: free memory, lowered to the configured cap if there is
    one; None when neither is known (then no check is made)."""
    if device.type == "cuda":
        free: int | None = torch.cuda.mem_get_info(device)[0]
    else:
        free = _cpu_available_bytes()
    cap = _memory_cap()
    known = [value for value in (free, cap) if value is not None]
    return min(known) if known else None


def check_memory(estimate: MemoryEstimate, device: torch.device) -> None:
    """Refuse, with the figures, a run that would not fit: before anything is allocated."""
    available = available_memory(device)
    if available is not None and estimate.total > available:
        raise TrainError(f"Training this design needs {estimate.describe()}, more than the "
                         f"{available / GB:.2f} GB available on {device}. Choose a smaller design "
                         f"or batch size.")


def check_batch_norm(spec: ResNetSpec, batch_size: int) -> None:
    """Batch norm needs two values per channel: a batch of one fails on a 1x1 feature map."""
    plans = spec.blocks()
    smallest = plans[-1].out_size if plans else spec.stem_output_size()
    if batch_size == 1 and smallest == 1:
        raise TrainError("Batch size 1 cannot train this design: its last feature maps are 1x1, "
                         "so batch norm would see a single value per channel. Use a batch size "
                         "of 2 or more, or a larger input.")


class LossWatch:
    """Decides from the loss alone whether a run has failed.

    NaN or infinity ends it at once; a loss above DIVERGENCE_FACTOR times its first value (at
    least 1) for DIVERGENCE_CHECKS checks in a row ends it as diverged, since a run that far up
    does not come back, and would otherwise report "Completed".
    """

    def __init__(self) -> None:
        self.first: float | None = None
        self.strikes = 0

    def verdict(self, step: int, loss: float) -> tuple[StopReason, str] | None:
        if not math.isfinite(loss):
            return StopReason.NAN, (f"Training stopped at step {step}: the loss became {loss} "
                                    f"(NaN or infinite). Lower the learning rate or check the "
                                    f"data.")
        if self.first is None:
            self.first = loss
        bound = DIVERGENCE_FACTOR * max(self.first, 1.0)
        self.strikes = self.strikes + 1 if loss > bound else 0
        if self.strikes < DIVERGENCE_CHECKS:
            return None
        return StopReason.DIVERGED, (f"Training diverged at step {step}: the loss is {loss:.3g}, "
                                     f"more than {DIVERGENCE_FACTOR:.0f} times its first value "
                                     f"({self.first:.3g}). Lower the learning rate.")


class EtaEstimator:
    """Seconds left, from an exponential moving average of the time per step.

    Intervals that began in the first ETA_WARMUP_STEPS steps are left out, and there is no
    estimate (None: "estimating") until ETA_INTERVALS intervals have been averaged, so the first
    figure a user sees is already the steady one instead of a jump from 0:05 to 3:15.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.seconds_per_step: float | None = None
        self.intervals = 0

    def update(self, first_step: int, done: int, seconds: float) -> float | None:
        """Fold in the interval of steps `first_step` .. `done` - 1 that took `seconds`."""
        if done >= self.total:
            return 0.0
        if first_step >= ETA_WARMUP_STEPS and done > first_step:
            rate = seconds / (done - first_step)
            previous = self.seconds_per_step
            self.seconds_per_step = rate if previous is None else (
                ETA_SMOOTHING * rate + (1 - ETA_SMOOTHING) * previous)
            self.intervals += 1
        if self.intervals < ETA_INTERVALS or self.seconds_per_step is None:
            return None
        return self.seconds_per_step * (self.total - done)


@dataclass
class _Placed:
    """A run's model, optimiser and data on its device: what `Trainer._place` allocates."""

    model: ResNet
    step_model: nn.Module  # the model, or its compiled form
    optimizer: torch.optim.Optimizer
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


@dataclass
class _Interval:
    """What the loop adds up between two events; read back (a device sync) only at an event."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    first_step: int
    started: float
    seen: int = 0


class _OutOfMemory(Exception):
    """Raised inside the loop when a step ran out of memory; ends the run with a message."""


class Trainer:
    """One training run. `events()` runs it, yielding `MetricEvent`s; `result` holds the outcome.

    Everything that can be known before allocating is checked here, in the constructor: the
    config, the device, batch norm against the batch size and the memory the run would need.
    """

    def __init__(self, spec: ResNetSpec, dataset: Dataset, config: TrainConfig | None = None):
        self.config = (config or TrainConfig()).validate()
        self.dataset = dataset
        self.spec = fit_spec(spec, dataset)
        self.device = resolve_device(self.config.device)
        self.precision = resolve_precision(self.config.precision, self.device)
        self.total_steps = self.config.total_steps(len(dataset.x_train))
        self.batch_size = min(self.config.batch_size, len(dataset.x_train))
        self.channels_last = self.config.channels_last
        check_batch_norm(self.spec, self.batch_size)
        self.memory = estimate_training_memory(self.spec, self.config, self.batch_size, dataset,
                                               self.device)
        check_memory(self.memory, self.device)
        self.result: TrainResult | None = None

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize(x, self.dataset.mean, self.dataset.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.no_grad()
    def evaluate(self, model: nn.Module, x_val: torch.Tensor,
                 y_val: torch.Tensor) -> tuple[float, float]:
        """Validation loss and accuracy on un-augmented images, BN in eval mode."""
        model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for start in range(0, len(x_val), EVAL_BATCH):
            x = self._prepare(x_val[start:start + EVAL_BATCH])
            y = y_val[start:start + EVAL_BATCH]
            with self._autocast(), TRACE_GATE.call():
                logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        model.train()
        count = max(1, len(x_val))
        return float(loss_sum) / count, float(correct) / count

    def _step(self, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step; returns the (detached) loss and logits."""
        with TRACE_GATE.call():  # no other thread's fx trace may see this step's modules
            with self._autocast():
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return loss.detach(), logits.detach()

    def _place(self, result: TrainResult) -> _Placed | None:
        """Build the model (its weights drawn from the run's own generator) and move the data to
        the device; None, with the result marked out of memory, when either does not fit."""
        config, dataset, device = self.config, self.dataset, self.device
        what = "the model"
        try:
            # A CPU generator draws the same weights on any device; they are moved afterwards.
            init = torch.Generator().manual_seed(config.seed)
            model = build_model(self.spec, "cpu", generator=init).to(device)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
            optimizer = _optimizer(model, config)
            what = f"the dataset ({dataset.x_train.nbytes / 2**30:.1f} GiB of training images)"
            placed = _Placed(model, torch.compile(model) if config.compile else model, optimizer,
                             dataset.x_train.to(device), dataset.y_train.to(device),
                             dataset.x_val.to(device), dataset.y_val.to(device))
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as error:
            if not _is_oom(error):
                raise
            _release(device)
            result.stopped_reason = StopReason.OOM
            result.message = f"{what[0].upper()}{what[1:]} does not fit in the memory of {device}."
            return None
        result.model = placed.model
        return placed

    def _train_step(self, placed: _Placed, index: torch.Tensor, step: int,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augment one batch and take one step; loss, logits and labels come back detached."""
        config = self.config
        lr = lr_at(step, self.total_steps, config.lr, config.schedule)
        for group in placed.optimizer.param_groups:
            group["lr"] = lr
        try:
            x = placed.x_train[index]
            if config.augment:
                x = augment(x, generator=generator)
            y = placed.y_train[index]
            loss, logits = self._step(placed.step_model, placed.optimizer, self._prepare(x), y)
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as error:
            if not _is_oom(error):
                raise
            placed.optimizer.zero_grad(set_to_none=True)
            _release(self.device)
            memory = "GPU memory" if self.device.type == "cuda" else "memory"
            raise _OutOfMemory(f"Out of {memory} at batch size {self.batch_size} (step "
                               f"{step + 1}); try a smaller batch size or a smaller model.")
        return loss, logits, y

    def _event(self, placed: _Placed, interval: _Interval, done: int, loss: float,
               eta: EtaEstimator, start: float) -> MetricEvent:
        """The event closing `interval`; validates on the evaluation steps and at the end."""
        total = self.total_steps
        eval_every = self.config.eval_every or max(1, total // 10)
        val_loss = val_acc = None
        trained = time.perf_counter()
        if done % eval_every == 0 or done == total:
            val_loss, val_acc = self.evaluate(placed.model, placed.x_val, placed.y_val)
        now = time.perf_counter()
        return MetricEvent(
            step=done, total_steps=total, epoch=done * self.batch_size / len(placed.x_train),
            loss=loss, train_acc=float(interval.correct) / max(1, interval.seen),
            val_loss=val_loss, val_acc=val_acc,
            lr=lr_at(done - 1, total, self.config.lr, self.config.schedule),
            images_per_s=interval.seen / max(trained - interval.started, 1e-9),
            elapsed_s=now - start, eta_s=eta.update(interval.first_step, done,
                                                    now - interval.started),
        )

    def events(self, stop: threading.Event | None = None) -> Iterator[MetricEvent]:
        """Train, yielding an event every `log_every` steps; sets `self.result` at the end.

        `stop` is checked before every step, so a stop is honoured within one step.
        """
        config, dataset, device = self.config, self.dataset, self.device
        result = TrainResult(self.spec, None, config, dataset.name,  # type: ignore[arg-type]
                             list(dataset.classes), tuple(dataset.mean), tuple(dataset.std),
                             device=str(device), precision=self.precision)
        self.result = result
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        placed = self._place(result)
        if placed is None:
            return
        total, batch, num_train = self.total_steps, self.batch_size, len(placed.x_train)
        log_every = config.log_every or max(1, total // 100)
        check_every = 1 if device.type == "cpu" else log_every
        shuffle = torch.Generator().manual_seed(config.seed)  # order and augmentation
        order, cursor = torch.randperm(num_train, generator=shuffle), 0
        watch, eta = LossWatch(), EtaEstimator(total)
        start = time.perf_counter()
        interval = self._new_interval(0, start)
        placed.model.train()
        for step in range(total):
            if stop is not None and stop.is_set():
                result.stopped_reason = StopReason.STOPPED
                result.message = f"Stopped by request after {step} of {total} steps."
                break
            if cursor + batch > num_train:  # a new epoch: reshuffle, drop the ragged tail
                order, cursor = torch.randperm(num_train, generator=shuffle), 0
            index = order[cursor:cursor + batch].to(device)
            cursor += batch
            try:
                loss, logits, y = self._train_step(placed, index, step, shuffle)
            except _OutOfMemory as error:
                result.stopped_reason, result.message = StopReason.OOM, str(error)
                break
            interval.loss_sum += loss
            interval.correct += (logits.argmax(1) == y).sum()
            interval.seen += len(y)
            done = step + 1
            if (done % check_every == 0 or done == total) and self._failed(
                    result, watch, done, float(loss)):
                break
            if done % log_every and done != total:
                continue
            interval_loss = float(interval.loss_sum) / max(1, done - interval.first_step)
            if device.type != "cpu" and self._failed(result, watch, done, interval_loss):
                break
            event = self._event(placed, interval, done, interval_loss, eta, start)
            result.metrics.append(event)
            interval = self._new_interval(done, time.perf_counter())
            yield event
        self._finish(result, placed.model)

    def _new_interval(self, first_step: int, started: float) -> _Interval:
        return _Interval(torch.zeros((), device=self.device),
                         torch.zeros((), device=self.device, dtype=torch.int64),
                         first_step, started)

    @staticmethod
    def _failed(result: TrainResult, watch: LossWatch, step: int, loss: float) -> bool:
        """Mark the result when the loss says the run failed (NaN, divergence); whether it did."""
        verdict = watch.verdict(step, loss)
        if verdict is not None:
            result.stopped_reason, result.message = verdict
        return verdict is not None

    def _finish(self, result: TrainResult, model: ResNet) -> None:
        # Hand back a standard (NCHW) model, so that it computes exactly as a loaded copy does.
        result.model = model.to(memory_format=torch.contiguous_format).eval()
        if result.stopped_reason == StopReason.COMPLETED:
            acc = result.final_val_acc
            result.message = (f"Completed {self.total_steps} steps"
                              + (f"; validation accuracy {acc:.1%}." if acc is not None else "."))


def _release(device: torch.device) -> None:
    """Give cached GPU memory back after an out-of-memory error, so the next request can use it."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def train(spec: ResNetSpec, dataset: Dataset, config: TrainConfig | None = None,
          callback: Callable[[MetricEvent], None] | None = None,
          stop: threading.Event | None = None) -> TrainResult:
    """Train `spec` (head fitted to the dataset) and return the result; events go to `callback`."""
    trainer = Trainer(spec, dataset, config)
    for event in trainer.events(stop):
        if callback is not None:
            callback(event)
    assert trainer.result is not None
    return trainer.result


def max_runs() -> int:
    """The server's cap on concurrent training runs: `$RESNET_INSPECTOR_MAX_RUNS`, else 2."""
    text = os.environ.get(MAX_RUNS_ENV)
    if not text:
        return DEFAULT_MAX_RUNS
    if not text.strip().isdigit() or int(text) < 1:
        raise TrainError(f"{MAX_RUNS_ENV} must be a whole number of at least 1, not {text!r}.")
    return int(text)


class RunSlots:
    """The server-wide list of training runs in progress, at most `max_runs()` of them.

    Why server-wide: every session trains in the same process, so each run takes a slot to
    start and hands it back when its thread ends, whoever started it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[TrainingRun] = []

    def take(self, run: "TrainingRun") -> None:
        limit = max_runs()
        with self._lock:
            if len(self._active) >= limit:
                raise TrainError(f"This server already trains {len(self._active)} "
                                 f"run{'s' if len(self._active) > 1 else ''}, its limit; "
                                 f"start again when one has ended.")
            self._active.append(run)

    def give_back(self, run: "TrainingRun") -> None:
        with self._lock:
            if run in self._active:
                self._active.remove(run)

    def active(self) -> list["TrainingRun"]:
        with self._lock:
            return list(self._active)


#: The runs of this server process, across sessions.
SERVER_RUNS = RunSlots()


class RunOwner:
    """A token kept in a session's state: its runs stop when it is garbage-collected with it."""


class TrainingRun:
    """A training run in a background thread, for UIs that poll it while it trains.

    The thread only appends to `events` and sets `result`/`error`; readers take snapshots.
    With an `owner` (any object that lives as long as the session that started the run, such as
    a token in its session state), the run stops when the owner is garbage-collected: a closed
    tab does not leave a run training for nobody. Only a weak reference is kept to the owner.
    """

    def __init__(self, label: str, spec: ResNetSpec, dataset: Dataset, config: TrainConfig,
                 owner: object | None = None, slots: RunSlots = SERVER_RUNS):
        self.label = label
        self.trainer = Trainer(spec, dataset, config)  # validates before the thread starts
        self.events: list[MetricEvent] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._slots = slots
        self._thread = threading.Thread(target=self._run, name=f"train-{label}", daemon=True)
        if owner is not None:
            weakref.finalize(owner, self._stop.set)

    def start(self) -> "TrainingRun":
        """Start training, or raise TrainError when the server's runs are all taken."""
        self._slots.take(self)
        try:
            self._thread.start()
        except RuntimeError:
            self._slots.give_back(self)
            raise
        return self

    def _run(self) -> None:
        try:
            for event in self.trainer.events(self._stop):
                self.events.append(event)
        except Exception as error:  # reported to the UI as a sentence, not lost in a thread
            self.error = f"Training failed: {error}"
        finally:
            self._slots.give_back(self)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def result(self) -> TrainResult | None:
        """The outcome once the thread has finished (None while it runs or if it failed)."""
        return None if self.running or self.error else self.trainer.result

    @property
    def total_steps(self) -> int:
        return self.trainer.total_steps
