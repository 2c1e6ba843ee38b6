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
import math
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from inspector.model import ResNet, build_model
from inspector.presets import PRESETS
from inspector.program_archive import DIRECTORY_BYTES_PER_ENTRY, END_RECORDS_BYTES, end_records
from inspector.spec import ResNetSpec, SpecError

FORMAT = "resnet-inspector-checkpoint"
VERSION = 1
#: torchvision's ImageNet normalisation, assumed for plain state_dicts.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The most that loading one checkpoint may take: its tensors (mapped from disk where possible),
#: then the model they are assigned to. wide_resnet101_2, the largest preset, takes 0.5 GiB.
MAX_LOAD_BYTES = 2**30
#: torch.save writes one entry per storage and a few more; ResNet-1202 has about 6,000.
MAX_ZIP_ENTRIES = 100_000

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
    """`torch.load` with weights_only, after checking what the file would cost to load."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    is_path = isinstance(source, (str, Path))
    if not is_path:
        source.seek(0)
    size = _file_size(source)
    head = _head(source)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise CheckpointError("This file is not a PyTorch checkpoint (.pt/.pth saved with "
                              "torch.save).")
    is_zip = head.startswith(b"PK")
    if is_zip:
        _check_zip_entries(source)
    elif size > MAX_LOAD_BYTES:  # the legacy format holds its tensors as they are in memory
        raise CheckpointError(f"This file is {_gib(size)}; checkpoints up to "
                              f"{_gib(MAX_LOAD_BYTES)} are loaded.")
    try:
        # mmap maps a file's tensors instead of reading them; only files on disk have one
        return torch.load(source, map_location="cpu", weights_only=True,
                          mmap=is_path and is_zip)
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


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB" if size >= 2**30 else f"{size / 2**20:,.0f} MiB"


def _file_size(source) -> int:
    if isinstance(source, (str, Path)):
        try:
            return Path(source).stat().st_size
        except FileNotFoundError:
            raise CheckpointError(f"No such file: {source}.") from None
        except OSError as error:
            raise CheckpointError(f"Cannot read {source}: {error.strerror}.") from None
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    return size


def _head(source) -> bytes:
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as handle:
                return handle.read(4)
        except OSError as error:
            raise CheckpointError(f"Cannot read {source}: {error.strerror}.") from None
    head = source.read(4)
    source.seek(0)
    return head


def _check_zip_directory(source) -> None:
    """Refuse a directory too large to list before zipfile builds an object per entry (three
    million entries fit in 190 MB and would cost about 2 GB), from the zip's end records."""
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as handle:
                size = handle.seek(0, io.SEEK_END)
                handle.seek(max(0, size - END_RECORDS_BYTES))
                tail = handle.read()
        else:
            size = source.seek(0, io.SEEK_END)
            source.seek(max(0, size - END_RECORDS_BYTES))
            tail = source.read()
            source.seek(0)
        bounds = end_records(tail, size)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise CheckpointError(f"This file is not a PyTorch checkpoint (a damaged zip: "
                              f"{reason}).") from None
    if bounds is not None and (bounds[0] > MAX_ZIP_ENTRIES
                               or bounds[1] > MAX_ZIP_ENTRIES * DIRECTORY_BYTES_PER_ENTRY):
        raise CheckpointError(f"This file's zip directory declares {bounds[0]:,} entries in "
                              f"{bounds[1]:,} bytes; a checkpoint has at most "
                              f"{MAX_ZIP_ENTRIES:,}.")


