"""`python -m inspector check`: the findings of any network, as a linter for a test suite or CI.

    python -m inspector check my_nets.py:ResNet18 --input 3x32x32
    python -m inspector check resnet50 --set input_size=32 --format json --fail-on warning

One finding a line in the usual `path: severity: message` form (or JSON for tools), a count on
stderr, and the exit status a CI job reads: 1 when a finding is at or above `--fail-on` (error
by default), 0 otherwise, 2 for bad input (the parser's and `cli.main`'s rule).
"""

from __future__ import annotations

import argparse
import json
import sys

from inspector.cli_common import add_code_timeout
from inspector.kinds import Severity

EXIT_CLEAN = 0
EXIT_FINDINGS = 1


def _findings(args: argparse.Namespace) -> tuple[str, tuple]:
    """(the network's name, its findings) for a file model, a program, a preset or a spec."""
    from inspector.cli_common import load_design
    from inspector.trace import design_findings
    from inspector.user_model import analyze_file_model, is_file_model

    if is_file_model(args.design):
        result = analyze_file_model(args.design, args.input, args.code_timeout)
        return result.name, result.findings
    name, spec = load_design(args.design, args.set)
    return name, design_findings(spec, name)


def run_check(args: argparse.Namespace) -> int:
    from inspector.findings import summary

    threshold = Severity(args.fail_on)
    name, found = _findings(args)
    if args.format == "json":
        json.dump({"network": name, "summary": summary(found),
                   "findings": [f.to_dict() for f in found]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in found:
            print(finding.line)
    print(f"{name}: {summary(found)}", file=sys.stderr)
    failing = any(f.severity.at_least(threshold) for f in found)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def register(subparsers) -> None:
    """Add the `check` subcommand."""
    parser = subparsers.add_parser(
        "check", help="findings: broadcasting sums, dead weights, misleading names and more",
        description="Check a network the way a residual-aware linter would; exit 1 when a "
                    "finding reaches --fail-on.")
    parser.add_argument("design", help="path/to/file.py:NAME, a .pt2 program, a preset name or "
                                       "a JSON spec file")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="change one field of a preset or spec, e.g. --set input_size=32")
    parser.add_argument("--input", default="3x224x224", metavar="CxHxW",
                        help="input shape for a file.py:NAME model (default 3x224x224)")
    add_code_timeout(parser)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--fail-on", choices=[s.value for s in Severity],
                        default=Severity.ERROR.value,
                        help="exit 1 when a finding is this serious or more (default error)")
    parser.set_defaults(handler=run_check)
