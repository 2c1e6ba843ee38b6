"""How long `analyze` takes on ResNet-50 and ResNet-152 given as modules, in a running process,
and on a ResNet-50 whose blocks torch.fx cannot trace (the fallback records an eager run), and
what the findings add to it.

Goals: ResNet-50 at most 0.2 s, ResNet-152 at most 0.5 s on the fx fast path; a ResNet-50-sized
network through the fallback at most 1 s; the findings (finding the modules `forward` never ran,
which `analyze` does, plus the rules, which run on first access to `result.findings`) at most
10% of the rest of the analysis. The first call pays one-off imports, so it is reported apart;
each figure is the median of the following rounds.
Run: python benchmarks/analyze_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, no install

from inspector import build_model, get_preset  # noqa: E402
from inspector.analysis import analyze  # noqa: E402
from inspector.findings import find, unused_in  # noqa: E402

GOALS = {"resnet50": 0.2, "resnet152": 0.5, "resnet50, every block by the fallback": 1.0}
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


class ShapeCheckedBottleneck(nn.Module):
    """A ResNet-50 bottleneck whose forward branches on a shape: fx cannot trace it."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.project = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False),
                                     nn.BatchNorm2d(out)) if stride > 1 or cin != out else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
        shortcut = x if x.shape[1] == out.shape[1] and self.project is None else self.project(x)
        return F.relu(out + shortcut)


def fallback_resnet50() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for index in range(count):
            layers.append(ShapeCheckedBottleneck(cin, width, stride if index == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    with torch.device("meta"):
        return nn.Sequential(*layers)


def main() -> None:
    models = {"resnet50": build_model(get_preset("resnet50")),
              "resnet152": build_model(get_preset("resnet152")),
              "resnet50, every block by the fallback": fallback_resnet50()}
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
