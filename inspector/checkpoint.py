"""One-file checkpoints (spec JSON, weights, metrics, class names, normalisation), and loading of
plain torchvision-format state_dicts into the preset they match.

Why `weights_only=True`: checkpoints come from uploads; unpickling arbitrary objects would run
arbitrary code. Everything in our file is therefore a tensor, a string, a number or a list/dict
of those, and the spec, metrics and config travel as JSON text.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from inspector.model import ResNet, build_model
from inspector.presets import PRESETS
from inspector.spec import ResNetSpec, SpecError

FORMAT = "resnet-inspector-checkpoint"
VERSION = 1
#: torchvision's ImageNet normalisation, assumed for plain state_dicts.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Source = str | Path | bytes | BinaryIO


class CheckpointError(ValueError):
    """A file that is not a checkpoint we can load, with a sentence a user can act on."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, on the asked device) and what it needs."""

    spec: ResNetSpec
    model: ResNet
    metrics: list[dict] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    dataset: str | None = None
    config: dict = field(default_factory=dict)
    source_format: str = FORMAT  # or "state_dict" for a plain (torchvision-format) file


def checkpoint_payload(spec: ResNetSpec, model: torch.nn.Module, metrics=(), *,
                       classes=(), mean=None, std=None, dataset: str | None = None,
                       config: dict | None = None) -> dict:
    """The dict that is saved: only tensors, strings, numbers and lists (weights_only-safe)."""
    rows = [m if isinstance(m, dict) else asdict(m) for m in metrics]
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT, "version": VERSION, "spec": spec.to_json(indent=None),
        "state_dict": state, "metrics": json.dumps(rows), "classes": list(classes),
        "mean": list(mean) if mean is not None else list(IMAGENET_MEAN),
        "std": list(std) if std is not None else list(IMAGENET_STD),
        "dataset": dataset or "", "config": json.dumps(config or {}),
    }


def save_checkpoint(path_or_file: str | Path | BinaryIO, spec: ResNetSpec,
                    model: torch.nn.Module, metrics=(), **extra) -> None:
    """Save spec, weights and metrics (MetricEvents or dicts) in one file."""
    torch.save(checkpoint_payload(spec, model, metrics, **extra), path_or_file)


def save_result(path_or_file: str | Path | BinaryIO, result) -> None:
    """Save a `TrainResult` with its classes, normalisation and recipe."""
    save_checkpoint(path_or_file, result.spec, result.model, result.metrics,
                    classes=result.classes, mean=result.mean, std=result.std,
                    dataset=result.dataset, config=result.config.to_dict())


def result_bytes(result) -> bytes:
    """A `TrainResult` as checkpoint bytes, for a download button."""
    buffer = io.BytesIO()
    save_result(buffer, result)
    return buffer.getvalue()


def checkpoint_from_result(result) -> Checkpoint:
    """A `TrainResult` seen as a loaded checkpoint (same model object, eval mode)."""
    return Checkpoint(result.spec, result.model.eval(), [asdict(m) for m in result.metrics],
                      list(result.classes), tuple(result.mean), tuple(result.std),
                      result.dataset, result.config.to_dict())


def _torch_load(source: Source) -> object:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if hasattr(source, "seek"):
        source.seek(0)
    if not _looks_like_torch_file(source):
        raise CheckpointError("This file is not a PyTorch checkpoint (.pt/.pth saved with "
                              "torch.save).")
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "global" in str(error).lower():
            raise CheckpointError(
                "This file holds Python objects other than tensors, which are not loaded for "
                "safety; save only a state_dict or a checkpoint made by this app.") from None
        raise CheckpointError("This file is not a PyTorch checkpoint (it could not be "
                              "unpickled).") from None
    except Exception:  # torch.load fails in many ways on foreign bytes; all mean the same
        raise CheckpointError("This file is not a PyTorch checkpoint (.pt/.pth saved with "
                              "torch.save).") from None


