"""`python -m inspector`: presets, summaries, graphs, comparisons, training and inference.

A design is a preset name or a JSON spec file, optionally changed with `--set key=value`
(the same text forms the app's URLs use). Bad input ends with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Sequence

from inspector.cli_common import add_code_timeout, load_design
from inspector.cli_common import no_sets as _no_sets
from inspector.formatting import compact, count, megabytes
from inspector.kinds import Direction, Fold, GraphFormat, View
from inspector.overlay import Measure
from inspector.paper_table import TableFormat
from inspector.render import DEFAULT_DPI
from inspector.spec import SpecError

EXIT_BAD_INPUT = 2
EXIT_MISSING_TOOL = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (and exit 2) rather than the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _presets(args: argparse.Namespace) -> int:
    from inspector.facts import compute_facts
    from inspector.presets import PRESETS

    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        facts = compute_facts(preset.spec)
        print(f"{name:<{width}}  {compact(facts.params):>8} params  "
              f"{compact(facts.mult_adds):>8} mult-adds  {preset.description}")
    return 0


def _summary_of_file_model(args: argparse.Namespace) -> int:
    """`summary path/to/file.py:NAME`: the same lines and options as for a preset, from the
    analysis (a model has no spec, so `--set` has nothing to change)."""
    from inspector.analysis_graph import LAYER_COLUMNS, layer_rows
    from inspector.table import STAGE_COLUMNS, rows_to_csv, rows_to_markdown, stage_rows
    from inspector.user_model import analyze_file_model

    _no_sets(args.design, args.set)
    if args.torchinfo:
        print(_torchinfo_of_file_model(args.design, args.input, args.code_timeout))
        return 0
    result = analyze_file_model(args.design, args.input, args.code_timeout)
    layers = layer_rows(result)
    rows, columns = (layers, LAYER_COLUMNS) if args.layers else \
        (stage_rows(layers), STAGE_COLUMNS)
    if args.csv:
        sys.stdout.write(rows_to_csv(rows, columns))
        return 0
    facts, size = result.facts, result.input_shape
    print(result.name)
    print(f"  depth      {facts.depth_explanation}")
    print(f"  params     {count(facts.params)}")
    print(f"  mult-adds  {count(facts.mult_adds)} (batch 1, {size[2]}x{size[3]})")
    print(f"  memory     {megabytes(facts.activation_bytes)} of activations per image")
    print(f"  output     {facts.output_shape}")
    print(f"  closest    {result.closest().sentence}")
    for note in result.notes:
        print(f"  note       {note}")
    print()
    sys.stdout.write(rows_to_markdown(rows, columns))
    return 0


def _torchinfo_of_file_model(target: str, input_text: str, timeout_s: float | None) -> str:
    """torchinfo's summary of a file model on the meta device, or a sentence saying why not;
    the file runs in a child process under the code limits, as for every other subcommand."""
    from inspector.contained import limits_from_environment, run_contained
    from inspector.user_model import PROGRAM_SUFFIX, parse_input

    if target.endswith(PROGRAM_SUFFIX):
        return (f"torchinfo runs a Python module; {target} is a program read as data, so there "
                f"is none to run (the summary without --torchinfo has its tables).")
    shape = parse_input(input_text)
    limits = limits_from_environment(timeout_s)
    return run_contained(_torchinfo_here, (target, shape), limits,
                         f"Summarising {Path(target.rpartition(':')[0]).name}")


def _torchinfo_here(target: str, shape: tuple[int, int, int]) -> str:
    """In the child process: the module built and summarised by torchinfo."""
    import torch
    import torchinfo

    from inspector.user_model import load_module

    model = load_module(target)
    if any(t.device.type != "meta" for t in (*model.parameters(), *model.buffers())):
        return (f"torchinfo cannot run {target} on the meta device: it keeps tensors on another "
                f"device (the summary without --torchinfo has its tables).")
    try:
        with torch.no_grad():
            return str(torchinfo.summary(model, input_size=(1, *shape), device="meta",
                                         mode="eval", verbose=0))
    except Exception as error:  # noqa: BLE001 - torchinfo's own failure, in a sentence
        return (f"torchinfo cannot summarise {target}: {_one_line(error)[:200]} (the summary "
                f"without --torchinfo has its tables).")


def _summary(args: argparse.Namespace) -> int:
    from inspector.facts import compute_facts
    from inspector.table import (LAYER_COLUMNS, STAGE_COLUMNS, layer_rows, rows_to_csv,
                                 rows_to_markdown, stage_rows, torchinfo_summary)
    from inspector.user_model import is_file_model

    if is_file_model(args.design):
        return _summary_of_file_model(args)
    name, spec = load_design(args.design, args.set)
    if args.torchinfo:
        print(torchinfo_summary(spec))
        return 0
    layers = layer_rows(spec)
    rows, columns = (layers, LAYER_COLUMNS) if args.layers else \
        (stage_rows(layers), STAGE_COLUMNS)
    if args.csv:
        sys.stdout.write(rows_to_csv(rows, columns))
        return 0
    facts = compute_facts(spec)
    print(f"{name}")
    print(f"  depth      {facts.depth_explanation}")
    print(f"  params     {count(facts.params)}")
    print(f"  mult-adds  {count(facts.mult_adds)} (batch 1, {spec.input_size}x{spec.input_size})")
    print(f"  memory     {megabytes(facts.activation_bytes)} of activations per image")
    print(f"  output     {facts.output_shape}")
    print()
    sys.stdout.write(rows_to_markdown(rows, columns))
    return 0


def _graph(args: argparse.Namespace) -> int:
    from inspector.drawing import ViewState, draw_analysis, draw_design
    from inspector.user_model import analyze_file_model, is_file_model

    fmt = GraphFormat(args.format)
    if args.output is None and fmt.binary:
        raise SpecError(f"{fmt.upper()} is binary: give a file with -o FILE.")
    state = ViewState(View(args.view), Direction(args.direction), Fold(args.fold),
                      _stages(args.fold_stages), Measure(args.colour) if args.colour else None)
    if is_file_model(args.design):
        _no_sets(args.design, args.set)
        drawing = draw_analysis(analyze_file_model(args.design, args.input, args.code_timeout),
                                state)
    else:
        drawing = draw_design(load_design(args.design, args.set)[1], state)
    if drawing.note:
        print(f"note: {drawing.note}", file=sys.stderr)
    data = drawing.file(fmt, args.dpi)
    if args.output is None:
        sys.stdout.write(data.decode())
    else:
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output} ({len(data):,} bytes)", file=sys.stderr)
    return 0


def _stages(text: str) -> tuple[int, ...]:
    """`--fold-stages 1,3` as stage indices (0 is conv2_x), or SpecError."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        numbers = [0]
    if any(n < 1 for n in numbers):
        raise SpecError(f"--fold-stages takes stage numbers from 1 separated by commas, "
                        f"not {text[:80]!r}.")
    return tuple(sorted({n - 1 for n in numbers}))


