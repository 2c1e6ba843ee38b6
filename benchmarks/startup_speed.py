"""How long the command line takes from start to finish, next to a bare `import torch`.

A summary's own work is a few hundredths of a second; what a user waits for is the start-up:
Python, torch, and whatever else the command imports. Goal: `summary` of a preset or of a file
model finishes within 0.7 s of `python -c "import torch"` on the same machine. The commands run
interleaved (one of each per round) so that a busy machine slows them alike; the figure is the
median over the rounds.
Run: python benchmarks/startup_speed.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.7
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "summary resnet18": [sys.executable, "-m", "inspector", "summary", "resnet18"],
    "summary file.py:CifarResNet20": [
        sys.executable, "-m", "inspector", "summary", "tests/user_networks.py:CifarResNet20",
        "--input", "3x32x32"],
}


def main(rounds: int = 5) -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, argv in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c 'import torch'"])
    for name, values in times.items():
        median = statistics.median(values)
        extra = median - base
        verdict = ""
        if name.startswith("summary"):
            verdict = f" (goal +{GOAL_S} s: {'within' if extra <= GOAL_S else 'over'})"
        print(f"{name:<34} median {median:.2f} s over {rounds} rounds, "
              f"{extra:+.2f} s against the bare import{verdict}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
