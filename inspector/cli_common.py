"""What every subcommand shares: reading a design from the command line.

Its own module so that `train_cli` (train, infer) and `cli` (the parser) both import it, rather
than each other.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path
from typing import Sequence

from inspector.presets import PRESETS, get_preset
from inspector.spec import ResNetSpec, SpecError, quote

#: A spec is a few hundred bytes; a megabyte is generous and still cheap to read and parse.
MAX_SPEC_FILE_BYTES = 2**20


def add_code_timeout(parser: argparse.ArgumentParser) -> None:
    """`--code-timeout SECONDS` for the subcommands that take a file.py:NAME model."""
    parser.add_argument("--code-timeout", type=float, metavar="SECONDS",
                        help="stop a file.py:NAME model's import, construction and trace after "
                             "this long (default: RESNET_INSPECTOR_CODE_TIMEOUT_S, else 60)")


def _parse_sets(items: Sequence[str] | None) -> dict[str, str]:
    values = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set expects key=value, not {quote(item)}.")
        values[key.strip()] = value
    return values


def read_spec_file(target: str) -> ResNetSpec:
    """A JSON spec from a file, refusing anything that is not a small regular file.

    A name such as `x.json` may be a link to /dev/zero or a FIFO: reading it whole would never
    end or fill the memory, so the kind and size are checked before a byte is read.
    """
    path = Path(target)
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_SPEC_FILE_BYTES:
            with path.open("rb") as file:
                data = file.read(MAX_SPEC_FILE_BYTES + 1)  # the file may grow after stat()
    except ValueError:  # a NUL byte in the name
        raise SpecError(f"{quote(target)} is not a usable file name.") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SpecError(f"Cannot read the spec {quote(target)}: {reason}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"The spec {quote(target)} is not a regular file.")
    if info.st_size > MAX_SPEC_FILE_BYTES:
        raise SpecError(f"The spec {quote(target)} has {info.st_size:,} bytes; a spec file "
                        f"is at most {MAX_SPEC_FILE_BYTES:,}.")
    if len(data) > MAX_SPEC_FILE_BYTES:
        raise SpecError(f"The spec {quote(target)} is larger than {MAX_SPEC_FILE_BYTES:,} bytes.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"The spec {quote(target)} is not UTF-8 text.") from None
    return ResNetSpec.from_json(text)


def load_design(target: str, sets: Sequence[str] | None = None) -> tuple[str, ResNetSpec]:
    """A preset name or a JSON spec file, with `--set` changes applied and validated."""
    if target in PRESETS:
        name, spec = target, get_preset(target)
    elif target.endswith(".json") or _exists(target):
        spec = read_spec_file(target)
        name = Path(target).stem
    else:
        get_preset(target)  # raises SpecError listing the preset names
        raise AssertionError("unreachable")
    changes = _parse_sets(sets)
    if changes:
        spec = spec.with_text_values(changes)
        name = f"{name} ({', '.join(f'{k}={v}' for k, v in changes.items())})"
    return name, spec.validate()


def _exists(target: str) -> bool:
    """Whether a path names something; a name the OS refuses (NUL, too long) names nothing."""
    try:
        return os.path.lexists(target)
    except (OSError, ValueError):
        return False


def no_sets(target: str, sets: Sequence[str] | None, option: str = "--set") -> None:
    """A file model has no spec: a `--set` for it is refused rather than silently ignored."""
    if sets:
        raise SpecError(f"{option} changes a design's spec fields; {target} is a model with no "
                        f"spec: change its code instead.")
