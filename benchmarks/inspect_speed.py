"""How long inspection takes, from a spec to an SVG, a table, a comparison.

Run: python benchmarks/inspect_speed.py [--repeats N]

Targets (2-core machine, no GPU): ResNet-152 at 224x224 from spec to block-view SVG under 0.3 s,
ResNet-1202 under 2 s. Nothing is cached between calls: every call builds the model on `meta`,
traces it, propagates shapes, draws and runs `dot`. Two settings are printed:
- "cold process": a new Python process doing one call, so torch's lazy first-use imports
  (the meta kernels pull in sympy) are paid inside the call; imports of the project are shown apart.
- "running process": what a slider in the running app sees, a fresh spec each call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [
    ("resnet152", "block", 0.3),
    ("resnet1202", "block", 2.0),
    ("resnet50", "layer", None),
    ("resnet152", "layer", None),
]

_COLD = """
import json, sys, time
start = time.perf_counter()
from inspector import get_preset
from inspector.render import export_graph, render_graph
from inspector.trace import trace_graph
imported = time.perf_counter()
svg = export_graph(render_graph(trace_graph(get_preset(sys.argv[1]), sys.argv[2])), "svg")
done = time.perf_counter()
print(json.dumps({"imports": imported - start, "call": done - imported, "bytes": len(svg)}))
"""


def cold(name: str, view: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _COLD, name, view], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def warm(name: str, view: str, repeats: int) -> dict[str, list[float]]:
    from inspector import get_preset
    from inspector.render import export_graph, render_graph
    from inspector.trace import trace_graph

    times: dict[str, list[float]] = {"trace": [], "draw": [], "dot": [], "total": []}
    for _ in range(repeats):
        spec = get_preset(name).replace()  # a new value each time: no identity-based reuse
        t0 = time.perf_counter()
        graph = trace_graph(spec, view)
        t1 = time.perf_counter()
        digraph = render_graph(graph)
        t2 = time.perf_counter()
        export_graph(digraph, "svg")
        t3 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            times[key].append(value)
    return times


def timed(function, repeats: int) -> float:
    values = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        values.append(time.perf_counter() - start)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print("Spec -> SVG, cold process (one call in a new interpreter):")
    for name, view, target in CASES[:2]:
        result = cold(name, view)
        print(f"  {name:<11} {view:<5}  call {result['call']:.3f} s  "
              f"(project imports {result['imports']:.2f} s before it)")

    # Pay torch's lazy first-use imports once, as the running app has.
    from inspector import get_preset
    from inspector.trace import trace_graph
    trace_graph(get_preset("resnet18"))

    print(f"\nSpec -> SVG, running process (median of {args.repeats}; trace / draw / dot):")
    for name, view, target in CASES:
        times = warm(name, view, args.repeats)
        median = {key: statistics.median(values) for key, values in times.items()}
        verdict = "" if target is None else (
            f"  target {target} s: {'met' if median['total'] < target else 'MISSED'}")
        print(f"  {name:<11} {view:<5}  {median['total']:.3f} s  "
              f"({median['trace']:.3f} / {median['draw']:.3f} / {median['dot']:.3f})"
              f"  min {min(times['total']):.3f}{verdict}")

    from inspector.compare import compare
    from inspector.table import layer_table, stage_table

    print(f"\nTables and comparison, running process (median of {args.repeats}):")
    for name in ("resnet50", "resnet152", "resnet1202"):
        spec = get_preset(name)
        print(f"  layer_table + stage_table {name:<11} "
              f"{timed(lambda: stage_table(spec, layer_table(spec)), args.repeats):.3f} s")
    a, b = get_preset("resnet34"), get_preset("resnet50")
    print(f"  compare resnet34 resnet50          {timed(lambda: compare(a, b), args.repeats):.3f} s")


if __name__ == "__main__":
    main()
