"""`python -m inspector diff A B -o diff.svg`: two networks aligned block by block, drawn side
by side with what differs marked (see `inspector.diff` for the rule).

A and B are what every design argument is: a preset, a JSON spec file, `path/to/file.py:NAME`
(with --input) or a `.pt2` program (read as data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from inspector.cli_common import add_code_timeout, load_design, no_sets
from inspector.kinds import GraphFormat
from inspector.render import DEFAULT_DPI
from inspector.spec import SpecError


def _side(target: str, sets: Sequence[str] | None, input_text: str, option: str,
          timeout_s: float | None) -> tuple[str, Any]:
    """(name, design or analysis) for one side; `option` names its --set option. A file model
    runs in a child process under the code limits, as for every subcommand."""
    from inspector.user_model import analyze_file_model, is_file_model

    if is_file_model(target):
        no_sets(target, sets, option)
        analysis = analyze_file_model(target, input_text, timeout_s)
        return analysis.name, analysis
    return load_design(target, sets)


def _diff(args: argparse.Namespace) -> int:
    from inspector.diff import summary
    from inspector.drawing import draw_diff

    text = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output
                           else GraphFormat.SVG.value)
    if text not in set(GraphFormat):
        raise SpecError(f"The file's format must be one of {', '.join(GraphFormat)} (from -o's "
                        f"suffix or --format), not {text[:20]!r}.")
    fmt = GraphFormat(text)
    if args.output is None and fmt.binary:
        raise SpecError(f"{fmt.upper()} is binary: give a file with -o FILE.")
    name_a, a = _side(args.a, args.set_a, args.input, "--set-a", args.code_timeout)
    name_b, b = _side(args.b, args.set_b, args.input, "--set-b", args.code_timeout)
    if name_a == name_b:
        name_a, name_b = f"{name_a} (A)", f"{name_b} (B)"
    drawing, diff = draw_diff(a, b, (name_a, name_b))
    data = drawing.file(fmt, args.dpi)
    if args.output is None:
        sys.stdout.write(data.decode())
        print(summary(diff), file=sys.stderr)
        return 0
    Path(args.output).write_bytes(data)
    print(summary(diff))
    print(f"wrote {args.output} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `diff` subcommand to the CLI's parser."""
    parser = sub.add_parser("diff", help="two networks side by side, what differs marked")
    for side in ("a", "b"):
        parser.add_argument(side, help="preset name, JSON spec file, path/to/file.py:NAME or "
                                       ".pt2 program")
    parser.add_argument("-o", "--output", help="file to write; its suffix (.svg, .pdf, .png, "
                                               ".dot) picks the format (default: SVG on stdout)")
    parser.add_argument("--format", choices=[f.value for f in GraphFormat],
                        help="the file's format, when its suffix does not say")
    parser.add_argument("--set-a", action="append", metavar="KEY=VALUE")
    parser.add_argument("--set-b", action="append", metavar="KEY=VALUE")
    parser.add_argument("--input", default="3x224x224", metavar="CxHxW",
                        help="input shape for a file.py:NAME model (default 3x224x224)")
    parser.add_argument("--dpi", type=int, default=DEFAULT_DPI,
                        help=f"PNG resolution (default {DEFAULT_DPI})")
    add_code_timeout(parser)
    parser.set_defaults(handler=_diff)
