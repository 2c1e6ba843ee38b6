"""Run a user's model file (its import, construction and trace) in a child process with a time
and a memory limit, and bring back the result as our own data.

Why a child process: a model file is arbitrary Python. In our own process it can end the
program (`SystemExit(7)` exits 7 with no message, `SystemExit(0)` in `forward` exits 0
silently), raise `KeyboardInterrupt` or a bare `BaseException` past every `except Exception`,
recurse until the interpreter gives up, loop forever, or allocate real tensors chunk by chunk
until the machine swaps (15 GB was seen). A child can be stopped from outside: it runs under
`RLIMIT_AS` (its address space may grow by the memory limit, no more), the parent waits for at
most the time limit and then kills it, and whatever ends it (an exception of any kind, a signal,
`os._exit`) becomes one `ModelError` sentence here.

The child is a fresh interpreter (`python -m inspector.contained`), not multiprocessing's:
`fork` from a threaded Streamlit server, or from a process that already ran OpenMP kernels, can
deadlock, and multiprocessing's `spawn` and `forkserver` re-import the parent's main module,
which under Streamlit is the page script itself. The price is the child's imports (about 2-4 s
for torch), after which the time limit starts. The child writes its answer on a private copy of
its stdout (the file's own prints go nowhere), in its own session so that a kill reaches
whatever it started. The request it reads is JSON (which function, its plain arguments, the
limits). The answer is a pickle made by our own code, and it is still unpickled with
an allow-list: only the dataclasses and enums of `inspector` are resolved (`Analysis`, `Op`,
`Block`, `Facts`, ...), so a model file that tampers with its process cannot make the parent
run anything.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import io
import json
import os
import pickle
import resource
import select
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from inspector.op_trace import ModelError

TIMEOUT_VARIABLE = "RESNET_INSPECTOR_CODE_TIMEOUT_S"
MEMORY_VARIABLE = "RESNET_INSPECTOR_CODE_MEMORY_GB"
DEFAULT_TIMEOUT_S = 60.0
#: Growth of the child's address space beyond what it holds when it starts (torch imported):
#: tracing on meta needs a few hundred MB at most; real weights a model file makes need more.
DEFAULT_MEMORY_GB = 1.0
#: An analysis of ResNet-1202 pickles to about 1 MB; nothing we send back is near this.
MAX_RESULT_BYTES = 256 * 2**20
#: How long the child may take to import torch and our modules before the time limit starts.
STARTUP_S = 180.0
_READY = b"R"
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Limits:
    """How long and how much memory a model file's code may take."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_gb: float | None = DEFAULT_MEMORY_GB  # None: no memory limit

    def describe(self) -> str:
        memory = "" if self.memory_gb is None else f" and {self.memory_gb:g} GB of memory"
        return f"{self.timeout_s:g} s{memory}"


