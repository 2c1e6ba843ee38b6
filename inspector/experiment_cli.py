"""`python -m inspector experiment degradation ...`: the paper's figure 6 from the command line.

Writes into `--out`: figure6.png and figure6.svg, metrics.csv (every run's logged events),
block_stats.csv (every run's per-block statistics) and caption.txt; prints the caption.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inspector.data import DATASETS, load_dataset
from inspector.experiment import (DEFAULT_DEPTHS, DEFAULT_STEPS, PlannedRun, experiment_config,
                                  plan_runs, run_degradation)
from inspector.train import DEVICES, PRECISIONS, TrainConfig, Trainer, TrainError, TrainResult
from inspector.train_cli import Progress, check_writable

FILES = ("figure6.png", "figure6.svg", "metrics.csv", "block_stats.csv", "caption.txt")


def register(subparsers) -> None:
    """Add `experiment degradation`."""
    parser = subparsers.add_parser("experiment", help="run a paper's experiment")
    kinds = parser.add_subparsers(dest="experiment", required=True)
    degradation = kinds.add_parser(
        "degradation", help="plain and residual nets of two depths: the paper's figure 6",
        description="Trains plain-D and ResNet-D for each depth D with the same data, seed and "
                    "recipe, one after another, and draws the paper's figure 6.")
    degradation.add_argument("--depths", type=int, nargs="+", default=list(DEFAULT_DEPTHS),
                             help="6n + 2 depths (default 20 56)")
    degradation.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                             help=f"steps per run (default {DEFAULT_STEPS})")
    degradation.add_argument("--batch-size", type=int, default=128)
    degradation.add_argument("--dataset", choices=("digits", "cifar10"), default="digits")
    degradation.add_argument("--data-path", help="cifar10: folder of cifar-10-batches-py")
    degradation.add_argument("--seed", type=int, default=0)
    degradation.add_argument("--device", choices=DEVICES, default="auto")
    degradation.add_argument("--precision", choices=PRECISIONS, default="auto")
    degradation.add_argument("--out", default="runs/degradation", help="folder for the files")
    degradation.add_argument("--quiet", action="store_true", help="no progress bars")
    degradation.set_defaults(handler=run_experiment)


def run_experiment(args: argparse.Namespace) -> int:
    """Every check (depths, recipe, --out, data) runs before the first run starts."""
    from inspector.experiment_figure import figure_bytes

    if args.dataset not in DATASETS:
        raise TrainError(f"Unknown dataset {args.dataset!r}.")
    plan_runs(args.depths)  # refuses bad depths with a sentence
    config = experiment_config(steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                               device=args.device, precision=args.precision)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; give a folder.")
    check_writable(out / FILES[0])
    dataset = load_dataset(args.dataset, args.data_path, 32)
    print(f"Degradation experiment on {dataset.describe()}; {args.steps} steps per run",
          file=sys.stderr)

    def train_one(planned: PlannedRun, run_config: TrainConfig) -> TrainResult:
        trainer = Trainer(planned.spec, dataset, run_config)
        progress = Progress(trainer.total_steps, planned.label, enabled=not args.quiet)
        for event in trainer.events():
            progress.update(event)
        progress.close()
        assert trainer.result is not None
        return trainer.result

    outcome = run_degradation(train_one, config, args.depths, args.dataset)
    for fmt in ("png", "svg"):
        (out / f"figure6.{fmt}").write_bytes(figure_bytes(outcome, fmt))
    outcome.metrics_frame().to_csv(out / "metrics.csv", index=False)
    outcome.block_stats_frame().to_csv(out / "block_stats.csv", index=False)
    caption = outcome.caption()
    (out / "caption.txt").write_text(caption + "\n", encoding="utf-8")
    print(caption)
    print(f"files: {', '.join(str(out / name) for name in FILES)}")
    return 0
