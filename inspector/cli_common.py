"""What every subcommand shares: reading a design from the command line.

Its own module so that `train_cli` (train, infer) and `cli` (the parser) both import it, rather
than each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from inspector.presets import PRESETS, get_preset
from inspector.spec import ResNetSpec, SpecError


def _parse_sets(items: Sequence[str] | None) -> dict[str, str]:
    values = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set expects key=value, not {item!r}.")
        values[key.strip()] = value
    return values


def load_design(target: str, sets: Sequence[str] | None = None) -> tuple[str, ResNetSpec]:
    """A preset name or a JSON spec file, with `--set` changes applied and validated."""
    if target in PRESETS:
        name, spec = target, get_preset(target)
    elif target.endswith(".json") or Path(target).is_file():
        path = Path(target)
        spec = ResNetSpec.from_json(path.read_text(encoding="utf-8"))
        name = path.stem
    else:
        get_preset(target)  # raises SpecError listing the preset names
        raise AssertionError("unreachable")
    changes = _parse_sets(sets)
    if changes:
        spec = spec.with_text_values(changes)
        name = f"{name} ({', '.join(f'{k}={v}' for k, v in changes.items())})"
    return name, spec.validate()
