"""Model files that try to end, hang or exhaust the process that analyses them: each is one line
on stderr with exit 2, from a child process that is stopped by its time and memory limits.

Every file here is a small network as a tutorial writes it, plus the one line that misbehaves.
"""

from __future__ import annotations

import io
import os
import pickle
import resource
import time
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.contained import (MEMORY_VARIABLE, TIMEOUT_VARIABLE, Limits,
                                 limits_from_environment, run_contained)
from inspector.op_trace import ModelError
from inspector.user_model import load_module

NET = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        {init}

    def forward(self, x):
        {forward}
        return self.conv(x)
"""

CASES = {
    "exit-7-in-init": ({"init": "raise SystemExit(7)"}, "tried to end the program (SystemExit(7))"),
    "exit-3-at-import": ({"top": "raise SystemExit(3)"}, "tried to end the program (SystemExit(3))"),
    "exit-0-in-forward": ({"forward": "raise SystemExit(0)"},
                          "Tracing Net tried to end the program (SystemExit(0))"),
    "keyboard-interrupt": ({"init": "raise KeyboardInterrupt"}, "raised KeyboardInterrupt"),
    "base-exception": ({"init": "raise BaseException('odd')"}, "Net() failed: BaseException: odd"),
    "nested-5000": ({"init": "self.deep = nn.Sequential(*[nn.Identity()])\n"
                             "        for _ in range(5000): self.deep = nn.Sequential(self.deep)"},
                    "recursed deeper than Python allows"),
    "recursive-forward": ({"forward": "return self.forward(x)"},  # op_trace's own sentence
                          "Net (recursive_forward.py line 13: return self.forward(x)): maximum "
                          "recursion depth exceeded"),
    "os-exit-at-import": ({"top": "import os; os._exit(5)"},
                          "ended without a result: it exited with status 5"),
}


def model_file(folder: Path, name: str, top: str = "", init: str = "pass",
               forward: str = "pass") -> Path:
    path = folder / f"{name.replace('-', '_')}.py"
    path.write_text(top + "\n" + NET.format(init=init, forward=forward))
    return path


def one_line(capsys, *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_the_harmless_file_is_analysed(tmp_path, capsys):
    path = model_file(tmp_path, "harmless")
    assert main(["summary", f"{path}:Net", "--input", "3x16x16"]) == 0
    assert "params     224" in capsys.readouterr().out  # 3*8*3*3 weights + 8 biases


@pytest.mark.parametrize("case", CASES)
def test_user_code_that_ends_or_recurses_is_one_line(tmp_path, capsys, case):
    parts, words = CASES[case]
    path = model_file(tmp_path, case, **parts)
    err = one_line(capsys, "summary", f"{path}:Net", "--input", "3x16x16")
    assert words in err


def test_a_forward_that_never_returns_is_stopped_by_the_time_limit(tmp_path, capsys):
    path = model_file(tmp_path, "hang", forward="while True: pass")
    start = time.perf_counter()
    err = one_line(capsys, "summary", f"{path}:Net", "--code-timeout", "2")
    assert time.perf_counter() - start < 90  # the child imports torch first (2-4 s, or more)
    assert "did not finish within 2 s and was stopped" in err


def test_an_import_that_hangs_is_stopped_by_the_environments_limit(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv(TIMEOUT_VARIABLE, "2")
    path = model_file(tmp_path, "sleeps", top="import time; time.sleep(3600)")
    err = one_line(capsys, "compare", f"{path}:Net", "resnet18")
    assert "did not finish within 2 s" in err


def test_a_model_allocating_real_tensors_stops_at_the_memory_limit(tmp_path, capsys,
                                                                   monkeypatch):
    """256 MB of real CPU memory per chunk, 100 chunks: 25 GB without the limit."""
    monkeypatch.setenv(MEMORY_VARIABLE, "0.5")
    init = "self.chunks = [torch.ones(2**26, device='cpu') for _ in range(100)]"
    path = model_file(tmp_path, "greedy", init=init)
    err = one_line(capsys, "summary", f"{path}:Net")
    assert "ran out of the memory allowed for a model file's code (0.5 GB" in err


def test_the_child_runs_under_an_address_space_limit(tmp_path, capsys):
    init = "import resource; raise ValueError(resource.getrlimit(resource.RLIMIT_AS)[0])"
    path = model_file(tmp_path, "limit", init=init)
    err = one_line(capsys, "summary", f"{path}:Net")
    limit = int(err.rsplit(" ", 1)[1])
    assert limit != resource.RLIM_INFINITY and limit < 64 * 2**30, err


def test_only_our_own_dataclasses_come_back():
    """The parent resolves inspector's dataclasses and enums only: anything else in an answer
    is refused, never unpickled into the parent."""
    from inspector.contained import _ResultUnpickler

    unpickle = lambda value: _ResultUnpickler(io.BytesIO(pickle.dumps(value))).load()
    assert unpickle(("ok", Limits(3, None))) == ("ok", Limits(3, None))
    for value in (Path("/tmp"), print, Marker()):
        with pytest.raises(pickle.UnpicklingError, match="not part of an analysis"):
            unpickle(("ok", value))
    with pytest.raises(ModelError, match="not part of this tool"):
        run_contained(Path, ("/tmp",), Limits(30, None), "Making a path")


class Marker:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("value", ["0", "-1", "nan", "ten", "1e99"])
def test_bad_limit_settings_are_a_sentence(monkeypatch, value):
    monkeypatch.setenv(TIMEOUT_VARIABLE, value)
    with pytest.raises(ModelError, match=TIMEOUT_VARIABLE):
        limits_from_environment()


def test_load_module_in_this_process_turns_system_exit_into_a_sentence(tmp_path):
    """The notebook path runs the file here, and still never lets it end the interpreter."""
    path = model_file(tmp_path, "exit-in-init", init="raise SystemExit(7)")
    with pytest.raises(ModelError, match=r"tried to end the program \(SystemExit\(7\)\)"):
        load_module(f"{path}:Net")
