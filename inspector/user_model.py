"""Load a user's network from `path/to/file.py:NAME` (or a `.pt2` program) for the command line
and notebooks.

Loading a Python file runs its code: only files the user names on their own machine come here
(the app never runs uploaded code without an explicit opt-in). The module is built under
`torch.device("meta")`, so a model too large for this machine is refused before any weight is
allocated. `analyze_file_model` runs the file in a child process with a time and a memory limit
(`inspector.contained`); `load_module` runs it here, for notebooks, and still turns whatever the
file raises (SystemExit and KeyboardInterrupt included) into one ModelError sentence.
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
from inspector.contained import (MEMORY_VARIABLE, TIMEOUT_VARIABLE, Limits, failure_sentence,
                                 limits_from_environment, run_contained)
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


def load_module(target: str, limits: Limits | None = None) -> nn.Module:
    """Import the file and build NAME (a module class or a function returning a module) on meta.

    `limits` only words the sentence when the file runs out of memory or time."""
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
    except BaseException as error:  # noqa: BLE001 - SystemExit too: the file's, in one line
        raise ModelError(_sentence(error, f"{path} does not import:", f"Importing {path}",
                                   limits)) \
            from None
    finally:
        sys.path.pop(0)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise ModelError(f"{path} has no class or function named {name!r}.")
    try:
        with torch.device("meta"):
            model = factory()
    except BaseException as error:  # noqa: BLE001
        raise ModelError(_sentence(error, f"{name}() failed:", f"{name}()", limits)) from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{name}() returned {type(model).__name__}, not a torch.nn.Module.")
    try:
        check_size(model)
    except ModelError:
        raise
    except BaseException as error:  # noqa: BLE001 - e.g. RecursionError walking 5,000 levels
        raise ModelError(failure_sentence(error, f"Counting {name}'s parameters", limits)) \
            from None
    return model


def _sentence(error: BaseException, failed: str, where: str, limits: Limits | None) -> str:
    """"FILE does not import: ValueError: ..." for ordinary errors, else the contained sentence
    (SystemExit, KeyboardInterrupt, memory, recursion)."""
    if isinstance(error, Exception) and not isinstance(error, (MemoryError, RecursionError)) \
            and "can't allocate memory" not in str(error):
        return f"{failed} {type(error).__name__}: {' '.join(str(error).split())}"
    return failure_sentence(error, where, limits)


def _analyze_here(target: str, input_shape: tuple[int, int, int], limits: Limits) -> Analysis:
    """In the child process: import, build, count and trace; any failure as a ModelError."""
    name = target.rpartition(":")[2]
    model = load_module(target, limits)
    try:
        return analyze(model, input_shape, name)
    except ModelError:
        raise
    except BaseException as error:  # noqa: BLE001 - forward raising SystemExit, recursing...
        raise ModelError(failure_sentence(error, f"Tracing {name}", limits)) from None


def analyze_file_model(target: str, input_text: str = "3x224x224",
                       timeout_s: float | None = None) -> Analysis:
    """`file.py:NAME` analysed on an input of `input_text` (CxHxW) in a child process under the
    time and memory limits (`timeout_s`, else the environment's), or a `.pt2` program on the
    input it was exported with (read as data here: nothing in it runs or is unpickled)."""
    if target.endswith(PROGRAM_SUFFIX):
        return analyze_program(read_program_file(Path(target)), Path(target).name)
    shape = parse_input(input_text)
    limits = limits_from_environment(timeout_s)
    path_text = target.rpartition(":")[0]
    if not Path(path_text).is_file():
        raise ModelError(f"No such file: {path_text}.")
    name = Path(path_text).name + ":" + target.rpartition(":")[2]
    return run_contained(_analyze_here, (target, shape), limits, f"Analysing {name}")


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


def code_limits_sentence() -> str:
    """What the page says about how an uploaded file is run."""
    try:
        limits = limits_from_environment()
    except ModelError as error:
        return str(error)
    return (f"It runs in a separate process, which is stopped after {limits.describe()} "
            f"(set with {TIMEOUT_VARIABLE} and {MEMORY_VARIABLE}).")


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
