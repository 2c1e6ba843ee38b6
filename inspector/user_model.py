"""Load a user's network from `path/to/file.py:NAME` (or a `.pt2` program) for the command line
and notebooks.

Loading a Python file runs its code: only files the user names on their own machine come here
(the app never runs uploaded code without an explicit opt-in). The module is built under
`torch.device("meta")`, so a model too large for this machine is refused before any weight is
allocated.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from inspector.analysis import Analysis, analyze, check_size
from inspector.exported import MAX_ARCHIVE_BYTES, analyze_program
from inspector.op_trace import ModelError

FILE_MODEL_SUFFIX = ".py:"
#: A program saved by torch.export.save: read as data, like the app's uploads.
PROGRAM_SUFFIX = ".pt2"
#: The app accepts Python files only when the server was started with this set to 1.
ALLOW_CODE_VARIABLE = "RESNET_INSPECTOR_ALLOW_CODE"


def is_file_model(target: str) -> bool:
    """Whether a design argument names a user's model rather than a preset or a JSON spec."""
    return FILE_MODEL_SUFFIX in target or target.endswith(PROGRAM_SUFFIX)


def parse_input(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32)."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ModelError(f"--input must be CxHxW with positive whole numbers, e.g. 3x32x32, "
                         f"not {text!r}.")
    return shape  # type: ignore[return-value]


def load_module(target: str) -> nn.Module:
    """Import the file and build NAME (a module class or a function returning a module) on meta."""
    path_text, _, name = target.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise ModelError(f"No such file: {path}.")
    spec = importlib.util.spec_from_file_location(f"user_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path} is not a Python file.")
    module = importlib.util.module_from_spec(spec)
    try:
        sys.path.insert(0, str(path.parent.resolve()))
        with torch.device("meta"):
            spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the file's own error, in one line
        raise ModelError(f"{path} does not import: {type(error).__name__}: "
                         f"{' '.join(str(error).split())}") from None
    finally:
        sys.path.pop(0)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise ModelError(f"{path} has no class or function named {name!r}.")
    try:
        with torch.device("meta"):
            model = factory()
    except Exception as error:  # noqa: BLE001
        raise ModelError(f"{name}() failed: {type(error).__name__}: "
                         f"{' '.join(str(error).split())}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{name}() returned {type(model).__name__}, not a torch.nn.Module.")
    check_size(model)
    return model


def analyze_file_model(target: str, input_text: str = "3x224x224") -> Analysis:
    """`file.py:NAME` analysed on an input of `input_text` (CxHxW), or a `.pt2` program on the
    input it was exported with (nothing in it runs or is unpickled)."""
    if target.endswith(PROGRAM_SUFFIX):
        return analyze_program(read_program_file(Path(target)), Path(target).name)
    name = target.rpartition(":")[2]
    return analyze(load_module(target), parse_input(input_text), name)


def read_program_file(path: Path) -> bytes:
    """A `.pt2` file's bytes, once it is known to be a regular file of a size worth reading."""
    try:
        info = path.stat()
    except (OSError, ValueError) as error:
        raise ModelError(f"Cannot read {path}: {getattr(error, 'strerror', None) or error}.") \
            from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{path} is not a regular file.")
    if info.st_size > MAX_ARCHIVE_BYTES:
        raise ModelError(f"{path} has {info.st_size:,} bytes; programs of up to "
                         f"{MAX_ARCHIVE_BYTES:,} bytes are read.")
    return path.read_bytes()


def code_allowed() -> bool:
    """Whoever started the server chose to run uploaded Python code (off by default)."""
    return os.environ.get(ALLOW_CODE_VARIABLE, "") == "1"


def analyze_uploaded_code(source: bytes, name: str, input_text: str = "3x224x224") -> Analysis:
    """An uploaded Python file's NAME, analysed. This runs the file's code, so it is refused
    unless the server was started with RESNET_INSPECTOR_ALLOW_CODE=1."""
    if not code_allowed():
        raise ModelError(f"This server does not run uploaded Python code; start it with "
                         f"{ALLOW_CODE_VARIABLE}=1 to allow it, or upload a .pt2 program.")
    if not name.isidentifier():
        raise ModelError(f"{name!r} is not a Python name.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "uploaded_model.py"
        path.write_bytes(source)
        return analyze_file_model(f"{path}:{name}", input_text)