def _looks_like_torch_file(source) -> bool:
    """torch.save writes a zip archive (current) or a pickle (legacy, protocol 2+)."""
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as handle:
                head = handle.read(4)
        except FileNotFoundError:
            raise CheckpointError(f"No such file: {source}.") from None
        except OSError as error:
            raise CheckpointError(f"Cannot read {source}: {error.strerror}.") from None
    else:
        head = source.read(4)
        source.seek(0)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def read_checkpoint(source: Source, device: str | torch.device = "cpu",
                    spec: ResNetSpec | None = None) -> Checkpoint:
    """Load our checkpoint, or a plain state_dict into `spec` or the preset whose shapes match."""
    data = _torch_load(source)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return _from_payload(data, device)
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]  # a common wrapper: {"state_dict": ..., "epoch": ...}
    if not _is_state_dict(data):
        raise CheckpointError("This file is a PyTorch file but not a ResNet checkpoint: it holds "
                              "no state_dict of tensors.")
    data = {re.sub(r"^(module\.|_orig_mod\.)", "", k): v for k, v in data.items()}
    target = spec or match_state_dict(data)
    model = _load_strict(target, data, device)
    classes = [f"class {i}" for i in range(target.num_classes)]
    return Checkpoint(target, model, classes=classes, source_format="state_dict")


def load_checkpoint(source: Source, device: str | torch.device = "cpu"
                    ) -> tuple[ResNetSpec, ResNet, list[dict]]:
    """(spec, model in eval mode, metrics as dicts); see `read_checkpoint` for everything."""
    checkpoint = read_checkpoint(source, device)
    return checkpoint.spec, checkpoint.model, checkpoint.metrics


def _is_state_dict(data: object) -> bool:
    return (isinstance(data, dict) and len(data) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()))


def _from_payload(data: dict, device) -> Checkpoint:
    try:
        spec = ResNetSpec.from_json(data["spec"])
        state = data["state_dict"]
        metrics = json.loads(data.get("metrics") or "[]")
        config = json.loads(data.get("config") or "{}")
    except (KeyError, TypeError, json.JSONDecodeError, SpecError) as error:
        raise CheckpointError(f"This checkpoint is damaged ({error}).") from None
    model = _load_strict(spec, state, device)
    classes = list(data.get("classes") or [f"class {i}" for i in range(spec.num_classes)])
    return Checkpoint(spec, model, metrics, classes, tuple(data.get("mean") or IMAGENET_MEAN),
                      tuple(data.get("std") or IMAGENET_STD), data.get("dataset") or None,
                      config)


def _load_strict(spec: ResNetSpec, state: dict, device) -> ResNet:
    model = build_model(spec, "cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError("The weights do not fit the network: "
                              + " ".join(line.strip() for line in first[:3])[:400]) from None
    return model.to(device).eval()


def _block_counts(state: dict) -> tuple[int, ...]:
    counts: dict[int, int] = {}
    for key in state:
        match = re.match(r"layer(\d+)\.(\d+)\.", key)
        if match:
            stage, index = int(match[1]), int(match[2])
            counts[stage] = max(counts.get(stage, 0), index + 1)
    return tuple(counts[s] for s in sorted(counts))


def match_state_dict(state: dict) -> ResNetSpec:
    """The preset, with the file's class count and input channels, whose keys and shapes all
    match; presets that differ only where no weight shows (v1/v1.5 stride, plain/residual)
    resolve to the first listed."""
    fc = state.get("fc.weight")
    stem = state.get("conv1.weight", state.get("conv1.0.weight"))
    if fc is None or stem is None or fc.ndim != 2:
        raise CheckpointError("This state_dict has no conv1 and fc weights, so it is not a "
                              "torchvision-style ResNet.")
    layers = _block_counts(state)
    wanted = {k: tuple(v.shape) for k, v in state.items()}
    for preset in PRESETS.values():
        if preset.spec.layers != layers:
            continue
        spec = preset.spec.replace(num_classes=int(fc.shape[0]), in_channels=int(stem.shape[1]))
        try:
            shapes = {k: tuple(v.shape) for k, v in build_model(spec).state_dict().items()}
        except SpecError:
            continue
        if shapes == wanted:
            return spec
    raise CheckpointError(f"No preset matches this state_dict (blocks per stage {layers}); "
                          f"it may come from a network this app does not describe.")