def _positive_number(variable: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e9:  # also false for nan
        raise ModelError(f"{variable} must be a positive number of "
                         f"{'seconds' if 'TIMEOUT' in variable else 'GB'}, not {text[:40]!r}.")
    return value


def limits_from_environment(timeout_s: float | None = None) -> Limits:
    """The limits set by whoever runs the tool (environment), `timeout_s` winning if given."""
    timeout_text = os.environ.get(TIMEOUT_VARIABLE)
    memory_text = os.environ.get(MEMORY_VARIABLE)
    if timeout_s is not None:
        timeout_text = str(timeout_s)
    return Limits(
        timeout_s=_positive_number(TIMEOUT_VARIABLE, timeout_text) if timeout_text
        else DEFAULT_TIMEOUT_S,
        memory_gb=_positive_number(MEMORY_VARIABLE, memory_text) if memory_text
        else DEFAULT_MEMORY_GB)


# ----- in the child -----------------------------------------------------------------------------


def _address_space_bytes() -> int | None:
    """This process's current virtual size (Linux), which a limit must add to."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _limit_memory(memory_gb: float | None) -> None:
    current = _address_space_bytes()
    if memory_gb is None or current is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + int(memory_gb * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def failure_sentence(error: BaseException, where: str, limits: Limits | None = None) -> str:
    """One sentence for anything a user's code raised `where` ("NAME() ...", "FILE ...")."""
    text = " ".join(str(error).split())[:200]
    if isinstance(error, MemoryError) or "can't allocate memory" in text:
        budget = f" ({limits.memory_gb:g} GB, set with {MEMORY_VARIABLE})" \
            if limits and limits.memory_gb else ""
        return f"{where} ran out of the memory allowed for a model file's code{budget}."
    if isinstance(error, RecursionError):
        return (f"{where} recursed deeper than Python allows (RecursionError); a model nested "
                f"thousands of levels deep cannot be analysed.")
    if isinstance(error, SystemExit):
        return f"{where} tried to end the program (SystemExit({error.code!r}))."
    if isinstance(error, KeyboardInterrupt):
        return f"{where} raised KeyboardInterrupt."
    detail = f": {text}" if text else ""
    return f"{where} failed: {type(error).__name__}{detail}"


def _child_main() -> None:
    """`python -m inspector.contained`: one call read from stdin (sent by our parent), its
    outcome written back as bytes, never an exception and never another byte on stdout."""
    answer = os.fdopen(os.dup(1), "wb")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    request = json.loads(sys.stdin.buffer.read())  # plain data: the request runs nothing
    module, name = request["function"]
    args = tuple(tuple(a) if isinstance(a, list) else a for a in request["args"])
    limits = Limits(**request["limits"])
    try:
        if module.partition(".")[0] != "inspector":
            raise ModelError(f"{module}.{name} is not part of this tool.")
        function = getattr(importlib.import_module(module), name)
        extra = {"limits": limits} if "limits" in inspect.signature(function).parameters else {}
        _limit_memory(limits.memory_gb)
        answer.write(_READY)
        answer.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the parent speaks in one line
            message: tuple = ("ok", function(*args, **extra))
    except ModelError as error:
        message = ("error", str(error))
    except BaseException as error:  # noqa: BLE001 - SystemExit and the rest, as a sentence
        message = ("error", failure_sentence(error, "The model file", limits))
    try:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001
        data = pickle.dumps(("error", "The model file's analysis could not be sent back."))
    answer.write(data)
    answer.flush()
    os._exit(0)  # no atexit handler or thread of the file's may hold the child open


# ----- in the parent ----------------------------------------------------------------------------


class _ResultUnpickler(pickle.Unpickler):
    """Resolves only inspector's own dataclasses and enums."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "inspector" or module.startswith("inspector."):
            found = getattr(importlib.import_module(module), name, None)
            if isinstance(found, type) and (dataclasses.is_dataclass(found)
                                            or issubclass(found, enum.Enum)):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of an analysis")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("an analysis refers to no outside object")


def _ended(process: subprocess.Popen) -> str:
    code = process.returncode
    if code is not None and code < 0:
        try:
            return f"it was ended by {signal.Signals(-code).name}"
        except ValueError:
            return f"it was ended by signal {-code}"
    return f"it exited with status {code}"


def _read(fd: int, limit: int, deadline: float) -> tuple[bytes, bool]:
    """Up to `limit` bytes from `fd` until EOF; (bytes, whether the deadline passed first)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return b"".join(chunks), True
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _stop(process: subprocess.Popen) -> None:
    """The child and everything it started (its own session), gone."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    process.wait()


def run_contained(function: Callable[..., Any], args: tuple, limits: Limits,
                  what: str) -> Any:
    """`function(*args)` in a child process under `limits`; its result, or ModelError.

    `function` must be a module-level function of `inspector` (the child imports it by name);
    `what` names the work in messages ("Analysing net.py:Net").
    """
    request = json.dumps({"function": [function.__module__, function.__qualname__],
                          "args": list(args), "limits": dataclasses.asdict(limits)}).encode()
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT),
                                                               os.environ.get("PYTHONPATH")]))}
    try:
        process = subprocess.Popen([sys.executable, "-m", "inspector.contained"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=environment,
                                   start_new_session=True)
    except OSError as error:
        raise ModelError(f"{what} needs a child process, which could not be started "
                         f"({error.strerror or type(error).__name__}).") from None
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(request)
        process.stdin.close()
        fd = process.stdout.fileno()
        ready, late = _read(fd, len(_READY), time.monotonic() + STARTUP_S)
        if late:
            raise ModelError(f"{what}: the child process did not start within "
                             f"{STARTUP_S:g} s.")
        if ready == _READY:  # the file's code runs from here: the time limit starts
            data, late = _read(fd, MAX_RESULT_BYTES, time.monotonic() + limits.timeout_s)
        else:  # refused before any of the file's code ran
            data, late = _read(fd, MAX_RESULT_BYTES, time.monotonic() + STARTUP_S)
            data = ready + data
        if late:
            raise ModelError(f"{what} did not finish within {limits.timeout_s:g} s and was "
                             f"stopped (the time limit for a model file's code, set with "
                             f"{TIMEOUT_VARIABLE} or --code-timeout).")
        if not data:
            process.wait(5)
            raise ModelError(f"{what} ended without a result: {_ended(process)} (a model "
                             f"file's code runs with {limits.describe()}).")
        try:
            kind, payload = _ResultUnpickler(io.BytesIO(data)).load()
        except (pickle.UnpicklingError, ValueError, TypeError, EOFError, AttributeError,
                ImportError):
            raise ModelError(f"{what} sent back something that is not an analysis.") from None
    except (BrokenPipeError, subprocess.TimeoutExpired):
        raise ModelError(f"{what} ended without a result: {_ended(process)}.") from None
    finally:
        _stop(process)
        process.stdout.close()  # type: ignore[union-attr]
    if kind != "ok":
        raise ModelError(str(payload))
    return payload


if __name__ == "__main__":
    _child_main()