def _analysis_of(target: str, sets: Sequence[str] | None, input_text: str, option: str,
                 timeout_s: float | None):
    """Either side of `compare` as an analysis: a file model traced, a design built on meta."""
    from inspector.analysis import analyze
    from inspector.model import build_model
    from inspector.user_model import analyze_file_model, is_file_model

    if is_file_model(target):
        _no_sets(target, sets, option)
        return analyze_file_model(target, input_text, timeout_s)
    name, spec = load_design(target, sets)
    size = spec.input_size
    return analyze(build_model(spec), (spec.in_channels, size, size), name)


def _compare_with_file_model(args: argparse.Namespace) -> int:
    """`compare` where a side is path/to/file.py:NAME: both analysed the same way."""
    from inspector.table import to_markdown

    first = _analysis_of(args.a, args.set_a, args.input, "--set-a", args.code_timeout)
    second = _analysis_of(args.b, args.set_b, args.input, "--set-b", args.code_timeout)
    names = (first.name, second.name) if first.name != second.name else \
        (f"{first.name} (A)", f"{second.name} (B)")
    for name, result in zip(names, (first, second)):
        print(f"{name}: depth {result.facts.depth_explanation}; {result.closest().sentence}")
    print()
    sys.stdout.write(to_markdown(first.compare(second, names).totals.reset_index(names="")))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from inspector.compare import compare
    from inspector.table import to_markdown
    from inspector.user_model import is_file_model

    if is_file_model(args.a) or is_file_model(args.b):
        return _compare_with_file_model(args)
    name_a, spec_a = load_design(args.a, args.set_a)
    name_b, spec_b = load_design(args.b, args.set_b)
    result = compare(spec_a, spec_b, (name_a, name_b))
    print(result.explanation)
    print()
    sys.stdout.write(to_markdown(result.totals.reset_index(names="")))
    print()
    sys.stdout.write(to_markdown(result.stages))
    return 0


