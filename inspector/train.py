"""The training engine: the paper's recipe on any spec, with metric events for live curves.

Why a hand-written loop and not a DataLoader: the whole dataset already sits on the training
device as one tensor (see `inspector.data`), so a step is an index, one batched augmentation and
the model; nothing waits on per-image Python. The loop uses channels_last (NHWC) memory,
which cuDNN and oneDNN both run faster, bf16 autocast on GPUs and on CPUs with native bf16
instructions (AVX512-BF16 or AMX), which roughly halves the step time there, and optionally
`torch.compile`.

Metrics are read back (a device sync) only every `log_every` steps, so the GPU is not stalled on
every step; on the CPU the loss is checked for NaN/inf after every step since that costs nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from inspector.data import Dataset, augment, normalize
from inspector.model import ResNet, build_model
from inspector.spec import ResNetSpec

SCHEDULES = ("step", "cosine", "onecycle", "constant")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
#: How a run ended; `message` on the result says it in a sentence.
STOP_REASONS = ("completed", "stopped", "nan", "oom")
EVAL_BATCH = 512


class TrainError(ValueError):
    """A training request that cannot run, with a sentence a user can act on."""


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
    eta_s: float


@dataclass
class TrainResult:
    spec: ResNetSpec  # the spec trained: the head and input fitted to the dataset
    model: ResNet
    config: TrainConfig
    dataset: str
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    metrics: list[MetricEvent] = field(default_factory=list)
    stopped_reason: str = "completed"
    message: str = ""
    device: str = "cpu"
    precision: str = "fp32"

    @property
    def final_val_acc(self) -> float | None:
        return next((e.val_acc for e in reversed(self.metrics) if e.val_acc is not None), None)

    def metrics_frame(self) -> pd.DataFrame:
        return metrics_frame(self.metrics)


def metrics_frame(events: list[MetricEvent]) -> pd.DataFrame:
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
    return (isinstance(error, torch.OutOfMemoryError) or "out of memory" in text
            or "can't allocate memory" in text)


class Trainer:
    """One training run. `events()` runs it, yielding `MetricEvent`s; `result` holds the outcome."""

    def __init__(self, spec: ResNetSpec, dataset: Dataset, config: TrainConfig | None = None):
        self.config = (config or TrainConfig()).validate()
        self.dataset = dataset
        self.spec = fit_spec(spec, dataset)
        self.device = resolve_device(self.config.device)
        self.precision = resolve_precision(self.config.precision, self.device)
        self.total_steps = self.config.total_steps(len(dataset.x_train))
        self.channels_last = self.config.channels_last
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
            with self._autocast():
                logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        model.train()
        count = max(1, len(x_val))
        return float(loss_sum) / count, float(correct) / count

    def _step(self, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step; returns the (detached) loss and logits."""
        with self._autocast():
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), logits.detach()

    def events(self, stop: threading.Event | None = None) -> Iterator[MetricEvent]:
        """Train, yielding an event every `log_every` steps; sets `self.result` at the end.

        `stop` is checked before every step, so a stop is honoured within one step.
        """
        config, dataset, device = self.config, self.dataset, self.device
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = build_model(self.spec, device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        result = TrainResult(self.spec, model, config, dataset.name, list(dataset.classes),
                             tuple(dataset.mean), tuple(dataset.std), device=str(device),
                             precision=self.precision)
        self.result = result
        step_model = torch.compile(model) if config.compile else model
        optimizer = _optimizer(model, config)
        try:
            x_train, y_train = dataset.x_train.to(device), dataset.y_train.to(device)
            x_val, y_val = dataset.x_val.to(device), dataset.y_val.to(device)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not _is_oom(error):
                raise
            result.stopped_reason = "oom"
            result.message = (f"The dataset ({dataset.x_train.nbytes / 2**30:.1f} GiB of training "
                              f"images) does not fit in the memory of {device}.")
            return
        total = self.total_steps
        num_train = len(x_train)
        batch = min(config.batch_size, num_train)
        log_every = config.log_every or max(1, total // 100)
        eval_every = config.eval_every or max(1, total // 10)
        check_every = 1 if device.type == "cpu" else log_every
        order = torch.randperm(num_train, generator=generator)
        cursor = 0
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        start = last_time = time.perf_counter()
        last_step = 0
        model.train()
        for step in range(total):
            if stop is not None and stop.is_set():
                result.stopped_reason = "stopped"
                result.message = f"Stopped by request after {step} of {total} steps."
                break
            if cursor + batch > num_train:  # a new epoch: reshuffle, drop the ragged tail
                order = torch.randperm(num_train, generator=generator)
                cursor = 0
            index = order[cursor:cursor + batch].to(device)
            cursor += batch
            lr = lr_at(step, total, config.lr, config.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            try:
                x = x_train[index]
                if config.augment:
                    x = augment(x, generator=generator)
                y = y_train[index]
                loss, logits = self._step(step_model, optimizer, self._prepare(x), y)
            except (torch.OutOfMemoryError, RuntimeError) as error:
                if not _is_oom(error):
                    raise
                optimizer.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                result.stopped_reason = "oom"
                memory = "GPU memory" if device.type == "cuda" else "memory"
                result.message = (f"Out of {memory} at batch size {batch} (step {step + 1}); "
                                  f"try a smaller batch size or a smaller model.")
                break
            loss_sum += loss
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            done = step + 1
            if (done % check_every == 0 or done == total) and _stopped_on_nan(
                    result, done, float(loss)):
                break
            if done % log_every and done != total:
                continue
            interval_loss = float(loss_sum) / max(1, done - last_step)
            if _stopped_on_nan(result, done, interval_loss):  # on a GPU, checked only here
                break
            val_loss = val_acc = None
            trained = time.perf_counter()
            if done % eval_every == 0 or done == total:
                val_loss, val_acc = self.evaluate(model, x_val, y_val)
            now = time.perf_counter()
            rate_steps = (now - last_time) / max(1, done - last_step)
            event = MetricEvent(
                step=done, total_steps=total, epoch=done * batch / num_train,
                loss=interval_loss, train_acc=float(correct) / max(1, seen),
                val_loss=val_loss, val_acc=val_acc, lr=lr,
                images_per_s=seen / max(trained - last_time, 1e-9), elapsed_s=now - start,
                eta_s=rate_steps * (total - done),
            )
            result.metrics.append(event)
            loss_sum.zero_()
            correct.zero_()
            seen, last_time, last_step = 0, now, done
            yield event
        # Hand back a standard (NCHW) model, so that it computes exactly as a loaded copy does.
        result.model = model.to(memory_format=torch.contiguous_format).eval()
        if result.stopped_reason == "completed":
            acc = result.final_val_acc
            result.message = (f"Completed {total} steps"
                              + (f"; validation accuracy {acc:.1%}." if acc is not None else "."))


def _stopped_on_nan(result: TrainResult, step: int, loss: float) -> bool:
    """Mark the result stopped when the loss is NaN or infinite; says whether it did."""
    if math.isfinite(loss):
        return False
    result.stopped_reason = "nan"
    result.message = (f"Training stopped at step {step}: the loss became {loss} (NaN or "
                      f"infinite). Lower the learning rate or check the data.")
    return True


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


class TrainingRun:
    """A training run in a background thread, for UIs that poll it while it trains.

    The thread only appends to `events` and sets `result`/`error`; readers take snapshots.
    """

    def __init__(self, label: str, spec: ResNetSpec, dataset: Dataset, config: TrainConfig):
        self.label = label
        self.trainer = Trainer(spec, dataset, config)  # validates before the thread starts
        self.events: list[MetricEvent] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"train-{label}", daemon=True)

    def start(self) -> "TrainingRun":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for event in self.trainer.events(self._stop):
                self.events.append(event)
        except Exception as error:  # reported to the UI as a sentence, not lost in a thread
            self.error = f"Training failed: {error}"

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
