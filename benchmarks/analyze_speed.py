"""How long `analyze` takes on ResNet-50 and ResNet-152 given as modules, in a running process.

Goals: ResNet-50 at most 0.2 s, ResNet-152 at most 0.5 s. The first call pays one-off imports,
so it is reported apart; the figure is the median of the following rounds.
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

GOALS = {"resnet50": 0.2, "resnet152": 0.5}
ROUNDS = 5


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


if __name__ == "__main__":
    main()