def _paper_table(args: argparse.Namespace) -> int:
    from inspector.paper_table import paper_table, write

    designs = [load_design(target) for target in args.designs]
    sys.stdout.write(write(paper_table(designs), args.format))
    return 0


def _add_design(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("design", help="a preset name (see `presets`), a JSON spec file, or "
                        "path/to/file.py:NAME (a module class or a function returning one), or a "
                        "torch.export program saved as .pt2 (read as data)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="change one field, e.g. --set stride_in=1x1 --set input_size=32")
    parser.add_argument("--input", default="3x224x224", metavar="CxHxW",
                        help="input shape for a file.py:NAME model (default 3x224x224; a .pt2 "
                             "program keeps the input it was exported with)")
    add_code_timeout(parser)


def _values(kind: type[StrEnum]) -> list[str]:
    """A StrEnum's values as argparse choices: plain strings, so `--help` lists them as typed."""
    return [member.value for member in kind]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m inspector", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("presets", help="list the named designs").set_defaults(handler=_presets)

    summary = sub.add_parser("summary", help="depth, parameters, mult-adds and the stage table")
    _add_design(summary)
    summary.add_argument("--layers", action="store_true", help="print every layer instead")
    summary.add_argument("--csv", action="store_true", help="print the table as CSV only")
    summary.add_argument("--torchinfo", action="store_true",
                         help="print torchinfo's summary of the built model instead")
    summary.set_defaults(handler=_summary)

    graph = sub.add_parser("graph", help="draw the architecture (solid/dashed shortcuts)")
    _add_design(graph)
    graph.add_argument("--view", choices=_values(View), default=View.BLOCK.value)
    graph.add_argument("--format", choices=_values(GraphFormat), default=GraphFormat.SVG.value)
    graph.add_argument("-o", "--output", help="file to write (default: stdout for svg and dot)")
    graph.add_argument("--direction", choices=_values(Direction), default=Direction.TB.value)
    graph.add_argument("--fold", choices=_values(Fold), default=Fold.AUTO.value,
                       help="fold runs of identical blocks into one node marked x N")
    graph.add_argument("--dpi", type=int, default=DEFAULT_DPI,
                       help=f"PNG resolution (default {DEFAULT_DPI})")
    graph.add_argument("--fold-stages", metavar="N,N", default="",
                       help="stages drawn as one node each, counted from 1 (conv2_x is 1)")
    graph.add_argument("--colour", choices=_values(Measure),
                       help="colour the nodes by a measure, as the app's viewer does")
    graph.set_defaults(handler=_graph)

    comparison = sub.add_parser("compare", help="differences between two designs, explained")
    comparison.add_argument("a", help="preset name, JSON spec file, path/to/file.py:NAME or .pt2")
    comparison.add_argument("b", help="preset name, JSON spec file, path/to/file.py:NAME or .pt2")
    comparison.add_argument("--set-a", action="append", metavar="KEY=VALUE")
    comparison.add_argument("--set-b", action="append", metavar="KEY=VALUE")
    comparison.add_argument("--input", default="3x224x224", metavar="CxHxW",
                            help="input shape for a file.py:NAME model (default 3x224x224; a "
                                 ".pt2 program keeps the input it was exported with)")
    add_code_timeout(comparison)
    comparison.set_defaults(handler=_compare)

    table = sub.add_parser("paper-table", help="the paper's Table 1 for one or more designs")
    table.add_argument("designs", nargs="+", metavar="design",
                       help="preset names or JSON spec files, one column each")
    table.add_argument("--format", choices=_values(TableFormat),
                       default=TableFormat.MARKDOWN.value)
    table.set_defaults(handler=_paper_table)

    from inspector import (check_cli, diff_cli, experiment_cli,  # imported here: `presets` quick
                           train_cli)

    diff_cli.register(sub)
    train_cli.register(sub)
    experiment_cli.register(sub)
    check_cli.register(sub)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand. Warnings from torch or numpy raised meanwhile are held back: after a
    success they are shown as usual, after a mistake only our one line is (a UserWarning about
    a pickle protocol or a one-image dataset said nothing the sentence does not)."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    if code == 0:
        for warning in caught:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return code


def _run(args: argparse.Namespace) -> int:
    from inspector.render import GraphvizNotFound

    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except GraphvizNotFound as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_MISSING_TOOL
    except (ValueError, OSError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
