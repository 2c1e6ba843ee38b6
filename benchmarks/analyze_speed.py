"""How long `analyze` takes on ResNet-50 and ResNet-152 given as modules, in a running process,
and what the findings add to it.

Goals: ResNet-50 at most 0.2 s, ResNet-152 at most 0.5 s; the findings (finding the modules
`forward` never ran, which `analyze` does, plus the rules, which run on first access to
`result.findings`) at most 10% of the rest of the analysis. The first call pays one-off imports,
so it is reported apart; each figure is the median of the following rounds.
Run: python benchmarks/analyze_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, no install

from inspector import build_model, get_preset  # noqa: E402
from inspector.analysis import analyze  # noqa: E402
from inspector.findings import find, unused_in  # noqa: E402

GOALS = {"resnet50": 0.2, "resnet152": 0.5}
ROUNDS = 5
FINDINGS_GOAL = 0.10


def median_time(run, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def findings_share(name: str, model) -> None:
    """The findings' cost against the analysis without them (`analyze` less `unused_in`)."""
    result = analyze(model)
    total = median_time(lambda: analyze(model))
    unused = median_time(lambda: unused_in(model, result.ops))
    rules = median_time(lambda: find(result, result.name, result.unused))
    share = (unused + rules) / (total - unused)
    verdict = "within" if share <= FINDINGS_GOAL else "over"
    print(f"{name}: findings {1000 * (unused + rules):.1f} ms (unused modules "
          f"{1000 * unused:.1f} ms, rules {1000 * rules:.1f} ms) = {share:.1%} of the analysis "
          f"without them (goal {FINDINGS_GOAL:.0%}: {verdict})")


def main() -> None:
    models = {name: build_model(get_preset(name)) for name in GOALS}
    start = time.perf_counter()
    analyze(models["resnet50"])
    print(f"first call (imports included): {time.perf_counter() - start:.3f} s")
    for name, goal in GOALS.items():
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            analyze(models[name])
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        verdict = "within" if median <= goal else "over"
        print(f"{name}: median {median:.3f} s over {ROUNDS} rounds (goal {goal} s: {verdict})")
    for name in GOALS:
        findings_share(name, models[name])


if __name__ == "__main__":
    main()