def _check_zip_entries(source) -> None:
    """torch.save writes a zip whose entries are stored, not compressed. A compressed entry can
    unpack to any size (1.2 GB of zeros deflate to 1.2 MB), so such files are refused, as are
    files whose entries add up to more than the budget, before a byte is unpacked."""
    _check_zip_directory(source)
    try:
        with zipfile.ZipFile(source) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise CheckpointError("This file is not a PyTorch checkpoint (a damaged zip).") from None
    finally:
        if not isinstance(source, (str, Path)):
            source.seek(0)
    compressed = [entry.filename for entry in entries if entry.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise CheckpointError(
            f"This file's entry {compressed[0][:100]!r} is compressed. torch.save never "
            f"compresses, and a compressed entry could unpack to any size, so it is not loaded.")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_LOAD_BYTES:
        raise CheckpointError(f"This checkpoint unpacks to {_gib(total)}; checkpoints up to "
                              f"{_gib(MAX_LOAD_BYTES)} are loaded.")


def read_checkpoint(source: Source, device: str | torch.device = "cpu",
                    spec: ResNetSpec | None = None) -> Checkpoint:
    """Load our checkpoint, or a plain state_dict into `spec` or the preset whose shapes match.

    Every field is checked and the network is first built on the meta device, so a file whose
    spec claims a huge design, or whose weights do not fit it, costs nothing to refuse.
    """
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
    model = _load_checked(target, data, device)
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
    """Our own format, each field checked: files are shared and edited, so none is trusted."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise CheckpointError(f"This checkpoint's format version {_short(version)} is not one "
                              f"this app reads (1 to {VERSION}).")
    spec = _spec_field(data.get("spec"))
    state = data.get("state_dict")
    if not _is_state_dict(state):
        raise CheckpointError("This checkpoint's weights (state_dict) are not a dict of named "
                              "tensors.")
    metrics = _json_field(data, "metrics", list, "[]")
    if not all(isinstance(row, dict) for row in metrics):
        raise CheckpointError("This checkpoint's metrics are not a list of records.")
    config = _json_field(data, "config", dict, "{}")
    classes = _classes_field(data.get("classes"), spec.num_classes)
    mean = _channel_values(data.get("mean", IMAGENET_MEAN), "mean", spec.in_channels)
    std = _channel_values(data.get("std", IMAGENET_STD), "std", spec.in_channels)
    dataset = data.get("dataset") or None
    if dataset is not None and not isinstance(dataset, str):
        raise CheckpointError("This checkpoint's dataset name is not text.")
    model = _load_checked(spec, state, device)
    return Checkpoint(spec, model, metrics, classes, mean, std, dataset, config)


def _short(value: object, limit: int = 60) -> str:
    """A value for a message, cut short (a hostile file may hold a 300-digit number)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _bounded_int(digits: str) -> int:
    """Numbers of a spec are counts and sizes: nine digits is beyond any of them, and a
    300-digit one would only reach messages and float conversions that overflow."""
    if len(digits.lstrip("-")) > 9:
        raise ValueError("number too large")
    return int(digits)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number of a design")


def _spec_field(text: object) -> ResNetSpec:
    if not isinstance(text, str):
        raise CheckpointError("This checkpoint's design (spec) is not JSON text.")
    try:
        fields = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"This checkpoint's design is invalid: the spec is not valid "
                              f"JSON ({error.msg}).") from None
    except (ValueError, RecursionError):
        raise CheckpointError("This checkpoint's design is invalid: it holds numbers or nesting "
                              "far beyond any network's.") from None
    try:
        return ResNetSpec.from_dict(fields).validate()
    except SpecError as error:
        message = str(error)
        message = message if len(message) <= 300 else message[:300] + "..."
        raise CheckpointError(f"This checkpoint's design is invalid: {message}") from None
    except (OverflowError, ValueError, TypeError, RecursionError):  # e.g. 300-digit numbers
        raise CheckpointError("This checkpoint's design is invalid: it holds numbers or nesting "
                              "far beyond any network's.") from None


def _json_field(data: dict, name: str, kind: type, default: str):
    text = data.get(name) or default
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, kind):
        raise CheckpointError(f"This checkpoint's {name} field is damaged (not JSON "
                              f"{'a list' if kind is list else 'an object'}).")
    return value


def _classes_field(value: object, num_classes: int) -> list[str]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return [f"class {i}" for i in range(num_classes)]
    if not isinstance(value, (list, tuple)) or not all(isinstance(n, str) for n in value):
        raise CheckpointError(f"This checkpoint's class names are not a list of text "
                              f"({_short(value)}).")
    if len(value) != num_classes:
        raise CheckpointError(f"This checkpoint names {len(value)} classes but its network has "
                              f"{num_classes} outputs.")
    return list(value)


def _channel_values(value: object, name: str, channels: int) -> tuple[float, ...]:
    """Per-channel normalisation: one finite number per input channel."""
    if isinstance(value, torch.Tensor) and value.ndim == 1:
        value = value.tolist()
    numbers = (isinstance(value, (list, tuple)) and len(value) == channels
               and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    try:
        finite = numbers and all(math.isfinite(float(v)) for v in value)
    except OverflowError:
        finite = False
    if not finite:
        raise CheckpointError(f"This checkpoint's {name} must be {channels} finite numbers, one "
                              f"per input channel, not {_short(value)}.")
    return tuple(float(v) for v in value)


def _load_checked(spec: ResNetSpec, state: dict, device) -> ResNet:
    """Build on meta, compare every key, shape and the memory it would take, and only then give
    the model the file's tensors (assigned, not copied into fresh weights)."""
    try:
        model = build_model(spec, "meta")
    except SpecError as error:
        raise CheckpointError(f"This checkpoint's design is invalid: {error}") from None
    expected = model.state_dict()
    need = sum(t.numel() * t.element_size() for t in expected.values())
    if need > MAX_LOAD_BYTES:
        params = sum(p.numel() for p in model.parameters())
        raise CheckpointError(f"This network has {params:,} parameters ({_gib(need)} of "
                              f"weights); networks up to {_gib(MAX_LOAD_BYTES)} are loaded.")
    problems = _fit_problems(expected, state)
    if problems:
        raise CheckpointError("The weights do not fit the network: " + "; ".join(problems[:3])
                              + (f"; and {len(problems) - 3} more." if len(problems) > 3 else "."))
    weights = {key: state[key].to(dtype=value.dtype).contiguous()
               for key, value in expected.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    return model.to(device).eval()


def _fit_problems(expected: dict, state: dict) -> list[str]:
    """Missing, unexpected and misshapen entries, as short phrases."""
    problems = [f"{key} is missing" for key in expected if key not in state]
    problems += [f"{key[:80]} is not part of it" for key in state if key not in expected]
    for key, value in expected.items():
        given = state.get(key)
        if given is None:
            continue
        if tuple(given.shape) != tuple(value.shape):
            problems.append(f"{key} is {tuple(given.shape)} instead of {tuple(value.shape)}")
        elif given.is_complex() or (value.is_floating_point() and not given.is_floating_point()):
            problems.append(f"{key} holds {given.dtype} values instead of {value.dtype}")
    return problems


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
    if fc is None or stem is None or fc.ndim != 2 or stem.ndim != 4:
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
