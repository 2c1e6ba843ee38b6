"""Inference helpers: top-k predictions, per-stage feature maps through torch.fx, latency tables.

Feature maps are taken by tracing the network with the stages (`layer1..layerN`) as leaves and
returning the stem output and every stage output from a new `GraphModule`: the same technique as
torchvision's feature extraction, without depending on torchvision.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd
import torch
from torch import fx, nn

from inspector.data import normalize, read_image
from inspector.model import ResNet
from inspector.op_trace import TRACE_GATE
from inspector.spec import stage_name

DEFAULT_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def prepare_image(source, image_size: int, mean, std, channels: int = 3) -> torch.Tensor:
    """An uploaded image (path, bytes or file-like) as a normalised (1, C, H, W) batch."""
    image = read_image(source, image_size, channels)
    return normalize(image.unsqueeze(0), tuple(mean), tuple(std))


def trust_problem(model: nn.Module, mean, std, predictions=()) -> str | None:
    """Why this model's predictions mean nothing, as a sentence, or None.

    A checkpoint can load and still be useless: weights that diverged to NaN or infinity, a
    normalisation dividing by zero, or outputs that overflow. Softmax of such logits is NaN, and
    "Prediction: 8 (nan%)" would look like an answer; callers show this sentence instead.
    """
    broken = [name for name, tensor in chain(model.named_parameters(), model.named_buffers())
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        return (f"{len(broken)} weight tensor(s) of this model hold NaN or infinite values (the "
                f"first is {broken[0]}), so its predictions mean nothing; training probably "
                f"diverged.")
    if not all(math.isfinite(v) for v in (*mean, *std)) or min(std, default=1.0) <= 0:
        return (f"This model's normalisation divides by a standard deviation of "
                f"{', '.join(f'{v:g}' for v in std)}; every value must be above zero, so its "
                f"predictions mean nothing.")
    if any(not math.isfinite(p.probability) for row in predictions for p in row):
        return ("This model's outputs are not finite numbers (they overflowed), so its "
                "predictions mean nothing.")
    return None


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict_topk(model: nn.Module, images: torch.Tensor, k: int = 5,
                 classes: list[str] | None = None) -> list[list[Prediction]]:
    """The k most probable classes of each (normalised) image, most probable first."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    model.eval()
    with TRACE_GATE.call():
        logits = model(images.to(_device_of(model), torch.float32))
    probabilities = torch.softmax(logits.float(), dim=1).cpu()
    k = min(k, probabilities.shape[1])
    top = probabilities.topk(k, dim=1)
    return [
        [Prediction(int(i), classes[int(i)] if classes else str(int(i)), float(p))
         for p, i in zip(values, indices)]
        for values, indices in zip(top.values, top.indices)
    ]


class _StageTracer(fx.Tracer):
    """Keeps whole stages as leaves, so each stage's output is one node of the graph."""

    def __init__(self, stage_names: set[str]):
        super().__init__()
        self.stage_names = stage_names

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return qualified_name in self.stage_names or super().is_leaf_module(module, qualified_name)


def feature_extractor(model: ResNet) -> fx.GraphModule:
    """A GraphModule returning {'conv1': stem output, 'conv2_x': stage 1 output, ...}."""
    stages = [f"layer{i + 1}" for i in range(model.spec.num_stages)]
    graph = _StageTracer(set(stages)).trace(model)
    nodes = {n.target: n for n in graph.nodes if n.op == "call_module"}
    first = nodes[stages[0]]
    outputs = {"conv1": first.args[0]}
    for i, stage in enumerate(stages):
        outputs[stage_name(i)] = nodes[stage]
    output = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(output):
        graph.output(outputs)
    graph.erase_node(output)
    module = fx.GraphModule(model, graph)
    module.graph.eliminate_dead_code()  # drops the pooling and fc after the last stage
    module.recompile()
    return module


@torch.no_grad()
def feature_maps(model: ResNet, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Feature maps (C, H, W) of the stem and every stage for one normalised image, eval mode."""
    if image.ndim == 3:
        image = image.unsqueeze(0)
    model.eval()
    with TRACE_GATE.trace():  # the extractor is traced, then run, alone (see op_trace)
        extractor = feature_extractor(model)
        outputs = extractor(image.to(_device_of(model), torch.float32))
    return {name: tensor[0].float().cpu() for name, tensor in outputs.items()}


def feature_grid(maps: torch.Tensor, max_channels: int = 16, columns: int = 8,
                 gap: int = 1) -> np.ndarray:
    """The first channels of a (C, H, W) map tiled into one grey image, each channel scaled to
    [0, 1] on its own (their ranges differ too much to share a scale)."""
    channels = maps[:max_channels]
    count, height, width = channels.shape
    columns = min(columns, count)
    rows = -(-count // columns)
    low = channels.amin(dim=(1, 2), keepdim=True)
    high = channels.amax(dim=(1, 2), keepdim=True)
    scaled = ((channels - low) / (high - low).clamp_min(1e-6)).numpy()
    grid = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap), np.float32)
    for index in range(count):
        r, c = divmod(index, columns)
        grid[r * (height + gap):r * (height + gap) + height,
             c * (width + gap):c * (width + gap) + width] = scaled[index]
    return grid


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def latency_table(model: nn.Module, device: str | torch.device = "cpu",
                  batch_sizes=DEFAULT_BATCH_SIZES, image_shape: tuple[int, int, int] | None = None,
                  budget_s: float = 0.5, precision: str = "fp32") -> pd.DataFrame:
    """Forward-pass latency and throughput per batch size (eval mode, random input).

    Each size gets a warm-up pass, then repeats until `budget_s` is spent (at least one); the
    median is reported. A size that runs out of memory is reported as such and ends the table.
    The model itself is left as it was (it may be a cached object other sessions share): a copy
    is timed when it lives elsewhere or is in training mode.
    """
    device = torch.device(device)
    if _device_of(model) != device or model.training:
        model = copy.deepcopy(model).to(device).eval()
    if image_shape is None:
        spec = model.spec
        image_shape = (spec.in_channels, spec.input_size, spec.input_size)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    rows = []
    for batch in batch_sizes:
        try:
            x = torch.randn(batch, *image_shape, device=device)  # the input can be what runs out
            with autocast, TRACE_GATE.call():
                model(x)
                _sync(device)
                times: list[float] = []
                while not times or (sum(times) < budget_s and len(times) < 50):
                    start = time.perf_counter()
                    model(x)
                    _sync(device)
                    times.append(time.perf_counter() - start)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if "out of memory" not in str(error).lower():
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            rows.append({"batch_size": batch, "latency_ms": float("nan"),
                         "images_per_s": float("nan"), "note": "out of memory"})
            break
        median = float(np.median(times))
        rows.append({"batch_size": batch, "latency_ms": median * 1000,
                     "images_per_s": batch / median, "note": ""})
    return pd.DataFrame(rows, columns=["batch_size", "latency_ms", "images_per_s", "note"])


def latency_display(table: pd.DataFrame) -> pd.DataFrame:
    """The latency table for readers: three significant digits, milliseconds named in the
    header, and the note column only when some size has a note."""
    def significant(value: float) -> float | None:
        return None if math.isnan(value) else float(f"{value:.3g}")

    shown = pd.DataFrame({
        "batch size": table.batch_size,
        "latency (ms)": table.latency_ms.map(significant),
        "images per second": table.images_per_s.map(significant),
    })
    if table.note.astype(bool).any():
        shown["note"] = table.note
    return shown
